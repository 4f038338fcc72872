"""The crosstalk stage: interactions per patient, CSC-specific tests across patients, notes for the report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..io import InputError
from ..jit import import_liana
from ..labels import CSC_HIGH, CSC_LOW, DISCRETE, cell_groups
from ..lr import Entities, cellphonedb_test, group_means, interactions_table, permuted_means, unit_cells
from .axes import axis_scores, load_axes
from .resource import load_resource
from .specific import PatientStats, csc_specific, graded_specific


@dataclass
class CrosstalkResult:
    """The crosstalk stage's tables (``results/<dataset>/crosstalk/``)."""

    interactions: pd.DataFrame
    """Every ligand-receptor pair between cell groups, per patient: means, p-value, direction, liana ranks."""
    csc_specific: pd.DataFrame
    """Across patients: is each CSC-TME pair stronger with CSC-high than with CSC-low cells?"""
    axes: pd.DataFrame
    """Per signalling axis, patient and cell group: mean expression of its ligands, receptors and genes."""
    notes: list[str]
    """What was tested and what was left out, in words."""


def run_crosstalk(adata: ad.AnnData, *, resource: str | pd.DataFrame, min_cells: int, expr_prop: float, n_perms: int,
                  fdr: float, min_patient_share: float, axes: str | Mapping[str, dict], rank_aggregate: bool,
                  seed: int = 0) -> CrosstalkResult:
    """The crosstalk stage: interactions per patient, CSC-specific tests across patients, signalling axes.

    The keywords are the ``crosstalk`` config section (``config/README.md``); ``resource`` and ``axes`` may
    also be given loaded (:func:`load_resource`, :func:`load_axes`). ``adata``: log-normalised, with
    ``cell_type``, ``malignant``, ``csc`` and ``patient``; the resource's and the axes' genes suffice.
    """
    params = {name: value for name, value in locals().items() if name not in ("adata", "seed")}
    table = load_resource(resource) if isinstance(resource, str) else resource
    axes = load_axes(axes) if isinstance(axes, str) else dict(axes)
    interactions, specific, notes = infer_crosstalk(adata, table, params, seed=seed)
    axes_table = axis_scores(adata, cell_groups(adata.obs), axes, min_cells=min_cells)
    return CrosstalkResult(interactions, specific, axes_table, notes)


def infer_crosstalk(adata: ad.AnnData, resource: pd.DataFrame, params: Mapping, *,
                    seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Interactions per patient, CSC-specific tests across patients, and notes for the report.

    Returns ``(interactions, csc_specific, notes)``.
    """
    groups = cell_groups(adata.obs)
    entities, usable = Entities.from_resource(resource, adata.var_names)
    if usable.empty:
        raise InputError("crosstalk: no ligand-receptor pair of the resource has all its genes in the data "
                         f"(first genes: {list(adata.var_names[:5])}; the resource uses HGNC symbols)")
    X_all = sp.csr_matrix(adata[:, entities.genes].X, dtype=np.float64)
    signals = _patient_signals(adata.obs)
    rng = np.random.default_rng(seed)
    patients = adata.obs["patient"].astype(str).to_numpy()
    tables, stats, notes = [], [], []
    for patient in sorted(set(patients)):
        kept, dropped, cells = unit_cells(patients == patient, groups, params["min_cells"])
        if dropped:
            notes.append(f"{patient}: groups below {params['min_cells']} cells left out: {', '.join(dropped)}")
        if len(kept) < 2:
            notes.append(f"{patient}: fewer than two groups with enough cells; no interactions")
            continue
        X, labels = X_all[cells], groups.iloc[cells].reset_index(drop=True)
        table = cellphonedb_test(X, labels, usable, entities, expr_prop=params["expr_prop"],
                                 n_perms=params["n_perms"], rng=rng)
        if params["rank_aggregate"]:
            table = table.merge(liana_magnitude(X, labels, entities.genes, usable, params),
                                on=["ligand", "receptor", "source", "target"], how="left")
        tables.append(table.assign(patient=patient))
        split = signals.get(patient, DISCRETE) == DISCRETE
        stats.append(_patient_stats(patient, _linear(X), labels, kept, entities, params, rng, split=split))
        if not split:
            notes.append(f"{patient}: stem program {signals[patient]}, no confident CSC-high cells; "
                         "not in the CSC-high vs CSC-low test")
        elif stats[-1].csc_perm is None:
            notes.append(f"{patient}: no CSC-high or no CSC-low group with {params['min_cells']} cells; "
                         "not in the CSC-specific test")
    interactions = interactions_table(tables)
    specific = csc_specific(stats, usable, entities, expr_prop=params["expr_prop"], fdr_level=params["fdr"],
                            min_patient_share=params["min_patient_share"])
    n_csc = sum(s.csc_perm is not None for s in stats)
    if n_csc == 0 and "stemness" in adata.obs:
        specific, graded_notes = graded_specific(X_all, adata.obs, groups, usable, entities,
                                                 min_cells=params["min_cells"], expr_prop=params["expr_prop"],
                                                 fdr_level=params["fdr"],
                                                 min_patient_share=params["min_patient_share"])
        notes += graded_notes
        notes.append("CSC-specific test (mode graded): no patient has a confident CSC-high/CSC-low split, so each "
                     "pair is ranked by its malignant-side gene's correlation with stemness within each patient's "
                     f"malignant cells, combined over {specific['n_patients'].max() if len(specific) else 0} "
                     "patient(s)")
        return interactions, specific, notes
    notes.append("CSC-specific test (mode split): " + ("no patient has both CSC groups" if n_csc == 0 else
                 "one patient, so the CSC-high/CSC-low labels are permuted within it" if n_csc == 1 else
                 f"{n_csc} patients, CSC labels permuted within each patient and effects summed")
                 + f"; p-values from {params['n_perms']} permutations, never below 1/{params['n_perms'] + 1}; "
                 f"significant: FDR <= {params['fdr']}, stronger with CSC-high cells and the same sign in at least "
                 f"{params['min_patient_share']:.0%} of the patients tested")
    return interactions, specific, notes


def _linear(X: sp.csr_matrix) -> sp.csr_matrix:
    """Log-normalised values back on the normalised scale (``expm1``)."""
    out = X.copy()
    out.data = np.expm1(out.data)
    return out


def liana_magnitude(X: sp.csr_matrix, labels: pd.Series, genes: pd.Index, resource: pd.DataFrame,
                    params: Mapping) -> pd.DataFrame:
    """The ``rank_aggregate`` magnitude consensus of liana (no permutations) for one patient's groups."""
    import warnings

    liana = import_liana()
    adata = ad.AnnData(sp.csr_matrix(X, dtype=np.float32), obs=pd.DataFrame({"group": pd.Categorical(labels)},
                                                                              index=labels.index.astype(str)),
                       var=pd.DataFrame(index=genes))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = liana.mt.rank_aggregate(adata, groupby="group", resource=resource[["ligand", "receptor"]],
                                         expr_prop=params["expr_prop"], min_cells=params["min_cells"], n_perms=None,
                                         use_raw=False, verbose=False, inplace=False)
    result = result.rename(columns={"ligand_complex": "ligand", "receptor_complex": "receptor"},
                           errors="ignore").loc[:, lambda t: ~t.columns.duplicated()]
    return result[["ligand", "receptor", "source", "target", "magnitude_rank"]].rename(
        columns={"magnitude_rank": "liana_magnitude_rank"})


def _patient_signals(obs: pd.DataFrame) -> dict[str, str]:
    """Each patient's stem-program signal (``csc_signal`` of its malignant cells; none: every patient discrete)."""
    if "csc_signal" not in obs:
        return {}
    mal = obs["malignant"].astype(str).eq("malignant") & obs["csc_signal"].astype(str).ne("")
    return dict(zip(obs.loc[mal, "patient"].astype(str), obs.loc[mal, "csc_signal"].astype(str), strict=True))


def _patient_stats(patient: str, X: sp.csr_matrix, labels: pd.Series, kept: list[str], entities: Entities,
                   params: Mapping, rng: np.random.Generator, *, split: bool = True) -> PatientStats:
    codes = pd.Categorical(labels, categories=kept).codes.astype(np.int64)
    means, props = group_means(X, codes, len(kept))
    csc_perm = None
    if split and CSC_HIGH in kept and CSC_LOW in kept:
        malignant = np.flatnonzero(labels.isin([CSC_HIGH, CSC_LOW]).to_numpy())
        csc_codes = labels.iloc[malignant].eq(CSC_LOW).to_numpy().astype(np.int64)  # 0 high, 1 low
        csc_perm = np.concatenate([entities.reduce(m) for m in
                                   permuted_means(X[malignant], csc_codes, 2, params["n_perms"], rng)])
    return PatientStats(patient, kept, entities.reduce(means), entities.reduce(props), csc_perm)
