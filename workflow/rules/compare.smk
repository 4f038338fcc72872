rule compare:
    """Composition, CSC resistance genes and CSC-TME signalling between two groups of patients."""
    input:
        cells="results/{dataset}/cells.tsv.gz",
        matrix="results/{dataset}/cluster/clustered.h5ad",
        h5ad="results/{dataset}/stemness/stemness.h5ad",
        interactions="results/{dataset}/crosstalk/interactions.tsv",
        gene_sets=lambda w: [s["path"] for s in dataset(w)["biomarkers"]["gene_sets"]],
    output:
        per_patient="results/{dataset}/compare/{comparison}/composition_per_patient.tsv",
        test="results/{dataset}/compare/{comparison}/composition.tsv",
        genes="results/{dataset}/compare/{comparison}/resistance_genes.tsv",
        gsea="results/{dataset}/compare/{comparison}/resistance_gsea.tsv",
        signalling="results/{dataset}/compare/{comparison}/signalling.tsv",
        notes="results/{dataset}/compare/{comparison}/notes.txt",
    log:
        "results/{dataset}/logs/compare/{comparison}.log",
    benchmark:
        "results/{dataset}/benchmarks/compare/{comparison}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=mem(1500, 0.5),  # the malignant cells' counts and one pseudobulk per patient
        runtime=minutes(5, 0.005),
    params:
        comparison=lambda w: comparison(w.dataset, w.comparison),
        biomarkers=lambda w: dataset(w)["biomarkers"],
        crosstalk=lambda w: dataset(w)["crosstalk"],
        seed=SEED,
    script:
        "../scripts/compare.py"


rule compare_figure:
    """One comparison's composition, resistance-gene and signalling panels."""
    input:
        per_patient="results/{dataset}/compare/{comparison}/composition_per_patient.tsv",
        test="results/{dataset}/compare/{comparison}/composition.tsv",
        genes="results/{dataset}/compare/{comparison}/resistance_genes.tsv",
        signalling="results/{dataset}/compare/{comparison}/signalling.tsv",
    output:
        png=report(
            "results/{dataset}/figures/compare_{comparison}.png",
            caption="../report/compare.rst",
            category="Comparisons",
            subcategory="{dataset}",
        ),
        svg="results/{dataset}/figures/compare_{comparison}.svg",
    log:
        "results/{dataset}/logs/compare_figure/{comparison}.log",
    conda:
        REPORT_ENV
    script:
        "../scripts/compare_figure.py"
