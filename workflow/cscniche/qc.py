"""Per-sample quality control: QC metrics, adaptive MAD thresholds, hard bounds and scrublet doublets."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc
import scipy.sparse as sp

from .io import InputError
from .labels import QC_METRICS, UNASSIGNED

FILTERS = ["low_counts", "low_genes", "high_genes", "high_mt", "doublet"]
MIN_CELLS_SCRUBLET = 100
# scrublet with exact kNN: 16 s at 6,250 cells, 71 s at 25,000 (with pynndescent: 53 s at 6,250)
EXACT_KNN_MAX_CELLS = 30_000


class SampleTooSmallError(InputError):
    """A sample has too few cells left after QC."""


def qc_metrics(adata: ad.AnnData) -> None:
    """Add per-cell QC metrics to ``adata.obs`` in place.

    Sets ``n_genes``, ``total_counts``, ``pct_counts_mt`` (``MT-`` genes), ``pct_counts_ribo``
    (``RPL``/``RPS``) and ``pct_counts_hb`` (``HB[AB]``, not ``HBP``).
    """
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


def thresholds(obs: pd.DataFrame, params: dict, value_scale: str) -> dict[str, float]:
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


def scrublet_chunks(n_cells: int, max_cells: int, *, seed: int) -> np.ndarray:
    """Random, equal-sized chunks of at most ``max_cells`` cells: each cell's chunk number.

    Scrublet's memory grows with the cells it simulates doublets for (scanpy's z-scoring makes the
    observed and simulated cells x HVG matrix dense: ~12 GB at 25,000 cells x 20,000 genes), so a large
    sample is scored as random chunks of about one 10x lane each, as scrublet's authors advise
    (one run per lane); a random split keeps every chunk's doublet rate that of the sample.
    """
    n_chunks = max(1, -(-n_cells // max_cells))
    return np.random.default_rng(seed).permutation(n_cells) % n_chunks


@contextmanager
def _sparse_centred_pca() -> Iterator[None]:
    """Scanpy's scrublet with its PCA centred implicitly on the sparse matrix instead of a dense copy.

    Scrublet z-scores the cells and their simulated doublets into dense matrices and fits a dense PCA
    (``pipeline.zscore`` then ``pipeline.pca``); PCA of the variance-scaled sparse matrix, which sklearn centres
    implicitly (arpack on a linear operator), is the same decomposition: same components and coordinates up to
    floating point. It holds no dense copy: a 12,500-cell sample at 20,000 genes in 2.5 GB and 15 s
    instead of 4.7 GB and 32 s, with scores correlating at 0.9999999.
    """
    from scanpy.preprocessing._scrublet import pipeline
    from sklearn.decomposition import PCA

    def pca(scrub, n_prin_comps: int = 50, *, random_state=0, svd_solver: str = "arpack") -> None:
        model = PCA(n_components=n_prin_comps, random_state=random_state, svd_solver=svd_solver)
        model.fit(scrub._counts_obs_norm)
        scrub.set_manifold(model.transform(scrub._counts_obs_norm), model.transform(scrub._counts_sim_norm))

    saved = pipeline.zscore, pipeline.pca
    pipeline.zscore, pipeline.pca = pipeline.normalize_variance, pca  # the centring moves into the PCA
    try:
        yield
    finally:
        pipeline.zscore, pipeline.pca = saved


DOUBLET_RATE_PER_1000 = 0.008  # 10x Chromium loading table: ~0.8% multiplets per 1,000 cells recovered
DOUBLET_CAP_FACTOR = 2  # at most this many times the expected doublets are removed


def expected_doublet_rate(n_cells: int, setting: str | float, sample_rate: float | None = None) -> float:
    """Expected doublet rate of a sample: its own (sample sheet), the configured number, or from its size.

    ``setting`` ``"auto"``: ``DOUBLET_RATE_PER_1000`` per 1,000 cells (10x's loading table), at most 0.5.
    """
    if sample_rate is not None:
        return float(sample_rate)
    if setting == "auto":
        return min(DOUBLET_RATE_PER_1000 * n_cells / 1000, 0.5)
    return float(setting)


def run_scrublet(
    adata: ad.AnnData, *, seed: int, threshold: str | float = "otsu", max_cells: int = 10_000,
    max_doublets: int | None = None,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Scrublet doublet scores (scanpy's implementation, count data) and calls.

    ``threshold``: ``"otsu"`` (Otsu's threshold on the simulated-doublet scores, robust where
    scrublet's own histogram minimum lands above the doublet mode), ``"scrublet"`` (scrublet's
    automatic threshold) or a number. Samples above ``max_cells`` are scored in random chunks
    (:func:`scrublet_chunks`, scanpy's ``batch_key``); the Otsu threshold pools their simulated doublets.
    With ``max_doublets``, only that many of the cells above the threshold are called, highest scores first.
    """
    if adata.n_obs < MIN_CELLS_SCRUBLET:
        return np.full(adata.n_obs, np.nan), np.zeros(adata.n_obs, bool), f"skipped (< {MIN_CELLS_SCRUBLET} cells)"
    chunks = scrublet_chunks(adata.n_obs, max_cells, seed=seed)
    n_chunks = int(chunks.max()) + 1
    obs = pd.DataFrame({"chunk": pd.Categorical(chunks)}, index=adata.obs_names)
    tmp = ad.AnnData(adata.X.copy(), obs=obs, var=pd.DataFrame(index=adata.var_names))
    # exact neighbours (sklearn) up to EXACT_KNN_MAX_CELLS: faster there than pynndescent, whose numba
    # compilation alone takes ~40 s in every per-sample job, and deterministic
    with _sparse_centred_pca():
        sc.pp.scrublet(tmp, random_state=seed, verbose=False, batch_key="chunk" if n_chunks > 1 else None,
                       use_approx_neighbors=adata.n_obs / n_chunks > EXACT_KNN_MAX_CELLS)
    scores = tmp.obs.loc[adata.obs_names, "doublet_score"].to_numpy()
    runs = tmp.uns["scrublet"]["batches"].values() if n_chunks > 1 else [tmp.uns["scrublet"]]
    if threshold == "otsu":
        from skimage.filters import threshold_otsu

        cut = float(threshold_otsu(np.concatenate([run["doublet_scores_sim"] for run in runs])))
    elif threshold == "scrublet":
        cut = float(np.median([run["threshold"] for run in runs]))
    else:
        cut = float(threshold)
    chunked = f" ({n_chunks} random chunks of <= {max_cells} cells)" if n_chunks > 1 else ""
    calls = scores > cut
    method = f"scrublet{chunked}, {threshold} threshold {cut:.3f}"
    if max_doublets is not None and calls.sum() > max_doublets:
        ranked = np.argsort(-np.where(calls, scores, -np.inf), kind="stable")
        calls = np.zeros(len(scores), bool)
        calls[ranked[:max_doublets]] = True
        method += f", capped at {max_doublets}"
    return scores, calls, method


def run_qc(adata: ad.AnnData, params: dict, *, seed: int = 0) -> ad.AnnData:
    """Flag and filter low-quality cells and doublets in one sample.

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


def passing_cells(adata: ad.AnnData, params: dict) -> ad.AnnData:
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
    from .markers import best_label, marker_scores

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
