"""Readers for 10x h5, 10x MatrixMarket (folder or tar archive), h5ad, dense tables and packaged datasets."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..inputs import ARCHIVE_SUFFIXES, MTX_PATTERNS, check_input, find_file, header_fields, mtx_size
from ..io import InputError, read_h5ad_checked
from .values import ENSEMBL

BARCODE = re.compile(r"^[ACGTN]{8,}([-_.]\w+)?$")


COMMON_GENES = {"ACTB", "GAPDH", "B2M", "MALAT1", "TMSB4X", "FTL", "FTH1", "EEF1A1", "TPT1", "UBC", "PTPRC",
                "CD74", "HLA-DRA", "VIM", "MYL6", "ACTG1", "TMSB10", "PPIA", "UBB", "SRGN", "A2M", "AAAS"}


TABLE_CHUNK_ROWS = 2000


def _read_10x_h5(path: Path) -> ad.AnnData:
    import scanpy as sc  # here: an ingest job of another format does not pay its import

    return sc.read_10x_h5(path)


def _read_mtx_folder(folder: Path, source: Path | None = None) -> ad.AnnData:
    """Read a MatrixMarket folder (genes x cells) into a cells x genes AnnData.

    10x names (matrix.mtx, features/genes.tsv, barcodes.tsv, gzipped or not) or GEO variants such as
    ``count_matrix_sparse.mtx`` / ``count_matrix_genes.tsv`` / ``*_barcodes.tsv``. Genes are named by the
    symbol column when the gene list has two or more columns.
    """
    import scipy.io

    source = source or folder
    matrix, genes, barcodes = (find_file(folder, patterns, what, source) for what, patterns in MTX_PATTERNS.items())
    gene_table = pd.read_csv(genes, sep="\t", header=None, dtype=str)
    names = gene_table[1] if gene_table.shape[1] >= 2 else gene_table[0]
    cells = pd.read_csv(barcodes, sep="\t", header=None, dtype=str)[0]
    n_genes, n_cells = mtx_size(matrix, source)
    if (n_cells, n_genes) != (len(cells), len(names)):
        raise InputError(f"{source}: matrix is {n_genes} genes x {n_cells} cells but the lists have "
                         f"{len(names)} genes and {len(cells)} barcodes")
    try:
        X = sp.csr_matrix(scipy.io.mmread(matrix).T, dtype=np.float32)
    except (ValueError, IndexError, OSError, EOFError) as err:
        raise InputError(f"{source}: {matrix.name} is not a readable MatrixMarket file ({err})") from err
    return ad.AnnData(X, obs=pd.DataFrame(index=cells.to_numpy()), var=pd.DataFrame(index=names.to_numpy()))


def _read_10x_mtx(path: Path, archive_annotation: str | None = None) -> ad.AnnData:
    """A 10x/MatrixMarket folder, or a tarball of one (extracted safely to a temporary folder)."""
    if not path.name.endswith(ARCHIVE_SUFFIXES):
        return _read_mtx_folder(path)
    import tarfile
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        try:
            with tarfile.open(path) as tar:
                tar.extractall(tmp, filter="data")
        except tarfile.FilterError as err:
            raise InputError(f"{path}: refused a tar member that would be written outside the archive's own "
                             f"folder or is not a plain file or folder ({err})") from err
        except (tarfile.TarError, OSError, EOFError) as err:
            raise InputError(f"{path}: not a readable tar archive ({err})") from err
        adata = _read_mtx_folder(Path(tmp), path)
        if archive_annotation:
            member = find_file(Path(tmp), (archive_annotation,), f"annotation {archive_annotation}", path)
            adata.obs = adata.obs.join(read_annotation(member, adata.obs_names), how="left")
    return adata


GENE_LIST = Path(__file__).parents[1] / "data" / "hg38_gencode_v27.txt.gz"  # the shipped GENCODE gene symbols


ORIENTATION_EVIDENCE = 0.2  # the share of names one side must win by


@functools.cache
def _known_symbols() -> frozenset[str]:
    """Upper-case gene symbols of the shipped GENCODE list (56,609), plus a few common ones."""
    symbols = pd.read_csv(GENE_LIST, sep="\t", header=None, usecols=[0], dtype=str)[0].str.upper()
    return frozenset(symbols) | COMMON_GENES


def _looks_like_genes(labels: pd.Index) -> float:
    """Share of labels that are gene identifiers, less the share that are cell barcodes.

    Gene identifiers: GENCODE symbols (any case), Ensembl ids, ``MT-``/ribosomal protein names.
    """
    labels = pd.Index(labels.astype(str))
    if len(labels) == 0:
        return 0.0
    gene = labels.str.match(ENSEMBL.pattern) | labels.str.upper().isin(_known_symbols()) | \
        labels.str.match(r"^(MT-|RP[LS]\d)")
    barcode = labels.str.match(BARCODE.pattern)
    return float(gene.mean() - barcode.mean())


def _orientation(path: Path, row_names: pd.Index, col_names: pd.Index) -> str:
    """``genes_x_cells`` or ``cells_x_genes`` by which side's names are genes; refused without evidence."""
    if len(row_names) == 0 or len(col_names) == 0:
        return "genes_x_cells"  # an empty table: refused as such later
    rows, cols = _looks_like_genes(row_names), _looks_like_genes(col_names)
    if abs(rows - cols) < ORIENTATION_EVIDENCE:
        raise InputError(f"{path}: cannot tell whether rows or columns are genes ({rows:.0%} of row names and "
                         f"{cols:.0%} of column names are known gene symbols or Ensembl ids, less barcodes; first "
                         f"rows {list(row_names[:3])}, first columns {list(col_names[:3])}); set orientation "
                         "(genes_x_cells or cells_x_genes) in the sample sheet")
    return "genes_x_cells" if rows > cols else "cells_x_genes"


def _refuse_bad_values(path: Path, chunk: pd.DataFrame, values: pd.DataFrame) -> None:
    """A non-numeric, missing (empty, NA, or a short row) or infinite value stops ingest, naming its place."""
    problems = (("non-numeric value", values.isna() & chunk.notna()),
                ("missing value", chunk.isna()), ("infinite value", np.isinf(values.fillna(0))))
    for what, bad in problems:
        if bad.to_numpy().any():
            r, c = np.argwhere(bad.to_numpy())[0]
            value = f" {chunk.iat[r, c]!r}" if what.startswith("non") else ""
            hint = " (an empty field, NA, or a row with fewer fields than the header)" if what.startswith("miss") \
                else ""
            raise InputError(f"{path}: {what}{value} at row {chunk.index[r]!r}, column {chunk.columns[c]!r}{hint}; "
                             f"{int(bad.to_numpy().sum())} such value(s) in this block of rows. An expression table "
                             "must be complete")


def _read_table(path: Path, orientation: str = "auto", annotation_rows: int = 0) -> ad.AnnData:
    """Read a dense (optionally gzipped) tsv/csv expression table in chunks into a sparse AnnData.

    With ``annotation_rows`` > 0 the table is genes x cells and its first rows after the header are
    cell annotations (GEO layouts such as GSE72056 / GSE103322); they become ``obs`` columns named by
    their first field, with integer codes kept as text (``"2"``, not ``"2.0"``).
    """
    sep = "," if ".csv" in path.suffixes else "\t"
    annotations = None
    try:
        if annotation_rows:
            annotations = pd.read_csv(path, sep=sep, index_col=0, nrows=annotation_rows, dtype=str)
            orientation = "genes_x_cells"
        reader = pd.read_csv(path, sep=sep, index_col=0, chunksize=TABLE_CHUNK_ROWS,
                             skiprows=range(1, annotation_rows + 1) if annotation_rows else None)
        header = header_fields(path, sep)
        rows, blocks, keep = [], [], None
        for chunk in reader:
            if keep is None:  # a trailing separator makes an unnamed, empty last column: not a cell
                names = np.asarray(header[-chunk.shape[1]:] if chunk.shape[1] else [], dtype=object)
                keep = ~((names == "") & chunk.isna().all(axis=0).to_numpy())
            if chunk.loc[:, ~keep].notna().to_numpy().any():
                raise InputError(f"{path}: a column without a name in the header holds values")
            chunk = chunk.loc[:, keep]
            values = chunk.apply(pd.to_numeric, errors="coerce")
            _refuse_bad_values(path, chunk, values)
            rows.append(chunk.index.astype(str))
            blocks.append(sp.csr_matrix(values.to_numpy(np.float32)))
    except (pd.errors.ParserError, UnicodeDecodeError, EOFError, OSError) as err:
        raise InputError(f"{path}: not a readable expression table ({err})") from err
    if not blocks:
        raise InputError(f"{path}: empty expression table")
    row_names = pd.Index(np.concatenate(rows))
    col_names = pd.Index(names[keep])
    if annotations is not None:
        annotations = annotations.loc[:, keep]
    matrix = sp.vstack(blocks, format="csr")
    if orientation in ("", "auto"):
        orientation = _orientation(path, row_names, col_names)
    if orientation == "genes_x_cells":
        obs = pd.DataFrame(index=col_names)
        if annotations is not None:
            obs = annotations.T.set_axis(col_names).apply(lambda c: c.str.strip().str.replace(r"\.0+$", "", regex=True))
        return ad.AnnData(matrix.T.tocsr(), obs=obs, var=pd.DataFrame(index=row_names))
    return ad.AnnData(matrix, obs=pd.DataFrame(index=row_names), var=pd.DataFrame(index=col_names))


def _read_packaged(name: str) -> ad.AnnData:
    """Datasets shipped inside installed packages (available offline)."""
    if name == "infercnvpy:oligodendroglioma":
        import infercnvpy as cnv

        return cnv.datasets.oligodendroglioma()
    raise InputError(f"unknown packaged dataset {name!r}; known: ['infercnvpy:oligodendroglioma']")


READERS = {"10x_h5": _read_10x_h5, "10x_mtx": _read_10x_mtx, "h5ad": read_h5ad_checked, "table": _read_table}


def read_matrix(path: str | Path, fmt: str, *, orientation: str = "auto", annotation_rows: int = 0,
                archive_annotation: str | None = None) -> ad.AnnData:
    """Read an expression matrix in one of the supported formats (cells x genes AnnData).

    ``archive_annotation`` names an annotation table inside a ``10x_mtx`` tarball (e.g. GSE176078's
    ``metadata.csv``), joined to ``obs`` by cell id.
    """
    if fmt == "packaged":
        return _read_packaged(str(path))
    path = Path(path)
    if fmt not in READERS:
        raise InputError(f"{path}: unknown format {fmt!r}; expected one of {[*READERS, 'packaged']}")
    check_input(path, fmt)
    if fmt == "table":
        return _read_table(path, orientation, annotation_rows)
    if fmt == "10x_mtx":
        return _read_10x_mtx(path, archive_annotation)
    try:
        return READERS[fmt](path)
    except InputError:
        raise
    except Exception as err:
        raise InputError(f"{path}: cannot be read as {fmt} ({type(err).__name__}: {err})") from err


def read_annotation(path: str | Path, cell_ids: pd.Index) -> pd.DataFrame:
    """Read a cell annotation table (first column cell id; header optional: detected by the first row)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: annotation file not found")
    sep = "," if ".csv" in path.suffixes else "\t"
    raw = pd.read_csv(path, sep=sep, header=None, dtype=str, keep_default_na=False)
    if raw.shape[1] < 2:
        raise InputError(f"{path}: annotation table needs a cell-id column and at least one label column")
    has_header = raw.iat[0, 0] not in set(cell_ids)
    if has_header:
        table = raw.iloc[1:].set_axis(["cell_id", *raw.iloc[0, 1:]], axis=1)
    else:
        names = ["label"] + [f"label_{i}" for i in range(2, raw.shape[1])]
        table = raw.set_axis(["cell_id", *names], axis=1)
    table = table.set_index("cell_id")
    if table.index.duplicated().any():
        raise InputError(f"{path}: duplicated cell ids {table.index[table.index.duplicated()][:3].tolist()}")
    return table
