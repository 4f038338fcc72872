"""Snakemake entry point: CNV inference and malignant-cell calls (or author labels)."""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche import clonality, malignant  # noqa: E402
from cscniche.io import read_stage, write_annotations, write_table  # noqa: E402
from cscniche.logs import logged  # noqa: E402

with logged(snakemake.log[0]) as log:
    params = snakemake.params.malignant
    adata = read_stage(snakemake.input.matrix, snakemake.input.h5ad)
    log.info("read %d cells x %d genes", adata.n_obs, adata.n_vars)
    if params["method"] in ("author", "all"):
        if params["method"] == "author":
            summary = malignant.call_from_author_labels(adata, params["author_column"], params["author_pattern"])
        else:
            summary = malignant.call_all_malignant(adata)
        profiles = pd.DataFrame(columns=["patient", "call", "window", "chromosome", "mean_cnv", "cells"])
        clusters = pd.DataFrame(columns=["cnv_cluster", "patient", "cells", "mean_cnv_correlation"])
        reference_table = pd.DataFrame(columns=malignant.REFERENCE_COLUMNS)
        clones = pd.DataFrame(columns=clonality.CLONE_COLUMNS)
    else:
        positions = malignant.read_gene_positions(params["gene_positions"]) if params["gene_positions"] else None
        source = malignant.gene_positions_source(adata.var, params["gene_positions"])
        fraction = malignant.place_genes(adata, positions, min_fraction=params["min_fraction_placed"])
        log.info("genes placed: %.1f%% (positions: %s)", 100 * fraction, source)
        chain_genes = clonality.light_chain_genes(adata.var_names)
        chain_counts = read_stage(snakemake.input.matrix, layers=True, genes=chain_genes) if chain_genes else None
        summary, reference_table, clones = malignant.call_from_cnv_and_clonality(
            adata, params, chain_counts=chain_counts, log=log)
        log.info("CNV inferred: %d windows", adata.obsm["X_cnv"].shape[1])
        summary = summary.assign(genes_placed=fraction, gene_positions=source)
        profiles = malignant.cnv_profiles(adata)
        log.info("called")
        clusters = malignant.cnv_clusters(adata, seed=snakemake.params.seed,
                                          leiden_flavor=snakemake.params.leiden_flavor)
        log.info("CNV clusters: %d", len(clusters))
    malignant.label_malignant(adata.obs)
    adata.uns["malignant"] = {"params": params, "summary": summary.to_dict("list")}
    log.info("calls:\n%s", summary.to_string())
    write_table(summary, snakemake.output.summary)
    write_table(profiles, snakemake.output.profiles)
    write_table(clusters, snakemake.output.clusters)
    write_table(reference_table, snakemake.output.reference)
    write_table(clones, snakemake.output.light_chains)
    write_annotations(adata, snakemake.output.h5ad)
