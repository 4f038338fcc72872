"""Snakemake entry point: merge QC-passed samples and cluster them."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche import cluster  # noqa: E402
from cscniche.io import read_h5ad_checked, write_h5ad, write_table  # noqa: E402
from cscniche.logs import logged  # noqa: E402

with logged(snakemake.log[0]) as log:
    params, seed = snakemake.params.cluster, snakemake.params.seed
    # the list is not kept: the per-sample objects are freed once merged
    adata = cluster.merge_samples([read_h5ad_checked(f) for f in snakemake.input],
                                  min_cells_per_gene=snakemake.params.min_cells_per_gene)
    log.info("merged: %d cells x %d genes", adata.n_obs, adata.n_vars)
    cluster.cluster(adata, params, seed=seed)
    markers = cluster.markers(adata, n_genes=params["n_markers"])
    log.info("leiden: %d clusters", adata.obs["leiden"].nunique())
    write_table(markers, snakemake.output.markers)
    write_h5ad(adata, snakemake.output.h5ad)
