"""CSC-specific signalling: CSC-high against CSC-low cells per patient (split), or stemness correlations (graded)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.stats as ss

from ..graded import combine_across_patients, stemness_correlations
from ..labels import CSC_HIGH, CSC_LOW, GRADED, SPLIT
from ..lr import DIRECTIONS, Entities, group_means

SPECIFIC_COLUMNS = ["ligand", "receptor", "source", "target", "direction", "partner", "effect", "score_csc_high",
                    "score_csc_low", "z", "pvalue", "fdr", "significant", "partner_specificity", "n_patients",
                    "n_patients_consistent", "n_patients_significant", "pvalue_patients", "mode", "test", "pathway"]
PATIENT_LEVEL = 0.05  # a patient's own permutation p-value at or below this counts in n_patients_significant

@dataclass
class PatientStats:
    """One patient's group statistics over entities, and CSC-high/low means under label permutations."""

    patient: str
    groups: list[str]
    mean: np.ndarray  # (n_groups, n_entities)
    prop: np.ndarray
    csc_perm: np.ndarray | None  # (n_perms, 2, n_entities): CSC-high, CSC-low under permuted labels


def csc_specific(stats: list[PatientStats], resource: pd.DataFrame, entities: Entities, *,
                 expr_prop: float, fdr_level: float = 0.05, min_patient_share: float = 0.5) -> pd.DataFrame:
    """Test, per LR pair and partner, whether the interaction is stronger with CSC-high than CSC-low cells.

    The statistic is the expression product (ligand mean x receptor mean) with CSC-high minus that with
    CSC-low malignant cells, summed over the patients that have both CSC groups (and the partner); its null
    is the same sum under CSC-label permutations within each patient. ``pvalue`` is the two-sided
    permutation p-value, (1 + permutations at least as extreme) / (n_perms + 1), so never below
    1/(n_perms + 1); ``fdr`` by Benjamini-Hochberg over all tests. With the patient as the unit:
    ``n_patients_consistent`` counts the patients whose own effect has the sign of the sum,
    ``n_patients_significant`` those whose own permutation p-value is at most 0.05 in that direction, and
    ``pvalue_patients`` is a one-sample t-test of the patients' standardised effects (three patients or more).
    ``significant``: FDR at ``fdr_level``, stronger with CSC-high cells, and consistent in at least
    ``min_patient_share`` of the patients tested. ``partner_specificity`` is the partner's share of its side's
    expression among the TME groups (mean over patients; 1 for CSC<->CSC). Rows come sorted with the
    significant interactions first, by ``effect x partner_specificity`` (a large gain with a partner that is
    the main TME source or target of the pair ranks first), then the rest by p-value and,
    among equal p-values (permutation p-values tie), by ``effect x partner_specificity``.
    """
    usable = [p for p in stats if p.csc_perm is not None]
    columns = SPECIFIC_COLUMNS
    if not usable:
        return pd.DataFrame(columns=columns)
    test = (f"stratified permutation within {len(usable)} patients" if len(usable) > 1
            else "within-patient permutation (one patient)")
    lig, rec = entities.index(resource["ligand"]), entities.index(resource["receptor"])
    partners = sorted({g for p in usable for g in p.groups if g not in (CSC_HIGH, CSC_LOW)})
    rows = []
    for kind in DIRECTIONS:
        for partner in (partners if kind != "CSC<->CSC" else ["CSC"]):
            rows.append(_partner_tests(usable, kind, partner, lig, rec, expr_prop))
    table = pd.concat([r for r in rows if len(r)], ignore_index=True) if any(len(r) for r in rows) else None
    if table is None:
        return pd.DataFrame(columns=columns)
    table["ligand"] = resource["ligand"].to_numpy()[table["pair"]]
    table["receptor"] = resource["receptor"].to_numpy()[table["pair"]]
    table["pathway"] = resource["pathway"].to_numpy()[table["pair"]]
    table["fdr"] = ss.false_discovery_control(table["pvalue"].to_numpy())
    table["test"] = test
    share = table["n_patients_consistent"] / table["n_patients"]
    table["significant"] = (table["fdr"] <= fdr_level) & (table["effect"] > 0) & (share >= min_patient_share)
    table["mode"] = SPLIT
    gain = -table["effect"] * table["partner_specificity"]
    table["_key"] = np.where(table["significant"], gain, table["pvalue"])
    table["_tie"] = gain  # permutation p-values tie (at the floor, too): the larger gain first
    table = table.sort_values(["significant", "_key", "_tie", "ligand", "receptor", "source", "target"],
                              ascending=[False, True, True, True, True, True, True], kind="mergesort")
    return table[columns].reset_index(drop=True)


def _partner_tests(stats: list[PatientStats], kind: str, partner: str, lig: np.ndarray, rec: np.ndarray,
                   expr_prop: float) -> pd.DataFrame:
    """Observed and permuted CSC-high minus CSC-low products of every pair for one partner and direction."""
    n_pairs = len(lig)
    obs, high, low = np.zeros(n_pairs), np.zeros(n_pairs), np.zeros(n_pairs)
    per_patient, shares, expressed = [], [], np.zeros(n_pairs, bool)
    patient_z, patient_p = [], []
    perm_total = None
    for p in stats:
        gi = {g: i for i, g in enumerate(p.groups)}
        if kind != "CSC<->CSC" and partner not in gi:
            continue
        h, lo = gi[CSC_HIGH], gi[CSC_LOW]
        if kind != "CSC<->CSC":  # the malignant side's entity, and the partner's
            mine, theirs = (lig, rec) if kind == "CSC->TME" else (rec, lig)
            w = p.mean[gi[partner], theirs]
            shares.append(_partner_share(p, gi[partner], theirs))
            ok = (p.prop[gi[partner], theirs] >= expr_prop) & (p.prop[[h, lo]][:, mine].max(axis=0) >= expr_prop)
            sh, sl = p.mean[h, mine] * w, p.mean[lo, mine] * w
            perm = (p.csc_perm[:, 0, mine] - p.csc_perm[:, 1, mine]) * w
        else:
            sh, sl = p.mean[h, lig] * p.mean[h, rec], p.mean[lo, lig] * p.mean[lo, rec]
            ok = (p.prop[[h, lo]][:, lig].max(axis=0) >= expr_prop) & (p.prop[[h, lo]][:, rec].max(axis=0) >= expr_prop)
            perm = p.csc_perm[:, 0, lig] * p.csc_perm[:, 0, rec] - p.csc_perm[:, 1, lig] * p.csc_perm[:, 1, rec]
        expressed |= ok
        obs += sh - sl
        high += sh
        low += sl
        per_patient.append(sh - sl)
        patient_z.append(_standardised(sh - sl, perm))
        patient_p.append(permutation_pvalue(sh - sl, perm))
        perm_total = perm if perm_total is None else perm_total + perm
    if perm_total is None or not expressed.any():
        return pd.DataFrame()
    share = np.mean(shares, axis=0) if shares else np.ones(n_pairs)
    z = _standardised(obs, perm_total)
    pvalue = permutation_pvalue(obs, perm_total)
    same_sign = np.sign(np.vstack(per_patient)) == np.sign(obs)[None, :]
    consistent = same_sign.sum(axis=0)
    significant_in = (same_sign & (np.vstack(patient_p) <= PATIENT_LEVEL)).sum(axis=0)
    across = _across_patients(np.vstack(patient_z))
    csc = "CSC"
    source = {"CSC->TME": csc, "TME->CSC": partner, "CSC<->CSC": csc}[kind]
    target = {"CSC->TME": partner, "TME->CSC": csc, "CSC<->CSC": csc}[kind]
    keep = np.flatnonzero(expressed)
    return pd.DataFrame({"pair": keep, "source": source, "target": target, "direction": kind,
                         "partner": partner, "effect": obs[keep], "score_csc_high": high[keep],
                         "score_csc_low": low[keep], "z": z[keep], "pvalue": pvalue[keep],
                         "partner_specificity": share[keep],
                         "n_patients": len(per_patient), "n_patients_consistent": consistent[keep],
                         "n_patients_significant": significant_in[keep], "pvalue_patients": across[keep]})


def permutation_pvalue(observed: np.ndarray, permuted: np.ndarray) -> np.ndarray:
    """Two-sided permutation p-values, (1 + #{|perm - centre| >= |observed - centre|}) / (n_perms + 1).

    ``permuted`` is ``(n_perms, n_tests)``; the centre is the permutation mean. Never below 1/(n_perms + 1).
    """
    centre = permuted.mean(axis=0)
    tolerance = 1e-12 * np.maximum(1.0, np.abs(observed))
    extreme = (np.abs(permuted - centre) >= np.abs(observed - centre)[None, :] - tolerance).sum(axis=0)
    return (1.0 + extreme) / (permuted.shape[0] + 1.0)


def _standardised(observed: np.ndarray, permuted: np.ndarray) -> np.ndarray:
    sd = permuted.std(axis=0)
    return np.where(sd > 0, (observed - permuted.mean(axis=0)) / np.where(sd > 0, sd, 1), 0.0)


def _across_patients(z: np.ndarray, *, min_patients: int = 3) -> np.ndarray:
    """One-sample t-test (two-sided) of the patients' standardised effects (rows); NaN below ``min_patients``."""
    if len(z) < min_patients:
        return np.full(z.shape[1], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = ss.ttest_1samp(z, 0.0, axis=0).pvalue
    return np.where(np.isfinite(p), p, 1.0)


def _partner_share(stats: PatientStats, partner: int, entities: np.ndarray) -> np.ndarray:
    """The partner's share of its side's expression among the patient's TME groups (1 = only the partner)."""
    tme = [i for i, g in enumerate(stats.groups) if g not in (CSC_HIGH, CSC_LOW)]
    total = stats.mean[tme][:, entities].sum(axis=0)
    return np.where(total > 0, stats.mean[partner, entities] / np.where(total > 0, total, 1.0), 0.0)


def graded_specific(X: sp.csr_matrix, obs: pd.DataFrame, groups: pd.Series, resource: pd.DataFrame,
                    entities: Entities, *, min_cells: int, expr_prop: float, fdr_level: float = 0.05,
                    min_patient_share: float = 0.5) -> tuple[pd.DataFrame, list[str]]:
    """Each LR pair's association with stemness, for when no patient has a CSC-high/CSC-low split.

    Per patient, the malignant side's entity (the ligand for CSC->TME, the receptor for TME->CSC, both for
    CSC<->CSC) is correlated with ``stemness`` over the patient's malignant cells (Spearman; a complex by
    the mean of its subunits); the partner must express the other side (``expr_prop`` of its cells) and the
    malignant cells this side. ``effect`` is the mean correlation over patients; ``pvalue`` a t-test across
    patients (:func:`cscniche.graded.combine_across_patients`; also ``pvalue_patients``), BH ``fdr``;
    ``significant`` as in :func:`csc_specific`. Rows are sorted by
    ``effect x partner_specificity``, significant positive associations first. ``score_csc_high`` and
    ``score_csc_low`` are empty (there is no split). Returns the table and notes.
    """
    X = sp.csr_matrix(X, dtype=np.float64)
    patients = obs["patient"].astype(str).to_numpy()
    malignant = obs["malignant"].astype(str).eq("malignant").to_numpy() & obs["stemness"].notna().to_numpy()
    lig, rec = entities.index(resource["ligand"]), entities.index(resource["receptor"])
    average = _subunit_average(entities)
    rows, notes, cells = [], [], {}
    for patient in sorted(set(patients)):
        mal = np.flatnonzero(malignant & (patients == patient))
        sizes = groups[(patients == patient) & ~malignant].value_counts()
        partners = sorted(g for g in sizes[sizes >= min_cells].index if g not in ("", CSC_HIGH, CSC_LOW))
        if len(mal) < min_cells or not partners:
            notes.append(f"{patient}: {len(mal)} malignant cells with stemness and {len(partners)} TME group(s) "
                         f"with {min_cells} cells; not in the graded test")
            continue
        cells[patient] = len(mal)
        rho = average @ np.nan_to_num(stemness_correlations(X[mal], obs["stemness"].to_numpy()[mal]))
        members = [mal, *(np.flatnonzero((patients == patient) & groups.eq(g).to_numpy()) for g in partners)]
        codes = np.full(X.shape[0], -1, dtype=np.int64)
        for code, idx in enumerate(members):
            codes[idx] = code
        mean, prop = (entities.reduce(a) for a in group_means(X, codes, len(members)))
        tme_total = mean[1:].sum(axis=0)
        for kind in DIRECTIONS:
            for i, partner in enumerate(partners if kind != "CSC<->CSC" else ["CSC"], start=1):
                if kind == "CSC<->CSC":
                    value, ok = (rho[lig] + rho[rec]) / 2, (prop[0, lig] >= expr_prop) & (prop[0, rec] >= expr_prop)
                    share = np.ones(len(lig))
                else:
                    mine, theirs = (lig, rec) if kind == "CSC->TME" else (rec, lig)
                    value = rho[mine]
                    ok = (prop[0, mine] >= expr_prop) & (prop[i, theirs] >= expr_prop)
                    share = np.where(tme_total[theirs] > 0, mean[i, theirs] / np.where(tme_total[theirs] > 0,
                                                                                        tme_total[theirs], 1), 0)
                keep = np.flatnonzero(ok)
                rows.append(pd.DataFrame({"pair": keep, "direction": kind, "partner": partner, "patient": patient,
                                          "rho": value[keep], "share": share[keep]}))
    if not rows or not any(len(r) for r in rows):
        return pd.DataFrame(columns=SPECIFIC_COLUMNS), notes
    long = pd.concat(rows, ignore_index=True)
    keys = ["pair", "direction", "partner"]
    wide = long.pivot_table(index=keys, columns="patient", values="rho", aggfunc="first")
    table = combine_across_patients(wide, pd.Series(cells)).reset_index()
    table["partner_specificity"] = long.groupby(keys)["share"].mean().to_numpy()
    table["ligand"] = resource["ligand"].to_numpy()[table["pair"]]
    table["receptor"] = resource["receptor"].to_numpy()[table["pair"]]
    table["pathway"] = resource["pathway"].to_numpy()[table["pair"]]
    table["source"] = np.where(table["direction"] == "TME->CSC", table["partner"], "CSC")
    table["target"] = np.where(table["direction"] == "CSC->TME", table["partner"], "CSC")
    table["fdr"] = ss.false_discovery_control(table["pvalue"].fillna(1).to_numpy())
    share = table["n_patients_consistent"] / table["n_patients"]
    table["significant"] = (table["fdr"] <= fdr_level) & (table["effect"] > 0) & (share >= min_patient_share)
    table["score_csc_high"] = table["score_csc_low"] = table["n_patients_significant"] = np.nan
    table["pvalue_patients"] = table["pvalue"]
    table = table.rename(columns={"statistic": "z"}).assign(mode=GRADED)
    table["_key"] = -table["effect"] * table["partner_specificity"]
    table = table.sort_values(["significant", "_key", "ligand", "receptor", "source", "target"],
                              ascending=[False, True, True, True, True, True], kind="mergesort")
    return table[SPECIFIC_COLUMNS].reset_index(drop=True), notes


def _subunit_average(entities: Entities) -> sp.csr_matrix:
    """Entities x genes matrix averaging each entity's distinct subunits."""
    rows, cols, vals = [], [], []
    for i, units in enumerate(entities.subunits):
        distinct = np.unique(units)
        rows += [i] * len(distinct)
        cols += list(distinct)
        vals += [1.0 / len(distinct)] * len(distinct)
    return sp.csr_matrix((vals, (rows, cols)), shape=(len(entities.names), len(entities.genes)))
