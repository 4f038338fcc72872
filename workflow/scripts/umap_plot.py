"""Snakemake entry point: UMAPs coloured by columns of cells.tsv.gz (PNG and SVG of each)."""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.logs import logged  # noqa: E402
from cscniche.plots import umap_figure  # noqa: E402

CATEGORICAL = ("leiden", "sample", "patient")

with logged(snakemake.log[0]):
    columns = snakemake.params.columns  # output name: the column drawn
    cells = pd.read_csv(snakemake.input[0], sep="\t", dtype={
        c: str for c in columns.values() if c in CATEGORICAL or c.startswith(("leiden_", "author_"))})
    for name, column in columns.items():
        for ext in ("png", "svg"):
            umap_figure(cells, column, snakemake.output[f"{name}_{ext}"])
