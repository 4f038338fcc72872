"""Snakemake entry point: QC one sample."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.io import read_h5ad_checked, write_h5ad, write_table  # noqa: E402
from cscniche.logs import logged  # noqa: E402
from cscniche.plots import qc_figure  # noqa: E402
from cscniche.qc import run_qc  # noqa: E402

with logged(snakemake.log[0]) as log:
    result = run_qc(read_h5ad_checked(snakemake.input.h5ad), **snakemake.params.qc,
                    annotate=snakemake.params.annotate, seed=snakemake.params.seed)
    log.info("qc: %s", result.kept.uns["qc"])
    write_table(result.cells, snakemake.output.cells)
    write_table(result.summary, snakemake.output.summary)
    write_h5ad(result.kept, snakemake.output.h5ad)
    for path in (snakemake.output.png, snakemake.output.svg):
        qc_figure(result.cells, result.summary.iloc[0], path)
