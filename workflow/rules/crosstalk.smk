rule crosstalk:
    """CSC-TME ligand-receptor inference per patient, CSC-specific tests across patients, signalling axes."""
    input:
        matrix="results/{dataset}/cluster/clustered.h5ad",
        h5ad="results/{dataset}/stemness/stemness.h5ad",
        config_files=crosstalk_inputs,
    output:
        interactions="results/{dataset}/crosstalk/interactions.tsv",
        csc_specific="results/{dataset}/crosstalk/csc_specific.tsv",
        axes="results/{dataset}/crosstalk/axes.tsv",
        notes="results/{dataset}/crosstalk/notes.txt",
    log:
        "results/{dataset}/logs/crosstalk.log",
    benchmark:
        "results/{dataset}/benchmarks/crosstalk.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=mem(1500, 0.25),  # its genes' columns only: 1.0 GB PSS at 100k (5.7 GB input), 2.0 at 200k (11.4 GB)
        runtime=minutes(10, 0.006),
    params:
        crosstalk=lambda w: dataset(w)["crosstalk"],
        seed=SEED,
    script:
        "../scripts/crosstalk.py"


rule crosstalk_figures:
    """Crosstalk heatmap, CSC-specific dotplot, network, senders and receivers, and axes figures."""
    input:
        interactions="results/{dataset}/crosstalk/interactions.tsv",
        csc_specific="results/{dataset}/crosstalk/csc_specific.tsv",
        axes="results/{dataset}/crosstalk/axes.tsv",
    output:
        **{
            f"{name}_{ext}": report(
                f"results/{{dataset}}/figures/crosstalk_{name}.{ext}",
                caption="../report/crosstalk.rst",
                category="Crosstalk",
                subcategory="{dataset}",
            )
            for name in ("heatmap", "dotplot", "network", "senders", "axes")
            for ext in ("png", "svg")
        },
    log:
        "results/{dataset}/logs/crosstalk_figures.log",
    conda:
        REPORT_ENV
    script:
        "../scripts/crosstalk_figures.py"
