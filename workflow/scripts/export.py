"""Snakemake entry point: final AnnData and the per-cell contract table."""
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.export import cells_table  # noqa: E402
from cscniche.io import read_h5ad_checked, write_atomic, write_table  # noqa: E402
from cscniche.logs import logged  # noqa: E402

with logged(snakemake.log[0]):
    adata = read_h5ad_checked(snakemake.input[0], backed="r")  # only obs and the UMAP are needed
    write_table(cells_table(adata), snakemake.output.cells)
    write_atomic(snakemake.output.adata, lambda tmp: shutil.copyfile(snakemake.input[0], tmp))
