rule simulate:
    """A simulated tumour with planted truth (cell types, CSCs, CNVs, LR pairs, doublets)."""
    output:
        raw=directory("results/{dataset}/raw"),
        truth="results/{dataset}/truth/cells.tsv.gz",
        lr_pairs="results/{dataset}/truth/lr_pairs.tsv",
        csc_genes="results/{dataset}/truth/csc_genes.txt",
        cnv_events="results/{dataset}/truth/cnv_events.tsv",
    log:
        "results/{dataset}/logs/simulate.log",
    benchmark:
        "results/{dataset}/benchmarks/simulate.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=simulate_mem,
        runtime=lambda w: 5 + dataset(w)["simulate"]["n_cells"] // 5000,
    params:
        simulate=lambda w: dataset(w)["simulate"],
        seed=SEED,
    script:
        "../scripts/simulate.py"
