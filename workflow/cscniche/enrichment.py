"""Gene-set enrichment of a ranked gene list (gseapy prerank), shared by the biomarker and comparison stages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .config import resolve_path
from .io import InputError

GSEA_COLUMNS = ["term", "source", "nes", "es", "pvalue", "fdr", "size", "lead_genes"]


def gsea(ranking: pd.Series, sets: dict[str, tuple[str, list[str]]], params: dict, *, seed: int,
         threads: int = 1) -> pd.DataFrame:
    """Prerank GSEA (gseapy) of ``ranking`` (gene -> statistic); rows ``term, source, nes, pvalue, fdr, ...``.

    The seeded permutations give the same table for any ``threads`` (tested).
    """
    import gseapy

    columns = GSEA_COLUMNS
    ranking = ranking.replace([np.inf, -np.inf], np.nan).dropna()
    ranking = ranking[~ranking.index.duplicated()].sort_values(ascending=False)
    present = set(ranking.index)
    usable = {k: [g for g in v if g in present] for k, (_, v) in sets.items()}
    usable = {k: v for k, v in usable.items() if params["min_size"] <= len(v) <= params["max_size"]}
    if not usable:
        return pd.DataFrame(columns=columns)
    result = gseapy.prerank(rnk=ranking, gene_sets=usable, min_size=params["min_size"], max_size=params["max_size"],
                            permutation_num=params["permutations"], seed=seed, threads=threads, outdir=None,
                            no_plot=True, verbose=False).res2d
    table = pd.DataFrame({"term": result["Term"].astype(str), "nes": result["NES"].astype(float),
                          "es": result["ES"].astype(float), "pvalue": result["NOM p-val"].astype(float),
                          "fdr": result["FDR q-val"].astype(float),
                          "lead_genes": result["Lead_genes"].astype(str)})
    table["source"] = table["term"].map(lambda t: sets[t][0])
    table["size"] = table["term"].map(lambda t: len(usable[t]))
    table = table.sort_values(["nes", "term"], ascending=[False, True])
    return table[columns].reset_index(drop=True)


def read_gmt(path: str | Path) -> dict[str, list[str]]:
    """Gene sets from a GMT file (name, description, genes...)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: gene-set file not found")
    sets = {}
    for line in path.read_text().splitlines():
        fields = line.rstrip("\n").split("\t")
        if len(fields) >= 3:
            sets[fields[0]] = [g for g in fields[2:] if g]
    if not sets:
        raise InputError(f"{path}: no gene sets (expected GMT: name, description, genes, tab-separated)")
    return sets


def gmt_collection(entries: list[dict]) -> dict[str, tuple[str, list[str]]]:
    """Gene sets of the configured GMT files (``[{path, source}]``): ``name -> (source, genes)``.

    Raises
    ------
    InputError
        Naming the entry whose file is missing.
    """
    sets: dict[str, tuple[str, list[str]]] = {}
    for entry in entries:
        path = resolve_path(entry["path"])
        if not Path(path).is_file():
            raise InputError(f"biomarkers.gene_sets: {entry['path']}: gene-set file not found")
        sets |= {name: (entry["source"], genes) for name, genes in read_gmt(path).items()}
    return sets
