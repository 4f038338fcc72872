"""Time and peak memory of CNV inference and malignant calling on a simulated tumour of N cells.

usage: python benchmarks/cnv_benchmark.py [--cells 100000] [--out benchmarks/out]

Step 1 (cached in --out): simulate, log-normalise, mark the planted TME cells as reference.
Step 2 (timed, in a fresh child process): cscniche.malignant.infer_cnv + call_malignant. Printed: wall
time, the malignant ARI against the planted truth, and the peak memory of the child's process tree
(sampled every 0.2 s): summed RSS (what a scheduler that accounts by RSS sees; shared pages of a forked
worker count twice) and summed PSS (shared pages split between the processes).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))

CHILD = """
import sys, time
import anndata as ad
from sklearn.metrics import adjusted_rand_score
from cscniche import malignant
from cscniche.config import validate_config
params = validate_config({"datasets": {"d": {"simulate": {}}}})["datasets"]["d"]["malignant"]
adata = ad.read_h5ad(sys.argv[1])
start = time.perf_counter()
reference = adata.obs["truth_reference"].to_numpy()
malignant.infer_cnv(adata, reference, params)
summary = malignant.call_malignant(adata, reference, params)
wall = time.perf_counter() - start
singlet = ~adata.obs["truth_doublet"].to_numpy()
ari = adjusted_rand_score(adata.obs["truth_malignant"][singlet], adata.obs["malignant"][singlet])
print(f"cnv inference + calls: {wall:.1f} s for {adata.n_obs} cells x {adata.n_vars} genes; "
      f"windows {adata.obsm['X_cnv'].shape[1]}; malignant ARI {ari:.3f}")
"""


def sim_params(n_cells: int) -> dict:
    """The simulated tumour of the benchmarks: 4 patients, no low-quality cells."""
    return {"n_cells": n_cells, "n_patients": 4, "samples_per_patient": 1, "n_genes": None,
            "malignant_fraction": 0.45, "csc_fraction": 0.15, "low_quality_fraction": 0.0,
            "doublet_fraction": 0.05, "mean_library_size": 6000}


def prepare(n_cells: int, path: Path) -> None:
    """Simulate ``n_cells``, log-normalise and save with the truth columns."""
    import anndata as ad
    import numpy as np

    from cscniche.cluster import normalise
    from cscniche.simulate import simulate_tumour

    sim = simulate_tumour(sim_params(n_cells), seed=0)
    adata = ad.concat(list(sim.samples.values()), merge="first")
    adata.obs["patient"] = adata.obs_names.str.split("_").str[0]
    truth = sim.truth.set_index("cell_id").loc[adata.obs_names]
    adata.obs["truth_malignant"] = truth["malignant"].to_numpy()
    adata.obs["truth_doublet"] = truth["doublet"].to_numpy()
    adata.obs["truth_csc"] = truth["csc"].to_numpy()
    adata.obs["truth_cell_type"] = truth["cell_type"].to_numpy()
    adata.obs["truth_reference"] = (~truth["malignant"] & ~truth["doublet"]).to_numpy() & (
        np.arange(adata.n_obs) % 2 == 0)  # half of the normal cells as reference
    adata.uns["value_scale"] = "counts"
    normalise(adata)
    del adata.layers["counts"]
    path.parent.mkdir(parents=True, exist_ok=True)
    adata.write_h5ad(path)


def prepared_tumour(description: str) -> Path:
    """Parse ``--cells`` / ``--out`` and return the prepared tumour's h5ad (simulated on first use)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/out")
    args = parser.parse_args()
    path = args.out / f"cnv_{args.cells}.h5ad"
    if not path.exists():
        start = time.perf_counter()
        prepare(args.cells, path)
        print(f"prepared {path} in {time.perf_counter() - start:.0f} s")
    return path


def tree_memory_peak(process: subprocess.Popen, interval: float = 0.2) -> tuple[float, float]:
    """Peak summed RSS and PSS (MB) of ``process`` and its descendants, sampled until it exits."""
    import psutil

    root = psutil.Process(process.pid)
    peak_rss = peak_pss = 0.0
    while process.poll() is None:
        rss = pss = 0.0
        for proc in [root, *root.children(recursive=True)]:
            try:
                info = proc.memory_full_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            rss, pss = rss + info.rss / 1e6, pss + info.pss / 1e6
        peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        time.sleep(interval)
    return peak_rss, peak_pss


def main() -> None:
    path = prepared_tumour(__doc__)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)],
                             env={"PYTHONPATH": str(REPO / "workflow"), "PATH": "/usr/bin:/bin"})
    peak_rss, peak_pss = tree_memory_peak(child)
    if child.returncode:
        raise SystemExit(child.returncode)
    print(f"peak memory of the CNV process tree: RSS {peak_rss:,.0f} MB, PSS {peak_pss:,.0f} MB")


if __name__ == "__main__":
    main()
