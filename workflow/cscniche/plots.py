"""Figures drawn from saved tables (never recomputing the analysis)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .io import write_atomic  # noqa: E402
from .palette import GREY, category_colours

PALETTE = plt.get_cmap("tab20").colors + plt.get_cmap("tab20b").colors


plt.rcParams["svg.hashsalt"] = "cscniche"  # reproducible SVG ids
METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None}, "pdf": {"CreationDate": None}}


def _save(fig: plt.Figure, path: str | Path) -> None:
    fmt = Path(path).suffix.lstrip(".") or "png"
    write_atomic(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=110, bbox_inches="tight",
                                               metadata=METADATA.get(fmt)))
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

    ``adata`` may hold only this patient (the rule reads its rows alone) or be opened in backed mode.
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
    if len(order) > HEATMAP_MAX_CELLS:  # evenly spaced rows of the sorted cells: the figure has fewer pixels
        order = order[np.linspace(0, len(order) - 1, HEATMAP_MAX_CELLS).round().astype(int)]
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


def _group_order(groups) -> list[str]:
    csc = [g for g in ("CSC-high", "CSC-low") if g in set(groups)]
    return csc + sorted(set(groups) - set(csc))


def _empty(ax: plt.Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


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
            _empty(ax, f"{kind}: no test")
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


def group_network(interactions: pd.DataFrame, path: str | Path, *, alpha: float = 0.05) -> None:
    """Groups on a circle; arrows from ligand to receptor group, width = interactions with p <= ``alpha``."""
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
        ax.add_patch(FancyArrowPatch(xy[source], end, connectionstyle=style, arrowstyle="-|>", mutation_scale=12,
                                     lw=0.3 + 4 * n / counts.max(), alpha=0.6,
                                     color="#c44e52" if source.startswith("CSC") else "#4c72b0"))
    for i, g in enumerate(order):
        ax.scatter(*xy[g], s=500, color=PALETTE[i % len(PALETTE)], zorder=3)
        ax.annotate(g, xy[g], xytext=(1.18 * xy[g][0], 1.18 * xy[g][1]), ha="center", va="center", fontsize=9)
    ax.set_xlim(-1.5, 1.5)
    ax.set_ylim(-1.5, 1.5)
    ax.set_axis_off()
    ax.set_title("CSC interactions per patient (red: from CSC groups)")
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


def volcano(de: pd.DataFrame, path: str | Path, *, label: int = 15) -> None:
    """CSC-high vs CSC-low: log2 fold change against -log10 p (pseudobulk when run, else Wilcoxon)."""
    fig, ax = plt.subplots(figsize=(7, 5.5), layout="constrained")
    method = "pseudobulk" if (de["method"] == "pseudobulk").any() else "wilcoxon"
    rows = de[de["method"] == method].dropna(subset=["pvalue", "log2fc"])
    if rows.empty:
        _empty(ax, "no differential expression")
    else:
        y = -np.log10(rows["pvalue"].clip(lower=1e-300))
        hit = rows["fdr"] <= 0.05
        ax.scatter(rows["log2fc"], y, s=5, c=np.where(hit, "#c44e52", "#999999"), alpha=0.7)
        for _, r in rows[hit & (rows["log2fc"] > 0)].nsmallest(label, "pvalue").iterrows():
            ax.annotate(r["gene"], (r["log2fc"], -np.log10(max(r["pvalue"], 1e-300))), fontsize=7)
        ax.set_xlabel("log2 fold change (CSC-high / CSC-low)")
        ax.set_ylabel("-log10 p")
    ax.set_title(f"Differential expression ({method}); red: FDR <= 0.05")
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
