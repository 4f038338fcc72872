"""The stemness scorers as data: their names, what they measure, whom to cite and what they need.

The stemness stage scores the malignant cells with each scorer in this order and weights them against the
anchor's scores of the coherent gene sets, the config schema accepts their names in
``stemness.consensus_scorers``, and the report names them (and says why one did not run) and cites them, all from
``STEMNESS_SCORERS`` (as liana-py describes its methods with ``MethodMeta``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

__all__ = ["ANCHOR", "STEMNESS_SCORERS", "ScorerMeta", "scorer_columns", "scorer_name_pattern"]


@dataclass(frozen=True)
class ScorerMeta:
    """One stemness scorer."""

    name: str
    """Its score's name (``stemness_<name>`` per cell), or the prefix of one score per gene set: ``<name>_<set>``."""
    label: str
    """What it measures, in the report's words."""
    reference: str | None = None
    """Its citation key in the report's references (None: a method of this workflow)."""
    per_gene_set: bool = False
    """One score per stemness gene set (curated markers and GMT sets)."""
    requires: str | None = None
    """The ``stemness`` setting without which it is not run."""
    anchor: bool = False
    """Its score of each coherent gene set is what the consensus weights the scorers against."""
    when_missing: str = ""
    """Why a run may lack its ``requires`` setting and what to set, in the report's words."""

    @property
    def shown(self) -> str:
        """Its name as the schema and the report show it: ``ucell_<gene set>`` for a per-gene-set scorer."""
        return f"{self.name}_<gene set>" if self.per_gene_set else self.name


STEMNESS_SCORERS = (
    ScorerMeta("cytotrace", "CytoTRACE-style transcriptional diversity", "cytotrace"),
    ScorerMeta("mrnasi", "mRNAsi", "mrnasi", requires="mrnasi_weights",
               when_missing="no OCLR weight file is configured (the PCBC weights of Malta et al. 2018 are not "
               "redistributable here); set it to a two-column file (gene, weight) to add mRNAsi as a scorer"),
    ScorerMeta("ucell", "UCell signature scores", "ucell", per_gene_set=True),
    ScorerMeta("program", "each set's co-varying programme", per_gene_set=True, anchor=True),
)

(ANCHOR,) = (s for s in STEMNESS_SCORERS if s.anchor)  # exactly one, scored per gene set


def scorer_columns(gene_sets: Iterable[str], *, given: Collection[str] = ()) -> list[str]:
    """The scores of a run, in the order of ``STEMNESS_SCORERS``.

    ``gene_sets``: the names of the gene sets scored; ``given``: the ``requires`` settings that are set (a
    scorer that needs one that is not is left out).
    """
    sets = list(gene_sets)
    columns = []
    for scorer in STEMNESS_SCORERS:
        if scorer.requires is None or scorer.requires in given:
            columns += [f"{scorer.name}_{s}" for s in sets] if scorer.per_gene_set else [scorer.name]
    return columns


def scorer_name_pattern() -> str:
    """A regular expression that every score's name matches (``ucell_<set>`` for a per-gene-set scorer)."""
    names = [re.escape(s.name) + ("_.+" if s.per_gene_set else "") for s in STEMNESS_SCORERS]
    return f"^({'|'.join(names)})$"
