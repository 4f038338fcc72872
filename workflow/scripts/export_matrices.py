"""Snakemake entry point: the delivered file's matrices (X, counts), compressed as soon as clustering ends."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.io import compress_matrices  # noqa: E402
from cscniche.logs import logged  # noqa: E402

with logged(snakemake.log[0]) as log:
    compress_matrices(snakemake.input.matrix, snakemake.output[0], ["X", "layers/counts"])
    log.info("compressed X and the counts of %s", snakemake.input.matrix)
