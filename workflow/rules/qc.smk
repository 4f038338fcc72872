rule qc:
    """Per-sample QC: adaptive thresholds on genes, counts and mitochondrial share; scrublet doublets; the
    sample's QC figure (kept and removed cells and the thresholds)."""
    input:
        h5ad="results/{dataset}/ingest/{sample}.h5ad",
        samples="results/{dataset}/ingest/samples.tsv",
        markers=lambda w: dataset(w)["annotate"]["markers"],
    output:
        h5ad="results/{dataset}/qc/{sample}.h5ad",
        cells="results/{dataset}/qc/{sample}.cells.tsv.gz",
        summary="results/{dataset}/qc/{sample}.summary.tsv",
        png=report(
            "results/{dataset}/qc/{sample}.png",
            caption="../report/qc.rst",
            category="QC",
            subcategory="{dataset}",
        ),
        svg="results/{dataset}/qc/{sample}.svg",
    log:
        "results/{dataset}/logs/qc/{sample}.log",
    benchmark:
        "results/{dataset}/benchmarks/qc/{sample}.tsv"
    conda:
        ENV
    resources:
        mem_mb=qc_mem,
        runtime=minutes(10, 0.03),
    params:
        qc=lambda w: dataset(w)["qc"],
        annotate=lambda w: dataset(w)["annotate"],
        seed=SEED,
    script:
        "../scripts/qc.py"


rule qc_summary:
    """The dataset's QC table and what QC removed per cell type."""
    input:
        summaries=lambda w: expand("results/{{dataset}}/qc/{sample}.summary.tsv", sample=sample_names(w)),
        cells=lambda w: expand("results/{{dataset}}/qc/{sample}.cells.tsv.gz", sample=sample_names(w)),
    output:
        summary="results/{dataset}/qc/summary.tsv",
        by_type="results/{dataset}/qc/removed_by_type.tsv",
    log:
        "results/{dataset}/logs/qc_summary.log",
    conda:
        REPORT_ENV
    params:
        max_type_loss=lambda w: dataset(w)["qc"]["max_type_loss"],
    script:
        "../scripts/qc_summary.py"
