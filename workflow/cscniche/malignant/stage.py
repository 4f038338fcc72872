"""The malignant stage's entry: calls by copy number and clonality, author labels or every cell, and its tables."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import anndata as ad
import pandas as pd

from .. import clonality
from .calls import call_all_malignant, call_from_author_labels, call_from_cnv_and_clonality, label_malignant
from .cnv import cnv_clusters, cnv_profiles
from .genes import gene_positions_source, place_genes, read_gene_positions
from .reference import REFERENCE_COLUMNS

log = logging.getLogger(__name__)

PROFILE_COLUMNS = ["patient", "call", "window", "chromosome", "mean_cnv", "cells"]
CNV_CLUSTER_COLUMNS = ["cnv_cluster", "patient", "cells", "mean_cnv_correlation"]


@dataclass
class MalignantResult:
    """The malignant stage's tables (``results/<dataset>/identity/``)."""

    summary: pd.DataFrame
    """One row per patient: cells per call, tumour detected, reference and gene placement."""
    profiles: pd.DataFrame
    """Mean copy number per patient, call and genomic window (``PROFILE_COLUMNS``)."""
    clusters: pd.DataFrame
    """Each patient's CNV clusters (``CNV_CLUSTER_COLUMNS``), the candidate subclones."""
    reference: pd.DataFrame
    """The normal-reference candidates per patient and cluster (``REFERENCE_COLUMNS``)."""
    light_chains: pd.DataFrame
    """B-cell light-chain restriction per patient and cluster (``clonality.CLONE_COLUMNS``)."""


def run_malignant(adata: ad.AnnData, *, method: str, author_column: str | None, author_pattern: str,
                  gene_positions: str | None, gene_positions_sha256: str | None, min_fraction_placed: float,
                  reference_compartments: list[str], reference_twin_distance: float | None,
                  light_chain_restriction: float | None, reference_cell_types: list[str],
                  reference_column: str | None, reference_min_confidence: float, min_reference_cells: int,
                  window_size: int, step: int, min_mean_counts: float, top_fraction: float,
                  reference_quantile: float, min_malignant_cells: int, tumour_pvalue: float,
                  leiden_flavor: str = "igraph", seed: int = 0,
                  read_counts: Callable[[list[str]], ad.AnnData] | None = None) -> MalignantResult:
    """The malignant stage: call every cell malignant or not, in place (``obs['malignant']``), and its tables.

    The keywords are the ``malignant`` config section (``config/README.md``), and the ``cluster`` section's
    ``leiden_flavor`` for the CNV clusters. ``adata``: the annotated cells, log-normalised. ``read_counts``
    reads the raw counts of the named genes for the same cells (the light-chain genes), where ``adata`` has
    no ``layers['counts']``.
    """
    params = {name: value for name, value in locals().items()
              if name not in ("adata", "leiden_flavor", "seed", "read_counts")}
    if method in ("author", "all"):
        summary = call_from_author_labels(adata, author_column, author_pattern) if method == "author" else \
            call_all_malignant(adata)
        result = MalignantResult(summary, pd.DataFrame(columns=PROFILE_COLUMNS),
                                 pd.DataFrame(columns=CNV_CLUSTER_COLUMNS), pd.DataFrame(columns=REFERENCE_COLUMNS),
                                 pd.DataFrame(columns=clonality.CLONE_COLUMNS))
    else:
        positions = read_gene_positions(gene_positions) if gene_positions else None
        source = gene_positions_source(adata.var, gene_positions)
        fraction = place_genes(adata, positions, min_fraction=min_fraction_placed)
        log.info("genes placed: %.1f%% (positions: %s)", 100 * fraction, source)
        chain_genes = clonality.light_chain_genes(adata.var_names)
        chain_counts = read_counts(chain_genes) if chain_genes and read_counts is not None else None
        summary, reference, clones = call_from_cnv_and_clonality(adata, params, chain_counts=chain_counts, log=log)
        log.info("CNV inferred: %d windows", adata.obsm["X_cnv"].shape[1])
        summary = summary.assign(genes_placed=fraction, gene_positions=source)
        profiles = cnv_profiles(adata)
        clusters = cnv_clusters(adata, seed=seed, leiden_flavor=leiden_flavor)
        log.info("CNV clusters: %d", len(clusters))
        result = MalignantResult(summary, profiles, clusters, reference, clones)
    label_malignant(adata.obs)
    adata.uns["malignant"] = {"params": params, "summary": result.summary.to_dict("list")}
    return result
