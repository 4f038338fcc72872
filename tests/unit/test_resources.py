"""Job resources: sizes of h5ad inputs, memory asks that grow with them and double on a retry."""

from types import SimpleNamespace

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from cscniche import resources


def small_h5ad(path, compression=None, n_obs=8000):  # ~4 MB of arrays: above the 1 MB floor
    X = sp.random(n_obs, 300, density=0.2, format="csr", dtype=np.float32, random_state=0)
    obs = pd.DataFrame({"patient": pd.Categorical(np.where(np.arange(n_obs) < n_obs // 4, "P1", "P2"))},
                       index=[f"c{i}" for i in range(n_obs)])
    adata = ad.AnnData(X, obs=obs)
    adata.write_h5ad(path, compression=compression)
    return X


def test_h5ad_size_counts_arrays_uncompressed(tmp_path):
    X = small_h5ad(tmp_path / "plain.h5ad")
    small_h5ad(tmp_path / "gzip.h5ad", compression="gzip")
    matrix_mb = (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 1e6
    size = resources.h5ad_mb(tmp_path / "plain.h5ad")
    assert matrix_mb <= size < matrix_mb + 0.2  # plus obs and var
    assert resources.h5ad_mb(tmp_path / "gzip.h5ad") == pytest.approx(size)
    assert (tmp_path / "gzip.h5ad").stat().st_size < 0.8 * (tmp_path / "plain.h5ad").stat().st_size
    assert resources.h5ad_cells(tmp_path / "plain.h5ad") == 8000


def test_input_size_sums_files_and_folders(tmp_path):
    small_h5ad(tmp_path / "a.h5ad")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "table.tsv").write_bytes(b"x" * 3_000_000)
    total = resources.input_mb([tmp_path / "a.h5ad", tmp_path / "folder"])
    assert total == pytest.approx(resources.h5ad_mb(tmp_path / "a.h5ad") + 3.0)
    assert resources.input_mb([tmp_path / "missing.h5ad"]) == 1  # a dry run: the floor


def test_memory_grows_with_input_and_doubles_on_retry(tmp_path):
    small_h5ad(tmp_path / "a.h5ad")
    size = resources.h5ad_mb(tmp_path / "a.h5ad")
    ask = resources.mem(1000, 2.0)
    assert ask(None, [tmp_path / "a.h5ad"], 1) == int(1000 + 2.0 * size)
    assert ask(None, [tmp_path / "a.h5ad"], 2) == int(2 * (1000 + 2.0 * size))


def test_per_patient_memory_counts_the_patients_share(tmp_path):
    small_h5ad(tmp_path / "m.h5ad")
    size = resources.h5ad_mb(tmp_path / "m.h5ad")
    assert resources.patient_share(tmp_path / "m.h5ad", "P1") == 0.25
    assert resources.patient_share(tmp_path / "m.h5ad", "absent") == 0.0
    assert resources.patient_share(tmp_path / "not_yet.h5ad", "P1") == 1.0
    ask = resources.per_patient(100, 10.0)

    class Input(list):
        matrix = str(tmp_path / "m.h5ad")

    assert ask(SimpleNamespace(patient="P1"), Input([tmp_path / "m.h5ad"]), 1) == int(100 + 10.0 * size * 0.25)


@pytest.mark.parametrize(("sample_mb", "cells", "peak_rss_mb"),
                         [(357, 12_500, 2347), (452, 25_000, 3104), (937, 62_500, 5304)])
def test_qc_memory_covers_the_measured_peaks(sample_mb, cells, peak_rss_mb):
    # peaks of the QC stage measured on simulated samples (20,000 genes; scrublet in chunks of 25,000 cells)
    ask = resources.qc_mem_mb(sample_mb, cells, scrublet_max_cells=25_000)
    assert 1.15 * peak_rss_mb <= ask <= 1.5 * peak_rss_mb
    assert resources.qc_mem_mb(sample_mb, cells, 25_000, attempt=2) == pytest.approx(2 * ask, abs=1)
    # smaller scrublet chunks ask for less
    assert resources.qc_mem_mb(sample_mb, cells, scrublet_max_cells=5_000) < ask
