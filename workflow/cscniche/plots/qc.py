"""Quality-control figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .base import _empty, _save, plt

EMPTY_PANELS = {"pct_counts_mt": "mitochondrial %: 0 in every cell\n(no MT- gene in the data, e.g. TPM tables\n"
                                  "that list nuclear genes only)"}


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
        if not np.any(values):
            _empty(ax, EMPTY_PANELS.get(col, f"{label}: 0 in every cell"))
            continue
        if logx:
            values = np.log10(values + 1)
        bins = np.histogram_bin_edges(values, bins=50)
        ax.hist(values[passed], bins=bins, color="#4c72b0", label="kept")
        ax.hist(values[~passed], bins=bins, color="#dd8452", alpha=0.8, label="removed")
        for t in thr_cols:
            value = summary.get(t)
            v = np.nan if value is None else float(value)  # None: no such threshold
            if np.isfinite(v) and v > 0:
                ax.axvline(np.log10(v + 1) if logx else v, color="k", ls="--", lw=1)
        ax.set_xlabel(f"log10 {label}" if logx else label)
        ax.set_ylabel("cells")
    axes[0].legend(frameon=False)
    fig.suptitle(f"{summary['sample']}: {int(summary['cells_after'])} of {int(summary['cells_before'])} cells kept")
    _save(fig, path)
