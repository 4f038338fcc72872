"""Time and peak memory of a comparison's resistance genes and signalling at 100k cells x 8 patients.

usage: python benchmarks/compare_benchmark.py [--cells 100000] [--genes 20000]

Simulates a tumour of 8 patients in two groups (AXL and CD274 planted up in the second group's CSCs),
takes the planted labels as calls, and times what the compare rule does after reading its inputs: the
per-patient CSC-high and CSC-low pseudobulks, PyDESeq2 on them (resistance genes), and the signalling
comparison on an interactions table of the crosstalk stage's size (every CellPhoneDB pair with all genes
in the data, for each ordered pair of the 9 groups and each patient). The simulated malignant cells and
the interactions are written to a temporary folder and the comparison runs in a fresh child process,
reading them as the rule does, so its peak RSS is the comparison's own. Prints seconds and peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))


def main() -> None:
    import scipy.sparse as sp

    from cscniche.config import validate_config
    from cscniche.simulate import simulate_tumour

    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", type=int, default=100_000)
    parser.add_argument("--genes", type=int, default=20_000)
    parser.add_argument("--compare", type=Path, help="only run the comparison on a folder --keep wrote")
    parser.add_argument("--keep", type=Path, help="write the simulated inputs here and keep them")
    args = parser.parse_args()
    if args.compare:
        compare(args.compare)
        return
    groups = ["responder", "non-responder"]
    simulate = {"n_cells": args.cells, "n_patients": 8, "n_genes": args.genes, "csc_diversity": False,
                "condition": {"column": "response", "groups": groups, "csc_fraction": [0.15, 0.15]}}
    params = validate_config({"datasets": {"d": {"simulate": simulate}}})["datasets"]["d"]["simulate"]
    start = time.perf_counter()
    sim = simulate_tumour(params, seed=0, threads=2)
    names = sorted(sim.samples)
    counts = sp.vstack([sim.samples[s].X for s in names], format="csr")
    genes = sim.samples[names[0]].var_names
    truth = sim.truth.set_index("cell_id").loc[[c for s in names for c in sim.samples[s].obs_names]]
    del sim
    obs = pd.DataFrame({"patient": truth["patient"].to_numpy(),
                        "response": [groups[(int(p[1:]) - 1) % 2] for p in truth["patient"]],
                        "malignant": np.where(truth["malignant"], "malignant", "non-malignant"),
                        "csc": np.where(truth["malignant"], np.where(truth["csc"], "CSC-high", "CSC-low"), ""),
                        "cell_type": np.where(truth["malignant"], "malignant", truth["cell_type"])})
    lr_genes = genes.isin(_lr_genes())
    print(f"simulated {counts.shape[0]:,} cells x {counts.shape[1]:,} genes in {time.perf_counter() - start:.0f} s")
    malignant = (obs["malignant"] == "malignant").to_numpy()
    with tempfile.TemporaryDirectory() as temporary:
        import anndata as ad

        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        ad.AnnData(counts[malignant], obs=obs[malignant].reset_index(drop=True).astype(str),
                   var=pd.DataFrame(index=genes)).write_h5ad(Path(folder) / "malignant.h5ad")
        ad.AnnData(counts[:, lr_genes], obs=obs.reset_index(drop=True).astype(str),
                   var=pd.DataFrame(index=genes[lr_genes])).write_h5ad(Path(folder) / "lr_genes.h5ad")
        del counts
        _interactions(rng=np.random.default_rng(0)).to_csv(Path(folder) / "interactions.tsv", sep="\t", index=False)
        subprocess.run([sys.executable, __file__, "--compare", str(folder)], check=True)


def compare(folder: Path) -> None:
    """What the compare rule does after its inputs exist: read, pseudobulk, DESeq2, signalling."""
    import anndata as ad

    from cscniche.compare import csc_pseudobulks, group_expression_changes, resistance_genes, signalling_differences

    groups = ["responder", "non-responder"]
    start = time.perf_counter()
    malignant = ad.read_h5ad(folder / "malignant.h5ad")
    bulk, meta = csc_pseudobulks(malignant.X, malignant.obs, malignant.var_names, column="response", groups=groups,
                                 min_cells=10)
    table = resistance_genes(bulk, meta, groups, threads=2)
    resistance_s = time.perf_counter() - start
    top = table.head(3)["gene"].tolist()
    n_malignant = malignant.n_obs
    del malignant
    start = time.perf_counter()
    lr = ad.read_h5ad(folder / "lr_genes.h5ad")
    expression = group_expression_changes(lr.X, lr.obs, lr.var_names, column="response", groups=groups,
                                          min_cells=10, threads=2)
    expression_s = time.perf_counter() - start
    start = time.perf_counter()
    interactions = pd.read_csv(folder / "interactions.tsv", sep="\t", dtype={"patient": str},
                               keep_default_na=False, na_values=[""])
    signalling = signalling_differences(interactions, pd.Series({f"P{i}": groups[(i - 1) % 2] for i in range(1, 9)}),
                                        groups, expression=expression)
    signalling_s = time.perf_counter() - start
    print(f"resistance genes ({n_malignant:,} malignant cells, {len(table):,} genes tested, reading "
          f"included): {resistance_s:.1f} s; top genes {top}")
    print(f"ligands and receptors ({lr.n_obs:,} cells x {lr.n_vars:,} genes, {expression['cell_group'].nunique()} "
          f"cell groups, {len(expression):,} tests, reading included): {expression_s:.1f} s")
    print(f"signalling ({len(interactions):,} interaction rows, {len(signalling):,} compared, reading included): "
          f"{signalling_s:.1f} s")
    # VmHWM: this process's own peak (getrusage's maxrss would carry the parent's peak over the exec)
    own = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
               if line.startswith("VmHWM:")) / 1e6
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6
    print(f"peak RSS of the comparison: {own:.2f} GB (its process), {workers:.2f} GB (largest DESeq2 worker)")


def _lr_genes() -> set[str]:
    """The genes of the CellPhoneDB pairs in ../shared/data/ligand_receptor."""
    from cscniche.crosstalk import load_resource

    resource = load_resource(str(REPO.parent / "shared/data/ligand_receptor"))
    return {gene for entity in pd.concat([resource["ligand"], resource["receptor"]]) for gene in entity.split("_")}


def _interactions(*, rng: np.random.Generator) -> pd.DataFrame:
    """An interactions table of the crosstalk stage's shape: 1,200 pairs x 9 x 8 ordered groups x 8 patients."""
    groups = ["CSC-high", "CSC-low", "T", "NK", "B", "macrophage", "fibroblast", "endothelial", "MSC"]
    rows = [(f"P{p}", f"L{i}", f"R{i}", s, t) for p in range(1, 9) for i in range(1200)
            for s in groups for t in groups if s != t]
    table = pd.DataFrame(rows, columns=["patient", "ligand", "receptor", "source", "target"])
    for column in ("ligand_mean", "receptor_mean"):
        table[column] = rng.gamma(0.5, 0.5, len(table))
    table["lr_product"] = table["ligand_mean"] * table["receptor_mean"]
    table["pathway"] = ""
    return table


if __name__ == "__main__":
    main()
