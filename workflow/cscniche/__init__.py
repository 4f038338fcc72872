"""cscniche: tumour scRNA-seq QC, clustering, cancer-stem-cell scoring and CSC-TME crosstalk.

One module per workflow stage; every function takes and returns plain Python / AnnData objects
so that it can be unit-tested without Snakemake.
"""

__version__ = "0.1.0"
