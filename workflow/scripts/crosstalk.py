"""Snakemake entry point: CSC-TME ligand-receptor inference, CSC-specific tests and signalling axes."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.crosstalk import crosstalk_genes, load_axes, load_resource, run_crosstalk  # noqa: E402
from cscniche.io import read_stage, write_atomic, write_table  # noqa: E402
from cscniche.logs import logged  # noqa: E402

with logged(snakemake.log[0]) as log:
    params = snakemake.params.crosstalk
    resource, axes = load_resource(params["resource"]), load_axes(params["axes"])
    genes = crosstalk_genes(resource, axes)
    adata = read_stage(snakemake.input.matrix, snakemake.input.h5ad, genes=genes)  # their columns only
    log.info("resource %s: %d pairs; %d of their and the axes' %d genes in the data", params["resource"],
             len(resource), adata.n_vars, len(genes))
    result = run_crosstalk(adata, **{**params, "resource": resource, "axes": axes}, seed=snakemake.params.seed)
    log.info("%d interactions, %d CSC-specific tests (%d significant)\n%s", len(result.interactions),
             len(result.csc_specific), int(result.csc_specific["significant"].sum()) if len(result.csc_specific)
             else 0, "\n".join(result.notes))
    write_table(result.interactions, snakemake.output.interactions)
    write_table(result.csc_specific, snakemake.output.csc_specific)
    write_table(result.axes, snakemake.output.axes)
    write_atomic(snakemake.output.notes, lambda tmp: tmp.write_text("\n".join(result.notes) + "\n"))
