"""Logging for Snakemake script entry points: everything a job prints goes to its log file."""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path

from .io import InputError


@contextlib.contextmanager
def logged(path: str | Path) -> Iterator[logging.Logger]:
    """Send stdout, stderr, warnings and a traceback on failure to ``path``; re-raise errors."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh, contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
        logging.basicConfig(stream=fh, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                            force=True)
        logging.captureWarnings(True)
        for name in ("anndata", "scanpy"):  # their handlers hold the stderr seen at import time
            for handler in logging.getLogger(name).handlers:
                if isinstance(handler, logging.StreamHandler):
                    handler.setStream(fh)
        warnings.simplefilter("default")
        log = logging.getLogger("cscniche")
        try:
            yield log
        except Exception as err:
            if isinstance(err, InputError):  # the data's fault: the message names the file and the problem
                fh.write(f"error: {err}\n")
            else:
                traceback.print_exc(file=fh)
            fh.flush()
            sys.__stderr__.write(f"cscniche error: {err}\n")
            raise
