"""Time of all stemness scorers, the consensus and CSC calls (with stability) on a simulated tumour.

usage: python benchmarks/stemness_benchmark.py [--cells 100000] [--out benchmarks/out]

Reuses the log-normalised simulated tumour that cnv_benchmark.py prepares (prepared here if missing);
the kNN graph for CytoTRACE smoothing is built first and not timed (the workflow's cluster step makes it).
Scorers: CytoTRACE-style diversity, mRNAsi (../shared PCBC weights), UCell and program scores of the CSC
markers and two GMT sets (../shared), each set's coherence test. Prints wall time, ms per malignant cell
and per cell, and the AUROC of planted CSCs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))
SHARED = REPO.parent / "shared" / "data" / "gene_sets"


def main() -> None:
    import anndata as ad
    import numpy as np
    import scanpy as sc
    from cnv_benchmark import prepared_tumour
    from sklearn.metrics import roc_auc_score

    from cscniche.config import validate_config
    from cscniche.stemness import run_stemness

    adata = ad.read_h5ad(prepared_tumour(__doc__))
    adata.obs["malignant"] = np.where(adata.obs["truth_malignant"] & ~adata.obs["truth_doublet"], "malignant",
                                      "non-malignant")
    sc.pp.pca(adata, n_comps=30, svd_solver="arpack", random_state=0)
    sc.pp.neighbors(adata, n_neighbors=15, random_state=0)
    params = validate_config({"datasets": {"d": {"simulate": {}, "stemness": {
        "mrnasi_weights": str(SHARED / "pcbc-stemsig.tsv"),
        "gmt": [{"path": str(SHARED / "c2.v6.0_stemness_subset.symbols.gmt"),
                 "sets": ["BENPORATH_ES_1", "WONG_EMBRYONIC_STEM_CELL_CORE"]}]}}}})["datasets"]["d"]["stemness"]
    start = time.perf_counter()
    summary = run_stemness(adata, **params, seed=0).summary
    wall = time.perf_counter() - start
    n_mal = int((adata.obs["malignant"] == "malignant").sum())
    truth = adata.obs["truth_csc"].to_numpy() if "truth_csc" in adata.obs else simulate_truth_csc(adata)
    mal = (adata.obs["malignant"] == "malignant").to_numpy()
    auroc = roc_auc_score(truth[mal], adata.obs["stemness"].to_numpy()[mal])
    print(f"stemness (8 scorers, coherence tests, consensus, calls, 20 subsamples): {wall:.1f} s for {n_mal} "
          f"malignant of {adata.n_obs} cells = {1000 * wall / n_mal:.3f} ms per malignant cell, "
          f"{1000 * wall / adata.n_obs:.3f} ms per cell; consensus AUROC {auroc:.3f}")
    print(summary.to_string())


def simulate_truth_csc(adata):
    """Planted CSC flags of cells prepared before truth_csc was stored (regenerates the truth)."""
    from cnv_benchmark import sim_params

    from cscniche.simulate import simulate_tumour

    truth = simulate_tumour(sim_params(adata.n_obs), seed=0).truth.set_index("cell_id")
    return truth.loc[adata.obs_names, "csc"].to_numpy()


if __name__ == "__main__":
    main()
