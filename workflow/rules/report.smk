rule umap_plot:
    """UMAPs coloured by the per-cell table's labels and scores."""
    input:
        "results/{dataset}/cells.tsv.gz",
    output:
        **figure_outputs(
            {key: f"results/{{dataset}}/figures/umap_{key}" for key in UMAP_KEYS},
            caption="../report/umap.rst",
            category="Clustering",
            subcategory="{dataset}",
        ),
    log:
        "results/{dataset}/logs/umap_plot.log",
    conda:
        REPORT_ENV
    params:
        columns={key: key for key in UMAP_KEYS},  # output name: the column drawn
    script:
        "../scripts/umap_plot.py"


rule umap_author_plot:
    """UMAP coloured by one of the authors' labels."""
    input:
        "results/{dataset}/cells.tsv.gz",
    output:
        **figure_outputs(
            {"author": "results/{dataset}/figures/umap_author_{label}"},
            caption="../report/umap.rst",
            category="Clustering",
            subcategory="{dataset}",
        ),
    log:
        "results/{dataset}/logs/umap_plot/author_{label}.log",
    conda:
        REPORT_ENV
    params:
        columns=lambda w: {"author": f"author_{w.label}"},
    script:
        "../scripts/umap_plot.py"


rule identity_figures:
    """Cell types per patient, the authors' labels against cscniche's cell types, and the marker dotplot."""
    input:
        cells="results/{dataset}/cells.tsv.gz",
        agreement="results/{dataset}/identity/agreement.tsv",
        marker_expression="results/{dataset}/identity/marker_expression.tsv",
    output:
        **{
            f"{name}_{ext}": report(
                f"results/{{dataset}}/figures/{name}.{ext}",
                caption="../report/identity.rst",
                category="Cell identity",
                subcategory="{dataset}",
            )
            for name in ("composition", "agreement", "marker_dotplot")
            for ext in ("png", "svg")
        },
    log:
        "results/{dataset}/logs/identity_figures.log",
    conda:
        REPORT_ENV
    script:
        "../scripts/identity_figures.py"


rule report:
    """The dataset's self-contained HTML report from the saved tables and figures."""
    input:
        cells="results/{dataset}/cells.tsv.gz",
        qc_summary="results/{dataset}/qc/summary.tsv",
        samples="results/{dataset}/ingest/samples.tsv",
        qc_by_type="results/{dataset}/qc/removed_by_type.tsv",
        markers="results/{dataset}/cluster/markers.tsv",
        qc_figures=lambda w: expand("results/{{dataset}}/qc/{sample}.png", sample=sample_names(w)),
        umap_figures=lambda w: expand("results/{{dataset}}/figures/umap_{key}.png", key=umap_keys(w.dataset)),
        clusters="results/{dataset}/identity/clusters.tsv",
        agreement="results/{dataset}/identity/agreement.tsv",
        marker_sets="results/{dataset}/identity/marker_sets.tsv",
        malignant="results/{dataset}/identity/malignant_summary.tsv",
        cnv_clusters="results/{dataset}/identity/cnv_clusters.tsv",
        cnv_reference="results/{dataset}/identity/cnv_reference.tsv",
        stemness="results/{dataset}/stemness/summary.tsv",
        ssgsea_check="results/{dataset}/stemness/ssgsea_check.tsv",
        coherence="results/{dataset}/stemness/coherence.tsv",
        stemness_figure="results/{dataset}/figures/stemness_patients.png",
        stemness_clusters="results/{dataset}/figures/stemness_clusters.png",
        csc_markers="results/{dataset}/figures/csc_markers.png",
        interactions="results/{dataset}/crosstalk/interactions.tsv",
        csc_specific="results/{dataset}/crosstalk/csc_specific.tsv",
        axes="results/{dataset}/crosstalk/axes.tsv",
        crosstalk_notes="results/{dataset}/crosstalk/notes.txt",
        biomarkers="results/{dataset}/biomarkers/biomarkers.tsv",
        gsea="results/{dataset}/biomarkers/gsea.tsv",
        biomarker_notes="results/{dataset}/biomarkers/notes.txt",
        comparisons=comparison_tables,
        comparison_figures=comparison_figures,
        biomarker_figures=expand(
            "results/{{dataset}}/figures/biomarkers_{name}.png",
            name=("dotplot", "volcano", "gsea", "gsea_running"),
        ),
        crosstalk_figures=expand(
            "results/{{dataset}}/figures/crosstalk_{name}.png",
            name=("heatmap", "dotplot", "network", "senders", "axes"),
        ),
        cnv_figures=lambda w: expand(
            "results/{{dataset}}/figures/cnv_heatmap_{patient}.png", patient=patients(w.dataset)
        ),
        identity_figures=expand(
            "results/{{dataset}}/figures/{name}.png", name=("composition", "agreement", "marker_dotplot")
        ),
    output:
        "results/{dataset}/report.html",
    log:
        "results/{dataset}/logs/report.log",
    conda:
        REPORT_ENV
    params:
        settings=lambda w: {"dataset": w.dataset, "seed": SEED, **dataset(w)},
    script:
        "../scripts/report.py"
