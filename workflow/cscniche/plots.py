"""Figures drawn from saved tables (never recomputing the analysis)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .io import write_atomic  # noqa: E402

PALETTE = plt.get_cmap("tab20").colors + plt.get_cmap("tab20b").colors


def _save(fig: plt.Figure, path: str | Path) -> None:
    fmt = Path(path).suffix.lstrip(".") or "png"
    write_atomic(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=110, bbox_inches="tight",
                                               metadata={"Software": None} if fmt == "png" else None))
    plt.close(fig)


def qc_figure(cells: pd.DataFrame, summary: pd.Series, path: str | Path) -> None:
    """Histograms of genes, counts and mitochondrial % per cell with the thresholds used.

    Parameters
    ----------
    cells
        A sample's per-cell QC table (``qc/<sample>.cells.tsv.gz``).
    summary
        The sample's row of the QC summary (thresholds).
    """
    panels = [("n_genes", "genes per cell", True, ["threshold_min_genes", "threshold_max_genes"]),
              ("total_counts", "counts per cell", True, ["threshold_min_counts"]),
              ("pct_counts_mt", "mitochondrial %", False, ["threshold_max_pct_mt"])]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), layout="constrained")
    passed = cells["qc_pass"].astype(str).str.lower().eq("true")
    for ax, (col, label, logx, thr_cols) in zip(axes, panels, strict=True):
        values = cells[col].astype(float).to_numpy()
        if logx:
            values = np.log10(values + 1)
        bins = np.histogram_bin_edges(values, bins=50)
        ax.hist(values[passed], bins=bins, color="#4c72b0", label="kept")
        ax.hist(values[~passed], bins=bins, color="#dd8452", alpha=0.8, label="removed")
        for t in thr_cols:
            v = float(summary.get(t, np.nan))
            if np.isfinite(v) and v > 0:
                ax.axvline(np.log10(v + 1) if logx else v, color="k", ls="--", lw=1)
        ax.set_xlabel(f"log10 {label}" if logx else label)
        ax.set_ylabel("cells")
    axes[0].legend(frameon=False)
    fig.suptitle(f"{summary['sample']}: {int(summary['cells_after'])} of {int(summary['cells_before'])} cells kept")
    _save(fig, path)


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
    order = sorted(labels.unique(), key=lambda v: (not v.isdigit(), int(v) if v.isdigit() else 0, v))
    for i, lab in enumerate(order):
        sel = labels.eq(lab).to_numpy()
        ax.scatter(cells["umap_1"][sel], cells["umap_2"][sel], s=size, color=PALETTE[i % len(PALETTE)],
                   label=lab or "(none)", linewidths=0, rasterized=True)
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


def cnv_heatmap(adata, patient: str, path: str | Path) -> None:
    """Heatmap of one patient's CNV profiles (``obsm['X_cnv']``), cells grouped by call and CNV cluster.

    ``adata`` may be opened in backed mode; only the patient's rows of ``X_cnv`` are loaded.
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
    order = np.lexsort((-sub["cnv_correlation"].to_numpy(), clone, sub["malignant"].astype(str).map(
        {"malignant": 0, "uncertain": 1, "non-malignant": 2}).to_numpy()))
    X = adata.obsm["X_cnv"][cells[order]]
    X = X.toarray() if sp.issparse(X) else np.asarray(X)
    vmax = max(float(np.quantile(np.abs(X), 0.99)), 1e-3)
    image = ax.imshow(X, aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
    bounds = sorted(adata.uns["cnv"]["chr_pos"].items(), key=lambda kv: kv[1])
    for i, (chrom, start) in enumerate(bounds):
        end = bounds[i + 1][1] if i + 1 < len(bounds) else X.shape[1]
        ax.axvline(start - 0.5, color="k", lw=0.4)
        ax.text((start + end) / 2, -1, chrom.removeprefix("chr"), ha="center", va="bottom", fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])
    calls = sub["malignant"].astype(str).to_numpy()[order]
    side.imshow(np.array([[matplotlib.colors.to_rgb(CALL_COLOURS.get(c, "#000")) for c in calls]]).transpose(1, 0, 2),
                aspect="auto", interpolation="nearest")
    side.set_xticks([])
    side.set_yticks([])
    side.set_ylabel("cells (malignant / uncertain / non-malignant)")
    fig.colorbar(image, ax=ax, shrink=0.6, label="inferred CNV")
    fig.suptitle(f"patient {patient}: {len(cells)} cells")
    _save(fig, path)


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
