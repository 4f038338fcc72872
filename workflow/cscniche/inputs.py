"""Cheap checks of an input file before any job: it opens, and its header says what the format promises.

Run when the configuration is loaded (so ``snakemake -n`` runs them too), on every local input a sample
sheet names; a downloaded input is checked the same way when it is ingested. Each check reads a header or
the first block of the file, never the matrix. Ingest reads the file in full and checks the values.
"""

from __future__ import annotations

import csv
import gzip
import zlib
from pathlib import Path

from .io import InputError

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
HEADER_MAX_CHARS = 256 * 2**20  # a header of a million cells' names is about 40 MB
MTX_MAX_GZIP_RATIO = 1000  # gzip compresses MatrixMarket text far less than this
MTX_PATTERNS = {"matrix (.mtx)": ("matrix.mtx.gz", "matrix.mtx", "*.mtx.gz", "*.mtx"),
                "gene list": ("features.tsv.gz", "features.tsv", "genes.tsv.gz", "genes.tsv", "*genes*.tsv*",
                              "*features*.tsv*"),
                "barcode list": ("barcodes.tsv.gz", "barcodes.tsv", "*barcodes*.tsv*")}


def check_input(path: str | Path, fmt: str) -> None:
    """Refuse an input whose header does not fit its format, naming the file and the problem.

    ``fmt``: a sample-sheet format (``10x_h5``, ``10x_mtx``, ``h5ad``, ``table``; ``packaged`` is not a file).

    Raises
    ------
    InputError
        The file is missing or empty, a compressed file is corrupt, an HDF5 file is not one or lacks the
        matrix, a MatrixMarket header does not fit its lists or its file, or a table's header is unbounded
        or its first row does not fit it.
    """
    if fmt == "packaged":
        return
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes)")
    if fmt == "10x_mtx" and path.is_dir():
        _check_mtx_folder(path)
    elif fmt == "10x_mtx":
        _check_archive(path)
    elif fmt in ("h5ad", "10x_h5"):
        _check_hdf5(path, fmt)
    elif fmt == "table":
        _check_table(path)


def find_file(folder: Path, patterns: tuple[str, ...], what: str, source: Path) -> Path:
    """The one file under ``folder`` matching the first pattern that matches any (``source`` names the input)."""
    for pattern in patterns:
        hits = sorted(p for p in folder.rglob(pattern) if p.is_file())
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise InputError(f"{source}: several {what} files ({', '.join(h.name for h in hits[:4])}); "
                             "give one sample per path")
    raise InputError(f"{source}: no {what} file (looked for {', '.join(patterns)})")


def mtx_size(matrix: Path, source: Path) -> tuple[int, int]:
    """Rows and columns a MatrixMarket header declares, after checking the header against the file.

    The declared entries must fit the declared shape and the file (each takes at least 6 characters, and
    a gzipped file expands at most ``MTX_MAX_GZIP_RATIO``-fold), so a damaged header cannot make the reader
    allocate memory for entries that are not there.
    """
    import scipy.io

    try:
        rows, cols, entries, layout, _, _ = scipy.io.mminfo(matrix)
    except (ValueError, IndexError, OSError, EOFError, zlib.error) as err:
        raise InputError(f"{source}: {matrix.name} has no readable MatrixMarket header ({err})") from err
    text_size = matrix.stat().st_size * (MTX_MAX_GZIP_RATIO if matrix.suffix == ".gz" else 1)
    if layout == "coordinate" and (entries > rows * cols or entries * 6 > text_size):
        raise InputError(f"{source}: {matrix.name} declares {entries:,} entries for {rows:,} x {cols:,}, more "
                         f"than the shape or the file ({matrix.stat().st_size:,} bytes) can hold: a damaged header")
    return rows, cols


def header_fields(path: Path, sep: str) -> list[str]:
    """A table's column names as written, unquoted (R's write.csv quotes them), its header line bounded."""
    line = _first_lines(path, 1)[0] if path.stat().st_size else ""
    return next(csv.reader([line.rstrip("\r\n")], delimiter=sep), [])


def _first_lines(path: Path, n: int) -> list[str]:
    """The first ``n`` lines (each at most ``HEADER_MAX_CHARS``), through gzip when the name says so."""
    opener = gzip.open if path.suffix == ".gz" else open
    lines = []
    try:
        with opener(path, "rt", newline="") as fh:
            for _ in range(n):
                line = fh.readline(HEADER_MAX_CHARS)
                if len(line) == HEADER_MAX_CHARS and not line.endswith("\n"):
                    raise InputError(f"{path}: line {len(lines) + 1} is longer than {HEADER_MAX_CHARS:,} characters "
                                     "(no line break): not a table of cells and genes")
                lines.append(line)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a readable {'gzip-compressed ' if path.suffix == '.gz' else ''}text file "
                         f"({type(err).__name__}: {err})") from err
    return lines


def _check_table(path: Path) -> None:
    sep = "," if ".csv" in path.suffixes else "\t"
    header, first = (next(csv.reader([line.rstrip("\r\n")], delimiter=sep), []) for line in _first_lines(path, 2))
    if not first:
        raise InputError(f"{path}: empty expression table (no row after the header)")
    if len(header) < 2:
        raise InputError(f"{path}: the header line has {len(header)} field(s): a table needs gene or cell names "
                         f"and values, separated by {'commas (.csv)' if sep == ',' else 'tabs'}")
    if len(first) not in (len(header), len(header) + 1):
        raise InputError(f"{path}: line 2 has {len(first)} fields but the header has {len(header)} (a table with "
                         "a row name column and one column per header name is expected)")


def _check_hdf5(path: Path, fmt: str) -> None:
    import h5py

    try:
        with h5py.File(path, "r") as fh:
            keys = set(fh.keys())
            groups = [fh[k] for k in keys if isinstance(fh[k], h5py.Group)]
            matrix_v2 = any({"data", "indices", "indptr"} <= set(g.keys()) for g in groups)
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: not a readable {fmt} file (an HDF5 file is expected: {err})") from err
    if fmt == "h5ad" and "X" not in keys:
        raise InputError(f"{path}: the h5ad file has no expression matrix (X); it has {sorted(keys) or 'nothing'}")
    if fmt == "h5ad" and not {"obs", "var"} <= keys:
        raise InputError(f"{path}: an h5ad file needs obs and var; it has {sorted(keys)}")
    if fmt == "10x_h5" and "matrix" not in keys and not matrix_v2:
        raise InputError(f"{path}: no 10x count matrix (neither a 'matrix' group nor a genome group with "
                         f"data/indices/indptr); it has {sorted(keys) or 'nothing'}")


def _check_mtx_folder(folder: Path) -> None:
    files = {what: find_file(folder, patterns, what, folder) for what, patterns in MTX_PATTERNS.items()}
    for what in ("gene list", "barcode list"):
        if files[what].stat().st_size == 0:
            raise InputError(f"{folder}: the {what} {files[what].name} is empty")
        _first_lines(files[what], 1)
    mtx_size(files["matrix (.mtx)"], folder)


def _check_archive(path: Path) -> None:
    import tarfile

    if not path.name.endswith(ARCHIVE_SUFFIXES):
        raise InputError(f"{path}: a 10x_mtx input is a folder or a tar archive ({', '.join(ARCHIVE_SUFFIXES)})")
    try:
        with tarfile.open(path) as tar:
            if tar.next() is None:
                raise InputError(f"{path}: an empty tar archive")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise InputError(f"{path}: not a readable tar archive ({err})") from err


def _ingested_header(path: Path) -> dict:
    """Sample name, cells, gene names and value scale of an ingested sample, read from its h5ad header."""
    import h5py
    import numpy as np
    from anndata.io import read_elem

    with h5py.File(path, "r") as fh:
        genes = read_elem(fh["var"][fh["var"].attrs["_index"]])
        cells = len(fh["obs"][fh["obs"].attrs["_index"]])
        ingest = read_elem(fh["uns/ingest"])
    return {"sample": str(ingest["sample"]), "file": str(path), "cells": cells, "genes": np.asarray(genes, str),
            "value_scale": str(ingest["value_scale"]),
            "value_scale_evidence": str(ingest.get("value_scale_evidence", ""))}


def check_samples_agree(paths: list[str | Path], *, min_shared_share: float = 0.5):
    """Check that a dataset's ingested samples can be analysed together, before QC.

    Reads each sample's header only. The samples must share one value scale and some gene names.

    Parameters
    ----------
    paths
        The ingested samples (``results/<dataset>/ingest/<sample>.h5ad``).
    min_shared_share
        A sample whose genes are less than this share in all samples gets ``warning`` set.

    Returns
    -------
    One row per sample: ``sample, file, cells, genes, shared_genes, share_shared, value_scale,
    value_scale_evidence, warning``.

    Raises
    ------
    InputError
        The samples' values are on different scales (counts, TPM, log), or they share no gene name.
    """
    import numpy as np
    import pandas as pd

    samples = [_ingested_header(Path(p)) for p in paths]
    scales = {s["value_scale"] for s in samples}
    if len(scales) > 1:
        detail = "; ".join(f"{s['sample']}: {s['value_scale']} ({s['value_scale_evidence']})" for s in samples)
        raise InputError(f"samples on different value scales: {detail}. Give every sample of a dataset on one "
                         "scale, or set the sample sheet's value_scale column where the detection is wrong")
    shared = samples[0]["genes"]
    for s in samples[1:]:
        shared = np.intersect1d(shared, s["genes"])
    if len(samples) > 1 and len(shared) == 0:
        detail = "; ".join(f"{s['sample']}: {', '.join(s['genes'][:3])}, ..." for s in samples)
        raise InputError(f"samples share no gene name ({detail}): give every sample the same kind of gene names "
                         "(symbols or Ensembl ids)")
    table = pd.DataFrame([{k: v for k, v in s.items() if k != "genes"} | {"genes": len(s["genes"])}
                          for s in samples])
    table["shared_genes"] = len(shared)
    table["share_shared"] = (len(shared) / table["genes"].clip(lower=1)).round(4)
    table["warning"] = table["share_shared"] < min_shared_share
    return table[["sample", "file", "cells", "genes", "shared_genes", "share_shared", "value_scale",
                  "value_scale_evidence", "warning"]]
