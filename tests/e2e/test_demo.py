"""The demo config through Snakemake: acceptance checks on the simulated tumour and the oligodendroglioma, the
report in headless Chromium, the final AnnData. Each dataset is run a second time elsewhere, and its tables
compared with these: the simulated one through SLURM (test_slurm.py), the oligodendroglioma killed and resumed
(test_resume.py)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from conftest import REPO, SHARED, read_cells


def test_output_contract_holds(demo):
    check = subprocess.run([sys.executable, str(SHARED.parent / "tools/check_contract.py"), str(demo)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    for name in ("simulated", "oligodendroglioma"):
        assert (demo / name / "qc/summary.tsv").is_file()
        assert (demo / name / "cluster/markers.tsv").is_file()


def test_simulated_clusters_recover_planted_cell_types(demo):
    cells = read_cells(demo, "simulated").set_index("cell_id")
    truth = pd.read_csv(demo / "simulated/truth/cells.tsv.gz", sep="\t", dtype={"patient": str}).set_index("cell_id")
    truth = truth.loc[cells.index]
    singlet = ~truth["doublet"] & ~truth["low_quality"]
    label = np.where(truth["malignant"], "malignant_" + truth["patient"], truth["cell_type"])
    ari = adjusted_rand_score(label[singlet], cells.loc[singlet, "leiden"])
    assert ari >= 0.8, ari


def test_simulated_qc_removes_low_quality_and_doublets(demo):
    qc = pd.concat(pd.read_csv(f, sep="\t") for f in sorted((demo / "simulated/qc").glob("*.cells.tsv.gz")))
    truth = pd.read_csv(demo / "simulated/truth/cells.tsv.gz", sep="\t").set_index("cell_id")
    qc = qc.set_index("cell_id").join(truth[["low_quality", "doublet"]])
    assert len(qc) == len(truth)
    lq, dbl = qc["low_quality"], qc["doublet"]
    assert (~qc.loc[lq, "qc_pass"]).mean() >= 0.9
    assert qc.loc[~lq & ~dbl, "qc_pass"].mean() >= 0.95
    assert qc.loc[dbl, "fail_doublet"].mean() >= 0.5


def test_oligodendroglioma_runs_as_tpm_with_author_labels(demo):
    summary = pd.read_csv(demo / "oligodendroglioma/qc/summary.tsv", sep="\t", dtype={"sample": str})
    assert set(summary["value_scale"]) == {"tpm"}
    assert summary["cells_before"].sum() == 184
    cells = read_cells(demo, "oligodendroglioma")
    assert cells["patient"].nunique() == 5
    assert cells["author_cell_type"].str.startswith("malignant").sum() >= 135
    # the two normal cell types are each one cluster of their own
    for normal in ("Microglia/Macrophage", "Oligodendrocytes (non-malignant)"):
        clusters = cells.loc[cells["author_cell_type"] == normal, "leiden"]
        assert clusters.value_counts(normalize=True).iloc[0] >= 0.9


def test_report_is_self_contained_with_all_figures(demo):
    html = (demo / "simulated/report.html").read_text()
    n_figures = len(list((demo / "simulated/qc").glob("*.png"))) + len(list((demo / "simulated/figures").glob("*.png")))
    assert html.count('src="data:image/png;base64,') == n_figures
    assert 'src="http' not in html and "<link" not in html
    for png in [*(demo / "simulated/qc").glob("*.png"), *(demo / "simulated/figures").glob("*.png")]:
        assert png.with_suffix(".svg").stat().st_size > 1000, png  # every figure also as SVG
    assert "Cluster markers" in html and "scanpy" in html


def test_snakemake_report_builds(demo):
    workdir = demo.parent
    out = workdir / "snakemake_report.html"
    run = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
                          str(workdir), "--configfile", str(workdir / "config.yaml"), "--report", str(out)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert out.stat().st_size > 10_000


def test_cell_identity_on_the_demo(demo):
    from sklearn.metrics import f1_score

    cells = read_cells(demo, "simulated").set_index("cell_id")
    truth = pd.read_csv(demo / "simulated/truth/cells.tsv.gz", sep="\t").set_index("cell_id").loc[cells.index]
    singlet = ~truth["doublet"]
    assert adjusted_rand_score(truth.loc[singlet, "malignant"], cells.loc[singlet, "malignant"]) >= 0.9
    tme = {"T": "T cell", "NK": "NK cell", "B": "B cell", "macrophage": "macrophage/monocyte",
           "fibroblast": "fibroblast/CAF", "endothelial": "endothelial cell", "MSC": "MSC-like"}
    is_tme = truth["cell_type"].isin(tme)
    assert (cells.loc[is_tme, "cell_type"] == truth.loc[is_tme, "cell_type"].map(tme)).mean() >= 0.9
    oligo = read_cells(demo, "oligodendroglioma")
    f1 = f1_score(oligo["author_cell_type"].str.startswith("malignant"), oligo["malignant"] == "malignant")
    assert f1 >= 0.97
    for name in ("simulated", "oligodendroglioma"):
        assert {"cell_type", "cell_type_score", "cell_type_confidence", "malignant", "cnv_score"} <= set(
            read_cells(demo, name).columns)
        html = (demo / name / "report.html").read_text()
        assert "Cell identity" in html and "Malignant calls per patient" in html
    assert len(list((demo / "oligodendroglioma/figures").glob("cnv_heatmap_*.png"))) == 5
    agreement = pd.read_csv(demo / "oligodendroglioma/identity/agreement.tsv", sep="\t")
    assert agreement["cells"].sum() == len(oligo)


def test_stemness_on_the_demo(demo):
    from sklearn.metrics import f1_score, roc_auc_score

    cells = pd.read_csv(demo / "simulated/cells.tsv.gz", sep="\t", keep_default_na=False, na_values=[""],
                        dtype={"csc": str}).set_index("cell_id")
    truth = pd.read_csv(demo / "simulated/truth/cells.tsv.gz", sep="\t").set_index("cell_id").loc[cells.index]
    mal = (cells["malignant"] == "malignant") & truth["malignant"] & ~truth["doublet"]
    assert roc_auc_score(truth.loc[mal, "csc"], cells.loc[mal, "stemness"]) >= 0.95
    assert f1_score(truth.loc[mal, "csc"], cells.loc[mal, "csc"] == "CSC-high") >= 0.85
    assert cells.loc[cells["malignant"] != "malignant", "csc"].isna().all()
    summary = pd.read_csv(demo / "simulated/stemness/summary.tsv", sep="\t")
    assert (summary["signal"] == "discrete").all()
    html = (demo / "simulated/report.html").read_text()
    assert "Stemness and CSC calls" in html


def test_ssgsea_crosscheck_on_the_demo(demo):
    check = pd.read_csv(demo / "simulated/stemness/ssgsea_check.tsv", sep="\t").set_index("set")
    assert check.loc["CSC_markers", "spearman"] >= 0.5
    assert "ssGSEA cross-check" in (demo / "simulated/report.html").read_text()


def test_crosstalk_on_the_demo(demo):
    from test_crosstalk import planted_ranks

    specific = pd.read_csv(demo / "simulated/crosstalk/csc_specific.tsv", sep="\t")
    planted = pd.read_csv(demo / "simulated/truth/lr_pairs.tsv", sep="\t")
    names = {"endothelial": "endothelial cell", "T": "T cell", "fibroblast": "fibroblast/CAF",
             "macrophage": "macrophage/monocyte"}
    ranks = planted_ranks(specific, planted, names)  # CSC calls and cell types from the workflow itself
    assert all(r < 10 for r in ranks.values()), ranks
    assert set(specific["direction"]) == {"CSC->TME", "TME->CSC", "CSC<->CSC"}
    interactions = pd.read_csv(demo / "simulated/crosstalk/interactions.tsv", sep="\t")
    assert interactions["liana_magnitude_rank"].notna().mean() > 0.9
    assert sorted(interactions["patient"].unique()) == ["P1", "P2", "P3"]
    axes = pd.read_csv(demo / "simulated/crosstalk/axes.tsv", sep="\t")
    assert set(axes["axis"]) >= {"stemness_niche", "angiogenesis", "immune_suppression", "ecm_msc", "exosome"}
    assert len(list((demo / "simulated/figures").glob("crosstalk_*.png"))) == 5
    assert "CSC-TME crosstalk" in (demo / "simulated/report.html").read_text()
    oligo_notes = (demo / "oligodendroglioma/crosstalk/notes.txt").read_text()
    assert "CSC-specific test (mode graded)" in oligo_notes  # no discrete program in these small tumours
    oligo = pd.read_csv(demo / "oligodendroglioma/crosstalk/csc_specific.tsv", sep="\t")
    assert len(oligo) > 0 and set(oligo["mode"]) == {"graded"}


def test_biomarkers_on_the_demo(demo):
    truth = set((demo / "simulated/truth/csc_genes.txt").read_text().split())
    biomarkers = pd.read_csv(demo / "simulated/biomarkers/biomarkers.tsv", sep="\t")
    assert biomarkers["gene"].head(20).isin(truth).mean() >= 0.8, list(biomarkers["gene"].head(20))
    gsea = pd.read_csv(demo / "simulated/biomarkers/gsea.tsv", sep="\t")
    ranked = gsea[gsea["source"].isin(["stemness", "hallmark"])]
    assert ranked.iloc[0]["source"] == "stemness"
    assert set(gsea["source"]) >= {"hallmark", "stemness", "3CA metaprogram", "crosstalk axis"}
    de = pd.read_csv(demo / "simulated/biomarkers/de.tsv", sep="\t")
    assert set(de["method"]) == {"pseudobulk", "wilcoxon"}
    oligo = pd.read_csv(demo / "oligodendroglioma/biomarkers/biomarkers.tsv", sep="\t")
    notes = (demo / "oligodendroglioma/biomarkers/notes.txt").read_text()
    assert len(oligo) > 1000 and "GRADED" in notes and "not counts" in notes
    assert set(oligo["mode"]) == {"graded"} and oligo["stemness_rho"].notna().mean() > 0.9
    for name in ("simulated", "oligodendroglioma"):
        html = (demo / name / "report.html").read_text()
        assert "CSC biomarkers" in html and "Gene set enrichment" in html
        for figure in ("dotplot", "volcano", "gsea", "gsea_running"):
            assert (demo / name / f"figures/biomarkers_{figure}.svg").stat().st_size > 1000
        running = pd.read_csv(demo / name / "biomarkers/gsea_running.tsv", sep="\t")
        assert running["term"].nunique() >= 3 and running["gene"].notna().any()


@pytest.mark.browser
def test_report_renders_in_headless_chromium(demo):
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    assert browser and driver_path, "Debian packages chromium and chromium-driver are needed (.ci/run installs them)"
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        for name in ("simulated", "oligodendroglioma"):
            driver.get((demo / name / "report.html").resolve().as_uri())
            images = driver.execute_script(
                "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt]);")
            assert len(images) > 10
            broken = [alt for complete, width, alt in images if not (complete and width > 0)]
            assert not broken, broken
            driver.find_element("css selector", "table.sortable th").click()  # the sorting script runs
            width = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth];")
            assert width[0] <= width[1], f"{name}: the page scrolls sideways ({width})"
            anchors = driver.execute_script(
                "return Array.from(document.querySelectorAll('nav a')).map(a => a.getAttribute('href'));")
            missing = [a for a in anchors if not driver.execute_script(
                "return document.getElementById(arguments[0]) !== null;", a.lstrip("#"))]
            assert len(anchors) >= 8 and not missing, missing
            captions = driver.execute_script(
                "return Array.from(document.images).map(i => i.closest('figure') && "
                "i.closest('figure').querySelector('figcaption') ? "
                "i.closest('figure').querySelector('figcaption').textContent.trim() : '');")
            assert all(len(c) > 20 for c in captions), captions
            links = driver.execute_script(
                "return Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'))"
                ".filter(h => !h.startsWith('#'));")
            assert len(links) > 20 and not [h for h in links if not (demo / name / h).is_file()], links
            errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
            assert not errors, errors
            assert driver.title == f"cscniche: {name}"
    finally:
        driver.quit()


def test_demo_shows_a_descriptive_comparison(demo):
    """The demo's response comparison (2 patients against 1) runs without tests and says so; the planted gains
    of the single non-responder's CSCs lead its resistance genes."""
    folder = demo / "simulated/compare/response"
    composition = pd.read_csv(folder / "composition.tsv", sep="\t")
    assert composition["pvalue"].isna().all() and composition["test"].str.startswith("descriptive").all()
    genes = pd.read_csv(folder / "resistance_genes.tsv", sep="\t")
    assert genes["pvalue"].isna().all() and {"AXL", "CD274"} & set(genes["gene"].head(10))
    signalling = pd.read_csv(folder / "signalling.tsv", sep="\t")
    assert len(signalling) > 0 and signalling["fdr"].isna().all()
    html = (demo / "simulated/report.html").read_text()
    assert "Comparisons" in html and "Resistance genes of CSC-high cells" in html and "CSC-TME signalling" in html
    assert "2 patients in responder, 1 in non-responder. Descriptive only" in html
    assert (demo / "simulated/figures/compare_response.svg").stat().st_size > 10_000  # three panels drawn


def test_final_anndata_reads_back_for_scanpy(demo, tmp_path):
    """``adata.h5ad`` opens with anndata without warnings about its keys, has no key that anndata would split
    on "/", no empty-string category, and ``sc.pl.umap`` draws cell types with the report's colours."""
    import warnings

    import anndata as ad
    import matplotlib

    matplotlib.use("Agg")
    import scanpy as sc

    from cscniche.palette import category_colours

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. anndata's warning about "/" in keys
        adata = ad.read_h5ad(demo / "simulated/adata.h5ad")

    def keys(mapping, prefix=""):
        for key, value in mapping.items():
            yield prefix + str(key)
            if isinstance(value, dict):
                yield from keys(value, f"{prefix}{key}.")

    assert not [k for k in keys(adata.uns) if "/" in k]
    for column in adata.obs.select_dtypes("category"):
        assert "" not in adata.obs[column].cat.categories, column
    assert adata.obs["csc"].isna().any() and set(adata.obs["csc"].dropna()) <= {"CSC-high", "CSC-low"}
    types = adata.obs["cell_type"].cat.categories
    assert list(adata.uns["cell_type_colors"]) == [category_colours(types)[t] for t in types]
    sc.pl.umap(adata, color=["cell_type", "csc"], show=False)
    matplotlib.pyplot.savefig(tmp_path / "umap.png")
    assert (tmp_path / "umap.png").stat().st_size > 10_000
    interactions = pd.read_csv(demo / "simulated/crosstalk/interactions.tsv", sep="\t")
    assert len(adata.uns["liana_res"]) == len(interactions)  # the crosstalk table, in liana's layout
    assert {"source", "target", "ligand_complex", "receptor_complex", "lr_means"} <= set(adata.uns["liana_res"])


def test_the_library_example_runs_on_the_demo(demo):
    """``docs/library.md``'s example, run in the demo's folder: the stage entries rerun stemness and crosstalk
    from a finished run's files and find what the page says they find."""
    import re

    example = re.search(r"```python\n(.*?)```", (REPO / "docs/library.md").read_text(), re.S).group(1)
    run = subprocess.run([sys.executable, "-c", example], cwd=demo.parent, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.count("discrete") == 3, run.stdout
    first = run.stdout.split("pvalue", 1)[1]  # the five first CSC-specific pairs
    assert all(re.search(pair, first) for pair in (r"CXCL12\s+CXCR4", r"VEGFA\s+FLT1_KDR", r"CD274\s+PDCD1")), first


def test_oligodendroglioma_mrnasi_agrees_with_the_stemness_signatures(demo, shared_data):
    """Tirosh et al. 2016 tumours (demo run): mRNAsi (PCBC OCLR weights) and the rank signatures of stemness
    correlate positively within each tumour's malignant cells."""
    from cscniche.io import read_stage
    from cscniche.stemness import load_gene_sets, read_weights, score_malignant

    gmt = shared_data / "gene_sets/c2.v6.0_stemness_subset.symbols.gmt"
    weights = shared_data / "gene_sets/pcbc-stemsig.tsv"

    results = demo / "oligodendroglioma"
    adata = read_stage(results / "cluster/clustered.h5ad", results / "stemness/stemness.h5ad")
    params = {**adata.uns["stemness"]["params"],
              "gmt": [{"path": str(gmt), "sets": ["BENPORATH_ES_1", "WONG_EMBRYONIC_STEM_CELL_CORE"]}]}
    scores = score_malignant(adata, params, weights=read_weights(weights), gene_sets=load_gene_sets(params))
    patients = adata.obs.loc[scores.index, "patient"].astype(str).to_numpy()
    per_patient = pd.DataFrame({p: part.rank().corr()["mrnasi"] for p, part in scores.groupby(patients)}).T
    assert len(per_patient) >= 4
    signatures = ["ucell_CSC_markers", "ucell_BENPORATH_ES_1", "ucell_WONG_EMBRYONIC_STEM_CELL_CORE"]
    assert (per_patient[signatures].mean() > 0.1).all(), per_patient
