"""Simulated tumour with planted truth.

Malignant cells with patient-specific CNVs, a stem-like (CSC) subpopulation, TME cell types, planted CSC<->TME
ligand-receptor pairs, low-quality cells and heterotypic doublets. Integer negative-binomial UMI counts,
generated in chunks (never dense in full).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import anndata as ad
import numpy as np
import pandas as pd

from .cells import MT_FRACTION, _cell_plan, _normalise, _sample_counts
from .genes import CSC_PROGRAM, PLANTED_LR, TME_MARKERS, _programs, csc_program, gene_universe

__all__ = ["CSC_PROGRAM", "PLANTED_LR", "TME_MARKERS", "SimulatedTumour", "csc_program", "gene_universe",
           "simulate_tumour"]


@dataclass(frozen=True)
class SimulatedTumour:
    """Per-sample AnnData objects (raw counts) and the planted truth."""

    samples: dict[str, ad.AnnData]
    truth: pd.DataFrame
    lr_pairs: pd.DataFrame
    csc_genes: list[str]
    cnv_events: pd.DataFrame


def simulate_tumour(params: dict, *, seed: int = 0, dispersion: float = 0.3,
                    sink: Callable[[str, ad.AnnData], None] | None = None, threads: int = 1) -> SimulatedTumour:
    """Simulate a tumour with planted truth.

    Parameters
    ----------
    params
        The ``simulate`` config section (see ``workflow/schemas/config.schema.yaml``).
    seed
        Random seed; the same seed gives identical counts, whatever ``threads``.
    dispersion
        Negative-binomial dispersion (variance = mu + dispersion * mu^2).
    sink
        Called with each sample's name and AnnData as soon as it is made (from the worker thread that
        made it); the sample is then not kept (``samples`` stays empty), so memory holds one sample per
        thread. The counts are the same either way.
    threads
        Samples made at a time. Each sample draws from its own random stream (spawned from ``seed``), so
        the counts do not depend on the order or number of threads.

    Returns
    -------
    :class:`SimulatedTumour` with one raw-count AnnData per sample (``var``: chromosome/start/end).
    """
    rng = np.random.default_rng(seed)
    condition = params.get("condition") or {}
    genes = gene_universe(params.get("n_genes"), seed=seed, keep=tuple(condition.get("resistance_genes", ())))
    program = csc_program(genes.index, marker_overlap=params.get("csc_marker_overlap", 1.0), seed=seed)
    prog = _programs(genes, rng, params["n_patients"], program=program, strength=params.get("csc_strength", 3.0),
                     diversity=params.get("csc_diversity", True), resistance=params.get("condition"))
    plan = _cell_plan(params, rng, seed=seed)
    states = sorted(prog["profiles"])
    state_idx = {s: i for i, s in enumerate(states)}
    good = np.vstack([_normalise(prog["profiles"][s], prog["is_mt"], MT_FRACTION) for s in states])
    batch = {s: np.exp(rng.normal(0, 0.1, len(genes))) for s in plan["sample"].unique()}
    plan["cell_id"] = plan["sample"] + "_c" + plan.groupby("sample").cumcount().map("{:05d}".format)
    by_sample = list(plan.groupby("sample", sort=True))
    streams = np.random.SeedSequence(seed).spawn(len(by_sample))

    def make(job: tuple[tuple[str, pd.DataFrame], np.random.SeedSequence]) -> tuple[str, ad.AnnData | None]:
        (sample, cells), stream = job
        counts = _sample_counts(cells, good, state_idx, prog["is_mt"], batch[sample],
                                np.random.default_rng(stream), dispersion)
        adata = ad.AnnData(counts, obs=pd.DataFrame(index=cells["cell_id"].to_numpy()), var=genes.copy())
        adata.obs_names.name = "cell_id"
        adata.uns["ingest"] = {"doublet_rate": float(params["doublet_fraction"])}  # the simulated lane's rate
        if sink is None:
            return str(sample), adata
        sink(str(sample), adata)
        return str(sample), None

    # the random draws release the GIL, so threads make samples side by side
    with ThreadPoolExecutor(max(1, threads)) as pool:
        samples = {name: adata for name, adata in pool.map(make, zip(by_sample, streams, strict=True))
                   if adata is not None}
    truth = plan.assign(
        cell_type=np.where(plan["doublet"], "doublet", plan["cell_type"]),
    )[["cell_id", "cell_type", "malignant", "csc", "doublet", "low_quality", "patient", "sample",
       "stemness_level"]]
    lr = pd.DataFrame(PLANTED_LR, columns=["ligand", "receptor", "source", "target"])
    events = pd.DataFrame(prog["cnv_events"], columns=["patient", "chromosome", "start", "end", "type"])
    return SimulatedTumour(samples=samples, truth=truth.reset_index(drop=True), lr_pairs=lr,
                           csc_genes=program, cnv_events=events)
