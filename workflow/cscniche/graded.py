"""Graded answers: each gene's association with stemness within each patient's malignant cells.

Used by crosstalk and biomarkers when no patient has a discrete stem program (no clean CSC-high/CSC-low
split): the within-patient Spearman correlation of a gene with the consensus stemness is the per-patient
effect, and the patients are the unit of the combined test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.stats as ss

from .ranksum import row_ranks

GENE_BLOCK = 2000  # genes ranked at a time: bounds the transposed copy of a block


def stemness_correlations(X: sp.spmatrix, stemness: np.ndarray) -> np.ndarray:
    """Spearman correlation of every column of ``X`` (cells x genes) with ``stemness``; NaN for constant genes.

    Ranks are computed for the stored values only (zeros share one rank), a block of genes at a time.
    """
    X = sp.csc_matrix(X, dtype=np.float64)
    n = X.shape[0]
    s = ss.rankdata(stemness)
    s = s - s.mean()
    s_var = float(s @ s) / n
    out = np.full(X.shape[1], np.nan)
    if n < 3 or s_var == 0:
        return out
    for start in range(0, X.shape[1], GENE_BLOCK):
        block = X[:, start : start + GENE_BLOCK]
        R, zero_rank = row_ranks(sp.csr_matrix(block.T))  # genes x cells; zeros' rank cancels against centred s
        cov = np.asarray(R @ s).ravel() / n
        row_sum = np.asarray(R.sum(axis=1)).ravel()
        row_sq = np.asarray(R.multiply(R).sum(axis=1)).ravel()
        second = (n * zero_rank**2 + 2 * zero_rank * row_sum + row_sq) / n
        var = second - ((n + 1) / 2) ** 2
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start : start + block.shape[1]] = np.where(var > 1e-12, cov / np.sqrt(var * s_var), np.nan)
    return out


def combine_across_patients(rho: pd.DataFrame, cells: pd.Series) -> pd.DataFrame:
    """Combine per-patient correlations (rows: features, columns: patients; NaN where not tested).

    Returns per feature: ``effect`` (mean correlation over the patients tested), ``n_patients``,
    ``n_patients_consistent`` (patients whose correlation has the sign of the mean), ``statistic`` and
    ``pvalue``: a one-sample t-test of the Fisher-transformed correlations across patients (the patient is
    the unit) where at least 2 patients were tested; with one patient, the correlation's own test over its
    ``cells`` (cells as replicates, which ``test`` says).
    """
    values = rho.to_numpy(dtype=float)
    tested = np.isfinite(values)
    k = tested.sum(axis=1)
    z = np.arctanh(np.clip(values, -0.999999, 0.999999))
    with np.errstate(invalid="ignore", divide="ignore"):
        effect = np.nanmean(np.where(tested, values, np.nan), axis=1)
        mean_z = np.nanmean(np.where(tested, z, np.nan), axis=1)
        sd_z = np.nanstd(np.where(tested, z, np.nan), axis=1, ddof=1)
        t_patients = mean_z / (sd_z / np.sqrt(k))
        p_patients = 2 * ss.t.sf(np.abs(t_patients), df=np.maximum(k - 1, 1))
        n_cells = np.asarray(cells.reindex(rho.columns), dtype=float)
        n_one = np.nansum(np.where(tested, n_cells[None, :], np.nan), axis=1)
        t_cells = effect * np.sqrt(np.maximum(n_one - 2, 1) / np.maximum(1 - effect**2, 1e-12))
        p_cells = 2 * ss.t.sf(np.abs(t_cells), df=np.maximum(n_one - 2, 1))
    several = k >= 2
    p_patients = np.where(sd_z > 0, p_patients, np.where(mean_z != 0, 0.0, 1.0))
    consistent = (np.sign(np.where(tested, values, 0)) == np.sign(effect)[:, None]) & tested
    return pd.DataFrame({"effect": effect, "n_patients": k, "n_patients_consistent": consistent.sum(axis=1),
                         "statistic": np.where(several, t_patients, t_cells),
                         "pvalue": np.where(k == 0, np.nan, np.where(several, p_patients, p_cells)),
                         "test": np.where(several, "t-test across patients (Fisher z of within-patient Spearman)",
                                          "one patient: Spearman over its cells (cells as replicates)")},
                        index=rho.index)
