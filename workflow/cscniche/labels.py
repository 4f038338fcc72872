"""Labels shared by the stages: CSC calls, the signal of a patient's stem program, result modes."""

CSC_HIGH, CSC_LOW = "CSC-high", "CSC-low"
# A patient's stem program (cscniche.consensus): CSC-high calls are confident only where it is discrete.
DISCRETE, CONTINUOUS, ABSENT, TOO_FEW_CELLS = "discrete", "continuous", "absent", "too_few_cells"
# How crosstalk and biomarkers compare malignant cells: CSC-high against CSC-low cells of patients with a
# discrete program, or each gene's association with stemness within every patient's malignant cells.
SPLIT, GRADED = "split", "graded"
