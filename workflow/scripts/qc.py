"""Snakemake entry point: QC one sample."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche import qc  # noqa: E402
from cscniche.annotate import load_marker_sets  # noqa: E402
from cscniche.io import read_h5ad_checked, write_h5ad, write_table  # noqa: E402
from cscniche.logs import logged  # noqa: E402

with logged(snakemake.log[0]) as log:
    params = snakemake.params.qc
    adata = qc.run_qc(read_h5ad_checked(snakemake.input.h5ad), params, seed=snakemake.params.seed)
    annotate = snakemake.params.annotate
    adata.obs["marker_type"] = qc.marker_types(adata, load_marker_sets(annotate["markers"]),
                                               min_genes=annotate["min_genes_per_set"],
                                               min_score=annotate["min_score"], min_margin=annotate["min_margin"])
    kept = qc.passing_cells(adata, params)
    log.info("qc: %s", adata.uns["qc"])
    write_table(qc.cell_table(adata), snakemake.output.cells)
    write_table(qc.summary(adata), snakemake.output.summary)
    write_h5ad(kept, snakemake.output.h5ad)
