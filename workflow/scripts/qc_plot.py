"""Snakemake entry point: QC figure of one sample, from its tables."""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.logs import logged  # noqa: E402
from cscniche.plots import qc_figure  # noqa: E402

with logged(snakemake.log[0]):
    cells = pd.read_csv(snakemake.input.cells, sep="\t")
    summary = pd.read_csv(snakemake.input.summary, sep="\t").iloc[0]
    for path in snakemake.output:  # PNG and SVG
        qc_figure(cells, summary, path)
