"""Snakemake entry point: CNV inference and malignant-cell calls (or author labels)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.io import read_stage, write_annotations, write_table  # noqa: E402
from cscniche.logs import logged  # noqa: E402
from cscniche.malignant import run_malignant  # noqa: E402

with logged(snakemake.log[0]) as log:
    adata = read_stage(snakemake.input.matrix, snakemake.input.h5ad)
    log.info("read %d cells x %d genes", adata.n_obs, adata.n_vars)
    result = run_malignant(adata, **snakemake.params.malignant, leiden_flavor=snakemake.params.leiden_flavor,
                           seed=snakemake.params.seed,
                           read_counts=lambda genes: read_stage(snakemake.input.matrix, layers=True, genes=genes))
    log.info("calls:\n%s", result.summary.to_string())
    for name in ("summary", "profiles", "clusters", "reference", "light_chains"):
        write_table(getattr(result, name), snakemake.output[name])
    write_annotations(adata, snakemake.output.h5ad)
