"""Snakemake entry point: the counts as a 10x MatrixMarket folder (Seurat::Read10X reads it)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.export import write_10x_mtx  # noqa: E402
from cscniche.logs import logged  # noqa: E402

with logged(snakemake.log[0]) as log:
    entries = write_10x_mtx(snakemake.input.matrix, snakemake.output[0])
    log.info("%d entries written to %s", entries, snakemake.output[0])
