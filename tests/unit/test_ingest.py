import gzip
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from cscniche.ingest import detect_gene_ids, detect_value_scale, ingest_sample, read_matrix
from cscniche.io import InputError

from conftest import MALT_MTX, OLIGO_ANNOT, OLIGO_MATRIX, tiny_10x_folder

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


def test_value_scale_sees_rounded_tpm_and_a_few_non_integer_counts_and_can_be_overridden(tmp_path):
    """TPM rounded to integers is still TPM (every cell sums to a million); counts with 0.5% non-integer
    values are still counts; the evidence is kept, and a sample-sheet value_scale overrides the call."""
    from cscniche.ingest import value_scale_evidence

    rng = np.random.default_rng(0)
    counts = rng.poisson(rng.gamma(0.3, 4, size=(50, 400))).astype(float)
    tpm = np.round(counts / counts.sum(axis=1, keepdims=True) * 1e6)
    assert value_scale_evidence(sp.csr_matrix(tpm))[0] == "tpm"
    assert value_scale_evidence(sp.csr_matrix(counts))[0] == "counts"
    slightly = counts.copy()
    slightly[np.nonzero(counts)[0][:20], np.nonzero(counts)[1][:20]] += 0.5  # 20 of about 9,000 values
    scale, evidence = value_scale_evidence(sp.csr_matrix(slightly))
    assert scale == "counts" and "% of non-zero values are integers" in evidence
    equal_depth = np.zeros((20, 5))
    equal_depth[:, 0], equal_depth[:, 1] = 700, 77  # integer cells of equal depth, not a round total
    assert value_scale_evidence(sp.csr_matrix(equal_depth))[0] == "counts"
    path = tmp_path / "tpm.tsv"
    pd.DataFrame(tpm.T, index=[f"G{i}" for i in range(400)], columns=[f"c{i}" for i in range(50)]).to_csv(
        path, sep="\t")
    adata = ingest_sample(_row(path, "table", orientation="genes_x_cells"))
    assert adata.uns["ingest"]["value_scale"] == "tpm" and "cell totals vary by 0.0%" in \
        adata.uns["ingest"]["value_scale_evidence"]
    forced = ingest_sample(_row(path, "table", orientation="genes_x_cells", value_scale="counts"))
    assert forced.uns["ingest"]["value_scale"] == "counts" and forced.uns["ingest"]["value_scale_detected"] == "tpm"
    assert any("value scale counts from the sample sheet (detected: tpm" in n for n in forced.uns["ingest"]["notes"])


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


GSE72056_MALIGNANT = "malignant(1=no,2=yes,0=unresolved)"
GSE72056_TYPE = "non-malignant cell type (1=T,2=B,3=Macro.4=Endo.,5=CAFs;6=NK)"


def _gse72056_shaped(path, shared_data):
    """The oligodendroglioma table in GSE72056's layout: 3 annotation rows, log2(TPM/10+1) values."""
    table = pd.read_csv(OLIGO_MATRIX, sep="\t", index_col=0).iloc[:300]
    labels = pd.read_csv(OLIGO_ANNOT, sep="\t", header=None, index_col=0)[1].loc[table.columns]
    malignant = labels.str.startswith("malignant")
    annotation = pd.DataFrame({
        "tumor": [c.split("_")[0].replace("MGH", "") for c in table.columns],
        GSE72056_MALIGNANT: np.where(malignant, 2, 1),
        GSE72056_TYPE: np.where(malignant, 0, np.where(labels.str.startswith("Microglia"), 3, 0)),
    }, index=table.columns).T
    body = np.log2(table / 10 + 1).round(3)
    pd.concat([annotation.astype(float), body]).rename_axis("Cell").to_csv(path, sep="\t", compression="gzip")
    return malignant


def test_table_with_annotation_rows_gse72056_layout(tmp_path, shared_data):
    path = tmp_path / "GSE72056_shaped.txt.gz"
    truth = _gse72056_shaped(path, shared_data)
    codes = {GSE72056_MALIGNANT: {"1": "non-malignant", "2": "malignant", "0": "unresolved"},
             GSE72056_TYPE: {"0": "", "1": "T", "2": "B", "3": "macrophage", "4": "endothelial", "5": "CAF",
                             "6": "NK"}}
    adata = ingest_sample(_row(path, "table", annotation_rows="3"), author_codes=codes,
                          author_labels={"tumor": "tumour", GSE72056_MALIGNANT: "malignant",
                                         GSE72056_TYPE: "cell_type"})
    assert adata.shape == (184, 300)
    assert (adata.obs["author_malignant"].eq("malignant").to_numpy() == truth.to_numpy()).all()
    assert set(adata.obs["author_cell_type"]) == {"", "macrophage"}
    assert set(adata.obs["author_tumour"]) == {"93", "97", "36", "53", "54"}
    assert adata.uns["ingest"]["value_scale"] == "log"
    assert "A2M" in adata.var_names and "tumor" not in adata.var_names


def test_mtx_tarballs_with_10x_and_geo_names(tmp_path, shared_data):
    import shutil
    import tarfile

    with tarfile.open(tmp_path / "malt.tar.gz", "w:gz") as tar:
        tar.add(MALT_MTX, arcname="filtered_feature_bc_matrix")
    adata = ingest_sample(_row(tmp_path / "malt.tar.gz", "10x_mtx"))
    assert adata.shape == (1100, 33538) and adata.uns["ingest"]["value_scale"] == "counts"
    # GSE176078 layout: count_matrix_* names, plain files, metadata.csv inside the archive
    folder = tmp_path / "Wu_etal_2021_BRCA_scRNASeq"
    folder.mkdir()
    for src, dest in (("matrix.mtx.gz", "count_matrix_sparse.mtx"), ("barcodes.tsv.gz", "count_matrix_barcodes.tsv")):
        with gzip.open(MALT_MTX / src, "rb") as fh:
            (folder / dest).write_bytes(fh.read())
    genes = pd.read_csv(MALT_MTX / "features.tsv.gz", sep="\t", header=None)[[1]]
    genes.to_csv(folder / "count_matrix_genes.tsv", sep="\t", header=False, index=False)
    barcodes = pd.read_csv(folder / "count_matrix_barcodes.tsv", header=None)[0]
    pd.DataFrame({"orig.ident": "CID1", "celltype_major": ["B-cells"] * len(barcodes)},
                 index=barcodes).to_csv(folder / "metadata.csv")
    with tarfile.open(tmp_path / "brca.tar.gz", "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    shutil.rmtree(folder)
    adata = ingest_sample(_row(tmp_path / "brca.tar.gz", "10x_mtx", annotation="metadata.csv",
                               cell_pattern=".*-1$"), author_labels={"celltype_major": "cell_type"})
    assert adata.n_vars == 33538 and adata.n_obs > 0
    assert (adata.obs["author_cell_type"] == "B-cells").all()


def test_corrupt_tarball_is_named(tmp_path):
    bad = tmp_path / "sample.tar.gz"
    bad.write_bytes(b"\x1f\x8b not really")
    with pytest.raises(InputError, match=r"sample.tar.gz: not a readable tar archive"):
        ingest_sample(_row(bad, "10x_mtx"))


@pytest.mark.parametrize("member", ["../escaped.txt", "/tmp/absolute.txt", "link"])
def test_a_tar_member_that_escapes_its_folder_is_refused(tmp_path, member):
    """A member with ``..`` or under a link pointing outside stops ingest, naming the archive; an absolute
    member is read relative to the archive's folder (leading ``/`` stripped). Nothing is written outside the
    temporary folder."""
    import io
    import tarfile

    (tmp_path / "inner").mkdir()
    archive = tmp_path / "inner" / "sample.tar.gz"
    source = tiny_10x_folder(tmp_path / "inner" / "source")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname="filtered_feature_bc_matrix")
        info = tarfile.TarInfo(member)
        if member == "link":
            info.type, info.linkname = tarfile.SYMTYPE, str(tmp_path)
            tar.addfile(info)
            info = tarfile.TarInfo("link/escaped.txt")
        data = b"outside"
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    before = sorted(tmp_path.rglob("*"))
    if member.startswith("/"):
        assert ingest_sample(_row(archive, "10x_mtx")).n_obs > 0
    else:
        with pytest.raises(InputError, match=r"sample.tar.gz: refused a tar member that would be written outside"):
            ingest_sample(_row(archive, "10x_mtx"))
    assert sorted(tmp_path.rglob("*")) == before and not Path("/tmp/absolute.txt").exists()


def test_cell_filter_selects_one_tumour_from_an_annotation_row(tmp_path, shared_data):
    path = tmp_path / "GSE72056_shaped.txt.gz"
    _gse72056_shaped(path, shared_data)
    adata = ingest_sample(_row(path, "table", annotation_rows="3", cell_filter="tumor=93"))
    assert adata.n_obs == 40 and adata.obs_names.str.startswith("93_").all()
    with pytest.raises(InputError, match=r"no cell has tumor = '12'"):
        ingest_sample(_row(path, "table", annotation_rows="3", cell_filter="tumor=12"))


def test_empty_corrupt_and_matrixless_h5ad_are_named(tmp_path):
    """A 0-byte or corrupt h5ad reaches ingest (the memory estimate falls back to the file size) and is
    refused there with its name; an h5ad without X says what to do."""
    from cscniche.resources import h5ad_cells, input_mb

    empty, corrupt, no_x = tmp_path / "empty.h5ad", tmp_path / "corrupt.h5ad", tmp_path / "no_x.h5ad"
    empty.write_bytes(b"")
    corrupt.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 500)
    ad.AnnData(obs=pd.DataFrame(index=["c1", "c2"]), var=pd.DataFrame(index=["g1"])).write_h5ad(no_x)
    assert input_mb([empty, corrupt], floor=0) == pytest.approx(508 / 1e6) and h5ad_cells(corrupt) == 0
    with pytest.raises(InputError, match=r"empty.h5ad: empty file \(0 bytes\)"):
        ingest_sample(_row(empty, "h5ad"))  # a corrupt one: test_corrupt_h5ad_is_rejected_naming_the_file
    with pytest.raises(InputError, match=r"no_x.h5ad: the h5ad file has no expression matrix \(X\)"):
        ingest_sample(_row(no_x, "h5ad"))


def test_yaml_with_a_python_tag_is_refused_with_the_file_named(tmp_path):
    from cscniche.annotate import load_marker_sets

    bad = tmp_path / "markers.yaml"
    bad.write_text("cell_types: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(InputError, match=r"markers.yaml: not valid YAML \(could not determine a constructor"):
        load_marker_sets([bad])


@pytest.mark.parametrize(("body", "message"), [
    ("g1\t1\t2\ng2\t3\tNA\n", r"missing value at row 'g2', column 'c2' \(an empty field, NA"),
    ("g1\t1\t2\ng2\t3\n", r"missing value at row 'g2', column 'c2' .*fewer fields than the header"),
    ("g1\t1\tinf\ng2\t3\t4\n", r"infinite value at row 'g1', column 'c2'; 1 such value"),
    ("g1\t1\tx\ng2\t3\t4\n", r"non-numeric value 'x' at row 'g1', column 'c2'"),
], ids=["NA", "short row", "inf", "text"])
def test_incomplete_or_infinite_tables_are_refused_naming_the_place(tmp_path, body, message):
    path = tmp_path / "expr.tsv"
    path.write_text("gene\tc1\tc2\n" + body)
    with pytest.raises(InputError, match=message):
        ingest_sample(_row(path, "table"))


def test_a_trailing_separator_adds_no_cell(tmp_path):
    path = tmp_path / "expr.tsv"
    path.write_text("gene\tc1\tc2\t\nCD3E\t1\t2\t\nMS4A1\t3\t0\t\n")  # every line ends with a tab
    adata = ingest_sample(_row(path, "table", orientation="genes_x_cells"))
    assert list(adata.obs_names) == ["c1", "c2"] and adata.X.toarray().tolist() == [[1, 3], [2, 0]]


def test_damaged_matrixmarket_headers_and_bodies_are_named(tmp_path):
    folder = tmp_path / "sample"
    folder.mkdir()
    (folder / "features.tsv").write_text("ENSG1\tCD3E\nENSG2\tMS4A1\n")
    (folder / "barcodes.tsv").write_text("AAAC-1\nAAAG-1\nAAAT-1\n")
    header = "%%MatrixMarket matrix coordinate integer general\n"
    (folder / "matrix.mtx").write_text(header + "2 3 1000000000000\n1 1 5\n")
    with pytest.raises(InputError, match=r"matrix.mtx declares 1,000,000,000,000 entries for 2 x 3.*damaged header"):
        ingest_sample(_row(folder, "10x_mtx"))
    (folder / "matrix.mtx").write_text(header + "2 3 2\n1 1 5\n1 x\n")
    with pytest.raises(InputError, match=r"matrix.mtx is not a readable MatrixMarket file"):
        ingest_sample(_row(folder, "10x_mtx"))
    (folder / "matrix.mtx").write_text("not a matrix\n")
    with pytest.raises(InputError, match=r"matrix.mtx has no readable MatrixMarket header"):
        ingest_sample(_row(folder, "10x_mtx"))
    (folder / "matrix.mtx").write_text(header + "2 3 2\n1 1 5\n2 3 1\n")
    assert ingest_sample(_row(folder, "10x_mtx")).X.toarray().tolist() == [[5, 0], [0, 0], [0, 1]]


def test_a_header_without_a_line_break_is_refused_before_it_is_parsed(tmp_path, monkeypatch):
    import cscniche.inputs as inputs

    monkeypatch.setattr(inputs, "HEADER_MAX_CHARS", 1000)
    path = tmp_path / "expr.tsv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("gene" + "\tcell" * 5000)  # 25,000 characters, no line break
    with pytest.raises(InputError, match=r"line 1 is longer than 1,000 characters"):
        ingest_sample(_row(path, "table"))


def test_orientation_needs_evidence_or_the_sheet(tmp_path):
    """A square table whose names are neither known genes nor barcodes is not guessed; lower-case (mouse-style)
    symbols and the sample sheet's orientation decide."""
    path = tmp_path / "square.tsv"
    pd.DataFrame(np.eye(3), index=["a1", "a2", "a3"], columns=["b1", "b2", "b3"]).to_csv(path, sep="\t")
    with pytest.raises(InputError, match=r"cannot tell whether rows or columns are genes .*set orientation"):
        ingest_sample(_row(path, "table"))
    assert ingest_sample(_row(path, "table", orientation="cells_x_genes")).obs_names.tolist() == ["a1", "a2", "a3"]
    mouse = tmp_path / "mouse.tsv"
    pd.DataFrame(np.eye(3), index=["cellA", "cellB", "cellC"], columns=["Actb", "Cd3e", "Ptprc"]).to_csv(
        mouse, sep="\t")
    assert ingest_sample(_row(mouse, "table")).var_names.tolist() == ["Actb", "Cd3e", "Ptprc"]


def test_samples_checked_together_report_shared_genes_and_flag_low_overlap(tmp_path):
    """Samples on one scale pass with their shared genes counted; a sample with few shared genes is flagged;
    a third sample on another scale stops the check naming the samples and their evidence."""
    from cscniche.inputs import check_samples_agree
    from cscniche.report import _shared_genes_notes

    def sample(name: str, genes: list[str], scale: str) -> Path:
        adata = ad.AnnData(sp.csr_matrix(np.ones((4, len(genes)), dtype=np.float32)),
                           var=pd.DataFrame(index=genes))
        adata.uns["ingest"] = {"sample": name, "value_scale": scale, "value_scale_evidence": f"{scale} evidence"}
        adata.write_h5ad(tmp_path / f"{name}.h5ad")
        return tmp_path / f"{name}.h5ad"

    a = sample("A", [f"G{i}" for i in range(100)], "counts")
    b = sample("B", [f"G{i}" for i in range(90)] + ["X1"], "counts")
    c = sample("C", [f"G{i}" for i in range(40)] + [f"Y{i}" for i in range(60)], "counts")
    table = check_samples_agree([a, b, c]).set_index("sample")
    assert table["shared_genes"].tolist() == [40, 40, 40] and table.loc["B", "genes"] == 91
    assert table["warning"].tolist() == [True, True, True]
    assert not check_samples_agree([a, b]).set_index("sample")["warning"].any()
    notes = " ".join(_shared_genes_notes(table.reset_index()))
    assert "The 3 samples share 40 genes" in notes and "sample C has 40 of its 100 genes in every sample (40%)" in notes
    d = sample("D", [f"G{i}" for i in range(100)], "tpm")
    with pytest.raises(InputError, match=r"different value scales: A: counts \(counts evidence\);.*D: tpm"):
        check_samples_agree([a, b, d])
