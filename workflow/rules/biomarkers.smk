rule biomarkers:
    """CSC biomarkers: CSC-high against CSC-low malignant cells (pseudobulk DESeq2 per patient), GSEA."""
    input:
        matrix="results/{dataset}/cluster/clustered.h5ad",
        h5ad="results/{dataset}/stemness/stemness.h5ad",
        config_files=biomarker_inputs,
    output:
        biomarkers="results/{dataset}/biomarkers/biomarkers.tsv",
        de="results/{dataset}/biomarkers/de.tsv",
        gsea="results/{dataset}/biomarkers/gsea.tsv",
        ranking="results/{dataset}/biomarkers/gsea_ranking.tsv",
        running="results/{dataset}/biomarkers/gsea_running.tsv",
        expression="results/{dataset}/biomarkers/top_expression.tsv",
        notes="results/{dataset}/biomarkers/notes.txt",
    log:
        "results/{dataset}/logs/biomarkers.log",
    benchmark:
        "results/{dataset}/benchmarks/biomarkers.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=mem(2000, 0.65),  # one copy of X: 9.8 GB RSS at 458k cells (14.8 GB input), 4.3 GB at 92k (5.7 GB)
        runtime=minutes(10, 0.01),
    params:
        biomarkers=lambda w: dataset(w)["biomarkers"],
        stemness=lambda w: dataset(w)["stemness"],
        crosstalk=lambda w: dataset(w)["crosstalk"],
        seed=SEED,
    script:
        "../scripts/biomarkers.py"


rule biomarker_figures:
    """Biomarker dotplot, volcano, GSEA bars and running-score plots from the saved tables."""
    input:
        biomarkers="results/{dataset}/biomarkers/biomarkers.tsv",
        de="results/{dataset}/biomarkers/de.tsv",
        gsea="results/{dataset}/biomarkers/gsea.tsv",
        ranking="results/{dataset}/biomarkers/gsea_ranking.tsv",
        running="results/{dataset}/biomarkers/gsea_running.tsv",
        expression="results/{dataset}/biomarkers/top_expression.tsv",
    output:
        **{
            f"{name}_{ext}": report(
                f"results/{{dataset}}/figures/biomarkers_{name}.{ext}",
                caption="../report/biomarkers.rst",
                category="Biomarkers",
                subcategory="{dataset}",
            )
            for name in ("dotplot", "volcano", "gsea", "gsea_running")
            for ext in ("png", "svg")
        },
    log:
        "results/{dataset}/logs/biomarker_figures.log",
    conda:
        REPORT_ENV
    script:
        "../scripts/biomarker_figures.py"
