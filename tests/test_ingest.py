import gzip

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from cscniche.ingest import detect_gene_ids, detect_value_scale, ingest_sample, read_matrix
from cscniche.io import InputError

from conftest import MALT_MTX, OLIGO_ANNOT, OLIGO_MATRIX

OLIGO_PATIENTS = ["93", "97", "MGH36", "MGH53", "MGH54"]


def _row(path, fmt, sample="S1", patient="P1", **extra):
    return {"sample": sample, "patient": patient, "path": str(path), "format": fmt, **extra}


def test_oligodendroglioma_table_reads_five_patients_with_author_labels(shared_data):
    per_patient = [
        ingest_sample(_row(OLIGO_MATRIX, "table", sample=p, patient=p, cell_pattern=f"^{p}_",
                           annotation=str(OLIGO_ANNOT)), author_labels={"label": "cell_type"})
        for p in OLIGO_PATIENTS
    ]
    cells = pd.concat([a.obs for a in per_patient])
    assert len(cells) == 184
    assert sorted(cells["patient"].unique()) == sorted(OLIGO_PATIENTS)
    labels = cells["author_cell_type"]
    assert labels.str.startswith("malignant").sum() == 142
    assert (~labels.str.startswith("malignant")).sum() == 42
    assert (cells.loc[labels.eq("malignant_MGH36"), "patient"] == "MGH36").all()
    first = per_patient[0]
    assert first.n_vars == 10338
    assert first.uns["ingest"]["value_scale"] == "tpm"
    assert first.uns["ingest"]["gene_ids"] == "symbol"
    assert sp.issparse(first.X)


def test_packaged_oligodendroglioma_is_tpm():
    adata = ingest_sample(_row("infercnvpy:oligodendroglioma", "packaged", cell_pattern="^MGH54_"),
                          author_labels={"cell_type": "cell_type"})
    assert adata.n_obs == 11
    assert adata.uns["ingest"]["value_scale"] == "tpm"
    assert {"chromosome", "start", "end"} <= set(adata.var)


def test_10x_mtx_reads_integer_counts(shared_data):
    adata = ingest_sample(_row(MALT_MTX, "10x_mtx"))
    assert adata.shape == (1100, 33538)
    assert adata.uns["ingest"]["value_scale"] == "counts"
    assert "MS4A1" in adata.var_names


def _write_10x_h5(path, X, barcodes, genes):
    X = sp.csr_matrix(X)
    with h5py.File(path, "w") as f:
        m = f.create_group("matrix")
        m["data"], m["indices"], m["indptr"] = X.data.astype(np.int32), X.indices, X.indptr
        m["shape"] = np.array([X.shape[1], X.shape[0]])
        m["barcodes"] = np.array(barcodes, dtype="S")
        feats = m.create_group("features")
        feats["id"] = np.array([f"ENSG{i:011d}" for i in range(len(genes))], dtype="S")
        feats["name"] = np.array(genes, dtype="S")
        feats["feature_type"] = np.array(["Gene Expression"] * len(genes), dtype="S")
        feats["genome"] = np.array(["GRCh38"] * len(genes), dtype="S")


def test_10x_h5_reader(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.poisson(1.0, (30, 8))
    path = tmp_path / "filtered_feature_bc_matrix.h5"
    _write_10x_h5(path, X, [f"AAACCTGAGA{i:04d}-1" for i in range(30)], [f"G{i}" for i in range(8)])
    adata = ingest_sample(_row(path, "10x_h5", sample="T1", patient="P9", treatment="naive"))
    assert adata.shape == (30, 8)
    np.testing.assert_array_equal(adata.X.toarray(), X)
    assert (adata.obs["treatment"] == "naive").all() and (adata.obs["patient"] == "P9").all()


def test_h5ad_reader_and_cells_x_genes_gzipped_csv(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.poisson(2.0, (20, 6)).astype(np.float32)
    genes = ["ACTB", "GAPDH", "B2M", "CD3E", "MT-CO1", "RPL3"]
    cells = [f"cell{i}" for i in range(20)]
    ad.AnnData(sp.csr_matrix(X), obs=pd.DataFrame(index=cells), var=pd.DataFrame(index=genes)).write_h5ad(
        tmp_path / "x.h5ad")
    from_h5ad = read_matrix(tmp_path / "x.h5ad", "h5ad")
    with gzip.open(tmp_path / "x.csv.gz", "wt") as fh:
        pd.DataFrame(X, index=cells, columns=genes).to_csv(fh)
    from_csv = read_matrix(tmp_path / "x.csv.gz", "table")
    assert list(from_csv.var_names) == genes and list(from_csv.obs_names) == cells
    np.testing.assert_array_equal(from_csv.X.toarray(), from_h5ad.X.toarray())


@pytest.mark.parametrize(
    ("values", "scale"),
    [(np.array([0, 1, 5, 120]), "counts"), (np.array([0, 0.5, 12.3, 3400.2]), "tpm"),
     (np.array([0, 0.69, 2.3, 7.1]), "log")],
)
def test_value_scale_detection(values, scale):
    assert detect_value_scale(sp.csr_matrix(values.reshape(2, 2))) == scale


def test_gene_id_detection():
    assert detect_gene_ids(pd.Index(["ENSG00000141510", "ENSG00000111640.15"])) == "ensembl"
    assert detect_gene_ids(pd.Index(["TP53", "GAPDH"])) == "symbol"


def test_corrupt_h5ad_is_rejected_naming_the_file(tmp_path):
    bad = tmp_path / "broken.h5ad"
    bad.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(InputError, match=r"broken.h5ad: not a readable h5ad file"):
        ingest_sample(_row(bad, "h5ad"))


def test_empty_and_duplicated_inputs_are_refused(tmp_path):
    empty = tmp_path / "empty.tsv"
    empty.write_text("gene\n")
    with pytest.raises(InputError, match=r"empty.tsv: empty"):
        ingest_sample(_row(empty, "table"))
    dup = tmp_path / "dup.tsv"
    dup.write_text("gene\tc1\tc1\nACTB\t1\t2\nGAPDH\t3\t4\n")
    with pytest.raises(InputError, match=r"dup.tsv: duplicated cell barcodes"):
        ingest_sample(_row(dup, "table", orientation="genes_x_cells"))
    text = tmp_path / "text.tsv"
    text.write_text("gene\tc1\tc2\nACTB\t1\tabc\n")
    with pytest.raises(InputError, match=r"text.tsv: non-numeric value 'abc'"):
        ingest_sample(_row(text, "table"))


def test_duplicated_genes_are_made_unique_and_reported(tmp_path):
    path = tmp_path / "g.tsv"
    path.write_text("gene\tc1\tc2\nACTB\t1\t2\nACTB\t3\t4\nGAPDH\t5\t6\n")
    adata = ingest_sample(_row(path, "table", orientation="genes_x_cells"))
    assert list(adata.var_names) == ["ACTB", "ACTB-1", "GAPDH"]
    assert "duplicated gene names" in adata.uns["ingest"]["notes"][0]


def test_missing_author_label_column_is_named(tmp_path):
    with pytest.raises(InputError, match=r"author label column\(s\) \['celltype'\] not found"):
        ingest_sample(_row("infercnvpy:oligodendroglioma", "packaged"), author_labels={"celltype": "x"})
