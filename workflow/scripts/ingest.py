"""Snakemake entry point: read one sample into AnnData."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.ingest import ingest_sample  # noqa: E402
from cscniche.io import write_h5ad  # noqa: E402
from cscniche.logs import logged  # noqa: E402

with logged(snakemake.log[0]) as log:
    adata = ingest_sample(snakemake.params.row, author_labels=snakemake.params.author_labels,
                          author_codes=snakemake.params.author_codes)
    log.info("ingest: %s", adata.uns["ingest"])
    write_h5ad(adata, snakemake.output[0])
