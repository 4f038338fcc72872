"""Malignant-cell calling.

CNV inference (infercnvpy) against automatically chosen normal reference cells, then per-patient calls
from CNV correlation with the tumour's CNV profile and CNV signal.
"""

from ..labels import CALLS, MALIGNANT_LABEL
from .calls import (
    apply_clonal_calls,
    call_all_malignant,
    call_from_author_labels,
    call_from_cnv_and_clonality,
    label_malignant,
)
from .cnv import CNV_BLOCK_CELLS, call_malignant, cnv_clusters, cnv_profiles, cnv_signal, infer_cnv
from .genes import (
    CHROMOSOMES,
    SHIPPED_GENE_POSITIONS,
    SHIPPED_GENE_POSITIONS_NAME,
    cnv_genes,
    gene_positions_source,
    place_genes,
    read_gene_positions,
)
from .reference import (
    REFERENCE_COLUMNS,
    choose_reference,
    chromosome_arms,
    reference_cells,
    reference_types,
    verify_reference,
)
from .stage import CNV_CLUSTER_COLUMNS, PROFILE_COLUMNS, MalignantResult, run_malignant

__all__ = ["CALLS", "CHROMOSOMES", "CNV_BLOCK_CELLS", "CNV_CLUSTER_COLUMNS", "MALIGNANT_LABEL", "PROFILE_COLUMNS",
           "REFERENCE_COLUMNS", "SHIPPED_GENE_POSITIONS", "SHIPPED_GENE_POSITIONS_NAME", "MalignantResult",
           "apply_clonal_calls", "call_all_malignant", "call_from_author_labels", "call_from_cnv_and_clonality",
           "call_malignant", "choose_reference", "chromosome_arms", "cnv_clusters", "cnv_genes", "cnv_profiles",
           "cnv_signal", "gene_positions_source", "infer_cnv", "label_malignant", "place_genes", "read_gene_positions",
           "reference_cells", "reference_types", "run_malignant", "verify_reference"]
