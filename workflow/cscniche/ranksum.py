"""Exact Wilcoxon rank-sum (Mann-Whitney U) per gene on a sparse matrix, ranking only the stored values.

Zeros share one tied rank, so a gene costs time in proportion to its non-zero entries; all genes are ranked in
one vectorised sort. Gives U, AUROC and the tie-corrected normal-approximation p-value (as
``scipy.stats.mannwhitneyu(..., method="asymptotic", use_continuity=False)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.stats as ss


@dataclass
class RankSum:
    """Per-gene rank-sum results of ``group`` against ``rest``."""

    auroc: np.ndarray  # P(group > rest) + P(tie) / 2
    z: np.ndarray  # standardised U (tie-corrected); > 0 when the group ranks higher
    pvalue: np.ndarray  # two-sided


def rank_sum(X: sp.spmatrix, in_group: np.ndarray) -> RankSum:
    """Rank-sum test of every column of ``X`` (cells x genes, non-negative) between two sets of rows.

    Parameters
    ----------
    X
        Sparse matrix restricted to the cells of both groups (non-negative values).
    in_group
        Boolean per row: the first group; the other rows are the second group.
    """
    in_group = np.asarray(in_group, bool)
    n, n_genes = X.shape
    n1 = int(in_group.sum())
    n2 = n - n1
    if n1 == 0 or n2 == 0:
        raise ValueError("rank_sum needs cells in both groups")
    X = sp.csc_matrix(X)
    X.eliminate_zeros()
    if X.nnz and X.data.min() < 0:
        raise ValueError("rank_sum expects non-negative values (zeros are ranked lowest)")
    col = np.repeat(np.arange(n_genes), np.diff(X.indptr))
    order = np.lexsort((X.data, col))
    col, value, row = col[order], X.data[order], X.indices[order]
    nnz_per_gene = np.diff(X.indptr)
    n_zero = n - nnz_per_gene
    # position (0-based) among the gene's non-zeros, then average positions over tied values
    position = np.arange(len(col)) - np.repeat(X.indptr[:-1], nnz_per_gene)
    new_group = np.ones(len(col), bool)
    new_group[1:] = (col[1:] != col[:-1]) | (value[1:] != value[:-1])
    tie_id = np.cumsum(new_group) - 1
    tie_size = np.bincount(tie_id)
    mean_position = np.bincount(tie_id, weights=position) / tie_size
    rank = n_zero[col] + mean_position[tie_id] + 1.0
    hit = in_group[row]
    n1_nonzero = np.bincount(col[hit], minlength=n_genes)
    rank_sum_1 = np.bincount(col[hit], weights=rank[hit], minlength=n_genes) \
        + (n1 - n1_nonzero) * (n_zero + 1) / 2.0
    u1 = rank_sum_1 - n1 * (n1 + 1) / 2.0
    ties = np.bincount(col[new_group], weights=tie_size.astype(float) ** 3 - tie_size, minlength=n_genes) \
        + n_zero.astype(float) ** 3 - n_zero
    var = n1 * n2 / 12.0 * ((n + 1) - ties / (n * (n - 1)))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(var > 0, (u1 - n1 * n2 / 2.0) / np.sqrt(np.where(var > 0, var, 1.0)), 0.0)
    return RankSum(auroc=u1 / (n1 * n2), z=z, pvalue=np.clip(2 * ss.norm.sf(np.abs(z)), 0, 1))
