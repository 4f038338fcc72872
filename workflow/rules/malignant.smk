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


# one job per dataset draws every patient's heatmap: its outputs (the patients) differ by dataset, so the rule
# is written once per dataset
for name in DATASETS:

    rule:
        """Each patient's inferred copy-number heatmap with the malignant calls."""
        name:
            f"cnv_heatmap_{name}"
        input:
            f"results/{name}/adata.h5ad",
        output:
            **figure_outputs(
                {p: f"results/{name}/figures/cnv_heatmap_{p}" for p in patients(name)},
                caption="../report/cnv_heatmap.rst",
                category="Cell identity",
                subcategory=name,
            ),
        log:
            f"results/{name}/logs/cnv_heatmap.log",
        conda:
            ENV
        params:
            patients=patients(name),
        script:
            "../scripts/cnv_heatmap.py"
