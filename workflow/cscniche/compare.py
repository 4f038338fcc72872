"""Comparisons of tumours with the patient as the unit: composition (CSC-high share, TME type shares).

Each patient is one observation: its CSC-high share of malignant cells and each TME type's share of its
cells are compared between two groups of patients (a sample-sheet column, e.g. response) with the exact
Mann-Whitney U test on those per-patient shares. Cells are never replicates here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.stats as ss

from .labels import CSC_HIGH

NOT_TME = ("unassigned", "", "nan", "malignant")
COMPOSITION_COLUMNS = ["measure", "group_a", "group_b", "n_patients_a", "n_patients_b", "mean_a", "mean_b",
                       "difference", "pvalue", "fdr", "test"]


def patient_composition(cells: pd.DataFrame, column: str, groups: list[str]) -> pd.DataFrame:
    """Per patient of ``groups``: cells, malignant cells, CSC-high share and TME type shares.

    ``csc_high_share`` is of the patient's malignant cells; ``share_<type>`` of every TME type (non-malignant
    cells of an annotated type) is of all its cells.
    """
    cells = cells[cells[column].astype(str).isin(groups)]
    malignant = cells["malignant"].astype(str).eq("malignant")
    tme = cells["malignant"].astype(str).eq("non-malignant") & ~cells["cell_type"].astype(str).isin(NOT_TME)
    rows = []
    for patient, part in cells.groupby(cells["patient"].astype(str), sort=True):
        mal = malignant.loc[part.index]
        high = part.loc[mal, "csc"].astype(str).eq(CSC_HIGH).sum() if "csc" in part else 0
        row = {"patient": patient, "group": str(part[column].iloc[0]), "cells": len(part),
               "malignant_cells": int(mal.sum()), "csc_high_share": high / mal.sum() if mal.any() else np.nan}
        types = part.loc[tme.loc[part.index], "cell_type"].astype(str).value_counts()
        row |= {f"share_{t}": n / len(part) for t, n in types.items()}
        rows.append(row)
    table = pd.DataFrame(rows)
    shares = sorted(c for c in table if c.startswith("share_"))
    table[shares] = table[shares].fillna(0.0)
    return table[["patient", "group", "cells", "malignant_cells", "csc_high_share", *shares]]


def composition_test(per_patient: pd.DataFrame, groups: list[str], *, descriptive: bool = False) -> pd.DataFrame:
    """Each measure (CSC-high share, each TME share) between the two groups of patients.

    ``difference`` is mean(b) - mean(a). ``pvalue``: exact two-sided Mann-Whitney U test of the patients'
    values (patients without malignant cells leave the CSC measure out), BH ``fdr`` over the measures;
    empty when a group has fewer than 2 patients or ``descriptive``.
    """
    a, b = groups
    rows = []
    for measure in [c for c in per_patient if c == "csc_high_share" or c.startswith("share_")]:
        values = per_patient[["group", measure]].dropna()
        va = values.loc[values["group"] == a, measure].to_numpy(float)
        vb = values.loc[values["group"] == b, measure].to_numpy(float)
        testable = not descriptive and min(len(va), len(vb)) >= 2
        pvalue = float(ss.mannwhitneyu(vb, va, alternative="two-sided", method="exact").pvalue) \
            if testable and np.ptp(np.concatenate([va, vb])) > 0 else (1.0 if testable else np.nan)
        rows.append({"measure": measure, "group_a": a, "group_b": b, "n_patients_a": len(va),
                     "n_patients_b": len(vb), "mean_a": va.mean() if len(va) else np.nan,
                     "mean_b": vb.mean() if len(vb) else np.nan,
                     "difference": (vb.mean() if len(vb) else np.nan) - (va.mean() if len(va) else np.nan),
                     "pvalue": pvalue, "test": "exact Mann-Whitney U, patients as units" if testable else
                     "descriptive (fewer than 2 patients in a group, or descriptive: true)"})
    table = pd.DataFrame(rows, columns=[c for c in COMPOSITION_COLUMNS if c != "fdr"])
    tested = table["pvalue"].notna()
    table["fdr"] = np.nan
    if tested.any():
        table.loc[tested, "fdr"] = ss.false_discovery_control(table.loc[tested, "pvalue"].to_numpy())
    return table[COMPOSITION_COLUMNS]
