import pandas as pd
import pytest

from cscniche.io import InputError, write_atomic, write_table


def test_failed_write_leaves_no_file(tmp_path):
    target = tmp_path / "out" / "table.tsv"

    def broken(tmp):
        tmp.write_text("half a tab")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(target, broken)
    assert list(target.parent.iterdir()) == []


def test_gzipped_tables_are_byte_identical(tmp_path):
    df = pd.DataFrame({"cell_id": ["a", "b"], "x": [1.5, 2.0]})
    write_table(df, tmp_path / "one.tsv.gz")
    write_table(df, tmp_path / "two.tsv.gz")
    assert (tmp_path / "one.tsv.gz").read_bytes() == (tmp_path / "two.tsv.gz").read_bytes()
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "one.tsv.gz", sep="\t"), df)


def test_stage_annotations_join_the_clustered_matrix(tmp_path):
    import anndata as ad
    import numpy as np
    import scipy.sparse as sp

    from cscniche.io import read_stage, write_annotations, write_h5ad

    full = ad.AnnData(sp.random(50, 20, density=0.3, format="csr", dtype=np.float32, random_state=0))
    full.layers["counts"] = full.X.copy()
    full.obsp["connectivities"] = sp.identity(50, format="csr")
    write_h5ad(full, tmp_path / "clustered.h5ad")
    full.obs["cell_type"] = "T cell"
    full.obsm["X_cnv"] = sp.random(50, 5, density=0.5, format="csr", random_state=1)
    full.obsm["X_umap"] = np.arange(100.0).reshape(50, 2)
    write_annotations(full, tmp_path / "stage.h5ad")
    assert ad.read_h5ad(tmp_path / "stage.h5ad").X is None  # the matrix is not written again
    joined = read_stage(tmp_path / "clustered.h5ad", tmp_path / "stage.h5ad", layers=True, graph=True)
    assert (joined.X != full.X).nnz == 0 and "counts" in joined.layers and "connectivities" in joined.obsp
    assert (joined.obs["cell_type"] == "T cell").all() and joined.obsm["X_cnv"].shape == (50, 5)
    lean = read_stage(tmp_path / "clustered.h5ad", tmp_path / "stage.h5ad")
    assert not lean.layers and not lean.obsp
    for patients in (["P1"] * 20 + ["P2"] * 30, ["P1", "P2"] * 25):  # consecutive rows, then interleaved
        full.obs["patient"] = patients
        write_annotations(full, tmp_path / "stage.h5ad")
        one = read_stage(tmp_path / "clustered.h5ad", tmp_path / "stage.h5ad", layers=True, graph=True,
                         where=("patient", "P2"))
        rows = np.flatnonzero(full.obs["patient"] == "P2")
        assert list(one.obs_names) == list(full.obs_names[rows]) and (one.X != full.X[rows]).nnz == 0
        assert (one.layers["counts"] != full.X[rows]).nnz == 0 and one.obsp["connectivities"].shape == (len(rows),) * 2
        assert (one.obsp["connectivities"] != sp.identity(len(rows))).nnz == 0  # the cells' own sub-graph
        assert one.obsm["X_cnv"].shape == (len(rows), 5) and (one.obs["cell_type"] == "T cell").all()
        assert (one.obsm["X_cnv"] != full.obsm["X_cnv"][rows]).nnz == 0
        np.testing.assert_array_equal(one.obsm["X_umap"], full.obsm["X_umap"][rows])  # read from disk by rows
    other = full[:40].copy()
    write_annotations(other, tmp_path / "other.h5ad")
    with pytest.raises(InputError, match=r"other.h5ad: its cells or genes differ from .*clustered.h5ad"):
        read_stage(tmp_path / "clustered.h5ad", tmp_path / "other.h5ad")


def test_stage_reads_only_the_genes_asked_for_in_blocks_of_rows(tmp_path, monkeypatch):
    import anndata as ad
    import numpy as np
    import scipy.sparse as sp

    import cscniche.io as io

    full = ad.AnnData(sp.random(50, 20, density=0.3, format="csr", dtype=np.float32, random_state=0))
    full.var_names = [f"G{i}" for i in range(20)]
    full.layers["counts"] = full.X * 2
    io.write_h5ad(full, tmp_path / "clustered.h5ad")
    full.obs["patient"] = ["P1", "P2"] * 25
    full.varm["PCs"] = np.arange(40.0).reshape(20, 2)
    io.write_annotations(full, tmp_path / "stage.h5ad")
    monkeypatch.setattr(io.partial, "READ_BLOCK_ROWS", 7)  # many blocks, the last one partial
    cols = [3, 11, 17]
    some = io.read_stage(tmp_path / "clustered.h5ad", tmp_path / "stage.h5ad", layers=True,
                         genes=["G17", "G3", "absent", "G11"])
    assert list(some.var_names) == ["G3", "G11", "G17"] and some.n_obs == 50  # the file's order
    assert (some.X != full.X[:, cols]).nnz == 0 and (some.layers["counts"] != full.X[:, cols] * 2).nnz == 0
    np.testing.assert_array_equal(some.varm["PCs"], full.varm["PCs"][cols])
    one = io.read_stage(tmp_path / "clustered.h5ad", tmp_path / "stage.h5ad", where=("patient", "P2"),
                        genes=["G3", "G11", "G17"])
    rows = np.flatnonzero(full.obs["patient"] == "P2")
    assert list(one.obs_names) == list(full.obs_names[rows]) and (one.X != full.X[rows][:, cols]).nnz == 0
    with pytest.raises(InputError, match=r"clustered.h5ad: none of the 2 genes asked for is in the file .*'G0'"):
        io.read_stage(tmp_path / "clustered.h5ad", tmp_path / "stage.h5ad", genes=["CD44", "PROM1"])


def test_counts_written_first_give_the_same_file_as_a_counts_layer(tmp_path):
    import anndata as ad
    import numpy as np
    import scipy.sparse as sp

    from cscniche.io import counts_written_first

    counts = sp.random(60, 30, density=0.3, format="csr", dtype=np.float32, random_state=0)
    counts.data = np.ceil(counts.data * 10)
    adata = ad.AnnData(counts.copy())
    with counts_written_first(adata, tmp_path / "clustered.h5ad"):
        assert not (tmp_path / "clustered.h5ad").exists()  # a temporary name until the block ends
        adata.X.data = np.log1p(adata.X.data)  # normalised in place: the counts are already on disk
        adata.obs["leiden"] = "0"
        adata.obsm["X_umap"] = np.zeros((60, 2))
        adata.obsp["connectivities"] = sp.identity(60, format="csr")
        adata.uns["cluster"] = {"seed": 0}
    back = ad.read_h5ad(tmp_path / "clustered.h5ad")
    assert (back.layers["counts"] != counts).nnz == 0
    np.testing.assert_allclose(back.X.toarray(), np.log1p(counts.toarray()), rtol=1e-6)
    assert (back.obs["leiden"] == "0").all() and back.obsm["X_umap"].shape == (60, 2)
    assert back.obsp["connectivities"].nnz == 60 and back.uns["cluster"]["seed"] == 0
    with pytest.raises(RuntimeError, match="killed"), counts_written_first(adata, tmp_path / "failed.h5ad"):
        raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clustered.h5ad"]  # no half-written file


def test_delivered_file_gets_the_matrices_compressed_block_by_block(tmp_path, monkeypatch):
    import anndata as ad
    import h5py
    import numpy as np
    import scipy.sparse as sp

    import cscniche.io as io

    full = ad.AnnData(sp.random(70, 40, density=0.3, format="csr", dtype=np.float32, random_state=0))
    full.layers["counts"] = sp.random(70, 40, density=0.2, format="csr", dtype=np.float32, random_state=1)
    full.obsm["X_pca"] = np.arange(140, dtype=np.float32).reshape(70, 2)
    io.write_h5ad(full, tmp_path / "clustered.h5ad")
    monkeypatch.setattr(io.h5ad, "COPY_BLOCK", 50)  # many blocks, the last one partial
    notes = io.read_stage(tmp_path / "clustered.h5ad", x=False)
    assert notes.X is None
    notes.obs["cell_type"] = "B cell"
    io.compress_matrices(tmp_path / "clustered.h5ad", tmp_path / "matrices.h5", ["X", "layers/counts",
                                                                                 "layers/absent"])
    notes.X = sp.csr_matrix(notes.shape, dtype=np.float32)  # replaced by the compressed copy
    io.write_h5ad_with_matrices(notes, tmp_path / "adata.h5ad", tmp_path / "matrices.h5")
    back = ad.read_h5ad(tmp_path / "adata.h5ad")
    assert (back.X != full.X).nnz == 0 and (back.layers["counts"] != full.layers["counts"]).nnz == 0
    assert list(back.layers) == ["counts"] and (back.obs["cell_type"] == "B cell").all()
    np.testing.assert_array_equal(back.obsm["X_pca"], full.obsm["X_pca"])
    with h5py.File(tmp_path / "adata.h5ad") as fh:
        assert fh["X/data"].compression == "gzip" and fh["layers/counts/indices"].compression == "gzip"


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664)])
def test_outputs_get_the_usual_file_permissions(tmp_path, umask, mode):
    import os

    old = os.umask(umask)
    try:
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "t.tsv")
    finally:
        os.umask(old)
    assert (tmp_path / "t.tsv").stat().st_mode & 0o777 == mode  # a lab's shared folder: the group reads (002: writes)
    assert not list(tmp_path.glob(".*.tmp"))


def test_temporary_files_of_a_killed_attempt_are_cleared(tmp_path):
    stale = tmp_path / ".t.tsv.abc12345.tmp"  # what a killed job leaves beside its output
    stale.write_text("half")
    others = [tmp_path / ".u.tsv.abc12345.tmp", tmp_path / ".t.tsv.gz.abc12345.tmp"]  # other outputs' files
    for other in others:
        other.write_text("another output's")
    write_table(pd.DataFrame({"a": [1]}), tmp_path / "t.tsv")
    assert not stale.exists() and all(o.exists() for o in others) and (tmp_path / "t.tsv").exists()
