"""Stemness figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .base import _empty, _save, plt


def stemness_figure(cells: pd.DataFrame, agreement: pd.DataFrame, path: str | Path) -> None:
    """Per-patient consensus stemness of malignant cells, CSC-high fraction, and scorer agreement."""
    mal = cells[cells["malignant"].astype(str) == "malignant"] if "malignant" in cells else cells.iloc[:0]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4), layout="constrained", width_ratios=[2, 1, 1.3])
    patients = sorted(mal["patient"].astype(str).unique())
    data = [mal.loc[mal["patient"].astype(str) == p, "stemness"].dropna().to_numpy() for p in patients]
    if patients and all(len(d) > 1 for d in data):
        axes[0].violinplot(data, showmedians=True)
    axes[0].set_xticks(range(1, len(patients) + 1), patients, rotation=45, ha="right")
    axes[0].set_ylabel("consensus stemness (malignant cells)")
    fraction = [float((mal.loc[mal["patient"].astype(str) == p, "csc"] == "CSC-high").mean()) for p in patients]
    axes[1].bar(patients, fraction, color="#c44e52")
    axes[1].set_ylabel("CSC-high fraction")
    axes[1].tick_params(axis="x", rotation=45)
    if len(agreement):
        mean = agreement.groupby(["scorer_a", "scorer_b"])["spearman"].mean().unstack()
        names = sorted(set(mean.index) | set(mean.columns))
        mean = mean.reindex(index=names, columns=names)
        full = mean.combine_first(mean.T).fillna(1.0).to_numpy()
        image = axes[2].imshow(full, cmap="RdBu_r", vmin=-1, vmax=1)
        axes[2].set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
        axes[2].set_yticks(range(len(names)), names, fontsize=7)
        fig.colorbar(image, ax=axes[2], shrink=0.7, label="Spearman (mean over patients)")
    axes[2].set_title("scorer agreement")
    _save(fig, path)


def stemness_by_cluster(cells: pd.DataFrame, path: str | Path, *, min_cells: int = 10) -> None:
    """Consensus stemness of malignant cells per Leiden cluster, ordered by median.

    Clusters of at least ``min_cells`` malignant cells; the box colour is the cluster's CSC-high share.
    """
    fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
    mal = cells[cells["malignant"].astype(str).eq("malignant") & cells["stemness"].notna()] \
        if {"malignant", "stemness", "leiden"} <= set(cells) else cells.iloc[:0]
    sizes = mal["leiden"].astype(str).value_counts()
    clusters = list(sizes[sizes >= min_cells].index)
    if not clusters:
        _empty(ax, f"no Leiden cluster with {min_cells} or more malignant cells scored for stemness")
        _save(fig, path)
        return
    groups = {c: mal[mal["leiden"].astype(str) == c] for c in clusters}
    clusters.sort(key=lambda c: groups[c]["stemness"].median())
    share = [float(groups[c]["csc"].astype(str).eq("CSC-high").mean()) for c in clusters]
    boxes = ax.boxplot([groups[c]["stemness"].to_numpy() for c in clusters], patch_artist=True, showfliers=False)
    colour_map = plt.get_cmap("Reds")
    for box, s in zip(boxes["boxes"], share, strict=True):
        box.set_facecolor(colour_map(0.15 + 0.8 * s))
    ax.set_xticks(range(1, len(clusters) + 1), [f"{c}\n(n={len(groups[c]):,})" for c in clusters], fontsize=7)
    ax.set_xlabel("Leiden cluster (malignant cells)")
    ax.set_ylabel("consensus stemness")
    fig.colorbar(plt.cm.ScalarMappable(cmap=colour_map, norm=plt.Normalize(-0.19, 1.06)), ax=ax, shrink=0.8,
                 label="CSC-high share of the cluster")
    ax.set_title("Stemness of malignant cells by cluster (lowest median first)")
    _save(fig, path)


def feature_umaps(cells: pd.DataFrame, expression: pd.DataFrame, path: str | Path, *, columns: int = 3) -> None:
    """UMAPs coloured by each gene's log expression (one panel per column of ``expression``).

    ``cells`` holds ``cell_id, umap_1, umap_2`` (``cells.tsv.gz``); ``expression`` is indexed by cell id.
    Cells are drawn in order of expression, so the expressing cells lie on top.
    """
    genes = list(expression.columns)
    rows = max(1, -(-len(genes) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.6 * rows), layout="constrained",
                             squeeze=False)
    if not genes or cells.empty:
        _empty(axes[0, 0], "none of the CSC marker genes is in these data")
    size = max(1.5, min(12.0, 4000 / max(len(cells), 1)))
    values = expression.reindex(cells["cell_id"]).fillna(0.0)
    for ax, gene in zip(axes.ravel(), genes, strict=False):
        v = values[gene].to_numpy()
        order = np.argsort(v, kind="stable")
        points = ax.scatter(cells["umap_1"].to_numpy()[order], cells["umap_2"].to_numpy()[order], c=v[order], s=size,
                            cmap="Reds", vmin=0, linewidths=0, rasterized=True)
        fig.colorbar(points, ax=ax, shrink=0.7)
        ax.set_title(f"{gene} ({(v > 0).mean():.0%} of cells)", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.ravel()[max(len(genes), 1):]:
        ax.set_axis_off()
    fig.suptitle("CSC marker and top biomarker expression (log-normalised)")
    _save(fig, path)
