"""Time and peak memory of the crosstalk stage beside liana's rank_aggregate on the same cells.

usage: python benchmarks/crosstalk_benchmark.py [--cells 100000] [--out benchmarks/out] [--perms 1000]

The simulated tumour of benchmarks/cnv_benchmark.py (4 patients, log-normalised; simulated on first use).
Groups per patient from the planted truth: 7 TME types plus CSC-high and CSC-low malignant cells (9 groups,
36 group-patient pairs). Each method runs in a fresh child process that prints its wall time and its peak
resident memory above what the loaded data already hold (sampled every 20 ms):

* cscniche: ``cscniche.crosstalk.infer_crosstalk`` (CellPhoneDB-style test per patient, the CSC-specific
  test across patients; liana's magnitude rank aggregate off, as it is a liana call).
* liana: ``liana.mt.rank_aggregate.by_sample`` per patient with the same resource, expr_prop, min_cells and
  number of permutations.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))
sys.path.insert(0, str(REPO / "benchmarks"))

SETUP = """
import resource, sys, threading, time, warnings
import anndata as ad, numpy as np, pandas as pd
warnings.simplefilter("ignore")
from cscniche import crosstalk as ct
adata = ad.read_h5ad(sys.argv[1])
n_perms = int(sys.argv[2])
keep = ~adata.obs["truth_doublet"].to_numpy()
adata = adata[keep].copy()
malignant = adata.obs["truth_malignant"].to_numpy()
adata.obs["malignant"] = np.where(malignant, "malignant", "non-malignant")
adata.obs["cell_type"] = adata.obs["truth_cell_type"].astype(str)
adata.obs["csc"] = np.where(malignant, np.where(adata.obs["truth_csc"], "CSC-high", "CSC-low"), "")
resource_table = ct.load_resource("liana:consensus")
params = {"min_cells": 10, "expr_prop": 0.1, "n_perms": n_perms, "fdr": 0.05, "rank_aggregate": False}


def rss_mb():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


class PeakRSS(threading.Thread):
    # samples the resident set every 20 ms: the method's own peak above the memory held before it started
    def __init__(self):
        super().__init__(daemon=True)
        self.base, self.peak, self.running = rss_mb(), 0.0, True

    def run(self):
        while self.running:
            self.peak = max(self.peak, rss_mb())
            time.sleep(0.02)

    def stop(self):
        self.running = False
        self.join()
        return max(self.peak, rss_mb()) - self.base


start = time.perf_counter()
"""
CSCNICHE = SETUP + """
monitor = PeakRSS()
monitor.start()
start = time.perf_counter()
interactions, specific, notes = ct.infer_crosstalk(adata, resource_table, params, seed=0)
wall = time.perf_counter() - start
print(f"cscniche: {wall:.1f} s, peak RSS {monitor.stop():.0f} MB above the loaded data; "
      f"{len(interactions)} interactions, {len(specific)} CSC-specific tests")
"""
LIANA = SETUP + """
import liana
adata.obs["group"] = pd.Categorical(ct.cell_groups(adata.obs))
adata = adata[adata.obs["group"].astype(str) != ""].copy()
entities, usable = ct.Entities.from_resource(resource_table, adata.var_names)
monitor = PeakRSS()
monitor.start()
start = time.perf_counter()
liana.mt.rank_aggregate.by_sample(adata, groupby="group", sample_key="patient", resource=usable[["ligand", "receptor"]],
                                  expr_prop=0.1, min_cells=10, n_perms=n_perms, use_raw=False, verbose=False, seed=0)
wall = time.perf_counter() - start
print(f"liana rank_aggregate: {wall:.1f} s, peak RSS {monitor.stop():.0f} MB above the loaded data; "
      f"{len(adata.uns['liana_res'])} rows")
"""


def main() -> None:
    from cnv_benchmark import prepare

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/out")
    parser.add_argument("--perms", type=int, default=1000)
    args = parser.parse_args()
    path = args.out / f"cnv_{args.cells}.h5ad"
    if not path.exists():
        prepare(args.cells, path)
    env = {"PYTHONPATH": str(REPO / "workflow"), "PATH": "/usr/bin:/bin"}
    outputs = {}
    for name, code in (("cscniche", CSCNICHE), ("liana", LIANA)):
        run = subprocess.run([sys.executable, "-c", code, str(path), str(args.perms)], env=env, check=True,
                             capture_output=True, text=True)
        outputs[name] = run.stdout.strip()
        print(outputs[name], flush=True)
    seconds = {k: float(v.split(":")[1].split(" s,")[0]) for k, v in outputs.items()}
    memory = {k: float(v.split("peak RSS ")[1].split(" MB")[0]) for k, v in outputs.items()}
    print(f"ratio cscniche / liana: time {seconds['cscniche'] / seconds['liana']:.2f}x, "
          f"peak memory {memory['cscniche'] / memory['liana']:.2f}x ({args.cells} cells, {args.perms} permutations)")


if __name__ == "__main__":
    main()
