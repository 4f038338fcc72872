# cscniche: tumour scRNA-seq -> QC -> clustering -> (cell identity, stemness, crosstalk, biomarkers) -> report.
# This file is the table of contents; each stage is one rule file under workflow/rules/.
from snakemake.utils import min_version

min_version("9.0")


# The demo config, unless --configfile names another (e.g. config/datasets/<name>.yaml): Snakemake
# would otherwise merge the two and run the demo datasets as well.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/qc.smk"
include: "workflow/rules/cluster.smk"
include: "workflow/rules/annotate.smk"
include: "workflow/rules/malignant.smk"
include: "workflow/rules/stemness.smk"
include: "workflow/rules/crosstalk.smk"
include: "workflow/rules/biomarkers.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/compare.smk"
include: "workflow/rules/report.smk"


rule all:
    """Every dataset's report, per-cell table, final AnnData and comparison figures."""
    default_target: True
    input:
        all_outputs(),
