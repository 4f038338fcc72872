"""Snakemake entry point: check that a dataset's ingested samples share a value scale and genes."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.inputs import check_samples_agree  # noqa: E402
from cscniche.io import write_table  # noqa: E402
from cscniche.logs import logged  # noqa: E402

with logged(snakemake.log[0]) as log:
    table = check_samples_agree(list(snakemake.input), min_shared_share=snakemake.params.min_shared_share)
    for row in table[table["warning"]].itertuples():
        log.warning("sample %s: only %d of its %d genes are in every sample (%.0f%%); the others are dropped "
                    "when the samples are merged", row.sample, row.shared_genes, row.genes, 100 * row.share_shared)
    log.info("%d samples on the %s scale share %d genes", len(table), table["value_scale"].iloc[0],
             table["shared_genes"].iloc[0])
    write_table(table, snakemake.output[0])
