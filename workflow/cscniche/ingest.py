"""Ingest: read one sample into AnnData.

Readers for 10x h5 / 10x mtx / h5ad / dense tables / packaged datasets; detect the value scale and the gene-id
type, attach sample metadata and author labels.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc
import scipy.sparse as sp

from .inputs import ARCHIVE_SUFFIXES, MTX_PATTERNS, check_input, find_file, header_fields, mtx_size
from .io import InputError, read_h5ad_checked

VALUE_SCALES = ("counts", "tpm", "log")
ENSEMBL = re.compile(r"^ENS[A-Z]*G\d{6,}(\.\d+)?$")
BARCODE = re.compile(r"^[ACGTN]{8,}([-_.]\w+)?$")
COMMON_GENES = {"ACTB", "GAPDH", "B2M", "MALAT1", "TMSB4X", "FTL", "FTH1", "EEF1A1", "TPT1", "UBC", "PTPRC",
                "CD74", "HLA-DRA", "VIM", "MYL6", "ACTG1", "TMSB10", "PPIA", "UBB", "SRGN", "A2M", "AAAS"}
TABLE_CHUNK_ROWS = 2000


def _read_10x_h5(path: Path) -> ad.AnnData:
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


GENE_LIST = Path(__file__).parent / "data" / "hg38_gencode_v27.txt.gz"  # the shipped GENCODE gene symbols
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


VALUE_SCALES = ("counts", "tpm", "log")


def value_scale_evidence(X: sp.spmatrix | np.ndarray) -> tuple[str, str]:
    """The value scale of a cells x genes matrix (``counts``, ``tpm`` or ``log``) and the evidence, in words.

    Negative values: ``log`` (scaled or centred). Cell totals that agree within 2% (10+ cells), of
    non-integer values or near a power of ten (10^4 or more): ``tpm``, a matrix normalised per cell, even
    when its values were rounded to integers. At least 99% integers:
    ``counts`` (a few non-integer values, e.g. from a corrected matrix, do not change that). Otherwise
    ``log`` when the largest value is at most 30, else ``tpm``. A sample-sheet column ``value_scale``
    overrides the call (:func:`ingest_sample`).
    """
    data = X.data if sp.issparse(X) else np.asarray(X).ravel()
    if data.size == 0:
        return "counts", "no non-zero value"
    sample = data[:: max(1, data.size // 200_000)]
    integer = float(np.mean(np.isclose(sample, np.round(sample))))
    totals = np.asarray(X.sum(axis=1)).ravel()
    totals = totals[totals > 0]
    spread = float(np.std(totals) / np.mean(totals)) if len(totals) else np.nan
    evidence = (f"{integer:.1%} of non-zero values are integers, largest {sample.max():.4g}, "
                f"{int(np.sum(sample < 0))} negative (of {sample.size:,} sampled); cell totals vary by "
                f"{spread:.1%} (coefficient of variation)")
    if np.any(sample < 0):
        scale = "log"
    elif len(totals) >= 10 and spread < 0.02 and sample.max() > 30 and (integer < 0.99 or _round_total(totals)):
        scale = "tpm"
    elif integer >= 0.99:
        scale = "counts"
    else:
        scale = "log" if sample.max() <= 30 else "tpm"
    return scale, evidence


def _round_total(totals: np.ndarray) -> bool:
    """Whether the median cell total is within 5% of 10^4, 10^5, 10^6 or 10^7 (a normalisation target)."""
    median = float(np.median(totals))
    return any(abs(median / 10**k - 1) < 0.05 for k in range(4, 8))


def detect_value_scale(X: sp.spmatrix | np.ndarray) -> str:
    """The value scale of a cells x genes matrix (:func:`value_scale_evidence` without the evidence)."""
    return value_scale_evidence(X)[0]


def detect_gene_ids(var_names: pd.Index) -> str:
    """``ensembl`` when most ids are Ensembl gene ids, else ``symbol``."""
    return "ensembl" if pd.Index(var_names.astype(str)).str.match(ENSEMBL.pattern).mean() > 0.5 else "symbol"


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


def ingest_sample(
    row: dict, *, author_labels: dict[str, str] | None = None, author_codes: dict[str, dict] | None = None
) -> ad.AnnData:
    """Read one sample-sheet row into an AnnData ready for QC.

    Parameters
    ----------
    row
        Sample sheet row: ``sample, patient, path, format`` and optional ``cell_pattern``,
        ``annotation``, ``orientation`` and free metadata columns.
    author_labels
        ``{input column: name}``; each kept as ``obs['author_<name>']``.
    author_codes
        ``{input column: {code: label}}`` to decode coded annotations (e.g. GSE72056's 1 = T cell).

    Returns
    -------
    AnnData with ``obs``: ``sample``, ``patient``, metadata and ``author_*`` columns;
    ``uns['ingest']``: ``value_scale``, ``gene_ids``, the source and what was changed.
    """
    from .config import RESERVED_COLUMNS

    path, fmt = row["path"], row["format"]
    annotation = row.get("annotation") or None
    in_archive = annotation and not Path(annotation).exists() and str(path).endswith(ARCHIVE_SUFFIXES)
    adata = read_matrix(path, fmt, orientation=row.get("orientation") or "auto",
                        annotation_rows=int(row.get("annotation_rows") or 0),
                        archive_annotation=annotation if in_archive else None)
    if adata.X is None:
        raise InputError(f"{path}: the h5ad file has no expression matrix (X); put the counts in X")
    adata.obs_names = adata.obs_names.astype(str)
    adata.var_names = adata.var_names.astype(str)
    if annotation and not in_archive:
        table = read_annotation(annotation, adata.obs_names)
        missing = ~adata.obs_names.isin(table.index)
        if missing.all():
            raise InputError(f"{row['annotation']}: no cell id matches the cells of {path}")
        adata.obs = adata.obs.join(table, how="left")
    if row.get("cell_filter"):
        column, _, value = row["cell_filter"].partition("=")
        if column not in adata.obs:
            raise InputError(f"{path}: cell_filter column {column!r} not found; available: {list(adata.obs)}")
        adata = adata[adata.obs[column].astype(str).str.strip().eq(value)].copy()
        if adata.n_obs == 0:
            raise InputError(f"{path}: no cell has {column} = {value!r} (sample {row['sample']})")
    if row.get("cell_pattern"):
        adata = adata[adata.obs_names.str.match(row["cell_pattern"])].copy()
        if adata.n_obs == 0:
            raise InputError(f"{path}: no cell id matches cell_pattern {row['cell_pattern']!r} "
                             f"(sample {row['sample']})")
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise InputError(f"{path}: empty matrix ({adata.n_obs} cells x {adata.n_vars} genes)")
    if adata.obs_names.duplicated().any():
        dups = adata.obs_names[adata.obs_names.duplicated()][:3].tolist()
        raise InputError(f"{path}: duplicated cell barcodes, e.g. {dups}")
    notes = []
    if adata.var_names.duplicated().any():
        n_dup = int(adata.var_names.duplicated().sum())
        adata.var_names_make_unique()
        notes.append(f"{n_dup} duplicated gene names made unique (suffix -1, -2, ...)")
    if not sp.issparse(adata.X):
        adata.X = sp.csr_matrix(adata.X)
    adata.X = sp.csr_matrix(adata.X, dtype=np.float32)
    for column, codes in (author_codes or {}).items():
        if column in adata.obs:
            decode = {str(k): str(v) for k, v in codes.items()}
            adata.obs[column] = adata.obs[column].astype(str).map(lambda v, c=decode: c.get(v, v))
    labels = author_labels or {}
    absent = [c for c in labels if c not in adata.obs]
    if absent:
        raise InputError(f"{path}: author label column(s) {absent} not found; available: {list(adata.obs)}")
    obs = pd.DataFrame(index=adata.obs_names)
    obs["sample"], obs["patient"] = row["sample"], row["patient"]
    for key, value in row.items():
        if key not in RESERVED_COLUMNS and value != "":
            obs[key] = value
    for column, name in labels.items():
        obs[f"author_{name}"] = adata.obs[column].astype(str).replace("nan", "").to_numpy()
    adata.obs = obs
    keep_var = [c for c in ("chromosome", "start", "end") if c in adata.var]
    adata.var = adata.var[keep_var].copy()
    detected, evidence = value_scale_evidence(adata.X)
    scale = row.get("value_scale") or detected
    if scale != detected:
        notes.append(f"value scale {scale} from the sample sheet (detected: {detected}; {evidence})")
    adata.uns = {"ingest": {
        "sample": row["sample"], "path": str(path), "format": fmt,
        "value_scale": scale, "value_scale_detected": detected, "value_scale_evidence": evidence,
        "gene_ids": detect_gene_ids(adata.var_names),
        "n_cells": int(adata.n_obs), "n_genes": int(adata.n_vars), "notes": notes,
    }}
    if row.get("doublet_rate", ""):
        adata.uns["ingest"]["doublet_rate"] = float(row["doublet_rate"])
    return adata
