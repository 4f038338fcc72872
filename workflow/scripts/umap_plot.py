"""Snakemake entry point: UMAP coloured by one column of cells.tsv.gz."""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.logs import logged  # noqa: E402
from cscniche.plots import umap_figure  # noqa: E402

with logged(snakemake.log[0]):
    key = snakemake.wildcards.key
    categorical = key in ("leiden", "sample", "patient") or key.startswith(("leiden_", "author_"))
    cells = pd.read_csv(snakemake.input[0], sep="\t", dtype={key: str} if categorical else None)
    for path in snakemake.output:  # PNG and SVG
        umap_figure(cells, key, path)
