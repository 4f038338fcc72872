"""Snakemake entry point: final AnnData and the per-cell contract table."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import pandas as pd  # noqa: E402

from cscniche.export import cells_table, liana_results, scverse_conventions  # noqa: E402
from cscniche.io import read_stage, write_h5ad_with_matrices, write_table  # noqa: E402
from cscniche.logs import logged  # noqa: E402

with logged(snakemake.log[0]):
    # the annotations and the graph; X and the counts come compressed from export_matrices
    adata = read_stage(snakemake.input.matrix, snakemake.input.h5ad, x=False, graph=True)
    write_table(cells_table(adata), snakemake.output.cells)
    interactions = pd.read_csv(snakemake.input.interactions, sep="\t", dtype={"patient": str}, keep_default_na=False,
                               na_values=[""])
    adata.uns["liana_res"] = liana_results(interactions)
    # the deliverable: gzip, as R's HDF5 reads it
    write_h5ad_with_matrices(scverse_conventions(adata), snakemake.output.adata, snakemake.input.matrices)
