"""The comparison of groups of patients in one figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .base import PALETTE, _empty, _save, plt


def comparison_figure(per_patient: pd.DataFrame, composition: pd.DataFrame, genes: pd.DataFrame,
                      signalling: pd.DataFrame, path: str | Path, *, top: int = 10) -> None:
    """One comparison in three panels, the patient as the unit.

    Composition: each patient's CSC-high share of malignant cells and TME type shares, a dot per patient
    and a bar per group mean, p-values from ``composition``. Resistance genes: log2 fold change of the
    CSC-high cells (second group over first) against -log10 p, or without a test the change in CSC-high
    against that in CSC-low cells (genes above the diagonal change in CSCs only). Signalling: the ``top``
    pairs by priority, the groups' mean per-patient CSC-specific effects.
    """
    groups = [composition["group_a"].iloc[0], composition["group_b"].iloc[0]] if len(composition) else []
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(18, 5.5), layout="constrained",
                                              gridspec_kw={"width_ratios": [1.4, 1, 1]})
    _composition_panel(left, per_patient, composition, groups)
    _resistance_panel(middle, genes, groups)
    _signalling_panel(right, signalling, groups, top=top)
    fig.suptitle(f"{' vs '.join(map(str, groups))}, the patient as the unit" if groups else "comparison")
    _save(fig, path)


def _composition_panel(ax: plt.Axes, per_patient: pd.DataFrame, composition: pd.DataFrame, groups: list) -> None:
    if per_patient.empty or not groups:
        _empty(ax, "no patient in the comparison's groups")
        return
    measures = list(composition["measure"])
    pvalues = composition.set_index("measure")["pvalue"]
    for k, group in enumerate(groups):
        rows = per_patient[per_patient["group"].astype(str) == str(group)]
        x = np.arange(len(measures)) + (k - 0.5) * 0.38
        ax.bar(x, [rows[m].mean() for m in measures], width=0.36, color=PALETTE[2 * k + 1], label=str(group))
        for i, measure in enumerate(measures):
            values = rows[measure].dropna()
            ax.scatter(np.full(len(values), x[i]), values, s=12, color=PALETTE[2 * k], zorder=3)
    names = [m.removeprefix("share_") if m != "csc_high_share" else "CSC-high" for m in measures]
    labels = [f"{n}\np={pvalues[m]:.2g}" if pd.notna(pvalues[m]) else n for n, m in zip(names, measures, strict=True)]
    ax.set_xticks(range(len(measures)), labels, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("share (CSC-high: of malignant cells; TME types: of all cells)")
    ax.legend(fontsize=8)
    ax.set_title("Composition per patient (exact Mann-Whitney U)")


def _resistance_panel(ax: plt.Axes, genes: pd.DataFrame, groups: list, *, label: int = 10) -> None:
    rows = genes.dropna(subset=["log2fc"]) if len(genes) else genes
    if rows.empty:
        _empty(ax, "no resistance genes (too few patients with CSC-high cells)")
        return
    ratio = f"{groups[1]} / {groups[0]}" if groups else "second / first group"
    if rows["pvalue"].notna().any():
        x, y = rows["log2fc"], -np.log10(rows["pvalue"].clip(lower=1e-300))
        hit = rows["fdr"] <= 0.05
        ax.set_xlabel(f"log2 fold change in CSC-high cells ({ratio})")
        ax.set_ylabel("-log10 p (pseudobulk DESeq2)")
        ax.set_title("Resistance genes of CSC-high cells; red: FDR <= 0.05")
    else:  # descriptive: the change in CSC-high cells against the change in the rest of the tumour
        x, y = rows["log2fc_csc_low"], rows["log2fc_csc_high"]
        hit = pd.Series(False, index=rows.index)
        lim = [min(x.min(), y.min()), max(x.max(), y.max())]
        ax.plot(lim, lim, color="black", lw=0.5)
        ax.set_xlabel(f"log2 ratio in CSC-low cells ({ratio})")
        ax.set_ylabel(f"log2 ratio in CSC-high cells ({ratio})")
        ax.set_title("Resistance genes, descriptive (above the line: CSC-specific)")
    ax.scatter(x, y, s=5, c=np.where(hit, "#c44e52", "#999999"), alpha=0.7)
    labelled = y[hit].nlargest(label).index if hit.any() else rows["log2fc"].abs().nlargest(label).index
    for i in labelled:
        ax.annotate(rows.at[i, "gene"], (x[i], y[i]), fontsize=7)


def _signalling_panel(ax: plt.Axes, signalling: pd.DataFrame, groups: list, *, top: int) -> None:
    rows = signalling.head(top).iloc[::-1] if len(signalling) else signalling
    if rows.empty or not groups:
        _empty(ax, "no CSC-specific signalling to compare")
        return
    y = np.arange(len(rows))
    for k, (column, group) in enumerate((("effect_a", groups[0]), ("effect_b", groups[1]))):
        ax.barh(y + (k - 0.5) * 0.38, rows[column], height=0.36, color=PALETTE[2 * k + 1], label=str(group))
    names = [f"{r.ligand}-{r.receptor} {'to' if r.direction == 'CSC->TME' else 'from'} {r.partner}"
             + (f" (FDR {r.fdr:.2g})" if pd.notna(r.fdr) else "") for r in rows.itertuples()]
    ax.set_yticks(y, names, fontsize=7)
    ax.axvline(0, color="black", lw=0.5)
    ax.set_xlabel("mean per-patient CSC-specific effect (CSC-high - CSC-low)")
    ax.legend(fontsize=8)
    ax.set_title(f"Top {len(rows)} CSC-TME pairs by priority")
