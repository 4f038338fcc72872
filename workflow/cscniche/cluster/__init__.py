"""Clustering: merge samples, normalise by value scale, HVG, PCA, Harmony, neighbours, UMAP, Leiden, markers."""

from __future__ import annotations

import logging
import os
from contextlib import nullcontext
from dataclasses import dataclass

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc
import scipy.sparse as sp

from ..graph import leiden
from ..io import InputError, counts_written_first, write_h5ad
from ..jit import import_umap_cached
from .normalisation import highly_variable_seurat, normalise, normalize_total_inplace

__all__ = ["ClusterResult", "cluster", "highly_variable_seurat", "integrate", "markers", "merge_samples",
           "normalise", "normalize_total_inplace", "run_cluster"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClusterResult:
    """The cluster stage's results.

    ``adata``: the clustered cells (``cluster/clustered.h5ad``, less its counts layer when written);
    ``markers``: the cluster markers (``cluster/markers.tsv``).
    """

    adata: ad.AnnData
    markers: pd.DataFrame


def run_cluster(samples: list[ad.AnnData], *, n_hvg: int, n_pcs: int, n_neighbors: int, integration: str,
                batch_key: str, resolutions: list[float], resolution: float, n_markers: int, leiden_flavor: str,
                min_cells_per_gene: int, seed: int = 0, out: str | os.PathLike | None = None) -> ClusterResult:
    """The cluster stage: merge the QC'd samples, cluster them (:func:`cluster`) and rank each cluster's markers.

    The keywords are the ``cluster`` config section, and ``qc.min_cells_per_gene`` for the merge.
    ``samples`` is emptied as they are merged (each sample's matrix is freed once merged).

    ``out``: write the clustered cells there (h5ad), counts in ``layers['counts']``. Count data are then
    written first and normalised in place, so one matrix is in memory at a time, and the returned AnnData has
    no layers. Without ``out`` the counts stay in ``layers['counts']``.
    """
    adata = merge_samples(samples, min_cells_per_gene=min_cells_per_gene)
    log.info("merged: %d cells x %d genes", adata.n_obs, adata.n_vars)
    params = {"n_hvg": n_hvg, "n_pcs": n_pcs, "n_neighbors": n_neighbors, "integration": integration,
              "batch_key": batch_key, "resolutions": list(resolutions), "resolution": resolution,
              "n_markers": n_markers, "leiden_flavor": leiden_flavor}
    counts_first = out is not None and adata.uns["value_scale"] == "counts"
    with counts_written_first(adata, out) if counts_first else nullcontext():
        cluster(adata, params, seed=seed, keep_counts=not counts_first)
        log.info("leiden: %d clusters", adata.obs["leiden"].nunique())
    if out is not None:
        if not counts_first:
            write_h5ad(adata, out)
        adata.layers.clear()
    return ClusterResult(adata, markers(adata, n_genes=n_markers))


def merge_samples(samples: list[ad.AnnData], *, min_cells_per_gene: int = 3) -> ad.AnnData:
    """Concatenate QC-passed samples (shared genes) and keep each sample's ingest/QC records.

    ``samples`` is emptied: each sample is cut to the kept genes and dropped once merged, so that the
    per-sample matrices and the merged one are never held twice.

    Raises
    ------
    InputError
        When samples disagree on value scale, share no genes, or no cell is left.
    """
    nonempty = [a for a in samples if a.n_obs > 0]
    samples.clear()
    samples = nonempty
    if not samples:
        raise InputError("no cells left in any sample after QC")
    scales = {a.uns["ingest"]["value_scale"] for a in samples}
    if len(scales) > 1:
        detail = {a.uns["ingest"]["sample"]: a.uns["ingest"]["value_scale"] for a in samples}
        raise InputError(f"samples have different value scales {detail}; convert them to one scale")
    var = samples[0].var
    shared = var.index
    for a in samples[1:]:
        shared = shared.intersection(a.var_names, sort=False)
    if len(shared) == 0:
        raise InputError("samples share no gene names (check gene ids: symbols vs Ensembl)")
    keep = shared[_detected_in(samples, shared) >= min_cells_per_gene] if min_cells_per_gene > 0 else shared
    # each sample is cut to the kept genes before concatenation: never two copies of the merged matrix
    uns = {"ingest": {a.uns["ingest"]["sample"]: a.uns["ingest"] for a in samples},
           "qc": {a.uns["ingest"]["sample"]: a.uns["qc"] for a in samples}}
    matrix = _stack_rows(samples, keep)  # empties the samples' matrices as it goes
    merged = ad.concat(samples, join="inner", merge="first")  # obs, obsm, var: the samples hold no matrix now
    samples.clear()
    merged.X = matrix
    merged.var = var.loc[merged.var_names].copy()
    merged.uns.update(uns)
    merged.uns["value_scale"] = scales.pop()
    return merged


def _stack_rows(samples: list[ad.AnnData], genes: pd.Index) -> sp.csr_matrix:
    """The samples' matrices cut to ``genes`` and stacked by rows into one float32 CSR matrix.

    The result is allocated once (its size is known from the samples') and each sample's matrix is
    dropped as soon as it is copied in: the peak is the merged matrix plus one sample, where
    ``anndata.concat`` holds every sample and the merged matrix together.
    """
    nnz = 0
    for a in samples:
        X = sp.csr_matrix(a.X)
        kept = np.zeros(a.n_vars, dtype=bool)
        kept[a.var_names.get_indexer(genes)] = True
        nnz += int(np.count_nonzero(kept[X.indices]))
    n_rows = sum(a.n_obs for a in samples)
    index_dtype = np.int64 if max(nnz, len(genes)) >= np.iinfo(np.int32).max else np.int32
    data = np.empty(nnz, dtype=np.float32)
    indices = np.empty(nnz, dtype=index_dtype)
    indptr = np.zeros(n_rows + 1, dtype=index_dtype)
    row = at = 0
    for i, a in enumerate(samples):
        X = sp.csr_matrix(a.X)
        columns = a.var_names.get_indexer(genes)
        if not np.array_equal(columns, np.arange(a.n_vars)):
            X = X[:, columns]
        X.sort_indices()
        data[at : at + X.nnz] = X.data
        indices[at : at + X.nnz] = X.indices
        indptr[row + 1 : row + a.n_obs + 1] = X.indptr[1:] + at
        row, at = row + a.n_obs, at + X.nnz
        samples[i] = ad.AnnData(obs=a.obs, var=pd.DataFrame(index=genes), obsm=dict(a.obsm))
        del X, a
    return sp.csr_matrix((data, indices, indptr), shape=(n_rows, len(genes)))


def _detected_in(samples: list[ad.AnnData], genes: pd.Index) -> np.ndarray:
    """Cells with a non-zero value, per gene of ``genes``, summed over the samples."""
    detected = np.zeros(len(genes), dtype=np.int64)
    for a in samples:
        X = sp.csr_matrix(a.X)
        columns = a.var_names.get_indexer(genes)
        per_gene = np.bincount(X.indices[X.data > 0], minlength=a.n_vars)
        detected += per_gene[columns]
    return detected


def _batches(adata: ad.AnnData, params: dict) -> int:
    key = params["batch_key"]
    if key not in adata.obs:
        raise InputError(f"cluster.batch_key {key!r} is not an obs column; available: {list(adata.obs)}")
    return int(adata.obs[key].nunique())


def integrate(adata: ad.AnnData, params: dict, *, seed: int) -> str:
    """Harmony on the PCA (harmonypy called directly) when configured; returns the representation to use."""
    mode = params["integration"]
    n_batches = _batches(adata, params)
    if mode == "none" or (mode == "auto" and n_batches < 2):
        adata.uns["integration"] = {"method": "none", "batches": n_batches}
        return "X_pca"
    import harmonypy

    ho = harmonypy.run_harmony(adata.obsm["X_pca"], adata.obs, [params["batch_key"]],
                               random_state=seed, verbose=False, ncores=1)
    z = np.asarray(ho.Z_corr)
    adata.obsm["X_pca_harmony"] = (z.T if z.shape[0] != adata.n_obs else z).astype(np.float32)
    adata.uns["integration"] = {"method": "harmony", "batch_key": params["batch_key"], "batches": n_batches}
    return "X_pca_harmony"


def cluster(adata: ad.AnnData, params: dict, *, seed: int = 0, keep_counts: bool = True) -> ad.AnnData:
    """Normalise, select HVGs, PCA, integrate, neighbours, UMAP and Leiden, in place.

    ``keep_counts``: keep the counts in ``layers['counts']`` (see :func:`normalise`).

    Returns
    -------
    ``adata`` with ``var['highly_variable']``, ``obsm['X_pca']`` (and ``X_pca_harmony``),
    ``obsm['X_umap']``, ``obs['leiden_r<res>']`` for each resolution and ``obs['leiden']``
    (the configured resolution); ``uns['cluster']['params']`` records the settings.
    """
    normalise(adata, keep_counts=keep_counts)
    log.info("normalised")
    n_hvg = min(params["n_hvg"], adata.n_vars)
    highly_variable_seurat(adata, n_top_genes=n_hvg)
    log.info("highly variable genes: %d", int(adata.var["highly_variable"].sum()))
    n_pcs = max(2, min(params["n_pcs"], adata.n_obs - 1, int(adata.var["highly_variable"].sum()) - 1))
    sc.pp.pca(adata, n_comps=n_pcs, mask_var="highly_variable", svd_solver="arpack", random_state=seed)
    log.info("PCA: %d components", n_pcs)
    rep = integrate(adata, params, seed=seed)
    n_neighbors = min(params["n_neighbors"], adata.n_obs - 1)
    import_umap_cached()
    sc.pp.neighbors(adata, n_neighbors=n_neighbors, use_rep=rep, random_state=seed)
    log.info("neighbours on %s", rep)
    sc.tl.umap(adata, random_state=seed)
    log.info("UMAP")
    for res in params["resolutions"]:
        key = f"leiden_r{res:g}"
        leiden(adata, resolution=res, key_added=key, flavor=params.get("leiden_flavor", "igraph"), seed=seed)
        log.info("Leiden at resolution %g: %d clusters", res, adata.obs[key].nunique())
    adata.obs["leiden"] = adata.obs[f"leiden_r{params['resolution']:g}"]
    adata.uns["cluster"] = {"params": dict(params), "n_pcs": n_pcs, "representation": rep, "seed": seed}
    return adata


def markers(adata: ad.AnnData, *, groupby: str = "leiden", n_genes: int = 50) -> pd.DataFrame:
    """Wilcoxon markers per cluster (one vs rest) as a tidy table, best first within each cluster.

    The same statistics as ``sc.tl.rank_genes_groups(method="wilcoxon", pts=True)`` (z-scores without tie
    correction, log2 fold change of the expm1 of the mean log expression, BH-adjusted p-values), computed by
    ranking the sparse matrix once (:mod:`cscniche.ranksum`: only stored values are sorted) and summing ranks
    per cluster.
    """
    from scipy.stats import false_discovery_control

    from ..ranksum import group_stats, rank_sum_groups

    columns = ["cluster", "rank", "gene", "score", "log2fc", "pval", "pval_adj", "pct_in", "pct_out"]
    labels = adata.obs[groupby].astype("category")
    if labels.nunique() < 2:
        return pd.DataFrame(columns=columns)
    X = adata.X
    codes = labels.cat.codes.to_numpy()
    # one pass over the stored values (an indicator product would make a float64 copy of X)
    stats = group_stats(X, codes, len(labels.cat.categories))
    sizes = stats.sizes
    sums = np.where(sizes[:, None] > 0, stats.mean * sizes[:, None], 0.0)
    total_sum, n = sums.sum(axis=0), len(codes)
    present = np.flatnonzero(sizes > 0)
    remap = np.full(len(sizes), -1)
    remap[present] = np.arange(len(present))
    tests = rank_sum_groups(X, remap[codes], len(present), tie_correct=False)
    nonzero = np.zeros((len(sizes), X.shape[1]))
    nonzero[present] = tests.n_nonzero
    total_nz = nonzero.sum(axis=0)
    tables = []
    for k, cluster in enumerate(labels.cat.categories):
        if sizes[k] == 0:
            continue
        z, pvalue = tests.z[remap[k]], tests.pvalue[remap[k]]
        mean_in, mean_out = sums[k] / sizes[k], (total_sum - sums[k]) / (n - sizes[k])
        log2fc = np.log2((np.expm1(mean_in) + 1e-9) / (np.expm1(mean_out) + 1e-9))
        order = np.argsort(-z, kind="stable")[:n_genes]
        tables.append(pd.DataFrame({
            "cluster": cluster, "rank": np.arange(1, len(order) + 1), "gene": adata.var_names[order],
            "score": z[order].astype(np.float32), "log2fc": log2fc[order].astype(np.float32),
            "pval": pvalue[order], "pval_adj": false_discovery_control(pvalue)[order],
            "pct_in": nonzero[k, order] / sizes[k], "pct_out": (total_nz - nonzero[k])[order] / (n - sizes[k])}))
    return pd.concat(tables, ignore_index=True)[columns]
