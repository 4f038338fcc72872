"""CSC biomarkers: CSC-high vs CSC-low differential expression, GSEA, and a ranked biomarker table.

* Per-cell test: exact Wilcoxon rank-sum on the sparse log-normalised matrix (:mod:`cscniche.ranksum`),
  which also gives each gene's AUROC.
* Pseudobulk: PyDESeq2 on summed counts per patient and CSC group, design ``~ patient + csc``, when at least
  two patients have both groups with enough cells and the data are counts. Its Wald statistic then ranks the
  genes for GSEA (otherwise the Wilcoxon z does).
* GSEA: gseapy prerank against local GMT files, the stemness gene sets and the crosstalk axes.
* Biomarkers: per gene AUROC, log2 fold change, fractions expressing, specificity against every TME cell
  type, consistency across patients and a cell-surface flag.
"""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.stats as ss

from .config import resolve_path
from .enrichment import gmt_collection, gsea
from .graded import combine_across_patients, stemness_correlations
from .io import InputError, read_yaml
from .labels import CSC_HIGH, CSC_LOW, DISCRETE, GRADED, SPLIT
from .pseudobulk import deseq2, sum_counts
from .ranksum import group_stats, rank_sum

BIOMARKER_COLUMNS = ["gene", "auroc", "log2fc", "pct_csc", "pct_noncsc", "specificity", "top_tme_type",
                     "n_patients_consistent", "n_patients", "surface", "surface_source", "pvalue", "fdr",
                     "pseudobulk_stat", "pvalue_cells", "fdr_cells", "stemness_gene", "stemness_rho", "mode"]
MIN_CELLS_PER_PATIENT = 3  # a patient counts towards consistency with this many cells in each group


def csc_mask(obs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Malignant cells with a confident CSC call, and which of them are CSC-high.

    Where ``obs`` has ``csc_signal``, only patients with a discrete stem program count (the top of a
    continuum is not a population).
    """
    missing = {"malignant", "csc", "patient", "cell_type"} - set(obs.columns)
    if missing:
        raise InputError(f"biomarkers need obs column(s) {sorted(missing)} (from the stemness stage)")
    csc = obs["csc"].astype(str)
    mask = obs["malignant"].astype(str).eq("malignant").to_numpy() & csc.isin([CSC_HIGH, CSC_LOW]).to_numpy()
    if "csc_signal" in obs:
        mask &= obs["csc_signal"].astype(str).eq(DISCRETE).to_numpy()
    return mask, csc.to_numpy()[mask] == CSC_HIGH


def _codes(n_rows: int, groups: dict[int, np.ndarray]) -> np.ndarray:
    """Group code of each row: ``groups`` maps a code to its rows; other rows get -1 (left out)."""
    codes = np.full(n_rows, -1, dtype=np.int64)
    for code, rows in groups.items():
        codes[rows] = code
    return codes


def wilcoxon_de(adata: ad.AnnData) -> pd.DataFrame:
    """CSC-high vs CSC-low malignant cells, per cell: rank-sum z, p, BH FDR, AUROC, log2FC, fractions.

    ``adata.X`` is read in place: the rank sums select the malignant rows block by block and the group
    statistics come from one pass over it, so no subset of the matrix is copied whole.
    """
    mask, high = csc_mask(adata.obs)
    X = sp.csr_matrix(adata.X)
    cells = np.flatnonzero(mask)
    test = rank_sum(X, high, rows=cells)
    stats = group_stats(X, _codes(X.shape[0], {0: cells[high], 1: cells[~high]}), 2, linear=True)
    (mean_h, mean_l), (pct_h, pct_l), (lin_h, lin_l) = stats.mean, stats.frac, stats.linear_mean
    return pd.DataFrame({"gene": adata.var_names, "method": "wilcoxon", "stat": test.z,
                         "log2fc": np.log2((lin_h + 1e-9) / (lin_l + 1e-9)), "pvalue": test.pvalue,
                         "fdr": ss.false_discovery_control(test.pvalue), "auroc": test.auroc,
                         "pct_csc": pct_h, "pct_noncsc": pct_l, "mean_csc": mean_h, "mean_noncsc": mean_l})


def pseudobulk_plan(adata: ad.AnnData, min_cells: int, *, counts=None) -> tuple[list[str], str]:
    """Patients usable for pseudobulk DE, and why pseudobulk is or is not run.

    ``counts``: raw counts kept outside ``adata`` (see :func:`pseudobulk_de`).
    """
    has_counts = counts is not None or "counts" in adata.layers
    if adata.uns.get("value_scale", "counts") != "counts" or not has_counts:
        return [], "per-cell Wilcoxon only: the input is not counts (pseudobulk DESeq2 needs raw counts)"
    mask, high = csc_mask(adata.obs)
    patients = adata.obs["patient"].astype(str).to_numpy()[mask]
    table = pd.crosstab(patients, np.where(high, CSC_HIGH, CSC_LOW))
    usable = [p for p in table.index if all(table.loc[p].get(g, 0) >= min_cells for g in (CSC_HIGH, CSC_LOW))]
    if len(usable) < 2:
        return usable, (f"per-cell Wilcoxon only: {len(usable)} patient(s) with at least {min_cells} CSC-high and "
                        f"CSC-low cells (pseudobulk needs 2)")
    return usable, f"pseudobulk DESeq2 (~ patient + csc) over {len(usable)} patients; Wilcoxon per cell alongside"


def pseudobulk_de(adata: ad.AnnData, patients: list[str], *, min_counts: int = 10, counts=None,
                  threads: int = 1) -> pd.DataFrame:
    """PyDESeq2 on counts summed per patient and CSC group (design ``~ patient + csc``).

    ``counts``: the raw counts as any matrix whose rows can be indexed (e.g. anndata's on-disk
    ``sparse_dataset``, so only the malignant cells' rows are read); default ``adata.layers['counts']``.
    ``threads``: processes for the per-gene fits (the results do not depend on it).
    """
    mask, high = csc_mask(adata.obs)
    cells = np.flatnonzero(mask)
    patient = adata.obs["patient"].astype(str).to_numpy()[cells]
    counts = sp.csr_matrix(adata.layers["counts"]) if counts is None else counts
    members, meta = {}, []
    for p in patients:
        for label, group in (("high", high), ("low", ~high)):
            members[f"{p}_{label}"] = cells[(patient == p) & group]
            meta.append({"sample": f"{p}_{label}", "patient": p, "csc": label})
    bulk = sum_counts(counts, members, adata.var_names)
    res = deseq2(bulk, pd.DataFrame(meta).set_index("sample"), design="~ patient + csc",
                 contrast=["csc", "high", "low"], min_counts=min_counts, threads=threads)
    return res.assign(method="pseudobulk")[["gene", "method", "stat", "log2fc", "pvalue", "fdr", "base_mean"]]


def surface_genes(path: str, resource: pd.DataFrame | None) -> dict[str, str]:
    """Gene -> why it counts as cell-surface: ``LR receptor``, ``CD marker`` or both."""
    file = Path(resolve_path(path))
    if not file.is_file():
        raise InputError(f"biomarkers.surface_markers: {path}: file not found")
    curated = set((read_yaml(file) or {}).get("genes") or [])
    receptors = set() if resource is None else {g for r in resource["receptor"] for g in str(r).split("_")}
    out = {}
    for gene in sorted(curated | receptors):
        out[gene] = " + ".join(s for s, hit in (("LR receptor", gene in receptors), ("CD marker", gene in curated))
                               if hit)
    return out


def biomarker_table(adata: ad.AnnData, wilcoxon: pd.DataFrame, surface: dict[str, str], *, min_cells: int,
                    scoring_genes: list[str] = (), graded: pd.DataFrame | None = None,
                    bulk: pd.DataFrame | None = None) -> pd.DataFrame:
    """Ranked biomarkers of CSC-high malignant cells (best first).

    Columns: ``gene, auroc, log2fc, pct_csc, pct_noncsc, specificity, top_tme_type, n_patients_consistent,
    n_patients, surface, surface_source, pvalue, fdr``. ``specificity`` is the smallest contrast
    ``(m_csc - m_t) / (m_csc + m_t)`` of the CSC-high mean against each TME type's mean (1: absent from every
    TME type; below 0: some TME type expresses it more); ``top_tme_type`` is that type. Consistency counts the
    patients with at least 3 cells in each group whose mean difference has the pooled direction. Genes up in
    CSC-high cells come first, by AUROC. ``stemness_gene`` flags the ``scoring_genes`` (the split was made on
    them). With ``graded`` (:func:`stemness_association`), ``stemness_rho``, ``pvalue`` and ``fdr`` are its
    within-patient correlations combined across patients, and the genes are ranked by ``stemness_rho``;
    ``mode`` says which. With ``bulk`` (:func:`pseudobulk_de`, two patients or more), the patient is the
    unit: ``pvalue``/``fdr`` are the pseudobulk test's, ``pseudobulk_stat`` its Wald statistic, and genes up
    in CSC-high pseudobulks come first by that statistic; ``pvalue_cells``/``fdr_cells`` keep the per-cell
    Wilcoxon test (cells as replicates: descriptive).
    """
    mask, high = csc_mask(adata.obs)
    cells = np.flatnonzero(mask)
    mean_h = wilcoxon["mean_csc"].to_numpy()
    tme = (adata.obs["malignant"].astype(str).eq("non-malignant") & ~adata.obs["cell_type"].astype(str).isin(
        ["unassigned", "", "nan"])).to_numpy()
    tme_rows = np.flatnonzero(tme)
    tme_types = [(cell_type, tme_rows[idx]) for cell_type, idx in
                 adata.obs[tme].groupby("cell_type", observed=True).indices.items() if len(idx) >= min_cells]
    patient = adata.obs["patient"].astype(str).to_numpy()[cells]
    pairs = [(cells[(patient == p) & high], cells[(patient == p) & ~high]) for p in np.unique(patient)]
    pairs = [pair for pair in pairs if min(len(pair[0]), len(pair[1])) >= MIN_CELLS_PER_PATIENT]
    # one pass over X: each TME type, then each patient's CSC-high and CSC-low cells
    groups = [rows for _, rows in tme_types] + [rows for pair in pairs for rows in pair]
    means = group_stats(adata.X, _codes(adata.n_obs, dict(enumerate(groups))), len(groups)).mean
    specificity = np.ones(adata.n_vars)
    top_type = np.full(adata.n_vars, "", dtype=object)
    for (cell_type, _), mean_t in zip(tme_types, means[: len(tme_types)], strict=True):
        with np.errstate(invalid="ignore", divide="ignore"):
            contrast = np.where(mean_h + mean_t > 0, (mean_h - mean_t) / (mean_h + mean_t), 0.0)
        lower = contrast < specificity
        specificity = np.where(lower, contrast, specificity)
        top_type = np.where(lower, cell_type, top_type)
    direction = np.sign(wilcoxon["log2fc"].to_numpy())
    consistent, n_patients = np.zeros(adata.n_vars, int), len(pairs)
    for i in range(n_patients):
        diff = means[len(tme_types) + 2 * i] - means[len(tme_types) + 2 * i + 1]
        consistent += (np.sign(diff) == direction) & (diff != 0)
    table = pd.DataFrame({"gene": adata.var_names, "auroc": wilcoxon["auroc"].to_numpy(),
                          "log2fc": wilcoxon["log2fc"].to_numpy(), "pct_csc": wilcoxon["pct_csc"].to_numpy(),
                          "pct_noncsc": wilcoxon["pct_noncsc"].to_numpy(), "specificity": specificity,
                          "top_tme_type": top_type, "n_patients_consistent": consistent, "n_patients": n_patients,
                          "pvalue": wilcoxon["pvalue"].to_numpy(), "fdr": wilcoxon["fdr"].to_numpy()})
    table["surface_source"] = table["gene"].map(surface).fillna("")
    table["surface"] = table["surface_source"].ne("")
    table["stemness_gene"] = table["gene"].isin(set(scoring_genes))
    table["mode"] = SPLIT if graded is None else GRADED
    table["stemness_rho"] = np.nan
    table["pvalue_cells"], table["fdr_cells"] = table["pvalue"], table["fdr"]
    table["pseudobulk_stat"] = np.nan
    if bulk is not None and graded is None:
        tested = bulk.set_index("gene").reindex(table["gene"])
        table["pseudobulk_stat"] = tested["stat"].to_numpy()
        table["pvalue"], table["fdr"] = tested["pvalue"].to_numpy(), tested["fdr"].to_numpy()
    if graded is not None:
        association = graded.reindex(table["gene"])
        table["stemness_rho"] = association["effect"].to_numpy()
        table["pvalue"] = association["pvalue"].to_numpy()
        table["fdr"] = ss.false_discovery_control(association["pvalue"].fillna(1).to_numpy())
        table["n_patients"] = association["n_patients"].to_numpy()
        table["n_patients_consistent"] = association["n_patients_consistent"].to_numpy()
    table = table[(table["pct_csc"] > 0) | (table["pct_noncsc"] > 0)]
    if graded is not None:
        table = table.sort_values(["stemness_rho", "gene"], ascending=[False, True], na_position="last")
    elif bulk is not None:
        up = table["pseudobulk_stat"] > 0
        table = pd.concat([table[up].sort_values(["pseudobulk_stat", "gene"], ascending=[False, True]),
                           table[~up].sort_values(["auroc", "gene"], ascending=[False, True])])
    else:
        up = table["log2fc"] > 0
        table = pd.concat([table[up].sort_values(["auroc", "log2fc", "gene"], ascending=[False, False, True]),
                           table[~up].sort_values(["auroc", "gene"], ascending=[True, True])])
    return table[BIOMARKER_COLUMNS].reset_index(drop=True)


def gene_set_collection(params: dict, stemness_sets: dict[str, list[str]],
                        axes: dict[str, dict]) -> dict[str, tuple[str, list[str]]]:
    """Gene sets for GSEA: ``name -> (source, genes)`` from the GMT files, stemness sets and crosstalk axes."""
    sets = gmt_collection(params["gene_sets"])
    if params["stemness_sets"]:
        sets |= {name: ("stemness", genes) for name, genes in stemness_sets.items()}
    if params["axes_sets"]:
        for name, axis in axes.items():
            genes = [g for pair in axis.get("pairs", []) for e in pair for g in str(e).split("_")]
            sets[f"AXIS_{name}"] = ("crosstalk axis", sorted(set(genes) | set(axis.get("genes", []))))
    return sets


def run_biomarkers(adata: ad.AnnData, params: dict, *, stemness_sets: dict[str, list[str]], axes: dict[str, dict],
                   resource: pd.DataFrame | None, seed: int = 0, counts=None, threads: int = 1):
    """DE, GSEA and the biomarker table. Returns ``(biomarkers, de, gsea_table, notes)``.

    ``counts``: raw counts for the pseudobulk when they are not ``adata.layers['counts']`` (see
    :func:`pseudobulk_de`). ``threads``: for DESeq2's per-gene fits and GSEA's permutations (same results).

    With fewer than ``min_cells`` CSC-high cells and ``weak_signal_fallback`` set, the comparison becomes the
    top share of each patient's malignant cells by consensus stemness against the rest (exploratory; the first
    note says so).
    """
    mask, high = csc_mask(adata.obs)
    prefix, graded = [], None
    if high.sum() < params["min_cells"] or (~high).sum() < params["min_cells"]:
        sizes = f"{int(high.sum())} confident CSC-high and {int((~high).sum())} CSC-low malignant cells"
        fallback = params["weak_signal_fallback"]
        if not fallback or "stemness" not in adata.obs:
            return _empty_outputs([f"no biomarkers: {sizes} (at least {params['min_cells']} of each needed; "
                                   "no patient has a discrete stem program)"])
        adata = _stemness_split(adata, fallback)
        mask, high = csc_mask(adata.obs)
        if high.sum() < params["min_cells"] or (~high).sum() < params["min_cells"]:
            return _empty_outputs([f"no biomarkers: {sizes}, and too few malignant cells for a stemness split"])
        graded = stemness_association(adata, min_cells=params["min_cells"])
        prefix = [f"GRADED: no clean CSC split ({sizes}); genes are ranked by their Spearman correlation with "
                  "stemness within each patient's malignant cells, combined over "
                  f"{int(graded['n_patients'].max()) if len(graded) else 0} patient(s) (stemness_rho, pvalue, "
                  f"fdr); auroc, log2fc and the shares compare the top {fallback:.0%} of each patient's malignant "
                  "cells by stemness (labelled CSC-high) with the rest, descriptively"]
    wilcoxon = wilcoxon_de(adata)
    patients, reason = pseudobulk_plan(adata, params["min_cells"], counts=counts) if params["pseudobulk"] else \
        ([], "per-cell Wilcoxon only: pseudobulk switched off in the config")
    notes = prefix + [f"DE: {reason}"]
    de = wilcoxon
    ranking, ranked_by = wilcoxon.set_index("gene")["stat"], "the per-cell Wilcoxon z"
    bulk = None
    if len(patients) >= 2 and "pseudobulk DESeq2" in reason:
        bulk = pseudobulk_de(adata, patients, counts=counts, threads=threads)
        de = pd.concat([bulk, wilcoxon], ignore_index=True)
        ranking, ranked_by = bulk.set_index("gene")["stat"], "the pseudobulk Wald statistic"
    if graded is not None:
        ranking, ranked_by = graded["effect"], "their mean within-patient correlation with stemness"
    notes.append(f"GSEA ranks genes by {ranked_by}")
    scoring = sorted({g for genes in stemness_sets.values() for g in genes})
    surface = surface_genes(params["surface_markers"], resource)
    table = biomarker_table(adata, wilcoxon, surface, min_cells=params["min_cells"], scoring_genes=scoring,
                            graded=graded, bulk=bulk)
    if bulk is not None and graded is None:
        notes.append(f"Biomarkers ranked by the pseudobulk Wald statistic over {len(patients)} patients (the "
                     "patient as the unit: pvalue, fdr); the per-cell Wilcoxon test is kept as pvalue_cells, "
                     "fdr_cells")
    sets = gene_set_collection(params, stemness_sets, axes)
    enrichment = mark_circular(gsea(ranking, sets, params, seed=seed, threads=threads), sets, scoring)
    if enrichment["circular"].any():
        notes.append(f"GSEA: {int(enrichment['circular'].sum())} set(s) marked circular: at least "
                     f"{CIRCULAR_SHARE:.0%} of their genes score stemness, on which the comparison was made")
    de = de.sort_values(["method", "pvalue", "gene"], kind="mergesort").reset_index(drop=True)
    return table, de, enrichment, notes


CIRCULAR_SHARE = 0.2  # a gene set is circular when this share of its genes score stemness


def mark_circular(enrichment: pd.DataFrame, sets: dict[str, tuple[str, list[str]]],
                  scoring: list[str]) -> pd.DataFrame:
    """Add ``circular``: at least :data:`CIRCULAR_SHARE` of the set's genes are stemness scoring genes."""
    scoring = set(scoring)
    share = enrichment["term"].map(lambda t: len(scoring & set(sets[t][1])) / max(len(set(sets[t][1])), 1))
    return enrichment.assign(circular=share.astype(float) >= CIRCULAR_SHARE)


def stemness_association(adata: ad.AnnData, *, min_cells: int) -> pd.DataFrame:
    """Each gene's Spearman correlation with ``stemness`` within each patient's malignant cells, combined.

    Patients with at least ``min_cells`` malignant cells count; see
    :func:`cscniche.graded.combine_across_patients` (index: genes).
    """
    obs = adata.obs
    malignant = obs["malignant"].astype(str).eq("malignant").to_numpy() & obs["stemness"].notna().to_numpy()
    patients = obs["patient"].astype(str).to_numpy()
    X = sp.csr_matrix(adata.X)
    rho, cells = {}, {}
    for patient in sorted(set(patients[malignant])):
        rows = np.flatnonzero(malignant & (patients == patient))
        if len(rows) >= min_cells:
            rho[patient] = stemness_correlations(X[rows], obs["stemness"].to_numpy()[rows])
            cells[patient] = len(rows)
    return combine_across_patients(pd.DataFrame(rho, index=adata.var_names), pd.Series(cells, dtype=float))


def _stemness_split(adata: ad.AnnData, quantile: float) -> ad.AnnData:
    """The same data (not copied) with ``csc`` set from each patient's top ``quantile`` of consensus stemness."""
    obs = adata.obs.drop(columns="csc_signal", errors="ignore")
    malignant = obs["malignant"].astype(str).eq("malignant") & obs["stemness"].notna()
    rank = obs.loc[malignant].groupby(obs.loc[malignant, "patient"].astype(str))["stemness"].rank(pct=True)
    obs["csc"] = ""
    obs.loc[malignant, "csc"] = np.where(rank > 1 - quantile, CSC_HIGH, CSC_LOW)
    return ad.AnnData(X=adata.X, obs=obs, var=adata.var, layers=dict(adata.layers), uns=dict(adata.uns))


def group_expression(adata: ad.AnnData, genes: list[str]) -> pd.DataFrame:
    """Mean log expression and share expressing of ``genes`` in each crosstalk group (for the dotplot)."""
    from .labels import cell_groups

    groups = cell_groups(adata.obs)
    genes = [g for g in genes if g in adata.var_names]
    columns = ["gene", "group", "cells", "mean", "pct"]
    if not genes:
        return pd.DataFrame(columns=columns)
    labels = pd.Categorical(groups.where(groups.ne("")))  # unassigned cells: code -1, left out
    names = list(labels.categories)
    stats = group_stats(adata[:, genes].X, labels.codes, len(names))
    rows = [{"gene": g, "group": group, "cells": int(size), "mean": m, "pct": q}
            for group, size, mean, pct in zip(names, stats.sizes, stats.mean, stats.frac, strict=True)
            for g, m, q in zip(genes, mean, pct, strict=True)]
    return pd.DataFrame(rows, columns=columns)


def _empty_outputs(notes: list[str]):
    biomarkers = pd.DataFrame(columns=BIOMARKER_COLUMNS)
    de = pd.DataFrame(columns=["gene", "method", "stat", "log2fc", "pvalue", "fdr"])
    enrichment = pd.DataFrame(columns=["term", "source", "nes", "es", "pvalue", "fdr", "size", "lead_genes",
                                       "circular"])
    return biomarkers, de, enrichment, notes
