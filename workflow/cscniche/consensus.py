"""One patient's stemness consensus, its guard and its CSC calls.

* **Program**: the patient has a stem program when at least one gene set's genes co-vary among its malignant
  cells (:func:`cscniche.coherence.set_coherence`: matched random sets, both halves of the cells, a minimum
  excess coherence). Otherwise the signal is ``absent``.
* **Consensus**: scorers are weighted by their Spearman correlation with the coherent programs' scores (a
  scorer below ``min_scorer_agreement`` gets weight 0, so an uninformative scorer does not dilute the rest);
  without a program, by their agreement with the other scorers. Each scorer is robustly standardised within
  the patient and the weighted mean is the consensus; ``stemness`` is its percentile rank in the patient.
* **Shape**: a program is ``discrete`` when a 2-Gaussian mixture fits the consensus much better than one
  (BIC gain), the data's density has a valley between the two means (kernel density at the valley relative
  to the lower peak at most ``max_valley``) and the upper mode is a minority (``max_csc_fraction``);
  otherwise it is ``continuous``.
* **Calls**: discrete: the upper mixture component (its size comes from the data) or the top quantile;
  continuous: the top ``quantile`` of the continuum, labelled continuous; absent or too few cells: none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

GUARD_SETTINGS = ("min_cells", "coherence_alpha", "min_coherence", "min_scorer_agreement", "min_bic_gain",
                  "max_valley", "max_csc_fraction")


def program_sets(coherence: pd.DataFrame, *, alpha: float, min_excess: float) -> list[str]:
    """Gene sets that pass the coherence test in all cells and in both halves, with enough excess."""
    passed = ((coherence["pvalue"] <= alpha) & (coherence["pvalue_half_a"] <= alpha)
              & (coherence["pvalue_half_b"] <= alpha) & (coherence["excess"] >= min_excess))
    return list(coherence.loc[passed, "set"])


def scorer_weights(scores: pd.DataFrame, anchors: list[str], *, min_agreement: float) -> pd.Series:
    """Each scorer's consensus weight: its Spearman correlation with the reference if at least ``min_agreement``.

    The reference is the mean rank of the ``anchors`` (an anchor is compared with the other anchors; a single
    anchor weighs 1); without anchors, each scorer's reference is the mean rank of the other scorers. Scorers
    with no variation weigh 0. When every weight is 0, all scorers weigh equally.
    """
    ranks = scores.rank(pct=True)
    usable = [c for c in ranks if ranks[c].nunique() > 1]
    weights = pd.Series(0.0, index=scores.columns)
    for scorer in usable:
        if anchors:
            ref = [a for a in anchors if a != scorer] if scorer in anchors else anchors
        else:
            ref = [s for s in usable if s != scorer]
        if not ref:
            weights[scorer] = 1.0
            continue
        rho = float(ranks[scorer].corr(ranks[ref].mean(axis=1)))
        weights[scorer] = rho if np.isfinite(rho) and rho >= min_agreement else 0.0
    if weights.sum() <= 0:
        weights[usable or list(weights.index)] = 1.0
    return weights / weights.sum()


def robust_z(values: pd.Series) -> pd.Series:
    """``(x - median) / (1.4826 MAD)``, the SD where the MAD is 0, unscaled where both are."""
    centred = values - values.median()
    scale = 1.4826 * centred.abs().median()
    if not scale > 0:
        scale = values.std()
    return centred / scale if scale > 0 else centred


def combine(scores: pd.DataFrame, weights: pd.Series) -> pd.Series:
    """Weighted mean of the scorers' robust z-scores (one patient)."""
    z = scores.apply(robust_z)
    used = weights[weights > 0]
    return (z[used.index] * used).sum(axis=1) / used.sum()


@dataclass
class Shape:
    """How a patient's consensus is distributed (see :func:`shape_of`)."""

    bic_gain: float = np.nan
    valley: float = np.nan
    upper_weight: float = np.nan
    failed: list[str] = field(default_factory=list)  # discrete conditions that failed

    @property
    def discrete(self) -> bool:
        """Whether every condition of a discrete program holds."""
        return not self.failed


def shape_of(values: np.ndarray, params: dict, *, seed: int = 0) -> Shape:
    """Mixture diagnostics of the consensus and the conditions of a discrete program that fail."""
    from scipy.stats import gaussian_kde
    from sklearn.mixture import GaussianMixture

    x = np.asarray(values, dtype=float)
    if len(x) < 10 or np.ptp(x) == 0:
        return Shape(failed=["too few distinct values for a mixture"])
    one = GaussianMixture(1, random_state=seed).fit(x[:, None])
    two = GaussianMixture(2, random_state=seed).fit(x[:, None])
    means = two.means_.ravel()
    low, high = int(np.argmin(means)), int(np.argmax(means))
    sample = x if len(x) <= 5000 else np.random.default_rng(seed).choice(x, 5000, replace=False)
    density = gaussian_kde(sample)
    grid = np.linspace(means[low], means[high], 64)
    heights = density(grid)
    shape = Shape(bic_gain=float(one.bic(x[:, None]) - two.bic(x[:, None])),
                  valley=float(heights.min() / max(min(heights[0], heights[-1]), 1e-300)),
                  upper_weight=float(two.weights_[high]))
    if not shape.bic_gain >= params["min_bic_gain"]:
        shape.failed.append(f"bic_gain {shape.bic_gain:.1f} < min_bic_gain {params['min_bic_gain']}")
    if not shape.valley <= params["max_valley"]:
        shape.failed.append(f"valley {shape.valley:.2f} > max_valley {params['max_valley']}")
    if not shape.upper_weight <= params["max_csc_fraction"]:
        shape.failed.append(f"upper_mode_weight {shape.upper_weight:.2f} > max_csc_fraction "
                            f"{params['max_csc_fraction']}")
    return shape


def call_high(values: np.ndarray, method: str, quantile: float, seed: int) -> np.ndarray:
    """CSC-high mask: the upper component of a 2-Gaussian mixture (``gmm``) or the top ``quantile``."""
    if method == "top_quantile" or len(values) < 10 or np.ptp(values) == 0:
        return values > np.quantile(values, 1 - quantile)
    from sklearn.mixture import GaussianMixture

    gmm = GaussianMixture(2, random_state=seed).fit(values[:, None])
    return gmm.predict(values[:, None]) == int(np.argmax(gmm.means_.ravel()))


def call_stability(values: np.ndarray, calls: np.ndarray, method: str, params: dict,
                   rng: np.random.Generator, seed: int) -> tuple[np.ndarray, float]:
    """Each cell's share of subsamples calling it CSC-high, and the mean Jaccard with the full calls."""
    hits, seen, jaccard = np.zeros(len(values)), np.zeros(len(values)), []
    for _ in range(params["subsamples"]):
        pick = rng.choice(len(values), max(2, int(round(params["subsample_fraction"] * len(values)))), replace=False)
        sub = call_high(values[pick], method, params["quantile"], seed)
        hits[pick] += sub
        seen[pick] += 1
        union = (sub | calls[pick]).sum()
        jaccard.append((sub & calls[pick]).sum() / union if union else 1.0)
    return hits / np.maximum(seen, 1), float(np.mean(jaccard)) if jaccard else float("nan")
