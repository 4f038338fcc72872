"""Snakemake entry point: CSC-high vs CSC-low DE, GSEA and the ranked biomarker table."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cscniche.biomarkers import run_biomarkers  # noqa: E402
from cscniche.crosstalk import load_axes, load_resource  # noqa: E402
from cscniche.genesets import load_gene_sets  # noqa: E402
from cscniche.io import on_disk_layer, read_stage, write_atomic, write_table  # noqa: E402
from cscniche.logs import logged  # noqa: E402

# the counts stay on disk: the pseudobulk reads only the malignant cells' rows
with logged(snakemake.log[0]) as log, on_disk_layer(snakemake.input.matrix, "counts") as counts:
    adata = read_stage(snakemake.input.matrix, snakemake.input.h5ad)
    talk = snakemake.params.crosstalk
    result = run_biomarkers(
        adata, **snakemake.params.biomarkers, stemness_gene_sets=load_gene_sets(snakemake.params.stemness),
        axes=load_axes(talk["axes"]), resource=load_resource(talk["resource"]), seed=snakemake.params.seed,
        counts=counts, threads=snakemake.threads)
    log.info("%s\ntop biomarkers: %s", "\n".join(result.notes), ", ".join(result.biomarkers["gene"].head(20)))
    for name in ("biomarkers", "de", "gsea", "ranking", "running", "expression"):
        write_table(getattr(result, name), snakemake.output[name])
    write_atomic(snakemake.output.notes, lambda tmp: tmp.write_text("\n".join(result.notes) + "\n"))
