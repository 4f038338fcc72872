"""Ligand-receptor scoring shared by the crosstalk and compare stages.

The CellPhoneDB-style test: LR entities (complexes by their weakest subunit), group means, permutations;
the interactions table of cell groups within units of cells (patients, or a patient's samples in one arm).
"""

from __future__ import annotations

from dataclasses import dataclass

import anndata as ad
import numba
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .labels import CSC_HIGH, CSC_LOW, cell_groups
from .ranksum import group_stats

DIRECTIONS = ("CSC->TME", "TME->CSC", "CSC<->CSC")


@dataclass
class Entities:
    """Ligands/receptors (genes or complexes) over a gene subset: ``subunits[e]`` are column indices."""

    names: list[str]
    genes: pd.Index
    subunits: np.ndarray  # (n_entities, max_subunits), padded by repeating the first subunit

    @classmethod
    def from_resource(cls, resource: pd.DataFrame, var_names: pd.Index) -> tuple[Entities, pd.DataFrame]:
        """Entities whose every subunit is measured, and the resource rows they cover."""
        present = set(var_names)
        names = sorted({e for e in pd.concat([resource["ligand"], resource["receptor"]])
                        if all(g in present for g in e.split("_"))})
        usable = resource[resource["ligand"].isin(names) & resource["receptor"].isin(names)].reset_index(drop=True)
        names = sorted(set(usable["ligand"]) | set(usable["receptor"]))
        genes = pd.Index(sorted({g for e in names for g in e.split("_")}))
        width = max((len(e.split("_")) for e in names), default=1)
        subunits = np.zeros((len(names), width), dtype=np.int64)
        for i, e in enumerate(names):
            idx = genes.get_indexer(e.split("_"))
            subunits[i] = np.concatenate([idx, np.repeat(idx[0], width - len(idx))])
        return cls(names, genes, subunits), usable

    def index(self, names: pd.Series) -> np.ndarray:
        """Entity positions of ``names``."""
        return pd.Index(self.names).get_indexer(names)

    def reduce(self, per_gene: np.ndarray) -> np.ndarray:
        """Entity values from gene values (last axis): the weakest subunit."""
        return per_gene[..., self.subunits].min(axis=-1)


@numba.njit(parallel=True, cache=True)
def _permuted_sums(indptr, indices, data, labels, n_groups, n_genes):  # pragma: no cover - compiled
    n_perm, n_cells = labels.shape
    out = np.zeros((n_perm, n_groups, n_genes), dtype=np.float64)
    for p in numba.prange(n_perm):
        for c in range(n_cells):
            g = labels[p, c]
            for k in range(indptr[c], indptr[c + 1]):
                out[p, g, indices[k]] += data[k]
    return out


def group_means(X: sp.csr_matrix, codes: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-group mean and share of cells expressing each gene (``codes``: group of each row, 0..n-1)."""
    stats = group_stats(X, codes, n_groups)
    return stats.mean, stats.frac


def permuted_means(X: sp.csr_matrix, codes: np.ndarray, n_groups: int, n_perms: int,
                   rng: np.random.Generator, *, chunk: int = 100):
    """Yield ``(n, n_groups, n_genes)`` group means under ``n_perms`` random permutations of ``codes``."""
    sizes = np.bincount(codes, minlength=n_groups).astype(np.float64)[None, :, None]
    X = sp.csr_matrix(X, dtype=np.float64)
    for start in range(0, n_perms, chunk):
        n = min(chunk, n_perms - start)
        labels = rng.permuted(np.tile(codes.astype(np.int64), (n, 1)), axis=1)
        yield _permuted_sums(X.indptr, X.indices, X.data, labels, n_groups, X.shape[1]) / sizes


def cellphonedb_test(X: sp.csr_matrix, groups: pd.Series, resource: pd.DataFrame, entities: Entities, *,
                     expr_prop: float, n_perms: int, rng: np.random.Generator) -> pd.DataFrame:
    """CellPhoneDB-style LR means and permutation p-values among the groups of one patient.

    ``X`` holds the entity genes (columns in ``entities.genes`` order) of the cells in ``groups``.
    Returns one row per LR pair and ordered group pair whose ligand and receptor are expressed.
    """
    names = sorted(groups.unique())
    codes = pd.Categorical(groups, categories=names).codes.astype(np.int64)
    means, props = group_means(X, codes, len(names))
    e_mean, e_prop = entities.reduce(means), entities.reduce(props)
    lig, rec = entities.index(resource["ligand"]), entities.index(resource["receptor"])
    src, tgt = np.meshgrid(np.arange(len(names)), np.arange(len(names)), indexing="ij")
    src, tgt = src.ravel(), tgt.ravel()
    pair = np.repeat(np.arange(len(resource)), len(src))
    s, t = np.tile(src, len(resource)), np.tile(tgt, len(resource))
    keep = (e_prop[s, lig[pair]] >= expr_prop) & (e_prop[t, rec[pair]] >= expr_prop)
    pair, s, t = pair[keep], s[keep], t[keep]
    lm, rm = e_mean[s, lig[pair]], e_mean[t, rec[pair]]
    observed = np.where((lm > 0) & (rm > 0), (lm + rm) / 2, 0.0)
    hits = np.zeros(len(pair))
    for perm in permuted_means(X, codes, len(names), n_perms, rng):
        pe = entities.reduce(perm)
        hits += ((pe[:, s, lig[pair]] + pe[:, t, rec[pair]]) / 2 >= observed[None, :] - 1e-12).sum(axis=0)
    out = resource.iloc[pair][["ligand", "receptor", "pathway"]].reset_index(drop=True)
    out["source"], out["target"] = np.asarray(names)[s], np.asarray(names)[t]
    out["ligand_mean"], out["receptor_mean"] = lm, rm
    out["ligand_prop"], out["receptor_prop"] = e_prop[s, lig[pair]], e_prop[t, rec[pair]]
    out["lr_mean"], out["lr_product"] = observed, lm * rm
    out["pvalue"] = (hits + 1) / (n_perms + 1) if n_perms else np.nan  # the observed labels count: >= 1/(n+1)
    return out


def direction(source: str, target: str) -> str:
    """``CSC->TME``, ``TME->CSC``, ``CSC<->CSC`` or ``TME->TME`` for a pair of groups."""
    s, t = source in (CSC_HIGH, CSC_LOW), target in (CSC_HIGH, CSC_LOW)
    return {(True, False): "CSC->TME", (False, True): "TME->CSC", (True, True): "CSC<->CSC"}.get((s, t), "TME->TME")


def interactions_by_unit(adata: ad.AnnData, resource: pd.DataFrame, *, units: pd.Series, min_cells: int,
                         expr_prop: float) -> pd.DataFrame:
    """LR means among the cell groups of each unit of cells, without permutations.

    As the per-patient interactions of :func:`cscniche.crosstalk.infer_crosstalk` (same groups, means and
    ``expr_prop`` rule), but with any grouping of the cells as the unit, e.g. a patient's samples in one arm of
    a paired comparison.
    ``units``: each cell's unit (empty: left out). Returns the interactions layout with the unit in
    ``patient`` and ``pvalue`` NaN.
    """
    groups = cell_groups(adata.obs)
    entities, usable = Entities.from_resource(resource, adata.var_names)
    X_all = sp.csr_matrix(adata[:, entities.genes].X, dtype=np.float64)
    unit_of = units.astype(str).to_numpy()
    tables = []
    for unit in sorted(set(unit_of) - {""}):
        kept, _, cells = unit_cells(unit_of == unit, groups, min_cells)
        if len(kept) < 2 or usable.empty:
            continue
        table = cellphonedb_test(X_all[cells], groups.iloc[cells].reset_index(drop=True), usable, entities,
                                 expr_prop=expr_prop, n_perms=0, rng=np.random.default_rng(0))
        tables.append(table.assign(patient=unit))
    return interactions_table(tables)


def unit_cells(in_unit: np.ndarray, groups: pd.Series, min_cells: int) -> tuple[list[str], list[str], np.ndarray]:
    """A unit's cell groups with at least ``min_cells`` cells (kept) and fewer (dropped), and the kept cells."""
    in_unit = in_unit & groups.ne("").to_numpy()
    sizes = groups[in_unit].value_counts()
    kept = sorted(sizes[sizes >= min_cells].index)
    dropped = sorted(sizes[sizes < min_cells].index)
    return kept, dropped, np.flatnonzero(in_unit & groups.isin(kept).to_numpy())


def interactions_table(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """The interactions of several units in one table, with each pair's direction, sorted."""
    columns = ["patient", "ligand", "receptor", "source", "target", "direction", "ligand_mean", "receptor_mean",
               "ligand_prop", "receptor_prop", "lr_mean", "lr_product", "pvalue", "liana_magnitude_rank", "pathway"]
    if not tables:
        return pd.DataFrame(columns=columns)
    table = pd.concat(tables, ignore_index=True)
    if "liana_magnitude_rank" not in table:
        table["liana_magnitude_rank"] = np.nan
    table["direction"] = [direction(s, t) for s, t in zip(table["source"], table["target"], strict=True)]
    table = table.sort_values(["patient", "pvalue", "lr_mean", "ligand", "receptor", "source", "target"],
                              ascending=[True, True, False, True, True, True, True], kind="mergesort")
    return table[columns].reset_index(drop=True)
