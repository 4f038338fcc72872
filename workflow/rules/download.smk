# Inputs given as URLs are fetched into the download cache (pooch: sha256 check, retries, atomic rename).
rule download:
    """Fetch one URL into the download cache, checked against its sha256 when pinned."""
    output:
        f"{DOWNLOAD['cache']}/{{file}}",
    log:
        "logs/download/{file}.log",
    wildcard_constraints:
        file="[^/]+/.+",
    conda:
        ENV  # pooch
    params:
        source=lambda w: DOWNLOADS[f"{DOWNLOAD['cache']}/{w.file}"],
        offline=DOWNLOAD["offline"],
        retries=DOWNLOAD["retries"],
    script:
        "../scripts/download.py"


rule downloads_manifest:
    """The dataset's downloads with the sha256 each file had."""
    input:
        lambda w: sorted(dataset_downloads(w.dataset)),
    output:
        "results/{dataset}/downloads.tsv",
    log:
        "results/{dataset}/logs/downloads_manifest.log",
    conda:
        REPORT_ENV
    params:
        sources=lambda w: dataset_downloads(w.dataset),
    script:
        "../scripts/downloads_manifest.py"
