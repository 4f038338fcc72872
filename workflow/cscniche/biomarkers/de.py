"""CSC-high against CSC-low cells: the groups, the Wilcoxon and pseudobulk DESeq2 tests, stemness associations.

The stemness associations serve the graded mode (no discrete CSC population).
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.stats as ss

from ..graded import combine_across_patients, stemness_correlations
from ..io import InputError
from ..labels import CSC_HIGH, CSC_LOW, DISCRETE
from ..pseudobulk import deseq2, sum_counts
from ..ranksum import group_stats, rank_sum

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
    from ..labels import cell_groups

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
