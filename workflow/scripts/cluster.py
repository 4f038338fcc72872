"""Snakemake entry point: merge QC-passed samples and cluster them."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.cluster import run_cluster  # noqa: E402
from cscniche.io import read_h5ad_checked, write_table  # noqa: E402
from cscniche.logs import logged  # noqa: E402

with logged(snakemake.log[0]):
    samples = [read_h5ad_checked(f) for f in snakemake.input]
    result = run_cluster(samples, **snakemake.params.cluster, min_cells_per_gene=snakemake.params.min_cells_per_gene,
                         seed=snakemake.params.seed, out=snakemake.output.h5ad)
    write_table(result.markers, snakemake.output.markers)
