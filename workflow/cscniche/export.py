"""Export: the per-cell contract table ``cells.tsv.gz`` and ``adata.h5ad`` as scverse tools expect it."""

from __future__ import annotations

import anndata as ad
import pandas as pd

from .labels import QC_METRICS
from .palette import category_colours

BASE_COLUMNS = ["cell_id", "sample", "patient"]


def cells_table(adata: ad.AnnData) -> pd.DataFrame:
    """One row per cell: ids, sample metadata, QC metrics, clusters, UMAP and ``author_*`` labels.

    Later stages add their columns to ``adata.obs``; every obs column not listed here is appended
    after the contract columns, so the table grows without renaming anything.
    """
    obs = adata.obs
    leiden = ["leiden", *sorted(c for c in obs if c.startswith("leiden_r"))]
    qc = [c for c in [*QC_METRICS, "doublet_score"] if c in obs]
    authors = sorted(c for c in obs if c.startswith("author_"))
    internal = {"qc_pass", *[c for c in obs if c.startswith("fail_")]}
    listed = {*BASE_COLUMNS, *leiden, *qc, *authors}
    meta = [c for c in obs if c not in listed and c not in internal]
    table = obs[["sample", "patient", *meta, *qc, *leiden, *authors]].copy()
    umap = adata.obsm["X_umap"]
    table.insert(len(table.columns) - len(authors), "umap_1", umap[:, 0])
    table.insert(len(table.columns) - len(authors), "umap_2", umap[:, 1])
    table.insert(0, "cell_id", adata.obs_names.to_numpy())
    return table.reset_index(drop=True)


MAX_COLOURED = 60  # categories; a column with more (e.g. cell ids) gets no colours


def scverse_conventions(adata: ad.AnnData) -> ad.AnnData:
    """The final AnnData as scanpy, cellxgene and anndata expect it, in place.

    A missing label is NaN (not an empty-string category) in every categorical ``obs`` column, and each
    categorical column with at most ``MAX_COLOURED`` categories gets ``uns['<column>_colors']``, the colours
    the figures and the report use (:func:`cscniche.palette.category_colours`).
    """
    for column in adata.obs:
        values = adata.obs[column]
        if isinstance(values.dtype, pd.CategoricalDtype) and "" in values.cat.categories:
            adata.obs[column] = values.cat.remove_categories([""])
        values = adata.obs[column]
        if isinstance(values.dtype, pd.CategoricalDtype) and 0 < len(values.cat.categories) <= MAX_COLOURED:
            colours = category_colours(values.cat.categories.astype(str))
            adata.uns[f"{column}_colors"] = [colours[str(c)] for c in values.cat.categories]
    return adata
