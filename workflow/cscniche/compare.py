"""Comparisons of tumours with the patient as the unit: composition and resistance genes of CSCs.

Each patient is one observation: its CSC-high share of malignant cells and each TME type's share of its
cells are compared between two groups of patients (a sample-sheet column, e.g. response) with the exact
Mann-Whitney U test on those per-patient shares; genes of CSC-high cells are compared on per-patient
pseudobulks (PyDESeq2). Cells are never replicates here.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import scipy.stats as ss

from .enrichment import GSEA_COLUMNS, gmt_collection, gsea
from .labels import CSC_HIGH, CSC_LOW, cell_groups
from .pseudobulk import deseq2, sum_counts

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


def _sign_flip_pvalue(differences: np.ndarray) -> float:
    """Two-sided p-value of the mean of paired differences against their sign flips.

    All 2^n flips for n <= 20 (exact: at least 2 / 2^n); else the observed and 2^20 - 1 random flips (seed 0).
    1 when every difference is 0.
    """
    differences = np.asarray(differences, float)
    n = len(differences)
    if n > 20:
        signs = np.vstack([np.ones(n), np.random.default_rng(0).choice([-1.0, 1.0], size=(2 ** 20 - 1, n))])
    else:
        signs = 1 - 2 * ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(float)
    means = np.abs(signs @ differences) / n
    observed = abs(differences.mean())
    return float(np.mean(means >= observed - 1e-12 * max(observed, 1e-300)))


def _bh(pvalues: pd.Series) -> pd.Series:
    """Benjamini-Hochberg FDR over the p-values that exist (NaN elsewhere)."""
    fdr = pd.Series(np.nan, index=pvalues.index)
    tested = pvalues.notna()
    if tested.any():
        fdr[tested] = ss.false_discovery_control(pvalues[tested].to_numpy())
    return fdr


PRIOR_CPM = 10  # added to mean CPMs before a descriptive log2 ratio, so rare genes do not lead by noise
RESISTANCE_COLUMNS = ["gene", "log2fc", "stat", "pvalue", "fdr", "base_mean", "log2fc_csc_high", "log2fc_csc_low",
                      "mean_cpm_a", "mean_cpm_b", "n_patients_a", "n_patients_b", "test"]


def _sign_flip_pvalues(differences: np.ndarray, testable: np.ndarray, *, exact_up_to: int = 12) -> np.ndarray:
    """:func:`_sign_flip_pvalue` of each row's non-missing differences (NaN where not ``testable``), vectorised.

    All 2^n flips up to ``exact_up_to`` patients (at least 2 / 2^n); beyond, the observed and
    2^``exact_up_to`` - 1 random flips (seed 0, at least 1 / 2^``exact_up_to``).
    """
    pvalues = np.full(len(differences), np.nan)
    present = ~np.isnan(differences)
    patterns = pd.Series([row.tobytes() for row in present])
    for rows in patterns[testable].groupby(patterns[testable]).groups.values():
        rows = np.asarray(rows)
        values = differences[np.ix_(rows, np.flatnonzero(present[rows[0]]))]
        n = values.shape[1]
        if n > exact_up_to:
            signs = np.vstack([np.ones(n), np.random.default_rng(0).choice([-1.0, 1.0],
                                                                          size=(2 ** exact_up_to - 1, n))])
        else:
            signs = 1 - 2 * ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(float)
        for start in range(0, len(rows), 1000):
            block = values[start:start + 1000]
            observed = np.abs(block.mean(axis=1))[:, None]
            flipped = np.abs(block @ signs.T) / n
            pvalues[rows[start:start + 1000]] = np.mean(flipped >= observed - 1e-12 * np.fmax(observed, 1e-300),
                                                        axis=1)
    return pvalues


def csc_pseudobulks(counts, obs: pd.DataFrame, genes: pd.Index, *, column: str, groups: list[str],
                    min_cells: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Counts of each patient's CSC-high and CSC-low malignant cells in each group of ``groups``, summed.

    A pseudobulk is kept when it has at least ``min_cells`` cells. Its ``unit`` is the patient, or
    ``<patient>|<group>`` for a patient with cells in both groups (a paired design). Returns the pseudobulks
    (rows ``<unit>|<csc>``) and their ``patient, group, unit, csc``.
    """
    group_of = obs[column].astype(str).to_numpy()
    csc = obs["csc"].astype(str).to_numpy() if "csc" in obs else np.full(len(obs), "")
    malignant = obs["malignant"].astype(str).eq("malignant").to_numpy() & np.isin(group_of, groups)
    patient = obs["patient"].astype(str).to_numpy()
    groups_per_patient = pd.Series(group_of[malignant]).groupby(patient[malignant]).nunique()
    in_both = set(groups_per_patient.index[groups_per_patient > 1])
    cells_of = _row_groups(malignant & np.isin(csc, [CSC_HIGH, CSC_LOW]), patient, group_of, csc)
    members, meta = {}, []
    for (p, group, label), cells in sorted(cells_of.items()):
        unit = f"{p}|{group}" if p in in_both else p
        if len(cells) >= min_cells:
            members[f"{unit}|{label}"] = cells
            meta.append({"bulk": f"{unit}|{label}", "patient": p, "group": group, "unit": unit, "csc": label})
    columns = ["bulk", "patient", "group", "unit", "csc"]
    return sum_counts(counts, members, genes), pd.DataFrame(meta, columns=columns).set_index("bulk")


def _row_groups(mask: np.ndarray, *keys: np.ndarray) -> dict[tuple, np.ndarray]:
    """The rows where ``mask`` holds, grouped by the values of ``keys`` at them (one pass, sorted rows)."""
    rows = np.flatnonzero(mask)
    grouped = pd.Series(rows).groupby([key[rows] for key in keys], sort=False).indices
    return {key if isinstance(key, tuple) else (key,): rows[positions] for key, positions in grouped.items()}


def _mean_cpm(bulk: pd.DataFrame) -> pd.DataFrame:
    return bulk.div(bulk.sum(axis=1).clip(lower=1), axis=0) * 1e6


def resistance_genes(bulk: pd.DataFrame, meta: pd.DataFrame, groups: list[str], *, descriptive: bool = False,
                     min_counts: int = 10, threads: int = 1) -> pd.DataFrame:
    """Genes whose CSC-high over CSC-low change differs between the groups, the patient as the unit.

    PyDESeq2 on the CSC-high and CSC-low pseudobulks of the units (:func:`csc_pseudobulks`: patients, or a
    patient's samples in one group) that have both, design ``~ unit + csc + csc_in_b`` (``csc_in_b``: CSC-high
    cells of a group-b unit): ``log2fc`` is the group-b minus group-a difference of the CSC-high vs CSC-low
    log2 fold change (an interaction). Each unit is its own control, so its copy-number changes and own
    expression cancel; a gene that changes in all of a tumour's cells is not a CSC resistance gene here.
    Counts ``n_patients_*`` are patients. Run when each group has at least 2 such
    patients and not ``descriptive``. ``log2fc_csc_high`` and ``log2fc_csc_low``: the log2 ratio of the
    groups' mean CPM (plus ``PRIOR_CPM``) in each CSC group, descriptive. Genes up in group b first.
    """
    a, b = groups
    both_csc = meta.groupby("unit")["csc"].transform("nunique").eq(2)
    meta = meta[both_csc]
    high, low = meta[meta["csc"] == CSC_HIGH], meta[meta["csc"] == CSC_LOW]
    n_a, n_b = (int(high.loc[high["group"] == g, "patient"].nunique()) for g in groups)
    paired = high["patient"].duplicated().any()
    cpm = _mean_cpm(bulk)

    def ratio(rows: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
        mean_a = cpm.loc[rows.index[rows["group"] == a]].mean(axis=0)
        mean_b = cpm.loc[rows.index[rows["group"] == b]].mean(axis=0)
        return np.log2((mean_b + PRIOR_CPM) / (mean_a + PRIOR_CPM)), mean_a, mean_b

    ratio_high, mean_a, mean_b = ratio(high)
    ratio_low = ratio(low)[0]
    kept = bulk.columns[bulk.loc[meta.index].sum(axis=0) >= min_counts]
    if not descriptive and min(n_a, n_b) >= 2:
        design = meta.assign(csc=pd.Categorical(meta["csc"], categories=[CSC_LOW, CSC_HIGH]),
                             csc_in_b=pd.Categorical(np.where((meta["csc"] == CSC_HIGH) & (meta["group"] == b),
                                                              "yes", "no"), categories=["no", "yes"]))
        res = deseq2(bulk.loc[meta.index, kept], design, design="~ unit + csc + csc_in_b",
                     contrast=["csc_in_b", "yes", "no"], min_counts=min_counts, threads=threads,
                     conservative=True)
        test = (f"pseudobulk DESeq2 (~ unit + csc + csc_in_b): CSC-high vs CSC-low change, {b} minus {a}, "
                f"{n_a} vs {n_b} patients" + (" (a unit is a patient's samples in one group)" if paired else ""))
    else:
        res = pd.DataFrame({"gene": kept, "stat": np.nan, "log2fc": (ratio_high - ratio_low)[kept].to_numpy(),
                            "pvalue": np.nan, "fdr": np.nan, "base_mean": cpm.loc[meta.index, kept].mean(axis=0)})
        test = (f"descriptive ({n_a} vs {n_b} patients with CSC-high and CSC-low cells; a test needs 2 per group)"
                if not descriptive else "descriptive (descriptive: true)")
    genes = res["gene"].to_numpy()
    res = res.assign(log2fc_csc_high=ratio_high.reindex(genes).to_numpy(),
                     log2fc_csc_low=ratio_low.reindex(genes).to_numpy(), mean_cpm_a=mean_a.reindex(genes).to_numpy(),
                     mean_cpm_b=mean_b.reindex(genes).to_numpy(), n_patients_a=n_a, n_patients_b=n_b, test=test)
    order = res["stat"].fillna(res["log2fc"])
    return res.assign(_o=-order).sort_values(["_o", "gene"]).drop(columns="_o")[RESISTANCE_COLUMNS].reset_index(
        drop=True)


def run_resistance(malignant: ad.AnnData, comparison: dict, gsea_params: dict, *, seed: int = 0,
                   threads: int = 1) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Resistance genes of CSC-high cells between a comparison's groups, their GSEA, and notes in words.

    ``malignant``: the malignant cells with ``layers['counts']`` and ``obs`` ``patient``, ``csc`` and the
    comparison's column. ``gsea_params``: the ``biomarkers`` settings (``gene_sets``, ``min_size``,
    ``max_size``, ``permutations``); GSEA ranks genes by the DESeq2 statistic, so it runs only with a test.
    """
    column, groups = comparison["column"], comparison["groups"]
    empty = pd.DataFrame(columns=RESISTANCE_COLUMNS), pd.DataFrame(columns=GSEA_COLUMNS)
    if "counts" not in malignant.layers:
        return *empty, ["No resistance genes: the input is not raw counts, and pseudobulk DESeq2 needs them."]
    bulk, meta = csc_pseudobulks(malignant.layers["counts"], malignant.obs, malignant.var_names, column=column,
                                 groups=groups, min_cells=gsea_params["min_cells"])
    high = meta[meta["csc"] == CSC_HIGH]
    if high.empty:
        return *empty, [f"No resistance genes: no patient has {gsea_params['min_cells']} CSC-high cells."]
    genes = resistance_genes(bulk, meta, groups, descriptive=comparison["descriptive"], threads=threads)
    notes = [f"Resistance genes: {genes['test'].iloc[0]}." if len(genes) else "No gene passed the count filter."]
    if genes["stat"].notna().any() and gsea_params["gene_sets"]:
        sets = gmt_collection(gsea_params["gene_sets"])
        enrichment = gsea(genes.set_index("gene")["stat"], sets, gsea_params, seed=seed, threads=threads)
        notes.append(f"GSEA of the DESeq2 statistic over {len(sets)} gene sets.")
    else:
        enrichment = empty[1]
        notes.append("No GSEA: " + ("no test (descriptive comparison)." if genes["stat"].isna().all()
                                     else "no gene sets configured (biomarkers.gene_sets)."))
    return genes, enrichment, notes


PRIORITY_WEIGHTS = {"effect_t": 0.5, "csc_side": 0.25, "partner_expression": 0.25}
SIGNALLING_COLUMNS = ["ligand", "receptor", "direction", "partner", "effect_a", "effect_b", "effect_difference",
                      "effect_t", "csc_side_change", "partner_expression", "partner_side_change",
                      "ligand_log2fc", "ligand_fdr", "receptor_log2fc", "receptor_fdr", "csc_side_stat", "priority",
                      "pvalue", "fdr", "n_patients_a", "n_patients_b", "test", "pathway"]
EXPRESSION_COLUMNS = ["cell_group", "gene", "log2fc", "stat", "pvalue", "fdr", "n_patients_a", "n_patients_b"]


def group_expression_changes(counts, obs: pd.DataFrame, genes: pd.Index, *, column: str, groups: list[str],
                             min_cells: int, paired: bool = False, threads: int = 1) -> pd.DataFrame:
    """Each cell group's genes between the comparison's groups of patients, on pseudobulks.

    For each cell group (CSC-high, CSC-low and each TME type, as the crosstalk stage forms them), each
    patient's cells of the group (at least ``min_cells``) are summed, and PyDESeq2 ``~ arm`` compares the
    patients of group b with those of group a (a cell group with fewer than 2 patients on a side is left out).
    ``paired``: one pseudobulk per patient and group, the patients with both, design ``~ patient + arm``.
    ``counts``: raw counts of ``genes`` (e.g. the ligand and receptor genes only). Returns
    ``EXPRESSION_COLUMNS``; ``log2fc`` is b over a, ``fdr`` BH over all cell groups' genes together.
    """
    a, b = groups
    group_of = obs[column].astype(str).to_numpy()
    cell_group = cell_groups(obs).to_numpy()
    patient = obs["patient"].astype(str).to_numpy()
    cells_of = _row_groups(np.isin(group_of, groups) & (cell_group != ""), cell_group, patient, group_of)
    tables = []
    for name in sorted({key[0] for key in cells_of}):
        found = {(p, g): cells for (c, p, g), cells in sorted(cells_of.items())
                 if c == name and len(cells) >= min_cells}
        meta = pd.DataFrame([{"unit": f"{p}|{g}", "patient": p, "arm": "b" if g == b else "a"} for p, g in found])
        if paired and len(meta):
            meta = meta[meta.groupby("patient")["arm"].transform("nunique").eq(2)]
        n_a, n_b = (int(meta["arm"].eq(arm).sum()) if len(meta) else 0 for arm in ("a", "b"))
        if min(n_a, n_b) < 2:
            continue
        members = {f"{p}|{g}": cells for (p, g), cells in found.items() if f"{p}|{g}" in set(meta["unit"])}
        meta = meta.set_index("unit").assign(arm=lambda m: pd.Categorical(m["arm"], categories=["a", "b"]))
        res = deseq2(sum_counts(counts, members, genes), meta, design="~ patient + arm" if paired else "~ arm",
                     contrast=["arm", "b", "a"], threads=threads, conservative=True)
        tables.append(res.assign(cell_group=name, n_patients_a=n_a, n_patients_b=n_b))
    if not tables:
        return pd.DataFrame(columns=EXPRESSION_COLUMNS)
    table = pd.concat(tables, ignore_index=True)
    table["fdr"] = _bh(table["pvalue"])  # over every cell group's genes together
    return table[EXPRESSION_COLUMNS]


def _entity_changes(table: pd.DataFrame, expression: pd.DataFrame) -> pd.DataFrame:
    """The ligand's change in its sender and the receptor's in its receiver, per signalling row.

    A complex (subunits joined by ``_``) takes its subunit with the smallest absolute Wald statistic (the
    weakest link, as CellPhoneDB takes a complex's lowest-expressed subunit). ``csc_side_stat``: the statistic
    of the CSC-high cells' side (the ligand for ``CSC->TME``, the receptor for ``TME->CSC``).
    """
    lookup = {(g, gene): (fc, stat, fdr) for g, gene, fc, stat, fdr in expression[
        ["cell_group", "gene", "log2fc", "stat", "fdr"]].itertuples(index=False)}

    def change(group: str, entity: str) -> tuple[float, float, float]:
        found = [lookup[(group, gene)] for gene in entity.split("_") if (group, gene) in lookup]
        found = [f for f in found if np.isfinite(f[1])]
        return min(found, key=lambda f: abs(f[1])) if found else (np.nan, np.nan, np.nan)

    rows = []
    for ligand, receptor, kind, partner in table[["ligand", "receptor", "direction", "partner"]].itertuples(
            index=False):
        sender, receiver = (CSC_HIGH, partner) if kind == "CSC->TME" else (partner, CSC_HIGH)
        lig, rec = change(sender, ligand), change(receiver, receptor)
        rows.append((lig[0], lig[2], rec[0], rec[2], lig[1] if kind == "CSC->TME" else rec[1]))
    return pd.DataFrame(rows, index=table.index, columns=["ligand_log2fc", "ligand_fdr", "receptor_log2fc",
                                                          "receptor_fdr", "csc_side_stat"])


def patient_csc_effects(interactions: pd.DataFrame) -> pd.DataFrame:
    """Per patient, LR pair, direction and TME partner: the CSC-specific effect and both sides' expression.

    From ``crosstalk/interactions.tsv``: ``effect`` is the expression product (``lr_product``) with CSC-high
    cells minus that with CSC-low cells, for CSC->TME (CSC as sender) and TME->CSC (CSC as receiver), in
    every patient with CSC-high, CSC-low and partner cells. An interaction the table leaves out in a patient
    (a side expressed in fewer than ``expr_prop`` of its cells) scores 0 there, as in CellPhoneDB, so a pair
    that only CSC-high cells express keeps its effect. ``csc_side`` is the CSC-high cells' mean expression
    of their side (ligand or receptor), ``partner_side`` the partner's of the other side (NaN where unlisted).
    """
    present = pd.concat([interactions[["patient", "source"]].set_axis(["patient", "group"], axis=1),
                         interactions[["patient", "target"]].set_axis(["patient", "group"], axis=1)])
    groups_of = present.drop_duplicates().groupby("patient")["group"].agg(set)
    split = [p for p, groups in groups_of.items() if {CSC_HIGH, CSC_LOW} <= groups]
    rows = []
    for kind, own, other, side, partner_side in (("CSC->TME", "source", "target", "ligand_mean", "receptor_mean"),
                                                 ("TME->CSC", "target", "source", "receptor_mean", "ligand_mean")):
        part = interactions[interactions[own].isin([CSC_HIGH, CSC_LOW]) & ~interactions[other].isin(
            [CSC_HIGH, CSC_LOW]) & interactions["patient"].isin(split)]
        if part.empty:
            continue
        keys = ["patient", "ligand", "receptor", other]
        wide = part.pivot_table(index=keys, columns=own, values=["lr_product", side, partner_side], aggfunc="first")
        pairs = part[["ligand", "receptor", other]].drop_duplicates()
        grid = pd.MultiIndex.from_frame(pd.DataFrame(
            [(p, *row) for p in split for row in pairs.itertuples(index=False) if row[2] in groups_of[p]],
            columns=keys))
        wide = wide.reindex(grid)
        product = wide["lr_product"].reindex(columns=[CSC_HIGH, CSC_LOW]).fillna(0.0)
        partner = wide[partner_side].reindex(columns=[CSC_HIGH, CSC_LOW])
        table = pd.DataFrame({"effect": product[CSC_HIGH] - product[CSC_LOW],
                              "csc_side": wide[side].reindex(columns=[CSC_HIGH])[CSC_HIGH],
                              "partner_side": partner[CSC_HIGH].fillna(partner[CSC_LOW])})
        rows.append(table.reset_index().rename(columns={other: "partner"}).assign(direction=kind))
    columns = ["patient", "ligand", "receptor", "partner", "direction", "effect", "csc_side", "partner_side"]
    return pd.concat(rows, ignore_index=True)[columns] if rows else pd.DataFrame(columns=columns)


def _exact_mann_whitney(effects: pd.DataFrame, keys: list[str], testable: pd.Series, b: str) -> np.ndarray:
    """Two-sided exact Mann-Whitney U p-value of group b's vs the other group's per-patient effects, per key.

    Keys with the same patients are tested together (scipy's vectorised test over rows); a key whose
    effects are all equal gets 1. Untestable keys get NaN.
    """
    wide = effects.pivot_table(index=keys, columns="patient", values="effect", aggfunc="first").reindex(
        testable.index)
    group = effects.drop_duplicates("patient").set_index("patient")["group"].reindex(wide.columns)
    present = wide.notna().to_numpy()
    pvalues = np.full(len(wide), np.nan)
    patterns = pd.Series([row.tobytes() for row in present], index=range(len(wide)))
    for _, rows in patterns[testable.to_numpy()].groupby(patterns[testable.to_numpy()]).groups.items():
        rows = np.asarray(rows)
        cols = present[rows[0]]
        values = wide.to_numpy()[np.ix_(rows, np.flatnonzero(cols))]
        in_b = (group.to_numpy()[cols] == b)
        result = ss.mannwhitneyu(values[:, in_b], values[:, ~in_b], axis=1, alternative="two-sided",
                                 method="exact").pvalue
        pvalues[rows] = np.where(np.ptp(values, axis=1) > 0, result, 1.0)
    return pvalues


def signalling_differences(interactions: pd.DataFrame, patient_group: pd.Series, groups: list[str], *,
                           descriptive: bool = False, expression: pd.DataFrame | None = None,
                           pairs: pd.Series | None = None) -> pd.DataFrame:
    """CSC-TME signalling between the groups, the patient as the unit, in one prioritised ranking.

    For each LR pair, direction and TME partner (:func:`patient_csc_effects`): the groups' mean per-patient
    CSC-specific effect and its difference (b - a), tested with the exact two-sided Mann-Whitney U test of the
    patients' effects (BH ``fdr``; none with fewer than 2 patients a group or ``descriptive``); the change
    (b - a) of the CSC-high side's and the partner side's mean expression, and the partner side's mean
    expression over all patients (``partner_expression``: a partner that hardly expresses its side does not
    receive or send much). ``effect_t``: the effect difference over its standard error (Welch; the
    difference itself with one patient a group), so strong pairs do not lead by the size of their noise.
    With ``expression`` (:func:`group_expression_changes`): the ligand's pseudobulk change in the sender and
    the receptor's in the receiver (``ligand_log2fc``, ``ligand_fdr``, ``receptor_log2fc``, ``receptor_fdr``)
    and the CSC-high side's Wald statistic (``csc_side_stat``). ``priority``: the weighted mean of the
    percentile ranks of ``effect_t`` (1/2), the CSC side (1/4: ``csc_side_stat`` where tested, else
    ``csc_side_change``) and ``partner_expression`` (1/4) (``PRIORITY_WEIGHTS``; 1 = first on every count),
    rows by it.

    ``pairs`` (a paired design): ``interactions`` per unit, a patient's samples in one group (e.g. from
    :func:`cscniche.crosstalk.interactions_by_unit`); ``patient_group`` maps each unit to its group and
    ``pairs`` to its patient. The test is then the exact sign-flip test of the patients' differences (b - a)
    between their two units, ``effect_t`` their mean over its standard error, and ``n_patients_*`` count
    the patients with both.
    """
    a, b = groups
    effects = patient_csc_effects(interactions)
    effects["group"] = effects["patient"].astype(str).map(patient_group)
    effects = effects[effects["group"].isin(groups)]
    if effects.empty:
        return pd.DataFrame(columns=SIGNALLING_COLUMNS)
    keys = ["ligand", "receptor", "direction", "partner"]
    means = effects.pivot_table(index=keys, columns="group", values=["effect", "csc_side", "partner_side"],
                                aggfunc="mean")
    if ("effect", a) not in means or ("effect", b) not in means:
        return pd.DataFrame(columns=SIGNALLING_COLUMNS)
    if pairs is not None:
        effects["pair"] = effects["patient"].astype(str).map(pairs)
        differences = effects.pivot_table(index=keys, columns=["group", "pair"], values="effect", aggfunc="first")
        differences = (differences[b] - differences[a]).reindex(means.index)  # keys x patients with both
        counts = pd.DataFrame(dict.fromkeys(groups, differences.notna().sum(axis=1)))
    else:
        counts = effects.groupby([*keys, "group"]).size().unstack(fill_value=0).reindex(columns=groups,
                                                                                          fill_value=0)
    table = pd.DataFrame({"effect_a": means[("effect", a)], "effect_b": means[("effect", b)]}).reindex(counts.index)
    table["effect_difference"] = table["effect_b"] - table["effect_a"]
    if pairs is not None:
        shift, spread = differences.mean(axis=1), differences.std(axis=1) / counts[a] ** 0.5
    else:
        var = effects.pivot_table(index=keys, columns="group", values="effect", aggfunc="var").reindex(counts.index)
        shift = table["effect_difference"]
        spread = (var.get(a, np.nan) / counts[a] + var.get(b, np.nan) / counts[b]) ** 0.5
    floor = 0.05 * table[["effect_a", "effect_b"]].abs().mean(axis=1) + 1e-3  # no t from a zero spread
    table["effect_t"] = (shift / np.fmax(spread, floor).where(spread.notna())).fillna(shift)
    table["csc_side_change"] = means[("csc_side", b)] - means[("csc_side", a)]
    table["partner_side_change"] = means[("partner_side", b)] - means[("partner_side", a)]
    table["partner_expression"] = effects.groupby(keys)["partner_side"].mean()
    table["n_patients_a"], table["n_patients_b"] = counts[a], counts[b]
    testable = (counts[a] >= 2) & (counts[b] >= 2) & (not descriptive)
    if pairs is not None:
        table["pvalue"] = _sign_flip_pvalues(differences.to_numpy(), testable.to_numpy())
    else:
        table["pvalue"] = _exact_mann_whitney(effects, keys, testable, b)
    table["fdr"] = _bh(table["pvalue"])
    changes = _entity_changes(table.reset_index(), expression if expression is not None else
                              pd.DataFrame(columns=EXPRESSION_COLUMNS))
    table[list(changes.columns)] = changes.to_numpy()
    tested = table["csc_side_stat"].notna().any()
    table["csc_side"] = table["csc_side_stat"] if tested else table["csc_side_change"]
    ranks = table[list(PRIORITY_WEIGHTS)].fillna(0.0).rank(pct=True)
    table["priority"] = sum(weight * ranks[column] for column, weight in PRIORITY_WEIGHTS.items())
    table["test"] = np.where(testable, "exact paired sign-flip test of the patients' CSC-specific effect changes"
                             if pairs is not None else "exact Mann-Whitney U of the per-patient CSC-specific effects",
                             "descriptive (fewer than 2 patients a group, or descriptive: true)")
    pathway = interactions.drop_duplicates(["ligand", "receptor"]).set_index(["ligand", "receptor"])["pathway"] \
        if "pathway" in interactions else pd.Series(dtype=str)
    table = table.reset_index()
    table["pathway"] = [pathway.get((lig, rec), "") for lig, rec in zip(table["ligand"], table["receptor"],
                                                                          strict=True)]
    table = table.sort_values(["priority", "effect_difference", "ligand", "receptor", "partner"],
                              ascending=[False, False, True, True, True], kind="mergesort")
    return table[SIGNALLING_COLUMNS].reset_index(drop=True)
