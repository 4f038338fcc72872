"""Tests with the patient as the unit: exact sign-flip tests, Benjamini-Hochberg, row grouping."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.stats as ss


def _sign_flip_pvalue(differences: np.ndarray) -> float:
    """Two-sided p-value of the mean of paired differences against their sign flips.

    All 2^n flips for n <= 20 (exact: at least 2 / 2^n); else the observed and 2^20 - 1 random flips (seed 0).
    1 when every difference is 0.
    """
    differences = np.asarray(differences, float)[None, :]
    return float(_sign_flip_pvalues(differences, np.array([True]), exact_up_to=20)[0])


def _bh(pvalues: pd.Series) -> pd.Series:
    """Benjamini-Hochberg FDR over the p-values that exist (NaN elsewhere)."""
    fdr = pd.Series(np.nan, index=pvalues.index)
    tested = pvalues.notna()
    if tested.any():
        fdr[tested] = ss.false_discovery_control(pvalues[tested].to_numpy())
    return fdr


def _sign_flip_pvalues(differences: np.ndarray, testable: np.ndarray, *, exact_up_to: int = 12) -> np.ndarray:
    """:func:`_sign_flip_pvalue` of each row's non-missing differences (NaN where not ``testable``), vectorised.

    All 2^n flips up to ``exact_up_to`` patients (at least 2 / 2^n); beyond, the observed and
    2^``exact_up_to`` - 1 random flips (seed 0, at least 1 / 2^``exact_up_to``).
    """
    pvalues = np.full(len(differences), np.nan)
    present = ~np.isnan(differences)
    patterns = pd.Series([row.tobytes() for row in present])
    for rows in patterns[testable].groupby(patterns[testable]).groups.values():
        rows = np.asarray(rows)
        values = differences[np.ix_(rows, np.flatnonzero(present[rows[0]]))]
        n = values.shape[1]
        if n > exact_up_to:
            signs = np.vstack([np.ones(n), np.random.default_rng(0).choice([-1.0, 1.0],
                                                                          size=(2 ** exact_up_to - 1, n))])
        else:
            signs = 1 - 2 * ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(float)
        for start in range(0, len(rows), 1000):
            block = values[start:start + 1000]
            observed = np.abs(block.mean(axis=1))[:, None]
            flipped = np.abs(block @ signs.T) / n
            pvalues[rows[start:start + 1000]] = np.mean(flipped >= observed - 1e-12 * np.fmax(observed, 1e-300),
                                                        axis=1)
    return pvalues


def _row_groups(mask: np.ndarray, *keys: np.ndarray) -> dict[tuple, np.ndarray]:
    """The rows where ``mask`` holds, grouped by the values of ``keys`` at them (one pass, sorted rows)."""
    rows = np.flatnonzero(mask)
    grouped = pd.Series(rows).groupby([key[rows] for key in keys], sort=False).indices
    return {key if isinstance(key, tuple) else (key,): rows[positions] for key, positions in grouped.items()}
