"""Is there a program? Gene-set coherence against expression-matched random sets, and program scores.

A gene set is a program in a group of cells when its genes co-vary there: their mean pairwise Spearman
correlation is higher than that of random gene sets matched gene by gene for mean expression (as the
control sets of Seurat's module scores and the coherence test of Gavish et al.'s meta-programs). The test
asks about co-variation, so it neither needs a bimodal score nor is fooled by one outlying cell (ranks).

Everything works on the sparse matrix: each gene's ranks are computed for its stored values (zeros share one
rank), and a set's summed standardised ranks come from one sparse product for all sets at once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .ranksum import row_ranks

N_BINS = 25  # expression bins for matching random genes to a set's genes
COHERENCE_COLUMNS = ["set", "genes", "coherence", "random_mean", "excess", "pvalue", "pvalue_half_a",
                     "pvalue_half_b"]


def _standardised_ranks(X: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """Column ranks of ``X`` (genes x cells, stored-entry ranks minus the zeros' rank) and each gene's rank SD."""
    R, zero_rank = row_ranks(X.T.tocsr())
    n = X.shape[0]
    row_sum = np.asarray(R.sum(axis=1)).ravel()
    row_sq = np.asarray(R.multiply(R).sum(axis=1)).ravel()
    second = (n * zero_rank**2 + 2 * zero_rank * row_sum + row_sq) / n
    sd = np.sqrt(np.maximum(second - ((n + 1) / 2) ** 2, 0.0))
    return R, sd


def _mean_pairwise(R: sp.csr_matrix, sd: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Mean pairwise Spearman correlation within each row of ``members`` (sets x genes, gene indices).

    The variance over cells of the sum of ``k`` standardised rank vectors is ``k + sum of pairwise
    correlations``; genes that do not vary in these cells are left out of their set.
    """
    n_sets, k = members.shape
    ok = sd[members] > 0
    weights = np.where(ok, 1.0 / np.where(sd[members] > 0, sd[members], 1.0), 0.0)
    W = sp.csr_matrix((weights.ravel(), (members.ravel(), np.repeat(np.arange(n_sets), k))),
                      shape=(R.shape[0], n_sets))
    product = R.T @ W
    S = product.toarray() if sp.issparse(product) else np.asarray(product)
    variance = S.var(axis=0)
    size = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(size >= 2, (variance - size) / (size * (size - 1)), np.nan)


def matched_random_sets(mean: np.ndarray, members: np.ndarray, n_sets: int,
                        rng: np.random.Generator) -> np.ndarray:
    """``n_sets`` random gene sets (rows of gene indices), each gene drawn from the expression bin of one member.

    Bins are quantiles of the mean expression of the genes that are expressed (``mean > 0``).
    """
    expressed = np.flatnonzero(mean > 0)
    edges = np.quantile(mean[expressed], np.linspace(0, 1, N_BINS + 1)[1:-1])
    bin_of = np.digitize(mean, edges)
    pools = {b: expressed[bin_of[expressed] == b] for b in np.unique(bin_of[expressed])}
    out = np.empty((n_sets, len(members)), dtype=np.int64)
    for i, gene in enumerate(members):
        pool = pools.get(bin_of[gene], expressed)
        out[:, i] = pool[rng.integers(0, len(pool), n_sets)]
    return out


def set_coherence(X: sp.spmatrix, gene_sets: dict[str, np.ndarray], *, n_random: int, max_cells: int,
                  rng: np.random.Generator) -> pd.DataFrame:
    """Coherence of each gene set among the cells of ``X`` (cells x genes, log-normalised), with its test.

    Parameters
    ----------
    X
        The cells' expression (sparse); at most ``max_cells`` random cells are used.
    gene_sets
        Set name -> column indices of its genes.
    n_random
        Expression-matched random sets per gene set.

    Returns
    -------
    One row per set: ``set, genes`` (expressed members), ``coherence`` (mean pairwise Spearman),
    ``random_mean``, ``excess`` (coherence minus the random sets' mean), ``pvalue`` (share of random sets at
    least as coherent, ``(1 + hits) / (n_random + 1)``), and ``pvalue_half_a``/``pvalue_half_b``: the same
    test in two random halves of the cells (a program carried by a handful of cells fails one half).
    """
    X = sp.csr_matrix(X, dtype=np.float64)
    if X.shape[0] > max_cells:
        X = X[np.sort(rng.choice(X.shape[0], max_cells, replace=False))]
    mean = np.asarray(X.mean(axis=0)).ravel()
    order = rng.permutation(X.shape[0])
    halves = [X[np.sort(order[: len(order) // 2])], X[np.sort(order[len(order) // 2 :])]]
    ranked = {}  # each cell subset's ranks, computed once for all sets
    rows = []
    for name, cols in gene_sets.items():
        cols = np.asarray([c for c in dict.fromkeys(cols) if mean[c] > 0], dtype=np.int64)
        row = {"set": name, "genes": len(cols), "coherence": np.nan, "random_mean": np.nan, "excess": np.nan,
               "pvalue": 1.0, "pvalue_half_a": 1.0, "pvalue_half_b": 1.0}
        if len(cols) >= 3 and X.shape[0] >= 10:
            members = np.vstack([cols[None, :], matched_random_sets(mean, cols, n_random, rng)])
            for key, cells in (("", X), ("_half_a", halves[0]), ("_half_b", halves[1])):
                if key not in ranked:
                    ranked[key] = _standardised_ranks(cells)
                R, sd = ranked[key]
                values = _mean_pairwise(R, sd, members)
                observed, random = values[0], values[1:]
                row[f"pvalue{key}"] = float((1 + np.sum(random >= observed)) / (n_random + 1)) \
                    if np.isfinite(observed) else 1.0
                if not key:
                    row |= {"coherence": float(observed), "random_mean": float(np.nanmean(random)),
                            "excess": float(observed - np.nanmean(random))}
        rows.append(row)
    return pd.DataFrame(rows, columns=COHERENCE_COLUMNS)


def program_score(X: sp.spmatrix, cols: np.ndarray) -> np.ndarray:
    """Score of a gene set's program: its genes standardised and weighted by their first principal component.

    The loadings are oriented so that they sum to a positive value and negative loadings count zero, so the
    genes of the set that co-vary carry the score and the members that do not are left out (a curated set
    that only partly overlaps the program in these cells). Returns one value per row of ``X``.
    """
    dense = sp.csr_matrix(X)[:, cols].toarray().astype(np.float64)
    sd = dense.std(axis=0)
    keep = sd > 0
    if keep.sum() == 0:
        return np.zeros(dense.shape[0])
    z = (dense[:, keep] - dense[:, keep].mean(axis=0)) / sd[keep]
    if keep.sum() == 1:
        return z[:, 0]
    loadings = np.linalg.svd(z, full_matrices=False)[2][0]
    loadings = np.clip(loadings * (1.0 if loadings.sum() >= 0 else -1.0), 0, None)
    if loadings.sum() <= 0:
        return z.mean(axis=1)
    return z @ (loadings / loadings.sum())
