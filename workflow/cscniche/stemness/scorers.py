"""Per-cell stemness scorers on the sparse matrix: CytoTRACE-style diversity, mRNAsi, UCell."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..io import InputError
from ..markers import gene_mean_sd
from ..ranksum import row_ranks

CHUNK_CELLS = 2_500  # rows ranked at a time: bounds the temporary arrays of the sparse ranking (~1 GB)


def ucell(adata: ad.AnnData, genes: list[str], *, max_rank: int = 1500) -> np.ndarray:
    """UCell score of a gene set per cell: 1 - (sum of capped descending ranks - n(n+1)/2) / (n * max_rank)."""
    return ucell_sets(adata, {"set": genes}, max_rank=max_rank)["set"].to_numpy()


def ucell_sets(adata: ad.AnnData, gene_sets: dict[str, list[str]], *, max_rank: int = 1500) -> pd.DataFrame:
    """UCell scores of several gene sets, ranking each block of cells once for all sets."""
    columns = {}
    for name, genes in gene_sets.items():
        present = [g for g in dict.fromkeys(genes) if g in adata.var_names]
        if len(present) < 2:
            raise InputError(f"gene set {name}: {len(present)} of its {len(genes)} genes in the data (need 2)")
        columns[name] = adata.var_names.get_indexer(present)
    out = {name: np.empty(adata.n_obs) for name in columns}
    X = sp.csr_matrix(adata.X)
    for start in range(0, adata.n_obs, CHUNK_CELLS):
        R, zero_rank = row_ranks(X[start : start + CHUNK_CELLS])
        for name, cols in columns.items():
            asc = R[:, cols].toarray() + zero_rank[:, None]
            desc = np.minimum(adata.n_vars + 1 - asc, max_rank + 1)
            n = len(cols)
            out[name][start : start + len(zero_rank)] = 1.0 - (desc.sum(axis=1) - n * (n + 1) / 2) / (n * max_rank)
    return pd.DataFrame(out, index=adata.obs_names)


def mrnasi(adata: ad.AnnData, weights: pd.Series) -> np.ndarray:
    """mRNAsi: Spearman correlation of each cell with the OCLR weights over shared genes, min-max scaled."""
    shared = adata.var_names.intersection(weights.index)
    if len(shared) < 100:
        raise InputError(f"only {len(shared)} genes shared with the mRNAsi weights (need 100; symbols vs Ensembl?)")
    X = sp.csr_matrix(adata.X[:, adata.var_names.get_indexer(shared)])
    w = pd.Series(weights.loc[shared].to_numpy()).rank().to_numpy()
    w = w - w.mean()
    n = len(shared)
    rho = np.empty(X.shape[0])
    for start in range(0, X.shape[0], CHUNK_CELLS):
        # Pearson of full rank rows with centred weight ranks; the zeros' shared rank cancels out
        R, _ = row_ranks(X[start : start + CHUNK_CELLS])
        cov = np.asarray(R @ w).ravel()
        r_sum = np.asarray(R.sum(axis=1)).ravel()
        var = np.asarray(R.multiply(R).sum(axis=1)).ravel() - r_sum**2 / n
        rho[start : start + len(cov)] = cov / np.sqrt(np.maximum(var, 1e-12) * (w @ w))
    span = rho.max() - rho.min()
    return (rho - rho.min()) / span if span > 0 else np.zeros_like(rho)


def cytotrace(adata: ad.AnnData, *, n_signature: int = 200, alpha: float = 0.9, max_iter: int = 10_000,
              tol: float = 1e-6) -> np.ndarray:
    """Transcriptional diversity after CytoTRACE (Gulati et al., Science 367:405, 2020), in ``[0, 1]``.

    As in the published algorithm: gene counts per cell; the gene counts signature (GCS), the mean log
    expression (geometric mean) of the ``n_signature`` genes most correlated with gene counts; GCS regressed
    onto the cells' Markov matrix by non-negative least squares (``M b ~ GCS``, ``b >= 0``); the regressed
    score diffused with restart (``v <- alpha M v + (1 - alpha) M b`` until the mean change is at most
    ``tol``); ranks scaled to ``[0, 1]`` (1 = least differentiated). The Markov matrix is the row-normalised
    kNN graph of the data (``obsp['connectivities']``) instead of the dense thresholded cell-cell correlation
    matrix, which keeps it sparse at any size; without a graph the GCS ranks are returned.
    """
    from scipy.optimize import lsq_linear

    X = sp.csr_matrix(adata.X)
    counts = np.diff(X.indptr).astype(float)  # genes detected per cell
    n = X.shape[0]
    gc = counts - counts.mean()
    _, sd = gene_mean_sd(X)
    sd = np.maximum(sd, 1e-6)
    corr = (np.asarray(X.T @ gc).ravel() / n) / (sd * max(gc.std(), 1e-12))
    top = np.argsort(-corr)[: min(n_signature, X.shape[1])]
    gcs = np.asarray(X[:, top].mean(axis=1)).ravel()
    graph = adata.obsp.get("connectivities")
    if graph is None or graph.shape[0] != n or n < 3:
        return pd.Series(gcs).rank(pct=True).to_numpy()
    P = sp.csr_matrix(graph, dtype=np.float64)
    P = sp.diags(1.0 / np.maximum(np.asarray(P.sum(axis=1)).ravel(), 1e-12)) @ P
    # 20 trust-region iterations of at most 50 LSMR steps: on a 10,688-cell patient the diffused score's ranks
    # match those of 200 unbounded iterations to Spearman 0.99999, in 0.8 s instead of 42 s
    b = lsq_linear(P, gcs, bounds=(0, np.inf), lsmr_tol="auto", max_iter=20, lsmr_maxiter=50).x
    regressed = P @ b
    score = regressed
    for _ in range(max_iter):
        updated = alpha * (P @ score) + (1 - alpha) * regressed
        change = float(np.mean(np.abs(updated - score)))
        score = updated
        if change <= tol:
            break
    return pd.Series(score).rank(pct=True).to_numpy()


def gene_columns(var_names: pd.Index, gene_sets: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """Column indices of each set's genes that are in ``var_names`` (sets with fewer than 2 left out)."""
    out = {}
    for name, genes in gene_sets.items():
        cols = var_names.get_indexer(list(dict.fromkeys(genes)))
        if (cols >= 0).sum() >= 2:
            out[name] = cols[cols >= 0]
    return out
