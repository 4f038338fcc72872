"""CSC biomarkers: CSC-high vs CSC-low differential expression, GSEA, and a ranked biomarker table.

* Per-cell test: exact Wilcoxon rank-sum on the sparse log-normalised matrix (:mod:`cscniche.ranksum`),
  which also gives each gene's AUROC.
* Pseudobulk: PyDESeq2 on summed counts per patient and CSC group, design ``~ patient + csc``, when at least
  two patients have both groups with enough cells and the data are counts. Its Wald statistic then ranks the
  genes for GSEA (otherwise the Wilcoxon z does).
* GSEA: gseapy prerank against local GMT files, the stemness gene sets and the crosstalk axes.
* Biomarkers: per gene AUROC, log2 fold change, fractions expressing, specificity against every TME cell
  type, consistency across patients and a cell-surface flag.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import anndata as ad
import pandas as pd

from ..enrichment import GSEA_COLUMNS, RUNNING_COLUMNS, gsea, leading_terms, ranking_table, running_scores
from .de import (
    _stemness_split,
    csc_mask,
    group_expression,
    pseudobulk_de,
    pseudobulk_plan,
    stemness_association,
    wilcoxon_de,
)
from .table import BIOMARKER_COLUMNS, CIRCULAR_SHARE, biomarker_table, gene_set_collection, mark_circular, surface_genes

__all__ = ["BIOMARKER_COLUMNS", "BiomarkerResult", "biomarker_table", "csc_mask", "gene_set_collection",
           "group_expression", "gsea", "leading_terms", "mark_circular", "pseudobulk_de", "pseudobulk_plan",
           "run_biomarkers", "stemness_association", "surface_genes", "wilcoxon_de"]


@dataclass(frozen=True)
class BiomarkerResult:
    """The biomarker stage's tables (``biomarkers/*.tsv``) and its notes in words.

    ``ranking``: the ranked list GSEA used (``rank, gene, stat``); ``running``: the running enrichment scores of
    the leading sets (:func:`cscniche.enrichment.running_scores`); ``expression``: the top biomarkers' mean
    expression and share of cells expressing per cell group (:func:`group_expression`).
    """

    biomarkers: pd.DataFrame
    de: pd.DataFrame
    gsea: pd.DataFrame
    notes: list[str]
    ranking: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["rank", "gene", "stat"]))
    running: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=RUNNING_COLUMNS))
    expression: pd.DataFrame | None = None


def run_biomarkers(adata: ad.AnnData, *, min_cells: int, pseudobulk: bool, gene_sets: list[dict], stemness_sets: bool,
                   axes_sets: bool, surface_markers: str, permutations: int, min_size: int, max_size: int, top: int,
                   weak_signal_fallback: float | None, stemness_gene_sets: dict[str, list[str]],
                   axes: dict[str, dict], resource: pd.DataFrame | None, seed: int = 0, counts: object | None = None,
                   threads: int = 1) -> BiomarkerResult:
    """The biomarker stage: CSC-high against CSC-low DE, GSEA and the ranked biomarker table.

    The keywords are the ``biomarkers`` config section (``config/README.md``), and: ``stemness_gene_sets``, the
    stemness stage's gene sets (:func:`cscniche.stemness.load_gene_sets`: GSEA sets, and the genes whose
    sets are circular); ``axes``, the signalling axes (:func:`cscniche.crosstalk.load_axes`); ``resource``, the
    LR pairs (receptors count as surface genes). ``counts``: raw counts for the pseudobulk when they are not
    ``adata.layers['counts']`` (see :func:`pseudobulk_de`). ``threads``: for DESeq2's per-gene fits and GSEA's
    permutations (same results).

    With fewer than ``min_cells`` CSC-high cells and ``weak_signal_fallback`` set, the comparison becomes the
    top share of each patient's malignant cells by consensus stemness against the rest (exploratory; the first
    note says so).
    """
    params = {name: value for name, value in locals().items()
              if name not in ("adata", "stemness_gene_sets", "axes", "resource", "seed", "counts", "threads")}
    result = _biomarkers(adata, params, stemness_sets=stemness_gene_sets, axes=axes, resource=resource, seed=seed,
                         counts=counts, threads=threads)
    genes = list(result.biomarkers["gene"].head(top))
    return replace(result, expression=group_expression(adata, genes))


def _biomarkers(adata: ad.AnnData, params: dict, *, stemness_sets: dict[str, list[str]], axes: dict[str, dict],
                resource: pd.DataFrame | None, seed: int, counts, threads: int) -> BiomarkerResult:
    mask, high = csc_mask(adata.obs)
    prefix, graded = [], None
    if high.sum() < params["min_cells"] or (~high).sum() < params["min_cells"]:
        sizes = f"{int(high.sum())} confident CSC-high and {int((~high).sum())} CSC-low malignant cells"
        fallback = params["weak_signal_fallback"]
        if not fallback or "stemness" not in adata.obs:
            return _empty_outputs([f"no biomarkers: {sizes} (at least {params['min_cells']} of each needed; "
                                   "no patient has a discrete stem program)"])
        adata = _stemness_split(adata, fallback)
        mask, high = csc_mask(adata.obs)
        if high.sum() < params["min_cells"] or (~high).sum() < params["min_cells"]:
            return _empty_outputs([f"no biomarkers: {sizes}, and too few malignant cells for a stemness split"])
        graded = stemness_association(adata, min_cells=params["min_cells"])
        prefix = [f"GRADED: no clean CSC split ({sizes}); genes are ranked by their Spearman correlation with "
                  "stemness within each patient's malignant cells, combined over "
                  f"{int(graded['n_patients'].max()) if len(graded) else 0} patient(s) (stemness_rho, pvalue, "
                  f"fdr); auroc, log2fc and the shares compare the top {fallback:.0%} of each patient's malignant "
                  "cells by stemness (labelled CSC-high) with the rest, descriptively"]
    wilcoxon = wilcoxon_de(adata)
    patients, reason = pseudobulk_plan(adata, params["min_cells"], counts=counts) if params["pseudobulk"] else \
        ([], "per-cell Wilcoxon only: pseudobulk switched off in the config")
    notes = prefix + [f"DE: {reason}"]
    de = wilcoxon
    ranking, ranked_by = wilcoxon.set_index("gene")["stat"], "the per-cell Wilcoxon z"
    bulk = None
    if len(patients) >= 2 and "pseudobulk DESeq2" in reason:
        bulk = pseudobulk_de(adata, patients, counts=counts, threads=threads)
        de = pd.concat([bulk, wilcoxon], ignore_index=True)
        ranking, ranked_by = bulk.set_index("gene")["stat"], "the pseudobulk Wald statistic"
    if graded is not None:
        ranking, ranked_by = graded["effect"], "their mean within-patient correlation with stemness"
    notes.append(f"GSEA ranks genes by {ranked_by}")
    scoring = sorted({g for genes in stemness_sets.values() for g in genes})
    surface = surface_genes(params["surface_markers"], resource)
    table = biomarker_table(adata, wilcoxon, surface, min_cells=params["min_cells"], scoring_genes=scoring,
                            graded=graded, bulk=bulk)
    if bulk is not None and graded is None:
        notes.append(f"Biomarkers ranked by the pseudobulk Wald statistic over {len(patients)} patients (the "
                     "patient as the unit: pvalue, fdr); the per-cell Wilcoxon test is kept as pvalue_cells, "
                     "fdr_cells")
    sets = gene_set_collection(params, stemness_sets, axes)
    enrichment = mark_circular(gsea(ranking, sets, params, seed=seed, threads=threads), sets, scoring)
    if enrichment["circular"].any():
        notes.append(f"GSEA: {int(enrichment['circular'].sum())} set(s) marked circular: at least "
                     f"{CIRCULAR_SHARE:.0%} of their genes score stemness, on which the comparison was made")
    de = de.sort_values(["method", "pvalue", "gene"], kind="mergesort").reset_index(drop=True)
    return BiomarkerResult(table, de, enrichment, notes, ranking=ranking_table(ranking),
                           running=running_scores(ranking, sets, leading_terms(enrichment)))


def _empty_outputs(notes: list[str]) -> BiomarkerResult:
    de = pd.DataFrame(columns=["gene", "method", "stat", "log2fc", "pvalue", "fdr"])
    return BiomarkerResult(pd.DataFrame(columns=BIOMARKER_COLUMNS), de,
                           pd.DataFrame(columns=[*GSEA_COLUMNS, "circular"]), notes)
