"""Snakemake entry point: stemness scorers, consensus and CSC calls."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.io import read_stage, write_annotations, write_table  # noqa: E402
from cscniche.logs import logged  # noqa: E402
from cscniche.stemness import load_gene_sets, run_stemness, ssgsea_crosscheck  # noqa: E402

with logged(snakemake.log[0]) as log:
    adata = read_stage(snakemake.input.matrix, snakemake.input.h5ad, graph=True)
    log.info("read %d cells x %d genes", adata.n_obs, adata.n_vars)
    params = snakemake.params.stemness
    summary, agreement = run_stemness(adata, params, seed=snakemake.params.seed)
    log.info("stemness:\n%s", summary.to_string())
    metacells, check = ssgsea_crosscheck(adata, load_gene_sets(params), size=params["metacell_size"],
                                         seed=snakemake.params.seed)
    log.info("ssGSEA vs UCell on metacells:\n%s", check.to_string())
    write_table(metacells, snakemake.output.ssgsea)
    write_table(check, snakemake.output.ssgsea_check)
    write_table(summary, snakemake.output.summary)
    write_table(agreement, snakemake.output.agreement)
    write_annotations(adata, snakemake.output.h5ad)
