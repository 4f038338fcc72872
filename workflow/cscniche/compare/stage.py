"""The compare stage's entry: one comparison of two groups of patients, from the dataset's tables and cells."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anndata as ad
import pandas as pd

from ..lr import interactions_by_unit
from .composition import composition_test, patient_composition
from .resistance import run_resistance
from .signalling import group_expression_changes, signalling_differences

CellReader = Callable[..., ad.AnnData]


@dataclass
class CompareResult:
    """One comparison's tables (``results/<dataset>/compare/<name>/``) and its notes in words."""

    per_patient: pd.DataFrame
    """Each patient's CSC-high share of malignant cells and TME shares, with its group."""
    composition: pd.DataFrame
    """Per measure: the two groups' patients compared (exact test, or descriptive)."""
    genes: pd.DataFrame
    """Resistance genes of CSC-high cells (pseudobulk DESeq2, the patient as the unit)."""
    gsea: pd.DataFrame
    """GSEA of the resistance genes' statistic."""
    signalling: pd.DataFrame
    """CSC-TME ligand-receptor effects compared between the groups, the patient as the unit."""
    notes: list[str]


def run_compare(cells: pd.DataFrame, interactions: pd.DataFrame, read: CellReader, *, name: str, column: str,
                groups: list[str], descriptive: bool, covariates: list[str], paired_by: str | None,
                biomarkers: Mapping[str, Any], crosstalk: Mapping[str, Any], seed: int = 0,
                threads: int = 1) -> CompareResult:
    """The compare stage: composition, resistance genes and CSC-TME signalling of two groups of patients.

    The keywords up to ``paired_by`` are one entry of the dataset's ``compare`` list (``config/README.md``);
    ``biomarkers`` and ``crosstalk`` are those config sections (GSEA, pseudobulk and LR settings).
    ``cells``: the per-cell table (``cells.tsv.gz``); ``interactions``: the crosstalk stage's table;
    ``read(**kwargs)`` reads the dataset's cells as :func:`cscniche.io.read_stage` does (its ``x``,
    ``layers``, ``where`` and ``genes``), so that only the malignant cells' counts and the LR genes are read.
    """
    comparison = {"name": name, "column": column, "groups": groups, "descriptive": descriptive,
                  "covariates": covariates, "paired_by": paired_by}
    paired = bool(paired_by)
    per_patient = patient_composition(cells, column, groups, covariates=covariates)
    test = composition_test(per_patient, groups, descriptive=descriptive, paired=paired, covariates=covariates)
    malignant = read(x=False, layers=True, where=("malignant", "malignant"))  # the counts: pseudobulks sum them
    genes, gsea, notes = run_resistance(malignant, comparison, biomarkers, seed=seed, threads=threads)
    del malignant
    signalling = _signalling(cells, interactions, read, comparison, biomarkers=biomarkers, crosstalk=crosstalk,
                             threads=threads, notes=notes)
    notes.append(f"CSC-TME signalling: {len(signalling)} LR pairs x partners compared" + (
        f" ({signalling['test'].iloc[0]})." if len(signalling) else " (no CSC-specific effects: no CSC-high and "
        "CSC-low cells with a TME partner in the patients)."))
    return CompareResult(per_patient, test, genes, gsea, signalling, notes)


def _signalling(cells: pd.DataFrame, interactions: pd.DataFrame, read: CellReader, comparison: dict, *,
                biomarkers: Mapping[str, Any], crosstalk: Mapping[str, Any], threads: int,
                notes: list[str]) -> pd.DataFrame:
    """CSC-TME signalling differences; a paired design scores each patient's two samples apart."""
    column, groups, paired = comparison["column"], comparison["groups"], bool(comparison["paired_by"])
    lr_genes = sorted({gene for entity in pd.concat([interactions["ligand"], interactions["receptor"]]).unique()
                       for gene in str(entity).split("_")})
    pairs, expression = None, None
    patient_group = cells.drop_duplicates("patient").set_index("patient")[column].astype(str)
    effects = interactions["direction"].isin(["CSC->TME", "TME->CSC"]).any()  # CSC-TME pairs to rank
    if effects and lr_genes and (paired or not comparison["descriptive"]):
        lr = read(x=paired, layers=True, genes=lr_genes)
        if paired:  # the crosstalk stage scores a patient's samples together: score each group's apart
            arm = lr.obs[column].astype(str)
            units = (lr.obs["patient"].astype(str) + "|" + arm).where(arm.isin(groups), "")
            resource = interactions[["ligand", "receptor", "pathway"]].drop_duplicates()
            interactions = interactions_by_unit(lr, resource, units=units, min_cells=crosstalk["min_cells"],
                                                expr_prop=crosstalk["expr_prop"])
            by_unit = pd.DataFrame({"unit": units, "patient": lr.obs["patient"].astype(str), "group": arm})
            by_unit = by_unit[by_unit["unit"] != ""].drop_duplicates("unit").set_index("unit")
            patient_group, pairs = by_unit["group"], by_unit["patient"]
        if not comparison["descriptive"] and "counts" in lr.layers:  # raw counts
            expression = group_expression_changes(
                lr.layers["counts"], lr.obs, lr.var_names, column=column, groups=groups,
                min_cells=biomarkers["min_cells"], paired=paired, threads=threads)
            tested = expression["cell_group"].nunique()
            notes.append(f"Ligands and receptors: pseudobulk DESeq2 ({'~ patient + arm' if paired else '~ arm'}) "
                         f"per cell group, {tested} cell group(s) with at least 2 patients a side.")
    return signalling_differences(interactions, patient_group, groups, descriptive=comparison["descriptive"],
                                  expression=expression, pairs=pairs)
