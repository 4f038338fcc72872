"""Snakemake entry point: one comparison's figure (PNG and SVG) from its saved tables."""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.logs import logged  # noqa: E402
from cscniche.plots import comparison_figure  # noqa: E402

with logged(snakemake.log[0]):
    def read(path):
        return pd.read_csv(path, sep="\t", dtype={"patient": str, "group": str, "group_a": str, "group_b": str},
                           keep_default_na=False, na_values=[""])

    tables = {name: read(snakemake.input[name]) for name in ("per_patient", "test", "genes", "signalling")}
    for ext in ("png", "svg"):
        comparison_figure(tables["per_patient"], tables["test"], tables["genes"], tables["signalling"],
                          snakemake.output[ext])
