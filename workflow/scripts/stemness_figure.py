"""Snakemake entry point: per-patient stemness violins, CSC fractions and scorer agreement."""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.logs import logged  # noqa: E402
from cscniche.plots import stemness_figure  # noqa: E402

with logged(snakemake.log[0]):
    cells = pd.read_csv(snakemake.input.cells, sep="\t", dtype={"patient": str}, keep_default_na=False,
                        na_values=[""])
    agreement = pd.read_csv(snakemake.input.agreement, sep="\t")
    for path in snakemake.output:  # PNG and SVG
        stemness_figure(cells, agreement, path)
