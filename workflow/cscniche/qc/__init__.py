"""Per-sample quality control: QC metrics, adaptive MAD thresholds, hard bounds and scrublet doublets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..io import InputError
from ..labels import QC_METRICS, UNASSIGNED
from ..markers import best_label, load_marker_sets, marker_scores
from .doublets import DOUBLET_CAP_FACTOR, expected_doublet_rate, run_scrublet, scrublet_chunks

__all__ = ["FILTERS", "QCResult", "SampleTooSmallError", "cell_table", "expected_doublet_rate", "flag_cells",
           "mad_bounds", "marker_types", "passing_cells", "qc_metrics", "removal_by_type", "run_qc", "run_scrublet",
           "scrublet_chunks", "summary", "thresholds"]

FILTERS = ["low_counts", "low_genes", "high_genes", "high_mt", "doublet"]


class SampleTooSmallError(InputError):
    """A sample has too few cells left after QC."""


def qc_metrics(adata: ad.AnnData) -> None:
    """Add per-cell QC metrics to ``adata.obs`` in place.

    Sets ``n_genes``, ``total_counts``, ``pct_counts_mt`` (``MT-`` genes), ``pct_counts_ribo``
    (``RPL``/``RPS``) and ``pct_counts_hb`` (``HB[AB]``, not ``HBP``).
    """
    import scanpy as sc  # imported here: the QC summary job (removal_by_type) needs none of scanpy

    names = adata.var_names.str.upper()
    adata.var["mt"] = names.str.startswith("MT-")
    adata.var["ribo"] = names.str.match(r"^RP[SL]\d")
    adata.var["hb"] = names.str.match(r"^HB[AB]")
    sc.pp.calculate_qc_metrics(adata, qc_vars=["mt", "ribo", "hb"], percent_top=None, log1p=False, inplace=True)
    adata.obs.rename(columns={"n_genes_by_counts": "n_genes"}, inplace=True)
    adata.obs.drop(columns=[f"total_counts_{q}" for q in ("mt", "ribo", "hb")], inplace=True)
    adata.var.drop(columns=["mt", "ribo", "hb"], inplace=True)
    adata.var.drop(columns=[c for c in adata.var if c.endswith("_by_counts") or c in
                            ("mean_counts", "pct_dropout_by_counts", "total_counts")], inplace=True)


def mad_bounds(values: np.ndarray, k: float) -> tuple[float, float]:
    """``median ± k * MAD`` (MAD scaled to the standard deviation of a normal distribution)."""
    med = float(np.median(values))
    mad = float(np.median(np.abs(values - med))) * 1.4826
    return med - k * mad, med + k * mad


def thresholds(obs: pd.DataFrame, params: Mapping[str, Any], value_scale: str) -> dict[str, float]:
    """Thresholds from the data (MAD on log counts / log genes / mito %) combined with hard bounds."""
    k = params["mad_k"]
    # lower bounds only for genes and counts: high outliers are left to scrublet and the optional hard bound
    lo_genes = np.expm1(mad_bounds(np.log1p(obs["n_genes"].to_numpy()), k)[0])
    out = {
        "min_genes": max(float(lo_genes), float(params["min_genes"])),
        "max_genes": float(params["max_genes"]) if params["max_genes"] is not None else float("inf"),
        "min_counts": 0.0,
        "max_pct_mt": float("inf"),
    }
    if value_scale == "counts":
        out["min_counts"] = float(np.expm1(mad_bounds(np.log1p(obs["total_counts"].to_numpy()), k)[0]))
    mt = obs["pct_counts_mt"].to_numpy()
    if np.any(mt > 0):
        out["max_pct_mt"] = mad_bounds(mt, k)[1]
    if params["max_pct_mt"] is not None:
        out["max_pct_mt"] = min(out["max_pct_mt"], float(params["max_pct_mt"]))
    return out


@dataclass
class QCResult:
    """What the QC stage makes of one sample."""

    kept: ad.AnnData
    """The cells that pass (none when the sample was dropped as too small)."""
    cells: pd.DataFrame
    """Every input cell: metrics, the filters it failed, ``qc_pass`` and its rough marker type."""
    summary: pd.DataFrame
    """One row: cells before and after, what each filter removed, thresholds, status."""


def run_qc(adata: ad.AnnData, *, mad_k: float, min_genes: int, max_genes: int | None, max_pct_mt: float | None,
           max_type_loss: float, min_cells_per_gene: int, doublets: bool, doublet_threshold: str | float,
           doublet_rate: str | float, scrublet_max_cells: int, min_cells_per_sample: int, drop_small_samples: bool,
           annotate: Mapping[str, Any] | None = None, seed: int = 0) -> QCResult:
    """The QC stage on one ingested sample: flag (:func:`flag_cells`), type and filter its cells.

    The keywords are the ``qc`` config section (``max_type_loss`` and ``min_cells_per_gene`` act on the
    dataset, later: they are recorded here). ``annotate``: the ``annotate`` section, to give every input cell,
    the removed ones included, a rough marker type (:func:`marker_types`), so that what QC removes can be
    counted per cell type.

    Raises
    ------
    SampleTooSmallError
        When too few cells pass and ``drop_small_samples`` is false.
    """
    params = {name: value for name, value in locals().items() if name not in ("adata", "annotate", "seed")}
    flag_cells(adata, params, seed=seed)
    if annotate is not None:
        adata.obs["marker_type"] = marker_types(adata, load_marker_sets(annotate["markers"]),
                                                min_genes=annotate["min_genes_per_set"],
                                                min_score=annotate["min_score"], min_margin=annotate["min_margin"])
    kept = passing_cells(adata, params)
    return QCResult(kept=kept, cells=cell_table(adata), summary=summary(adata))


def flag_cells(adata: ad.AnnData, params: Mapping[str, Any], *, seed: int = 0) -> ad.AnnData:
    """Flag low-quality cells and doublets in one sample.

    Parameters
    ----------
    adata
        One ingested sample (``uns['ingest']['value_scale']`` set).
    params
        The ``qc`` config section.
    seed
        Random seed for scrublet.

    Returns
    -------
    The input with ``obs``: QC metrics, one boolean column per filter (``fail_<filter>``),
    ``doublet_score``, ``qc_pass``; ``uns['qc']``: thresholds, counts and the doublet method.
    Use :func:`passing_cells` to keep the cells that pass.
    """
    value_scale = adata.uns["ingest"]["value_scale"]
    qc_metrics(adata)
    thr = thresholds(adata.obs, params, value_scale)
    obs = adata.obs
    obs["fail_low_counts"] = obs["total_counts"] < thr["min_counts"]
    obs["fail_low_genes"] = obs["n_genes"] < thr["min_genes"]
    obs["fail_high_genes"] = obs["n_genes"] > thr["max_genes"]
    obs["fail_high_mt"] = obs["pct_counts_mt"] > thr["max_pct_mt"]
    quality_ok = ~obs[[f"fail_{f}" for f in FILTERS[:-1]]].any(axis=1).to_numpy()
    obs["doublet_score"] = np.nan
    obs["fail_doublet"] = False
    method, rate = "not run (config)", float("nan")
    if params["doublets"] and value_scale != "counts":
        method = f"not run (values are {value_scale}, scrublet needs counts)"
    elif params["doublets"]:
        rate = expected_doublet_rate(adata.n_obs, params["doublet_rate"], adata.uns["ingest"].get("doublet_rate"))
        cap = int(np.ceil(DOUBLET_CAP_FACTOR * rate * adata.n_obs))
        scores, calls, method = run_scrublet(adata[quality_ok], seed=seed, threshold=params["doublet_threshold"],
                                             max_cells=params["scrublet_max_cells"], max_doublets=cap)
        method += f" (expected rate {rate:.2%} of {adata.n_obs:,} cells: at most {cap} removed)"
        obs.loc[quality_ok, "doublet_score"] = scores
        obs.loc[quality_ok, "fail_doublet"] = calls
    obs["qc_pass"] = ~obs[[f"fail_{f}" for f in FILTERS]].any(axis=1)
    adata.uns["qc"] = {"thresholds": thr, "doublet_method": method, "expected_doublet_rate": rate,
                       "params": dict(params),
                       "n_before": int(adata.n_obs), "n_after": int(obs["qc_pass"].sum())}
    return adata


def summary(adata: ad.AnnData) -> pd.DataFrame:
    """One-row table: cells before/after, the count each filter removed, thresholds and status."""
    obs, info = adata.obs, adata.uns["qc"]
    row = {"sample": adata.uns["ingest"]["sample"], "patient": obs["patient"].iloc[0] if len(obs) else "",
           "value_scale": adata.uns["ingest"]["value_scale"],
           "value_scale_evidence": adata.uns["ingest"].get("value_scale_evidence", ""),
           "gene_ids": adata.uns["ingest"].get("gene_ids", ""),
           "cells_before": info["n_before"],
           "cells_after": info["n_after"]}
    row |= {f"removed_{f}": int(obs[f"fail_{f}"].sum()) for f in FILTERS}
    row |= {f"threshold_{k}": v for k, v in info["thresholds"].items()}
    row |= {"median_genes": float(obs["n_genes"].median()), "median_counts": float(obs["total_counts"].median()),
            "median_pct_mt": float(obs["pct_counts_mt"].median()), "doublet_method": info["doublet_method"],
            "expected_doublet_rate": info.get("expected_doublet_rate", float("nan")),
            "status": info.get("status", "kept")}
    return pd.DataFrame([row])


def passing_cells(adata: ad.AnnData, params: Mapping[str, Any]) -> ad.AnnData:
    """The cells that pass QC; enforces ``min_cells_per_sample`` (stop, or drop the sample).

    Raises
    ------
    SampleTooSmallError
        When too few cells pass and ``drop_small_samples`` is false.
    """
    kept = adata[adata.obs["qc_pass"].to_numpy()].copy()
    sample = adata.uns["ingest"]["sample"]
    if kept.n_obs < params["min_cells_per_sample"]:
        msg = (f"sample {sample}: {kept.n_obs} cells left after QC (of {adata.n_obs}); "
               f"qc.min_cells_per_sample is {params['min_cells_per_sample']}")
        if not params["drop_small_samples"]:
            raise SampleTooSmallError(msg + "; lower it or set qc.drop_small_samples: true to drop the sample")
        adata.uns["qc"]["status"] = "dropped: " + msg
        kept = kept[:0].copy()
    kept.uns["qc"] = adata.uns["qc"]
    return kept


def marker_types(adata: ad.AnnData, sets: list, *, min_genes: int, min_score: float,
                 min_margin: float) -> np.ndarray:
    """Each cell's best top-level marker set on its own normalised expression (no smoothing), before QC.

    A rough label for every input cell, the removed ones included, so that what QC removes can be counted
    per cell type (:func:`removal_by_type`); the annotation proper runs after QC.
    """
    import scanpy as sc

    top = [s for s in sets if s.parent is None]
    if adata.n_obs == 0 or not top:
        return np.full(adata.n_obs, UNASSIGNED, dtype=object)
    norm = ad.AnnData(sp.csr_matrix(adata.X, dtype=np.float32), var=pd.DataFrame(index=adata.var_names))
    if adata.uns["ingest"]["value_scale"] != "log":
        sc.pp.normalize_total(norm, target_sum=1e4)
        sc.pp.log1p(norm)
    try:
        scores = marker_scores(norm, top, min_genes=min_genes)
    except InputError:  # no set has enough genes: nothing to count by
        return np.full(adata.n_obs, UNASSIGNED, dtype=object)
    return best_label(scores, min_score, min_margin)[0].to_numpy()


def removal_by_type(cells: pd.DataFrame, *, max_loss: float, min_cells: int = 3) -> pd.DataFrame:
    """What each QC filter removed per marker type (``cells``: the per-cell QC tables of a dataset).

    One row per ``marker_type``: cells, cells each filter flagged (``removed_<filter>``; a cell can fail
    several), cells removed and their share; ``warning`` where a type of at least ``min_cells`` cells lost
    more than ``max_loss`` of them (rare TME types are the first to vanish).
    """
    flags = [f"fail_{f}" for f in FILTERS]
    table = cells.assign(removed=~cells["qc_pass"].astype(bool)).groupby("marker_type")[
        ["removed", *flags]].sum().astype(int)
    table.insert(0, "cells", cells.groupby("marker_type").size())
    table = table.rename(columns={f: f"removed_{f.removeprefix('fail_')}" for f in flags})
    table["share_removed"] = table["removed"] / table["cells"]
    table["warning"] = (table["share_removed"] > max_loss) & (table["cells"] >= min_cells)
    return table.reset_index().sort_values(["warning", "share_removed"], ascending=False, kind="mergesort")


def cell_table(adata: ad.AnnData) -> pd.DataFrame:
    """Per-cell QC table (every cell, passing or not)."""
    cols = ["sample", "patient", *QC_METRICS, "doublet_score", *[f"fail_{f}" for f in FILTERS], "qc_pass",
            *(["marker_type"] if "marker_type" in adata.obs else [])]
    return adata.obs[cols].rename_axis("cell_id").reset_index()
