"""Figures drawn from the saved tables: not blank when there is something to draw, a sentence when not."""

from __future__ import annotations

import re

import matplotlib
import numpy as np
import pandas as pd
import pytest

from cscniche import plots
from cscniche.enrichment import running_scores

INTERACTION_COLUMNS = ["patient", "ligand", "receptor", "source", "target", "direction", "lr_mean", "pvalue"]
SPECIFIC_COLUMNS = ["ligand", "receptor", "source", "target", "direction", "partner", "effect", "fdr",
                    "significant", "pvalue"]


def _ink(path) -> float:
    """Share of the PNG's pixels that are not white."""
    image = matplotlib.image.imread(path)[..., :3]
    return float((image.min(axis=2) < 0.95).mean())


def _svg_text(draw, path) -> str:
    """Draw an SVG with its text as text (not paths), and return the file."""
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        draw(path)
    return path.read_text()


def _cells(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 900
    types = rng.choice(["malignant", "T cell", "fibroblast/CAF", "unassigned"], size=n, p=[0.5, 0.25, 0.15, 0.1])
    cells = pd.DataFrame({"patient": rng.choice(["P1", "P2", "P3"], size=n), "cell_type": types,
                          "malignant": np.where(types == "malignant", "malignant", "non-malignant"),
                          "leiden": rng.choice(["0", "1", "2", "3"], size=n)})
    stemness = rng.normal(size=n) + (cells["leiden"] == "2") * 1.5
    cells["stemness"] = np.where(types == "malignant", stemness, np.nan)
    cells["csc"] = np.where(types != "malignant", None, np.where(stemness > 1.0, "CSC-high", "CSC-low"))
    return cells


def test_composition_and_stemness_figures_draw_the_cells(tmp_path):
    cells = _cells()
    plots.composition_figure(cells, tmp_path / "composition.png")
    plots.stemness_by_cluster(cells, tmp_path / "clusters.png")
    assert _ink(tmp_path / "composition.png") > 0.1 and _ink(tmp_path / "clusters.png") > 0.05
    svg = _svg_text(lambda p: plots.stemness_by_cluster(cells, p), tmp_path / "clusters.svg")
    order = re.findall(r">([^<]+)</text>\s*<text[^>]*>\(n=", svg)
    assert sorted(order) == ["0", "1", "2", "3"] and order[-1] == "2"  # the planted high-stemness cluster last


def test_agreement_heatmap_rows_are_author_labels(tmp_path):
    agreement = pd.DataFrame({"author_label": ["Tcell", "Tcell", "Fibro", "Fibro"],
                              "cell_type": ["T cell", "fibroblast/CAF", "T cell", "fibroblast/CAF"],
                              "cells": [90, 10, 5, 95], "author_column": "author_type"})
    plots.agreement_heatmap(agreement, tmp_path / "agreement.png")
    assert _ink(tmp_path / "agreement.png") > 0.1
    svg = _svg_text(lambda p: plots.agreement_heatmap(agreement, p), tmp_path / "agreement.svg")
    assert "authors' author_type" in svg and ">90<" in svg and ">95<" in svg
    empty = _svg_text(lambda p: plots.agreement_heatmap(agreement.iloc[:0], p), tmp_path / "none.svg")
    assert "no author labels given" in empty


def test_sender_receiver_counts_significant_pairs_per_partner(tmp_path):
    specific = pd.DataFrame({
        "ligand": ["CD274", "VEGFA", "TGFB1", "CXCL12"], "receptor": ["PDCD1", "KDR", "TGFBR1", "CXCR4"],
        "source": ["CSC-high", "CSC-high", "CSC-high", "fibroblast/CAF"],
        "target": ["T cell", "endothelial cell", "T cell", "CSC-high"],
        "direction": ["CSC->TME", "CSC->TME", "CSC->TME", "TME->CSC"],
        "partner": ["T cell", "endothelial cell", "T cell", "fibroblast/CAF"],
        "effect": [0.5, 0.4, 0.3, 0.2], "fdr": [0.01, 0.02, 0.5, 0.01], "significant": [True, True, False, True],
        "pvalue": [0.001, 0.002, 0.3, 0.001]})
    svg = _svg_text(lambda p: plots.sender_receiver_figure(specific, p), tmp_path / "senders.svg")
    assert "CD274-PDCD1" in svg and "VEGFA-KDR" in svg and "CXCL12-CXCR4" in svg
    assert "TGFB1" not in svg  # not significant


def _empty_tables() -> dict[str, pd.DataFrame]:
    return {"interactions": pd.DataFrame(columns=INTERACTION_COLUMNS),
            "specific": pd.DataFrame(columns=SPECIFIC_COLUMNS),
            "axes": pd.DataFrame(columns=["axis", "patient", "group", "ligand_score", "receptor_score",
                                          "gene_score"]),
            "expression": pd.DataFrame(columns=["gene", "group", "mean", "pct"]),
            "biomarkers": pd.DataFrame(columns=["gene", "auroc"]),
            "de": pd.DataFrame(columns=["gene", "method", "log2fc", "pvalue", "fdr"]),
            "gsea": pd.DataFrame(columns=["term", "source", "nes", "fdr"]),
            "running": pd.DataFrame(columns=["term", "rank", "running_es", "gene"]),
            "ranking": pd.DataFrame(columns=["rank", "gene", "stat"])}


EMPTY_FIGURES = {
    "crosstalk_heatmap": (lambda t, p: plots.crosstalk_heatmap(t["interactions"], p), "no interaction with p"),
    "crosstalk_network": (lambda t, p: plots.group_network(t["interactions"], p), "no CSC interaction with p"),
    "crosstalk_dotplot": (lambda t, p: plots.csc_specific_dotplot(t["specific"], p),
                          "no patient with both CSC-high and CSC-low cells"),
    "crosstalk_senders": (lambda t, p: plots.sender_receiver_figure(t["specific"], p), "no CSC-specific pair"),
    "crosstalk_axes": (lambda t, p: plots.axes_figure(t["axes"], p), "no axis scored"),
    "biomarkers_dotplot": (lambda t, p: plots.biomarker_dotplot(t["expression"], t["biomarkers"], p),
                           "no biomarkers (no CSC-high/CSC-low comparison)"),
    "biomarkers_volcano": (lambda t, p: plots.volcano(t["de"], p), "no differential expression"),
    "biomarkers_gsea": (lambda t, p: plots.gsea_figure(t["gsea"], p), "no GSEA result"),
    "biomarkers_gsea_running": (lambda t, p: plots.gsea_running_figure(t["gsea"], t["running"], t["ranking"], p),
                                "no gene set to draw (no GSEA result)"),
}


@pytest.mark.parametrize("name", sorted(EMPTY_FIGURES))
def test_without_csc_high_cells_each_crosstalk_and_biomarker_figure_says_why(tmp_path, name):
    draw, sentence = EMPTY_FIGURES[name]
    svg = _svg_text(lambda p: draw(_empty_tables(), p), tmp_path / f"{name}.svg")
    assert sentence in svg
    draw(_empty_tables(), tmp_path / f"{name}.png")
    assert _ink(tmp_path / f"{name}.png") > 0.001


def test_volcano_bounds_fold_changes_and_spreads_its_labels(tmp_path):
    rng = np.random.default_rng(0)
    fold = rng.normal(0, 1.5, 500)
    fold[:10] += 4
    fold[10:13] = 30.0  # absent from CSC-low cells
    pvalue = 10 ** -(np.abs(fold) * rng.uniform(0.5, 3, 500))
    de = pd.DataFrame({"gene": [f"G{i}" for i in range(500)], "method": "pseudobulk", "log2fc": fold,
                       "pvalue": pvalue, "fdr": np.minimum(1, pvalue * 50)})
    svg = _svg_text(lambda p: plots.volcano(de, p, label=8), tmp_path / "volcano.svg")
    assert "beyond ±8: triangles at the edge" in svg
    labels = re.findall(r'<text[^>]* x="([\d.]+)" y="([\d.]+)"[^>]*>(G\d+)</text>', svg)
    assert len(labels) == 8 and {"G10", "G11", "G12"} <= {name for _, _, name in labels}
    heights = sorted(float(y) for _, y, _ in labels)
    assert min(np.diff(heights)) > 7  # one label per line, none on top of another


def test_feature_umaps_draw_each_gene_and_say_when_none_is_there(tmp_path):
    rng = np.random.default_rng(0)
    cells = pd.DataFrame({"cell_id": [f"c{i}" for i in range(300)], "umap_1": rng.normal(size=300),
                          "umap_2": rng.normal(size=300)})
    expression = pd.DataFrame({"CD44": rng.gamma(1.0, size=300), "SOX2": np.where(rng.random(300) < 0.1, 2.0, 0.0)},
                              index=cells["cell_id"])
    svg = _svg_text(lambda p: plots.feature_umaps(cells, expression, p), tmp_path / "markers.svg")
    assert "CD44 (100% of cells)" in svg and re.search(r"SOX2 \(\d+% of cells\)", svg)
    plots.feature_umaps(cells, expression, tmp_path / "markers.png")
    assert _ink(tmp_path / "markers.png") > 0.05
    empty = _svg_text(lambda p: plots.feature_umaps(cells, expression.iloc[:, :0], p), tmp_path / "none.svg")
    assert "none of the CSC marker genes is in these data" in empty


def test_cnv_heatmap_orders_calls_then_reference_and_labels_every_chromosome(tmp_path):
    import anndata as ad
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    n, windows = 120, 60
    calls = np.array(["malignant"] * 50 + ["non-malignant"] * 60 + ["uncertain"] * 10)
    obs = pd.DataFrame({"patient": "P1", "malignant": calls, "cnv_correlation": rng.random(n),
                        "cnv_cluster": rng.integers(0, 2, n).astype(str),
                        "cnv_reference": np.where(np.arange(n) >= 80, "True", "False")[rng.permutation(n)]},
                       index=[f"c{i}" for i in range(n)])
    adata = ad.AnnData(obs=obs)
    adata.obsm["X_cnv"] = sp.csr_matrix(rng.normal(0, 0.1, (n, windows)))
    adata.uns["cnv"] = {"chr_pos": {f"chr{c}": 3 * (c - 1) for c in range(1, 21)}}
    svg = _svg_text(lambda p: plots.cnv_heatmap(adata, "P1", p), tmp_path / "cnv.svg")
    for text in ("CNV reference", "malignant", "uncertain", "non-malignant", ">20<", ">19<"):
        assert text in svg, text
    plots.cnv_heatmap(adata, "P1", tmp_path / "cnv.png")
    assert _ink(tmp_path / "cnv.png") > 0.3


def test_qc_figure_says_when_a_metric_is_zero_in_every_cell(tmp_path):
    rng = np.random.default_rng(0)
    cells = pd.DataFrame({"n_genes": rng.integers(200, 3000, 200), "total_counts": rng.integers(500, 9000, 200),
                          "pct_counts_mt": 0.0, "qc_pass": rng.random(200) > 0.1})
    summary = pd.Series({"sample": "S1", "cells_after": int(cells["qc_pass"].sum()), "cells_before": 200,
                         "threshold_min_genes": 250.0})
    svg = _svg_text(lambda p: plots.qc_figure(cells, summary, p), tmp_path / "qc.svg")
    assert "no MT- gene in the data" in svg and "genes per cell" in svg


def test_gsea_running_figure_draws_a_panel_per_set(tmp_path):
    genes = [f"G{i}" for i in range(1000)]
    stat = np.linspace(3, -3, 1000)
    ranking = pd.DataFrame({"rank": np.arange(1, 1001), "gene": genes, "stat": stat})
    sets = {"UP": ("x", genes[:40:2]), "DOWN": ("x", genes[-60::3])}
    running = running_scores(pd.Series(stat, index=genes), sets, ["UP", "DOWN"])
    gsea = pd.DataFrame({"term": ["UP", "DOWN"], "nes": [2.5, -2.1], "es": [0.9, -0.8], "fdr": [0.001, 0.004],
                         "circular": [True, False]})
    svg = _svg_text(lambda p: plots.gsea_running_figure(gsea, running, ranking, p), tmp_path / "running.svg")
    assert "UP (circular)" in svg and "NES 2.50, FDR 0.001" in svg and "NES -2.10, FDR 0.004" in svg
    assert "1000 genes" in svg
    plots.gsea_running_figure(gsea, running, ranking, tmp_path / "running.png")
    assert _ink(tmp_path / "running.png") > 0.02
