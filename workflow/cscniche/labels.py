"""Labels shared by the stages: cell types, QC metrics, CSC calls, a stem program's signal, modes, cell groups."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .io import InputError

UNASSIGNED = "unassigned"  # a cell no marker set wins
CALLS = ("malignant", "non-malignant", "uncertain")
MALIGNANT_LABEL = "malignant"  # cell_type of malignant cells
QC_METRICS = ["n_genes", "total_counts", "pct_counts_mt", "pct_counts_ribo", "pct_counts_hb"]
CSC_HIGH, CSC_LOW = "CSC-high", "CSC-low"
# A patient's stem program (cscniche.consensus): CSC-high calls are confident only where it is discrete.
DISCRETE, CONTINUOUS, ABSENT, TOO_FEW_CELLS = "discrete", "continuous", "absent", "too_few_cells"
# How crosstalk and biomarkers compare malignant cells: CSC-high against CSC-low cells of patients with a
# discrete program, or each gene's association with stemness within every patient's malignant cells.
SPLIT, GRADED = "split", "graded"


def cell_groups(obs: pd.DataFrame) -> pd.Series:
    """Crosstalk group of each cell: ``CSC-high``/``CSC-low`` for malignant cells, the cell type otherwise.

    Cells without a usable label (uncertain malignancy, ``unassigned`` type, malignant without a CSC call)
    get an empty string.
    """
    missing = {"malignant", "cell_type", "csc", "patient"} - set(obs.columns)
    if missing:
        raise InputError(f"cell groups need obs column(s) {sorted(missing)} (from the stemness stage)")
    malignant = obs["malignant"].astype(str)
    csc = obs["csc"].astype(str)
    cell_type = obs["cell_type"].astype(str)
    groups = np.where(malignant.eq("malignant"), np.where(csc.isin([CSC_HIGH, CSC_LOW]), csc, ""),
                      np.where(malignant.eq("non-malignant") & ~cell_type.isin([UNASSIGNED, "", "nan"]),
                               cell_type, ""))
    return pd.Series(groups, index=obs.index, name="group")
