"""The simulated cells (types, states and conditions per sample) and their negative-binomial counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..config import condition_arm
from .genes import TME_MARKERS

CHUNK = 2000  # cells drawn at a time
MT_FRACTION = 0.04  # mitochondrial share of UMIs in good cells


def _normalise(logp: np.ndarray, is_mt: np.ndarray, mt_fraction: float) -> np.ndarray:
    p = np.exp(logp - logp.max())
    p[is_mt] = 0.0
    p *= (1.0 - mt_fraction) / p.sum()
    p[is_mt] = mt_fraction / is_mt.sum()
    return p


def _shifted(tme_props: np.ndarray, tme_types: list[str], params: dict, sample: str) -> np.ndarray:
    """TME type proportions with a condition's ``tme_shift`` applied for the sample's group."""
    shift = (params.get("condition") or {}).get("tme_shift")
    if not shift:
        return tme_props
    props = tme_props.copy()
    props[tme_types.index(shift["cell_type"])] *= shift["factor"][condition_arm(params, sample)]
    return props / props.sum()


def _cell_plan(params: dict, rng: np.random.Generator, *, seed: int) -> pd.DataFrame:
    """Decide every cell's sample, state, stemness level, library size and truth labels."""
    n_pat, n_spp = params["n_patients"], params["samples_per_patient"]
    samples = [(f"P{p}_S{s}", f"P{p}") for p in range(1, n_pat + 1) for s in range(1, n_spp + 1)]
    per_sample = np.full(len(samples), params["n_cells"] // len(samples))
    per_sample[: params["n_cells"] % len(samples)] += 1
    tme_types = list(TME_MARKERS)
    paired = (params.get("condition") or {}).get("paired")
    rows = []
    for (sample, patient), n_cells in zip(samples, per_sample, strict=True):
        tme_props = _shifted(rng.dirichlet(np.full(len(tme_types), 8.0)), tme_types, params, sample)
        csc_state = f"CSC_{patient}" + ("_b" if paired and condition_arm(params, sample) == 1 else "")
        n_doublets = int(round(n_cells * params["doublet_fraction"]))
        n_mal = int(round((n_cells - n_doublets) * params["malignant_fraction"]))
        if n_mal in (0, n_cells - n_doublets) and params["malignant_fraction"] in (0, 1):
            n_doublets = 0  # heterotypic doublets need two kinds of cell; here every cell is one kind
        n_single = n_cells - n_doublets
        n_mal = int(round(n_single * params["malignant_fraction"]))
        types = ["malignant"] * n_mal + list(rng.choice(tme_types, n_single - n_mal, p=tme_props))
        csc = np.zeros(n_single, bool)
        csc[rng.choice(n_mal, int(round(n_mal * csc_fraction(params, sample))), replace=False)] = True
        low_q = rng.random(n_single) < params["low_quality_fraction"]
        for t, c, lq in zip(types, csc, low_q, strict=True):
            state = (csc_state if c else f"malignant_{patient}") if t == "malignant" else t
            rows.append((sample, patient, t, state, "", bool(c), False, bool(lq), csc_state))
        singles = np.arange(len(rows) - n_single, len(rows))
        for _ in range(n_doublets):
            while True:
                a, b = rng.choice(singles, 2, replace=False)
                if rows[a][2] != rows[b][2]:
                    break
            rows.append((sample, patient, "doublet", rows[a][3], rows[b][3], False, True, False, csc_state))
    plan = pd.DataFrame(rows, columns=["sample", "patient", "cell_type", "state", "state_b", "csc",
                                       "doublet", "low_quality", "csc_state"])
    plan["stemness_level"] = np.where(plan["csc"], 1.0, np.where(plan["cell_type"].eq("malignant"), 0.0, np.nan))
    if params.get("csc_mode", "discrete") == "gradient":
        _plant_gradient(plan, params["csc_fraction"], np.random.default_rng([seed, 20]))
    scale = plan["cell_type"].map({"malignant": 1.4, "T": 0.6, "NK": 0.6, "B": 0.6}).fillna(1.0)
    if params.get("csc_diversity", True):  # more RNA in CSCs: part of the higher diversity
        scale = scale + 0.3 * plan["stemness_level"].fillna(0.0)
    lib = params["mean_library_size"] * scale * np.exp(rng.normal(-0.06, 0.35, len(plan)))
    lib = np.where(plan["doublet"], 2 * lib, lib)
    plan["library"] = np.where(plan["low_quality"], lib * rng.uniform(0.08, 0.25, len(plan)), lib)
    plan["mt_fraction"] = np.where(plan["low_quality"], rng.uniform(0.3, 0.7, len(plan)), MT_FRACTION)
    plan["malignant"] = plan["cell_type"].eq("malignant")
    return plan


def csc_fraction(params: dict, sample: str) -> float:
    """CSC share of a sample's malignant cells: ``csc_fraction``, or its group's under ``condition``."""
    condition = params.get("condition")
    if not condition:
        return params["csc_fraction"]
    return condition["csc_fraction"][condition_arm(params, sample)]


def _plant_gradient(plan: pd.DataFrame, csc_fraction: float, rng: np.random.Generator) -> None:
    """Put every malignant singlet on a continuum between its patient's malignant and CSC states.

    Levels are uniform on ``[0, 1]``; the ``csc`` truth becomes the top ``csc_fraction`` of each patient's
    levels (the continuum has no natural cut).
    """
    singles = plan["cell_type"].eq("malignant").to_numpy()
    level = rng.random(int(singles.sum()))
    plan.loc[singles, "stemness_level"] = level
    plan.loc[singles, "state"] = "malignant_" + plan.loc[singles, "patient"]
    top = plan.loc[singles].groupby("patient")["stemness_level"].rank(pct=True, method="first") > 1 - csc_fraction
    plan.loc[singles, "csc"] = top.to_numpy()
    plan.loc[singles & (plan["stemness_level"] > 0).to_numpy(), "state_b"] = plan.loc[singles, "csc_state"]


def _sample_counts(cells: pd.DataFrame, good: np.ndarray, state_idx: dict[str, int], is_mt: np.ndarray,
                   batch: np.ndarray, rng: np.random.Generator, dispersion: float) -> sp.csr_matrix:
    """Negative-binomial counts of one sample's cells (rows of ``cells``), ``CHUNK`` cells at a time."""
    blocks = []
    for start in range(0, len(cells), CHUNK):
        chunk = cells.iloc[start : start + CHUNK]
        mu = good[chunk["state"].map(state_idx).to_numpy()]
        graded = ~chunk["doublet"].to_numpy() & chunk["state_b"].ne("").to_numpy()
        if graded.any():  # a point on the malignant-to-CSC continuum, interpolated on the log scale
            level = chunk["stemness_level"].to_numpy()[graded][:, None]
            stem = good[chunk.loc[graded, "state_b"].map(state_idx).to_numpy()]
            mu[graded] = np.exp((1 - level) * np.log(mu[graded]) + level * np.log(stem))
            mu[graded] /= mu[graded].sum(axis=1, keepdims=True)
        dbl = chunk["doublet"].to_numpy()
        if dbl.any():
            mu[dbl] = 0.5 * (mu[dbl] + good[chunk.loc[dbl, "state_b"].map(state_idx).to_numpy()])
        lq = chunk["low_quality"].to_numpy()
        for i in np.flatnonzero(lq):
            mu[i] = _normalise(np.log(mu[i] + 1e-12), is_mt, chunk["mt_fraction"].iloc[i])
        mu *= batch[None, :]
        mu *= (chunk["library"].to_numpy() / mu.sum(1))[:, None]
        shape = 1.0 / dispersion
        blocks.append(sp.csr_matrix(rng.poisson(rng.gamma(shape, mu * dispersion)).astype(np.float32)))
    return sp.vstack(blocks, format="csr")
