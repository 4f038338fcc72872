"""Downloads of public input files into a cache, with sha256 checks, retries and an offline switch."""

from __future__ import annotations

import ftplib
import hashlib
import re
import time
from pathlib import Path
from urllib.parse import urlparse

from .io import InputError

URL = re.compile(r"^(https?|ftp)://", re.IGNORECASE)


class DownloadError(InputError):
    """A download failed, was refused (offline) or did not match its checksum."""


def is_url(value: str | None) -> bool:
    """Whether a config or sample-sheet value is a URL to download."""
    return bool(value) and bool(URL.match(str(value)))


def _safe_segment(segment: str) -> str:
    """A path segment with only ``[A-Za-z0-9._-]``; ``.`` and ``..`` (all dots) become underscores."""
    segment = re.sub(r"[^A-Za-z0-9._-]", "_", segment)
    return "_" * len(segment) if set(segment) == {"."} else segment


def cache_path(url: str, cache_dir: str | Path) -> Path:
    """Where ``url`` is cached: ``<cache_dir>/<host>/<path of the URL>``, always inside ``cache_dir``.

    Every segment keeps only ``[A-Za-z0-9._-]`` and a segment of dots (``..``) is renamed, so no URL can
    name a file outside the cache.
    """
    parts = urlparse(url)
    segments = [_safe_segment(s) for s in parts.path.split("/") if s] or ["index"]
    return Path(cache_dir).joinpath(_safe_segment(parts.netloc) or "_", *segments)


def _downloader(url: str, *, timeout: float):
    """A pooch downloader: HTTP(S) through pooch, FTP through :func:`_ftp_download`."""
    import functools

    import pooch

    if urlparse(url).scheme.lower() == "ftp":
        return functools.partial(_ftp_download, timeout=timeout)
    return pooch.HTTPDownloader(timeout=timeout, progressbar=False)


def _ftp_download(url: str, output_file: str, pooch_obj=None, check_only: bool = False, *, timeout: float) -> bool:
    """Fetch an ``ftp://`` URL in binary passive mode (anonymous login unless the URL names a user).

    pooch's own FTP downloader connects to the URL's ``host:port`` as one host name, so a URL with a port
    fails; this one keeps them apart. Follows pooch's downloader call signature.
    """
    parts = urlparse(url)
    with ftplib.FTP(timeout=timeout) as ftp:
        ftp.connect(parts.hostname or "", parts.port or 21)
        ftp.login(parts.username or "anonymous", parts.password or "")
        if check_only:
            return ftp.size(parts.path) is not None
        with open(output_file, "wb") as fh:
            ftp.retrbinary(f"RETR {parts.path}", fh.write)
    return True


def _check_complete(url: str, dest: Path) -> None:
    """Refuse an unpinned gzip download that does not decompress to its end, and remove it.

    A file cut off on the server or in transit fails here; with a pinned sha256 the checksum decides.
    """
    import gzip
    import zlib

    if dest.suffix != ".gz":
        return
    try:
        with gzip.open(dest, "rb") as fh:
            while fh.read(1 << 20):
                pass
    except (OSError, EOFError, zlib.error) as err:
        dest.unlink(missing_ok=True)
        raise DownloadError(f"{url}: the downloaded file is not a complete gzip file ({err}); it was not kept. "
                            "Download it again, and pin its sha256 in the sample sheet once it is right") from err


def sha256sum(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(url: str, dest: str | Path, *, sha256: str | None = None, offline: bool = False, retries: int = 2,
          timeout: float = 60.0) -> str:
    """Download ``url`` to ``dest`` (through pooch) unless a cached copy matches; return its sha256.

    The file is streamed to a temporary name and renamed only after the checksum matches, so a failed,
    truncated or mismatching transfer never leaves a file under ``dest``. Server errors (5xx) and broken
    connections are retried ``retries`` times with back-off; client errors (4xx) are not.

    Raises
    ------
    DownloadError
        Naming the URL and the problem: offline with no cached copy, HTTP status, checksum mismatch, or
        a transfer that kept failing.
    """
    import pooch
    import requests

    dest = Path(dest)
    expected = sha256.lower() if sha256 else None
    if dest.is_file():
        digest = sha256sum(dest)
        if expected is None or digest == expected:
            return digest
        if offline:
            raise DownloadError(f"{url}: cached {dest} has sha256 {digest}, expected {expected}; "
                                "download.offline is true, so it is not fetched again")
        dest.unlink()
    if offline:
        raise DownloadError(f"{url}: not in the download cache ({dest}) and download.offline is true")
    downloader = _downloader(url, timeout=timeout)
    for attempt in range(retries + 1):
        try:
            pooch.retrieve(url, known_hash=f"sha256:{expected}" if expected else None, fname=dest.name,
                           path=dest.parent, downloader=downloader, progressbar=False)
            if not expected:
                _check_complete(url, dest)
            return sha256sum(dest)
        except ValueError as err:
            raise DownloadError(f"{url}: checksum mismatch, expected sha256 {expected} ({err}); "
                                "the file was not kept") from err
        except requests.HTTPError as err:
            status = err.response.status_code if err.response is not None else 0
            if status < 500 or attempt == retries:
                raise DownloadError(f"{url}: HTTP {status} ({err.response.reason if err.response else err})"
                                    + (f" after {attempt + 1} attempts" if status >= 500 else "")) from err
        except (requests.RequestException, *ftplib.all_errors) as err:
            if attempt == retries:
                raise DownloadError(f"{url}: download failed after {attempt + 1} attempts "
                                    f"({type(err).__name__}: {err})") from err
        time.sleep(min(2.0**attempt, 30.0))
    raise AssertionError("unreachable")
