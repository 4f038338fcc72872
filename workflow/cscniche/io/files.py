"""Files written whole or not at all, deterministic tables, safe YAML, and the input error type."""

from __future__ import annotations

import glob
import gzip
import io
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    pass


class InputError(ValueError):
    """Bad input data: the message names the file and the problem."""


def read_yaml(path: str | os.PathLike) -> object:
    """A YAML file's content (safe loader), with unreadable or invalid YAML as an :class:`InputError`.

    Tags that would build Python objects (``!!python/...``) are refused by the safe loader; the message
    names the file and the line. The loader is libyaml's where PyYAML has it (the same values, about ten times
    faster than PyYAML's own).
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not valid YAML ({' '.join(str(err).split())})") from err


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` and rename it to ``path`` only on success.

    A failure never leaves a half-written file under the final name, and the temporary files of an earlier
    attempt at the same output that was killed are removed first. The file gets the permissions of a
    newly created file (``0o666`` less the umask, as ``open`` gives), not ``mkstemp``'s owner-only ``0o600``,
    so a lab's shared results folder stays readable.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    own = re.compile(rf"\.{re.escape(final.name)}\.[A-Za-z0-9_]{{8}}\.tmp")  # mkstemp's names for this output
    for stale in final.parent.glob(f".{glob.escape(final.name)}.*.tmp"):  # left by a killed earlier attempt
        if own.fullmatch(stale.name):
            stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            tmp_path.chmod(0o666 & ~_umask())
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    """The process umask, read without changing it where Linux tells it (``/proc/self/status``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: read by setting it, then restored at once
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike, writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` and move the result to ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)


def _write_tsv(df: pd.DataFrame, tmp: Path, *, index: bool, gz: bool) -> None:
    if not gz:
        df.to_csv(tmp, sep="\t", index=index)
        return
    # no file name and no time stamp in the gzip header: identical tables give identical bytes
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gzf, \
            io.TextIOWrapper(gzf, encoding="utf-8", newline="") as text:
        df.to_csv(text, sep="\t", index=index)


def write_table(df: pd.DataFrame, path: str | os.PathLike, *, index: bool = False) -> None:
    """Write a tab-separated table atomically; ``.gz`` paths are gzipped byte-reproducibly."""
    gz = str(path).endswith(".gz")
    write_atomic(path, lambda tmp: _write_tsv(df, tmp, index=index, gz=gz))
