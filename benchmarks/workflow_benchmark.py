"""Scale benchmark: the whole cscniche workflow and the bare scanpy chain on the same simulated cells.

usage: python benchmarks/workflow_benchmark.py [--cells 10000 50000 100000 200000] [--demo] [--cores 2]
                                               [--genes 20000] [--library-size 6000] [--out benchmarks/out]
                                               [--mem-mb 20000] [--bare-total S | --no-bare]

For each size, one invocation runs, one after the other:

(a) the whole workflow (every stage, report included) in a fresh Snakemake run: simulated tumour of N cells,
    4 patients x 2 samples, ``--genes`` genes (synthetic genes beyond the ~9,500 real ones), integration
    off (the bare chain has none), mean library size ``--library-size`` UMIs (default 6,000, the simulator's:
    3,600 genes per cell, 18% non-zero at 20k genes, about twice a 10x dataset's density; 2,500 gives ~1,850
    genes per cell and 9.4% non-zero, but at that depth over 20k genes the planted CSC programme is too faint
    to call, stemness is ``weak`` and biomarkers take the exploratory path);
    printed: total wall time, per-rule wall time, max RSS and max PSS from the rules' Snakemake
    ``benchmark:`` files (PSS counts memory shared with a forked worker once, RSS twice), the ``mem_mb``
    each rule asked for (largest over its jobs, from Snakemake's log) and the smallest ratio of a job's ask
    to its max PSS and to its max RSS (below 1, a SLURM job with that ask is killed: by PSS where SLURM
    limits memory with cgroups, which count shared pages once; by RSS where it sums its processes' RSS),
    and the peak memory in use on the whole machine (all jobs together) with the jobs running at that moment;
(b) the bare scanpy chain on the same raw samples, in a child process: concat, QC metrics and filters,
    scrublet per sample, normalise, log1p, HVG, PCA, neighbours, Leiden at the workflow's three resolutions,
    UMAP, Wilcoxon markers; printed: wall time and peak RSS per step;

and the ratio workflow / bare chain for the stages both perform: the wall clock from the end of ``simulate``
to the end of ``cluster`` (ingest, per-sample QC, merge ... markers, with scheduling and file I/O), and the
ingest, qc and cluster job times summed (two jobs run at a time, so the sum exceeds the wall clock).
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED_STAGES = ("ingest", "qc", "cluster")

BARE_CHAIN = r"""
import resource, sys, time, warnings
from pathlib import Path
warnings.simplefilter("ignore")
import anndata as ad, numpy as np, scanpy as sc
times = {}
def step(name, start):
    times[name] = time.perf_counter() - start
    return time.perf_counter()
t0 = t = time.perf_counter()
files = sorted(Path(sys.argv[1]).glob("*.h5ad"))
adata = ad.concat({f.stem: ad.read_h5ad(f) for f in files}, label="sample", index_unique=None)
t = step("read", t)
adata.var["mt"] = adata.var_names.str.startswith("MT-")
sc.pp.calculate_qc_metrics(adata, qc_vars=["mt"], inplace=True, percent_top=None)
adata = adata[(adata.obs["n_genes_by_counts"] >= 200) & (adata.obs["pct_counts_mt"] < 20)].copy()
sc.pp.scrublet(adata, batch_key="sample", random_state=0)
adata = adata[~adata.obs["predicted_doublet"].to_numpy()].copy()
sc.pp.filter_genes(adata, min_cells=3)
t = step("qc+scrublet", t)
sc.pp.normalize_total(adata, target_sum=1e4); sc.pp.log1p(adata)
t = step("normalise", t)
sc.pp.highly_variable_genes(adata, n_top_genes=2000, flavor="seurat")
t = step("hvg", t)
sc.pp.pca(adata, n_comps=30, mask_var="highly_variable", svd_solver="arpack", random_state=0)
t = step("pca", t)
sc.pp.neighbors(adata, n_neighbors=15, n_pcs=30, random_state=0)
t = step("neighbours", t)
for res in (0.3, 0.5, 1.0):
    sc.tl.leiden(adata, resolution=res, key_added=f"leiden_{res}", flavor="leidenalg", random_state=0)
t = step("leiden_x3", t)
sc.tl.umap(adata, random_state=0)
t = step("umap", t)
sc.tl.rank_genes_groups(adata, "leiden_0.3", method="wilcoxon")
t = step("wilcoxon_markers", t)
times["total"] = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(" ".join(f"{k}={v:.1f}" for k, v in times.items()) + f" peak_rss_mb={peak:.0f} cells={adata.n_obs}")
"""


def machine_mb_in_use() -> float:
    """Memory in use on the machine (MemTotal - MemAvailable), MB."""
    info = dict(line.split(":") for line in Path("/proc/meminfo").read_text().splitlines())
    return (int(info["MemTotal"].split()[0]) - int(info["MemAvailable"].split()[0])) / 1024


def run_workflow(workdir: Path, config: dict, cores: int, mem_mb: int) -> tuple[float, float, float]:
    """Run Snakemake on ``config`` in ``workdir`` (jobs side by side within ``mem_mb``).

    Returns the wall seconds, the peak memory in use on the machine during the run, above what was in use
    before it (sampled every half second: all jobs together, page cache excluded), and when that peak was
    (epoch seconds; see :func:`jobs_running_at`)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    before, peak, done = machine_mb_in_use(), [0.0, time.time()], threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            in_use = machine_mb_in_use() - before
            if in_use > peak[0]:
                peak[:] = [in_use, time.time()]

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    log = workdir / "snakemake.log"
    try:
        with log.open("w") as out:  # the jobs' blocks (resources included) go to the log, not the terminal
            run = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
                                  "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"),
                                  "--cores", str(cores), "--resources", f"mem_mb={mem_mb}", "--forceall",
                                  "--quiet", "progress", "host", "reason"], stdout=out, stderr=subprocess.STDOUT)
    finally:
        done.set()
        sampler.join()
    if run.returncode != 0:
        sys.exit(f"snakemake failed (exit code {run.returncode}); its output is in {log}:\n"
                 + "\n".join(log.read_text().splitlines()[-30:]))
    return time.perf_counter() - start, peak[0], peak[1]


def memory_asked(log: Path) -> dict[str, int]:
    """``mem_mb`` each job asked for, by its benchmark file (relative to the working directory), from a
    Snakemake log that prints the jobs' blocks."""
    asked, benchmark = {}, None
    for line in log.read_text().splitlines():
        key, _, value = line.strip().partition(": ")
        if key == "benchmark":
            benchmark = value
        elif key == "resources" and benchmark:
            resources = dict(item.split("=", 1) for item in value.split(", "))
            asked[benchmark] = int(resources["mem_mb"])
            benchmark = None
    return asked


def jobs_running_at(results: Path, when: float) -> list[str]:
    """The jobs whose Snakemake benchmark file spans the epoch time ``when`` (it ends at the file's mtime)."""
    running = []
    for f in sorted(results.glob("*/benchmarks/**/*.tsv")):
        end = f.stat().st_mtime
        if end - pd.read_csv(f, sep="\t")["s"].iloc[0] <= when <= end:
            running.append(str(f.relative_to(results)).split("/benchmarks/")[1].removesuffix(".tsv"))
    return running


def per_rule(workdir: Path) -> pd.DataFrame:
    """Per rule, from the Snakemake benchmark files under ``workdir/results`` and the run's log: jobs, summed
    wall time, largest max RSS and max PSS, largest ``mem_mb`` asked, smallest ratios of a job's ask to its
    max PSS and max RSS."""
    asked = memory_asked(workdir / "snakemake.log")
    rows = []
    for f in sorted((workdir / "results").glob("*/benchmarks/**/*.tsv")):
        rel = f.relative_to(workdir / "results")
        t = pd.read_csv(f, sep="\t")
        mem_mb = asked.get(str(f.relative_to(workdir)), float("nan"))
        rows.append({"dataset": rel.parts[0], "rule": rel.parts[2].removesuffix(".tsv"), "s": t["s"].iloc[0],
                     "max_rss_mb": t["max_rss"].iloc[0], "max_pss_mb": t["max_pss"].iloc[0], "asked_mb": mem_mb,
                     "asked_over_pss": mem_mb / t["max_pss"].iloc[0], "asked_over_rss": mem_mb / t["max_rss"].iloc[0]})
    df = pd.DataFrame(rows)
    return df.groupby(["dataset", "rule"], sort=False).agg(jobs=("s", "size"), wall_s=("s", "sum"),
                                                           max_rss_mb=("max_rss_mb", "max"),
                                                           max_pss_mb=("max_pss_mb", "max"),
                                                           asked_mb=("asked_mb", "max"),
                                                           asked_over_pss=("asked_over_pss", "min"),
                                                           asked_over_rss=("asked_over_rss", "min")).reset_index()


def shared_span(results: Path) -> float:
    """Wall clock from the simulated samples (end of ``simulate``) to the clustered AnnData (end of
    ``cluster``: the markers table is written last): ingest, QC and cluster with Snakemake's scheduling and
    file I/O."""
    start = max(f.stat().st_mtime for f in (results / "raw").glob("*.h5ad"))
    end = max((results / "cluster" / name).stat().st_mtime for name in ("clustered.h5ad", "markers.tsv"))
    return end - start


def bare_chain(raw: Path) -> dict[str, float] | None:
    """Run the bare scanpy chain on the raw samples in a child process; its timings and peak RSS.

    ``None`` when the chain fails (at 200k cells x 20k genes it needs more than this machine's 24 GB: the
    kernel kills it), after printing how it ended.
    """
    out = subprocess.run([sys.executable, "-c", BARE_CHAIN, str(raw)], capture_output=True, text=True)
    if out.returncode != 0:
        killed = " (killed: out of memory)" if out.returncode in (-9, 137) else ""
        print(f"bare scanpy chain failed with exit code {out.returncode}{killed}: {out.stderr.strip()[-500:]}")
        return None
    last = out.stdout.strip().splitlines()[-1]
    return {k: float(v) for k, v in (item.split("=") for item in last.split())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, nargs="*", default=[10_000, 50_000, 100_000, 200_000],
                        help="sizes to run (500000 as an option)")
    parser.add_argument("--genes", type=int, default=20_000)
    parser.add_argument("--demo", action="store_true", help="also run the demo config (config/config.yaml)")
    parser.add_argument("--library-size", type=float, default=6000,
                        help="mean UMIs per cell of the simulated tumours (default 6000: ~3,600 genes per cell)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--mem-mb", type=int, default=20_000,
                        help="memory the jobs may use together (Snakemake --resources mem_mb; as the local profile)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/out")
    parser.add_argument("--no-bare", action="store_true", help="run the workflow only (no bare chain, no ratio)")
    parser.add_argument("--bare-total", type=float, default=None,
                        help="skip the bare chain and compare with this earlier bare-chain total (seconds)")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {platform.system()} {platform.release()}, cores used: {args.cores}; "
          f"python {platform.python_version()}, scanpy {metadata.version('scanpy')}, "
          f"snakemake {metadata.version('snakemake')}", flush=True)
    if args.demo:
        demo = yaml.safe_load((REPO / "config/config.yaml").read_text())
        for ds in demo["datasets"].values():
            if "samples" in ds:
                ds["samples"] = str(REPO / ds["samples"])
        wall, _, _ = run_workflow(args.out / "demo", demo, args.cores, args.mem_mb)
        print(f"\n== demo: total wall {wall:.1f} s")
        print(per_rule(args.out / "demo").to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    for n in args.cells:
        name = f"sim{n}"
        config = {"seed": 0, "cluster": {"integration": "none"},
                  "datasets": {name: {"simulate": {"n_cells": n, "n_patients": 4, "samples_per_patient": 2,
                                                   "n_genes": args.genes,
                                                   "mean_library_size": args.library_size}}}}
        wall, machine_mb, peak_at = run_workflow(args.out / name, config, args.cores, args.mem_mb)
        rules = per_rule(args.out / name)
        print(f"\n== {name} ({args.genes} genes, 8 samples, {args.library_size:g} UMIs per cell): whole workflow "
              f"{wall:.1f} s wall, largest job max PSS {rules['max_pss_mb'].max():.0f} MB "
              f"(max RSS {rules['max_rss_mb'].max():.0f} MB), peak memory in use on the machine "
              f"{machine_mb:.0f} MB (all jobs together; running then: "
              f"{', '.join(jobs_running_at(args.out / name / 'results', peak_at)) or 'no benchmarked job'})",
              flush=True)
        print(rules.to_string(index=False, float_format=lambda v: f"{v:.1f}"), flush=True)
        results = args.out / name / "results" / name
        simulate_s = rules.loc[rules["rule"] == "simulate", "wall_s"].sum()
        span = shared_span(results)
        print(f"whole workflow without the simulation (simulate runs alone first): {wall - simulate_s:.1f} s; "
              f"ingest to markers, wall clock: {span:.1f} s", flush=True)
        if args.no_bare:
            continue
        if args.bare_total is not None:
            print(f"bare chain not rerun; given total {args.bare_total:.1f} s: workflow ingest to markers "
                  f"{span / args.bare_total:.2f}x", flush=True)
            continue
        bare = bare_chain(results / "raw")
        if bare is None:
            continue
        shared = rules.loc[rules["rule"].isin(SHARED_STAGES), "wall_s"].sum()
        print("bare scanpy chain: " + ", ".join(f"{k} {v:.1f} s" for k, v in bare.items()
                                                if k not in ("peak_rss_mb", "cells")))
        print(f"bare chain peak RSS {bare['peak_rss_mb']:.0f} MB on {bare['cells']:.0f} cells; workflow ingest to "
              f"markers {span:.1f} s wall = {span / bare['total']:.2f}x the bare chain (ingest+qc+cluster job "
              f"times summed, two jobs at a time: {shared:.1f} s = {shared / bare['total']:.2f}x)", flush=True)


if __name__ == "__main__":
    main()
