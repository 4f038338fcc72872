"""The biomarker table (AUROC, fold change, specificity, consistency, surface flag) and the gene-set collection."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.stats as ss

from ..config import resolve_path
from ..enrichment import gmt_collection
from ..io import InputError, read_yaml
from ..labels import GRADED, SPLIT
from ..ranksum import group_stats
from .de import MIN_CELLS_PER_PATIENT, _codes, csc_mask

BIOMARKER_COLUMNS = ["gene", "auroc", "log2fc", "pct_csc", "pct_noncsc", "specificity", "top_tme_type",
                     "n_patients_consistent", "n_patients", "surface", "surface_source", "pvalue", "fdr",
                     "pseudobulk_stat", "pvalue_cells", "fdr_cells", "stemness_gene", "stemness_rho", "mode"]


def surface_genes(path: str, resource: pd.DataFrame | None) -> dict[str, str]:
    """Gene -> why it counts as cell-surface: ``LR receptor``, ``CD marker`` or both."""
    file = Path(resolve_path(path))
    if not file.is_file():
        raise InputError(f"biomarkers.surface_markers: {path}: file not found")
    curated = set((read_yaml(file) or {}).get("genes") or [])
    receptors = set() if resource is None else {g for r in resource["receptor"] for g in str(r).split("_")}
    out = {}
    for gene in sorted(curated | receptors):
        out[gene] = " + ".join(s for s, hit in (("LR receptor", gene in receptors), ("CD marker", gene in curated))
                               if hit)
    return out


def biomarker_table(adata: ad.AnnData, wilcoxon: pd.DataFrame, surface: dict[str, str], *, min_cells: int,
                    scoring_genes: list[str] = (), graded: pd.DataFrame | None = None,
                    bulk: pd.DataFrame | None = None) -> pd.DataFrame:
    """Ranked biomarkers of CSC-high malignant cells (best first).

    Columns: ``gene, auroc, log2fc, pct_csc, pct_noncsc, specificity, top_tme_type, n_patients_consistent,
    n_patients, surface, surface_source, pvalue, fdr``. ``specificity`` is the smallest contrast
    ``(m_csc - m_t) / (m_csc + m_t)`` of the CSC-high mean against each TME type's mean (1: absent from every
    TME type; below 0: some TME type expresses it more); ``top_tme_type`` is that type. Consistency counts the
    patients with at least 3 cells in each group whose mean difference has the pooled direction. Genes up in
    CSC-high cells come first, by AUROC. ``stemness_gene`` flags the ``scoring_genes`` (the split was made on
    them). With ``graded`` (:func:`stemness_association`), ``stemness_rho``, ``pvalue`` and ``fdr`` are its
    within-patient correlations combined across patients, and the genes are ranked by ``stemness_rho``;
    ``mode`` says which. With ``bulk`` (:func:`pseudobulk_de`, two patients or more), the patient is the
    unit: ``pvalue``/``fdr`` are the pseudobulk test's, ``pseudobulk_stat`` its Wald statistic, and genes up
    in CSC-high pseudobulks come first by that statistic; ``pvalue_cells``/``fdr_cells`` keep the per-cell
    Wilcoxon test (cells as replicates: descriptive).
    """
    mask, high = csc_mask(adata.obs)
    cells = np.flatnonzero(mask)
    mean_h = wilcoxon["mean_csc"].to_numpy()
    tme = (adata.obs["malignant"].astype(str).eq("non-malignant") & ~adata.obs["cell_type"].astype(str).isin(
        ["unassigned", "", "nan"])).to_numpy()
    tme_rows = np.flatnonzero(tme)
    tme_types = [(cell_type, tme_rows[idx]) for cell_type, idx in
                 adata.obs[tme].groupby("cell_type", observed=True).indices.items() if len(idx) >= min_cells]
    patient = adata.obs["patient"].astype(str).to_numpy()[cells]
    pairs = [(cells[(patient == p) & high], cells[(patient == p) & ~high]) for p in np.unique(patient)]
    pairs = [pair for pair in pairs if min(len(pair[0]), len(pair[1])) >= MIN_CELLS_PER_PATIENT]
    # one pass over X: each TME type, then each patient's CSC-high and CSC-low cells
    groups = [rows for _, rows in tme_types] + [rows for pair in pairs for rows in pair]
    means = group_stats(adata.X, _codes(adata.n_obs, dict(enumerate(groups))), len(groups)).mean
    specificity = np.ones(adata.n_vars)
    top_type = np.full(adata.n_vars, "", dtype=object)
    for (cell_type, _), mean_t in zip(tme_types, means[: len(tme_types)], strict=True):
        with np.errstate(invalid="ignore", divide="ignore"):
            contrast = np.where(mean_h + mean_t > 0, (mean_h - mean_t) / (mean_h + mean_t), 0.0)
        lower = contrast < specificity
        specificity = np.where(lower, contrast, specificity)
        top_type = np.where(lower, cell_type, top_type)
    direction = np.sign(wilcoxon["log2fc"].to_numpy())
    consistent, n_patients = np.zeros(adata.n_vars, int), len(pairs)
    for i in range(n_patients):
        diff = means[len(tme_types) + 2 * i] - means[len(tme_types) + 2 * i + 1]
        consistent += (np.sign(diff) == direction) & (diff != 0)
    table = pd.DataFrame({"gene": adata.var_names, "auroc": wilcoxon["auroc"].to_numpy(),
                          "log2fc": wilcoxon["log2fc"].to_numpy(), "pct_csc": wilcoxon["pct_csc"].to_numpy(),
                          "pct_noncsc": wilcoxon["pct_noncsc"].to_numpy(), "specificity": specificity,
                          "top_tme_type": top_type, "n_patients_consistent": consistent, "n_patients": n_patients,
                          "pvalue": wilcoxon["pvalue"].to_numpy(), "fdr": wilcoxon["fdr"].to_numpy()})
    table["surface_source"] = table["gene"].map(surface).fillna("")
    table["surface"] = table["surface_source"].ne("")
    table["stemness_gene"] = table["gene"].isin(set(scoring_genes))
    table["mode"] = SPLIT if graded is None else GRADED
    table["stemness_rho"] = np.nan
    table["pvalue_cells"], table["fdr_cells"] = table["pvalue"], table["fdr"]
    table["pseudobulk_stat"] = np.nan
    if bulk is not None and graded is None:
        tested = bulk.set_index("gene").reindex(table["gene"])
        table["pseudobulk_stat"] = tested["stat"].to_numpy()
        table["pvalue"], table["fdr"] = tested["pvalue"].to_numpy(), tested["fdr"].to_numpy()
    if graded is not None:
        association = graded.reindex(table["gene"])
        table["stemness_rho"] = association["effect"].to_numpy()
        table["pvalue"] = association["pvalue"].to_numpy()
        table["fdr"] = ss.false_discovery_control(association["pvalue"].fillna(1).to_numpy())
        table["n_patients"] = association["n_patients"].to_numpy()
        table["n_patients_consistent"] = association["n_patients_consistent"].to_numpy()
    table = table[(table["pct_csc"] > 0) | (table["pct_noncsc"] > 0)]
    if graded is not None:
        table = table.sort_values(["stemness_rho", "gene"], ascending=[False, True], na_position="last")
    elif bulk is not None:
        up = table["pseudobulk_stat"] > 0
        table = pd.concat([table[up].sort_values(["pseudobulk_stat", "gene"], ascending=[False, True]),
                           table[~up].sort_values(["auroc", "gene"], ascending=[False, True])])
    else:
        up = table["log2fc"] > 0
        table = pd.concat([table[up].sort_values(["auroc", "log2fc", "gene"], ascending=[False, False, True]),
                           table[~up].sort_values(["auroc", "gene"], ascending=[True, True])])
    return table[BIOMARKER_COLUMNS].reset_index(drop=True)


def gene_set_collection(params: dict, stemness_sets: dict[str, list[str]],
                        axes: dict[str, dict]) -> dict[str, tuple[str, list[str]]]:
    """Gene sets for GSEA: ``name -> (source, genes)`` from the GMT files, stemness sets and crosstalk axes."""
    sets = gmt_collection(params["gene_sets"])
    if params["stemness_sets"]:
        sets |= {name: ("stemness", genes) for name, genes in stemness_sets.items()}
    if params["axes_sets"]:
        for name, axis in axes.items():
            genes = [g for pair in axis.get("pairs", []) for e in pair for g in str(e).split("_")]
            sets[f"AXIS_{name}"] = ("crosstalk axis", sorted(set(genes) | set(axis.get("genes", []))))
    return sets


CIRCULAR_SHARE = 0.2  # a gene set is circular when this share of its genes score stemness


def mark_circular(enrichment: pd.DataFrame, sets: dict[str, tuple[str, list[str]]],
                  scoring: list[str]) -> pd.DataFrame:
    """Add ``circular``: at least :data:`CIRCULAR_SHARE` of the set's genes are stemness scoring genes."""
    scoring = set(scoring)
    share = enrichment["term"].map(lambda t: len(scoring & set(sets[t][1])) / max(len(set(sets[t][1])), 1))
    return enrichment.assign(circular=share.astype(float) >= CIRCULAR_SHARE)
