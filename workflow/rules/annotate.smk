rule annotate:
    """Cell types from curated marker sets (kNN-smoothed scores), cluster majority and purity."""
    input:
        h5ad="results/{dataset}/cluster/clustered.h5ad",
        markers=lambda w: dataset(w)["annotate"]["markers"],
        model=lambda w: [m] if (m := dataset(w)["annotate"]["celltypist_model"]) else [],
    output:
        h5ad="results/{dataset}/identity/annotated.h5ad",
        clusters="results/{dataset}/identity/clusters.tsv",
        agreement="results/{dataset}/identity/agreement.tsv",
        marker_sets="results/{dataset}/identity/marker_sets.tsv",
        marker_expression="results/{dataset}/identity/marker_expression.tsv",
    log:
        "results/{dataset}/logs/annotate.log",
    benchmark:
        "results/{dataset}/benchmarks/annotate.tsv"
    conda:
        ENV
    resources:
        mem_mb=mem(1500, 0.45),
        runtime=minutes(10, 0.006),
    params:
        annotate=lambda w: dataset(w)["annotate"],
    script:
        "../scripts/annotate.py"
