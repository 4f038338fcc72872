"""Snakemake entry point: crosstalk figures from the saved tables."""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.logs import logged  # noqa: E402
from cscniche.plots import axes_figure, crosstalk_heatmap, csc_specific_dotplot, group_network  # noqa: E402

with logged(snakemake.log[0]):
    def read(path):
        return pd.read_csv(path, sep="\t", dtype={"patient": str})

    interactions = read(snakemake.input.interactions)
    crosstalk_heatmap(interactions, snakemake.output.heatmap)
    group_network(interactions, snakemake.output.network)
    csc_specific_dotplot(read(snakemake.input.csc_specific), snakemake.output.dotplot)
    axes_figure(read(snakemake.input.axes), snakemake.output.axes)
