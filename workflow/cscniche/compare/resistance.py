"""Resistance genes: CSC-high against CSC-low pseudobulks per patient, compared between the groups."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from ..enrichment import GSEA_COLUMNS, gmt_collection, gsea
from ..labels import CSC_HIGH, CSC_LOW
from ..pseudobulk import deseq2, sum_counts
from .stats import _row_groups

PRIOR_CPM = 10  # added to mean CPMs before a descriptive log2 ratio, so rare genes do not lead by noise
RESISTANCE_COLUMNS = ["gene", "log2fc", "stat", "pvalue", "fdr", "base_mean", "log2fc_csc_high", "log2fc_csc_low",
                      "mean_cpm_a", "mean_cpm_b", "n_patients_a", "n_patients_b", "test"]


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
