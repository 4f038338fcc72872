"""Colours of categories, the same in every figure, the report and ``adata.h5ad`` (``uns['<key>_colors']``).

Known cell types, CSC calls and malignancy calls keep one colour across datasets; other labels take the next
free colours in sorted order. Missing or undecided labels (``unassigned``, ``uncertain``, empty) are grey.
The first colours are Paul Tol's colour-blind-safe "muted" and "bright" schemes.
"""

from __future__ import annotations

from collections.abc import Iterable

SCHEME = ["#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255", "#AA4499",
          "#4477AA", "#66CCEE", "#228833", "#CCBB44", "#EE6677", "#AA3377", "#6F4E37", "#E69F00", "#56B4E9",
          "#009E73", "#D55E00", "#0072B2", "#CC79A7", "#8C564B", "#17BECF"]
GREY = "#BBBBBB"
UNDECIDED = {"", "nan", "unassigned", "uncertain", "(none)"}
FIXED = {
    "malignant": "#882255", "non-malignant": "#44AA99", "CSC-high": "#CC3311", "CSC-low": "#0077BB",
    "T cell": "#332288", "CD4 T cell": "#4477AA", "CD8 T cell": "#88CCEE", "regulatory T cell": "#66CCEE",
    "NK cell": "#117733", "B cell": "#DDCC77", "plasma cell": "#CCBB44", "macrophage/monocyte": "#CC6677",
    "dendritic cell": "#EE6677", "mast cell": "#AA4499", "fibroblast/CAF": "#999933",
    "endothelial cell": "#E69F00", "pericyte/smooth muscle": "#D55E00", "MSC-like": "#6F4E37",
    "epithelial": "#56B4E9", "oligodendrocyte": "#009E73", "astrocyte": "#0072B2", "OPC": "#CC79A7",
    "neuron": "#8C564B", "microglia": "#17BECF",
}


def category_colours(labels: Iterable[str]) -> dict[str, str]:
    """A colour per label: fixed for known labels, grey for undecided ones, the next free colour otherwise.

    Others are taken in sorted order (numbers by value, e.g. Leiden clusters), so the same labels always
    get the same colours.
    """
    names = sorted({str(label) for label in labels}, key=_natural)
    colours = {name: GREY for name in names if name in UNDECIDED}
    colours.update({name: FIXED[name] for name in names if name in FIXED})
    free = [c for c in SCHEME if c not in colours.values()] or SCHEME
    others = [name for name in names if name not in colours]
    colours.update({name: free[i % len(free)] for i, name in enumerate(others)})
    return colours


def _natural(value: str) -> tuple:
    return (not value.isdigit(), int(value) if value.isdigit() else 0, value)
