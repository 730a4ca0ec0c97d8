"""Safe extraction (hostile archives) and downloads over a loopback HTTP server."""

from __future__ import annotations

import hashlib
import http.server
import io
import logging
import socket
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facerbm.datasets import cache_home, load_lfw
from facerbm.datasets.archive import download_url, extract_archive, safe_extract


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("FACERBM_HOME", str(tmp_path / "home"))
    # Loopback requests must not be sent to a proxy from the environment.
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return tmp_path / "home"


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes = b"x") -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _add_special(tar: tarfile.TarFile, name: str, kind: bytes, linkname: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    tar.addfile(info)


def hostile_tar(path: Path, kind: str) -> Path:
    """A tar with one good file, then one hostile member of the given kind."""
    with tarfile.open(path, "w") as tar:
        _add_bytes(tar, "good/ok.txt")
        if kind == "absolute":
            _add_bytes(tar, str(path.parent / "evil_absolute.txt"))
        elif kind == "dotdot":
            _add_bytes(tar, "good/../../evil_dotdot.txt")
        elif kind == "symlink_absolute":
            _add_special(tar, "good/link", tarfile.SYMTYPE, str(path.parent))
            _add_bytes(tar, "good/link/evil_via_link.txt")
        elif kind == "symlink_relative":
            _add_special(tar, "good/link", tarfile.SYMTYPE, "../..")
            _add_bytes(tar, "good/link/evil_via_link.txt")
        elif kind == "hardlink":
            _add_special(tar, "good/hard", tarfile.LNKTYPE, "../../outside.txt")
        elif kind == "device":
            _add_special(tar, "good/dev", tarfile.CHRTYPE)
        elif kind == "fifo":
            _add_special(tar, "good/fifo", tarfile.FIFOTYPE)
    return path


HOSTILE = ["absolute", "dotdot", "symlink_absolute", "symlink_relative", "hardlink", "device", "fifo"]


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_members_are_refused(tmp_path, kind):
    tar_path = hostile_tar(tmp_path / "bad.tar", kind)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(ValueError, match="unsafe archive member"):
        extract_archive(tar_path, progress=False)
    after = sorted(p.name for p in tmp_path.rglob("*"))
    # Nothing outside the cache appeared and nothing was left in it (the temp folder is gone).
    assert [n for n in after if n not in before and not n.startswith(("home", "extracted"))] == []
    assert not any(p.name.startswith("evil") for p in tmp_path.rglob("*"))
    assert list((cache_home() / "extracted").iterdir()) == []


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_member_is_named(tmp_path, kind):
    tar_path = hostile_tar(tmp_path / "bad.tar", kind)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(ValueError) as info:
        safe_extract(tar_path, dest, progress=False)
    names = {m.name for m in tarfile.open(tar_path).getmembers()} - {"good/ok.txt"}
    assert any(repr(n) in str(info.value) for n in names)


def test_links_inside_the_destination_are_allowed(tmp_path):
    path = tmp_path / "ok.tar"
    with tarfile.open(path, "w") as tar:
        _add_bytes(tar, "top/a/file.txt", b"hello")
        _add_special(tar, "top/b", tarfile.SYMTYPE, "a")
        _add_special(tar, "top/c.txt", tarfile.LNKTYPE, "top/a/file.txt")
    dest = extract_archive(path, progress=False)
    assert (dest / "top" / "b" / "file.txt").read_bytes() == b"hello"
    assert (dest / "top" / "c.txt").read_bytes() == b"hello"


# --- downloads --------------------------------------------------------------------------------


def tiny_lfw_tgz(tmp_path: Path) -> bytes:
    """An LFW-like .tgz (2 people, 3 images), as bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, n in (("Anna_Alpha", 2), ("Bruno_Beta", 1)):
            for i in range(1, n + 1):
                img = io.BytesIO()
                rng = np.random.default_rng(i)
                arr = rng.integers(0, 256, (250, 250, 3), dtype=np.uint8)
                Image.fromarray(arr).save(img, format="JPEG")
                _add_bytes(tar, f"lfw-deepfunneled/{name}/{name}_{i:04d}.jpg", img.getvalue())
    return buf.getvalue()


class Server:
    """Serves ``payload`` at /lfw-deepfunneled.tgz on 127.0.0.1, honouring Range if asked."""

    def __init__(self, payload: bytes, honour_range: bool = True):
        self.payload = payload
        self.honour_range = honour_range
        self.requests: list[str | None] = []  # the Range header of each request
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                outer.requests.append(self.headers.get("Range"))
                if self.path != "/lfw-deepfunneled.tgz":
                    self.send_error(404)
                    return
                data, status = outer.payload, 200
                rng = self.headers.get("Range")
                if rng and outer.honour_range:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        self.send_error(416)
                        return
                    data, status = data[start:], 206
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/lfw-deepfunneled.tgz"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def payload(tmp_path) -> bytes:
    return tiny_lfw_tgz(tmp_path)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_download_verifies_and_is_idempotent(tmp_path, payload):
    dest = tmp_path / "dl" / "lfw-deepfunneled.tgz"
    with Server(payload) as server:
        download_url(server.url, dest, sha256=sha(payload), progress=False)
        assert dest.read_bytes() == payload
        assert not dest.with_name(dest.name + ".part").exists()
        download_url(server.url, dest, sha256=sha(payload), progress=False)
        assert len(server.requests) == 1  # the verified file is reused


@pytest.mark.parametrize("honour_range", [True, False])
def test_download_resumes_a_partial_file(tmp_path, payload, honour_range):
    dest = tmp_path / "lfw-deepfunneled.tgz"
    part = tmp_path / "lfw-deepfunneled.tgz.part"
    cut = len(payload) // 3
    part.write_bytes(payload[:cut])
    with Server(payload, honour_range=honour_range) as server:
        download_url(server.url, dest, sha256=sha(payload), progress=False)
    assert server.requests == [f"bytes={cut}-"]
    assert dest.read_bytes() == payload and not part.exists()


def test_download_of_a_complete_part_file(tmp_path, payload):
    # A .part that already holds everything gets 416 and is fetched again.
    dest = tmp_path / "lfw-deepfunneled.tgz"
    (tmp_path / "lfw-deepfunneled.tgz.part").write_bytes(payload)
    with Server(payload) as server:
        download_url(server.url, dest, sha256=sha(payload), progress=False)
    assert server.requests == [f"bytes={len(payload)}-", None]
    assert dest.read_bytes() == payload


def test_checksum_mismatch(tmp_path, payload):
    dest = tmp_path / "lfw-deepfunneled.tgz"
    with Server(payload) as server:
        with pytest.raises(RuntimeError, match="checksum mismatch.*" + "0" * 64):
            download_url(server.url, dest, sha256="0" * 64, progress=False)
    assert not dest.exists() and not (tmp_path / "lfw-deepfunneled.tgz.part").exists()


def test_missing_checksum_is_logged(tmp_path, payload, caplog):
    with Server(payload) as server, caplog.at_level(logging.WARNING):
        download_url(server.url, tmp_path / "x.tgz", sha256=None, progress=False)
    assert "will not be verified" in caplog.text


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_message_says_how_to_use_a_local_copy(tmp_path):
    url = f"http://127.0.0.1:{_unused_port()}/lfw-deepfunneled.tgz"
    with pytest.raises(RuntimeError, match=r"could not download.*root=.*--data PATH"):
        load_lfw(download=True, url=url, progress=False)
    with pytest.raises(RuntimeError, match="could not download"):
        download_url(url, tmp_path / "x.tgz", progress=False)


def test_load_lfw_downloads_into_the_cache_once(payload):
    with Server(payload) as server:
        data = load_lfw(download=True, url=server.url, sha256=sha(payload), progress=False)
        assert len(data) == 3 and data.target_names == ("Anna_Alpha", "Bruno_Beta")
        assert (cache_home() / "downloads" / "lfw-deepfunneled.tgz").is_file()
        again = load_lfw(download=True, url=server.url, progress=False)
        assert np.array_equal(again.images, data.images)
        assert len(server.requests) == 1


def test_download_into_a_root_folder(tmp_path, payload):
    root = tmp_path / "mydata"
    with Server(payload) as server:
        data = load_lfw(root, download=True, url=server.url, sha256=sha(payload), progress=False)
    assert len(data) == 3 and (root / "lfw-deepfunneled.tgz").is_file()
