import numpy as np
import pandas as pd
import pytest

from cscniche.config import validate_config
from cscniche.qc import (
    SampleTooSmallError,
    expected_doublet_rate,
    flag_cells,
    mad_bounds,
    run_qc,
    scrublet_chunks,
    summary,
)

QC = validate_config({"datasets": {"s": {"simulate": {}}}})["datasets"]["s"]["qc"]


def _sample(small_tumour, name="P1_S1"):
    adata = small_tumour.samples[name].copy()
    adata.obs["sample"], adata.obs["patient"] = name, name.split("_")[0]
    adata.uns["ingest"] = {**adata.uns["ingest"], "sample": name, "value_scale": "counts"}
    return adata


def test_mad_bounds():
    lo, hi = mad_bounds(np.array([1.0, 2, 3, 4, 100]), 2)
    assert lo == pytest.approx(3 - 2 * 1.4826) and hi == pytest.approx(3 + 2 * 1.4826)


def test_qc_removes_low_quality_and_flags_doublets(small_tumour):
    # both samples (600 cells): scrublet's threshold on one 300-cell sample is a noisy estimate
    samples = [flag_cells(_sample(small_tumour, name), QC, seed=0) for name in small_tumour.samples]
    obs = pd.concat([a.obs for a in samples])
    truth = small_tumour.truth.set_index("cell_id").loc[obs.index]
    lq, dbl = truth["low_quality"].to_numpy(), truth["doublet"].to_numpy()
    passed = obs["qc_pass"].to_numpy()
    assert (~passed[lq]).mean() >= 0.9
    assert passed[~lq & ~dbl].mean() >= 0.95
    assert obs["fail_doublet"].to_numpy()[dbl].mean() >= 0.5
    adata = samples[0]
    row = summary(adata).iloc[0]
    assert row["cells_before"] == adata.n_obs and row["cells_after"] == adata.obs["qc_pass"].sum()
    assert row["doublet_method"].startswith("scrublet, otsu threshold")


def test_expected_doublet_rate_follows_the_10x_loading_table():
    assert expected_doublet_rate(10_000, "auto") == pytest.approx(0.08)
    assert expected_doublet_rate(302, "auto") == pytest.approx(0.002416)
    assert expected_doublet_rate(302, 0.05) == 0.05
    assert expected_doublet_rate(302, "auto", sample_rate=0.076) == 0.076  # a subset of a 10,000-cell lane


def test_small_sample_keeps_its_cells_when_its_size_predicts_few_doublets(small_tumour):
    """A 300-cell sample taken as a whole lane expects 0.24% doublets: at most 2 cells go, the highest scores
    (planted doublets); told its lane's real rate (5%, as simulated), scrublet's calls stand."""
    adata = _sample(small_tumour)
    del adata.uns["ingest"]["doublet_rate"]
    auto = flag_cells(adata, QC, seed=0)
    told = flag_cells(_sample(small_tumour), QC, seed=0)
    dbl = small_tumour.truth.set_index("cell_id").loc[auto.obs_names, "doublet"].to_numpy()
    removed = auto.obs["fail_doublet"].to_numpy()
    assert 1 <= removed.sum() <= 2 and dbl[removed].all()
    assert "at most 2 removed" in auto.uns["qc"]["doublet_method"]
    assert told.obs["fail_doublet"].sum() > 2 * removed.sum()
    assert summary(auto).iloc[0]["expected_doublet_rate"] == pytest.approx(0.008 * auto.n_obs / 1000)


def test_large_sample_is_scored_in_random_chunks():
    from conftest import simulated_tumour

    chunks = scrublet_chunks(3001, 1500, seed=0)
    assert sorted(set(np.bincount(chunks))) == [1000, 1001]  # three near-equal chunks
    assert len(set(chunks[:100])) == 3  # random, not consecutive blocks
    tumour = simulated_tumour({"n_cells": 2400, "n_patients": 1, "samples_per_patient": 1, "n_genes": 1500,
                               "malignant_fraction": 0.45, "csc_fraction": 0.15, "low_quality_fraction": 0.05,
                               "doublet_fraction": 0.05, "mean_library_size": 4000}, seed=2)
    dbl = tumour.truth.set_index("cell_id").loc[tumour.samples["P1_S1"].obs_names, "doublet"].to_numpy()
    recall, method = {}, {}
    for max_cells in (1200, 5000):
        adata = flag_cells(_sample(tumour, "P1_S1"), QC | {"scrublet_max_cells": max_cells}, seed=0)
        flagged = adata.obs["fail_doublet"].to_numpy()
        recall[max_cells], method[max_cells] = flagged[dbl].mean(), adata.uns["qc"]["doublet_method"]
        assert flagged[~dbl].mean() <= 0.01
    assert "2 random chunks of <= 1200 cells" in method[1200] and "chunks" not in method[5000]
    assert recall[1200] >= 0.5 and recall[1200] >= recall[5000] - 0.1  # chunks find the doublets one run finds


def test_tpm_data_skips_count_filters_and_scrublet(small_tumour):
    adata = _sample(small_tumour)
    adata.uns["ingest"]["value_scale"] = "tpm"
    adata = flag_cells(adata, QC)
    assert adata.uns["qc"]["thresholds"]["min_counts"] == 0
    assert "scrublet needs counts" in adata.uns["qc"]["doublet_method"]
    assert not adata.obs["fail_doublet"].any()


def test_sample_with_too_few_cells_stops_or_is_dropped(small_tumour):
    strict = {**QC, "min_cells_per_sample": 10_000}
    with pytest.raises(SampleTooSmallError, match=r"sample P2_S1: \d+ cells left after QC .*min_cells_per_sample"):
        run_qc(_sample(small_tumour, "P2_S1"), **strict)
    result = run_qc(_sample(small_tumour, "P2_S1"), **{**strict, "drop_small_samples": True})
    assert result.kept.n_obs == 0 and result.kept.uns["qc"]["status"].startswith("dropped: sample P2_S1")
    assert result.summary.iloc[0]["status"].startswith("dropped: sample P2_S1") and len(result.cells) > 0


def test_sparse_centred_pca_gives_scrublets_scores(small_tumour, monkeypatch):
    import contextlib

    import cscniche.qc as qc

    adata = _sample(small_tumour, "P1_S1")
    ours, _, _ = qc.run_scrublet(adata, seed=0)
    monkeypatch.setattr(qc.doublets, "_sparse_centred_pca", contextlib.nullcontext)  # scanpy's dense z-score and PCA
    scanpys, _, _ = qc.run_scrublet(adata, seed=0)
    # the same decomposition up to floating point: a rare neighbour differs (corr 0.99993, max 0.006 here)
    assert np.corrcoef(ours, scanpys)[0, 1] > 0.9999 and np.abs(ours - scanpys).mean() < 1e-3
    assert np.abs(ours - scanpys).max() < 0.02
    from scanpy.preprocessing._scrublet import pipeline

    assert pipeline.pca.__module__ == "scanpy.preprocessing._scrublet.pipeline"  # restored afterwards


def test_what_qc_removed_is_counted_per_cell_type(small_tumour):
    """Every input cell gets a rough marker type before QC, so the loss of a rare type is reported."""
    from cscniche.qc import removal_by_type

    from conftest import REPO

    settings = validate_config({"datasets": {"s": {"simulate": {}}}})["datasets"]["s"]["annotate"]
    settings |= {"markers": [REPO / "config/markers/tme.yaml"], "min_genes_per_set": 2}
    cells = run_qc(_sample(small_tumour), **QC, annotate=settings, seed=0).cells.set_index("cell_id")
    truth = small_tumour.truth.set_index("cell_id").loc[cells.index, "cell_type"]
    for planted, label in (("T", "T cell"), ("B", "B cell"), ("fibroblast", "fibroblast/CAF")):
        assert (cells.loc[truth.eq(planted).to_numpy(), "marker_type"] == label).mean() >= 0.7, planted
    cells = cells.reset_index()
    quiet = removal_by_type(cells, max_loss=0.3)
    assert quiet["cells"].sum() == small_tumour.samples["P1_S1"].n_obs
    fibroblasts = cells["marker_type"].eq("fibroblast/CAF")
    cells.loc[fibroblasts, "qc_pass"] = False  # as if doublet removal took every fibroblast
    cells.loc[fibroblasts, "fail_doublet"] = True
    table = removal_by_type(cells, max_loss=0.3).set_index("marker_type")
    assert table.loc["fibroblast/CAF", "warning"] and table.loc["fibroblast/CAF", "share_removed"] == 1.0
    assert table.loc["fibroblast/CAF", "removed_doublet"] == fibroblasts.sum()
    assert table["warning"].sum() == 1 + quiet["warning"].sum()
