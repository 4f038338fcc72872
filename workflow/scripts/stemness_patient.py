"""Snakemake entry point: stemness scorers, consensus and CSC calls of one patient's cells."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.io import read_stage  # noqa: E402
from cscniche.logs import logged  # noqa: E402
from cscniche.stemness import load_gene_sets, read_weights, stemness_of_patient, write_patient  # noqa: E402

with logged(snakemake.log[0]) as log:
    params, patient = snakemake.params.stemness, snakemake.wildcards.patient
    # only this patient's rows of the matrix and its part of the kNN graph are read
    adata = read_stage(snakemake.input.matrix, snakemake.input.h5ad, graph=True, where=("patient", patient))
    log.info("patient %s: read %d cells x %d genes", patient, adata.n_obs, adata.n_vars)
    weights = read_weights(params["mrnasi_weights"]) if params["mrnasi_weights"] else None
    part = stemness_of_patient(adata, params, seed=snakemake.params.seed, weights=weights,
                               gene_sets=load_gene_sets(params))
    log.info("stemness:\n%s", part.summary.to_string())
    write_patient(part, adata.var_names, snakemake.output[0])
