import functools

import numpy as np
import pandas as pd
import pytest

from cscniche.compare import (
    composition_test,
    csc_pseudobulks,
    group_expression_changes,
    patient_composition,
    resistance_genes,
    signalling_differences,
)
from cscniche.config import ConfigError, check_comparisons, simulated_samples

from conftest import default_settings, simulated_tumour


def _cells(csc_share: dict[str, float], group: dict[str, str], seed: int = 0) -> pd.DataFrame:
    """100 malignant and 100 TME cells per patient; CSC-high share per patient as given."""
    rng = np.random.default_rng(seed)
    rows = []
    for patient, share in csc_share.items():
        n_high = int(round(100 * share))
        csc = ["CSC-high"] * n_high + ["CSC-low"] * (100 - n_high)
        tme = rng.choice(["T cell", "macrophage/monocyte", "fibroblast/CAF"], 100)
        rows += [{"patient": patient, "response": group[patient], "malignant": "malignant", "cell_type": "malignant",
                  "csc": c} for c in csc]
        rows += [{"patient": patient, "response": group[patient], "malignant": "non-malignant", "cell_type": t,
                  "csc": ""} for t in tme]
    return pd.DataFrame(rows)


GROUPS = ["responder", "non-responder"]
GROUP = {f"P{i}": GROUPS[i % 2] for i in range(1, 9)}


def test_planted_csc_difference_is_found_with_patients_as_units():
    shares = {p: (0.30 if GROUP[p] == "non-responder" else 0.05) + 0.01 * i for i, p in enumerate(GROUP)}
    per_patient = patient_composition(_cells(shares, GROUP), "response", GROUPS)
    assert len(per_patient) == 8 and per_patient["csc_high_share"].between(0.04, 0.4).all()
    table = composition_test(per_patient, GROUPS).set_index("measure")
    csc = table.loc["csc_high_share"]
    assert csc["n_patients_a"] == csc["n_patients_b"] == 4 and csc["difference"] > 0.2
    assert csc["pvalue"] == pytest.approx(2 / 70)  # 4 vs 4 patients, fully separated: the exact minimum
    assert {"share_T cell", "share_fibroblast/CAF"} <= set(table.index)


def test_null_design_stays_quiet():
    shares = dict.fromkeys(GROUP, 0.15)
    table = composition_test(patient_composition(_cells(shares, GROUP, seed=1), "response", GROUPS), GROUPS)
    assert (table["pvalue"] > 0.05).all(), table


def test_one_patient_per_group_is_descriptive_only():
    group = {"P1": "responder", "P2": "non-responder"}
    per_patient = patient_composition(_cells({"P1": 0.1, "P2": 0.3}, group), "response", GROUPS)
    table = composition_test(per_patient, GROUPS)
    assert table["pvalue"].isna().all() and table["test"].str.startswith("descriptive").all()
    assert table.set_index("measure").loc["csc_high_share", "difference"] == pytest.approx(0.2)


def test_comparisons_are_checked_against_the_sample_sheet():
    sheet = simulated_samples("d", {"n_patients": 4, "samples_per_patient": 2, "condition": {
        "column": "response", "groups": GROUPS, "csc_fraction": [0.05, 0.3]}})
    assert list(sheet.drop_duplicates("patient")["response"]) == [*GROUPS, *GROUPS]
    comp = {"name": "resp", "column": "response", "groups": GROUPS, "descriptive": False}
    check_comparisons("d", [comp], sheet)
    with pytest.raises(ConfigError, match=r"compare\[0\]` \(resp\): column 'treatment' is not in the sample sheet"):
        check_comparisons("d", [{**comp, "column": "treatment"}], sheet)
    with pytest.raises(ConfigError, match="group 'responder' .* has 1 patient"):
        check_comparisons("d", [comp], sheet[sheet["patient"] != "P3"])
    check_comparisons("d", [{**comp, "descriptive": True}], sheet[sheet["patient"] != "P3"])
    mixed = sheet.copy()
    mixed.loc[1, "response"] = "non-responder"  # P1's second sample in the other group
    with pytest.raises(ConfigError, match=r"patient\(s\) \['P1'\] have samples in more than one response group"):
        check_comparisons("d", [comp], mixed)


def test_simulator_plants_a_csc_share_per_group():
    sim = simulated_tumour({"n_cells": 800, "n_patients": 4, "samples_per_patient": 1, "n_genes": None,
                            "malignant_fraction": 0.8, "csc_fraction": 0.15, "low_quality_fraction": 0.0,
                            "doublet_fraction": 0.0, "mean_library_size": 3000,
                            "condition": {"column": "response", "groups": GROUPS, "csc_fraction": [0.05, 0.3]}},
                           seed=0)
    share = sim.truth[sim.truth["malignant"]].groupby("patient")["csc"].mean()
    assert share[["P1", "P3"]].max() < 0.1 and share[["P2", "P4"]].min() > 0.25


def test_comparison_settings_get_their_defaults_and_unique_names():
    from cscniche.config import validate_config

    comp = {"name": "resp", "column": "response", "groups": GROUPS}
    settings = validate_config({"datasets": {"d": {"simulate": {}, "compare": [comp]}}})
    assert settings["datasets"]["d"]["compare"][0]["descriptive"] is False
    with pytest.raises(ConfigError, match=r"field `compare`: duplicated comparison name\(s\) \['resp'\]"):
        validate_config({"datasets": {"d": {"simulate": {}, "compare": [comp, comp]}}})
    with pytest.raises(ConfigError, match=r"compare"):
        validate_config({"datasets": {"d": {"simulate": {}, "compare": [{**comp, "groups": ["a"]}]}}})


def _design(resistance_effect: float, seed: int = 0, n_patients: int = 8):
    """8 simulated patients in two groups (P1, P3, ... responders), truth labels as calls; AXL planted up
    in the non-responders' CSCs by ``resistance_effect`` (log scale). The CSC program does not add random
    genes per patient (``csc_diversity: False``): with it, 4 vs 4 patients line up by chance for a few genes
    in most null runs (measured: 8 of 10), which no test on 8 patients can tell from a real effect.

    Each design is simulated once per test session; every call gets its own copy."""
    counts, obs, genes = _simulated_design(resistance_effect, seed, n_patients)
    return counts.copy(), obs.copy(), genes


@functools.lru_cache
def _simulated_design(resistance_effect: float, seed: int, n_patients: int):
    import scipy.sparse as sp

    params = default_settings(simulate={
        "n_cells": 500 * n_patients, "n_patients": n_patients, "n_genes": 2000, "csc_diversity": False,
        "condition": {"column": "response", "groups": GROUPS, "csc_fraction": [0.15, 0.15],
                      "resistance_effect": resistance_effect}})["simulate"]
    sim = simulated_tumour(params, seed=seed)
    counts = sp.vstack([sim.samples[s].X for s in sorted(sim.samples)], format="csr")
    truth = sim.truth.set_index("cell_id").loc[[c for s in sorted(sim.samples) for c in sim.samples[s].obs_names]]
    single = ~truth["doublet"] & ~truth["low_quality"]
    group = {f"P{i}": GROUPS[(i - 1) % 2] for i in range(1, n_patients + 1)}  # as the simulator assigns them
    obs = pd.DataFrame({"patient": truth["patient"], "response": truth["patient"].map(group),
                        "malignant": np.where(truth["malignant"], "malignant", "non-malignant"),
                        "csc": np.where(truth["malignant"], np.where(truth["csc"], "CSC-high", "CSC-low"), ""),
                        "cell_type": np.where(truth["malignant"], "malignant", truth["cell_type"])})
    keep = single.to_numpy()
    return counts[keep], obs[keep], sim.samples["P1_S1"].var_names


def test_null_design_has_no_resistance_genes():
    counts, obs, genes = _design(0.0, seed=1)
    bulk, meta = csc_pseudobulks(counts, obs, genes, column="response", groups=GROUPS, min_cells=10)
    table = resistance_genes(bulk, meta, GROUPS)
    assert len(table) > 500 and not (table["fdr"] <= 0.05).any(), table.head()


def test_resistance_genes_with_one_patient_per_group_are_descriptive():
    counts, obs, genes = _design(1.5)
    two = obs["patient"].isin(["P1", "P2"]).to_numpy()
    bulk, meta = csc_pseudobulks(counts[two], obs[two], genes, column="response", groups=GROUPS, min_cells=10)
    table = resistance_genes(bulk, meta, GROUPS)
    assert table["pvalue"].isna().all() and table["test"].str.startswith("descriptive").all()
    # one patient per group: patient and group cannot be told apart, so the planted gene is up (log2 ratio of
    # mean CPM) but not on top; patient-specific genes are, which is why no p-value is given
    assert table.set_index("gene").loc["AXL", "log2fc"] > 1


def _design_crosstalk(resistance_effect: float, seed: int = 0):
    """The 8-patient design through the crosstalk stage (truth labels as calls, 200 permutations): the cells
    (log-normalised, counts in ``layers['counts']``) and their interactions."""
    import anndata as ad
    import scanpy as sc
    import scipy.sparse as sp

    from cscniche import crosstalk as ct

    counts, obs, genes = _design(resistance_effect, seed=seed)
    adata = ad.AnnData(sp.csr_matrix(counts, dtype=np.float32), obs=obs, var=pd.DataFrame(index=genes))
    adata.obs_names = [f"c{i}" for i in range(adata.n_obs)]
    adata.layers["counts"] = adata.X.copy()
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    params = {"min_cells": 10, "expr_prop": 0.1, "n_perms": 200, "fdr": 0.05, "rank_aggregate": False,
              "min_patient_share": 0.5}
    interactions, _, _ = ct.infer_crosstalk(adata, ct.load_resource("liana:consensus"), params)
    return adata, interactions


@pytest.fixture(scope="module")
def planted_comparison(tmp_path_factory):
    """The compare stage's entry on files, as the workflow runs it, on the 8-patient design with AXL and
    CD274 planted up in the non-responders' CSCs."""
    from functools import partial

    from cscniche.compare import run_compare
    from cscniche.io import read_stage, write_h5ad

    adata, interactions = _design_crosstalk(1.5)
    path = tmp_path_factory.mktemp("planted") / "clustered.h5ad"
    write_h5ad(adata, path)
    cells = adata.obs.reset_index(drop=True)
    settings = default_settings()
    result = run_compare(cells, interactions, partial(read_stage, path), name="response", column="response",
                         groups=GROUPS, descriptive=False, covariates=[], paired_by=None,
                         biomarkers=settings["biomarkers"], crosstalk=settings["crosstalk"], seed=0)
    return cells, interactions, result


def test_the_stage_finds_the_resistance_genes_and_the_signalling_planted_in_one_groups_cscs(planted_comparison):
    """AXL and CD274, planted up only in the non-responders' CSCs, are the top two resistance genes with
    FDR <= 0.05 (4 vs 4 patients, CSC-high vs CSC-low pseudobulks; in CSC-low cells AXL does not change).
    CD274-PDCD1 from CSCs to T cells is the top pair, its per-patient CSC-specific effect separating the groups
    (exact p = 2/70), its ligand up in the sender (pseudobulk DESeq2 per cell group, patients as units) and
    the T cells' receptor unchanged."""
    cells, interactions, result = planted_comparison
    assert len(result.per_patient) == 8 and result.composition["n_patients_b"].eq(4).all()
    genes = result.genes
    top = genes.head(2).set_index("gene")
    assert set(top.index) == {"AXL", "CD274"} and (top["fdr"] <= 0.05).all() and (top["log2fc"] > 1).all()
    assert abs(top.loc["AXL", "log2fc_csc_low"]) < 0.5 and (top["log2fc_csc_high"] > 1).all()
    assert (genes["n_patients_a"] == 4).all() and genes["test"].str.contains("4 vs 4 patients").all()
    assert result.gsea.empty and "no gene sets configured" in " ".join(result.notes)
    table = result.signalling
    top = table.iloc[0]
    assert (top["ligand"], top["receptor"], top["direction"], top["partner"]) == ("CD274", "PDCD1", "CSC->TME", "T")
    assert top["pvalue"] == pytest.approx(2 / 70) and top["effect_difference"] > 0 and top["csc_side_change"] > 0
    # the ligand rose in the sender (the CSCs), patients as units; the receptor in T cells was not planted
    assert top["ligand_log2fc"] > 1 and top["ligand_fdr"] <= 0.05 and top["csc_side_stat"] > 3
    assert abs(top["receptor_log2fc"]) < 0.5 and not top["receptor_fdr"] <= 0.05
    assert (table["pvalue"].dropna() >= 2 / 70 - 1e-12).all() and table["n_patients_a"].max() == 4
    group = cells.drop_duplicates("patient").set_index("patient")["response"]
    assert signalling_differences(interactions, group, GROUPS).iloc[0]["ligand"] == "CD274"  # without expression


def test_signalling_without_a_planted_difference_does_not_single_out_the_pair():
    adata, interactions = _design_crosstalk(0.0, seed=1)
    lr_genes = sorted({g for e in pd.concat([interactions["ligand"], interactions["receptor"]]) for g in e.split("_")})
    lr = adata[:, adata.var_names.isin(lr_genes)]
    expression = group_expression_changes(lr.layers["counts"], lr.obs, lr.var_names, column="response",
                                          groups=GROUPS, min_cells=10)
    group = adata.obs.drop_duplicates("patient").set_index("patient")["response"]
    assert not (expression["fdr"] <= 0.05).any(), expression.nsmallest(5, "pvalue")
    table = signalling_differences(interactions, group, GROUPS, expression=expression)
    planted = table[(table["ligand"] == "CD274") & (table["receptor"] == "PDCD1") & (table["partner"] == "T")
                    & (table["direction"] == "CSC->TME")]
    assert len(planted) == 1 and planted.index[0] >= 10 and planted["pvalue"].iloc[0] > 0.05
    assert not (table["fdr"] <= 0.05).any()


def test_comparison_figure_draws_the_planted_design_and_empty_tables(tmp_path, planted_comparison):
    from cscniche.plots import comparison_figure

    shares = {p: (0.30 if GROUP[p] == "non-responder" else 0.05) + 0.01 * i for i, p in enumerate(GROUP)}
    per_patient = patient_composition(_cells(shares, GROUP), "response", GROUPS)
    composition = composition_test(per_patient, GROUPS)
    table, signalling = planted_comparison[2].genes, planted_comparison[2].signalling
    comparison_figure(per_patient, composition, table, signalling, tmp_path / "planted.png")
    empty = composition_test(per_patient.iloc[:0], GROUPS)
    comparison_figure(per_patient.iloc[:0], empty, table.iloc[:0], signalling.iloc[:0], tmp_path / "empty.svg")
    descriptive = table.assign(pvalue=np.nan, fdr=np.nan)
    comparison_figure(per_patient, composition, descriptive, signalling, tmp_path / "descriptive.png")
    assert (tmp_path / "planted.png").stat().st_size > 20_000 and (tmp_path / "empty.svg").stat().st_size > 1000
    assert (tmp_path / "descriptive.png").stat().st_size > 20_000


PAIRED = ["before", "during"]


def _paired_cells(shift: float, seed: int = 0) -> pd.DataFrame:
    """6 patients, each sampled before and during treatment; CSC-high shares vary tenfold between patients,
    and each patient's share during treatment is ``shift`` above its own share before."""
    baseline = dict(zip([f"P{i}" for i in range(1, 7)], [0.03, 0.08, 0.15, 0.22, 0.3, 0.4], strict=True))
    tables = []
    for k, group in enumerate(PAIRED):
        shares = {p: share + k * shift + 0.01 * (i % 2) * k for i, (p, share) in enumerate(baseline.items())}
        tables.append(_cells(shares, dict.fromkeys(baseline, group), seed=seed + k).rename(
            columns={"response": "timepoint"}))
    return pd.concat(tables, ignore_index=True)


def test_paired_design_finds_a_within_patient_shift_that_patients_differences_hide():
    """Each patient's CSC share rises by 0.05 during treatment: the paired sign-flip test reaches its exact
    floor (2/64 with 6 patients); the unpaired test of the same values, drowned by between-patient spread,
    does not."""
    per_patient = patient_composition(_paired_cells(0.05), "timepoint", PAIRED)
    assert len(per_patient) == 12 and per_patient.groupby("patient").size().eq(2).all()
    paired = composition_test(per_patient, PAIRED, paired=True).set_index("measure").loc["csc_high_share"]
    assert paired["pvalue"] == pytest.approx(2 / 64) and paired["n_patients_a"] == paired["n_patients_b"] == 6
    assert paired["test"].startswith("exact paired") and paired["difference"] == pytest.approx(0.055, abs=0.011)
    unpaired = composition_test(per_patient, PAIRED).set_index("measure").loc["csc_high_share"]
    assert unpaired["pvalue"] > 0.3
    null = composition_test(patient_composition(_paired_cells(0.0, seed=3), "timepoint", PAIRED), PAIRED,
                            paired=True)
    assert (null["pvalue"] > 0.05).all(), null


def test_sign_flip_pvalues_are_exact_and_never_below_their_floor():
    from cscniche.compare import _sign_flip_pvalue

    assert _sign_flip_pvalue(np.array([0.1, 0.2, 0.3])) == pytest.approx(2 / 8)
    assert _sign_flip_pvalue(np.zeros(4)) == 1.0
    assert _sign_flip_pvalue(np.array([1.0, -1.0, 1.0, -1.0])) == 1.0
    many = _sign_flip_pvalue(np.full(24, 0.5))  # random flips: the observed one counts
    assert 1 / 2 ** 20 <= many < 1e-5


def test_paired_comparisons_are_checked_against_the_sample_sheet():
    sheet = simulated_samples("d", {"n_patients": 3, "samples_per_patient": 2})
    sheet["timepoint"] = ["before", "during"] * 3
    comp = {"name": "tp", "column": "timepoint", "groups": PAIRED, "descriptive": False, "paired_by": "patient"}
    check_comparisons("d", [comp], sheet)
    with pytest.raises(ConfigError, match="have samples in more than one timepoint group.*paired_by: patient"):
        check_comparisons("d", [{**comp, "paired_by": None}], sheet)
    one_pair = sheet[~sheet["patient"].isin(["P2", "P3"]) | (sheet["timepoint"] == "before")]
    with pytest.raises(ConfigError, match=r"1 patient\(s\) have samples in both groups .* at least 2"):
        check_comparisons("d", [comp], one_pair)
    check_comparisons("d", [{**comp, "descriptive": True}], one_pair)


def test_paired_resistance_genes_find_the_gene_planted_in_one_timepoints_cscs():
    """The 8-patient design folded into 4 patients sampled twice (P1+P2 -> Q1, ...): AXL and CD274, planted
    in the second timepoint's CSCs, lead with FDR <= 0.05, each patient's two samples as separate units."""
    counts, obs, genes = _design(1.5)
    number = obs["patient"].str[1:].astype(int)
    obs = obs.assign(patient="Q" + ((number + 1) // 2).astype(str),
                     timepoint=np.where(obs["response"] == GROUPS[0], PAIRED[0], PAIRED[1]))
    bulk, meta = csc_pseudobulks(counts, obs, genes, column="timepoint", groups=PAIRED, min_cells=10)
    assert meta["unit"].nunique() == 8 and meta["patient"].nunique() == 4 and meta.index[0] == "Q1|before|CSC-high"
    table = resistance_genes(bulk, meta, PAIRED)
    assert set(table.head(2)["gene"]) == {"AXL", "CD274"} and (table.head(2)["fdr"] <= 0.05).all()
    assert (table["n_patients_a"] == 4).all() and table["test"].str.contains("a unit is a patient's samples").all()


COHORT = {"P1": "X", "P3": "X", "P5": "X", "P7": "Y", "P2": "Y", "P4": "Y", "P6": "Y", "P8": "X"}


def _cohort_cells(group_effect: float) -> pd.DataFrame:
    """Cohort X's tumours hold 25 points more CSCs than cohort Y's; 3 of 4 non-responders are from X."""
    shares = {p: (0.30 if COHORT[p] == "X" else 0.05) + group_effect * (GROUP[p] == "non-responder") + 0.005 * i
              for i, p in enumerate(GROUP)}
    cells = _cells(shares, GROUP)
    return cells.assign(cohort=cells["patient"].map(COHORT))


def test_covariates_remove_a_confounding_cohort_and_keep_a_real_difference():
    confounded = patient_composition(_cohort_cells(0.0), "response", GROUPS, covariates=["cohort"])
    assert list(confounded.columns[:3]) == ["patient", "group", "cohort"]
    plain = composition_test(confounded, GROUPS).set_index("measure").loc["csc_high_share"]
    adjusted = composition_test(confounded, GROUPS, covariates=["cohort"]).set_index("measure")
    assert plain["difference"] > 0.1  # the cohort imbalance alone
    assert adjusted.loc["csc_high_share", "pvalue"] > 0.3
    assert adjusted["test"].str.contains("~ group + cohort", regex=False).all()
    real = composition_test(patient_composition(_cohort_cells(0.1), "response", GROUPS, covariates=["cohort"]),
                            GROUPS, covariates=["cohort"]).set_index("measure").loc["csc_high_share"]
    assert real["pvalue"] < 0.01 and real["fdr"] <= 0.05


def test_covariates_are_checked_against_the_sample_sheet():
    sheet = simulated_samples("d", {"n_patients": 4, "samples_per_patient": 2, "condition": {
        "column": "response", "groups": GROUPS, "csc_fraction": [0.05, 0.3]}})
    sheet["cohort"] = ["X", "X", "Y", "Y", "X", "X", "Y", "Y"]
    comp = {"name": "resp", "column": "response", "groups": GROUPS, "descriptive": False, "covariates": ["cohort"]}
    check_comparisons("d", [comp], sheet)
    with pytest.raises(ConfigError, match=r"field `covariates`: column 'site' is not in the sample sheet"):
        check_comparisons("d", [{**comp, "covariates": ["site"]}], sheet)
    sheet.loc[1, "cohort"] = "Y"  # P1's second sample
    with pytest.raises(ConfigError, match=r"'cohort' differs between the samples of patient\(s\) \['P1'\]"):
        check_comparisons("d", [comp], sheet)
    with pytest.raises(ConfigError, match="patient covariates cancel"):
        check_comparisons("d", [{**comp, "paired_by": "patient"}], sheet)


def _simulated_composition(tme_shift: dict | None, seed: int = 0) -> pd.DataFrame:
    """8 simulated patients (truth labels as calls), composition per patient between the response groups."""
    params = default_settings(simulate={
        "n_cells": 4000, "n_patients": 8, "n_genes": 1000, "condition": {
            "column": "response", "groups": GROUPS, "csc_fraction": [0.15, 0.15], "tme_shift": tme_shift}})
    truth = simulated_tumour(params["simulate"], seed=seed).truth
    truth = truth[~truth["doublet"] & ~truth["low_quality"]]
    cells = pd.DataFrame({"patient": truth["patient"], "response": truth["patient"].map(
        {f"P{i}": GROUPS[(i - 1) % 2] for i in range(1, 9)}), "malignant": np.where(
        truth["malignant"], "malignant", "non-malignant"), "cell_type": truth["cell_type"],
        "csc": np.where(truth["malignant"], np.where(truth["csc"], "CSC-high", "CSC-low"), "")})
    return composition_test(patient_composition(cells, "response", GROUPS), GROUPS).set_index("measure")


def test_planted_tme_shift_of_one_group_ranks_first_and_a_design_without_it_stays_quiet():
    """T cells three times as common among the non-responders' TME cells: share_T separates the 4 against 4
    patients (exact p = 2/70), first of the measures; without the shift no measure has p <= 0.05 in most
    seeds, and none reaches FDR 0.05."""
    shifted = _simulated_composition({"cell_type": "T", "factor": [1.0, 3.0]})
    assert shifted["pvalue"].idxmin() == "share_T" and shifted.loc["share_T", "pvalue"] == pytest.approx(2 / 70)
    assert shifted.loc["share_T", "difference"] > 0.05
    for seed in (1, 2):
        null = _simulated_composition(None, seed=seed)
        assert not (null["fdr"] <= 0.05).any(), null


def _paired_design_crosstalk(resistance_effect: float, seed: int = 0):
    """12 simulated patients folded into 6 patients sampled before and during treatment (P1+P2 -> Q1, ...;
    CD274 planted up in the second timepoint's CSCs), scored per patient and timepoint."""
    import anndata as ad
    import scanpy as sc
    import scipy.sparse as sp

    from cscniche import crosstalk as ct

    counts, obs, genes = _design(resistance_effect, seed=seed, n_patients=12)
    number = obs["patient"].str[1:].astype(int)
    obs = obs.assign(patient="Q" + ((number + 1) // 2).astype(str),
                     timepoint=np.where(obs["response"] == GROUPS[0], PAIRED[0], PAIRED[1]))
    adata = ad.AnnData(sp.csr_matrix(counts, dtype=np.float32), obs=obs, var=pd.DataFrame(index=genes))
    resource = ct.load_resource("liana:consensus")
    lr_genes = adata.var_names.isin({g for e in pd.concat([resource["ligand"], resource["receptor"]])
                                     for g in e.split("_")})
    expression = group_expression_changes(adata.X[:, lr_genes], adata.obs, adata.var_names[lr_genes],
                                          column="timepoint", groups=PAIRED, min_cells=10, paired=True)
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    units = obs["patient"] + "|" + obs["timepoint"]
    interactions = ct.interactions_by_unit(adata, resource, units=units, min_cells=10, expr_prop=0.1)
    by_unit = obs.assign(unit=units).drop_duplicates("unit").set_index("unit")
    return interactions, by_unit["timepoint"], by_unit["patient"], expression


def test_paired_signalling_finds_the_pair_planted_in_one_timepoints_cscs():
    """Each patient's CSC-specific CD274-PDCD1 effect rises from before to during treatment: the pair leads
    with the exact sign-flip floor (2/64, 6 patients), its ligand up in the CSCs (pseudobulk
    ~ patient + arm); without the planted change nothing is significant and the pair is not singled out."""
    interactions, group, pairs, expression = _paired_design_crosstalk(1.5)
    assert interactions["patient"].nunique() == 12 and interactions["pvalue"].isna().all()
    assert (expression["n_patients_a"] == 6).all() and (expression["n_patients_b"] == 6).all()
    table = signalling_differences(interactions, group, PAIRED, expression=expression, pairs=pairs)
    top = table.iloc[0]
    assert (top["ligand"], top["receptor"], top["direction"], top["partner"]) == ("CD274", "PDCD1", "CSC->TME", "T")
    assert top["pvalue"] == pytest.approx(2 / 64) and top["test"].startswith("exact paired sign-flip")
    assert top["n_patients_a"] == top["n_patients_b"] == 6 and top["effect_difference"] > 0
    assert top["ligand_log2fc"] > 1 and top["ligand_fdr"] <= 0.05
    assert (table["pvalue"].dropna() >= 2 / 64 - 1e-12).all()
    null_interactions, group, pairs, null_expression = _paired_design_crosstalk(0.0, seed=1)
    null = signalling_differences(null_interactions, group, PAIRED, expression=null_expression, pairs=pairs)
    planted = null[(null["ligand"] == "CD274") & (null["receptor"] == "PDCD1") & (null["partner"] == "T")
                   & (null["direction"] == "CSC->TME")]
    assert planted.index[0] >= 10 and not (null["fdr"] <= 0.05).any()
    assert not (null_expression["fdr"] <= 0.05).any(), null_expression.nsmallest(5, "pvalue")


def test_an_interaction_below_the_expression_threshold_scores_zero_not_missing():
    """P1's CSC-low cells do not express the ligand enough for the crosstalk table: its effect is the CSC-high
    product (the pair is kept), P2 has no CSC-low cells (no effect), and P3 lacks the partner (no row)."""
    from cscniche.compare import patient_csc_effects

    def row(patient, source, target, product):
        return {"patient": patient, "ligand": "L", "receptor": "R", "source": source, "target": target,
                "ligand_mean": product, "receptor_mean": 1.0, "lr_product": product}

    interactions = pd.DataFrame([row("P1", "CSC-high", "T", 0.8), row("P1", "T", "CSC-low", 0.1),
                                 row("P2", "CSC-high", "T", 0.5), row("P2", "T", "B", 0.2),
                                 row("P3", "CSC-high", "B", 0.4), row("P3", "CSC-low", "B", 0.1)])
    effects = patient_csc_effects(interactions).set_index(["patient", "partner", "direction"])
    assert effects.loc[("P1", "T", "CSC->TME"), "effect"] == pytest.approx(0.8)
    assert effects.loc[("P1", "T", "CSC->TME"), "partner_side"] == 1.0
    assert ("P3", "B", "CSC->TME") in effects.index and ("P3", "T", "CSC->TME") not in effects.index
    assert "P2" not in effects.index.get_level_values("patient")
