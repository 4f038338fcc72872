"""Log-normalisation by value scale, in place and block by block, and the highly variable genes."""

from __future__ import annotations

import anndata as ad
import numba
import numpy as np
import pandas as pd
import scanpy as sc
import scipy.sparse as sp


def normalise(adata: ad.AnnData, *, keep_counts: bool = True) -> None:
    """Log-normalise according to ``uns['value_scale']``, in place.

    Counts go to ``layers['counts']`` (unless ``keep_counts`` is false: the caller has written them, see
    :func:`cscniche.io.counts_written_first`) and their mean per gene to ``var['mean_counts']``.

    counts: per-cell total 1e4 then log1p; tpm: log1p(TPM / 10) (no renormalisation); log: unchanged.
    """
    from ..ranksum import group_stats

    scale = adata.uns["value_scale"]
    adata.X = sp.csr_matrix(adata.X, dtype=np.float32)
    if scale == "counts":
        if keep_counts:
            adata.layers["counts"] = adata.X.copy()
        # one pass over the stored values: scipy's mean scales a copy of the whole matrix first
        adata.var["mean_counts"] = group_stats(adata.X, np.zeros(adata.n_obs, np.int64), 1).mean[0].astype(np.float32)
        normalize_total_inplace(adata.X, target_sum=1e4)
        sc.pp.log1p(adata)
    elif scale == "tpm":
        adata.X.data /= 10.0  # in place: no second copy of the matrix
        sc.pp.log1p(adata)
    adata.uns["normalisation"] = {"counts": "normalize_total(1e4) + log1p", "tpm": "log1p(TPM/10)",
                                  "log": "none (already log)"}[scale]


@numba.njit(parallel=True, cache=True)
def _row_totals(indptr, data):  # pragma: no cover - compiled
    totals = np.zeros(len(indptr) - 1, dtype=data.dtype)
    for r in numba.prange(len(indptr) - 1):
        total = 0.0
        for k in range(indptr[r], indptr[r + 1]):
            total += data[k]
        totals[r] = total
    return totals


@numba.njit(parallel=True, cache=True)
def _divide_rows(indptr, data, divisors):  # pragma: no cover - compiled
    for r in numba.prange(len(indptr) - 1):
        if divisors[r] != 0:
            for k in range(indptr[r], indptr[r + 1]):
                data[k] = data[k] / divisors[r]


def normalize_total_inplace(X: sp.csr_matrix, *, target_sum: float) -> None:
    """``sc.pp.normalize_total(target_sum=...)`` on a float CSR matrix, in place and with the same values.

    Scanpy divides into a new data array beside a per-value copy of the factors (a second matrix's worth
    of memory for a moment); this divides the stored values where they are. Rows summing to zero are left.
    """
    divisors = _row_totals(X.indptr, X.data) / np.asarray(target_sum, dtype=X.dtype)
    _divide_rows(X.indptr, X.data, divisors)


HVG_BLOCK_CELLS = 10_000


def highly_variable_seurat(adata: ad.AnnData, *, n_top_genes: int, n_bins: int = 20) -> None:
    """``sc.pp.highly_variable_genes(flavor="seurat", n_top_genes=...)`` computed in blocks of cells.

    Same statistics and selection as scanpy (mean and variance of ``expm1(X)``, log dispersion z-scored
    within 20 bins of log mean, top ``n_top_genes``), but ``expm1`` is applied to
    :data:`HVG_BLOCK_CELLS` rows at a time instead of to a full copy of ``X`` (scanpy holds two), so the
    peak memory stays one matrix. Adds ``var['highly_variable', 'means', 'dispersions',
    'dispersions_norm']`` and ``uns['hvg']``.
    """
    X = adata.X
    total = np.zeros(adata.n_vars)
    squares = np.zeros(adata.n_vars)
    for start in range(0, adata.n_obs, HVG_BLOCK_CELLS):
        block = sp.csr_matrix(X[start : start + HVG_BLOCK_CELLS], copy=True)
        block.data = np.expm1(block.data).astype(np.float64)  # expm1 in X's precision, as scanpy
        total += np.asarray(block.sum(axis=0)).ravel()
        block.data **= 2
        squares += np.asarray(block.sum(axis=0)).ravel()
    n = adata.n_obs
    mean = total / n
    var = (squares / n - mean**2) * (n / (n - 1))  # unbiased, as scanpy
    mean[mean == 0] = 1e-12
    dispersion = var / mean
    dispersion[dispersion == 0] = np.nan
    dispersion = np.log(dispersion)
    mean = np.log1p(mean)
    table = pd.DataFrame({"means": mean, "dispersions": dispersion}, index=adata.var_names)
    table["mean_bin"] = pd.cut(table["means"], bins=n_bins)
    stats = table.groupby("mean_bin", observed=True)["dispersions"].agg(avg="mean", dev="std")
    single = stats["dev"].isnull()  # a bin with one gene: its normalised dispersion is 1 (as scanpy)
    stats.loc[single, "dev"] = stats.loc[single, "avg"]
    stats.loc[single, "avg"] = 0
    stats = stats.loc[table["mean_bin"]].set_index(table.index)
    table["dispersions_norm"] = (table["dispersions"] - stats["avg"]) / stats["dev"]
    norm = table["dispersions_norm"].to_numpy()
    finite = np.sort(norm[~np.isnan(norm)])[::-1]
    cutoff = finite[min(n_top_genes, len(finite)) - 1]
    adata.var["highly_variable"] = np.nan_to_num(norm, nan=-np.inf) >= cutoff
    for column in ("means", "dispersions", "dispersions_norm"):
        adata.var[column] = table[column].to_numpy(dtype=np.float32)
    adata.uns["hvg"] = {"flavor": "seurat"}
