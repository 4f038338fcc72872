"""B-cell clonality from immunoglobulin light chains.

Each B cell or plasma cell expresses either the kappa or the lambda light chain. Normal (polyclonal) B cells
mix both, about two kappa to one lambda; the cells of a B-cell lymphoma or myeloma descend from one cell and
all carry the same chain (light-chain restriction, the clinical test of B-cell clonality). Many such
tumours have few copy-number changes, so this is the evidence that finds them where CNV inference cannot.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import binomtest

KAPPA_PREFIXES = ("IGKC", "IGKV")
LAMBDA_PREFIXES = ("IGLC", "IGLV")
CHAIN_MIN_COUNTS = 3  # light-chain counts for a cell's chain to be called
CHAIN_FOLD = 4  # ...and this many times the other chain's (ambient immunoglobulin RNA is everywhere)
B_LINEAGE_SHARE = 0.5  # a cluster is B lineage when at least this share of its cells has a called chain
MIN_CHAIN_CELLS = 20  # chain-called cells a cluster needs to be tested
B_LINEAGE_LABELS = ("B cell", "plasma cell", "unassigned")  # own labels a clonal B cell may carry
POLYCLONAL_SHARE = {"kappa": 2 / 3, "lambda": 1 / 2}  # upper bounds of each chain's share in normal B cells
RESTRICTION_PVALUE = 1e-3
CLONE_COLUMNS = ["group", "patient", "cluster", "cells", "kappa", "lambda", "no_chain", "b_lineage",
                 "dominant_chain", "dominant_share", "pvalue", "restricted"]


def light_chain_genes(var_names: pd.Index) -> list[str]:
    """The immunoglobulin light-chain genes (kappa and lambda constant and variable segments) in ``var_names``."""
    names = pd.Index(var_names).astype(str)
    return list(names[names.str.startswith(KAPPA_PREFIXES + LAMBDA_PREFIXES)])


def light_chain_calls(adata: ad.AnnData) -> np.ndarray:
    """Light chain of each cell: ``kappa``, ``lambda`` or ``""`` (too few counts, or both chains).

    Counts come from ``layers['counts']`` when present, else from the log-normalised ``X`` (its expm1:
    per 10,000, as for TPM inputs); ``adata`` may hold only the :func:`light_chain_genes`. A chain is
    called when its genes (constant and variable segments) have at least ``CHAIN_MIN_COUNTS`` counts and
    ``CHAIN_FOLD`` times the other chain's.
    """
    X = sp.csc_matrix(adata.layers["counts"]) if "counts" in adata.layers else sp.csc_matrix(adata.X).expm1()
    names = adata.var_names.astype(str)

    def total(prefixes: tuple[str, ...]) -> np.ndarray:
        cols = np.flatnonzero(names.str.startswith(prefixes))
        return np.asarray(X[:, cols].sum(axis=1)).ravel() if len(cols) else np.zeros(adata.n_obs)

    kappa, lam = total(KAPPA_PREFIXES), total(LAMBDA_PREFIXES)
    is_kappa = (kappa >= CHAIN_MIN_COUNTS) & (kappa >= CHAIN_FOLD * lam)
    is_lambda = (lam >= CHAIN_MIN_COUNTS) & (lam >= CHAIN_FOLD * kappa)
    return np.select([is_kappa, is_lambda], ["kappa", "lambda"], "").astype(object)


def _group_labels(obs: pd.DataFrame) -> np.ndarray:
    """``<patient>:<Leiden cluster>`` of each cell."""
    cluster = obs["leiden"].astype(str) if "leiden" in obs else pd.Series("0", index=obs.index)
    return (obs["patient"].astype(str) + ":" + cluster).to_numpy()


def clone_chains(groups: pd.DataFrame) -> pd.Series:
    """Per patient with a restricted cluster, the chain of its largest one (``patient -> kappa|lambda``)."""
    clones = groups[groups["restricted"].astype(bool).to_numpy()]
    return clones.sort_values("cells", ascending=False).groupby("patient")["dominant_chain"].first()


def light_chain_groups(obs: pd.DataFrame, chains: np.ndarray, *, restriction: float) -> pd.DataFrame:
    """Light-chain usage of each patient x Leiden cluster, and whether it is restricted (clonal).

    A cluster is B lineage when at least ``B_LINEAGE_SHARE`` of its cells have a called chain. It is
    restricted when it has at least ``MIN_CHAIN_CELLS`` chain-called cells, one chain makes up at least
    ``restriction`` of them, and that share is above the most a polyclonal population shows
    (``POLYCLONAL_SHARE``; one-sided binomial test, p < ``RESTRICTION_PVALUE``).

    Returns one row per group (``CLONE_COLUMNS``).
    """
    frame = pd.DataFrame({"patient": obs["patient"].astype(str).to_numpy(),
                          "cluster": obs["leiden"].astype(str).to_numpy() if "leiden" in obs else "0",
                          "chain": chains, "group": _group_labels(obs)})
    counts = pd.crosstab(frame["group"], frame["chain"]).reindex(columns=["kappa", "lambda", ""], fill_value=0)
    table = frame.groupby("group").agg(patient=("patient", "first"), cluster=("cluster", "first"),
                                       cells=("chain", "size"))
    table["kappa"], table["lambda"], table["no_chain"] = counts["kappa"], counts["lambda"], counts[""]
    called = table["kappa"] + table["lambda"]
    table["b_lineage"] = called >= B_LINEAGE_SHARE * table["cells"]
    table["dominant_chain"] = np.where(table["kappa"] >= table["lambda"], "kappa", "lambda")
    dominant = table[["kappa", "lambda"]].max(axis=1)
    table["dominant_share"] = np.where(called > 0, dominant / called.clip(lower=1), np.nan)
    table["pvalue"] = [binomtest(int(k), int(n), POLYCLONAL_SHARE[c], alternative="greater").pvalue if n else 1.0
                       for k, n, c in zip(dominant, called, table["dominant_chain"], strict=True)]
    table["restricted"] = (table["b_lineage"] & (called >= MIN_CHAIN_CELLS)
                           & (table["dominant_share"] >= restriction) & (table["pvalue"] < RESTRICTION_PVALUE))
    return table.reset_index()[CLONE_COLUMNS]


def clonal_calls(obs: pd.DataFrame, chains: np.ndarray, groups: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Malignant calls of the B-lineage cells of patients with a restricted cluster.

    In a restricted cluster, cells with the clone's chain are ``malignant`` when their own marker label
    (``cell_type``) is a B-lineage one or none (``B_LINEAGE_LABELS``), cells with the other chain
    ``non-malignant``, and the rest (no called chain; a T-cell or myeloid label with the clone's chain, as
    in a doublet) ``uncertain``. In the patient's other B-lineage clusters, where normal and tumour B cells
    may mix, cells with the other chain are ``non-malignant`` and the rest ``uncertain``.

    Returns the call per cell (``""`` where clonality says nothing) and the mask of cells it covers (to be
    kept out of the CNV reference).
    """
    group = _group_labels(obs)
    clones = groups[groups["restricted"].astype(bool).to_numpy()]
    chain_of = clone_chains(groups)
    label = obs["cell_type"].astype(str) if "cell_type" in obs else pd.Series("unassigned", index=obs.index)
    b_label = label.isin(B_LINEAGE_LABELS).to_numpy()
    calls = np.full(len(obs), "", dtype=object)
    for patient, mine in clones.groupby("patient"):
        chain = chain_of[patient]
        other = "lambda" if chain == "kappa" else "kappa"
        lineage = groups[(groups["patient"] == patient) & groups["b_lineage"]]
        restricted = np.isin(group, mine["group"].to_numpy())
        mixed = np.isin(group, lineage["group"].to_numpy()) & ~restricted
        clonal = (chains == chain) & b_label
        calls[restricted] = np.select([clonal[restricted], chains[restricted] == other],
                                      ["malignant", "non-malignant"], "uncertain")
        calls[mixed] = np.where(chains[mixed] == other, "non-malignant", "uncertain")
    return calls, calls != ""
