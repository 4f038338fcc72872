"""Stemness one patient at a time (a job each), their files, and the dataset gathered from them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..coherence import COHERENCE_COLUMNS, set_coherence
from ..genesets import load_gene_sets
from ..io import InputError
from .calls import agreement, patient_calls, score_malignant
from .metacells import malignant_metacells
from .scorers import gene_columns


@dataclass
class PatientStemness:
    """One patient's stemness (see :func:`stemness_of_patient`)."""

    cells: pd.DataFrame  # the patient's cells: stemness_<scorer>, stemness, csc, csc_frequency, csc_signal
    summary: pd.DataFrame  # one row (none without malignant cells)
    agreement: pd.DataFrame  # patient, scorer_a, scorer_b, spearman
    coherence: pd.DataFrame  # patient, set, genes, coherence, random_mean, excess, pvalue, pvalue_half_a/_b
    metacells: pd.DataFrame  # patient, metacell, cells, ucell_<set> (mean over its cells)
    bulks: pd.DataFrame  # genes x metacells: mean log expression


PART_TABLES = ("summary", "agreement", "coherence", "metacells")


def stemness_of_patient(adata: ad.AnnData, params: dict, *, seed: int = 0, weights: pd.Series | None = None,
                        gene_sets: dict[str, list[str]] | None = None) -> PatientStemness:
    """Scores, coherence test, consensus, CSC calls and malignant metacells of one patient's cells.

    Everything here is within the patient (the coherence test, the consensus weights, the calls, their
    subsamples, CytoTRACE's graph), so each patient runs as its own job; :func:`combine_patients` gathers them.
    """
    gene_sets = load_gene_sets(params) if gene_sets is None else gene_sets
    scores = score_malignant(adata, params, weights=weights, gene_sets=gene_sets)
    patients = adata.obs.loc[scores.index, "patient"].astype(str)
    set_columns = gene_columns(adata.var_names, gene_sets)
    X = sp.csr_matrix(adata.X)
    rows = adata.obs_names.get_indexer(scores.index)
    calls, summary, coherence_tables = [], [], []
    # every patient of the input gets a summary row, one without malignant cells too (signal too_few_cells)
    for p in np.unique(adata.obs["patient"].astype(str)):
        mine = np.flatnonzero(patients.to_numpy() == p)
        rng = np.random.default_rng(seed)
        subset = np.sort(rng.choice(mine, params["coherence_max_cells"], replace=False)) \
            if len(mine) > params["coherence_max_cells"] else mine
        table = set_coherence(X[rows[subset]], set_columns, n_random=params["coherence_permutations"],
                              max_cells=params["coherence_max_cells"], rng=rng) if len(mine) else \
            pd.DataFrame(columns=COHERENCE_COLUMNS)
        cells, row = patient_calls(scores.iloc[mine], table, params, seed=seed)
        calls.append(cells)
        summary.append({"patient": p, **row})
        coherence_tables.append(table.assign(patient=p))
    calls = pd.concat(calls) if calls else pd.DataFrame(columns=["stemness", "csc", "csc_frequency", "csc_signal"])
    cells = pd.DataFrame(index=adata.obs_names)
    for column in scores:
        cells[f"stemness_{column}"] = scores[column].reindex(cells.index).astype(np.float32)
    cells["stemness"] = calls["stemness"].reindex(cells.index).astype(np.float32)
    cells["csc"] = calls["csc"].reindex(cells.index).fillna("").astype(str)
    cells["csc_frequency"] = calls["csc_frequency"].reindex(cells.index).astype(np.float32)
    cells["csc_signal"] = calls["csc_signal"].reindex(cells.index).fillna("").astype(str)
    coherence = pd.concat(coherence_tables, ignore_index=True) if coherence_tables else \
        pd.DataFrame(columns=["patient", *COHERENCE_COLUMNS])
    coherence = coherence[["patient", *[c for c in coherence if c != "patient"]]]
    metacell_table, bulks = malignant_metacells(adata, cells, size=params["metacell_size"], seed=seed)
    return PatientStemness(cells, pd.DataFrame(summary), agreement(scores, patients), coherence, metacell_table,
                           bulks)


def write_patient(part: PatientStemness, genes: pd.Index, path: str | Path) -> None:
    """Write one patient's stemness (a job's output) as an h5ad file: cells in ``obs``, tables in ``uns``."""
    from ..io import write_h5ad

    notes = ad.AnnData(obs=part.cells, var=pd.DataFrame(index=genes),
                       uns={**{k: getattr(part, k) for k in PART_TABLES}, "bulks": part.bulks})
    write_h5ad(notes, path)


def read_patient(path: str | Path) -> PatientStemness:
    """One patient's stemness written by :func:`write_patient`."""
    from ..io import read_h5ad_checked

    notes = read_h5ad_checked(path)
    missing = [k for k in (*PART_TABLES, "bulks") if k not in notes.uns]
    if missing:
        raise InputError(f"{path}: not a patient stemness file (no {', '.join(missing)}); rerun stemness_patient")
    cells = notes.obs.copy()
    for column in ("csc", "csc_signal"):
        if column in cells:
            cells[column] = cells[column].astype(str)
    return PatientStemness(cells, *(pd.DataFrame(notes.uns[k]) for k in PART_TABLES),
                           bulks=pd.DataFrame(notes.uns["bulks"]).set_axis(notes.var_names))


def combine_patients(adata: ad.AnnData, parts: list[PatientStemness], params: dict) -> tuple[pd.DataFrame,
                                                                                             pd.DataFrame]:
    """Add the patients' stemness to ``adata.obs`` and ``uns['stemness']``; returns (summary, agreement).

    Adds ``stemness_<scorer>``, ``stemness``, ``csc``, ``csc_frequency`` and ``csc_signal``; cells of no
    part (or non-malignant) get empty ``csc``/``csc_signal`` and missing scores. A scorer that on average
    anti-correlates with the others (over all patients) is flagged in ``summary['flagged_scorers']``.
    """
    cells = pd.concat([part.cells for part in parts])
    summary = pd.concat([part.summary for part in parts if len(part.summary)], ignore_index=True) \
        if any(len(part.summary) for part in parts) else pd.DataFrame()
    agree = pd.concat([part.agreement for part in parts], ignore_index=True)
    scorers = [c.removeprefix("stemness_") for c in cells if c.startswith("stemness_")]
    summary["flagged_scorers"] = ", ".join(sorted(s for s in scorers if _mean_agreement(agree, s) < 0))
    for column in cells:
        values = cells[column].reindex(adata.obs_names)
        adata.obs[column] = values.fillna("").astype(str) if column in ("csc", "csc_signal") \
            else values.astype(np.float32)
    adata.uns["stemness"] = {"params": dict(params), "scorers": scorers,
                             "consensus": params["consensus_scorers"] or scorers, "summary": summary.to_dict("list")}
    return summary, agree


def _mean_agreement(agree: pd.DataFrame, scorer: str) -> float:
    mine = agree[(agree["scorer_a"] == scorer) | (agree["scorer_b"] == scorer)]
    return float(mine["spearman"].mean()) if len(mine) else float("nan")
