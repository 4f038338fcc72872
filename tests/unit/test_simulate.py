import numpy as np
import scipy.sparse as sp

from cscniche.simulate import CSC_PROGRAM, PLANTED_LR, TME_MARKERS, simulate_tumour

from conftest import SMALL_SIM


def test_same_seed_same_counts_other_seed_differs(small_tumour):
    again = simulate_tumour(SMALL_SIM, seed=1)
    other = simulate_tumour(SMALL_SIM, seed=2)
    for name, adata in small_tumour.samples.items():
        assert (adata.X != again.samples[name].X).nnz == 0
        assert (adata.X != other.samples[name].X).nnz > 0
    assert small_tumour.truth.equals(again.truth)


def test_sink_gets_each_sample_as_made_with_the_same_counts_on_any_threads(small_tumour):
    received = {}
    streamed = simulate_tumour(SMALL_SIM, seed=1, sink=lambda name, adata: received.setdefault(name, adata),
                               threads=3)
    assert streamed.samples == {} and sorted(received) == list(small_tumour.samples)
    for name, adata in small_tumour.samples.items():
        assert (adata.X != received[name].X).nnz == 0
    assert streamed.truth.equals(small_tumour.truth)


def test_counts_are_sparse_integers_with_positions(small_tumour):
    adata = small_tumour.samples["P1_S1"]
    assert sp.issparse(adata.X)
    assert np.all(adata.X.data == np.round(adata.X.data))
    assert {"chromosome", "start", "end"} <= set(adata.var)
    assert adata.var["chromosome"].str.startswith("chr").all()
    planted = set(CSC_PROGRAM) | {g for m in TME_MARKERS.values() for g in m}
    assert planted <= set(adata.var_names)
    assert adata.var_names.str.startswith("MT-").sum() >= 10


def test_truth_columns_and_planted_structure(small_tumour):
    truth = small_tumour.truth
    assert list(truth.columns[:7]) == ["cell_id", "cell_type", "malignant", "csc", "doublet", "low_quality",
                                        "patient"]
    assert truth["cell_id"].is_unique
    assert set(truth["cell_type"]) == {*TME_MARKERS, "malignant", "doublet"}
    assert not truth.loc[truth["csc"], "malignant"].eq(False).any()
    frac_csc = truth.loc[truth["malignant"], "csc"].mean()
    assert 0.1 < frac_csc < 0.2
    assert 0.03 < truth["doublet"].mean() < 0.07
    assert len(small_tumour.lr_pairs) == len(PLANTED_LR)


def test_csc_program_is_up_in_csc_cells(small_tumour):
    adata = small_tumour.samples["P1_S1"]
    truth = small_tumour.truth.set_index("cell_id").loc[adata.obs_names]
    good = ~truth["low_quality"].to_numpy() & ~truth["doublet"].to_numpy()
    csc = truth["csc"].to_numpy() & good
    rest = truth["malignant"].to_numpy() & ~truth["csc"].to_numpy() & good
    cols = adata.var_names.get_indexer(CSC_PROGRAM)
    norm = adata.X.multiply(1 / adata.X.sum(1)).tocsr()[:, cols].toarray()
    assert (norm[csc].mean(0) > 3 * norm[rest].mean(0)).all()
    genes = np.asarray((adata.X > 0).sum(1)).ravel()
    assert np.median(genes[csc]) > np.median(genes[rest])  # higher transcriptional diversity
