"""Snakemake entry point: the dataset's self-contained HTML report."""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.logs import logged  # noqa: E402
from cscniche.report import build_report  # noqa: E402

with logged(snakemake.log[0]):
    build_report(
        snakemake.wildcards.dataset,
        cells=pd.read_csv(snakemake.input.cells, sep="\t", dtype={"leiden": str}),
        qc_summary=pd.read_csv(snakemake.input.qc_summary, sep="\t"),
        markers=pd.read_csv(snakemake.input.markers, sep="\t", dtype={"cluster": str}),
        qc_figures=list(snakemake.input.qc_figures),
        umap_figures=list(snakemake.input.umap_figures),
        settings=snakemake.params.settings,
        path=snakemake.output[0],
    )
