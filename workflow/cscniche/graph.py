"""Leiden clustering of a kNN graph, shared by the stages that cluster cells (all cells, or one patient's)."""

from __future__ import annotations

import anndata as ad
import scanpy as sc


def leiden(adata: ad.AnnData, *, resolution: float, flavor: str = "igraph", seed: int = 0,
           key_added: str = "leiden") -> None:
    """``sc.tl.leiden`` on ``obsp['connectivities']`` (modularity, iterated until stable), in place.

    ``flavor``: ``"igraph"`` (igraph's C implementation, undirected) or ``"leidenalg"``.
    """
    if flavor == "igraph":
        sc.tl.leiden(adata, resolution=resolution, key_added=key_added, flavor="igraph", n_iterations=-1,
                     directed=False, random_state=seed)
    elif flavor == "leidenalg":
        sc.tl.leiden(adata, resolution=resolution, key_added=key_added, flavor="leidenalg", random_state=seed)
    else:
        raise ValueError(f"leiden flavor {flavor!r}: expected 'igraph' or 'leidenalg'")
