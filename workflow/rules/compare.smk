rule compare:
    """Composition between two groups of patients (the patient as the unit)."""
    input:
        "results/{dataset}/cells.tsv.gz",
    output:
        per_patient="results/{dataset}/compare/{comparison}/composition_per_patient.tsv",
        test="results/{dataset}/compare/{comparison}/composition.tsv",
    log:
        "results/{dataset}/logs/compare/{comparison}.log",
    params:
        comparison=lambda w: comparison(w.dataset, w.comparison),
    resources:
        mem_mb=mem(1000, 2.0),
        runtime=minutes(5, 0.001),
    conda:
        ENV
    script:
        "../scripts/compare.py"
