rule stemness_patient:
    """One patient's stemness scores, consensus and CSC calls among its malignant cells."""
    input:
        matrix="results/{dataset}/cluster/clustered.h5ad",
        h5ad="results/{dataset}/identity/identity.h5ad",
        sets=lambda w: dataset(w)["stemness"]["marker_sets"] + [g["path"] for g in dataset(w)["stemness"]["gmt"]],
        weights=lambda w: [p] if (p := dataset(w)["stemness"]["mrnasi_weights"]) else [],
    output:
        "results/{dataset}/stemness/patients/{patient}.h5ad",
    log:
        "results/{dataset}/logs/stemness_patient/{patient}.log",
    benchmark:
        "results/{dataset}/benchmarks/stemness_patient/{patient}.tsv"
    conda:
        ENV
    resources:
        mem_mb=per_patient(1500, 1.2),
        runtime=per_patient(10, 0.01),
    params:
        stemness=lambda w: dataset(w)["stemness"],
        seed=SEED,
    script:
        "../scripts/stemness_patient.py"


rule stemness:
    """Gather the patients' stemness scores and CSC calls, and the ssGSEA cross-check."""
    input:
        h5ad="results/{dataset}/identity/identity.h5ad",
        patients=lambda w: expand("results/{{dataset}}/stemness/patients/{patient}.h5ad", patient=patients(w.dataset)),
        sets=lambda w: dataset(w)["stemness"]["marker_sets"] + [g["path"] for g in dataset(w)["stemness"]["gmt"]],
    output:
        h5ad="results/{dataset}/stemness/stemness.h5ad",
        summary="results/{dataset}/stemness/summary.tsv",
        agreement="results/{dataset}/stemness/agreement.tsv",
        coherence="results/{dataset}/stemness/coherence.tsv",
        ssgsea="results/{dataset}/stemness/ssgsea_metacells.tsv",
        ssgsea_check="results/{dataset}/stemness/ssgsea_check.tsv",
    log:
        "results/{dataset}/logs/stemness.log",
    benchmark:
        "results/{dataset}/benchmarks/stemness.tsv"
    conda:
        ENV
    resources:
        mem_mb=mem(1500, 0.5),
        runtime=minutes(10, 0.01),
    params:
        stemness=lambda w: dataset(w)["stemness"],
        seed=SEED,
    script:
        "../scripts/stemness.py"


rule stemness_figure:
    """Stemness per patient (scorer agreement, CSC-high share) and of malignant cells by cluster."""
    input:
        cells="results/{dataset}/cells.tsv.gz",
        agreement="results/{dataset}/stemness/agreement.tsv",
    output:
        svg="results/{dataset}/figures/stemness_patients.svg",
        png=report(
            "results/{dataset}/figures/stemness_patients.png",
            caption="../report/stemness.rst",
            category="Stemness",
            subcategory="{dataset}",
        ),
        clusters_svg="results/{dataset}/figures/stemness_clusters.svg",
        clusters_png=report(
            "results/{dataset}/figures/stemness_clusters.png",
            caption="../report/stemness.rst",
            category="Stemness",
            subcategory="{dataset}",
        ),
    log:
        "results/{dataset}/logs/stemness_figure.log",
    conda:
        REPORT_ENV
    script:
        "../scripts/stemness_figure.py"


rule csc_marker_figure:
    """UMAPs of the CSC marker genes' and the top biomarkers' expression."""
    input:
        matrix="results/{dataset}/cluster/clustered.h5ad",
        cells="results/{dataset}/cells.tsv.gz",
        biomarkers="results/{dataset}/biomarkers/biomarkers.tsv",
        marker_sets=lambda w: dataset(w)["stemness"]["marker_sets"],
    output:
        png=report(
            "results/{dataset}/figures/csc_markers.png",
            caption="../report/stemness.rst",
            category="Stemness",
            subcategory="{dataset}",
        ),
        svg="results/{dataset}/figures/csc_markers.svg",
    log:
        "results/{dataset}/logs/csc_marker_figure.log",
    conda:
        ENV
    params:
        marker_sets=lambda w: dataset(w)["stemness"]["marker_sets"],
        markers=6,
        top=3,
    script:
        "../scripts/csc_marker_figure.py"
