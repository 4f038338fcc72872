"""Snakemake entry point: crosstalk figures from the saved tables."""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.logs import logged  # noqa: E402
from cscniche.plots import axes_figure, crosstalk_heatmap, csc_specific_dotplot, group_network, sender_receiver_figure  # noqa: E402

with logged(snakemake.log[0]):
    def read(path):
        return pd.read_csv(path, sep="\t", dtype={"patient": str})

    interactions = read(snakemake.input.interactions)
    specific, axes = read(snakemake.input.csc_specific), read(snakemake.input.axes)
    out = snakemake.output
    for ext in ("png", "svg"):
        crosstalk_heatmap(interactions, out[f"heatmap_{ext}"])
        group_network(interactions, out[f"network_{ext}"])
        csc_specific_dotplot(specific, out[f"dotplot_{ext}"])
        sender_receiver_figure(specific, out[f"senders_{ext}"])
        axes_figure(axes, out[f"axes_{ext}"])
