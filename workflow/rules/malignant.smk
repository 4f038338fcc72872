rule malignant:
    """Malignant calls from inferred copy number against a verified normal reference, and B-cell clones."""
    input:
        matrix="results/{dataset}/cluster/clustered.h5ad",
        h5ad="results/{dataset}/identity/annotated.h5ad",
        positions=lambda w: [p] if (p := malignant_params(w)["gene_positions"]) else [],
    output:
        h5ad="results/{dataset}/identity/identity.h5ad",
        summary="results/{dataset}/identity/malignant_summary.tsv",
        profiles="results/{dataset}/identity/cnv_profiles.tsv.gz",
        clusters="results/{dataset}/identity/cnv_clusters.tsv",
        reference="results/{dataset}/identity/cnv_reference.tsv",
        light_chains="results/{dataset}/identity/light_chains.tsv",
    log:
        "results/{dataset}/logs/malignant.log",
    benchmark:
        "results/{dataset}/benchmarks/malignant.tsv"
    conda:
        ENV
    resources:
        mem_mb=mem(2500, 1.0),  # peak 4.4 GB at 50k cells (2.8 GB input), 5.9 at 100k (5.5), 9.5 at 200k (11.1)
        runtime=minutes(10, 0.01),
    params:
        malignant=malignant_params,
        leiden_flavor=lambda w: dataset(w)["cluster"]["leiden_flavor"],
        seed=SEED,
    script:
        "../scripts/malignant.py"


rule cnv_heatmap:
    """One patient's inferred copy-number heatmap with the malignant calls."""
    input:
        "results/{dataset}/adata.h5ad",
    output:
        png=report(
            "results/{dataset}/figures/cnv_heatmap_{patient}.png",
            caption="../report/cnv_heatmap.rst",
            category="Cell identity",
            subcategory="{dataset}",
        ),
        svg="results/{dataset}/figures/cnv_heatmap_{patient}.svg",
    log:
        "results/{dataset}/logs/cnv_heatmap/{patient}.log",
    conda:
        ENV
    script:
        "../scripts/cnv_heatmap.py"
