"""Snakemake entry point: UMAPs of the CSC marker genes and the top biomarkers' expression."""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.genesets import load_gene_sets  # noqa: E402
from cscniche.io import read_stage  # noqa: E402
from cscniche.logs import logged  # noqa: E402
from cscniche.plots import feature_umaps  # noqa: E402

with logged(snakemake.log[0]) as log:
    params = snakemake.params
    markers = [g for genes in load_gene_sets({"marker_sets": params.marker_sets, "gmt": []}).values() for g in genes]
    top = pd.read_csv(snakemake.input.biomarkers, sep="\t", usecols=["gene"], nrows=params.top)["gene"].tolist()
    wanted = list(dict.fromkeys(markers[: params.markers] + top))
    cells = pd.read_csv(snakemake.input.cells, sep="\t", usecols=["cell_id", "umap_1", "umap_2"])
    found = read_stage(snakemake.input.matrix, genes=wanted) if wanted else None
    present = [g for g in wanted if found is not None and g in found.var_names]
    log.info("CSC marker figure: %d of %d genes in the data (%s)", len(present), len(wanted), ", ".join(present))
    expression = found[:, present].to_df() if present else pd.DataFrame()  # cells x at most 9 genes
    for ext in ("png", "svg"):
        feature_umaps(cells, expression, snakemake.output[ext])
