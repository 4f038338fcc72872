"""Reading parts of a stage's files: the annotations with the matrix, some rows, some genes."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import anndata as ad
from .files import InputError


def read_stage(matrix: str | os.PathLike, annotations: str | os.PathLike | None = None, *, x: bool = True,
               layers: bool = False, graph: bool = False, where: tuple[str, str] | None = None,
               genes: Iterable[str] | None = None) -> ad.AnnData:
    """The clustered data with a later stage's cell annotations, reading only what a step needs.

    The expression matrix is written once (``cluster/clustered.h5ad``); later stages write annotation
    files (:func:`write_annotations`: ``obs``, ``var``, ``obsm``, ``varm``, ``uns``, no matrix). This joins
    the two: ``X`` from ``matrix`` (plus its ``layers`` and ``obsp`` kNN graph when asked), everything else
    from ``annotations`` (or from ``matrix`` when ``None``). ``where=(column, value)`` reads only the cells
    whose ``obs[column]`` (as text) is ``value``: their rows of the matrix and layers, their sub-graph.
    ``genes`` reads only those genes (those in the file, in its order): their columns of the matrix and
    layers, read in blocks of rows, so memory holds the selected columns and one block, never the matrix.
    ``x=False`` leaves the matrix out (``X`` is ``None``).

    Raises
    ------
    InputError
        When a file is missing or unreadable, the two files do not describe the same cells and genes, or
        none of ``genes`` is in the file.
    """
    import anndata as ad
    import h5py

    parts = (["X"] if x else []) + ["obs", "var"] + (["layers"] if layers else []) + (["obsp"] if graph else [])
    rows = cols = None
    if where is not None:
        column, value = where
        source = Path(annotations if annotations is not None else matrix)
        obs = _read_parts(source, ["obs"], h5py)["obs"]
        if column not in obs:
            raise InputError(f"{source}: no obs column {column!r}")
        rows = _as_slice(np.flatnonzero(obs[column].astype(str).to_numpy() == str(value)))
    if genes is not None:
        asked = list(genes)
        var = _read_parts(Path(matrix), ["var"], h5py)["var"]
        cols = np.flatnonzero(var.index.isin(asked))
        if not len(cols):
            raise InputError(f"{matrix}: none of the {len(asked)} genes asked for is in the file (its first genes: "
                             f"{list(var.index[:5])}; asked for: {asked[:5]})")
    meta = ["obsm", "varm", "uns"] if annotations is None else []
    data = _read_parts(Path(matrix), parts + meta, h5py, rows, cols)
    if annotations is not None:
        notes = _read_parts(Path(annotations), ["obs", "var", "obsm", "varm", "uns"], h5py, rows, cols)
        if not (notes["obs"].index.equals(data["obs"].index) and notes["var"].index.equals(data["var"].index)):
            raise InputError(f"{annotations}: its cells or genes differ from {matrix}'s; rerun the stage that "
                             "wrote it")
        data |= notes
    return ad.AnnData(**data)


def _as_slice(rows: np.ndarray) -> slice | np.ndarray:
    """Consecutive row numbers as a slice (read in one piece), others unchanged."""
    if len(rows) and rows[-1] - rows[0] == len(rows) - 1:
        return slice(int(rows[0]), int(rows[-1]) + 1)
    return rows


def _read_parts(path: Path, parts: list[str], h5py, rows: slice | np.ndarray | None = None,
                cols: np.ndarray | None = None) -> dict:
    from anndata.io import read_elem

    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        with h5py.File(path, "r") as fh:
            if rows is None and cols is None:
                return {k: read_elem(fh[k]) for k in parts if k in fh}
            return {k: _read_subset(fh[k], k, rows, cols) for k in parts if k in fh}
    except Exception as err:  # h5py/anndata raise many types for corrupt files
        raise InputError(f"{path}: not a readable h5ad file ({type(err).__name__}: {err})") from err


READ_BLOCK_ROWS = 20_000  # rows read at a time when only some columns are kept


def _read_subset(elem, key: str, rows: slice | np.ndarray | None, cols: np.ndarray | None):
    """Part ``key`` of an h5ad file restricted to some cells (``rows``) and genes (``cols``); ``None`` is all.

    Only the selected rows of matrices are read; a column selection is read in blocks of rows.
    """
    from anndata.io import read_elem

    def pick(table, index):
        if index is None:
            return table
        return table.iloc[index] if isinstance(table, pd.DataFrame) else table[index]

    if key == "X":
        return _matrix_subset(elem, rows, cols)
    if key == "layers":
        return {name: _matrix_subset(item, rows, cols) for name, item in elem.items()}
    if key == "obsp":
        return {name: read_elem(item) if rows is None else _matrix_subset(item, rows, None)[:, rows]
                for name, item in elem.items()}
    if key == "obsm":  # arrays: only the rows (X_cnv, X_pca, ... of a few cells, not of all)
        return {name: _matrix_subset(item, rows, None) if _is_matrix(item) else pick(read_elem(item), rows)
                for name, item in elem.items()}
    if key == "varm":
        return {name: pick(value, cols) for name, value in read_elem(elem).items()}
    if key in ("obs", "var"):
        return pick(read_elem(elem), rows if key == "obs" else cols)
    return read_elem(elem)


def _is_matrix(item) -> bool:
    """Whether an h5ad element is a dense array or a sparse matrix (not a data frame, not a mapping)."""
    import h5py

    return isinstance(item, h5py.Dataset) or item.attrs.get("encoding-type") in ("csr_matrix", "csc_matrix")


def _matrix_subset(item, rows: slice | np.ndarray | None, cols: np.ndarray | None):
    """Rows and columns of an on-disk matrix (dense dataset or sparse group); columns in blocks of rows."""
    import scipy.sparse as sp
    from anndata.io import read_elem, sparse_dataset

    dense = hasattr(item, "shape")
    matrix = item if dense else sparse_dataset(item)
    if cols is None:
        if rows is None:
            return read_elem(item)
        return matrix[rows] if not dense or isinstance(rows, slice) or len(rows) else item[:0]
    n_rows = matrix.shape[0]
    wanted = np.arange(n_rows)[rows] if rows is not None else np.arange(n_rows)
    blocks = [matrix[_as_slice(wanted[i:i + READ_BLOCK_ROWS])][:, cols]
              for i in range(0, len(wanted), READ_BLOCK_ROWS)]
    if not blocks:
        return (np.zeros((0, len(cols)), dtype=item.dtype) if dense
                else sp.csr_matrix((0, len(cols)), dtype=matrix.dtype))
    return np.vstack(blocks) if dense else sp.vstack(blocks, format="csr")
