"""The value scale (counts, TPM, log) of a matrix and its evidence, and the kind of gene ids."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import scipy.sparse as sp

VALUE_SCALES = ("counts", "tpm", "log")


ENSEMBL = re.compile(r"^ENS[A-Z]*G\d{6,}(\.\d+)?$")


def value_scale_evidence(X: sp.spmatrix | np.ndarray) -> tuple[str, str]:
    """The value scale of a cells x genes matrix (``counts``, ``tpm`` or ``log``) and the evidence, in words.

    Negative values: ``log`` (scaled or centred). Cell totals that agree within 2% (10+ cells), of
    non-integer values or near a power of ten (10^4 or more): ``tpm``, a matrix normalised per cell, even
    when its values were rounded to integers. At least 99% integers:
    ``counts`` (a few non-integer values, e.g. from a corrected matrix, do not change that). Otherwise
    ``log`` when the largest value is at most 30, else ``tpm``. A sample-sheet column ``value_scale``
    overrides the call (:func:`ingest_sample`).
    """
    data = X.data if sp.issparse(X) else np.asarray(X).ravel()
    if data.size == 0:
        return "counts", "no non-zero value"
    sample = data[:: max(1, data.size // 200_000)]
    integer = float(np.mean(np.isclose(sample, np.round(sample))))
    totals = np.asarray(X.sum(axis=1)).ravel()
    totals = totals[totals > 0]
    spread = float(np.std(totals) / np.mean(totals)) if len(totals) else np.nan
    evidence = (f"{integer:.1%} of non-zero values are integers, largest {sample.max():.4g}, "
                f"{int(np.sum(sample < 0))} negative (of {sample.size:,} sampled); cell totals vary by "
                f"{spread:.1%} (coefficient of variation)")
    if np.any(sample < 0):
        scale = "log"
    elif len(totals) >= 10 and spread < 0.02 and sample.max() > 30 and (integer < 0.99 or _round_total(totals)):
        scale = "tpm"
    elif integer >= 0.99:
        scale = "counts"
    else:
        scale = "log" if sample.max() <= 30 else "tpm"
    return scale, evidence


def _round_total(totals: np.ndarray) -> bool:
    """Whether the median cell total is within 5% of 10^4, 10^5, 10^6 or 10^7 (a normalisation target)."""
    median = float(np.median(totals))
    return any(abs(median / 10**k - 1) < 0.05 for k in range(4, 8))


def detect_value_scale(X: sp.spmatrix | np.ndarray) -> str:
    """The value scale of a cells x genes matrix (:func:`value_scale_evidence` without the evidence)."""
    return value_scale_evidence(X)[0]


def detect_gene_ids(var_names: pd.Index) -> str:
    """``ensembl`` when most ids are Ensembl gene ids, else ``symbol``."""
    return "ensembl" if pd.Index(var_names.astype(str)).str.match(ENSEMBL.pattern).mean() > 0.5 else "symbol"
