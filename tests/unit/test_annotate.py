import numpy as np
import pandas as pd
import pytest

from cscniche.annotate import UNASSIGNED, agreement, cluster_summary, load_marker_sets
from cscniche.io import InputError

from conftest import REPO, default_settings, run_chain

# simulated truth -> label of config/markers/tme.yaml
TRUTH_TO_LABEL = {"T": "T cell", "NK": "NK cell", "B": "B cell", "macrophage": "macrophage/monocyte",
                  "fibroblast": "fibroblast/CAF", "endothelial": "endothelial cell", "MSC": "MSC-like"}


@pytest.fixture(scope="module")
def annotated(small_annotated):
    return small_annotated()


def test_curated_marker_sets_cite_sources():
    sets = load_marker_sets([REPO / "config/markers/tme.yaml", REPO / "config/markers/brain.yaml"])
    names = {s.name for s in sets}
    assert {"T cell", "NK cell", "B cell", "plasma cell", "macrophage/monocyte", "dendritic cell", "mast cell",
            "fibroblast/CAF", "endothelial cell", "pericyte/smooth muscle", "MSC-like", "epithelial",
            "oligodendrocyte", "astrocyte"} <= names
    assert all(s.source for s in sets)
    assert {s.name for s in sets if s.parent == "T cell"} >= {"CD8 T cell", "CD4 T cell", "regulatory T cell"}


def test_bad_marker_file_is_named(tmp_path):
    bad = tmp_path / "markers.yaml"
    bad.write_text("cell_types:\n  X cell:\n    compartment: immune\n    markers: [CD3E, CD3D]\n")
    with pytest.raises(InputError, match=r"markers.yaml: cell type 'X cell': needs a `source`"):
        load_marker_sets([bad])
    bad.write_text("cell_types:\n  X cell:\n    compartment: liquid\n    markers: [CD3E]\n    source: me\n")
    with pytest.raises(InputError, match=r"`compartment` must be one of"):
        load_marker_sets([bad])


def test_planted_tme_types_are_recovered(annotated, small_tumour):
    truth = small_tumour.truth.set_index("cell_id").loc[annotated.obs_names]
    tme = truth["cell_type"].isin(TRUTH_TO_LABEL).to_numpy()
    expected = truth.loc[tme, "cell_type"].map(TRUTH_TO_LABEL)
    accuracy = (annotated.obs.loc[tme, "cell_type"].astype(str) == expected).mean()
    assert accuracy >= 0.9, accuracy
    malignant = truth["malignant"].to_numpy()
    assert annotated.obs.loc[malignant, "cell_type"].astype(str).isin(["epithelial", UNASSIGNED]).mean() >= 0.9


def test_cluster_summary_and_agreement(annotated, small_tumour):
    summary = cluster_summary(annotated.obs)
    assert summary["n_cells"].sum() == annotated.n_obs
    # cells in clusters of one dominant label; on 550 cells Leiden (resolution 0.3) may merge two small types
    pure = summary.loc[summary["purity"] > 0.8, "n_cells"].sum()
    assert pure >= 0.7 * summary["n_cells"].sum(), summary
    obs = annotated.obs.assign(author_truth=small_tumour.truth.set_index("cell_id").loc[annotated.obs_names,
                                                                                          "cell_type"].to_numpy())
    table = agreement(obs, "author_truth")
    assert table["cells"].sum() == annotated.n_obs
    b_cells = table[(table["author_label"] == "B") & (table["cell_type"] == "B cell")]["cells"].iloc[0]
    assert b_cells >= 0.9 * (obs["author_truth"] == "B").sum()


def _celltypist_model(train, path):
    """A CellTypist model file trained with scikit-learn directly (celltypist.train needs an older sklearn)."""
    import numpy as np
    from celltypist.models import Model
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    X = np.log1p(1e4 * np.expm1(train.X.toarray()) / np.expm1(train.X.toarray()).sum(1, keepdims=True))
    scaler = StandardScaler().fit(X)
    clf = LogisticRegression(max_iter=300).fit(scaler.transform(X), train.obs["cell_type"].astype(str))
    clf.features = np.asarray(train.var_names)
    Model(clf, scaler, {"date": "test", "details": "trained on the simulated tumour"}).write(str(path))


def test_local_celltypist_model_is_used(annotated, tmp_path):
    from cscniche.annotate import celltypist_labels

    assigned = annotated.obs["cell_type"].astype(str) != UNASSIGNED
    path = tmp_path / "model.pkl"
    _celltypist_model(annotated[assigned.to_numpy()], path)
    query = annotated.copy()
    celltypist_labels(query, path)
    agree = (query.obs["celltypist_majority"] == query.obs["cell_type"].astype(str))[assigned]
    assert agree.mean() >= 0.9
    with pytest.raises(InputError, match=r"missing.pkl: CellTypist model file not found"):
        celltypist_labels(query, tmp_path / "missing.pkl")


def _cytotoxic_cells(seed: int = 0):
    """200 CD8 T cells (CD3 + cytotoxic genes), 100 NK cells (cytotoxic genes, no CD3) and 300 B cells,
    macrophages and fibroblasts, log-normalised."""
    import anndata as ad
    import numpy as np
    import scipy.sparse as sp

    genes = ["CD3D", "CD3E", "CD3G", "CD2", "CD8A", "CD8B", "NKG7", "GNLY", "KLRD1", "PRF1", "GZMB", "KLRF1",
             "MS4A1", "CD79A", "LYZ", "CD68", "COL1A1", "DCN", "PECAM1", "VWF", "EPCAM", "KRT8"]
    rng = np.random.default_rng(seed)
    X = rng.poisson(0.05, (600, len(genes))).astype(float)

    def add(rows, names, lam):
        X[np.ix_(rows, [genes.index(g) for g in names])] += rng.poisson(lam, (len(rows), len(names)))

    add(np.arange(300), ["NKG7", "GNLY", "KLRD1", "PRF1", "GZMB"], 6)
    add(np.arange(200), ["CD3D", "CD3E", "CD3G", "CD2", "CD8A"], 1.5)
    add(np.arange(200, 300), ["KLRF1"], 1)
    add(np.arange(300, 400), ["MS4A1", "CD79A"], 4)
    add(np.arange(400, 500), ["LYZ", "CD68"], 4)
    add(np.arange(500, 600), ["COL1A1", "DCN"], 4)
    adata = ad.AnnData(sp.csr_matrix(np.log1p(X)))
    adata.var_names = genes
    return adata


def _labelling(**overrides) -> dict:
    """The default labelling settings of :func:`cscniche.annotate.annotate` (the config's, less the files)."""
    settings = {**default_settings()["annotate"], **overrides}
    return {k: v for k, v in settings.items() if k not in ("markers", "celltypist_model")}


def test_cd3_gates_cytotoxic_t_cells_from_nk_cells():
    import dataclasses

    from cscniche.annotate import annotate

    sets = load_marker_sets([REPO / "config/markers/tme.yaml"])
    params = _labelling(smooth=False)
    gated = annotate(_cytotoxic_cells(), sets, **params).obs["cell_type"].astype(str).to_numpy()
    ungated = annotate(_cytotoxic_cells(), [dataclasses.replace(s, negative_markers=()) for s in sets],
                       **params).obs["cell_type"].astype(str).to_numpy()
    assert (ungated[:200] == "NK cell").mean() >= 0.2  # without CD3 gating CD8 T cells look like NK cells
    t_as_nk = (gated[:200] == "NK cell").mean()  # per cell, unsmoothed: CD3 drops out in some T cells
    assert t_as_nk <= 0.1 and t_as_nk <= (ungated[:200] == "NK cell").mean() / 2
    assert (gated[:200] == "T cell").mean() >= 0.8
    assert (gated[200:300] == "NK cell").mean() >= 0.9
    assert (gated[300:] != "NK cell").all()  # lacking CD3 is no evidence for NK: B cells and others stay out


def test_sets_without_enough_markers_are_listed(tmp_path):
    from cscniche.annotate import annotate, marker_coverage

    sets = load_marker_sets([REPO / "config/markers/tme.yaml"])
    adata = _cytotoxic_cells()  # a reduced panel: no dendritic-cell or mast-cell marker
    coverage = marker_coverage(adata.var_names, sets, min_genes=2).set_index("cell_type")
    assert not coverage.loc["dendritic cell", "scored"] and not coverage.loc["mast cell", "scored"]
    assert coverage.loc["NK cell", "scored"] and coverage.loc["NK cell", "negative_markers_present"] == 3
    assert "TPSAB1" in coverage.loc["mast cell", "missing"]
    annotate(adata, sets, **_labelling(smooth=False))
    assert {"dendritic cell", "mast cell"} <= set(adata.uns["annotate"]["unscored_sets"])
    bad = tmp_path / "markers.yaml"
    bad.write_text("cell_types:\n  X cell:\n    compartment: immune\n    markers: [CD3E]\n    source: me\n"
                   "    negative_markers: CD4\n")
    with pytest.raises(InputError, match="X cell.*negative_markers"):
        load_marker_sets([bad])


def test_oligodendroglioma_normal_cells_agree_with_the_authors(shared_data):
    """The authors' non-malignant cells (microglia/macrophages, oligodendrocytes) get their type: >= 0.9."""
    from test_malignant import BRAIN, _oligodendroglioma

    settings = default_settings(**{k: v for k, v in BRAIN.items() if k != "malignant"})
    obs = run_chain(_oligodendroglioma(), settings, value_scale="tpm").obs
    expected = {"Microglia/Macrophage": {"microglia", "macrophage/monocyte"},
                "Oligodendrocytes (non-malignant)": {"oligodendrocyte"}}
    normal = obs[obs["author_cell_type"].isin(expected)]
    assert len(normal) >= 40
    agree = [label in expected[author] for author, label in zip(normal["author_cell_type"],
                                                                 normal["cell_type"].astype(str), strict=True)]
    assert np.mean(agree) >= 0.9, pd.crosstab(normal["author_cell_type"], normal["cell_type"])


def test_backup_markers_rescue_a_type_on_a_reduced_panel():
    """A panel holding one of the mast cell's six markers (KIT) and two of its backups: the type is scored
    with the backups and its cells found; without backups they are unassigned. On a panel with at least half
    of a type's markers, backups are not used."""
    import dataclasses

    import anndata as ad
    import scipy.sparse as sp

    from cscniche.annotate import annotate, marker_coverage

    genes = ["CD3D", "CD3E", "CD2", "MS4A1", "CD79A", "LYZ", "CD68", "COL1A1", "DCN", "KIT", "HPGDS", "ENPP3"]
    rng = np.random.default_rng(0)
    X = rng.poisson(0.05, (400, len(genes))).astype(float)
    for rows, names in ((slice(0, 100), ["CD3D", "CD3E", "CD2"]), (slice(100, 200), ["MS4A1", "CD79A"]),
                        (slice(200, 300), ["LYZ", "CD68"]), (slice(300, 400), ["KIT", "HPGDS", "ENPP3"])):
        X[rows, [genes.index(g) for g in names]] += rng.poisson(4, (100, len(names)))
    adata = ad.AnnData(sp.csr_matrix(np.log1p(X)))
    adata.var_names = genes
    sets = load_marker_sets([REPO / "config/markers/tme.yaml"])
    params = _labelling(smooth=False)
    coverage = marker_coverage(adata.var_names, sets, min_genes=2).set_index("cell_type")
    assert coverage.loc["mast cell", "backup_markers_used"] == 2 and coverage.loc["mast cell", "scored"]
    assert coverage.loc["T cell", "backup_markers_used"] == 0  # CD2 and CD3: 3 of 8, but no backup present
    labels = annotate(adata.copy(), sets, **params).obs["cell_type"].astype(str).to_numpy()
    assert (labels[300:] == "mast cell").mean() >= 0.9 and (labels[:300] != "mast cell").all()
    without = annotate(adata.copy(), [dataclasses.replace(s, backup_markers=()) for s in sets], **params)
    assert not (without.obs["cell_type"].astype(str).to_numpy()[300:] == "mast cell").any()
    full = pd.Index([*sets[0].markers, *sets[0].backup_markers])
    assert sets[0].markers_in(full, min_genes=2) == (list(sets[0].markers), False)


def test_marker_expression_shows_each_type_highest_on_its_own_markers(annotated, tmp_path):
    """The dotplot's table: every label's own markers are expressed most in that label's cells."""
    from cscniche.annotate import marker_expression
    from cscniche.plots import marker_dotplot

    sets = load_marker_sets([REPO / "config/markers/tme.yaml"])
    table = marker_expression(annotated, sets)
    assert set(table["marker_of"]) <= set(annotated.obs["cell_type"].astype(str))
    assert {"T cell", "fibroblast/CAF", "endothelial cell"} <= set(table["marker_of"])
    assert table.groupby("marker_of")["gene"].nunique().max() <= 4
    own = table[table["cell_type"] == table["marker_of"]].set_index("gene")["mean"]
    best = table.loc[table.groupby("gene")["mean"].idxmax()].set_index("gene")["cell_type"]
    marker_of = table.drop_duplicates("gene").set_index("gene")["marker_of"]
    assert (best == marker_of.loc[best.index]).mean() >= 0.8, table
    assert (own > 0).all()
    n = annotated.obs["cell_type"].astype(str).value_counts()
    sizes = table.drop_duplicates("cell_type").set_index("cell_type")["cells"]
    assert (sizes == n.loc[sizes.index]).all()
    marker_dotplot(table, tmp_path / "dotplot.png")
    assert (tmp_path / "dotplot.png").stat().st_size > 20_000
