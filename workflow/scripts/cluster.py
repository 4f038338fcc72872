"""Snakemake entry point: merge QC-passed samples and cluster them."""
import sys
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche import cluster  # noqa: E402
from cscniche.io import counts_written_first, read_h5ad_checked, write_h5ad, write_table  # noqa: E402
from cscniche.logs import logged  # noqa: E402

with logged(snakemake.log[0]) as log:
    params, seed = snakemake.params.cluster, snakemake.params.seed
    samples = [read_h5ad_checked(f) for f in snakemake.input]
    # merge_samples empties the list: each sample's matrix is freed once merged
    adata = cluster.merge_samples(samples, min_cells_per_gene=snakemake.params.min_cells_per_gene)
    log.info("merged: %d cells x %d genes", adata.n_obs, adata.n_vars)
    # count data: the counts are written first and X is normalised in place (one matrix in memory)
    counts_first = adata.uns["value_scale"] == "counts"
    with counts_written_first(adata, snakemake.output.h5ad) if counts_first else nullcontext():
        cluster.cluster(adata, params, seed=seed, keep_counts=not counts_first)
        log.info("leiden: %d clusters", adata.obs["leiden"].nunique())
    if not counts_first:
        write_h5ad(adata, snakemake.output.h5ad)
    adata.layers.clear()
    write_table(cluster.markers(adata, n_genes=params["n_markers"]), snakemake.output.markers)
