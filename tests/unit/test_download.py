import pytest

from cscniche.download import DownloadError, cache_path, fetch, sha256sum

from http_server import LocalServer

FILE = "scrna/oligodendroglioma_annotations_downsampled.txt"


@pytest.fixture(scope="module")
def server(shared_data):
    with LocalServer(shared_data) as srv:
        yield srv


@pytest.fixture
def expected(shared_data):
    return sha256sum(shared_data / FILE)


def test_success_then_cache_hit_without_a_request(server, tmp_path, expected):
    url = f"{server.url}/data/{FILE}"
    dest = cache_path(url, tmp_path)
    assert dest == tmp_path / server.url.removeprefix("http://").replace(":", "_") / "data" / FILE
    assert fetch(url, dest, sha256=expected) == expected
    n = len(server.requests)
    assert fetch(url, dest, sha256=expected) == expected
    assert fetch(url, dest) == expected  # no checksum given: the cached copy is used as is
    assert len(server.requests) == n


def test_checksum_mismatch_is_refused_and_nothing_kept(server, tmp_path):
    url = f"{server.url}/data/{FILE}"
    dest = tmp_path / "a.txt"
    with pytest.raises(DownloadError, match=r"checksum mismatch, expected sha256 0{64}"):
        fetch(url, dest, sha256="0" * 64, retries=0)
    assert list(tmp_path.iterdir()) == []


def test_truncated_transfer_leaves_no_file(server, tmp_path):
    dest = tmp_path / "t.txt"
    with pytest.raises(DownloadError, match=r"truncated/.*download failed after 2 attempts"):
        fetch(f"{server.url}/truncated/{FILE}", dest, retries=1)
    assert list(tmp_path.iterdir()) == []


def test_http_errors(server, tmp_path):
    before = len(server.requests)
    with pytest.raises(DownloadError, match=r"status/404/x.txt: HTTP 404"):
        fetch(f"{server.url}/status/404/x.txt", tmp_path / "x.txt", retries=2)
    assert len(server.requests) == before + 1  # client errors are not retried
    with pytest.raises(DownloadError, match=r"HTTP 500 .* after 2 attempts"):
        fetch(f"{server.url}/status/500/x.txt", tmp_path / "x.txt", retries=1)
    assert list(tmp_path.iterdir()) == []


def test_transient_server_error_is_retried(server, tmp_path, expected):
    assert fetch(f"{server.url}/flaky/{FILE}", tmp_path / "f.txt", sha256=expected, retries=2) == expected


def test_offline_switch(server, tmp_path, expected):
    url = f"{server.url}/data/{FILE}"
    dest = tmp_path / "o.txt"
    n = len(server.requests)
    with pytest.raises(DownloadError, match=r"not in the download cache .* download.offline is true"):
        fetch(url, dest, offline=True)
    assert len(server.requests) == n
    fetch(url, dest)
    assert fetch(url, dest, sha256=expected, offline=True) == expected


def test_urls_cannot_name_a_file_outside_the_cache(tmp_path):
    cache = (tmp_path / "cache").resolve()
    for url in ("http://host/../../etc/passwd", "https://../x", "http://h/a/./../..//b", "ftp://h/%2e%2e/c"):
        dest = cache_path(url, cache).resolve()
        assert dest.is_relative_to(cache) and dest != cache, (url, dest)
    assert cache_path("https://example.org/data/x.tsv.gz", cache) == cache / "example.org/data/x.tsv.gz"


def test_ftp_urls_download_and_fail_by_name(shared_data, tmp_path, expected):
    """GEO serves its files over FTP too: an ftp:// URL downloads with a checksum (anonymous login), and a
    missing file is an error naming the URL."""
    from ftp_server import LocalFTPServer

    with LocalFTPServer(shared_data) as server:
        url = f"{server.url}/{FILE}"
        assert fetch(url, cache_path(url, tmp_path), sha256=expected) == expected
        assert server.requests == [f"/{FILE}"]
        with pytest.raises(DownloadError, match=r"ftp://127.0.0.1:\d+/missing.txt: download failed after 1 attempts"):
            fetch(f"{server.url}/missing.txt", tmp_path / "m.txt", retries=0)
    assert not (tmp_path / "m.txt").exists()


def test_an_unpinned_gzip_cut_off_on_the_server_is_not_cached(tmp_path):
    """No checksum to compare with: a .gz download must decompress to its end before it is kept."""
    import gzip

    from http_server import LocalServer

    served = tmp_path / "served"
    served.mkdir()
    whole = gzip.compress(b"gene\tc1\n" + b"CD3E\t1\n" * 20000)
    (served / "cut.txt.gz").write_bytes(whole[: len(whole) // 2])
    (served / "whole.txt.gz").write_bytes(whole)
    cache = tmp_path / "cache"
    with LocalServer(served) as server:
        with pytest.raises(DownloadError, match=r"cut.txt.gz: the downloaded file is not a complete gzip file"):
            fetch(f"{server.url}/data/cut.txt.gz", cache / "cut.txt.gz", retries=0)
        assert fetch(f"{server.url}/data/whole.txt.gz", cache / "whole.txt.gz") == sha256sum(served / "whole.txt.gz")
    assert sorted(p.name for p in cache.iterdir()) == ["whole.txt.gz"]
