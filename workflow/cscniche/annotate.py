"""Cell-type annotation: marker-set scoring per cell (kNN-smoothed), per-cluster majority and purity."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .io import InputError
from .labels import UNASSIGNED
from .markers import (  # noqa: F401  (re-exported: the annotate stage's marker helpers)
    COMPARTMENTS,
    MarkerSet,
    best_label,
    gene_mean_sd,
    load_marker_sets,
    marker_coverage,
    marker_scores,
)
from .markers import smooth as smooth_scores

AGREEMENT_COLUMNS = ["author_label", "cell_type", "cells", "author_column"]


@dataclass(frozen=True)
class AnnotateResult:
    """The annotate stage's tables and its warnings in words.

    The tables are ``identity/{clusters,marker_sets,marker_expression,agreement}.tsv``.
    """

    clusters: pd.DataFrame
    marker_sets: pd.DataFrame
    marker_expression: pd.DataFrame
    agreement: pd.DataFrame
    warnings: list[str]


def run_annotate(adata: ad.AnnData, *, markers: list[str], min_score: float, min_margin: float,
                 min_genes_per_set: int, smooth: bool, celltypist_model: str | None) -> AnnotateResult:
    """The annotate stage: marker-set labels (and CellTypist's, with a local model), in place, and its tables.

    The keywords are the ``annotate`` config section (``config/README.md``); ``adata`` is clustered
    (``leiden``, and the kNN graph when ``smooth``). Each ``author_*`` column is compared with the labels.
    """
    sets = load_marker_sets(markers)
    coverage = marker_coverage(adata.var_names, sets, min_genes=min_genes_per_set)
    warnings = [f"marker set {row.cell_type!r} not scored: {row.markers_present} of its {row.markers} markers in "
                f"the data (min_genes_per_set {min_genes_per_set}); its cells cannot get this label"
                for row in coverage[~coverage["scored"]].itertuples()]
    annotate(adata, sets, min_score=min_score, min_margin=min_margin, min_genes_per_set=min_genes_per_set,
             smooth=smooth)
    adata.uns["annotate"]["params"] |= {"markers": list(markers), "celltypist_model": celltypist_model}
    if celltypist_model:
        celltypist_labels(adata, celltypist_model)
    authors = [c for c in adata.obs if c.startswith("author_") or c == "celltypist_majority"]
    frames = [agreement(adata.obs, c).assign(author_column=c) for c in authors]
    return AnnotateResult(
        clusters=cluster_summary(adata.obs), marker_sets=coverage,
        marker_expression=marker_expression(adata, sets, min_genes=min_genes_per_set),
        agreement=pd.concat(frames) if frames else pd.DataFrame(columns=AGREEMENT_COLUMNS), warnings=warnings)


def annotate(adata: ad.AnnData, sets: list[MarkerSet], *, min_score: float, min_margin: float,
             min_genes_per_set: int, smooth: bool) -> ad.AnnData:
    """Label every cell with the best-scoring marker set, then its subset (if any), in place.

    ``smooth``: average each cell's scores over its kNN graph (``obsp['connectivities']``) first.

    Returns
    -------
    ``adata`` with ``obs``: ``cell_type`` (``unassigned`` when no set wins clearly), ``cell_type_score``
    (smoothed z-score of the winner), ``cell_type_confidence`` (margin over the runner-up),
    ``cell_subtype``, ``cell_compartment``, ``cluster_cell_type`` (majority label of the cell's Leiden
    cluster); ``obsm['celltype_scores']``; ``uns['annotate']``.
    """
    scores = marker_scores(adata, sets, min_genes=min_genes_per_set)
    scores = smooth_scores(scores, adata.obsp.get("connectivities") if smooth else None)
    by_name = {s.name: s for s in sets}
    top_level = [c for c in scores if by_name[c].parent is None]
    label, top, margin = best_label(scores[top_level], min_score, min_margin)
    subtype = label.copy()
    for parent in {by_name[c].parent for c in scores if by_name[c].parent}:
        children = [c for c in scores if by_name[c].parent == parent]
        cells = label.eq(parent).to_numpy()
        if cells.any() and children:
            sub, _, _ = best_label(scores.loc[cells, children], min_score, min_margin)
            subtype[cells] = sub.where(sub.ne(UNASSIGNED), parent)
    adata.obs["cell_type"] = pd.Categorical(label)
    adata.obs["cell_subtype"] = pd.Categorical(subtype)
    adata.obs["cell_type_score"] = top.astype(np.float32)
    adata.obs["cell_type_confidence"] = margin.astype(np.float32)
    adata.obs["cell_compartment"] = label.map(lambda v: by_name[v].compartment if v in by_name else "").astype(str)
    adata.obsm["celltype_scores"] = scores.to_numpy(np.float32)
    if "leiden" in adata.obs:
        majority = cluster_summary(adata.obs).set_index("cluster")["label"]
        adata.obs["cluster_cell_type"] = adata.obs["leiden"].map(majority).astype(str).to_numpy()
    coverage = marker_coverage(adata.var_names, sets, min_genes=min_genes_per_set)
    settings = {"min_score": min_score, "min_margin": min_margin, "min_genes_per_set": min_genes_per_set,
                "smooth": smooth}
    adata.uns["annotate"] = {"params": settings, "scored_sets": list(scores.columns),
                             "unscored_sets": list(coverage.loc[~coverage["scored"], "cell_type"]),
                             "sources": pd.DataFrame({"cell_type": [s.name for s in sets],  # names hold "/"
                                                      "source": [s.source for s in sets]})}
    return adata


def celltypist_labels(adata: ad.AnnData, model_path: str | Path, *, groupby: str = "leiden") -> ad.AnnData:
    """Add CellTypist predictions from a local model file, in place (nothing is downloaded).

    CellTypist expects log1p of counts scaled to 10,000 per cell; ``X`` is rescaled to that from any
    log1p-normalised input. Sets ``obs``: ``celltypist_label``, ``celltypist_conf`` and
    ``celltypist_majority`` (majority vote within ``groupby`` clusters).
    """
    import celltypist

    path = Path(model_path)
    if not path.is_file():
        raise InputError(f"{path}: CellTypist model file not found (models are never downloaded)")
    try:
        model = celltypist.models.Model.load(str(path))
    except Exception as err:
        raise InputError(f"{path}: not a CellTypist model ({type(err).__name__}: {err})") from err
    linear = sp.csr_matrix(adata.X, dtype=np.float64).expm1()
    scale = 1e4 / np.maximum(np.asarray(linear.sum(axis=1)).ravel(), 1e-12)
    X = (sp.diags(scale) @ linear).log1p().tocsr()
    query = ad.AnnData(X, obs=adata.obs[[groupby]].copy(), var=pd.DataFrame(index=adata.var_names))
    result = celltypist.annotate(query, model=model, majority_voting=True, over_clustering=groupby)
    labels = result.predicted_labels
    adata.obs["celltypist_label"] = labels["predicted_labels"].astype(str).to_numpy()
    adata.obs["celltypist_majority"] = labels["majority_voting"].astype(str).to_numpy()
    adata.obs["celltypist_conf"] = result.probability_matrix.max(axis=1).to_numpy(np.float32)
    return adata


def cluster_summary(obs: pd.DataFrame, *, groupby: str = "leiden") -> pd.DataFrame:
    """Per cluster: cells, majority label (assigned cells) and purity (its share of the cluster)."""
    rows = []
    for cluster, cells in obs.groupby(groupby, observed=True):
        counts = cells["cell_type"].astype(str).value_counts()
        assigned = counts.drop(UNASSIGNED, errors="ignore")
        label = assigned.index[0] if len(assigned) else UNASSIGNED
        rows.append({"cluster": cluster, "n_cells": len(cells), "label": label,
                     "purity": float(counts.get(label, 0) / len(cells)),
                     "unassigned": float(counts.get(UNASSIGNED, 0) / len(cells))})
    return pd.DataFrame(rows)


def agreement(obs: pd.DataFrame, author_column: str) -> pd.DataFrame:
    """Confusion matrix (long form): author label x workflow label, cell counts."""
    table = pd.crosstab(obs[author_column].astype(str), obs["cell_type"].astype(str))
    return table.stack().rename("cells").reset_index().rename(columns={author_column: "author_label",
                                                                       "cell_type": "cell_type"})


def marker_expression(adata: ad.AnnData, sets: list[MarkerSet], *, top: int = 4, min_genes: int = 2,
                      groupby: str = "cell_type") -> pd.DataFrame:
    """Mean log expression and share of cells expressing each type's first ``top`` markers, per label.

    For the marker dotplot that shows why cells got their label: the markers of each top-level set that is
    scored and that some cell got, in the order of the marker files.

    Returns
    -------
    One row per label and gene: ``cell_type`` (the ``groupby`` label), ``gene``, ``marker_of``, ``mean``,
    ``pct``, ``cells``.
    """
    from .ranksum import group_stats

    labels = adata.obs[groupby].astype(str)
    present = set(labels)
    genes, owners = [], []
    for marker_set in sets:
        markers, _ = marker_set.markers_in(adata.var_names, min_genes=min_genes)
        if marker_set.parent is None and marker_set.name in present and len(markers) >= min_genes:
            new = [g for g in markers if g not in genes][:top]
            genes += new
            owners += [marker_set.name] * len(new)
    if not genes:
        return pd.DataFrame(columns=["cell_type", "gene", "marker_of", "mean", "pct", "cells"])
    groups = sorted(present)
    codes = pd.Categorical(labels, categories=groups).codes
    X = adata[:, genes].X
    stats = group_stats(X if sp.issparse(X) else sp.csr_matrix(X), codes, len(groups))
    return pd.DataFrame({"cell_type": np.repeat(groups, len(genes)), "gene": np.tile(genes, len(groups)),
                         "marker_of": np.tile(owners, len(groups)), "mean": stats.mean.ravel().round(4),
                         "pct": stats.frac.ravel().round(4), "cells": np.repeat(stats.sizes.astype(int), len(genes))})
