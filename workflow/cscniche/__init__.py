"""cscniche: tumour scRNA-seq QC, clustering, cancer-stem-cell scoring and CSC-TME crosstalk.

One module per workflow stage; every function takes and returns plain Python / AnnData objects
so that it can be unit-tested without Snakemake.
"""

from .jit import follow_job_threads

__version__ = "0.1.0"

follow_job_threads()
