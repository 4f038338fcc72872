"""Figures drawn from saved tables (never recomputing the analysis): one module per stage."""

from .biomarkers import biomarker_dotplot, gsea_figure, gsea_running_figure, volcano
from .compare import comparison_figure
from .crosstalk import axes_figure, crosstalk_heatmap, csc_specific_dotplot, group_network, sender_receiver_figure
from .identity import (
    CALL_COLOURS,
    HEATMAP_MAX_CELLS,
    agreement_heatmap,
    cnv_heatmap,
    composition_figure,
    marker_dotplot,
    umap_figure,
)
from .qc import qc_figure
from .stemness import feature_umaps, stemness_by_cluster, stemness_figure

__all__ = [
    "CALL_COLOURS", "HEATMAP_MAX_CELLS", "agreement_heatmap", "axes_figure", "biomarker_dotplot", "cnv_heatmap",
    "comparison_figure", "composition_figure", "crosstalk_heatmap", "csc_specific_dotplot", "feature_umaps",
    "group_network", "gsea_figure", "gsea_running_figure", "marker_dotplot", "qc_figure", "sender_receiver_figure",
    "stemness_by_cluster", "stemness_figure", "umap_figure", "volcano",
]
