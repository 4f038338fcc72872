"""Export: the per-cell contract table ``cells.tsv.gz`` and ``adata.h5ad`` as scverse tools expect it."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
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


LIANA_COLUMNS = {"ligand": "ligand_complex", "receptor": "receptor_complex", "ligand_mean": "ligand_means",
                 "ligand_prop": "ligand_props", "receptor_mean": "receptor_means", "receptor_prop": "receptor_props",
                 "lr_mean": "lr_means", "pvalue": "cellphone_pvals", "liana_magnitude_rank": "magnitude_rank"}


def liana_results(interactions: pd.DataFrame) -> pd.DataFrame:
    """``crosstalk/interactions.tsv`` in liana's layout, for ``uns['liana_res']``.

    liana's column names (``source, target, ligand_complex, receptor_complex, lr_means, cellphone_pvals``,
    ...) first, then ``patient`` (liana's sample key: one row per patient and interaction), ``direction``,
    ``pathway`` and the other columns of the table.
    """
    table = interactions.rename(columns=LIANA_COLUMNS)
    first = ["source", "target", *[c for c in LIANA_COLUMNS.values() if c in table]]
    table = table[[*first, *[c for c in table if c not in first]]].reset_index(drop=True)
    return table.astype({c: str for c in table if table[c].dtype == object})


MTX_BLOCK_ROWS = 20_000  # cells written at a time


def write_10x_mtx(matrix: str | Path, folder: str | Path) -> int:
    """The counts of ``matrix`` (an h5ad; ``layers/counts``, else ``X``) as a 10x MatrixMarket folder.

    ``matrix.mtx.gz`` (genes x cells), ``features.tsv.gz`` (symbol, symbol, ``Gene Expression``) and
    ``barcodes.tsv.gz`` (cell ids, as in ``cells.tsv.gz``), which ``Seurat::Read10X`` and
    ``scanpy.read_10x_mtx`` read. Integer values are written as integers. Rows are read and written in
    blocks of ``MTX_BLOCK_ROWS`` cells; the folder appears complete or not at all. Returns the entries written.
    """
    import gzip
    import shutil

    import h5py
    from anndata.io import read_elem, sparse_dataset

    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with h5py.File(matrix, "r") as fh:
        group = fh["layers/counts"] if "counts" in fh.get("layers", {}) else fh["X"]
        counts = sparse_dataset(group)
        cells = pd.Index(read_elem(fh["obs"]).index)
        genes = pd.Index(read_elem(fh["var"]).index)
        n_cells, n_genes = counts.shape
        total = int(group["indptr"][-1])
        integral = _integral(group["data"])
        entries = 0
        with gzip.open(tmp / "matrix.mtx.gz", "wt", compresslevel=4) as out:
            out.write(f"%%MatrixMarket matrix coordinate {'integer' if integral else 'real'} general\n"
                      f"%metadata_json: {{\"software\": \"cscniche\"}}\n{n_genes} {n_cells} {total}\n")
            for start in range(0, n_cells, MTX_BLOCK_ROWS):
                block = counts[start:start + MTX_BLOCK_ROWS].tocoo()
                rows = np.column_stack([block.col + 1, block.row + start + 1, block.data]).astype(np.float64)
                np.savetxt(out, rows, fmt="%d %d %d" if integral else "%d %d %.7g")
                entries += len(rows)
    pd.DataFrame({"id": genes, "name": genes, "type": "Gene Expression"}).to_csv(
        tmp / "features.tsv.gz", sep="\t", header=False, index=False)
    pd.Series(cells).to_csv(tmp / "barcodes.tsv.gz", header=False, index=False)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return entries


def _integral(data, *, block: int = 1 << 24) -> bool:
    """Whether every stored value (an HDF5 dataset of a sparse matrix's values) is a whole number, by blocks."""
    for start in range(0, data.shape[0], block):
        values = data[start:start + block]
        if not np.array_equal(values, np.rint(values)):
            return False
    return True
