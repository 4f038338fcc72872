"""Ingest: read one sample into AnnData.

Readers for 10x h5 / 10x mtx / h5ad / dense tables / packaged datasets; detect the value scale and the gene-id
type, attach sample metadata and author labels.
"""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..inputs import ARCHIVE_SUFFIXES
from ..io import InputError
from .readers import read_annotation, read_matrix
from .values import VALUE_SCALES, detect_gene_ids, detect_value_scale, value_scale_evidence

__all__ = ["VALUE_SCALES", "detect_gene_ids", "detect_value_scale", "ingest_sample", "read_annotation", "read_matrix",
           "value_scale_evidence"]


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
    from ..config import RESERVED_COLUMNS

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
