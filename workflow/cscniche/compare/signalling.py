"""CSC-TME signalling between the groups: per-patient CSC-specific effects and ligand/receptor pseudobulks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.stats as ss

from ..labels import CSC_HIGH, CSC_LOW, cell_groups
from ..pseudobulk import deseq2, sum_counts
from .stats import _bh, _row_groups, _sign_flip_pvalues

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
