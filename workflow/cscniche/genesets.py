"""Gene sets and gene weights from the config's files: curated marker sets (YAML), GMT sets, mRNAsi weights.

The stemness stage scores cells with them; the biomarker stage flags the genes that scored the CSCs; the CSC
marker figure draws them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .enrichment import read_gmt
from .io import InputError, read_yaml

__all__ = ["load_gene_sets", "read_weights"]


def read_weights(path: str | Path) -> pd.Series:
    """MRNAsi OCLR weights: two columns (gene, weight), no header."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: mRNAsi weight file not found")
    table = pd.read_csv(path, sep="\t", header=None, usecols=[0, 1], names=["gene", "weight"])
    return table.drop_duplicates("gene").set_index("gene")["weight"].astype(float)


def load_gene_sets(params: dict) -> dict[str, list[str]]:
    """The curated CSC marker sets (YAML) plus the named sets of any GMT files in the config."""
    sets: dict[str, list[str]] = {}
    for path in params["marker_sets"]:
        doc = read_yaml(path) or {}
        for name, spec in (doc.get("gene_sets") or {}).items():
            sets[name] = list(spec["genes"])
    for gmt in params["gmt"]:
        available = read_gmt(gmt["path"])
        missing = [s for s in gmt["sets"] if s not in available]
        if missing:
            raise InputError(f"{gmt['path']}: gene set(s) {missing} not found")
        sets |= {s: available[s] for s in gmt["sets"]}
    return sets
