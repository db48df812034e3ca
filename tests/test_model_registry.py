"""The model registry: downloads from a local HTTP server (127.0.0.1) with real checksums.

The server serves a random-weight tiny SAM checkpoint (its real SHA-256 in a
test entry), answers ``Range`` requests with 206, and can cut the connection
half-way through a body, so resuming, bad checksums, size-only entries,
offline use and the ``gazeseg models`` commands are all exercised for real.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import socket
import subprocess
import sys
import threading

import pytest
from sam_tiny import TINY_TYPE, tiny_checkpoint  # noqa: F401  (fixture)

from napari_gazeseg.cli import main
from napari_gazeseg.models import registry
from napari_gazeseg.models.registry import ModelDownloadError, ModelEntry


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):  # noqa: N802
        server = self.server
        data = server.files.get(self.path)
        asked = self.headers.get("Range")
        server.log.append((self.path, asked))
        if data is None:
            self.send_error(404)
            return
        start = 0
        if asked and server.ranges:
            start = int(re.match(r"bytes=(\d+)-", asked).group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if server.cuts > 0:  # send half the body, then drop the connection
            server.cuts -= 1
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.log, httpd.cuts, httpd.ranges = {}, [], 0, True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def cache(monkeypatch, tmp_path):
    """An empty user cache; no user registry or checkpoint folders."""
    for name in ("GAZESEG_MODEL_REGISTRY", "GAZESEG_SAM_DIR", "GAZESEG_SAM_CHECKPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    return tmp_path / "user-cache" / "napari-gazeseg" / "sam"


@pytest.fixture
def checkpoint_bytes(tiny_checkpoint):  # noqa: F811
    return tiny_checkpoint.read_bytes()


def _entry(server, data: bytes, **changes) -> ModelEntry:
    server.files["/models/tiny.pth"] = data
    values = dict(
        name="tiny_test", family="SAM", architecture=TINY_TYPE, file_name="sam_vit_tiny_test.pth",
        urls=(server.url + "/models/tiny.pth",), sha256=hashlib.sha256(data).hexdigest(), size=len(data),
        licence="test only", images="tests",
    )
    values.update(changes)
    return ModelEntry(**values)


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _one_sentence(message: str) -> bool:
    return "\n" not in message and message.endswith(".") and "Traceback" not in message


def test_a_download_is_checked_placed_and_loads(server, cache, checkpoint_bytes):
    from napari_gazeseg.models.sam_loading import load_sam

    item = _entry(server, checkpoint_bytes)
    calls = []
    path = registry.download(item, progress=lambda done, total: calls.append((done, total)))
    assert path == cache / item.file_name
    assert hashlib.sha256(path.read_bytes()).hexdigest() == item.sha256
    assert calls[-1] == (len(checkpoint_bytes), len(checkpoint_bytes))
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert _leftovers(cache) == [item.file_name]  # no .part, .lock or pooch temporary left
    assert registry.is_downloaded(item) and registry.verify(item).status == "ok"
    # the file is where the SAM loader looks: found by model type alone
    assert load_sam(TINY_TYPE, device="cpu").checkpoint == path


def test_a_cut_connection_resumes_with_a_range_request(server, cache, checkpoint_bytes):
    item = _entry(server, checkpoint_bytes)
    server.cuts = 1
    path = registry.download(item)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == item.sha256
    (_, first_range), (_, second_range) = server.log
    resumed_at = int(re.fullmatch(r"bytes=(\d+)-", second_range).group(1))
    assert first_range is None and 0 < resumed_at <= len(checkpoint_bytes) // 2  # only what is missing
    assert _leftovers(cache) == [item.file_name]


def test_an_interrupted_download_keeps_only_a_partial_and_resumes_next_time(server, cache, checkpoint_bytes):
    item = _entry(server, checkpoint_bytes)
    server.cuts = 2
    with pytest.raises(ModelDownloadError) as err:
        registry.download(item, retries=1)
    message = str(err.value)
    assert _one_sentence(message) and "again to resume" in message and "pass its path" in message
    assert _leftovers(cache) == [item.file_name + ".part"]  # never a file under the final name
    kept = (cache / (item.file_name + ".part")).stat().st_size
    assert 0 < kept < len(checkpoint_bytes)
    server.log.clear()
    path = registry.download(item)
    assert server.log == [("/models/tiny.pth", f"bytes={kept}-")]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == item.sha256
    assert _leftovers(cache) == [item.file_name]


def test_a_server_without_ranges_restarts_from_the_start(server, cache, checkpoint_bytes):
    item = _entry(server, checkpoint_bytes)
    server.ranges, server.cuts = False, 1
    path = registry.download(item)
    assert path.read_bytes() == checkpoint_bytes


@pytest.mark.parametrize("wrong", ["sha256", "size", "other hash"])
def test_a_wrong_checksum_or_size_is_one_sentence_and_leaves_no_file(server, cache, checkpoint_bytes, wrong):
    changes = {
        "sha256": {"sha256": hashlib.sha256(b"another file").hexdigest()},
        "size": {"sha256": None, "size": len(checkpoint_bytes) + 1},
        "other hash": {"sha256": None, "other_hash": "md5:" + hashlib.md5(b"another").hexdigest()},
    }[wrong]
    item = _entry(server, checkpoint_bytes, **changes)
    with pytest.raises(ModelDownloadError) as err:
        registry.download(item)
    assert _one_sentence(str(err.value)) and "deleted" in str(err.value)
    assert _leftovers(cache) == []


@pytest.mark.parametrize("algorithm", ["md5", "xxh128", "size only"])
def test_entries_without_a_sha256_are_checked_with_what_they_have(server, cache, checkpoint_bytes, algorithm):
    if algorithm == "md5":
        other = "md5:" + hashlib.md5(checkpoint_bytes).hexdigest()
    elif algorithm == "xxh128":
        xxhash = pytest.importorskip("xxhash")
        other = "xxh128:" + xxhash.xxh128(checkpoint_bytes).hexdigest()
    else:
        other = None
    item = _entry(server, checkpoint_bytes, sha256=None, other_hash=other)
    assert registry.download(item).read_bytes() == checkpoint_bytes
    assert registry.verify(item).status == "ok"


def test_a_second_url_is_tried_when_the_first_fails(server, cache, checkpoint_bytes):
    item = _entry(server, checkpoint_bytes)
    item = ModelEntry(**{**item.to_dict(), "urls": [server.url + "/gone.pth", *item.urls]})
    assert registry.download(item).read_bytes() == checkpoint_bytes
    assert [path for path, _ in server.log] == ["/gone.pth", "/models/tiny.pth"]


def test_offline_a_downloaded_or_local_file_needs_no_network(server, cache, checkpoint_bytes, tmp_path):
    item = _entry(server, checkpoint_bytes)
    with pytest.raises(ModelDownloadError) as err:
        registry.checkpoint_path(item)
    assert _one_sentence(str(err.value)) and "gazeseg models download tiny_test" in str(err.value)
    registry.download(item)
    server.log.clear()
    server.files.clear()  # the "network" is gone
    assert registry.download(item) == cache / item.file_name and server.log == []
    assert registry.checkpoint_path(item) == cache / item.file_name
    own = tmp_path / "my copy.pth"
    own.write_bytes(checkpoint_bytes)
    assert registry.checkpoint_path(own) == own
    with pytest.raises(ModelDownloadError, match="does not exist"):
        registry.checkpoint_path(tmp_path / "missing.pth")


def test_a_truncated_file_in_the_cache_is_not_used_and_is_replaced(server, cache, checkpoint_bytes):
    item = _entry(server, checkpoint_bytes)
    cache.mkdir(parents=True)
    (cache / item.file_name).write_bytes(checkpoint_bytes[:100])
    assert not registry.is_downloaded(item)
    assert registry.verify(item).status == "mismatch"
    assert registry.download(item).read_bytes() == checkpoint_bytes


def test_gazeseg_models_list_download_verify(server, cache, checkpoint_bytes, tmp_path, monkeypatch, capsys):
    item = _entry(server, checkpoint_bytes)
    extra = tmp_path / "models.json"
    extra.write_text(json.dumps([item.to_dict()]))
    monkeypatch.setenv("GAZESEG_MODEL_REGISTRY", str(extra))
    assert main(["models", "list"]) == 0
    listing = capsys.readouterr().out
    assert re.search(r"tiny_test .* will download \([\d.]+ [KM]B\)", listing) and "sam_vit_h" in listing
    assert main(["models", "download", "tiny_test", "--quiet"]) == 0
    assert f"tiny_test: {cache / item.file_name} (SHA-256 checked)" in capsys.readouterr().out
    assert main(["models", "list"]) == 0
    assert re.search(r"tiny_test .* downloaded", capsys.readouterr().out)
    assert main(["models", "verify"]) == 0
    assert "tiny_test: ok (sha256 matches)" in capsys.readouterr().out
    (cache / item.file_name).write_bytes(b"x" * len(checkpoint_bytes))
    assert main(["models", "verify", "tiny_test"]) == 1
    assert "tiny_test: mismatch (sha256 " in capsys.readouterr().out
    assert main(["models", "download", "no_such_model"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gazeseg models: no model is called 'no_such_model'") and "\n" not in err


def test_a_broken_user_registry_file_is_one_sentence(cache, tmp_path, monkeypatch, capsys):
    extra = tmp_path / "models.json"
    extra.write_text('[{"name": "x"}]')
    monkeypatch.setenv("GAZESEG_MODEL_REGISTRY", str(extra))
    assert main(["models", "list"]) == 2
    err = capsys.readouterr().err.strip()
    assert "GAZESEG_MODEL_REGISTRY" in err and "\n" not in err


def test_the_built_in_entries_are_complete_and_consistent():
    items = registry.BUILTIN_ENTRIES
    assert len({e.name for e in items}) == len(items) and len({e.file_name for e in items}) == len(items)
    assert {e.family for e in items} == {"SAM", "MedSAM", "micro-sam", "SAM 2"}
    for item in items:
        assert item.urls and all(url.startswith("https://") for url in item.urls), item.name
        assert item.sha256 or item.other_hash or item.size, item.name  # something is always checked
        if item.sha256 is None:
            assert item.hash_note, f"{item.name} must say why it has no SHA-256"
        assert item.licence and item.images, item.name
    official = {e.name: e for e in items if e.family == "SAM"}
    from napari_gazeseg.models.sam_loading import OFFICIAL_CHECKPOINTS

    for model_type, (file_name, url) in OFFICIAL_CHECKPOINTS.items():
        assert official[f"sam_{model_type}"].file_name == file_name and url in official[f"sam_{model_type}"].urls
    assert registry.entry("medsam_vit_b").preprocessing == "medsam"


def test_importing_the_registry_touches_no_network_library():
    code = (
        "import sys; import napari_gazeseg.models.registry as r; r.entries(); "
        "print(sorted(m for m in ('requests', 'pooch', 'urllib3') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_raising_from_the_progress_callback_cancels_and_keeps_the_partial(server, cache, checkpoint_bytes):
    item = _entry(server, checkpoint_bytes)

    class Cancelled(Exception):
        pass

    def cancel_after_the_first_chunk(done, total):
        if done > 0:
            raise Cancelled

    with pytest.raises(Cancelled):
        registry.download(item, progress=cancel_after_the_first_chunk)
    assert _leftovers(cache) == [item.file_name + ".part"]
    server.log.clear()
    assert registry.download(item).read_bytes() == checkpoint_bytes
    assert server.log[0][1].startswith("bytes=") and _leftovers(cache) == [item.file_name]
