import gzip

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.metrics import adjusted_rand_score, f1_score

from cscniche import clonality, malignant
from cscniche.ingest import ingest_sample
from cscniche.io import InputError
from cscniche.report import identity_outcome

from conftest import SHARED, default_settings, run_chain, simulated_tumour

GENE_ORDER = SHARED / "gene_positions" / "hg38_gencode_v27.txt"
BRAIN = {"annotate": {"markers": ["config/markers/tme.yaml", "config/markers/brain.yaml"]},
         "qc": {"min_cells_per_sample": 5}, "cluster": {"integration": "none", "n_neighbors": 10}}


def call(adata, settings, positions=None):
    params = settings["malignant"]
    malignant.place_genes(adata, positions, min_fraction=params["min_fraction_placed"])
    summary, table, clones = malignant.call_from_cnv_and_clonality(adata, params)
    adata.uns["reference_table"], adata.uns["light_chains"] = table, clones
    return summary


def test_gene_order_table_with_crlf_and_stray_tab(shared_data):
    table = malignant.read_gene_positions(GENE_ORDER)
    assert len(table) == 56609
    assert table.loc["TNFRSF18", "chromosome"] == "chr1"
    assert table["chromosome"].str.startswith("chr").all() and table["end"].dtype.kind == "i"


def test_gtf_reader(tmp_path):
    gtf = tmp_path / "genes.gtf.gz"
    with gzip.open(gtf, "wt") as fh:
        fh.write("#!genome-build GRCh38\n")
        fh.write('1\tHAVANA\tgene\t11869\t14409\t.\t+\t.\tgene_id "ENSG00000223972"; gene_name "DDX11L1";\n')
        fh.write('1\tHAVANA\ttranscript\t11869\t14409\t.\t+\t.\tgene_id "ENSG00000223972"; gene_name "DDX11L1";\n')
        fh.write('X\tHAVANA\tgene\t100\t200\t.\t-\t.\tgene_id "ENSG1"; gene_name "ABC";\n')
    table = malignant.read_gene_positions(gtf)
    assert list(table.index) == ["DDX11L1", "ABC"]
    assert table.loc["ABC", "chromosome"] == "chrX" and table.loc["DDX11L1", "start"] == 11869


def _oligodendroglioma():
    adata = ingest_sample({"sample": "all", "patient": "x", "path": "infercnvpy:oligodendroglioma",
                           "format": "packaged"}, author_labels={"cell_type": "cell_type"})
    return {f"{p}_all": adata[adata.obs_names.str.startswith(f"{p}_")].copy()
            for p in ["93", "97", "MGH36", "MGH53", "MGH54"]}


@pytest.mark.parametrize("positions", ["dataset", "gene_order_table", "shipped"])
def test_oligodendroglioma_malignant_f1(positions, shared_data):
    settings = default_settings(**BRAIN)
    adata = run_chain(_oligodendroglioma(), settings, value_scale="tpm")
    table = malignant.read_gene_positions(GENE_ORDER) if positions == "gene_order_table" else None
    if positions != "dataset":
        adata.var = adata.var.drop(columns=["chromosome", "start", "end"])
    source = malignant.gene_positions_source(adata.var, None)
    assert source == {"dataset": "input"}.get(positions, malignant.SHIPPED_GENE_POSITIONS_NAME)
    summary = call(adata, settings, table)
    assert adata.var["chromosome"].notna().mean() >= 0.9
    ref = summary.set_index("patient")["reference_types"]
    assert "microglia" in ref["MGH36"] and "oligodendrocyte" in ref["MGH53"], ref
    truth = adata.obs["author_cell_type"].str.startswith("malignant")
    assert len(truth) >= 180 and truth.sum() >= 140  # 184 cells, 142 malignant before QC
    f1 = f1_score(truth, adata.obs["malignant"] == "malignant")
    assert f1 >= 0.97, (f1, summary)  # default reference settings: the verified reference
    assert not summary.set_index("patient").loc["MGH54", "tumour_detected"]
    oligodendrocytes = adata.obs["author_cell_type"].str.startswith("Oligodendrocytes")
    assert not (adata.obs.loc[oligodendrocytes, "malignant"] == "malignant").any()
    table = adata.uns["reference_table"]
    kept = table[table["in_reference"]]
    assert set(kept["cell_type"]) <= {"microglia", "macrophage/monocyte", "oligodendrocyte"}, table
    assert {"microglia", "oligodendrocyte"} <= set(kept["cell_type"])
    assert not table.loc[~table["in_reference"], "reason"].str.startswith("profile shared").any()


def test_simulated_malignant_calls_clones_and_cnv_clusters(small_tumour, small_annotated):
    """The stage's entry on the simulated tumour: calls, each patient's planted gains and losses in the tumour's
    profile, CNV clusters that separate tumour from normal, and the malignant cells labelled as such."""
    settings = default_settings()
    adata = small_annotated()
    result = malignant.run_malignant(adata, **settings["malignant"], leiden_flavor=settings["cluster"]["leiden_flavor"])
    truth = small_tumour.truth.set_index("cell_id").loc[adata.obs_names]
    singlet = ~truth["doublet"].to_numpy()
    ari = adjusted_rand_score(truth["malignant"][singlet], adata.obs["malignant"][singlet])
    assert ari >= 0.9, ari
    profiles = result.profiles
    mean = profiles[profiles["call"] == "malignant"].groupby(["patient", "chromosome"])["mean_cnv"].mean()
    for event in small_tumour.cnv_events.itertuples():
        assert np.sign(mean[(event.patient, event.chromosome)]) == (1 if event.type == "gain" else -1), event
    table = result.clusters
    assert set(table["patient"]) == {"P1", "P2"}
    assert table["cells"].sum() == adata.n_obs
    mostly_one_call = table[["share_malignant", "share_non-malignant"]].max(axis=1)
    assert (mostly_one_call * table["cells"]).sum() / table["cells"].sum() >= 0.9
    assert (adata.obs.loc[adata.obs["malignant"] == "malignant", "cell_type"] == "malignant").all()
    assert result.summary["genes_placed"].iloc[0] > 0.9 and set(result.reference["patient"]) == {"P1", "P2"}


def test_normal_tissue_has_almost_no_malignant_calls():
    params = {"n_cells": 1500, "n_patients": 2, "samples_per_patient": 1, "n_genes": 3000,
              "malignant_fraction": 0.0, "csc_fraction": 0.15, "low_quality_fraction": 0.05,
              "doublet_fraction": 0.05, "mean_library_size": 5000}
    normal = simulated_tumour(params, seed=3)
    assert not normal.truth["malignant"].any()
    settings = default_settings()
    adata = run_chain(normal.samples, settings)
    summary = call(adata, settings)
    assert (adata.obs["malignant"] == "malignant").mean() <= 0.05, summary
    assert not summary["tumour_detected"].any()


def test_unusable_reference_and_unplaced_genes_give_clear_errors(small_tumour):
    settings = default_settings()
    obs = pd.DataFrame({"cell_type": ["epithelial"] * 20, "cell_compartment": ["epithelial"] * 20,
                        "cell_type_confidence": [1.0] * 20})
    with pytest.raises(InputError, match=r"only 0 reference \(normal\) cells .* malignant.method: author"):
        malignant.choose_reference(obs, settings["malignant"])
    adata = small_tumour.samples["P1_S1"].copy()
    adata.var_names = [f"ENSG{i:011d}" for i in range(adata.n_vars)]
    with pytest.raises(InputError, match=r"only 0.0% of genes have a position .* ENSG"):
        malignant.place_genes(adata, malignant.read_gene_positions(malignant.SHIPPED_GENE_POSITIONS),
                              min_fraction=0.5)


def test_shipped_gene_order_equals_the_source_table(shared_data):
    shipped = malignant.read_gene_positions(malignant.SHIPPED_GENE_POSITIONS)
    pd.testing.assert_frame_equal(shipped, malignant.read_gene_positions(GENE_ORDER))


def test_tumour_only_input_is_all_malignant_and_says_why():
    import anndata as ad

    adata = ad.AnnData(obs=pd.DataFrame({"patient": ["a", "a", "b"], "cell_type": ["astrocyte", "unassigned",
                                                                                   "pericyte/smooth muscle"]},
                                        index=list("xyz")))
    summary = malignant.call_all_malignant(adata)
    assert (adata.obs["malignant"] == "malignant").all()
    assert list(summary["malignant"]) == [2, 1] and summary["note"].str.contains("no normal reference").all()
    malignant.label_malignant(adata.obs)
    assert (adata.obs["cell_type"] == "malignant").all()
    assert list(adata.obs["marker_cell_type"]) == ["astrocyte", "unassigned", "pericyte/smooth muscle"]


def test_author_labels_as_malignant_calls():
    import anndata as ad

    obs = pd.DataFrame({"patient": ["a", "a", "b", "b"],
                        "author_cell_type": ["malignant_93", "Oligodendrocytes (non-malignant)", "", "Microglia"]},
                       index=list("wxyz"))
    adata = ad.AnnData(obs=obs)
    malignant.call_from_author_labels(adata, "author_cell_type", "^malignant")
    assert list(adata.obs["malignant"]) == ["malignant", "non-malignant", "uncertain", "non-malignant"]
    with pytest.raises(InputError, match=r"author_column 'author_x' is not a cell column"):
        malignant.call_from_author_labels(adata, "author_x", "malignant")


def test_reference_from_an_explicit_column():
    settings = default_settings(malignant={"reference_column": "is_normal", "min_reference_cells": 2})
    obs = pd.DataFrame({"is_normal": ["True", "False", "true", "False"]})
    assert list(malignant.choose_reference(obs, settings["malignant"])) == [True, False, True, False]




def test_tumour_cells_passing_for_an_immune_type_leave_the_reference(small_tumour, small_annotated):
    """As in a lymphoma: the malignant cells score as B cells. Their arm-level copy-number profile is their
    patient's own, so verification drops them from the reference, keeps the TME types and the tumour is found."""
    settings = default_settings()
    adata = small_annotated()
    truth = small_tumour.truth.set_index("cell_id").loc[adata.obs_names]
    tumour = (truth["malignant"] & ~truth["doublet"]).to_numpy()
    obs = adata.obs
    for column, value in (("cell_type", "B cell"), ("cluster_cell_type", "B cell"), ("cell_compartment", "immune")):
        obs[column] = obs[column].astype(str)
        obs.loc[tumour, column] = value
    obs.loc[tumour, "cell_type_confidence"] = 1.0
    assert malignant.choose_reference(obs, settings["malignant"])[tumour].mean() >= 0.9  # candidates at first
    summary = call(adata, settings)
    table = adata.uns["reference_table"]
    reference = adata.obs["cnv_reference"].to_numpy()
    assert reference[tumour].mean() <= 0.02 and reference[~tumour].sum() >= 100, table
    assert summary["tumour_detected"].all()
    assert f1_score(tumour, adata.obs["malignant"] == "malignant") >= 0.9


def test_shared_oligodendroglioma_table_with_defaults_only(shared_data):
    """The GEO-style table as a user would give it: no gene positions (the shipped GRCh38 order places them),
    no reference named (the verified reference): F1 against the authors >= 0.95, normal oligodendrocytes
    not malignant."""
    table = shared_data / "scrna" / "oligodendroglioma_expression_downsampled.counts.matrix.gz"
    labels = shared_data / "scrna" / "oligodendroglioma_annotations_downsampled.txt"
    samples = {f"{p}_all": ingest_sample({"sample": p, "patient": p, "path": str(table), "format": "table",
                                          "cell_pattern": f"^{p}_", "annotation": str(labels)},
                                         author_labels={"label": "cell_type"})
               for p in ["93", "97", "MGH36", "MGH53", "MGH54"]}
    settings = default_settings(**BRAIN)
    adata = run_chain(samples, settings, value_scale="tpm")
    assert "chromosome" not in adata.var
    call(adata, settings)
    truth = adata.obs["author_cell_type"].str.startswith("malignant")
    assert f1_score(truth, adata.obs["malignant"] == "malignant") >= 0.95
    normal = adata.obs["author_cell_type"].str.startswith("Oligodendrocytes")
    assert normal.sum() >= 20 and not (adata.obs.loc[normal, "malignant"] == "malignant").any()


def _b_cell_counts(chains: dict[str, list[str]], seed: int = 0) -> ad.AnnData:
    """Cells x (IGKC, IGLC2, CD3E) counts: per cluster a list of chains ('kappa', 'lambda' or '' = T cell)."""
    rng = np.random.default_rng(seed)
    rows, cluster = [], []
    for name, cells in chains.items():
        for chain in cells:
            strong, ambient = rng.poisson(30), rng.poisson(0.3)
            rows.append({"kappa": [strong, ambient, 0], "lambda": [ambient, strong, 0], "": [ambient, 0, 20]}[chain])
            cluster.append(name)
    obs = pd.DataFrame({"patient": "p1", "leiden": cluster, "cell_type": "B cell"},
                       index=[f"c{i}" for i in range(len(rows))])
    counts = sp.csr_matrix(np.array(rows, dtype=np.float32))
    return ad.AnnData(counts.log1p(), obs=obs, var=pd.DataFrame(index=["IGKC", "IGLC2", "CD3E"]),
                      layers={"counts": counts})


def test_light_chain_restriction_finds_the_clone_and_spares_polyclonal_b_cells():
    """A kappa-restricted cluster (95% kappa) is a clone; a normal 60:40 B-cell cluster, a 75% kappa
    cluster and T cells are not. In the clone's patient, the other B cells with the clone's chain are
    uncertain, those with the other chain non-malignant."""
    adata = _b_cell_counts({"clone": ["kappa"] * 57 + ["lambda"] * 3, "normal": ["kappa"] * 36 + ["lambda"] * 24,
                            "skewed": ["kappa"] * 45 + ["lambda"] * 15, "t": [""] * 50})
    chains = clonality.light_chain_calls(adata)
    assert (chains[adata.obs["leiden"] == "t"] == "").all()
    table = clonality.light_chain_groups(adata.obs, chains, restriction=0.9).set_index("cluster")
    assert table["restricted"].to_dict() == {"clone": True, "normal": False, "skewed": False, "t": False}
    assert table.loc["clone", "dominant_chain"] == "kappa" and not table.loc["t", "b_lineage"]
    adata.obs.loc["c0", "cell_type"] = "T cell"  # a T cell (or a doublet) with the clone's chain
    calls, covered = clonality.clonal_calls(adata.obs, chains, table.reset_index())
    assert calls[0] == "uncertain"
    calls, chains, covered = calls[1:], chains[1:], covered[1:]
    adata = adata[1:]
    frame = pd.DataFrame({"cluster": adata.obs["leiden"], "chain": chains, "call": calls})
    expected = {("clone", "kappa"): "malignant", ("clone", "lambda"): "non-malignant",
                ("normal", "kappa"): "uncertain", ("normal", "lambda"): "non-malignant", ("t", ""): ""}
    for (cluster, chain), call in expected.items():
        mine = (frame["cluster"] == cluster) & (frame["chain"] == chain)
        assert set(frame.loc[mine, "call"]) == {call}
    assert not covered[adata.obs["leiden"] == "t"].any()


def test_polyclonal_b_cells_alone_have_no_clone():
    """Tumour-infiltrating B and plasma cells of a carcinoma: two clusters of normal 2:1 kappa:lambda, no clone."""
    for seed in range(5):
        rng = np.random.default_rng(seed)
        adata = _b_cell_counts({c: list(rng.choice(["kappa", "lambda"], size=n, p=[2 / 3, 1 / 3]))
                                for c, n in (("b", 80), ("plasma", 25))}, seed=seed)
        table = clonality.light_chain_groups(adata.obs, clonality.light_chain_calls(adata), restriction=0.9)
        assert table["b_lineage"].all() and not table["restricted"].any()


def _malt(name: str) -> ad.AnnData:
    settings = default_settings()
    sample = ingest_sample({"sample": "malt", "patient": "malt", "path": str(SHARED / "scrna" / name),
                            "format": "10x_mtx"})
    adata = run_chain({"malt_1": sample}, settings)
    adata.uns["summary"] = call(adata, settings)
    return adata


def test_malt_lymphoma_clone_called_malignant_t_cells_not(shared_data):
    """The 10x MALT lymphoma with default settings and one patient (no copy-number evidence: the clone has no
    arm-level changes against the T cells): a kappa-restricted B-cell clone is called malignant; T, NK and
    myeloid cells are not; the reference is the T/NK cells."""
    adata = _malt("MALT_10x_target_1100cells")
    obs = adata.obs
    clones = adata.uns["light_chains"]
    assert clones["restricted"].sum() >= 1 and set(clones.loc[clones["restricted"], "dominant_chain"]) == {"kappa"}
    called = obs["malignant"] == "malignant"
    assert called.sum() >= 200
    assert not called[obs["cell_type"].isin(["T cell", "NK cell", "macrophage/monocyte"])].any()
    assert (obs.loc[called, "malignant_evidence"] == "light chain").mean() >= 0.95
    reference = obs["cnv_reference"].to_numpy()
    assert obs.loc[reference, "cell_type"].isin(["T cell", "NK cell"]).all()
    said = " ".join(identity_outcome(obs, adata.uns["summary"]))
    assert "kappa-restricted B-cell clone" in said and "CNV reference: " in said and "T cell" in said


def test_malt_lymphoma_calls_against_surface_protein(shared_data):
    """The other MALT subset, with CITE-seq surface proteins as truth the calls never saw: malignant calls are
    CD19+ B cells, CD3+ T cells are not malignant."""
    adata = _malt("MALT_10x_train_1000cells")
    adt = np.log1p(pd.read_csv(SHARED / "scrna" / "MALT_10x_train_1000cells" / "adt_counts.csv", index_col=0))
    adt = adt.loc[adata.obs_names]
    b_cell = (adt["CD19"] > adt["CD3"]).to_numpy()
    t_cell = ((adt["CD3"] > adt["CD19"]) & (adt["CD3"] > 6)).to_numpy()
    called = (adata.obs["malignant"] == "malignant").to_numpy()
    assert called.sum() >= 200 and b_cell[called].mean() >= 0.97
    assert called[t_cell].mean() <= 0.01


def test_cnv_blocks_in_this_process_equal_infercnvpy_on_all_cells(monkeypatch):
    """The CNV of cells run in blocks, in this process, equals infercnvpy's own call on all cells at once
    (its chunks in its process pool); and infercnvpy's pool is back in place afterwards."""
    import infercnvpy as cnv
    import infercnvpy.tl._infercnv as internals

    rng = np.random.default_rng(0)
    n_genes = 600
    var = pd.DataFrame({"chromosome": np.repeat(["chr1", "chr2", "chr3"], n_genes // 3),
                        "start": np.tile(np.arange(n_genes // 3) * 1000, 3)}, index=[f"G{i}" for i in range(n_genes)])
    var["end"] = var["start"] + 500
    X = sp.csr_matrix(np.log1p(rng.poisson(0.8, size=(12_000, n_genes)).astype(np.float32)))
    adata = ad.AnnData(X, var=var)
    adata.var["mean_counts"] = 1.0
    reference = np.arange(adata.n_obs) % 3 == 0
    params = {"min_mean_counts": 0.0, "window_size": 50, "step": 10}
    pool = internals.process_map
    monkeypatch.setattr(malignant.cnv, "CNV_BLOCK_CELLS", 5_000)
    malignant.infer_cnv(adata, reference, params)
    assert internals.process_map is pool
    ref_mean = np.asarray(X[reference].mean(axis=0)).reshape(1, -1)
    positions = var[["chromosome", "start", "end"]].astype({"chromosome": object})
    _, expected, _ = cnv.tl.infercnv(
        ad.AnnData(X, var=positions), reference=ref_mean, window_size=50, step=10, n_jobs=1, inplace=False,
        exclude_chromosomes=("chrX", "chrY", "chrM"), calculate_gene_values=False)
    assert adata.obsm["X_cnv"].shape == expected.shape and adata.obsm["X_cnv"].nnz > 0
    np.testing.assert_allclose(adata.obsm["X_cnv"].toarray(), expected.toarray(), rtol=1e-6)
