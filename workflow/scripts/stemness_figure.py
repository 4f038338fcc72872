"""Snakemake entry point: per-patient stemness, CSC fractions and scorer agreement; stemness by cluster."""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.logs import logged  # noqa: E402
from cscniche.plots import stemness_by_cluster, stemness_figure  # noqa: E402

with logged(snakemake.log[0]):
    cells = pd.read_csv(snakemake.input.cells, sep="\t", dtype={"patient": str}, keep_default_na=False,
                        na_values=[""])
    agreement = pd.read_csv(snakemake.input.agreement, sep="\t")
    for ext in ("png", "svg"):
        stemness_figure(cells, agreement, snakemake.output[ext])
        stemness_by_cluster(cells, snakemake.output[f"clusters_{ext}"])
