"""Cluster markers: the sparse rank-sum implementation gives scanpy's Wilcoxon results."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp

from cscniche.cluster import markers, merge_samples


def test_markers_equal_scanpy_wilcoxon():
    rng = np.random.default_rng(3)
    counts = rng.poisson(0.5, (600, 120)).astype(np.float32)
    labels = rng.integers(0, 4, 600)
    counts[labels == 1, :10] += rng.poisson(3, (int((labels == 1).sum()), 10))
    adata = ad.AnnData(sp.csr_matrix(counts), obs=pd.DataFrame({"leiden": pd.Categorical(labels.astype(str))},
                                                                index=[f"c{i}" for i in range(600)]),
                       var=pd.DataFrame(index=[f"g{i}" for i in range(120)]))
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    mine = markers(adata, n_genes=120)
    sc.tl.rank_genes_groups(adata, "leiden", method="wilcoxon", pts=True, key_added="ref")
    ref = sc.get.rank_genes_groups_df(adata, group=None, key="ref")
    both = mine.merge(ref, left_on=["cluster", "gene"], right_on=["group", "names"], validate="one_to_one")
    assert len(both) == len(mine) == 4 * 120
    for ours, theirs in [("score", "scores"), ("log2fc", "logfoldchanges"), ("pval", "pvals"),
                         ("pval_adj", "pvals_adj"), ("pct_in", "pct_nz_group"), ("pct_out", "pct_nz_reference")]:
        np.testing.assert_allclose(both[ours], both[theirs], rtol=1e-5, atol=1e-6, err_msg=ours)
    top = mine[(mine["cluster"] == "1") & (mine["rank"] <= 10)]
    assert set(top["gene"]) == {f"g{i}" for i in range(10)}


def _merged_small_tumour(small_tumour, min_cells_per_gene=3):
    samples = []
    for name, sample in small_tumour.samples.items():
        sample = sample.copy()
        sample.uns["ingest"] = {**sample.uns.get("ingest", {}), "sample": name, "value_scale": "counts"}
        sample.uns["qc"] = {}
        sample.obs["sample"] = name
        samples.append(sample)
    detected = sum(np.asarray((s.X > 0).sum(axis=0)).ravel() for s in samples)
    merged = merge_samples(samples, min_cells_per_gene=min_cells_per_gene)
    assert samples == []  # consumed, so the per-sample matrices can be freed
    return merged, detected


def test_merge_keeps_genes_detected_in_enough_cells_over_all_samples(small_tumour):
    merged, detected = _merged_small_tumour(small_tumour, min_cells_per_gene=25)
    genes = next(iter(small_tumour.samples.values())).var_names
    assert list(merged.var_names) == list(genes[detected >= 25])
    assert 0 < merged.n_vars < len(genes)
    assert merged.n_obs == sum(s.n_obs for s in small_tumour.samples.values())
    assert set(merged.uns["ingest"]) == set(small_tumour.samples)
    reference = ad.concat([s[:, merged.var_names] for s in small_tumour.samples.values()])
    assert list(merged.obs_names) == list(reference.obs_names)
    assert merged.X.dtype == np.float32 and merged.X.has_sorted_indices
    assert (merged.X != sp.csr_matrix(reference.X)).nnz == 0  # the same matrix, stacked without two copies


def test_normalise_in_place_equals_scanpy(small_tumour):
    import cscniche.cluster as cluster

    merged, _ = _merged_small_tumour(small_tumour)
    counts = merged.X.copy()
    reference = ad.AnnData(counts.copy())
    sc.pp.normalize_total(reference, target_sum=1e4)
    sc.pp.log1p(reference)
    cluster.normalise(merged)
    np.testing.assert_allclose(merged.var["mean_counts"], counts.toarray().mean(axis=0, dtype=np.float64), rtol=1e-6)
    assert merged.var["mean_counts"].dtype == np.float32
    # the same values as scanpy's normalize_total + log1p, without its copy of the matrix
    assert (merged.X != reference.X).nnz == 0 and (merged.layers["counts"] != counts).nnz == 0
    tpm = ad.AnnData(counts.copy(), uns={"value_scale": "tpm"})
    cluster.normalise(tpm)
    assert abs(tpm.X - sp.csr_matrix(np.log1p(counts.toarray() / 10.0))).max() < 1e-5


def test_blockwise_hvg_equals_scanpy_seurat(small_tumour, monkeypatch):
    import cscniche.cluster as cluster

    merged, _ = _merged_small_tumour(small_tumour)
    cluster.normalise(merged)
    reference = merged.copy()
    sc.pp.highly_variable_genes(reference, n_top_genes=300, flavor="seurat")
    monkeypatch.setattr(cluster.normalisation, "HVG_BLOCK_CELLS", 97)  # several blocks, the last one partial
    cluster.highly_variable_seurat(merged, n_top_genes=300)
    assert merged.var["highly_variable"].sum() == 300
    assert (merged.var["highly_variable"] == reference.var["highly_variable"]).all()
    for column in ("means", "dispersions", "dispersions_norm"):
        np.testing.assert_allclose(merged.var[column], reference.var[column], rtol=1e-5, atol=1e-5, err_msg=column)


def test_igraph_and_leidenalg_flavours_agree(small_tumour):
    from sklearn.metrics import adjusted_rand_score

    import cscniche.cluster as cluster

    from conftest import default_settings

    merged, _ = _merged_small_tumour(small_tumour)
    params = default_settings()["cluster"]
    assert params["leiden_flavor"] == "igraph"
    cluster.cluster(merged, {**params, "integration": "none"}, seed=0)
    fast = merged.obs["leiden_r1"].copy()
    cluster.leiden(merged, resolution=1.0, flavor="leidenalg", seed=0, key_added="reference")
    assert adjusted_rand_score(fast, merged.obs["reference"]) > 0.9
    truth = small_tumour.truth.set_index("cell_id").loc[merged.obs_names, "cell_type"]
    assert adjusted_rand_score(truth, merged.obs["leiden_r0.3"]) > 0.5
    with pytest.raises(ValueError, match="leiden flavor 'louvain'"):
        cluster.leiden(merged, resolution=1.0, flavor="louvain")


UMAP_SCRIPT = """
import sys, numpy as np, anndata as ad, scanpy as sc
from cscniche.jit import import_umap_cached
import_umap_cached()
import umap.umap_, pynndescent.distances
adata = ad.AnnData(np.random.default_rng(0).normal(size=(300, 10)).astype(np.float32))
sc.pp.neighbors(adata, n_neighbors=10, use_rep="X", random_state=0)
sc.tl.umap(adata, random_state=0, maxiter=20)
np.save(OUTPUT, np.hstack([adata.obsm["X_umap"], adata.obsp["connectivities"].toarray()]))
kernels = (umap.umap_.smooth_knn_dist, umap.umap_.compute_membership_strengths, pynndescent.distances.euclidean)
REPORT = [type(k._cache).__name__ for k in kernels] + [str(sum(k.stats.cache_hits.total() for k in kernels))]
"""


def test_umap_kernels_are_compiled_once_and_loaded_after(tmp_path):
    """umap and pynndescent imported through :func:`cscniche.jit.import_umap_cached` keep their numba kernels on
    disk: once this process has built a graph and a UMAP (compiling or loading the kernels), a later process
    loads umap's graph kernels instead of compiling them, and builds the same graph and UMAP. (The demo's
    tables, UMAP coordinates included, are those of the plain import.)"""
    import subprocess
    import sys

    here = {"OUTPUT": str(tmp_path / "first.npy")}
    exec(UMAP_SCRIPT, here)
    assert here["REPORT"][:3] == ["FunctionCache"] * 3  # this process's umap came through import_umap_cached
    later = f"OUTPUT = sys.argv[1]{UMAP_SCRIPT}print(*REPORT)"
    run = subprocess.run([sys.executable, "-c", f"import sys\n{later}", str(tmp_path / "later.npy")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["FunctionCache"] * 3 + ["2"]  # umap's two graph kernels loaded from disk
    np.testing.assert_array_equal(np.load(tmp_path / "first.npy"), np.load(tmp_path / "later.npy"))


KERNELS = """
import numba

@numba.njit("f4(f4[::1], f4)")
def scaled_sum(x, factor):
    return x.sum() * factor

@numba.njit
def twice(x):
    return 2 * scaled_sum(x, 0.1)
"""


def test_kernels_with_declared_signatures_are_compiled_when_first_called_as_declared(tmp_path, monkeypatch):
    """A kernel that declares its signatures, imported through ``import_umap_cached``'s or ``import_liana``'s
    patch, compiles nothing at import and, when first called (from Python or from another kernel), compiles the
    declared signatures only and converts arguments to them as the eager kernel does; liana's and pynndescent's
    kernels come that way."""
    import importlib

    from cscniche import jit

    monkeypatch.syspath_prepend(str(tmp_path))
    x = np.arange(1, 3, dtype=np.float32)
    for package in ("eager_kernels", "deferred_kernels", "called_from_python"):
        (tmp_path / f"{package}.py").write_text(KERNELS)
    eager = importlib.import_module("eager_kernels")
    with jit._patched_jit(defer=("deferred_kernels", "called_from_python")):
        deferred = importlib.import_module("deferred_kernels")
        from_python = importlib.import_module("called_from_python").scaled_sum
    assert from_python(x, 0.1) == eager.scaled_sum(x, 0.1) and from_python.signatures == eager.scaled_sum.signatures
    assert len(eager.scaled_sum.signatures) == 1 and deferred.scaled_sum.signatures == []
    # pickled before its first call (to another process), it is rebuilt as the eager kernel
    assert deferred.scaled_sum._reduce_class() is type(eager.scaled_sum)
    assert {k: v for k, v in deferred.scaled_sum._reduce_states().items() if k in ("can_compile", "sigs")} == {
        "can_compile": False, "sigs": ["f4(f4[::1], f4)"]}
    assert deferred.twice(x) == eager.twice(x)  # first called from a kernel: 0.1 taken as float32 in both
    assert deferred.scaled_sum.signatures == eager.scaled_sum.signatures
    assert deferred.scaled_sum(x, 0.1) == eager.scaled_sum(x, 0.1) != 3 * 0.1
    with pytest.raises(TypeError, match="No matching definition"):
        deferred.scaled_sum(x.astype(np.float64), 0.1)
    jit.import_liana()
    jit.import_umap_cached()
    from liana.method.sp._bivariate._local_functions import _masked_spearman
    from pynndescent.distances import squared_euclidean

    assert {type(_masked_spearman).__name__, type(squared_euclidean).__name__} == {"DeferredDispatcher"}


def test_numba_runs_a_snakemake_job_on_its_threads():
    """In a Snakemake job (a ``snakemake`` object in the script) numba's parallel kernels get the job's threads,
    unless the user set ``NUMBA_NUM_THREADS``; elsewhere importing cscniche leaves numba as it is."""
    import os
    import subprocess
    import sys

    def numba_threads(script: str, **variables: str) -> list[str]:
        env = {k: v for k, v in os.environ.items() if k != "NUMBA_NUM_THREADS"} | variables
        report = "import cscniche, numba, os; print(numba.config.NUMBA_NUM_THREADS, os.getenv('NUMBA_NUM_THREADS'))"
        run = subprocess.run([sys.executable, "-c", script + report], capture_output=True, text=True, env=env)
        assert run.returncode == 0, run.stderr[-2000:]
        return run.stdout.split()

    job = "import sys, types; sys.modules['__main__'].snakemake = types.SimpleNamespace(threads=1);"
    assert numba_threads(job) == ["1", "1"]
    default = numba_threads("")
    assert default[1] == "None" and int(default[0]) == (os.cpu_count() or 1)
    assert numba_threads(job, NUMBA_NUM_THREADS="2") == ["2", "2"]
