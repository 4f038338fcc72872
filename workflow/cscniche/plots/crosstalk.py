"""CSC-TME crosstalk figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..palette import category_colours
from .base import PALETTE, _empty, _group_order, _save, plt


def crosstalk_heatmap(interactions: pd.DataFrame, path: str | Path, *, alpha: float = 0.05) -> None:
    """Interaction strength between groups: summed LR mean of interactions with p <= ``alpha``, mean over patients."""
    fig, ax = plt.subplots(figsize=(7.5, 6), layout="constrained")
    hits = interactions[interactions["pvalue"] <= alpha]
    if hits.empty:
        _empty(ax, f"no interaction with p <= {alpha:.2g}")
    else:
        per_patient = hits.groupby(["patient", "source", "target"])["lr_mean"].sum()
        strength = per_patient.groupby(["source", "target"]).sum() / interactions["patient"].nunique()
        order = _group_order(set(interactions["source"]) | set(interactions["target"]))
        matrix = strength.unstack().reindex(index=order, columns=order).fillna(0.0)
        image = ax.imshow(matrix.to_numpy(), cmap="magma_r")
        ax.set_xticks(range(len(order)), order, rotation=60, ha="right")
        ax.set_yticks(range(len(order)), order)
        ax.set_xlabel("target (receptor)")
        ax.set_ylabel("source (ligand)")
        fig.colorbar(image, ax=ax, shrink=0.7, label=f"summed LR mean, p <= {alpha:g}")
    ax.set_title("CSC <-> TME interaction strength")
    _save(fig, path)


def csc_specific_dotplot(specific: pd.DataFrame, path: str | Path, *, top: int = 10) -> None:
    """Top CSC-specific pairs of each direction: partner by pair, colour = effect, size = -log10 FDR."""
    directions = ["CSC->TME", "TME->CSC", "CSC<->CSC"]
    fig, axes = plt.subplots(1, 3, figsize=(16, 0.32 * top + 2.5), layout="constrained")
    for ax, kind in zip(axes, directions, strict=True):
        rows = specific[(specific["direction"] == kind) & (specific["effect"] > 0)].head(top) \
            if len(specific) else specific
        if rows.empty:
            _empty(ax, f"{kind}: no pair tested (no patient with both CSC-high and CSC-low cells)")
            continue
        pairs = list(dict.fromkeys(rows["ligand"] + " - " + rows["receptor"]))
        partners = list(dict.fromkeys(rows["partner"]))
        x = [partners.index(p) for p in rows["partner"]]
        y = [pairs.index(p) for p in rows["ligand"] + " - " + rows["receptor"]]
        size = 20 + 12 * np.clip(-np.log10(rows["fdr"].clip(lower=1e-30)), 0, 30)
        dots = ax.scatter(x, y, s=size, c=rows["effect"], cmap="viridis")
        ax.set_xticks(range(len(partners)), partners, rotation=45, ha="right")
        ax.set_yticks(range(len(pairs)), pairs, fontsize=8)
        ax.set_xlim(-0.7, len(partners) - 0.3)
        ax.invert_yaxis()
        ax.set_title(kind)
        fig.colorbar(dots, ax=ax, shrink=0.6, label="effect (CSC-high - CSC-low)")
    fig.suptitle("Top CSC-specific interactions (dot size: -log10 FDR)")
    _save(fig, path)


FROM_CSC, TO_CSC = "#CC3311", "#0077BB"  # the palette's CSC-high and CSC-low colours


def group_network(interactions: pd.DataFrame, path: str | Path, *, alpha: float = 0.05) -> None:
    """Groups on a circle; arrows from ligand to receptor group, width = interactions with p <= ``alpha``."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch

    fig, ax = plt.subplots(figsize=(7, 7), layout="constrained")
    hits = interactions[(interactions["pvalue"] <= alpha) & (interactions["direction"] != "TME->TME")]
    order = _group_order(set(interactions["source"]) | set(interactions["target"]))
    if hits.empty or not order:
        _empty(ax, f"no CSC interaction with p <= {alpha:.2g}")
        _save(fig, path)
        return
    angle = np.linspace(0, 2 * np.pi, len(order), endpoint=False)
    xy = {g: (np.cos(a), np.sin(a)) for g, a in zip(order, angle, strict=True)}
    counts = hits.groupby(["source", "target"]).size() / interactions["patient"].nunique()
    for (source, target), n in counts.items():
        style = "arc3,rad=0.15" if source != target else "arc3,rad=1.5"
        end = xy[target] if source != target else (xy[target][0] + 0.05, xy[target][1] + 0.05)
        ax.add_patch(FancyArrowPatch(xy[source], end, connectionstyle=style, arrowstyle="-|>", mutation_scale=14,
                                     lw=0.3 + 4 * n / counts.max(), alpha=0.6, shrinkA=13, shrinkB=13,
                                     color=FROM_CSC if source.startswith("CSC") else TO_CSC))
    colours = category_colours(order)
    for g in order:
        ax.scatter(*xy[g], s=500, color=colours[g], zorder=3, edgecolors="white")
        ax.annotate(g, xy[g], xytext=(1.2 * xy[g][0], 1.2 * xy[g][1]), ha="center", va="center", fontsize=9)
    widest = counts.max()
    ax.legend(handles=[Line2D([], [], color=FROM_CSC, lw=2, label="from a CSC group"),
                       Line2D([], [], color=TO_CSC, lw=2, label="to a CSC group"),
                       Line2D([], [], color="grey", lw=0.3 + 4, label=f"{widest:.0f} interactions per patient"),
                       Line2D([], [], color="grey", lw=0.3 + 2, label=f"{widest / 2:.0f}")],
              loc="lower left", fontsize=7, frameon=False, title_fontsize=7,
              title=f"arrows: ligand group to receptor group, p <= {alpha:g}")
    ax.set_xlim(-1.5, 1.5)
    ax.set_ylim(-1.5, 1.5)
    ax.set_axis_off()
    ax.set_title("Interactions of the CSC groups with each other and the TME (per patient)")
    _save(fig, path)


def axes_figure(axes_table: pd.DataFrame, path: str | Path) -> None:
    """Per curated axis, mean ligand/receptor/gene expression per group (bars: mean over patients; dots: patients)."""
    names = list(dict.fromkeys(axes_table["axis"])) if len(axes_table) else []
    fig, axes = plt.subplots(max(len(names), 1), 1, figsize=(11, 2.6 * max(len(names), 1)), layout="constrained",
                             squeeze=False)
    if not names:
        _empty(axes[0, 0], "no axis scored")
    for ax, name in zip(axes[:, 0], names, strict=False):
        rows = axes_table[axes_table["axis"] == name]
        roles = [r for r in ("ligand", "receptor", "gene") if rows[f"{r}_score"].notna().any()]
        order = _group_order(rows["group"])
        width = 0.8 / max(len(roles), 1)
        for k, role in enumerate(roles):
            per_group = rows.groupby("group")[f"{role}_score"]
            x = np.arange(len(order)) + (k - (len(roles) - 1) / 2) * width
            ax.bar(x, per_group.mean().reindex(order), width=width, label=role, color=PALETTE[2 * k])
            for i, g in enumerate(order):
                values = rows.loc[rows["group"] == g, f"{role}_score"]
                ax.scatter(np.full(len(values), x[i]), values, s=8, color="black", zorder=3)
        ax.set_xticks(range(len(order)), order, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("mean log expr.")
        ax.set_title(name, fontsize=10)
        ax.legend(fontsize=7, loc="upper right")
    _save(fig, path)


def sender_receiver_figure(specific: pd.DataFrame, path: str | Path, *, fdr: float = 0.05, names: int = 3) -> None:
    """Who CSCs talk to: per TME partner, the CSC-specific pairs stronger with CSC-high cells.

    Pairs at FDR <= ``fdr`` that CSCs send (left) and receive (right), the top ``names`` pairs written beside
    each bar.
    """
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.8), layout="constrained")
    for ax, kind, title in ((axes[0], "CSC->TME", "CSC-high cells send to"),
                            (axes[1], "TME->CSC", "CSC-high cells receive from")):
        rows = specific[(specific["direction"] == kind) & (specific["effect"] > 0) & (specific["fdr"] <= fdr)] \
            if len(specific) else specific
        if rows.empty:
            _empty(ax, f"{title}: no CSC-specific pair at FDR <= {fdr:g}")
            continue
        counts = rows.groupby("partner").size().sort_values()
        ax.barh(range(len(counts)), counts.to_numpy(), color="#CC3311" if kind == "CSC->TME" else "#0077BB")
        for i, partner in enumerate(counts.index):
            top = rows[rows["partner"] == partner].head(names)
            ax.text(counts[partner], i, "  " + ", ".join(top["ligand"] + "-" + top["receptor"]), va="center",
                    fontsize=7)
        ax.set_yticks(range(len(counts)), counts.index, fontsize=8)
        ax.set_xlim(0, counts.max() * 2.2)
        ax.set_xlabel(f"CSC-specific pairs (FDR <= {fdr:g})")
        ax.set_title(title)
    fig.suptitle("CSC-TME signalling by partner: pairs stronger with CSC-high than CSC-low cells")
    _save(fig, path)
