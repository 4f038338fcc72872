import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import scipy.stats as ss
from sklearn.metrics import f1_score, roc_auc_score

from cscniche import malignant
from cscniche.io import InputError
from cscniche.stemness import load_gene_sets, read_weights, row_ranks, run_stemness, score_malignant, ucell

from conftest import SHARED, default_settings, run_chain, simulated_tumour, simulated_variant

GMT = SHARED / "gene_sets" / "c2.v6.0_stemness_subset.symbols.gmt"
WEIGHTS = SHARED / "gene_sets" / "pcbc-stemsig.tsv"


def _identity(samples, settings):
    adata = run_chain(samples, settings)
    params = settings["malignant"]
    reference, _ = malignant.reference_cells(adata, params)
    malignant.infer_cnv(adata, reference, params)
    malignant.call_malignant(adata, reference, params)
    return adata


def test_sparse_row_ranks_match_scipy():
    rng = np.random.default_rng(0)
    dense = rng.poisson(0.7, (40, 25)).astype(float)
    dense[rng.random(dense.shape) < 0.1] *= -1.5
    R, zero_rank = row_ranks(sp.csr_matrix(dense))
    np.testing.assert_allclose(R.toarray() + zero_rank[:, None], ss.rankdata(dense, axis=1))


def test_ucell_orders_cells_by_signature_expression():
    import anndata as ad

    X = np.zeros((3, 200))
    X[:, 10:200] = np.linspace(0.1, 1, 190)  # background genes
    X[0, :5] = 5.0  # signature genes high
    X[1, :5] = 0.95  # about 10th of 200 genes
    adata = ad.AnnData(sp.csr_matrix(X), var=pd.DataFrame(index=[f"G{i}" for i in range(200)]))
    scores = ucell(adata, [f"G{i}" for i in range(5)], max_rank=50)
    assert scores[0] == pytest.approx(1.0) and scores[0] > scores[1] > scores[2]
    assert scores[2] < 0.05  # zeros rank below max_rank
    with pytest.raises(InputError, match="0 of its 2 genes in the data"):
        ucell(adata, ["X1", "X2"])


def _simulate(csc_fraction):
    params = {"n_cells": 1600, "n_patients": 2, "samples_per_patient": 1, "n_genes": 4000,
              "malignant_fraction": 0.5, "csc_fraction": csc_fraction, "low_quality_fraction": 0.05,
              "doublet_fraction": 0.05, "mean_library_size": 6000}
    return simulated_tumour(params, seed=5)


@pytest.fixture(scope="module")
def planted():
    sim = _simulate(0.15)
    settings = default_settings()
    return sim, _identity(sim.samples, settings), settings


def test_planted_cscs_are_found(planted):
    sim, adata, settings = planted
    result = run_stemness(adata, **settings["stemness"], seed=0)
    summary, agreement = result.summary, result.agreement
    truth = sim.truth.set_index("cell_id").loc[adata.obs_names]
    mal = (adata.obs["malignant"] == "malignant").to_numpy() & truth["malignant"].to_numpy() & ~truth["doublet"]
    csc = truth.loc[mal, "csc"]
    assert roc_auc_score(csc, adata.obs.loc[mal, "stemness"]) >= 0.95
    for scorer in ("stemness_cytotrace", "stemness_ucell_CSC_markers"):
        assert roc_auc_score(csc, adata.obs.loc[mal, scorer]) >= 0.8, scorer
    assert f1_score(csc, adata.obs.loc[mal, "csc"] == "CSC-high") >= 0.85
    assert (summary["signal"] == "discrete").all() and (summary["jaccard_stability"] > 0.8).all()
    assert set(adata.obs.loc[adata.obs["malignant"] != "malignant", "csc"]) == {""}
    assert set(agreement.columns) == {"patient", "scorer_a", "scorer_b", "spearman"}


def test_no_planted_program_gives_no_program_not_invented_cscs():
    sim = _simulate(0.001)
    settings = default_settings()
    adata = _identity(sim.samples, settings)
    summary = run_stemness(adata, **settings["stemness"], seed=0).summary
    assert (summary["signal"] == "absent").all(), summary
    assert not (adata.obs["csc"] == "CSC-high").any()


def test_mrnasi_and_gmt_scorers(planted, shared_data):
    _, adata, settings = planted
    params = {**settings["stemness"], "mrnasi_weights": str(WEIGHTS),
              "gmt": [{"path": str(GMT), "sets": ["BENPORATH_ES_1", "WONG_EMBRYONIC_STEM_CELL_CORE"]}]}
    scores = score_malignant(adata, params, weights=read_weights(WEIGHTS), gene_sets=load_gene_sets(params))
    assert {"cytotrace", "mrnasi", "ucell_CSC_markers", "ucell_BENPORATH_ES_1"} <= set(scores)
    assert scores["mrnasi"].between(0, 1).all() and scores["mrnasi"].min() == 0
    with pytest.raises(InputError, match=r"gene set\(s\) \['NOPE'\] not found"):
        load_gene_sets({**params, "gmt": [{"path": str(GMT), "sets": ["NOPE"]}]})


def test_patient_jobs_gathered_equal_one_run(planted, tmp_path):
    """The workflow scores each patient in its own job (files in between) and gathers them: the same cells'
    calls, tables and ssGSEA cross-check as scoring all patients in one process, where ssGSEA agrees with UCell
    on the malignant metacells; a patient without malignant cells gives a part with a too_few_cells summary row
    and no calls, not an error."""
    from cscniche.stemness import read_patient, run_stemness_patient, write_patient

    _, adata, settings = planted
    params = settings["stemness"]
    whole = adata.copy()
    result = run_stemness(whole, **params, seed=0)
    assert len(result.ssgsea) >= 10
    assert result.ssgsea_check.set_index("set").loc["CSC_markers", "spearman"] >= 0.5
    gathered = adata.copy()
    patients = gathered.obs["patient"].astype(str).to_numpy()
    files = []
    for p in np.unique(patients):
        files.append(tmp_path / f"{p}.h5ad")
        write_patient(run_stemness_patient(gathered[patients == p], **params, seed=0), gathered.var_names, files[-1])
    normal = gathered[gathered.obs["malignant"] != "malignant"]
    files.append(tmp_path / "normal.h5ad")  # no malignant cells at all
    write_patient(run_stemness_patient(normal[:50], **params, seed=0), gathered.var_names, files[-1])
    parts = [read_patient(f) for f in files]
    assert list(parts[-1].summary[["malignant_cells", "signal"]].iloc[0]) == [0, "too_few_cells"]
    assert parts[-1].bulks.shape[1] == 0 and (parts[-1].cells["csc"] == "").all()
    result2 = run_stemness(gathered, **params, seed=0, parts=parts[:-1])
    stemness_columns = [c for c in whole.obs if c.startswith(("stemness", "csc"))]
    assert len(stemness_columns) >= 5
    pd.testing.assert_frame_equal(gathered.obs[stemness_columns], whole.obs[stemness_columns])
    for table in ("summary", "agreement", "coherence", "ssgsea", "ssgsea_check"):
        pd.testing.assert_frame_equal(getattr(result2, table), getattr(result, table))


# The simulator's CSC variants, scored on the truth's malignant cells (no QC or CNV calling: the stemness
# stage alone). "csc_diversity: False" is the default of the variants: a program that does not raise the
# number of genes detected, as in real CSC states, so CytoTRACE-style diversity carries no information.
DISCRETE_VARIANTS = {
    "strong, with diversity shift": {"csc_diversity": True},
    "strong": {},
    "5% CSCs": {"csc_fraction": 0.05},
    "30% CSCs": {"csc_fraction": 0.30},
    "subtle (log-fold 2)": {"csc_strength": 2.0},
    "half the program in the marker set": {"csc_marker_overlap": 0.5},
}


def _malignant_obs(adata):
    return adata.obs[adata.obs["malignant"] == "malignant"]


@pytest.mark.parametrize("variant", list(DISCRETE_VARIANTS))
def test_planted_program_is_found_in_every_variant(variant):
    _, adata = simulated_variant(DISCRETE_VARIANTS[variant])
    summary = run_stemness(adata, **default_settings()["stemness"], seed=0).summary
    mal = _malignant_obs(adata)
    assert roc_auc_score(mal["truth_csc"], mal["stemness"]) >= 0.95
    assert f1_score(mal["truth_csc"], mal["csc"] == "CSC-high") >= 0.85
    assert (summary["signal"] == "discrete").all(), summary[["patient", "signal", "failed_condition"]]
    assert (summary["weight_program_CSC_markers"] > 0).all()
    if not DISCRETE_VARIANTS[variant].get("csc_diversity"):  # no diversity shift: CytoTRACE does not dilute
        assert (summary["weight_cytotrace"] == 0).all()


def test_gradient_is_reported_continuous_and_follows_the_planted_level():
    _, adata = simulated_variant({"csc_mode": "gradient"})
    summary = run_stemness(adata, **default_settings()["stemness"], seed=0).summary
    mal = _malignant_obs(adata)
    assert (summary["signal"] == "continuous").all(), summary[["patient", "signal", "failed_condition"]]
    assert summary["failed_condition"].str.contains("valley").all()
    for _, part in mal.groupby("patient"):
        assert ss.spearmanr(part["stemness"], part["truth_level"])[0] >= 0.8
    assert set(mal["csc_signal"]) == {"continuous"}


def test_no_program_is_absent_with_no_csc_calls_and_says_why():
    _, adata = simulated_variant({"csc_fraction": 0.001})
    summary = run_stemness(adata, **default_settings()["stemness"], seed=0).summary
    assert (summary["signal"] == "absent").all(), summary[["patient", "signal", "coherence_pvalue"]]
    assert summary["failed_condition"].str.startswith("no coherent program").all()
    assert not (adata.obs["csc"] == "CSC-high").any()
    settings = [c for c in summary if c.startswith("setting_")]
    assert {"setting_coherence_alpha", "setting_min_coherence", "setting_max_valley"} <= set(settings)


def test_no_malignant_cells_give_a_full_summary_row_per_patient():
    _, adata = simulated_variant({})
    adata.obs["malignant"] = "non-malignant"
    summary = run_stemness(adata, **default_settings()["stemness"], seed=0).summary
    assert list(summary["patient"]) == ["P1", "P2"]
    assert (summary["signal"] == "too_few_cells").all() and (summary["csc_high"] == 0).all()
    assert summary["failed_condition"].eq("no malignant cells in this patient").all()
    assert {"coherence_pvalue", "bic_gain", "setting_min_cells"} <= set(summary)
    assert not (adata.obs["csc"] == "CSC-high").any()
