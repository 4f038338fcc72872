"""The stemness stage's entries: one patient's scores and calls (a job each), and the dataset gathered."""

from __future__ import annotations

from dataclasses import dataclass

import anndata as ad
import numpy as np
import pandas as pd

from ..genesets import load_gene_sets, read_weights
from .metacells import gather_metacells, ssgsea_check
from .patients import PatientStemness, combine_patients, stemness_of_patient


@dataclass
class StemnessResult:
    """The stemness stage's tables (``results/<dataset>/stemness/``)."""

    summary: pd.DataFrame
    """One row per patient: signal, CSC-high cells, the call's method and guards, scorer weights."""
    agreement: pd.DataFrame
    """Spearman correlation of each pair of scorers per patient."""
    coherence: pd.DataFrame
    """Each gene set's co-expression against random sets of matched expression, per patient."""
    ssgsea: pd.DataFrame
    """ssGSEA NES and mean UCell score of each malignant metacell and gene set."""
    ssgsea_check: pd.DataFrame
    """Per gene set: Spearman correlation of the metacells' ssGSEA NES with their mean UCell score."""


def run_stemness_patient(adata: ad.AnnData, *, marker_sets: list[str], gmt: list[dict], mrnasi_weights: str | None,
                         consensus_scorers: list[str], call: str, quantile: float, subsamples: int,
                         subsample_fraction: float, min_cells: int, coherence_permutations: int,
                         coherence_alpha: float, min_coherence: float, coherence_max_cells: int,
                         min_scorer_agreement: float, min_bic_gain: float, max_valley: float,
                         max_csc_fraction: float, max_rank: int, metacell_size: int,
                         seed: int = 0) -> PatientStemness:
    """The stemness stage on one patient's cells (:func:`stemness_of_patient`; a job per patient).

    The keywords are the ``stemness`` config section (``config/README.md``). ``adata``: log-normalised, with
    ``malignant`` calls and the kNN graph (CytoTRACE).
    """
    params = {name: value for name, value in locals().items() if name not in ("adata", "seed")}
    weights = read_weights(mrnasi_weights) if mrnasi_weights else None
    return stemness_of_patient(adata, params, seed=seed, weights=weights, gene_sets=load_gene_sets(params))


def run_stemness(adata: ad.AnnData, *, marker_sets: list[str], gmt: list[dict], mrnasi_weights: str | None,
                 consensus_scorers: list[str], call: str, quantile: float, subsamples: int, subsample_fraction: float,
                 min_cells: int, coherence_permutations: int, coherence_alpha: float, min_coherence: float,
                 coherence_max_cells: int, min_scorer_agreement: float, min_bic_gain: float, max_valley: float,
                 max_csc_fraction: float, max_rank: int, metacell_size: int, seed: int = 0,
                 parts: list[PatientStemness] | None = None) -> StemnessResult:
    """The stemness stage: scores and CSC calls of every patient's cells, in place, and its tables.

    Flags scorers that disagree with the others, and cross-checks UCell with ssGSEA on malignant metacells.
    The keywords are the ``stemness`` config section (``config/README.md``). ``parts``: the patients' results
    of :func:`run_stemness_patient` (the workflow's jobs), gathered here; without them, each patient is
    scored here, in turn (the same results). Adds ``stemness_<scorer>``, ``stemness``, ``csc``,
    ``csc_frequency`` and ``csc_signal``; non-malignant cells get empty ``csc`` and missing scores.
    """
    params = {name: value for name, value in locals().items() if name not in ("adata", "seed", "parts")}
    if parts is None:
        patients = adata.obs["patient"].astype(str).to_numpy()
        parts = [run_stemness_patient(adata[patients == p], **params, seed=seed) for p in np.unique(patients)]
    summary, agreement = combine_patients(adata, parts, params)
    metacells, check = ssgsea_check(*gather_metacells(parts), load_gene_sets(params), seed=seed)
    return StemnessResult(summary=summary, agreement=agreement,
                          coherence=pd.concat([part.coherence for part in parts], ignore_index=True),
                          ssgsea=metacells, ssgsea_check=check)
