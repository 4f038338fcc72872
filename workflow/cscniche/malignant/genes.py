"""Gene positions for CNV inference: the shipped GRCh38 order, a user's table or GTF, placing the data's genes."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from ..io import InputError

CHROMOSOMES = [f"chr{c}" for c in [*range(1, 23), "X", "Y"]]


SHIPPED_GENE_POSITIONS = Path(__file__).parents[1] / "data" / "hg38_gencode_v27.txt.gz"
SHIPPED_GENE_POSITIONS_NAME = "GRCh38 GENCODE v27 gene order (shipped with cscniche)"


def read_gene_positions(path: str | Path) -> pd.DataFrame:
    """Gene positions from an inferCNV gene-order table (symbol, chr, start, end; no header) or a GTF.

    Returns a DataFrame indexed by gene (symbol, or Ensembl id for the ``gene_id`` column of a GTF is
    not used: GTF genes are indexed by ``gene_name``) with ``chromosome, start, end``; chromosome names
    get a ``chr`` prefix.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: gene position file not found")
    name = path.name.lower()
    try:
        if name.endswith((".gtf", ".gtf.gz")):
            gtf = pd.read_csv(path, sep="\t", comment="#", header=None, usecols=[0, 2, 3, 4, 8],
                              names=["chromosome", "feature", "start", "end", "attributes"], dtype={0: str})
            gtf = gtf[gtf["feature"] == "gene"]
            gtf["gene"] = gtf["attributes"].str.extract(r'gene_name "([^"]+)"', expand=False)
            table = gtf.dropna(subset=["gene"])[["gene", "chromosome", "start", "end"]]
        else:
            table = pd.read_csv(path, sep="\t", header=None, usecols=[0, 1, 2, 3],
                                names=["gene", "chromosome", "start", "end"], dtype={0: str, 1: str})
            table["end"] = pd.to_numeric(table["end"].astype(str).str.strip(), errors="coerce")
    except (ValueError, pd.errors.ParserError) as err:
        raise InputError(f"{path}: not a gene-order table or GTF ({err})") from err
    table = table.dropna()
    table["chromosome"] = table["chromosome"].astype(str).str.strip()
    table["chromosome"] = np.where(table["chromosome"].str.startswith("chr"), table["chromosome"],
                                   "chr" + table["chromosome"])
    table = table.astype({"start": int, "end": int}).drop_duplicates("gene").set_index("gene")
    if table.empty:
        raise InputError(f"{path}: no gene positions read")
    return table


def gene_positions_source(var: pd.DataFrame, path: str | None) -> str:
    """Where gene positions come from: the configured file, the input's own, or the shipped GRCh38 table."""
    if path:
        return str(path)
    if {"chromosome", "start", "end"} <= set(var) and var["chromosome"].astype(object).isin(CHROMOSOMES).any():
        return "input"
    return SHIPPED_GENE_POSITIONS_NAME


def place_genes(adata: ad.AnnData, positions: pd.DataFrame | None, *, min_fraction: float) -> float:
    """Set ``var`` chromosome/start/end from ``positions`` and return the fraction of genes placed.

    Without ``positions`` the input's own positions are kept, and where the input has none the shipped
    GRCh38 gene order (GENCODE v27, gene symbols) is used.

    Raises
    ------
    InputError
        When fewer than ``min_fraction`` of the genes can be placed (e.g. Ensembl ids vs symbols).
    """
    if positions is None and gene_positions_source(adata.var, None) != "input":
        positions = read_gene_positions(SHIPPED_GENE_POSITIONS)
    if positions is not None:
        found = positions.reindex(adata.var_names)
        adata.var["chromosome"] = found["chromosome"].astype(object).to_numpy()
        adata.var["start"] = found["start"].to_numpy()
        adata.var["end"] = found["end"].to_numpy()
    placed = adata.var["chromosome"].astype(object).isin(CHROMOSOMES).to_numpy()
    fraction = float(placed.mean())
    if fraction < min_fraction:
        example = ", ".join(adata.var_names[:3])
        raise InputError(f"only {fraction:.1%} of genes have a position (minimum {min_fraction:.0%}); "
                         f"gene ids look like {example}: the shipped table and most gene-order files use "
                         "gene symbols, so give symbols (10x: the features file's second column) or set "
                         "malignant.gene_positions to a table with the same ids")
    return fraction


def cnv_genes(adata: ad.AnnData, min_mean_counts: float) -> np.ndarray:
    """Genes used for CNV inference.

    Placed on an autosome and, for count data, with a mean raw count of at least ``min_mean_counts``
    (inferCNV's expression cutoff: lowly expressed genes only add noise).
    """
    genes = adata.var["chromosome"].astype(object).isin([c for c in CHROMOSOMES if c not in ("chrX", "chrY")])
    genes = genes.to_numpy()
    if min_mean_counts > 0 and "mean_counts" in adata.var:
        genes &= adata.var["mean_counts"].to_numpy() >= min_mean_counts
    elif min_mean_counts > 0 and "counts" in adata.layers:
        genes &= np.asarray(adata.layers["counts"].mean(axis=0)).ravel() >= min_mean_counts
    return genes
