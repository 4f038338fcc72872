"""Snakemake entry point: biomarker, DE and GSEA figures (PNG and SVG) from the saved tables."""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.logs import logged  # noqa: E402
from cscniche.plots import biomarker_dotplot, gsea_figure, gsea_running_figure, volcano  # noqa: E402

with logged(snakemake.log[0]):
    def read(path):
        return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=[""])

    biomarkers, de, gsea = read(snakemake.input.biomarkers), read(snakemake.input.de), read(snakemake.input.gsea)
    expression, running = read(snakemake.input.expression), read(snakemake.input.running)
    ranking = read(snakemake.input.ranking)
    out = snakemake.output
    for ext in ("png", "svg"):
        biomarker_dotplot(expression, biomarkers, out[f"dotplot_{ext}"])
        volcano(de, out[f"volcano_{ext}"])
        gsea_figure(gsea, out[f"gsea_{ext}"])
        gsea_running_figure(gsea, running, ranking, out[f"gsea_running_{ext}"])
