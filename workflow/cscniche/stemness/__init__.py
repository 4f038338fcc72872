"""Stemness: per-cell scorers, a within-patient consensus among malignant cells, CSC calls and stability.

Scorers (each a function returning one score per cell):

* ``cytotrace``: transcriptional diversity after CytoTRACE (Gulati et al., Science 367:405, 2020): gene
  counts per cell, the gene counts signature (the genes most correlated with gene counts), NNLS regression
  onto the kNN Markov matrix and diffusion with restart, as published (see :func:`cytotrace`).
* ``mrnasi``: Spearman correlation of each cell with the OCLR stemness weights (Malta et al., Cell 173:338,
  2018), min-max scaled.
* ``ucell_<set>``: rank-based signature score (UCell, Andreatta & Carmona, CSBJ 19:3796, 2021) of each
  configured gene set (curated CSC markers, embryonic-stem-cell signatures from a GMT).
* ``program_<set>``: the set's co-varying genes within each patient (:func:`cscniche.coherence.program_score`).

Their names, citations and requirements are data (:data:`cscniche.scorer_meta.STEMNESS_SCORERS`), which the
config schema and the report read too.

All of them work on the sparse matrix: ranks are computed for stored entries only (zeros share one rank).
"""

from ..genesets import load_gene_sets, read_weights
from ..ranksum import row_ranks
from .calls import agreement, patient_calls, score_malignant
from .metacells import gather_metacells, malignant_metacells, metacells, ssgsea_check
from .patients import (
    PART_TABLES,
    PatientStemness,
    combine_patients,
    read_patient,
    stemness_of_patient,
    write_patient,
)
from .scorers import CHUNK_CELLS, cytotrace, gene_columns, mrnasi, ucell, ucell_sets
from .stage import StemnessResult, run_stemness, run_stemness_patient

__all__ = ["CHUNK_CELLS", "PART_TABLES", "PatientStemness", "StemnessResult", "agreement", "combine_patients",
           "cytotrace", "gather_metacells", "gene_columns", "load_gene_sets", "malignant_metacells", "metacells",
           "mrnasi", "patient_calls", "read_patient", "read_weights", "row_ranks", "run_stemness",
           "run_stemness_patient", "score_malignant", "ssgsea_check", "stemness_of_patient", "ucell", "ucell_sets",
           "write_patient"]
