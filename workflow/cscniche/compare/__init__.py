"""Comparisons of tumours with the patient as the unit: composition and resistance genes of CSCs.

Each patient is one observation: its CSC-high share of malignant cells and each TME type's share of its
cells are compared between two groups of patients (a sample-sheet column, e.g. response) with the exact
Mann-Whitney U test on those per-patient shares; genes of CSC-high cells are compared on per-patient
pseudobulks (PyDESeq2). Cells are never replicates here.
"""

from .composition import COMPOSITION_COLUMNS, NOT_TME, composition_test, patient_composition
from .resistance import PRIOR_CPM, RESISTANCE_COLUMNS, csc_pseudobulks, resistance_genes, run_resistance
from .signalling import (
    EXPRESSION_COLUMNS,
    PRIORITY_WEIGHTS,
    SIGNALLING_COLUMNS,
    group_expression_changes,
    patient_csc_effects,
    signalling_differences,
)
from .stage import CompareResult, run_compare
from .stats import _sign_flip_pvalue, _sign_flip_pvalues

__all__ = ["COMPOSITION_COLUMNS", "CompareResult", "EXPRESSION_COLUMNS", "NOT_TME", "PRIORITY_WEIGHTS", "PRIOR_CPM",
           "RESISTANCE_COLUMNS", "SIGNALLING_COLUMNS", "_sign_flip_pvalue", "_sign_flip_pvalues", "composition_test",
           "csc_pseudobulks", "group_expression_changes", "patient_composition", "patient_csc_effects",
           "resistance_genes", "run_compare", "run_resistance", "signalling_differences"]
