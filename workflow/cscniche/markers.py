"""Marker sets and marker scoring, shared by the stages that score cells on curated markers.

Marker-set YAML files (:func:`load_marker_sets`), per-cell marker scores as mean z-scored expression
(:func:`marker_scores`), kNN smoothing and the winning label per cell (:func:`best_label`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .io import InputError, read_yaml
from .labels import UNASSIGNED

COMPARTMENTS = ("immune", "stromal", "epithelial", "tissue")


@dataclass(frozen=True)
class MarkerSet:
    """One curated cell type: markers, compartment, optional parent type, citation, negative markers.

    ``negative_markers`` are genes the type does not express (e.g. CD3 genes for NK cells, which share their
    cytotoxic genes with CD8 T cells); their mean z-score is subtracted from the set's score.
    ``backup_markers`` are scored only where fewer than half of ``markers`` are in the data (a reduced
    gene panel), so the type survives missing genes without diluting its score on whole transcriptomes.
    """

    name: str
    markers: tuple[str, ...]
    compartment: str
    source: str
    parent: str | None = None
    negative_markers: tuple[str, ...] = ()
    backup_markers: tuple[str, ...] = ()

    def markers_in(self, genes: pd.Index, *, min_genes: int) -> tuple[list[str], bool]:
        """The markers scored on data with ``genes``, and whether backup markers were needed."""
        present = [g for g in self.markers if g in genes]
        if len(present) >= max(min_genes, -(-len(self.markers) // 2)) or not self.backup_markers:
            return present, False
        backups = [g for g in self.backup_markers if g in genes and g not in present]
        return present + backups, bool(backups)


def load_marker_sets(paths: list[str | Path]) -> list[MarkerSet]:
    """Read marker-set YAML files (later files replace earlier sets of the same name).

    Raises
    ------
    InputError
        Naming the file and the cell type when a field is missing or wrong.
    """
    sets: dict[str, MarkerSet] = {}
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: marker file not found")
        doc = read_yaml(path) or {}
        if not isinstance(doc.get("cell_types"), dict):
            raise InputError(f"{path}: expected a `cell_types:` mapping of cell type -> {{markers, compartment}}")
        for name, spec in doc["cell_types"].items():
            where = f"{path}: cell type {name!r}"
            if not isinstance(spec, dict) or not isinstance(spec.get("markers"), list) or not spec["markers"]:
                raise InputError(f"{where}: needs a non-empty `markers` list")
            if spec.get("compartment") not in COMPARTMENTS:
                raise InputError(f"{where}: `compartment` must be one of {list(COMPARTMENTS)}")
            if not spec.get("source"):
                raise InputError(f"{where}: needs a `source` (citation)")
            negative, backup = spec.get("negative_markers") or [], spec.get("backup_markers") or []
            if not isinstance(negative, list) or not isinstance(backup, list):
                raise InputError(f"{where}: `negative_markers` and `backup_markers` must be lists of genes")
            sets[name] = MarkerSet(name, tuple(map(str, spec["markers"])), spec["compartment"], str(spec["source"]),
                                   spec.get("parent"), tuple(map(str, negative)), tuple(map(str, backup)))
    for s in sets.values():
        if s.parent is not None and s.parent not in sets:
            raise InputError(f"marker set {s.name!r}: parent {s.parent!r} is not a marker set")
    return list(sets.values())


SD_FLOOR = 0.5  # log-expression units: a rarely detected marker cannot dominate a score


def gene_mean_sd(X: sp.spmatrix) -> tuple[np.ndarray, np.ndarray]:
    """Per-gene (column) mean and standard deviation of a sparse matrix, without densifying."""
    X = sp.csr_matrix(X)
    mean = np.asarray(X.mean(axis=0)).ravel()
    sq = np.asarray(X.multiply(X).mean(axis=0)).ravel()
    return mean, np.sqrt(np.maximum(sq - mean**2, 0.0))


def _gene_stats(X: sp.spmatrix) -> tuple[np.ndarray, np.ndarray]:
    """Per-gene mean and standard deviation floored at ``SD_FLOOR``."""
    mean, sd = gene_mean_sd(X)
    return mean, np.maximum(sd, SD_FLOOR)


def marker_coverage(var_names: pd.Index, sets: list[MarkerSet], *, min_genes: int) -> pd.DataFrame:
    """Per marker set: markers listed, markers in the data, and whether it can be scored (``min_genes``)."""
    rows = []
    for s in sets:
        present = [g for g in s.markers if g in var_names]
        scored, backup_used = s.markers_in(var_names, min_genes=min_genes)
        rows.append({"cell_type": s.name, "compartment": s.compartment, "parent": s.parent or "",
                     "markers": len(s.markers), "markers_present": len(present),
                     "negative_markers_present": sum(g in var_names for g in s.negative_markers),
                     "backup_markers_used": len(scored) - len(present) if backup_used else 0,
                     "scored": len(scored) >= min_genes, "missing": ", ".join(g for g in s.markers
                                                                                if g not in var_names)})
    return pd.DataFrame(rows)


def marker_scores(adata: ad.AnnData, sets: list[MarkerSet], *, min_genes: int = 2) -> pd.DataFrame:
    """Mean z-scored expression of each set's markers per cell (log-normalised ``X``).

    Standard deviations are floored at ``SD_FLOOR`` so that one read of a rarely detected marker
    does not make a cell win that set. A set's negative markers present in the data subtract their mean
    z-score clipped at zero (expression above the mean counts against the set; absence does not count for it).

    Sets with fewer than ``min_genes`` markers in the data (backup markers included where needed,
    :meth:`MarkerSet.markers_in`) are left out (:func:`marker_coverage` lists them). Computed as one
    sparse product: ``X[:, markers] @ W - offset``.
    """
    genes = adata.var_names
    usable = [(s, s.markers_in(genes, min_genes=min_genes)[0], [g for g in s.negative_markers if g in genes])
              for s in sets]
    usable = [u for u in usable if len(u[1]) >= min_genes]
    if not usable:
        raise InputError("no marker set has enough genes in the data (check gene ids: symbols vs Ensembl)")
    all_genes = sorted({g for _, pos_genes, neg_genes in usable for g in (*pos_genes, *neg_genes)})
    idx = genes.get_indexer(all_genes)
    mean, sd = _gene_stats(adata.X[:, idx])
    pos = {g: i for i, g in enumerate(all_genes)}
    W = np.zeros((len(all_genes), len(usable)))
    for j, (_, pos_genes, _) in enumerate(usable):
        rows = [pos[g] for g in pos_genes]
        W[rows, j] = 1.0 / (sd[rows] * len(rows))
    X = sp.csr_matrix(adata.X[:, idx])
    scores = np.asarray(X @ W) - mean @ W
    negative = sorted({g for _, _, neg_genes in usable for g in neg_genes})
    if negative:  # only expression above the mean counts against a set: absence is no evidence for it
        cols = [pos[g] for g in negative]
        z = np.clip((X[:, cols].toarray() - mean[cols]) / sd[cols], 0, None)
        at = {g: i for i, g in enumerate(negative)}
        for j, (_, _, neg_genes) in enumerate(usable):
            if neg_genes:
                scores[:, j] -= z[:, [at[g] for g in neg_genes]].mean(axis=1)
    return pd.DataFrame(scores, index=adata.obs_names, columns=[s.name for s, _, _ in usable])


def smooth(scores: pd.DataFrame, connectivities: sp.spmatrix | None) -> pd.DataFrame:
    """Average each cell's scores with its kNN neighbours (row-normalised graph plus self)."""
    if connectivities is None:
        return scores
    graph = sp.csr_matrix(connectivities) + sp.identity(connectivities.shape[0], format="csr")
    graph = sp.diags(1.0 / np.asarray(graph.sum(axis=1)).ravel()) @ graph
    return pd.DataFrame(graph @ scores.to_numpy(), index=scores.index, columns=scores.columns)


def best_label(scores: pd.DataFrame, min_score: float, min_margin: float) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """The winning set per cell (``unassigned`` below ``min_score`` or within ``min_margin``), its score, margin."""
    values = scores.to_numpy()
    order = np.argsort(-values, axis=1)
    top = values[np.arange(len(values)), order[:, 0]]
    second = values[np.arange(len(values)), order[:, 1]] if values.shape[1] > 1 else np.full(len(values), -np.inf)
    margin = top - second
    label = np.asarray(scores.columns)[order[:, 0]].astype(object)
    label[(top < min_score) | (margin < min_margin)] = UNASSIGNED
    return pd.Series(label, index=scores.index), top, margin
