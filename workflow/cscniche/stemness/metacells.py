"""Malignant metacells (pseudobulks of neighbouring cells) and the ssGSEA cross-check of the scorers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

if TYPE_CHECKING:
    from .patients import PatientStemness


def metacells(adata: ad.AnnData, cells: np.ndarray, *, size: int, seed: int = 0) -> np.ndarray:
    """Group ``cells`` (indices) into metacells of about ``size`` by k-means on their PCA coordinates."""
    from sklearn.cluster import KMeans

    k = int(np.clip(len(cells) // size, 1, 100))
    if k == 1:
        return np.zeros(len(cells), dtype=int)
    rep = adata.obsm["X_pca"][cells] if "X_pca" in adata.obsm else sp.csr_matrix(adata.X)[cells].toarray()
    return KMeans(k, random_state=seed, n_init=3).fit_predict(rep)


def malignant_metacells(adata: ad.AnnData, cells: pd.DataFrame, *, size: int = 30,
                        seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metacells of the malignant cells of each patient, for the ssGSEA cross-check.

    Metacells are formed within each patient (k-means on the PCA, independent of any score). Returns the
    metacell table (``patient, metacell, cells`` and the mean of each ``stemness_ucell_<set>`` column of
    ``cells`` over its members) and their pseudobulks (genes x metacells, mean log expression).
    """
    mal = np.flatnonzero(adata.obs["malignant"].astype(str).eq("malignant").to_numpy())
    patients = adata.obs["patient"].astype(str).to_numpy()
    ucell = [c for c in cells if c.startswith("stemness_ucell_")]
    X = sp.csr_matrix(adata.X)
    bulks, meta = {}, []
    for p in np.unique(patients[mal]):
        members_of = mal[patients[mal] == p]
        groups = metacells(adata, members_of, size=size, seed=seed)
        for g in np.unique(groups):
            members = members_of[groups == g]
            name = f"{p}:{g}"
            bulks[name] = np.asarray(X[members].mean(axis=0)).ravel()
            meta.append({"patient": p, "metacell": name, "cells": len(members),
                         **{c: float(cells[c].iloc[members].mean()) for c in ucell}})
    table = pd.DataFrame(meta, columns=["patient", "metacell", "cells", *ucell])
    return table, pd.DataFrame(bulks, index=adata.var_names, dtype=np.float64)


def gather_metacells(parts: list[PatientStemness]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The patients' metacell tables and pseudobulks side by side (patients without metacells left out)."""
    parts = [part for part in parts if len(part.metacells)]
    if not parts:
        return pd.DataFrame(columns=["patient", "metacell", "cells"]), pd.DataFrame()
    return (pd.concat([part.metacells for part in parts], ignore_index=True),
            pd.concat([part.bulks for part in parts], axis=1))


def ssgsea_check(metacell_table: pd.DataFrame, bulks: pd.DataFrame, gene_sets: dict[str, list[str]], *,
                 seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score the UCell gene sets with ssGSEA (gseapy) on the malignant metacells of all patients.

    Returns the per-metacell table (``patient, metacell, cells, set, nes, ucell_mean``) and, per set, the
    Spearman correlation between ssGSEA NES and the metacells' mean UCell score.
    """
    import gseapy

    if bulks.shape[1] == 0:
        return pd.DataFrame(), pd.DataFrame(columns=["set", "spearman", "metacells"])
    usable = {k: [x for x in v if x in bulks.index] for k, v in gene_sets.items()}
    usable = {k: v for k, v in usable.items() if len(v) >= 5}
    result = gseapy.ssgsea(data=bulks, gene_sets=usable, outdir=None, min_size=5, max_size=5000, permutation_num=0,
                           no_plot=True, threads=1, seed=seed, verbose=False).res2d
    rows = []
    for m in metacell_table.to_dict("records"):
        for name in usable:
            column = f"stemness_ucell_{name}"
            nes = result.loc[(result["Name"] == m["metacell"]) & (result["Term"] == name), "NES"]
            rows.append({"patient": m["patient"], "metacell": m["metacell"], "cells": m["cells"], "set": name,
                         "nes": float(nes.iloc[0]) if len(nes) else np.nan, "ucell_mean": m.get(column, np.nan)})
    table = pd.DataFrame(rows)
    check = table.groupby("set").apply(
        lambda t: pd.Series({"spearman": t["nes"].corr(t["ucell_mean"], method="spearman"), "metacells": len(t)}),
        include_groups=False).reset_index()
    return table, check
