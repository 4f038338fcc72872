"""Scoring a patient's malignant cells, the scorers' agreement, and the patient's CSC calls."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..coherence import program_score
from ..consensus import (
    GUARD_SETTINGS,
    Shape,
    call_high,
    call_stability,
    combine,
    program_sets,
    scorer_weights,
    shape_of,
)
from ..io import InputError
from ..labels import CSC_HIGH, CSC_LOW
from ..scorer_meta import ANCHOR, scorer_columns
from .scorers import cytotrace, gene_columns, mrnasi, ucell_sets


def score_malignant(adata: ad.AnnData, params: dict, *, weights: pd.Series | None,
                    gene_sets: dict[str, list[str]]) -> pd.DataFrame:
    """Every scorer on the malignant cells, per patient where the scorer depends on its population.

    Returns a DataFrame (malignant cells x scorers) named ``cytotrace``, ``mrnasi``, ``ucell_<set>`` and
    ``program_<set>`` (:func:`cscniche.coherence.program_score`: the set's co-varying genes, per patient), in
    the order of :data:`cscniche.scorer_meta.STEMNESS_SCORERS`.
    """
    mal = adata.obs["malignant"].astype(str).eq("malignant").to_numpy()
    usable = {k: g for k, g in gene_sets.items() if sum(x in adata.var_names for x in g) >= 2}
    columns = scorer_columns(usable, given={"mrnasi_weights"} if weights is not None else ())
    if not mal.any():  # e.g. a patient without a detected tumour: the columns, no rows
        return pd.DataFrame(columns=columns, index=pd.Index([], dtype=object), dtype=float)
    # one copy of the malignant rows (slicing a view's X again would copy it on every access)
    sub = ad.AnnData(sp.csr_matrix(adata.X)[mal], obs=adata.obs.loc[mal, ["patient"]],
                     var=pd.DataFrame(index=adata.var_names))
    scores = pd.DataFrame(np.nan, index=sub.obs_names, columns=columns)
    patients = sub.obs["patient"].astype(str).to_numpy()
    set_columns = gene_columns(adata.var_names, usable)
    graph = adata.obsp.get("connectivities")
    for p in np.unique(patients):
        cells = np.flatnonzero(patients == p)
        part = ad.AnnData(sub.X[cells])
        if graph is not None:
            idx = np.flatnonzero(mal)[cells]
            part.obsp["connectivities"] = sp.csr_matrix(graph)[idx][:, idx]
        scores.iloc[cells, 0] = cytotrace(part)
        for name, cols in set_columns.items():
            scores.iloc[cells, scores.columns.get_loc(f"program_{name}")] = program_score(part.X, cols)
    if weights is not None:
        scores["mrnasi"] = mrnasi(sub, weights)
    if usable:  # a set absent from the data (e.g. mouse genes) is not scored
        ucell_scores = ucell_sets(sub, usable, max_rank=params["max_rank"]).add_prefix("ucell_")
        scores[ucell_scores.columns] = ucell_scores
    return scores


def agreement(scores: pd.DataFrame, patients: pd.Series) -> pd.DataFrame:
    """Spearman correlation between every pair of scorers within each patient (long form)."""
    rows = []
    for p, part in scores.groupby(patients.to_numpy()):
        corr = part.rank().corr()
        for a in corr.index:
            for b in corr.columns:
                if a < b:
                    rows.append({"patient": p, "scorer_a": a, "scorer_b": b, "spearman": float(corr.loc[a, b])})
    return pd.DataFrame(rows, columns=["patient", "scorer_a", "scorer_b", "spearman"])


def patient_calls(scores: pd.DataFrame, coherence_table: pd.DataFrame, params: dict, *,
                  seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Consensus, signal and CSC calls of one patient's malignant cells (see :mod:`cscniche.consensus`).

    Returns the cells (``stemness``, ``csc``, ``csc_frequency``, ``csc_signal``) and the patient's summary row:
    the signal and the condition that failed, the coherent gene sets and the best set's test, the mixture
    diagnostics, the calls and their stability, each scorer's weight and every guard setting.
    """
    candidates = params["consensus_scorers"] or list(scores.columns)
    unknown = [s for s in candidates if s not in scores]
    if unknown:
        raise InputError(f"stemness.consensus_scorers {unknown} are not scorers; available: {list(scores)}")
    coherent = program_sets(coherence_table, alpha=params["coherence_alpha"], min_excess=params["min_coherence"])
    anchors = [f"{ANCHOR.name}_{name}" for name in coherent if f"{ANCHOR.name}_{name}" in candidates]
    weights = scorer_weights(scores[candidates], anchors, min_agreement=params["min_scorer_agreement"])
    combined = combine(scores[candidates], weights)
    values = combined.to_numpy()
    n = len(values)
    shape = Shape()
    if n == 0:
        signal, failed = "too_few_cells", "no malignant cells in this patient"
    elif n < params["min_cells"]:
        signal, failed = "too_few_cells", f"{n} malignant cells < min_cells {params['min_cells']}"
    elif not coherent:
        signal, failed = "absent", _coherence_failure(coherence_table, params)
    else:
        shape = shape_of(values, params, seed=seed)
        signal, failed = ("discrete", "") if shape.discrete else ("continuous", "; ".join(shape.failed))
    method = params["call"] if signal == "discrete" else "top_quantile"
    rng = np.random.default_rng(seed)  # per patient: its calls do not depend on the other patients
    if signal in ("discrete", "continuous"):
        high = call_high(values, method, params["quantile"], seed)
        frequency, jaccard = call_stability(values, high, method, params, rng, seed)
    else:
        high, frequency, jaccard, method = np.zeros(n, bool), np.zeros(n), np.nan, "none"
    stemness = combined.rank(pct=True) if n else combined
    cells = pd.DataFrame({"stemness": stemness, "csc": np.where(high, CSC_HIGH, CSC_LOW),
                          "csc_frequency": frequency, "csc_signal": signal}, index=scores.index)
    best = coherence_table.sort_values(["pvalue", "excess"], ascending=[True, False]).head(1)
    used = weights[weights > 0].index
    pairs = [scores[a].corr(scores[b], method="spearman") for i, a in enumerate(used) for b in used[i + 1:]]
    row = {"malignant_cells": n, "signal": signal, "failed_condition": failed, "csc_high": int(high.sum()),
           "csc_fraction": float(high.mean()) if n else 0.0, "method": method,
           "threshold": float(stemness[high].min()) if high.any() else np.nan,
           "program_sets": ", ".join(coherent),
           "coherence_set": best["set"].iloc[0] if len(best) else "",
           **{f"coherence_{k}": float(best[k].iloc[0]) if len(best) else np.nan
              for k in ("excess", "pvalue", "pvalue_half_a", "pvalue_half_b")},
           "bic_gain": shape.bic_gain, "valley": shape.valley, "upper_mode_weight": shape.upper_weight,
           "jaccard_stability": jaccard,
           "mean_scorer_agreement": float(np.nanmean(pairs)) if np.isfinite(pairs).any() else np.nan,
           **{f"weight_{k}": float(v) for k, v in weights.items()},
           **{f"setting_{k}": params[k] for k in GUARD_SETTINGS}}
    return cells, row


def _coherence_failure(table: pd.DataFrame, params: dict) -> str:
    """Why no gene set is a program: the best set's failing conditions."""
    if table.empty:
        return "no gene set with 3 expressed genes"
    best = table.sort_values(["pvalue", "excess"], ascending=[True, False]).iloc[0]
    alpha = params["coherence_alpha"]
    reasons = [f"{k} {best[k]:.3g} > coherence_alpha {alpha}" for k in ("pvalue", "pvalue_half_a", "pvalue_half_b")
               if not best[k] <= alpha]
    if not best["excess"] >= params["min_coherence"]:
        reasons.append(f"excess coherence {best['excess']:.3g} < min_coherence {params['min_coherence']}")
    return f"no coherent program (best set {best['set']}: " + "; ".join(reasons) + ")"
