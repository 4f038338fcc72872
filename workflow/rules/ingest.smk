rule ingest:
    """Read one sample (10x, h5ad, table, packaged), detect its value scale and gene ids, attach metadata."""
    input:
        ingest_input,
    output:
        "results/{dataset}/ingest/{sample}.h5ad",
    log:
        "results/{dataset}/logs/ingest/{sample}.log",
    benchmark:
        "results/{dataset}/benchmarks/ingest/{sample}.tsv"
    conda:
        ENV
    resources:
        mem_mb=mem(1000, 3, share=ingest_share),
        runtime=minutes(5, 0.01, share=ingest_share),
    params:
        row=sample_row,
        author_labels=lambda w: dataset(w)["author_labels"],
        author_codes=lambda w: dataset(w)["author_codes"],
    script:
        "../scripts/ingest.py"


rule ingest_check:
    """All of a dataset's ingested samples together, before QC: one value scale and shared gene names."""
    input:
        lambda w: expand("results/{dataset}/ingest/{sample}.h5ad", dataset=w.dataset, sample=sample_names(w)),
    output:
        "results/{dataset}/ingest/samples.tsv",
    log:
        "results/{dataset}/logs/ingest/samples.log",
    conda:
        ENV
    params:
        min_shared_share=0.5,
    script:
        "../scripts/ingest_check.py"
