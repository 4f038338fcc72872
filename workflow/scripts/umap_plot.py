"""Snakemake entry point: UMAPs coloured by columns of cells.tsv.gz (PNG and SVG of each)."""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.logs import logged  # noqa: E402
from cscniche.plots import umap_figure  # noqa: E402

CATEGORICAL = ("leiden", "sample", "patient")

with logged(snakemake.log[0]):
    keys = snakemake.params.columns
    cells = pd.read_csv(snakemake.input[0], sep="\t",
                        dtype={k: str for k in keys if k in CATEGORICAL or k.startswith(("leiden_", "author_"))})
    for key in keys:
        for path in (p for p in snakemake.output if Path(p).stem == f"umap_{key}"):  # PNG and SVG
            umap_figure(cells, key, path)
