"""Cell-identity figures: UMAPs and CNV heatmaps."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.patches
import numpy as np
import pandas as pd

from ..palette import GREY, category_colours
from .base import _empty, _save, plt


def umap_figure(cells: pd.DataFrame, color: str, path: str | Path, *, title: str | None = None) -> None:
    """UMAP scatter of ``cells.tsv.gz`` coloured by a column (float columns get a colour scale)."""
    fig, ax = plt.subplots(figsize=(6.5, 5), layout="constrained")
    size = max(2.0, min(20.0, 6000 / max(len(cells), 1)))
    if pd.api.types.is_float_dtype(cells[color]):
        order = np.argsort(cells[color].fillna(-np.inf).to_numpy())
        points = ax.scatter(cells["umap_1"].to_numpy()[order], cells["umap_2"].to_numpy()[order], s=size,
                            c=cells[color].to_numpy()[order], cmap="viridis", linewidths=0, rasterized=True)
        fig.colorbar(points, ax=ax, shrink=0.6, label=color)
        _finish_umap(fig, ax, title or color, path)
        return
    labels = cells[color].fillna("").astype(str)
    colours = category_colours(labels.unique())
    order = sorted(colours, key=lambda v: colours[v] != GREY)  # undecided cells first, under the others
    for lab in order:
        sel = labels.eq(lab).to_numpy()
        grey = colours[lab] == GREY
        ax.scatter(cells["umap_1"][sel], cells["umap_2"][sel], s=size * (0.6 if grey else 1), color=colours[lab],
                   alpha=0.6 if grey else 1, label=lab or "(none)", linewidths=0, rasterized=True)
    ax.legend(bbox_to_anchor=(1.02, 1), loc="upper left", frameon=False, markerscale=max(1, 8 / size),
              fontsize=8, ncols=1 if len(order) <= 20 else 2)
    _finish_umap(fig, ax, title or color, path)


def _finish_umap(fig: plt.Figure, ax: plt.Axes, title: str, path: str | Path) -> None:
    ax.set_xlabel("UMAP 1")
    ax.set_ylabel("UMAP 2")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    _save(fig, path)


CALL_COLOURS = {"malignant": "#c44e52", "uncertain": "#cccccc", "non-malignant": "#4c72b0"}


HEATMAP_MAX_CELLS = 5_000  # rows drawn in a CNV heatmap; more cells are thinned evenly in the sorted order


def cnv_heatmap(adata, patient: str, path: str | Path) -> None:
    """Heatmap of one patient's CNV profiles (``obsm['X_cnv']``), cells grouped by call and CNV cluster.

    Above ``HEATMAP_MAX_CELLS`` cells, evenly spaced cells of the sorted order are drawn (the title gives
    the patient's number of cells).

    ``adata`` may hold every patient (the rule draws them all from one read), only this one, or be opened in
    backed mode.
    """
    import scipy.sparse as sp

    obs = adata.obs
    cells = np.flatnonzero(obs["patient"].astype(str).to_numpy() == str(patient))
    fig, (side, ax) = plt.subplots(1, 2, figsize=(12, 5), width_ratios=[1, 40], layout="constrained")
    if "X_cnv" not in adata.obsm or len(cells) == 0:
        ax.text(0.5, 0.5, "no CNV profile (malignant.method is not cnv)", ha="center", transform=ax.transAxes)
        _save(fig, path)
        return
    sub = obs.iloc[cells]
    clone = sub["cnv_cluster"].astype(str).to_numpy() if "cnv_cluster" in sub else np.zeros(len(sub))
    reference = sub["cnv_reference"].astype(str).str.lower().eq("true").to_numpy() if "cnv_reference" in sub \
        else np.zeros(len(sub), bool)
    # malignant, uncertain, other non-malignant, then the reference cells as a block of their own
    order = np.lexsort((-sub["cnv_correlation"].to_numpy(), clone, reference, sub["malignant"].astype(str).map(
        {"malignant": 0, "uncertain": 1, "non-malignant": 2}).to_numpy()))
    if len(order) > HEATMAP_MAX_CELLS:  # evenly spaced rows of the sorted cells: the figure has fewer pixels
        order = order[np.linspace(0, len(order) - 1, HEATMAP_MAX_CELLS).round().astype(int)]
    X = adata.obsm["X_cnv"][cells[order]]
    X = X.toarray() if sp.issparse(X) else np.asarray(X)
    vmax = max(float(np.quantile(np.abs(X), 0.99)), 1e-3)
    image = ax.imshow(X, aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
    bounds = sorted(adata.uns["cnv"]["chr_pos"].items(), key=lambda kv: kv[1])
    for i, (chrom, start) in enumerate(bounds):  # labels on two rows: small chromosomes do not overlap
        end = bounds[i + 1][1] if i + 1 < len(bounds) else X.shape[1]
        ax.axvline(start - 0.5, color="k", lw=0.4)
        ax.text((start + end) / 2, 1.005 + 0.035 * (i % 2), chrom.removeprefix("chr"), ha="center", va="bottom",
                fontsize=7, transform=ax.get_xaxis_transform())
    ax.set_xticks([])
    ax.set_yticks([])
    calls = sub["malignant"].astype(str).to_numpy()[order]
    call_colours = [matplotlib.colors.to_rgb(CALL_COLOURS.get(c, "#000")) for c in calls]
    reference_colours = [(0.1, 0.1, 0.1) if r else (1.0, 1.0, 1.0) for r in reference[order]]
    side.imshow(np.array([call_colours, reference_colours]).transpose(1, 0, 2), aspect="auto",
                interpolation="nearest")
    side.set_xticks([0, 1], ["call", "ref."], fontsize=7, rotation=90)
    side.set_yticks([])
    side.set_ylabel("cells, by call, reference and CNV cluster")
    present = [c for c in ("malignant", "uncertain", "non-malignant") if c in set(calls)]
    side.legend(handles=[matplotlib.patches.Patch(color=CALL_COLOURS[c], label=c) for c in present]
                + [matplotlib.patches.Patch(color=(0.1, 0.1, 0.1), label="CNV reference")],
                title="side bars", loc="upper left", bbox_to_anchor=(0, -0.04), fontsize=7, title_fontsize=7,
                frameon=False)
    fig.colorbar(image, ax=ax, shrink=0.6, label="inferred CNV")
    fig.suptitle(f"patient {patient}: {len(cells)} cells")
    _save(fig, path)


def composition_figure(cells: pd.DataFrame, path: str | Path, *, column: str = "cell_type") -> None:
    """Each patient's cells by type, as shares of its cells (stacked bars; the number of cells on top)."""
    fig, ax = plt.subplots(figsize=(max(5.0, 0.55 * cells["patient"].nunique() + 3.5), 4.8), layout="constrained")
    if cells.empty or column not in cells:
        _empty(ax, "no cells to show")
        _save(fig, path)
        return
    labels = cells[column].fillna("unassigned").astype(str)
    counts = pd.crosstab(cells["patient"].astype(str), labels)
    shares = counts.div(counts.sum(axis=1), axis=0)
    colours = category_colours(shares.columns)
    types = sorted(shares.columns, key=lambda t: (colours[t] == GREY, -shares[t].mean()))
    bottom = np.zeros(len(shares))
    for cell_type in types:
        ax.bar(shares.index, shares[cell_type], bottom=bottom, color=colours[cell_type], label=cell_type, width=0.8)
        bottom += shares[cell_type].to_numpy()
    for x, total in enumerate(counts.sum(axis=1)):
        ax.text(x, 1.01, f"{total:,}", ha="center", va="bottom", fontsize=7)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("share of the patient's cells")
    ax.tick_params(axis="x", rotation=45)
    ax.legend(bbox_to_anchor=(1.02, 1), loc="upper left", frameon=False, fontsize=8)
    ax.set_title("Cell types per patient (number of cells on top)")
    _save(fig, path)


def agreement_heatmap(agreement: pd.DataFrame, path: str | Path) -> None:
    """The authors' labels (rows) against cscniche's cell types (columns): each row's share, counts written.

    One panel per author label column of ``identity/agreement.tsv``.
    """
    columns = list(dict.fromkeys(agreement["author_column"])) if len(agreement) else []
    sizes = [agreement.loc[agreement["author_column"] == c, "author_label"].nunique() for c in columns]
    fig, axes = plt.subplots(max(len(columns), 1), 1, squeeze=False, layout="constrained",
                             figsize=(9, sum(0.35 * n + 1.8 for n in sizes) if sizes else 3))
    if not columns:
        _empty(axes[0, 0], "no author labels given (sample-sheet or h5ad column named in author_labels)")
    for ax, column in zip(axes[:, 0], columns, strict=False):
        wide = agreement[agreement["author_column"] == column].pivot_table(
            index="author_label", columns="cell_type", values="cells", fill_value=0, aggfunc="sum")
        shares = wide.div(wide.sum(axis=1).replace(0, 1), axis=0)
        image = ax.imshow(shares.to_numpy(), cmap="Blues", vmin=0, vmax=1, aspect="auto")
        for (i, j), n in np.ndenumerate(wide.to_numpy()):
            if n:
                ax.text(j, i, f"{n:,}", ha="center", va="center", fontsize=6,
                        color="white" if shares.to_numpy()[i, j] > 0.6 else "black")
        ax.set_xticks(range(wide.shape[1]), wide.columns, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(wide.shape[0]), wide.index, fontsize=8)
        ax.set_ylabel(f"authors' {column}")
        fig.colorbar(image, ax=ax, shrink=0.8, label="share of the author label's cells")
    axes[-1, 0].set_xlabel("cscniche cell type")
    fig.suptitle("Authors' labels against cscniche's cell types (numbers: cells)")
    _save(fig, path)


def marker_dotplot(expression: pd.DataFrame, path: str | Path) -> None:
    """Each label's markers across the labels: colour = mean log expression scaled per gene, size = share.

    Drawn from ``identity/marker_expression.tsv``; genes grouped by the type they mark, in the marker files'
    order, and labels in the same order (others last), so the diagonal shows each type on its own markers.
    """
    fig, ax = plt.subplots(figsize=(max(6.0, 0.28 * expression["gene"].nunique() + 3), 0.35 *
                                    max(expression["cell_type"].nunique(), 4) + 2.2), layout="constrained")
    if expression.empty:
        _empty(ax, "no marker set scored in these data")
        _save(fig, path)
        return
    genes = list(dict.fromkeys(expression["gene"]))
    owners = list(dict.fromkeys(expression["marker_of"]))
    labels = owners + sorted(set(expression["cell_type"]) - set(owners))
    scaled = expression["mean"] / expression.groupby("gene")["mean"].transform("max").replace(0, 1)
    dots = ax.scatter(expression["gene"].map(genes.index), expression["cell_type"].map(labels.index),
                      s=8 + 180 * expression["pct"], c=scaled, cmap="Reds", vmin=0, vmax=1, edgecolors="grey",
                      linewidths=0.3)
    ax.set_xticks(range(len(genes)), genes, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    start = 0
    for owner in owners:  # a bracket over each type's markers
        n = int((expression.drop_duplicates("gene")["marker_of"] == owner).sum())
        ax.plot([start - 0.3, start + n - 0.7], [-0.9, -0.9], color="black", lw=0.8, clip_on=False)
        start += n
    ax.set_ylim(len(labels) - 0.5, -1.2)
    fig.colorbar(dots, ax=ax, shrink=0.6, label="mean expression (of the gene's highest)")
    ax.set_title("Marker genes by cell type (dot size: share of cells expressing)")
    _save(fig, path)
