"""Snakemake entry point: marker-based cell-type annotation."""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche import annotate  # noqa: E402
from cscniche.io import read_stage, write_annotations, write_table  # noqa: E402
from cscniche.logs import logged  # noqa: E402

with logged(snakemake.log[0]) as log:
    params = snakemake.params.annotate
    adata = read_stage(snakemake.input.h5ad, graph=params["smooth"])
    sets = annotate.load_marker_sets(params["markers"])
    coverage = annotate.marker_coverage(adata.var_names, sets, min_genes=params["min_genes_per_set"])
    for row in coverage[~coverage["scored"]].itertuples():
        log.warning("marker set %r not scored: %d of its %d markers in the data (min_genes_per_set %d); "
                    "its cells cannot get this label", row.cell_type, row.markers_present, row.markers,
                    params["min_genes_per_set"])
    annotate.annotate(adata, sets, params)
    if params["celltypist_model"]:
        annotate.celltypist_labels(adata, params["celltypist_model"])
    log.info("cell types: %s", adata.obs["cell_type"].value_counts().to_dict())
    write_table(annotate.cluster_summary(adata.obs), snakemake.output.clusters)
    write_table(coverage, snakemake.output.marker_sets)
    write_table(annotate.marker_expression(adata, sets, min_genes=params["min_genes_per_set"]),
                snakemake.output.marker_expression)
    authors = [c for c in adata.obs if c.startswith("author_") or c == "celltypist_majority"]
    frames = [annotate.agreement(adata.obs, c).assign(author_column=c) for c in authors]
    agreement = pd.concat(frames) if frames else pd.DataFrame(columns=["author_label", "cell_type", "cells",
                                                                       "author_column"])
    write_table(agreement, snakemake.output.agreement)
    write_annotations(adata, snakemake.output.h5ad)
