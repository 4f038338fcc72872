"""Snakemake entry point: cell types per patient, authors' labels vs cell types, the marker dotplot."""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.logs import logged  # noqa: E402
from cscniche.plots import agreement_heatmap, composition_figure, marker_dotplot  # noqa: E402

with logged(snakemake.log[0]):
    cells = pd.read_csv(snakemake.input.cells, sep="\t", usecols=["patient", "cell_type"], dtype=str,
                        keep_default_na=False, na_values=[""])
    agreement = pd.read_csv(snakemake.input.agreement, sep="\t", dtype={"author_label": str, "cell_type": str})
    expression = pd.read_csv(snakemake.input.marker_expression, sep="\t", keep_default_na=False, na_values=[""])
    for ext in ("png", "svg"):
        composition_figure(cells, snakemake.output[f"composition_{ext}"])
        agreement_heatmap(agreement, snakemake.output[f"agreement_{ext}"])
        marker_dotplot(expression, snakemake.output[f"marker_dotplot_{ext}"])
