"""Biomarkers: the sparse rank-sum against scipy, DE/GSEA/biomarker ranking on planted truth, clear errors."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp
import scipy.stats as ss

from cscniche import biomarkers as bm
from cscniche.crosstalk import load_axes, load_resource
from cscniche.io import InputError
from cscniche.ranksum import group_stats, rank_sum
from cscniche.simulate import CSC_PROGRAM

from conftest import SHARED, default_settings, simulated_tumour

GENE_SETS = [{"path": str(SHARED / "gene_sets/h.all.v7.0.symbols.gmt"), "source": "hallmark"},
             {"path": str(SHARED / "gene_sets/c2.v6.0_stemness_subset.symbols.gmt"), "source": "stemness"},
             {"path": str(SHARED / "gene_sets/3CA_Gavish2023_metaprograms.gmt"), "source": "3CA metaprogram"}]


@pytest.mark.parametrize("block_genes", [2000, 7])  # one block; several column blocks, the last partial
def test_rank_sum_matches_scipy(block_genes, monkeypatch):
    import cscniche.ranksum

    monkeypatch.setattr(cscniche.ranksum, "RANK_BLOCK_GENES", block_genes)
    rng = np.random.default_rng(0)
    dense = (rng.poisson(0.6, (300, 30)) * rng.random((300, 30))).astype(np.float32)  # the workflow's values
    dense[:, 3] = 0
    dense[:100, 1] += 2
    group = np.zeros(300, bool)
    group[:100] = True
    result = rank_sum(sp.csr_matrix(dense), group)
    for j in (0, 1, 2, 4):
        ref = ss.mannwhitneyu(dense[group, j].astype(float), dense[~group, j].astype(float), method="asymptotic",
                              use_continuity=False)
        assert result.pvalue[j] == pytest.approx(ref.pvalue, rel=1e-9)
        assert result.auroc[j] == pytest.approx(ref.statistic / (100 * 200))
    assert result.pvalue[3] == 1.0 and result.auroc[3] == 0.5
    with pytest.raises(ValueError, match="both groups"):
        rank_sum(sp.csr_matrix(dense), np.ones(300, bool))
    # the same rows chosen inside a larger matrix, without copying it: the same test
    padded = sp.csr_matrix(np.vstack([rng.random((50, 30)), dense, rng.random((20, 30))]).astype(np.float32))
    inside = rank_sum(padded, group, rows=np.arange(50, 350))
    np.testing.assert_array_equal(inside.pvalue, result.pvalue)
    np.testing.assert_array_equal(inside.auroc, result.auroc)


def test_group_stats_equal_the_row_subsets():
    rng = np.random.default_rng(1)
    X = sp.random(200, 40, density=0.3, format="csr", random_state=2, dtype=np.float32)
    X.data *= 3
    codes = rng.integers(-1, 3, 200)  # -1: left out
    stats = group_stats(X, codes, 4, linear=True)
    assert list(stats.sizes) == [np.sum(codes == g) for g in range(4)] and stats.sizes[3] == 0
    for g in range(3):
        sub = X[codes == g].toarray().astype(np.float64)
        np.testing.assert_allclose(stats.mean[g], sub.mean(0), rtol=1e-12)
        np.testing.assert_allclose(stats.frac[g], (sub > 0).mean(0), rtol=1e-12)
        np.testing.assert_allclose(stats.linear_mean[g], np.expm1(sub).mean(0), rtol=1e-12)
    assert np.isnan(stats.mean[3]).all()  # an empty group has no mean
    with pytest.raises(ValueError, match="199 group codes for 200 rows"):
        group_stats(X, codes[1:], 3)


def _labelled(csc_fraction: float = 0.15, n_genes: int | None = None) -> ad.AnnData:
    params = {"n_cells": 2400, "n_patients": 3, "samples_per_patient": 1, "n_genes": n_genes,
              "malignant_fraction": 0.45, "csc_fraction": csc_fraction, "low_quality_fraction": 0.0,
              "doublet_fraction": 0.0, "mean_library_size": 5000}
    sim = simulated_tumour(params, seed=2)
    adata = ad.concat(list(sim.samples.values()))
    truth = sim.truth.set_index("cell_id").loc[adata.obs_names]
    adata.obs["patient"] = truth["patient"].to_numpy()
    adata.obs["cell_type"] = np.where(truth["malignant"], "epithelial", truth["cell_type"])
    adata.obs["malignant"] = np.where(truth["malignant"], "malignant", "non-malignant")
    adata.obs["csc"] = np.where(truth["malignant"], np.where(truth["csc"], "CSC-high", "CSC-low"), "")
    adata.layers["counts"] = adata.X.copy()
    adata.uns["value_scale"] = "counts"
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    return adata


CSC_MARKERS = {"CSC_markers": ["CD44", "PROM1", "ALDH1A1", "SOX2", "POU5F1", "NANOG", "KLF4", "MYC", "BMI1", "NES",
                               "LGR5", "ITGA6", "ALCAM", "THY1", "ABCG2", "EPCAM", "CD24"]}


@pytest.fixture(scope="module")
def planted():
    """The biomarker stage on a planted tumour; GSEA over the stemness sets and the crosstalk axes only."""
    adata = _labelled(n_genes=2500)  # the planted genes and others: DESeq2 is per gene
    settings = default_settings(biomarkers={"permutations": 200})
    result = bm.run_biomarkers(adata, **settings["biomarkers"], stemness_gene_sets=CSC_MARKERS,
                               axes=load_axes("config/crosstalk/axes.yaml"), resource=load_resource("liana:consensus"),
                               seed=0)
    return adata, result


def test_planted_program_leads_the_biomarkers(planted):
    _, result = planted
    biomarkers, de, notes = result.biomarkers, result.de, result.notes
    top = biomarkers["gene"].head(20)
    assert top.isin(CSC_PROGRAM).mean() >= 0.8, list(top)
    assert list(biomarkers.columns[:8]) == ["gene", "auroc", "log2fc", "pct_csc", "pct_noncsc", "specificity",
                                            "top_tme_type", "n_patients_consistent"]
    first = biomarkers.iloc[0]
    assert first["auroc"] > 0.8 and first["log2fc"] > 1 and first["n_patients_consistent"] == 3
    surface = biomarkers.set_index("gene")["surface"]
    assert surface["CD44"] and surface["CXCR4"] and not surface["SOX2"]
    assert "pseudobulk DESeq2" in notes[0]
    assert set(de["method"]) == {"pseudobulk", "wilcoxon"}
    # three patients: the pseudobulk is the primary test and ranking, the per-cell test is kept alongside
    bulk = de[de["method"] == "pseudobulk"].set_index("gene")
    top = biomarkers.head(20).set_index("gene")
    np.testing.assert_allclose(top["pvalue"], bulk.loc[top.index, "pvalue"])
    assert top["pseudobulk_stat"].is_monotonic_decreasing and top["pvalue_cells"].notna().all()
    assert any("pseudobulk Wald statistic over 3 patients" in n for n in notes)
    dots = result.expression  # the dotplot's table: the top biomarkers in each cell group
    assert list(dict.fromkeys(dots["gene"])) == list(biomarkers["gene"].head(20))
    mean = dots.set_index(["gene", "group"])["mean"]
    assert mean[(first["gene"], "CSC-high")] > mean[(first["gene"], "CSC-low")]


def test_gsea_ranks_a_stemness_set_first_and_marks_it_circular(planted):
    _, result = planted
    biomarkers, gsea, notes = result.biomarkers, result.gsea, result.notes
    assert list(gsea.columns[:6]) == ["term", "source", "nes", "es", "pvalue", "fdr"]
    assert gsea.iloc[0]["term"] == "CSC_markers", gsea.head()
    assert gsea["nes"].is_monotonic_decreasing
    assert gsea["pvalue"].min() == gsea["fdr"].min() == 1 / 201  # 200 permutations, none reached the top set
    circular = gsea.set_index("term")["circular"]
    assert circular["CSC_markers"] and not circular[~circular.index.str.startswith(("CSC", "AXIS"))].any()
    assert any("marked circular" in n for n in notes)
    flagged = biomarkers.set_index("gene")["stemness_gene"]
    assert flagged["SOX2"] and not flagged["CXCR4"] and set(biomarkers["mode"]) == {"split"}


def test_gsea_running_scores_reach_each_sets_es_and_mark_its_genes(planted):
    """The saved running scores (drawn by the figure) peak at the ES gseapy reported, for the three highest and
    three lowest NES sets, and name each gene of the set at its rank in the saved ranked list."""
    _, result = planted
    gsea, running, ranking = result.gsea, result.running, result.ranking
    assert list(running["term"].drop_duplicates()) == bm.leading_terms(gsea)
    assert running["term"].iloc[0] == "CSC_markers"
    axes = load_axes("config/crosstalk/axes.yaml")
    sets = bm.gene_set_collection(default_settings()["biomarkers"], CSC_MARKERS, axes)
    by_rank = ranking.set_index("rank")["gene"]
    for term, curve in running.groupby("term", sort=False):
        peak = curve["running_es"].iloc[curve["running_es"].abs().argmax()]
        assert peak == pytest.approx(gsea.set_index("term").loc[term, "es"], abs=1e-9), term
        hits = curve[curve["gene"] != ""]
        assert list(by_rank[hits["rank"]]) == list(hits["gene"])
        assert set(hits["gene"]) == set(sets[term][1]) & set(ranking["gene"])
    assert ranking["stat"].is_monotonic_decreasing and list(ranking["rank"]) == list(range(1, len(ranking) + 1))


def test_gsea_ranks_the_stemness_set_above_the_hallmark_and_3ca_sets(planted, shared_data):
    """On real collections (MSigDB hallmark, the c2 stemness subset, 3CA metaprograms) the planted programme's
    sets lead the hallmark sets; every hallmark set of a testable size among the ranked genes is tested."""
    de = planted[1].de
    ranking = de[de["method"] == "pseudobulk"].set_index("gene")["stat"]
    from cscniche.enrichment import read_gmt

    settings = default_settings(biomarkers={"gene_sets": GENE_SETS, "permutations": 200})["biomarkers"]
    table = bm.gsea(ranking, bm.gene_set_collection(settings, CSC_MARKERS, {}), settings, seed=0, threads=2)
    ranked = table[table["source"].isin(["stemness", "hallmark"])]
    assert ranked.iloc[0]["source"] == "stemness", ranked.head()
    sizes = [len(set(genes) & set(ranking.index)) for genes in read_gmt(GENE_SETS[0]["path"]).values()]
    testable = sum(settings["min_size"] <= n <= settings["max_size"] for n in sizes)
    assert (table["source"] == "hallmark").sum() == testable >= 45


def test_gsea_permutations_do_not_depend_on_threads(planted):
    de = planted[1].de
    ranking = de[de["method"] == "pseudobulk"].set_index("gene")["stat"]
    settings = default_settings(biomarkers={"permutations": 200})["biomarkers"]
    sets = bm.gene_set_collection(settings, CSC_MARKERS, load_axes("config/crosstalk/axes.yaml"))
    one = bm.gsea(ranking, sets, settings, seed=0, threads=1)
    pd.testing.assert_frame_equal(bm.gsea(ranking, sets, settings, seed=0, threads=2), one, check_exact=True)
    assert not one.equals(bm.gsea(ranking, sets, settings, seed=1, threads=2))  # the seed does matter


def test_specificity_marks_tme_genes():
    adata = _labelled()
    table = bm.biomarker_table(adata, bm.wilcoxon_de(adata), {}, min_cells=10).set_index("gene")
    assert table.loc["PECAM1", "specificity"] < 0 and table.loc["PECAM1", "top_tme_type"] == "endothelial"
    assert table.loc["SOX2", "specificity"] > 0.5


def test_weak_signal_and_bad_inputs_are_explained(tmp_path):
    adata = _labelled()
    adata.obs["csc"] = np.where(adata.obs["malignant"] == "malignant", "CSC-low", "")
    settings = default_settings()["biomarkers"]
    result = bm.run_biomarkers(adata, **settings, stemness_gene_sets={}, axes={}, resource=None)
    assert result.biomarkers.empty and result.gsea.empty and result.running.empty
    assert "0 confident CSC-high" in result.notes[0]
    with pytest.raises(InputError, match=r"gene-set file not found"):
        bm.gene_set_collection({**settings, "gene_sets": [{"path": str(tmp_path / "none.gmt"), "source": "x"}]},
                               {}, {})
    with pytest.raises(InputError, match=r"obs column\(s\) \['csc'\]"):
        bm.csc_mask(pd.DataFrame({"malignant": ["malignant"], "patient": ["P1"], "cell_type": ["x"]}))
    tpm = _labelled()
    tpm.uns["value_scale"] = "tpm"
    patients, reason = bm.pseudobulk_plan(tpm, 10)
    assert patients == [] and "not counts" in reason


def test_weak_signal_split_reads_the_counts_from_disk(tmp_path):
    from cscniche.io import on_disk_layer, write_h5ad

    adata = _labelled(n_genes=600)  # the planted genes and others: DESeq2 (run twice here) is per gene
    malignant = adata.obs["malignant"] == "malignant"
    adata.obs["csc"] = np.where(malignant, "CSC-low", "")
    adata.obs["stemness"] = np.where(malignant, adata[:, "SOX2"].X.toarray().ravel(), np.nan)
    write_h5ad(adata, tmp_path / "matrix.h5ad")
    settings = default_settings()["biomarkers"]
    in_memory = bm.run_biomarkers(adata, **settings, stemness_gene_sets={}, axes={}, resource=None)
    with on_disk_layer(tmp_path / "matrix.h5ad", "counts") as counts:
        del adata.layers["counts"]
        result = bm.run_biomarkers(adata, **settings, stemness_gene_sets={}, axes={}, resource=None, counts=counts,
                                   threads=2)  # DESeq2 fits in 2 processes
    biomarkers, de, notes = result.biomarkers, result.de, result.notes
    assert notes[0].startswith("GRADED") and "0 confident CSC-high" in notes[0]
    assert "pseudobulk DESeq2" in notes[1] and set(de["method"]) == {"pseudobulk", "wilcoxon"}
    pd.testing.assert_frame_equal(de, in_memory.de)
    assert biomarkers["gene"].iloc[0] == "SOX2"


def test_graded_biomarkers_on_a_continuum():
    """A gradient variant (no discrete program): the stemness stage's own output gives a graded table led by
    the planted program, patients as the unit, the scoring genes flagged."""
    from cscniche.stemness import run_stemness

    from conftest import simulated_variant

    sim, adata = simulated_variant({"csc_mode": "gradient", "n_patients": 3, "n_genes": 3000})
    # the graded table alone (a graded run with its pseudobulk DE: the weak-signal split test above)
    settings = default_settings(biomarkers={"permutations": 100, "pseudobulk": False})
    run_stemness(adata, **settings["stemness"], seed=0)
    result = bm.run_biomarkers(adata, **settings["biomarkers"], stemness_gene_sets={"CSC_markers": [
        "CD44", "PROM1", "SOX2", "NANOG"]}, axes={}, resource=None, seed=0)
    biomarkers, notes = result.biomarkers, result.notes
    assert notes[0].startswith("GRADED") and "3 patient(s)" in notes[0]
    assert set(biomarkers["mode"]) == {"graded"} and biomarkers["stemness_rho"].is_monotonic_decreasing
    top = biomarkers.head(20)
    assert top["gene"].isin(sim.csc_genes).mean() >= 0.8, list(top["gene"])
    assert (top["n_patients_consistent"] == 3).all() and (top["pvalue"] <= 0.05).mean() >= 0.5, top
    assert (biomarkers["fdr"] <= 0.05).sum() <= 20  # three patients: a t-test with 2 degrees of freedom
    assert biomarkers.set_index("gene").loc["SOX2", "stemness_gene"]
