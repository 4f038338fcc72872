# The final AnnData and the per-cell contract table. Later stages point this rule at their output.
rule export_matrices:
    """Compress X and the counts of the clustered data for the final AnnData."""
    input:
        matrix="results/{dataset}/cluster/clustered.h5ad",
    output:
        temp("results/{dataset}/export/matrices.h5"),
    log:
        "results/{dataset}/logs/export_matrices.log",
    benchmark:
        "results/{dataset}/benchmarks/export_matrices.tsv"
    conda:
        ENV
    resources:
        mem_mb=500,  # copied block by block, never held
        runtime=minutes(5, 0.005),
    script:
        "../scripts/export_matrices.py"


rule export:
    """The final AnnData (scverse conventions) and the per-cell contract table cells.tsv.gz."""
    input:
        matrix="results/{dataset}/cluster/clustered.h5ad",
        matrices="results/{dataset}/export/matrices.h5",
        h5ad="results/{dataset}/stemness/stemness.h5ad",
        interactions="results/{dataset}/crosstalk/interactions.tsv",
    output:
        adata="results/{dataset}/adata.h5ad",
        cells="results/{dataset}/cells.tsv.gz",
    log:
        "results/{dataset}/logs/export.log",
    benchmark:
        "results/{dataset}/benchmarks/export.tsv"
    conda:
        ENV
    resources:
        mem_mb=mem(1500, 0.1),  # annotations only; the compressed matrices are copied as stored
        runtime=minutes(5, 0.001),
    script:
        "../scripts/export.py"


rule export_counts:
    """The counts as a 10x MatrixMarket folder for Seurat and other R tools (built when asked for)."""
    input:
        matrix="results/{dataset}/cluster/clustered.h5ad",
    output:
        directory("results/{dataset}/export/counts"),
    log:
        "results/{dataset}/logs/export_counts.log",
    benchmark:
        "results/{dataset}/benchmarks/export_counts.tsv"
    conda:
        ENV
    resources:
        mem_mb=1500,  # one block of cells at a time
        runtime=minutes(5, 0.02),
    script:
        "../scripts/export_counts.py"
