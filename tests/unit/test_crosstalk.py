"""Crosstalk: LR resources, the CellPhoneDB-style test against liana, CSC-specific calls on planted truth."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp

from cscniche import crosstalk as ct
from cscniche.io import InputError
from cscniche.jit import import_liana

from conftest import SHARED, default_settings, simulated_tumour

CPDB = SHARED / "ligand_receptor"
PARAMS = {"min_cells": 10, "expr_prop": 0.1, "n_perms": 1000, "fdr": 0.05, "rank_aggregate": False,
          "min_patient_share": 0.5}


def _tumour(csc_fraction: float, n_patients: int = 3, n_cells: int = 3000) -> ad.AnnData:
    """Log-normalised simulated cells labelled with their planted type and CSC state."""
    params = {"n_cells": n_cells, "n_patients": n_patients, "samples_per_patient": 1, "n_genes": None,
              "malignant_fraction": 0.4, "csc_fraction": csc_fraction, "low_quality_fraction": 0.0,
              "doublet_fraction": 0.0, "mean_library_size": 5000}
    sim = simulated_tumour(params, seed=3)
    adata = ad.concat(list(sim.samples.values()))
    adata.obs = adata.obs.join(sim.truth.set_index("cell_id"))
    adata.obs["n_genes"] = np.asarray((adata.X > 0).sum(axis=1)).ravel()
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    malignant = adata.obs["malignant"].astype(bool)
    adata.obs["malignant"] = np.where(malignant, "malignant", "non-malignant")
    adata.obs["csc"] = np.where(~malignant, "", np.where(adata.obs["csc"].astype(bool), ct.CSC_HIGH, ct.CSC_LOW))
    adata.uns["planted"] = sim.lr_pairs
    return adata


@pytest.fixture(scope="module")
def planted():
    return _tumour(0.15)


@pytest.fixture(scope="module")
def cpdb(shared_data):
    """CellPhoneDB's own tables, from the real data beside the checkout."""
    return ct.load_resource(str(CPDB))


@pytest.fixture(scope="module")
def lr():
    """The LR resource of the tests that need any: liana's consensus (installed with liana)."""
    return ct.load_resource("liana:consensus")


def test_cellphonedb_tables_give_symbols_and_complexes(cpdb):
    pairs = set(zip(cpdb["ligand"], cpdb["receptor"], strict=True))
    assert {("CXCL12", "CXCR4"), ("VEGFA", "KDR"), ("CD274", "PDCD1"), ("IL6", "IL6R_IL6ST")} <= pairs
    assert not cpdb["ligand"].str.match(r"^[A-Z][0-9][A-Z0-9]{3}[0-9]$").any()  # no UniProt accession left
    assert ("TGFB1", "TGFBR1_TGFBR2") in pairs


@pytest.mark.parametrize("name", ["consensus", "CellPhoneDB"])
def test_liana_resources_read_as_liana_gives_them(name):
    liana = import_liana()  # as the library imports it
    pd.testing.assert_frame_equal(ct.liana_resource(name), liana.resource.select_resource(name))


def test_liana_resource_and_bad_resources(tmp_path):
    consensus = ct.load_resource("liana:consensus")
    assert ((consensus["ligand"] == "VEGFA") & (consensus["receptor"] == "FLT1_KDR")).any()
    with pytest.raises(InputError, match="liana has no resource 'nonsense'"):
        ct.load_resource("liana:nonsense")
    with pytest.raises(InputError, match="no such folder or file"):
        ct.load_resource(str(tmp_path / "absent"))
    (tmp_path / "interaction_input.csv").write_text("partner_a,partner_b,directionality\n")
    with pytest.raises(InputError, match="lacks.*gene_input.csv"):
        ct.load_resource(str(tmp_path))
    table = tmp_path / "pairs.tsv"
    table.write_text("source\ttarget\nA\tB\n")
    with pytest.raises(InputError, match=r"lacks column\(s\) \['ligand', 'receptor'\]"):
        ct.load_resource(str(table))


def test_missing_stemness_columns_are_named():
    obs = pd.DataFrame({"patient": ["P1"], "cell_type": ["T cell"], "malignant": ["non-malignant"]})
    with pytest.raises(InputError, match=r"obs column\(s\) \['csc'\]"):
        ct.cell_groups(obs)


def test_cellphonedb_test_matches_liana(cpdb):
    liana = import_liana()
    adata = _tumour(0.15, n_patients=1, n_cells=1500)
    groups = ct.cell_groups(adata.obs)
    adata = adata[groups.ne("").to_numpy()].copy()
    adata.obs["group"] = pd.Categorical(groups[groups.ne("")])
    entities, usable = ct.Entities.from_resource(cpdb, adata.var_names)
    X = sp.csr_matrix(adata[:, entities.genes].X, dtype=np.float64)
    mine = ct.cellphonedb_test(X, adata.obs["group"].astype(str).reset_index(drop=True), usable, entities,
                               expr_prop=0.1, n_perms=1000, rng=np.random.default_rng(0))
    theirs = liana.mt.cellphonedb(adata, groupby="group", resource=usable[["ligand", "receptor"]], expr_prop=0.1,
                                  min_cells=5, n_perms=1000, seed=0, use_raw=False, verbose=False, inplace=False)
    both = mine.merge(theirs, left_on=["ligand", "receptor", "source", "target"],
                      right_on=["ligand_complex", "receptor_complex", "source", "target"], how="outer",
                      indicator=True)
    assert (both["_merge"] == "both").all(), both["_merge"].value_counts()  # the same interactions pass
    assert len(both) > 1000
    assert both["lr_mean"].corr(both["lr_means"], method="spearman") >= 0.999
    np.testing.assert_allclose(both["lr_mean"], both["lr_means"], atol=1e-5)
    assert both["pvalue"].corr(both["cellphone_pvals"], method="spearman") >= 0.95


def _matches(table: pd.DataFrame, ligand: str, receptor: str) -> pd.Series:
    """Rows of ``ligand`` with a receptor holding every subunit of ``receptor``."""
    units = set(receptor.split("_"))
    return table["ligand"].eq(ligand) & table["receptor"].map(lambda r: units <= set(r.split("_")))


def planted_ranks(specific: pd.DataFrame, planted: pd.DataFrame, names: dict[str, str]) -> dict[str, int]:
    """Rank (0-based) of each planted pair within its direction's rows of ``csc_specific``."""
    ranks = {}
    for row in planted.itertuples():
        kind = "CSC->TME" if row.source == "CSC" else "TME->CSC"
        side = row.target if kind == "CSC->TME" else row.source
        partner = names.get(side, side)
        rows = specific[specific["direction"] == kind].reset_index(drop=True)
        hit = rows.index[_matches(rows, row.ligand, row.receptor) & rows["partner"].eq(partner)]
        ranks[f"{row.ligand}-{row.receptor} {partner}"] = int(hit.min()) if len(hit) else 10**6
    return ranks


@pytest.mark.parametrize("resource", ["cellphonedb", "liana:consensus"])
def test_planted_pairs_lead_their_direction(planted, request, resource):
    table = request.getfixturevalue("cpdb") if resource == "cellphonedb" else ct.load_resource(resource)
    interactions, specific, notes = ct.infer_crosstalk(planted, table, PARAMS, seed=0)
    assert "3 patients" in notes[-1]
    ranks = planted_ranks(specific, planted.uns["planted"], {})
    assert all(r < 10 for r in ranks.values()), ranks
    top = specific.groupby("direction").head(10)
    assert top.loc[top["direction"] != "CSC<->CSC", "significant"].sum() >= 8
    assert list(specific.columns[:8]) == ["ligand", "receptor", "source", "target", "direction", "partner",
                                          "effect", "score_csc_high"]
    assert {"pvalue", "fdr", "pvalue_patients", "n_patients_significant"} <= set(specific.columns)
    assert specific["pvalue"].min() >= 1 / (PARAMS["n_perms"] + 1)  # a permutation p-value has a floor
    planted_rows = specific.groupby("direction").head(3)
    assert (planted_rows["n_patients_consistent"] == 3).all() and planted_rows["pvalue_patients"].notna().all()
    assert set(interactions["direction"]) == {"CSC->TME", "TME->CSC", "CSC<->CSC", "TME->TME"}


def test_no_planted_program_calls_few_pairs(lr):
    """No CSC program, and CSC-high = the deepest 15% of malignant cells (the depth confound of diversity)."""
    adata = _tumour(0.0)
    malignant = adata.obs["malignant"].eq("malignant")
    depth = adata.obs.loc[malignant].groupby("patient")["n_genes"].rank(pct=True)
    adata.obs.loc[malignant, "csc"] = np.where(depth > 0.85, ct.CSC_HIGH, ct.CSC_LOW)
    _, specific, _ = ct.infer_crosstalk(adata, lr, PARAMS, seed=0)
    assert len(specific) > 500
    assert (specific["fdr"] <= 0.05).mean() <= 0.05


def test_permutation_pvalues_are_exact_and_floored():
    rng = np.random.default_rng(0)
    permuted = rng.normal(size=(999, 3))
    observed = np.array([100.0, 0.0, permuted[:, 2].mean() + 1.0])
    p = ct.permutation_pvalue(observed, permuted)
    assert p[0] == 1 / 1000  # more extreme than every permutation: the floor, not a normal tail
    assert p[1] > 0.9
    centred = np.abs(permuted[:, 2] - permuted[:, 2].mean())
    assert p[2] == (1 + (centred >= 1.0).sum()) / 1000


def test_one_patient_falls_back_to_within_patient_permutation(lr):
    adata = _tumour(0.15, n_patients=1, n_cells=1200)
    _, specific, notes = ct.infer_crosstalk(adata, lr, PARAMS, seed=0)
    assert "one patient" in notes[-1]
    assert specific["test"].eq("within-patient permutation (one patient)").all()
    assert specific["n_patients"].eq(1).all()


def test_results_are_deterministic(lr):
    adata = _tumour(0.15, n_patients=2, n_cells=800)
    first = ct.infer_crosstalk(adata, lr, {**PARAMS, "n_perms": 100}, seed=4)
    second = ct.infer_crosstalk(adata, lr, {**PARAMS, "n_perms": 100}, seed=4)
    pd.testing.assert_frame_equal(first[0], second[0])
    pd.testing.assert_frame_equal(first[1], second[1])


def test_results_depend_only_on_the_crosstalk_genes(lr):
    adata = _tumour(0.15, n_patients=2, n_cells=800)
    axes = ct.load_axes("config/crosstalk/axes.yaml")
    genes = ct.crosstalk_genes(lr, axes)
    assert {"CD44", "SPP1", "VEGFA", "KDR", "CD274", "PDCD1"} <= set(genes)  # simple and complex partners
    lean = adata[:, adata.var_names.isin(genes)].copy()
    assert lean.n_vars < adata.n_vars / 3
    settings = {**default_settings()["crosstalk"], "n_perms": 100, "resource": lr, "axes": axes}
    full, part = (ct.run_crosstalk(cells, **settings, seed=4) for cells in (adata, lean))  # the stage's entry
    for table in ("interactions", "csc_specific", "axes"):
        pd.testing.assert_frame_equal(getattr(full, table), getattr(part, table))
    assert full.notes == part.notes and len(full.axes) > 0 and full.interactions["liana_magnitude_rank"].notna().any()


def test_axes_summarise_planted_signals(planted, tmp_path):
    axes = ct.load_axes("config/crosstalk/axes.yaml")
    assert {"stemness_niche", "angiogenesis", "immune_suppression", "ecm_msc", "exosome"} <= set(axes)
    table = ct.axis_scores(planted, ct.cell_groups(planted.obs), axes, min_cells=10)
    angio = table[table["axis"] == "angiogenesis"].groupby("group")["ligand_score"].mean()
    assert angio[ct.CSC_HIGH] > angio[ct.CSC_LOW]  # VEGFA is planted in CSCs
    niche = table[table["axis"] == "stemness_niche"].groupby("group")["receptor_score"].mean()
    assert niche.idxmax() == ct.CSC_HIGH  # CXCR4 and IL6R/IL6ST
    assert table.loc[table["axis"] == "exosome", "genes_found"].iloc[0] >= 7
    bad = tmp_path / "axes.yaml"
    bad.write_text("axes:\n  x: {pairs: [[A, B]]}\n")
    with pytest.raises(InputError, match="axis 'x' needs 'pairs' or 'genes', and a 'source'"):
        ct.load_axes(str(bad))


CROSSTALK_VARIANT = {"n_cells": 3000, "malignant_fraction": 0.5}


@pytest.mark.parametrize("variant", [{}, {"csc_fraction": 0.05}, {"csc_fraction": 0.30}, {"csc_strength": 2.0},
                                     {"csc_diversity": True}, {"csc_marker_overlap": 0.5}, {"csc_mode": "gradient"}],
                         ids=["discrete", "5% CSCs", "30% CSCs", "subtle (log-fold 2)", "with diversity shift",
                              "half the program in the marker set", "gradient"])
def test_planted_pairs_lead_on_the_stemness_stage_calls(cpdb, variant):
    """From the stemness stage's own calls: a split where the program is discrete, a graded answer where it is
    a continuum; either way every planted CSC-TME pair is in the top 10 of its direction."""
    from cscniche.stemness import run_stemness

    from conftest import default_settings, simulated_variant

    sim, adata = simulated_variant({**CROSSTALK_VARIANT, **variant})
    run_stemness(adata, **default_settings()["stemness"], seed=0)
    _, specific, notes = ct.infer_crosstalk(adata, cpdb, {**PARAMS, "n_perms": 200}, seed=0)
    mode = "graded" if variant.get("csc_mode") == "gradient" else "split"
    assert set(specific["mode"]) == {mode} and f"mode {mode}" in notes[-1]
    ranks = planted_ranks(specific, sim.lr_pairs, {})
    assert all(r < 10 for r in ranks.values()), ranks


def test_graded_mode_stays_quiet_without_a_program(lr):
    """No stem program: the graded table is still filled, and few of its pairs reach FDR 0.05."""
    from cscniche.stemness import run_stemness

    from conftest import default_settings, simulated_variant

    _, adata = simulated_variant({**CROSSTALK_VARIANT, "csc_fraction": 0.001, "n_patients": 3})
    summary = run_stemness(adata, **default_settings()["stemness"], seed=0).summary
    assert (summary["signal"] == "absent").all()
    _, specific, _ = ct.infer_crosstalk(adata, lr, {**PARAMS, "n_perms": 200}, seed=0)
    assert len(specific) > 100 and set(specific["mode"]) == {"graded"}
    assert (specific["fdr"] <= 0.05).mean() <= 0.05
    assert (specific["n_patients"] == 3).any()


def test_cellphonedb_pvalues_count_the_observed_labelling():
    """A pair no permutation beats gets 1/(n_perms + 1), not 0."""
    import scipy.sparse as sp

    X = sp.csr_matrix(np.array([[5.0, 5.0]] * 20 + [[0.0, 0.0]] * 20))
    groups = pd.Series(["A"] * 20 + ["B"] * 20)
    resource = pd.DataFrame({"ligand": ["L"], "receptor": ["R"], "pathway": [""]})
    entities, usable = ct.Entities.from_resource(resource, pd.Index(["L", "R"]))
    table = ct.cellphonedb_test(X, groups, usable, entities, expr_prop=0.1, n_perms=99,
                                rng=np.random.default_rng(0))
    row = table[(table["source"] == "A") & (table["target"] == "A")].iloc[0]
    assert row["pvalue"] == pytest.approx(1 / 100)
    assert table["pvalue"].min() >= 1 / 100
