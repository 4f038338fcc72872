"""CNV inference (infercnvpy) against the reference, per-patient malignant calls, CNV clusters and profiles."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import binomtest

from ..jit import import_umap_cached
from ..labels import CALLS
from .genes import cnv_genes
from .reference import reference_types

CNV_BLOCK_CELLS = 20_000  # a multiple of infercnvpy's 5,000-cell chunks


@contextmanager
def _chunks_in_this_process() -> Iterator[None]:
    """Let infercnvpy run its chunks in this process rather than in a process pool.

    With ``n_jobs=1`` infercnvpy still forks one worker, a copy of this process whose shared pages a
    scheduler that accounts memory by RSS counts twice (at 100k cells: 9.4 GB RSS for 5.2 GB PSS). Its
    chunks are mapped here instead, one after the other, with the same function and arguments.
    """
    module = importlib.import_module("infercnvpy.tl._infercnv")
    original = getattr(module, "process_map", None)
    if original is None:
        yield
        return
    module.process_map = lambda function, *arguments, **_: list(map(function, *arguments))
    try:
        yield
    finally:
        module.process_map = original


def infer_cnv(adata: ad.AnnData, reference: np.ndarray, params: dict) -> None:
    """Run infercnvpy on the log-normalised data against the reference cells (``obsm['X_cnv']``).

    Cells go to infercnvpy in blocks of ``CNV_BLOCK_CELLS`` with the reference cells' mean expression
    computed once, so only one block's CNV genes are copied at a time (peak memory at 100k cells x 20k genes:
    see BENCHMARKS.md). Blocks are a multiple of infercnvpy's own 5,000-cell chunks (its noise threshold is
    per chunk), so the result equals one call on all cells.
    """
    import infercnvpy as cnv

    genes = cnv_genes(adata, params["min_mean_counts"])
    X = sp.csr_matrix(adata.X) if sp.issparse(adata.X) else np.asarray(adata.X)
    var = adata.var.loc[genes, ["chromosome", "start", "end"]].astype({"chromosome": object})
    ref_mean = np.asarray(np.mean(X[np.flatnonzero(reference)][:, genes], axis=0)).reshape(1, -1)
    with _chunks_in_this_process():
        blocks = [_infer_block(cnv, X[start : start + CNV_BLOCK_CELLS][:, genes], var, ref_mean, params)
                  for start in range(0, adata.n_obs, CNV_BLOCK_CELLS)]
    chr_pos = blocks[0][0]
    adata.obsm["X_cnv"] = sp.vstack([values for _, values in blocks], format="csr")
    adata.uns["cnv"] = {"chr_pos": chr_pos, "n_genes": int(genes.sum())}


def _infer_block(cnv, X: sp.csr_matrix | np.ndarray, var: pd.DataFrame, ref_mean: np.ndarray,
                 params: dict) -> tuple[dict, sp.spmatrix]:
    chr_pos, values, _ = cnv.tl.infercnv(
        ad.AnnData(X, var=var), reference=ref_mean, window_size=params["window_size"], step=params["step"],
        exclude_chromosomes=("chrX", "chrY", "chrM"), n_jobs=1, inplace=False, calculate_gene_values=False)
    return chr_pos, values


def _row_corr(M: np.ndarray, profile: np.ndarray) -> np.ndarray:
    Mc = M - M.mean(axis=1, keepdims=True)
    pc = profile - profile.mean()
    denom = np.linalg.norm(Mc, axis=1) * np.linalg.norm(pc)
    return np.divide(Mc @ pc, denom, out=np.zeros(len(M)), where=denom > 0)


def _null_threshold(null: np.ndarray, quantile: float, *, mad_k: float = 5.0) -> float:
    """Quantile of the reference correlations after trimming outliers (median + k * MAD).

    A few tumour cells or doublets in the reference would otherwise set the threshold.
    """
    med = float(np.median(null))
    mad = 1.4826 * float(np.median(np.abs(null - med)))
    kept = null[null <= med + mad_k * mad] if mad > 0 else null
    return float(np.quantile(kept, quantile))


def cnv_signal(X_cnv: sp.spmatrix | np.ndarray) -> np.ndarray:
    """Mean squared CNV value per cell (Tirosh et al. 2016)."""
    X = sp.csr_matrix(X_cnv)
    return np.asarray(X.multiply(X).mean(axis=1)).ravel()


def call_malignant(adata: ad.AnnData, reference: np.ndarray, params: dict) -> pd.DataFrame:
    """Per-patient malignant calls from CNV correlation and CNV signal, with data-driven thresholds.

    For each patient the tumour profile is the mean CNV profile of its non-reference cells in the top
    ``top_fraction`` by CNV signal (mean square, Tirosh et al. 2016); each cell's CNV correlation is its
    Pearson correlation with that profile. The threshold is the ``reference_quantile`` of the reference
    cells' correlations (the null, after trimming outliers at median + 5 MAD). A cell above it is
    ``malignant`` when its signal is above the reference median, else ``uncertain``; below it, ``non-
    malignant``. A patient has a tumour only when its non-reference cells pass the threshold more often than
    the reference cells do (one-sided binomial test, ``tumour_pvalue``) and at least ``min_malignant_cells``
    times; otherwise its passing cells are ``uncertain``.

    Returns
    -------
    One row per patient with thresholds, test and counts; sets ``obs``: ``cnv_score``,
    ``cnv_correlation``, ``malignant``, ``cnv_reference``.
    """
    X = sp.csr_matrix(adata.obsm["X_cnv"])
    signal = cnv_signal(X)
    corr = np.zeros(adata.n_obs)
    patients = adata.obs["patient"].astype(str).to_numpy()
    for p in np.unique(patients):
        query = np.flatnonzero((patients == p) & ~reference)
        mine = np.flatnonzero(patients == p)
        if len(query) == 0:
            continue
        top = query[signal[query] >= np.quantile(signal[query], 1 - params["top_fraction"])]
        profile = np.asarray(X[top].mean(axis=0)).ravel()
        for start in range(0, len(mine), 5000):  # dense rows a block at a time
            block = mine[start : start + 5000]
            corr[block] = _row_corr(X[block].toarray(), profile)
    corr_thr = _null_threshold(corr[reference], params["reference_quantile"])
    sig_thr = float(np.median(signal[reference]))
    high = corr > corr_thr
    call = np.where(high, np.where(signal > sig_thr, "malignant", "uncertain"), "non-malignant").astype(object)
    call[reference & high] = "uncertain"
    null_rate = max(float(high[reference].mean()), 1 - params["reference_quantile"])
    ref_types = reference_types(adata.obs, reference) if "cell_type" in adata.obs else {}
    rows = []
    for p in np.unique(patients):
        mine = patients == p
        query = mine & ~reference
        n_high = int(high[query].sum())
        pvalue = float(binomtest(n_high, int(query.sum()), null_rate, alternative="greater").pvalue) \
            if query.any() else 1.0
        has_tumour = n_high >= params["min_malignant_cells"] and pvalue < params["tumour_pvalue"]
        if not has_tumour:
            call[mine & (call == "malignant")] = "uncertain"
        rows.append({"patient": p, "cells": int(mine.sum()), "reference_cells": int((mine & reference).sum()),
                     "reference_types": ref_types.get(p, ""),
                     "correlation_threshold": corr_thr, "signal_threshold": sig_thr,
                     "cnv_high_cells": n_high, "null_rate": null_rate, "tumour_pvalue": pvalue,
                     "tumour_detected": bool(has_tumour),
                     **{c: int(((call == c) & mine).sum()) for c in CALLS}})
    adata.obs["cnv_score"] = signal.astype(np.float32)
    adata.obs["cnv_correlation"] = corr.astype(np.float32)
    adata.obs["malignant"] = pd.Categorical(call, categories=list(CALLS))
    adata.obs["cnv_reference"] = reference
    return pd.DataFrame(rows)


def cnv_clusters(adata: ad.AnnData, *, resolution: float = 0.5, seed: int = 0, min_cells: int = 10,
                 leiden_flavor: str = "igraph") -> pd.DataFrame:
    """Cluster each patient's cells by CNV profile (PCA, kNN, Leiden), in place: ``obs['cnv_cluster']``.

    Returns one row per CNV cluster: patient, cells, share of each call, mean CNV correlation; clusters
    of malignant cells are the tumour's candidate subclones.
    """
    import scanpy as sc

    from ..graph import leiden

    X = sp.csr_matrix(adata.obsm["X_cnv"])
    labels = np.full(adata.n_obs, "", dtype=object)
    patients = adata.obs["patient"].astype(str).to_numpy()
    import_umap_cached()  # the kNN graphs' kernels from the disk cache
    for p in np.unique(patients):
        cells = np.flatnonzero(patients == p)
        if len(cells) < min_cells:
            labels[cells] = f"{p}:0"
            continue
        sub = ad.AnnData(X[cells].toarray().astype(np.float32))
        sc.pp.pca(sub, n_comps=min(20, len(cells) - 1, X.shape[1] - 1), random_state=seed)
        # exact neighbours: no pynndescent compilation in this job (measured 36 s vs 45 s for 4 x 11.5k cells)
        sc.pp.neighbors(sub, n_neighbors=min(15, len(cells) - 1), random_state=seed, transformer="sklearn")
        leiden(sub, resolution=resolution, flavor=leiden_flavor, seed=seed)
        labels[cells] = [f"{p}:{k}" for k in sub.obs["leiden"]]
    adata.obs["cnv_cluster"] = pd.Categorical(labels)
    obs = adata.obs
    table = obs.groupby("cnv_cluster", observed=True).agg(
        patient=("patient", "first"), cells=("patient", "size"), mean_cnv_correlation=("cnv_correlation", "mean"))
    shares = pd.crosstab(obs["cnv_cluster"], obs["malignant"], normalize="index").add_prefix("share_")
    return table.join(shares).reset_index()


def cnv_profiles(adata: ad.AnnData) -> pd.DataFrame:
    """Mean CNV value per patient and call over each genomic window (the clone profile of each tumour)."""
    info = adata.uns["cnv"]
    X = sp.csr_matrix(adata.obsm["X_cnv"])
    chrom = np.empty(X.shape[1], dtype=object)
    bounds = sorted(info["chr_pos"].items(), key=lambda kv: kv[1])
    for i, (c, start) in enumerate(bounds):
        chrom[start : bounds[i + 1][1] if i + 1 < len(bounds) else X.shape[1]] = c
    frames = []
    for (patient, call), cells in adata.obs.groupby(["patient", "malignant"], observed=True).indices.items():
        mean = np.asarray(X[cells].mean(axis=0)).ravel()
        frames.append(pd.DataFrame({"patient": patient, "call": call, "window": np.arange(X.shape[1]),
                                    "chromosome": chrom, "mean_cnv": mean, "cells": len(cells)}))
    return pd.concat(frames, ignore_index=True)
