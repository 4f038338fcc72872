"""Gene-set enrichment of a ranked gene list (gseapy prerank), shared by the biomarker and comparison stages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .config import resolve_path
from .io import InputError

GSEA_COLUMNS = ["term", "source", "nes", "es", "pvalue", "fdr", "size", "lead_genes"]
RUNNING_COLUMNS = ["term", "rank", "running_es", "gene"]


def gsea(ranking: pd.Series, sets: dict[str, tuple[str, list[str]]], params: dict, *, seed: int,
         threads: int = 1) -> pd.DataFrame:
    """Prerank GSEA (gseapy) of ``ranking`` (gene -> statistic); rows ``term, source, nes, pvalue, fdr, ...``.

    The seeded permutations give the same table for any ``threads`` (tested). ``pvalue`` and ``fdr`` are at
    least 1/(permutations + 1): gseapy reports 0 where no permutation reached the set's score.
    """
    import gseapy

    columns = GSEA_COLUMNS
    ranking = ranked_genes(ranking)
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
    if params["permutations"] > 0:
        floor = 1 / (params["permutations"] + 1)
        table[["pvalue", "fdr"]] = table[["pvalue", "fdr"]].clip(lower=floor)
    table["source"] = table["term"].map(lambda t: sets[t][0])
    table["size"] = table["term"].map(lambda t: len(usable[t]))
    table = table.sort_values(["nes", "term"], ascending=[False, True])
    return table[columns].reset_index(drop=True)


def ranked_genes(ranking: pd.Series) -> pd.Series:
    """The ranked list GSEA uses: finite statistics, one per gene (the first), highest first."""
    ranking = ranking.replace([np.inf, -np.inf], np.nan).dropna()
    return ranking[~ranking.index.duplicated()].sort_values(ascending=False, kind="mergesort")


def ranking_table(ranking: pd.Series) -> pd.DataFrame:
    """The ranked list GSEA used as a table: ``rank`` (1 = highest), ``gene``, ``stat``."""
    ranked = ranked_genes(ranking)
    return pd.DataFrame({"rank": np.arange(1, len(ranked) + 1), "gene": ranked.index.astype(str),
                         "stat": ranked.to_numpy(float)})


def running_scores(ranking: pd.Series, sets: dict[str, tuple[str, list[str]]], terms: list[str]) -> pd.DataFrame:
    """GSEA running enrichment scores of ``terms`` along the ranked list (weight 1, as gseapy's prerank).

    Between two hits the score falls in a straight line, so the curve is stored exactly by its corners: for
    every gene of the set at ``rank`` k, the score after k - 1 genes and after k genes, and the score at the
    start and at the end. Rows ``term, rank, running_es, gene`` (``gene`` named at the hits only); the largest
    deviation from zero is the set's ES in ``gsea``.
    """
    ranked = ranked_genes(ranking)
    stats = np.abs(ranked.to_numpy(float))
    n = len(ranked)
    frames = []
    for term in terms:
        hit = ranked.index.isin(sets[term][1])
        if not hit.any() or hit.all():
            continue
        weights = stats * hit
        score = np.cumsum(weights) / weights.sum() - np.cumsum(~hit) / (~hit).sum()
        at = np.flatnonzero(hit) + 1  # ranks of the hits, 1-based
        corners = np.unique(np.concatenate([[0, n], at - 1, at]))
        values = np.concatenate([[0.0], score])[corners]
        genes = np.where(np.isin(corners, at), np.concatenate([[""], ranked.index.astype(str)])[corners], "")
        frames.append(pd.DataFrame({"term": term, "rank": corners, "running_es": values, "gene": genes}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=RUNNING_COLUMNS)


def leading_terms(table: pd.DataFrame, *, top: int = 3) -> list[str]:
    """The ``top`` sets with the highest NES and the ``top`` with the lowest (negative) NES, in that order."""
    rows = table.dropna(subset=["nes"]).sort_values(["nes", "term"], ascending=[False, True], kind="mergesort")
    up = list(rows.loc[rows["nes"] > 0, "term"].head(top))
    down = list(rows.loc[rows["nes"] < 0, "term"].iloc[::-1].head(top))
    return up + down


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
