rule cluster:
    """Merge the samples, normalise, HVGs, PCA, Harmony, neighbours, UMAP, Leiden and cluster markers."""
    input:
        lambda w: expand("results/{{dataset}}/qc/{sample}.h5ad", sample=sample_names(w)),
    output:
        h5ad="results/{dataset}/cluster/clustered.h5ad",
        markers="results/{dataset}/cluster/markers.tsv",
    log:
        "results/{dataset}/logs/cluster.log",
    benchmark:
        "results/{dataset}/benchmarks/cluster.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=mem(2000, 1.1),
        runtime=minutes(10, 0.03),
    params:
        cluster=lambda w: dataset(w)["cluster"],
        min_cells_per_gene=lambda w: dataset(w)["qc"]["min_cells_per_gene"],
        seed=SEED,
    script:
        "../scripts/cluster.py"
