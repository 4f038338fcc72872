"""CSC-TME crosstalk: ligand-receptor inference with CSC-high and CSC-low malignant cells as groups.

* Resource: liana's consensus resource (shipped inside the package) or CellPhoneDB v5 input tables
  (``interaction_input.csv``, ``gene_input.csv``, ``complex_input.csv``), or a ligand/receptor table.
  Complexes are their subunits joined by ``_`` (sorted), scored by their weakest subunit.
* Per patient, a CellPhoneDB-style permutation test (Efremova et al., Nat Protoc 15:1484, 2020) as in
  liana's ``cellphonedb`` method: the LR mean is the mean of the ligand's mean in the source and the
  receptor's mean in the target, both expressed in at least ``expr_prop`` of their group's cells; the
  p-value is the share of cell-label permutations scoring at least as high, the observed labelling counted
  as one of them (never below 1/(n_perms + 1); liana and CellPhoneDB report 0 there).
* CSC-specific signalling: per LR pair and TME partner, the difference of the expression product
  (ligand mean x receptor mean) between CSC-high and CSC-low malignant cells, summed over patients; its
  null comes from permuting the CSC-high/CSC-low labels within each patient (stratified), p-values from
  the permutation z-score, BH FDR across all tests.

Permutations run on the sparse matrix in a numba kernel (each stored value is visited once per permutation).
"""

from ..labels import CSC_HIGH, CSC_LOW, cell_groups
from ..lr import DIRECTIONS, Entities, cellphonedb_test, direction, group_means, interactions_by_unit, permuted_means
from .axes import axis_scores, load_axes
from .resource import CPDB_FILES, crosstalk_genes, liana_resource, load_resource
from .specific import (
    PATIENT_LEVEL,
    SPECIFIC_COLUMNS,
    PatientStats,
    csc_specific,
    graded_specific,
    permutation_pvalue,
)
from .stage import CrosstalkResult, infer_crosstalk, liana_magnitude, run_crosstalk

__all__ = ["CPDB_FILES", "CSC_HIGH", "CSC_LOW", "DIRECTIONS", "PATIENT_LEVEL", "SPECIFIC_COLUMNS", "CrosstalkResult",
           "Entities", "PatientStats", "axis_scores", "cell_groups", "cellphonedb_test", "crosstalk_genes",
           "csc_specific", "direction", "graded_specific", "group_means", "infer_crosstalk", "interactions_by_unit",
           "liana_magnitude", "liana_resource", "load_axes", "load_resource", "permutation_pvalue", "permuted_means",
           "run_crosstalk"]
