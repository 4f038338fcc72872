"""Malignant calls combined: CNV and light-chain clonality, all cells (tumour-only inputs), author labels."""

from __future__ import annotations

import logging
import re

import anndata as ad
import numpy as np
import pandas as pd

from .. import clonality
from ..io import InputError
from ..labels import CALLS, MALIGNANT_LABEL
from .cnv import call_malignant, infer_cnv
from .reference import reference_cells, reference_types


def apply_clonal_calls(adata: ad.AnnData, clonal: np.ndarray, summary: pd.DataFrame,
                       clones: pd.DataFrame) -> pd.DataFrame:
    """Overlay light-chain clonality calls (:func:`cscniche.clonality.clonal_calls`) on the CNV calls.

    Cells with a clonal call take it (``obs['malignant_evidence']``: ``light chain``, else ``copy number``);
    a patient with a restricted clone has a tumour. The summary's counts per call are recounted and it
    gains ``clonal_cells`` and ``clone_light_chain`` per patient.
    """
    call = adata.obs["malignant"].astype(str).to_numpy().astype(object)
    covered = clonal != ""
    call[covered] = clonal[covered]
    adata.obs["malignant"] = pd.Categorical(call, categories=list(CALLS))
    adata.obs["malignant_evidence"] = pd.Categorical(np.where(covered, "light chain", "copy number"))
    patients = adata.obs["patient"].astype(str).to_numpy()
    chain = clonality.clone_chains(clones)
    summary = summary.copy()
    summary["clonal_cells"] = [int(((patients == p) & (clonal == "malignant")).sum()) for p in summary["patient"]]
    summary["clone_light_chain"] = summary["patient"].map(chain).fillna("")
    summary["tumour_detected"] = summary["tumour_detected"] | (summary["clonal_cells"] > 0)
    for c in CALLS:
        summary[c] = [int(((patients == p) & (call == c)).sum()) for p in summary["patient"]]
    return summary


def call_from_cnv_and_clonality(adata: ad.AnnData, params: dict, *, chain_counts: ad.AnnData | None = None,
                                log: logging.Logger | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Malignant calls from light-chain clonality and copy number (``method: cnv``), in place.

    B-cell clones (light-chain restriction, :mod:`cscniche.clonality`; off with
    ``light_chain_restriction: null``) are found first and kept out of the reference; the CNV reference is
    chosen and verified (:func:`reference_cells`), CNV inferred and cells called (:func:`call_malignant`),
    and the clonal calls laid over the CNV calls (:func:`apply_clonal_calls`). Gene positions must be
    placed (:func:`place_genes`). ``chain_counts``: the same cells' light-chain gene counts, where
    ``adata`` has no ``layers['counts']`` (:func:`cscniche.clonality.light_chain_genes`).

    Returns the per-patient summary, the reference table (``REFERENCE_COLUMNS``) and the light-chain table
    (``clonality.CLONE_COLUMNS``).
    """
    if params["light_chain_restriction"] is None:
        clones = pd.DataFrame(columns=clonality.CLONE_COLUMNS)
        clonal = np.full(adata.n_obs, "", dtype=object)
    else:
        chains = clonality.light_chain_calls(adata if chain_counts is None else chain_counts)
        clones = clonality.light_chain_groups(adata.obs, chains, restriction=params["light_chain_restriction"])
        clonal, _ = clonality.clonal_calls(adata.obs, chains, clones)
    reference, reference_table = reference_cells(adata, params, exclude=clonal != "")
    if log is not None:
        log.info("light chains (patient x cluster):\n%s", clones.to_string())
        log.info("reference candidates (patient x cluster):\n%s", reference_table.to_string())
        log.info("reference cells: %d\n%s", reference.sum(), reference_types(adata.obs, reference).to_string())
    infer_cnv(adata, reference, params)
    summary = call_malignant(adata, reference, params)
    return apply_clonal_calls(adata, clonal, summary, clones), reference_table, clones


def call_all_malignant(adata: ad.AnnData) -> pd.DataFrame:
    """Every cell malignant (``malignant.method: all``): inputs of tumour cells only, with no normal reference.

    Returns one row per patient (cells and calls) with a ``note`` saying that no normal reference exists.
    """
    adata.obs["malignant"] = pd.Categorical(np.full(adata.n_obs, "malignant"), categories=list(CALLS))
    adata.obs["cnv_score"] = np.nan
    summary = adata.obs.groupby("patient", observed=True).size().rename("cells").reset_index()
    summary = summary.assign(**{c: summary["cells"] if c == "malignant" else 0 for c in CALLS})
    summary["note"] = ("tumour cells only (malignant.method: all): no normal reference exists, so no CNV "
                       "inference; every cell is taken as malignant")
    return summary


def label_malignant(obs: pd.DataFrame) -> None:
    """``cell_type`` of malignant cells becomes ``malignant``; every cell's marker label stays in ``marker_cell_type``.

    Tumour cells often resemble a normal type of their tissue (astrocyte, pericyte, MSC-like); the marker
    label is kept for them but never shown as their cell type.
    """
    if "cell_type" not in obs:
        return
    marker = obs["cell_type"].astype(str)
    obs["marker_cell_type"] = pd.Categorical(marker)
    label = marker.where(~obs["malignant"].astype(str).eq("malignant"), MALIGNANT_LABEL)
    obs["cell_type"] = pd.Categorical(label)


def call_from_author_labels(adata: ad.AnnData, column: str, pattern: str) -> pd.DataFrame:
    """Malignant calls copied from an author label column (cells matching ``pattern`` are malignant)."""
    if column not in adata.obs:
        raise InputError(f"malignant.author_column {column!r} is not a cell column; available: {list(adata.obs)}")
    labels = adata.obs[column].astype(str)
    is_mal = labels.str.contains(pattern, flags=re.IGNORECASE, regex=True)
    call = np.where(labels.eq(""), "uncertain", np.where(is_mal, "malignant", "non-malignant"))
    adata.obs["malignant"] = pd.Categorical(call, categories=list(CALLS))
    adata.obs["cnv_score"] = np.nan
    summary = adata.obs.groupby("patient", observed=True)["malignant"].value_counts().unstack(fill_value=0)
    return summary.reset_index()
