import gzip

import anndata as ad
import numpy as np
import pandas as pd

from cscniche.export import scverse_conventions
from cscniche.palette import GREY, category_colours


def test_final_anndata_follows_scverse_conventions():
    """Empty-string categories become NaN; categorical columns get the figures' colours in uns, grey for
    undecided labels, fixed colours for known cell types."""
    obs = pd.DataFrame({"csc": pd.Categorical(["CSC-high", "", "CSC-low", ""]),
                        "cell_type": pd.Categorical(["malignant", "T cell", "unassigned", "malignant"]),
                        "score": [0.1, 0.2, 0.3, 0.4]}, index=[f"c{i}" for i in range(4)])
    adata = scverse_conventions(ad.AnnData(np.zeros((4, 2), dtype=np.float32), obs=obs))
    assert adata.obs["csc"].isna().tolist() == [False, True, False, True]
    assert list(adata.obs["csc"].cat.categories) == ["CSC-high", "CSC-low"]
    assert adata.uns["csc_colors"] == ["#CC3311", "#0077BB"]
    colours = dict(zip(adata.obs["cell_type"].cat.categories, adata.uns["cell_type_colors"], strict=True))
    assert colours == {"T cell": "#332288", "malignant": "#882255", "unassigned": GREY}
    assert "score_colors" not in adata.uns


def test_category_colours_are_stable_and_distinct():
    first = category_colours(["3", "10", "1", "2"])
    assert list(first) == ["1", "2", "3", "10"] and len(set(first.values())) == 4
    assert category_colours(["10", "2", "3", "1"]) == first  # order of appearance does not matter
    mixed = category_colours(["my type", "T cell", ""])
    assert mixed[""] == GREY and mixed["T cell"] == "#332288" and mixed["my type"] not in (GREY, "#332288")


def test_counts_export_as_a_10x_folder_that_readers_load_back(tmp_path):
    """The counts written block by block as MatrixMarket read back identically with scanpy's 10x reader
    and cscniche's own ingest (integers stay integers; a non-integer matrix is written as real)."""
    import scanpy as sc
    import scipy.sparse as sp

    import cscniche.export as export
    from cscniche.ingest import read_matrix

    rng = np.random.default_rng(0)
    counts = sp.random(50, 30, density=0.2, format="csr", random_state=1, data_rvs=lambda n: rng.integers(1, 9, n))
    adata = ad.AnnData(counts.astype(np.float32), obs=pd.DataFrame(index=[f"AAAC-{i}" for i in range(50)]),
                       var=pd.DataFrame(index=[f"G{i}" for i in range(30)]))
    adata.layers["counts"] = adata.X.copy()
    adata.write_h5ad(tmp_path / "clustered.h5ad")
    export.MTX_BLOCK_ROWS = 7  # several blocks
    try:
        assert export.write_10x_mtx(tmp_path / "clustered.h5ad", tmp_path / "counts") == counts.nnz
    finally:
        export.MTX_BLOCK_ROWS = 20_000
    back = sc.read_10x_mtx(tmp_path / "counts")
    assert (back.X != counts).nnz == 0 and list(back.obs_names) == list(adata.obs_names)
    assert list(back.var_names) == list(adata.var_names)
    ours = read_matrix(tmp_path / "counts", "10x_mtx")
    assert (ours.X != counts).nnz == 0
    with gzip.open(tmp_path / "counts/matrix.mtx.gz", "rt") as fh:
        assert "integer" in fh.readline()
    adata.layers["counts"] = adata.X * 0.5
    adata.write_h5ad(tmp_path / "clustered.h5ad")
    export.write_10x_mtx(tmp_path / "clustered.h5ad", tmp_path / "counts")
    assert np.allclose(sc.read_10x_mtx(tmp_path / "counts").X.toarray(), counts.toarray() * 0.5)
    assert not list(tmp_path.glob(".counts*"))


def test_interactions_are_stored_in_lianas_layout_and_liana_plots_them(tmp_path):
    """``uns['liana_res']`` reads back from h5ad with liana's column names, and liana's dotplot takes it."""
    from cscniche.export import liana_results
    from cscniche.jit import import_liana

    li = import_liana()

    interactions = pd.DataFrame({
        "patient": ["P1", "P1", "P2"], "ligand": ["CD274", "VEGFA", "CD274"],
        "receptor": ["PDCD1", "FLT1_KDR", "PDCD1"],
        "source": ["CSC-high", "CSC-high", "CSC-high"], "target": ["T cell", "endothelial cell", "T cell"],
        "direction": ["CSC->TME"] * 3, "ligand_mean": [1.2, 2.0, 0.9], "receptor_mean": [0.8, 1.1, 0.7],
        "ligand_prop": [0.4, 0.6, 0.3], "receptor_prop": [0.3, 0.5, 0.2], "lr_mean": [1.0, 1.55, 0.8],
        "lr_product": [0.96, 2.2, 0.63], "pvalue": [0.001, 0.01, 0.2], "liana_magnitude_rank": [0.01, 0.02, 0.3],
        "pathway": ["PD-L1", "VEGF", "PD-L1"]})
    adata = ad.AnnData(np.zeros((2, 2), dtype=np.float32))
    adata.uns["liana_res"] = liana_results(interactions)
    adata.write_h5ad(tmp_path / "a.h5ad")
    res = ad.read_h5ad(tmp_path / "a.h5ad").uns["liana_res"]
    assert list(res.columns[:10]) == ["source", "target", "ligand_complex", "receptor_complex", "ligand_means",
                                      "ligand_props", "receptor_means", "receptor_props", "lr_means",
                                      "cellphone_pvals"]
    assert {"patient", "direction", "pathway", "magnitude_rank"} <= set(res.columns)
    assert res.loc[1, "receptor_complex"] == "FLT1_KDR" and res["cellphone_pvals"].tolist() == [0.001, 0.01, 0.2]
    plot = li.pl.dotplot(liana_res=res[res["patient"] == "P1"], colour="lr_means", size="cellphone_pvals",
                         inverse_size=True, source_labels=["CSC-high"], target_labels=["T cell", "endothelial cell"])
    assert len(plot.data) == 2
