import numpy as np
import pytest

from cscniche.config import validate_config
from cscniche.qc import SampleTooSmallError, mad_bounds, passing_cells, run_qc, summary

QC = validate_config({"datasets": {"s": {"simulate": {}}}})["datasets"]["s"]["qc"]


def _sample(small_tumour, name="P1_S1"):
    adata = small_tumour.samples[name].copy()
    adata.obs["sample"], adata.obs["patient"] = name, name.split("_")[0]
    adata.uns["ingest"] = {"sample": name, "value_scale": "counts"}
    return adata


def test_mad_bounds():
    lo, hi = mad_bounds(np.array([1.0, 2, 3, 4, 100]), 2)
    assert lo == pytest.approx(3 - 2 * 1.4826) and hi == pytest.approx(3 + 2 * 1.4826)


def test_qc_removes_low_quality_and_flags_doublets(small_tumour):
    adata = run_qc(_sample(small_tumour), QC, seed=0)
    truth = small_tumour.truth.set_index("cell_id").loc[adata.obs_names]
    lq, dbl = truth["low_quality"].to_numpy(), truth["doublet"].to_numpy()
    passed = adata.obs["qc_pass"].to_numpy()
    assert (~passed[lq]).mean() >= 0.9
    assert passed[~lq & ~dbl].mean() >= 0.95
    assert adata.obs["fail_doublet"].to_numpy()[dbl].mean() >= 0.5
    row = summary(adata).iloc[0]
    assert row["cells_before"] == adata.n_obs and row["cells_after"] == passed.sum()
    assert row["doublet_method"].startswith("scrublet, otsu threshold")


def test_tpm_data_skips_count_filters_and_scrublet(small_tumour):
    adata = _sample(small_tumour)
    adata.uns["ingest"]["value_scale"] = "tpm"
    adata = run_qc(adata, QC)
    assert adata.uns["qc"]["thresholds"]["min_counts"] == 0
    assert "scrublet needs counts" in adata.uns["qc"]["doublet_method"]
    assert not adata.obs["fail_doublet"].any()


def test_sample_with_too_few_cells_stops_or_is_dropped(small_tumour):
    strict = {**QC, "min_cells_per_sample": 10_000}
    adata = run_qc(_sample(small_tumour, "P2_S1"), strict)
    with pytest.raises(SampleTooSmallError, match=r"sample P2_S1: \d+ cells left after QC .*min_cells_per_sample"):
        passing_cells(adata, strict)
    kept = passing_cells(adata, {**strict, "drop_small_samples": True})
    assert kept.n_obs == 0 and kept.uns["qc"]["status"].startswith("dropped: sample P2_S1")
