"""Exact Wilcoxon rank-sum (Mann-Whitney U) per gene on a sparse matrix, ranking only the stored values.

Zeros share one tied rank, so a gene costs time in proportion to its non-zero entries. Each column is ranked
once (numba, in parallel over columns) and the rank sums of all groups are gathered in the same pass. Gives
U, AUROC and the normal-approximation p-value: tie-corrected as ``scipy.stats.mannwhitneyu(...,
method="asymptotic", use_continuity=False)``, or without the correction as scanpy's
``rank_genes_groups(method="wilcoxon")``. :func:`group_stats` gives the groups' means and shares expressing
in one pass over the stored values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import scipy.sparse as sp
import scipy.stats as ss


@dataclass
class RankSum:
    """Per-gene rank-sum results of a group against the other rows (arrays: genes, or groups x genes)."""

    auroc: np.ndarray  # P(group > rest) + P(tie) / 2
    z: np.ndarray  # standardised U; > 0 when the group ranks higher
    pvalue: np.ndarray  # two-sided
    n_nonzero: np.ndarray | None = None  # groups x genes: the group's cells with a non-zero value


@numba.njit(parallel=True, cache=True)
def _group_rank_sums(indptr, indices, data, n_rows, codes, n_groups):  # pragma: no cover - compiled
    """Per column: rank its stored values (zeros tied lowest), sum ranks and count stored values per group."""
    n_cols = len(indptr) - 1
    sums = np.zeros((n_cols, n_groups))  # column-major per thread: no false sharing between columns
    stored = np.zeros((n_cols, n_groups))
    ties = np.zeros(n_cols)
    for j in numba.prange(n_cols):
        start, stop = indptr[j], indptr[j + 1]
        nz = stop - start
        n_zero = n_rows - nz
        t = float(n_zero) ** 3 - n_zero
        if nz > 0:
            seg = data[start:stop]
            order = np.argsort(seg)
            i = 0
            while i < nz:
                k = i
                while k + 1 < nz and seg[order[k + 1]] == seg[order[i]]:
                    k += 1
                average = n_zero + (i + k) / 2.0 + 1.0
                for m in range(i, k + 1):
                    g = codes[indices[start + order[m]]]
                    sums[j, g] += average
                    stored[j, g] += 1.0
                size = k - i + 1
                t += float(size) ** 3 - size
                i = k + 1
        ties[j] = t
    return sums, stored, ties


RANK_BLOCK_GENES = 2_000


def rank_sum_groups(X: sp.spmatrix, codes: np.ndarray, n_groups: int, *, tie_correct: bool = True,
                    rows: np.ndarray | None = None) -> RankSum:
    """Each group (``codes``: group 0..n_groups-1 of each row) against all other rows; arrays groups x genes.

    ``X`` is non-negative (cells x genes); each column is ranked once, in parallel over columns. A
    row-sorted (CSR) matrix is ranked :data:`RANK_BLOCK_GENES` columns at a time, so the column-sorted copy
    the ranking needs is one block, never a second copy of the whole matrix. ``rows``: test only these rows
    of ``X`` (``codes`` then has one entry per selected row); they are selected block by block, so ``X`` is
    not copied either.
    """
    n = X.shape[0] if rows is None else len(rows)
    codes = np.asarray(codes, dtype=np.int64)
    n1 = np.bincount(codes, minlength=n_groups).astype(float)[:, None]
    if (n1 == 0).any() or (n - n1 == 0).any():
        raise ValueError("rank_sum needs cells in both groups")
    if sp.issparse(X) and X.format == "csr" and X.shape[1] > RANK_BLOCK_GENES:
        parts = [_rank_sum_block(_select(X[:, start : start + RANK_BLOCK_GENES], rows), codes, n1, tie_correct)
                 for start in range(0, X.shape[1], RANK_BLOCK_GENES)]
        return RankSum(*(np.concatenate([getattr(part, field) for part in parts], axis=1)
                         for field in ("auroc", "z", "pvalue", "n_nonzero")))
    return _rank_sum_block(_select(X, rows), codes, n1, tie_correct)


def _select(X: sp.spmatrix, rows: np.ndarray | None) -> sp.spmatrix:
    return X if rows is None else X[rows]


def _rank_sum_block(X: sp.spmatrix, codes: np.ndarray, n1: np.ndarray, tie_correct: bool) -> RankSum:
    X = sp.csc_matrix(X)
    X.eliminate_zeros()
    if X.nnz and X.data.min() < 0:
        raise ValueError("rank sums expect non-negative values (zeros are ranked lowest)")
    n = X.shape[0]
    n2 = n - n1
    sums, stored, ties = _group_rank_sums(X.indptr, X.indices, X.data, n, codes, len(n1))
    sums, stored = sums.T, stored.T
    n_zero = n - np.diff(X.indptr)
    u1 = sums + (n1 - stored) * (n_zero + 1) / 2.0 - n1 * (n1 + 1) / 2.0
    correction = ties[None, :] if tie_correct else 0.0
    var = n1 * n2 / 12.0 * ((n + 1) - correction / (n * (n - 1)))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(var > 0, (u1 - n1 * n2 / 2.0) / np.sqrt(np.where(var > 0, var, 1.0)), 0.0)
    return RankSum(auroc=u1 / (n1 * n2), z=z, pvalue=np.clip(2 * ss.norm.sf(np.abs(z)), 0, 1), n_nonzero=stored)


def rank_sum(X: sp.spmatrix, in_group: np.ndarray, *, tie_correct: bool = True,
             rows: np.ndarray | None = None) -> RankSum:
    """Rank-sum test of every column of ``X`` (cells x genes, non-negative) between two sets of rows.

    Parameters
    ----------
    X
        Sparse matrix of the cells of both groups (non-negative values), or of more cells with ``rows``.
    in_group
        Boolean per tested row: the first group; the other tested rows are the second group.
    tie_correct
        Tie-corrected variance (as scipy); ``False`` gives scanpy's ``rank_genes_groups`` z-scores.
    rows
        The rows of ``X`` to test (default: all), selected block by block without copying ``X``.
    """
    codes = np.where(np.asarray(in_group, bool), 0, 1)
    if codes.min() == codes.max():
        raise ValueError("rank_sum needs cells in both groups")
    result = rank_sum_groups(X, codes, 2, tie_correct=tie_correct, rows=rows)
    return RankSum(auroc=result.auroc[0], z=result.z[0], pvalue=result.pvalue[0])


@dataclass
class GroupStats:
    """Per-group statistics of each column of a sparse matrix (arrays: groups x genes)."""

    sizes: np.ndarray  # cells per group
    mean: np.ndarray  # mean value
    frac: np.ndarray  # share of the group's cells with a value > 0
    linear_mean: np.ndarray | None = None  # mean of expm1(value): the linear scale of log1p data


@numba.njit(cache=True)
def _group_sums(indptr, indices, data, codes, n_groups, n_cols, linear):  # pragma: no cover - compiled
    sums = np.zeros((n_groups, n_cols))
    positive = np.zeros((n_groups, n_cols))
    linear_sums = np.zeros((n_groups, n_cols) if linear else (0, 0))
    for r in range(len(indptr) - 1):
        g = codes[r]
        if g < 0:
            continue
        for k in range(indptr[r], indptr[r + 1]):
            value = np.float64(data[k])  # float64: expm1 of float32 values loses digits
            j = indices[k]
            sums[g, j] += value
            if value > 0:
                positive[g, j] += 1.0
            if linear:
                linear_sums[g, j] += np.expm1(value)
    return sums, positive, linear_sums


def group_stats(X: sp.spmatrix, codes: np.ndarray, n_groups: int, *, linear: bool = False) -> GroupStats:
    """Mean, share expressing and (``linear``) mean of ``expm1`` of each column of ``X`` per group of rows.

    ``codes``: group 0..n_groups-1 of each row, or -1 to leave the row out. One pass over the stored values
    (float64 sums): no row subset, ``X > 0`` or ``expm1`` copy of the matrix is made.
    """
    X = sp.csr_matrix(X)
    codes = np.asarray(codes, dtype=np.int64)
    if len(codes) != X.shape[0]:
        raise ValueError(f"group_stats: {len(codes)} group codes for {X.shape[0]} rows")
    sizes = np.bincount(codes[codes >= 0], minlength=n_groups).astype(float)
    sums, positive, linear_sums = _group_sums(X.indptr, X.indices, X.data, codes, n_groups, X.shape[1], linear)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_cell = 1.0 / sizes[:, None]
    return GroupStats(sizes=sizes, mean=sums * per_cell, frac=positive * per_cell,
                      linear_mean=linear_sums * per_cell if linear else None)


@numba.njit(cache=True)
def _rank_rows(indptr, data, n_cols):  # pragma: no cover - compiled
    """Each row's stored values ranked among its ``n_cols`` columns (ties averaged), minus the zeros' rank."""
    n_rows = len(indptr) - 1
    values = np.empty(len(data))
    zero_rank = np.empty(n_rows)
    for i in range(n_rows):
        a, b = indptr[i], indptr[i + 1]
        row = data[a:b]
        order = np.argsort(row)
        n_neg = 0
        for v in row:
            if v < 0:
                n_neg += 1
        n_zero = n_cols - (b - a)
        zr = n_neg + (n_zero + 1) / 2.0
        zero_rank[i] = zr
        k = 0
        while k < b - a:
            j = k
            while j + 1 < b - a and row[order[j + 1]] == row[order[k]]:
                j += 1
            rank = (k + j) / 2.0 + 1.0
            if row[order[k]] > 0:
                rank += n_zero
            for t in range(k, j + 1):
                values[a + order[t]] = rank - zr
            k = j + 1
    return values, zero_rank


def row_ranks(X: sp.spmatrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """Ascending average ranks of each row's values among all columns, without densifying.

    Returns ``(R, zero_rank)``: ``R`` has, at each stored non-zero entry, its rank minus the row's
    ``zero_rank`` (the shared average rank of the row's zeros), so a row's full rank vector is
    ``zero_rank[i] + R[i]`` (zeros contribute ``zero_rank[i]``). Negative values are ranked below zero.
    Rows are sorted one at a time in a compiled loop (no sort of all stored values together).
    """
    X = sp.csr_matrix(X, dtype=np.float64)
    X.eliminate_zeros()
    X.sort_indices()
    values, zero_rank = _rank_rows(X.indptr, X.data, X.shape[1])
    return sp.csr_matrix((values, X.indices, X.indptr), shape=X.shape), zero_rank
