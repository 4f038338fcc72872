"""Curated signalling axes (stemness, angiogenesis, immune suppression) scored per patient and group."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..config import resolve_path
from ..io import InputError, read_yaml
from ..lr import Entities, group_means
from .resource import _canonical


def load_axes(path: str) -> dict[str, dict]:
    """Curated signalling axes: name -> {description, source, pairs: [[ligand, receptor]], genes: [...]}."""
    file = Path(resolve_path(path))
    if not file.is_file():
        raise InputError(f"crosstalk.axes: {path}: file not found")
    axes = (read_yaml(file) or {}).get("axes")
    if not isinstance(axes, dict) or not axes:
        raise InputError(f"{file}: expected a mapping 'axes: {{name: {{pairs, genes, source}}}}'")
    for name, axis in axes.items():
        if not (axis.get("pairs") or axis.get("genes")) or not axis.get("source"):
            raise InputError(f"{file}: axis {name!r} needs 'pairs' or 'genes', and a 'source'")
    return axes


def axis_scores(adata: ad.AnnData, groups: pd.Series, axes: dict[str, dict], *, min_cells: int) -> pd.DataFrame:
    """Per axis, patient and group: mean expression of the axis's ligands, receptors and genes.

    A complex counts by its weakest subunit. Groups with fewer than ``min_cells`` cells are left out.
    """
    rows = []
    patients = adata.obs["patient"].astype(str)
    for patient in sorted(patients.unique()):
        cells = np.flatnonzero(patients.eq(patient).to_numpy() & groups.ne("").to_numpy())
        sub = groups.iloc[cells]
        sizes = sub.value_counts()
        sub = sub[sub.isin(sizes[sizes >= min_cells].index)]
        if sub.empty:
            continue
        cells = adata.obs_names.get_indexer(sub.index)
        for name, axis in axes.items():
            roles = {"ligand": [p[0] for p in axis.get("pairs", [])], "receptor": [p[1] for p in axis.get("pairs", [])],
                     "gene": list(axis.get("genes", []))}
            scores = {role: _entity_score(adata, cells, sub, entities) for role, entities in roles.items()}
            for group in sorted(sub.unique()):
                row = {"axis": name, "patient": patient, "group": group, "cells": int((sub == group).sum())}
                for role, (score, found) in scores.items():
                    row[f"{role}_score"] = score.get(group, np.nan) if found else np.nan
                    row[f"{role}s_found"] = found
                rows.append(row)
    return pd.DataFrame(rows)


def _entity_score(adata: ad.AnnData, cells: np.ndarray, groups: pd.Series, names: list[str]) -> tuple[dict, int]:
    names = [_canonical(n) for n in names]
    present = [n for n in dict.fromkeys(names) if all(g in adata.var_names for g in n.split("_"))]
    if not present:
        return {}, 0
    resource = pd.DataFrame({"ligand": present, "receptor": present})
    entities, _ = Entities.from_resource(resource, adata.var_names)
    X = sp.csr_matrix(adata[cells, entities.genes].X)
    labels = sorted(groups.unique())
    means, _ = group_means(X, pd.Categorical(groups, categories=labels).codes.astype(np.int64), len(labels))
    values = entities.reduce(means).mean(axis=1)
    return dict(zip(labels, values, strict=True)), len(present)
