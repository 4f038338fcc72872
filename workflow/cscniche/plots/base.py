"""What every figure shares: the backend, reproducible files, the palette, empty panels and group order."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..io import write_atomic  # noqa: E402

PALETTE = plt.get_cmap("tab20").colors + plt.get_cmap("tab20b").colors


plt.rcParams["svg.hashsalt"] = "cscniche"  # reproducible SVG ids
METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None}, "pdf": {"CreationDate": None}}


def _save(fig: plt.Figure, path: str | Path) -> None:
    fmt = Path(path).suffix.lstrip(".") or "png"
    write_atomic(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=110, bbox_inches="tight",
                                               metadata=METADATA.get(fmt)))
    plt.close(fig)


def _empty(ax: plt.Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def _group_order(groups) -> list[str]:
    csc = [g for g in ("CSC-high", "CSC-low") if g in set(groups)]
    return csc + sorted(set(groups) - set(csc))
