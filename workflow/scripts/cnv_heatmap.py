"""Snakemake entry point: CNV heatmap of one patient, from the saved AnnData (obsm X_cnv)."""
import sys
from pathlib import Path

import anndata as ad

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.logs import logged  # noqa: E402
from cscniche.plots import cnv_heatmap  # noqa: E402

with logged(snakemake.log[0]):
    adata = ad.read_h5ad(snakemake.input[0], backed="r")
    for path in snakemake.output:  # PNG and SVG
        cnv_heatmap(adata, snakemake.wildcards.patient, path)
