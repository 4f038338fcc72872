"""Export: the per-cell contract table ``cells.tsv.gz`` from the final AnnData."""

from __future__ import annotations

import anndata as ad
import pandas as pd

from .labels import QC_METRICS

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
