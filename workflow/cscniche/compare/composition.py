"""Composition per patient (CSC-high share, TME type shares) and its test between two groups of patients."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.stats as ss

from ..labels import CSC_HIGH
from .stats import _bh, _sign_flip_pvalue

NOT_TME = ("unassigned", "", "nan", "malignant")
COMPOSITION_COLUMNS = ["measure", "group_a", "group_b", "n_patients_a", "n_patients_b", "mean_a", "mean_b",
                       "difference", "pvalue", "fdr", "test"]


def patient_composition(cells: pd.DataFrame, column: str, groups: list[str], *,
                        covariates: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    """Per patient and group of ``groups``: cells, malignant cells, CSC-high share and TME type shares.

    One row per patient, or per patient and group when a patient has samples in both (a paired design).
    ``csc_high_share`` is of the malignant cells; ``share_<type>`` of every TME type (non-malignant cells of an
    annotated type) is of all the cells. ``covariates``: columns of ``cells`` kept per patient.
    """
    cells = cells[cells[column].astype(str).isin(groups)]
    malignant = cells["malignant"].astype(str).eq("malignant")
    tme = cells["malignant"].astype(str).eq("non-malignant") & ~cells["cell_type"].astype(str).isin(NOT_TME)
    rows = []
    for (patient, group), part in cells.groupby([cells["patient"].astype(str), cells[column].astype(str)],
                                                sort=True):
        mal = malignant.loc[part.index]
        high = part.loc[mal, "csc"].astype(str).eq(CSC_HIGH).sum() if "csc" in part else 0
        row = {"patient": patient, "group": group, **{c: str(part[c].iloc[0]) for c in covariates}, "cells": len(part),
               "malignant_cells": int(mal.sum()), "csc_high_share": high / mal.sum() if mal.any() else np.nan}
        types = part.loc[tme.loc[part.index], "cell_type"].astype(str).value_counts()
        row |= {f"share_{t}": n / len(part) for t, n in types.items()}
        rows.append(row)
    table = pd.DataFrame(rows)
    shares = sorted(c for c in table if c.startswith("share_"))
    table[shares] = table[shares].fillna(0.0)
    return table[["patient", "group", *covariates, "cells", "malignant_cells", "csc_high_share", *shares]]


def composition_test(per_patient: pd.DataFrame, groups: list[str], *, descriptive: bool = False,
                     paired: bool = False, covariates: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    """Each measure (CSC-high share, each TME share) between the two groups of patients.

    ``difference`` is mean(b) - mean(a). ``pvalue``: exact two-sided Mann-Whitney U test of the patients'
    values (patients without malignant cells leave the CSC measure out); ``paired``: exact two-sided sign-flip
    test of the mean of each patient's difference (b - a), over the patients with values in both groups
    (``n_patients_a`` = ``n_patients_b`` = those patients); with ``covariates`` (columns of ``per_patient``):
    the t-test of the group coefficient of a linear model of the arcsine-square-root shares,
    ``~ group + covariates`` (as speckle's propeller transforms proportions). BH ``fdr`` over the measures;
    empty when fewer than 2 patients (pairs) can be tested, no residual degree of freedom is left, or
    ``descriptive``.
    """
    a, b = groups
    rows = []
    for measure in [c for c in per_patient if c == "csc_high_share" or c.startswith("share_")]:
        values = per_patient[["patient", "group", measure]].dropna()
        if paired:  # the patients with a value in both groups
            pairs = values.pivot_table(index="patient", columns="group", values=measure).reindex(
                columns=groups).dropna()
            values = values[values["patient"].isin(pairs.index)]
        va = values.loc[values["group"] == a, measure].to_numpy(float)
        vb = values.loc[values["group"] == b, measure].to_numpy(float)
        testable = not descriptive and min(len(va), len(vb)) >= 2
        if not testable:
            pvalue, test = np.nan, "descriptive (fewer than 2 patients in a group, or descriptive: true)"
        elif covariates:
            pvalue = _adjusted_pvalue(values.join(per_patient[list(covariates)]), measure, b, covariates)
            test = f"linear model of arcsine-square-root shares (~ group + {' + '.join(covariates)}), patients as units"
        elif paired:
            pvalue = _sign_flip_pvalue((pairs[b] - pairs[a]).to_numpy())
            test = "exact paired sign-flip test, patients as units"
        else:
            pvalue = float(ss.mannwhitneyu(vb, va, alternative="two-sided", method="exact").pvalue) \
                if np.ptp(np.concatenate([va, vb])) > 0 else 1.0
            test = "exact Mann-Whitney U, patients as units"
        rows.append({"measure": measure, "group_a": a, "group_b": b, "n_patients_a": len(va),
                     "n_patients_b": len(vb), "mean_a": va.mean() if len(va) else np.nan,
                     "mean_b": vb.mean() if len(vb) else np.nan,
                     "difference": (vb.mean() if len(vb) else np.nan) - (va.mean() if len(va) else np.nan),
                     "pvalue": pvalue, "test": test})
    table = pd.DataFrame(rows, columns=[c for c in COMPOSITION_COLUMNS if c != "fdr"])
    table["fdr"] = _bh(table["pvalue"])
    return table[COMPOSITION_COLUMNS]


def _adjusted_pvalue(values: pd.DataFrame, measure: str, b: str, covariates: list[str] | tuple[str, ...]) -> float:
    """Two-sided p-value of the group-b coefficient of ``asin(sqrt(share)) ~ group + covariates`` (OLS, t-test).

    NaN when the design leaves no residual degree of freedom or cannot separate the group from the covariates.
    """
    design = pd.get_dummies(values[list(covariates)].astype(str), drop_first=True, dtype=float)
    design.insert(0, "group", values["group"].eq(b).astype(float))
    design.insert(0, "intercept", 1.0)
    X, y = design.to_numpy(), np.arcsin(np.sqrt(values[measure].clip(0, 1).to_numpy(float)))
    rank = np.linalg.matrix_rank(X)
    df = len(y) - rank
    if df < 1 or rank < X.shape[1]:
        return np.nan
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    sigma2 = float(np.sum((y - X @ beta) ** 2)) / df
    se = np.sqrt(sigma2 * np.linalg.inv(X.T @ X)[1, 1])
    if se == 0:
        return 1.0 if beta[1] == 0 else 0.0
    return float(2 * ss.t.sf(abs(beta[1] / se), df))
