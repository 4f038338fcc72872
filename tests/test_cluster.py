"""Cluster markers: the sparse rank-sum implementation gives scanpy's Wilcoxon results."""

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc
import scipy.sparse as sp

from cscniche.cluster import markers


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
