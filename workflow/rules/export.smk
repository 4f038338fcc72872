# The final AnnData and the per-cell contract table. Later stages point this rule at their output.
rule export:
    input:
        matrix="results/{dataset}/cluster/clustered.h5ad",
        h5ad="results/{dataset}/stemness/stemness.h5ad",
    output:
        adata="results/{dataset}/adata.h5ad",
        cells="results/{dataset}/cells.tsv.gz",
    log:
        "results/{dataset}/logs/export.log",
    benchmark:
        "results/{dataset}/benchmarks/export.tsv"
    resources:
        mem_mb=mem(1500, 0.1),  # the matrices are copied block by block, never held
        runtime=minutes(5, 0.005),
    conda:
        ENV
    script:
        "../scripts/export.py"
