"""Snakemake entry point: the CNV heatmap of each patient, from the saved AnnData (obsm X_cnv)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.io import read_stage  # noqa: E402
from cscniche.logs import logged  # noqa: E402
from cscniche.plots import cnv_heatmap  # noqa: E402

with logged(snakemake.log[0]):
    # obs and obsm only: no matrix, no counts layer (backed mode would load the layers)
    adata = read_stage(snakemake.input[0], x=False)
    for patient in snakemake.params.patients:
        for ext in ("png", "svg"):
            cnv_heatmap(adata, patient, snakemake.output[f"{patient}_{ext}"])
