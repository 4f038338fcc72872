"""CSC biomarker figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .base import PALETTE, _empty, _group_order, _save, plt


def biomarker_dotplot(expression: pd.DataFrame, biomarkers: pd.DataFrame, path: str | Path, *, top: int = 20) -> None:
    """Top biomarkers across groups: colour = mean log expression, size = share of cells expressing."""
    genes = [g for g in biomarkers["gene"].head(top) if g in set(expression["gene"])]
    fig, ax = plt.subplots(figsize=(max(6, 0.42 * len(genes) + 3), 5), layout="constrained")
    if not genes:
        _empty(ax, "no biomarkers (no CSC-high/CSC-low comparison)")
    else:
        groups = _group_order(expression["group"])
        rows = expression[expression["gene"].isin(genes)]
        x = rows["gene"].map({g: i for i, g in enumerate(genes)})
        y = rows["group"].map({g: i for i, g in enumerate(groups)})
        dots = ax.scatter(x, y, s=10 + 220 * rows["pct"], c=rows["mean"], cmap="Reds", edgecolors="grey",
                          linewidths=0.3)
        ax.set_xticks(range(len(genes)), genes, rotation=60, ha="right")
        ax.set_yticks(range(len(groups)), groups)
        ax.invert_yaxis()
        fig.colorbar(dots, ax=ax, shrink=0.7, label="mean log expression")
    ax.set_title(f"Top {len(genes)} CSC biomarkers (dot size: share of cells expressing)")
    _save(fig, path)


def volcano(de: pd.DataFrame, path: str | Path, *, label: int = 15, max_fold: float = 8.0) -> None:
    """CSC-high vs CSC-low: log2 fold change against -log10 p (pseudobulk when run, else Wilcoxon).

    Fold changes beyond ±``max_fold`` (genes absent from one side) are drawn at the edge as triangles; the
    labels of the top genes are spread down the right margin, each joined to its point.
    """
    fig, ax = plt.subplots(figsize=(8, 5.5), layout="constrained")
    method = "pseudobulk" if (de["method"] == "pseudobulk").any() else "wilcoxon"
    rows = de[de["method"] == method].dropna(subset=["pvalue", "log2fc"])
    if rows.empty:
        _empty(ax, "no differential expression")
    else:
        y = -np.log10(rows["pvalue"].clip(lower=1e-300))
        x = rows["log2fc"].clip(-max_fold, max_fold)
        clipped = rows["log2fc"].abs() > max_fold
        colours = np.where(rows["fdr"] <= 0.05, "#c44e52", "#999999")
        for shape, sel in (("o", ~clipped), ("^", clipped)):
            ax.scatter(x[sel], y[sel], s=5 if shape == "o" else 14, marker=shape, c=colours[sel.to_numpy()],
                       alpha=0.7)
        top = rows[(rows["fdr"] <= 0.05) & (rows["log2fc"] > 0)].nsmallest(label, "pvalue")
        if len(top):
            slots = np.linspace(y.max(), y.max() * 0.15, len(top)) if len(top) > 1 else [y.max()]
            for slot, (i, r) in zip(slots, top.sort_values("pvalue").iterrows(), strict=True):
                ax.annotate(r["gene"], (x[i], y[i]), xytext=(max_fold * 1.08, slot), fontsize=7, va="center",
                            arrowprops={"arrowstyle": "-", "color": "#888888", "lw": 0.4}, annotation_clip=False)
        ax.set_xlim(-max_fold * 1.05, max_fold * 1.05)
        ax.set_xlabel(f"log2 fold change (CSC-high / CSC-low; beyond ±{max_fold:g}: triangles at the edge)")
        ax.set_ylabel("-log10 p")
    _save(fig, path)


def gsea_figure(gsea: pd.DataFrame, path: str | Path, *, top: int = 20) -> None:
    """Normalised enrichment of the top gene sets (coloured by collection)."""
    rows = gsea.dropna(subset=["nes"]).head(top).iloc[::-1] if len(gsea) else gsea
    fig, ax = plt.subplots(figsize=(9, 0.3 * max(len(rows), 4) + 1.5), layout="constrained")
    if rows.empty:
        _empty(ax, "no GSEA result")
    else:
        sources = sorted(rows["source"].unique())
        colour = {s: PALETTE[2 * i % len(PALETTE)] for i, s in enumerate(sources)}
        ax.barh(range(len(rows)), rows["nes"], color=[colour[s] for s in rows["source"]])
        ax.set_yticks(range(len(rows)), [f"{t[:55]}  (FDR {f:.2g})" for t, f in zip(rows["term"], rows["fdr"],
                                                                                    strict=True)], fontsize=7)
        ax.set_xlabel("NES (CSC-high up: > 0)")
        ax.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=colour[s]) for s in sources], labels=sources,
                  fontsize=7, loc="lower right")
    ax.set_title("GSEA prerank (gseapy)")
    _save(fig, path)


def gsea_running_figure(gsea: pd.DataFrame, running: pd.DataFrame, ranking: pd.DataFrame, path: str | Path) -> None:
    """Running enrichment score of the leading gene sets (highest NES first, then the lowest).

    Each panel: the running score along the ranked list (dashed: the ES), a tick per gene of the set, and the
    ranked statistic underneath; the title gives NES and FDR.
    """
    terms = list(dict.fromkeys(running["term"]))
    if not terms:
        fig, ax = plt.subplots(figsize=(6, 2.5), layout="constrained")
        _empty(ax, "no gene set to draw (no GSEA result)")
        _save(fig, path)
        return
    columns = min(3, len(terms))
    rows = -(-len(terms) // columns)
    fig = plt.figure(figsize=(4.2 * columns, 3.6 * rows), layout="constrained")
    stats = gsea.set_index("term")
    metric = ranking.iloc[np.unique(np.linspace(0, len(ranking) - 1, min(len(ranking), 600)).astype(int))]
    for panel, term in zip(fig.subfigures(rows, columns, squeeze=False).ravel(), terms, strict=False):
        curve = running[running["term"] == term]
        score, ticks, ranked = panel.subplots(3, 1, sharex=True, height_ratios=[3, 0.5, 1.2])
        row = stats.loc[term]
        colour = "#228833" if row["nes"] > 0 else "#AA3377"
        score.plot(curve["rank"], curve["running_es"], color=colour, lw=1.2)
        score.axhline(0, color="#888888", lw=0.6)
        score.axhline(row["es"], color=colour, lw=0.6, ls="--")
        score.set_ylabel("running ES")
        circular = " (circular)" if bool(row.get("circular", False)) else ""
        score.set_title(f"{term[:40]}{circular}\nNES {row['nes']:.2f}, FDR {row['fdr']:.2g}", fontsize=8)
        ticks.vlines(curve.loc[curve["gene"].fillna("") != "", "rank"], 0, 1, color="black", lw=0.5)
        ticks.set_yticks([])
        ranked.fill_between(metric["rank"], metric["stat"], color="#999999", lw=0)
        ranked.axhline(0, color="#888888", lw=0.5)
        ranked.set_ylabel("statistic", fontsize=7)
        ranked.set_xlabel(f"rank in the ordered list ({len(ranking)} genes; CSC-high up on the left)", fontsize=7)
        ranked.set_xlim(0, max(len(ranking), 1))
    _save(fig, path)
