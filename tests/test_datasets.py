"""Benchmark names resolve to folders (srgan.datasets); ``srgan data fetch`` downloads checksummed sets
(srgan.fetch), tested against a local HTTP server laid out like raw.githubusercontent.com."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from srgan import fetch as fetch_module
from srgan.cli import main
from srgan.datasets import cache_root, data_roots, resolve_benchmark


@pytest.fixture
def no_roots(monkeypatch, tmp_path):
    """No $SRGAN_DATA, an empty user cache, and no ../shared/data beside the checkout."""
    monkeypatch.delenv("SRGAN_DATA", raising=False)
    monkeypatch.delenv("SRGAN_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr("srgan.datasets._checkout_data", lambda: None)
    return tmp_path


def test_names_resolve_in_root_order(no_roots, monkeypatch):
    explicit, env = no_roots / "explicit", no_roots / "env"
    for root in (explicit, env, cache_root()):
        (root / "benchmarks" / "Set5" / "HR").mkdir(parents=True)
    assert resolve_benchmark("Set5") == cache_root() / "benchmarks" / "Set5"
    monkeypatch.setenv("SRGAN_DATA", str(env))
    assert resolve_benchmark("set5") == env / "benchmarks" / "Set5"  # names are case-insensitive
    assert resolve_benchmark("SET5", explicit) == explicit / "benchmarks" / "Set5"
    assert data_roots(explicit) == [explicit]  # --data-root alone: a typo cannot fall through


def test_scripts_find_the_development_data_from_any_folder(monkeypatch, tmp_path):
    """Twelve scripts' default "../shared/data" worked from the repository root only (a traceback elsewhere)."""
    from srgan.datasets import development_data

    monkeypatch.delenv("SRGAN_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    assert development_data() == Path(__file__).resolve().parents[1].parent / "shared" / "data"
    monkeypatch.setenv("SRGAN_DATA", str(tmp_path / "mine"))
    assert development_data() == tmp_path / "mine"
    scripts = [*Path(__file__).resolve().parents[1].glob("scripts/*.py"),
               *Path(__file__).resolve().parents[1].glob("benchmarks/*.py")]
    assert not [p.name for p in scripts if '"../shared' in p.read_text()]


def test_a_mistyped_srgan_data_is_an_error_not_a_fall_through(no_roots, monkeypatch, capsys):
    (cache_root() / "benchmarks" / "Set5" / "HR").mkdir(parents=True)
    monkeypatch.setenv("SRGAN_DATA", str(no_roots / "typo"))  # Set5 was found in the cache without a word
    with pytest.raises(NotADirectoryError, match=rf"^\$SRGAN_DATA={no_roots / 'typo'}: no such folder \(`srgan data "
                                                 rf"fetch NAME` makes it; or unset it to search {cache_root()}\)$"):
        resolve_benchmark("Set5")
    # data list lists what is there, and says so: a new $SRGAN_DATA is made by data fetch (list refused it)
    assert main(["data", "list"]) == 0
    out, err = capsys.readouterr()
    assert err.startswith(f"srgan: warning: $SRGAN_DATA={no_roots / 'typo'}: no such folder yet (`srgan data fetch "
                          "NAME` makes it); the other roots are listed\n")
    assert f"set5      {cache_root() / 'benchmarks' / 'Set5'} (incomplete:" in out  # only its HR folder made here


def test_a_folder_is_taken_as_given(no_roots):
    folder = no_roots / "Set5"
    folder.mkdir()
    assert resolve_benchmark(str(folder)) == folder


def test_missing_benchmark_says_how_to_get_it(no_roots):
    with pytest.raises(ValueError, match=r"Set14: benchmark not found under .*srgan data fetch set14`"):
        resolve_benchmark("Set14")
    with pytest.raises(ValueError, match=rf"Set14: benchmark not found under {no_roots}; download it with `srgan data "
                                         rf"fetch set14 --data-root {no_roots}`$"):  # it would have gone elsewhere
        resolve_benchmark("Set14", no_roots)
    with pytest.raises(ValueError, match="Set7: no such folder, and not a benchmark name"):
        resolve_benchmark("Set7")
    (no_roots / "a.png").write_bytes(b"")  # it said "no such folder" of a file that is there
    with pytest.raises(ValueError, match=r"a\.png: is a file; --data takes a benchmark folder \(holding HR/\) or a "
                                         r"benchmark name$"):
        resolve_benchmark(str(no_roots / "a.png"))
    with pytest.raises(ValueError, match="no checksummed download"):
        resolve_benchmark("Urban100")


def test_readme_eval_by_name_works_from_the_checkout(shared_data, capsys):
    """The README's ``srgan eval ... --data Set5 Set14 BSD100`` form (issue 12: it failed with 'benchmark set
    folder not found'), with bicubic so it stays quick; the names are found through the data roots."""
    assert main(["eval", "--model", "bicubic", "--data", "Set5", "--data-root", str(shared_data)]) == 0
    assert "| Set5 | 5 | 28.42 | 0.8102 |" in capsys.readouterr().out


# --------------------------------------------------------------------------- fetch


class _Server:
    """A local HTTP server serving ``files`` ({url path: bytes}); records the paths asked for."""

    def __init__(self, files: dict[str, bytes], trickle: bool = False):
        self.files, self.asked = files, []
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self):
                server.asked.append(self.path)
                if trickle:  # a stalled mirror: one byte every half second, no length promised
                    self.send_response(200)
                    self.end_headers()
                    while True:
                        try:
                            self.wfile.write(b"x")
                            self.wfile.flush()
                        except OSError:
                            return
                        time.sleep(0.5)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory="/nonexistent"))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def set5_server(shared_data):
    """Set5 as raw.githubusercontent.com serves it, from the byte-identical shared copies."""
    repo, commit = fetch_module.SOURCES["set5"]
    files = {f"/{repo}/{commit}/{source}": (shared_data / dest).read_bytes()
             for dest, source, _sha, _size in fetch_module.manifest("set5")}
    server = _Server(files)
    yield server
    server.close()


def _tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) if root.exists() else []


def test_fetch_downloads_and_checks_every_file(set5_server, tmp_path, capsys):
    root = tmp_path / "data"
    assert main(["data", "fetch", "set5", "--data-root", str(root), "--mirror", set5_server.url]) == 0
    assert "set5: downloaded 10 file(s), 10 files checked by sha256" in capsys.readouterr().out
    assert len(list((root / "benchmarks/Set5/HR").glob("*.png"))) == 5
    assert len(list((root / "benchmarks/Set5/LR_bicubic_x4").glob("*.png"))) == 5
    assert not list(root.glob(".fetch-*"))  # the staging folder is gone
    assert resolve_benchmark("Set5", root) == root / "benchmarks/Set5"

    set5_server.asked.clear()  # a second fetch finds everything in place and downloads nothing
    assert main(["data", "fetch", "Set5", "--data-root", str(root), "--mirror", set5_server.url]) == 0
    assert "already complete" in capsys.readouterr().out and set5_server.asked == []


def test_a_mirror_may_be_a_local_folder_but_not_a_bare_word(set5_server, tmp_path, capsys):
    """A file:// mirror serves offline machines; 'notaurl' was "unknown url type: 'notaurl/jbhuang0604/...'"."""
    mirror = tmp_path / "mirror"
    for path, body in set5_server.files.items():
        (mirror / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (mirror / path.lstrip("/")).write_bytes(body)
    assert main(["data", "fetch", "set5", "--data-root", str(tmp_path / "d"), "--mirror", mirror.as_uri()]) == 0
    assert "set5: downloaded 10 file(s)" in capsys.readouterr().out
    assert main(["data", "fetch", "set5", "--data-root", str(tmp_path / "e"), "--mirror", "notaurl"]) == 1
    assert capsys.readouterr().err == ("srgan: error: --mirror notaurl: not an http(s):// or file:// URL; the default "
                                       "is https://raw.githubusercontent.com\n")
    assert _tree(tmp_path / "e") == []
    (mirror / "jbhuang0604").rename(tmp_path / "moved")  # a missing file in a local mirror is not "no internet?"
    assert main(["data", "fetch", "set5", "--data-root", str(tmp_path / "f"), "--mirror", mirror.as_uri()]) == 1
    err = capsys.readouterr().err
    assert "cannot read (" in err and "is the mirror folder laid out as OWNER/REPO/COMMIT/PATH" in err, err
    assert "no internet" not in err


def test_a_data_folder_that_cannot_be_made_names_the_setting_that_chose_it(set5_server, no_roots, monkeypatch,
                                                                          capsys):
    """It was "[Errno 20] Not a directory: '<file>/data'", naming neither the folder's role nor the setting."""
    (no_roots / "a_file").write_text("x")
    monkeypatch.setenv("SRGAN_CACHE_DIR", str(no_roots / "a_file"))
    assert main(["data", "fetch", "set5", "--mirror", set5_server.url]) == 1
    assert capsys.readouterr().err == (f"srgan: error: {no_roots / 'a_file' / 'data'}: cannot write the data there "
                                       "(Not a directory) (the folder $SRGAN_CACHE_DIR chose)\n")
    assert set5_server.asked == []


def test_fetch_goes_to_the_user_cache_by_default(set5_server, no_roots):
    fetch_module.fetch("set5", mirror=set5_server.url)
    assert resolve_benchmark("Set5") == cache_root() / "benchmarks/Set5"


def test_checksum_mismatch_is_one_error_and_leaves_nothing(set5_server, tmp_path, capsys):
    path = next(p for p in set5_server.files if p.endswith("img_003_SRF_4_HR.png"))
    set5_server.files[path] = set5_server.files[path][:-1] + b"\x00"  # one byte changed
    root = tmp_path / "data"
    assert main(["data", "fetch", "set5", "--data-root", str(root), "--mirror", set5_server.url]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "img_003_SRF_4_HR.png: checksum mismatch" in err and "nothing was kept" in err
    assert _tree(root) == []  # no partial set, no staging folder, not even the fresh data root


def test_unreachable_server_is_one_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(fetch_module, "TIMEOUT_S", 2)
    code = main(["data", "fetch", "set5", "--data-root", str(tmp_path / "d"), "--mirror", "http://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "cannot download" in err and "--mirror" in err
    assert _tree(tmp_path / "d") == []


def _one_reply_server(reply: bytes) -> str:
    """A socket that answers one request with ``reply`` and closes: the broken servers urllib cannot describe."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer():
        with listener, listener.accept()[0] as conn:
            conn.recv(65536)
            conn.sendall(reply)

    threading.Thread(target=answer, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/f.png"


@pytest.mark.parametrize("reply, message", [
    (b"HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 100,  # was "checksum mismatch"
     "the connection closed after 100 of 1000 bytes; try again"),
    (b"FOO BAR\r\n\r\n", "bad response from the server (BadStatusLine: FOO BAR); try again"),  # was "FOO BAR"
    (b"", "bad response from the server (RemoteDisconnected: "),  # was a message without the URL
], ids=["truncated", "garbage-status", "no-reply"])
def test_a_broken_download_is_one_line_naming_the_url(reply, message, tmp_path):
    url = _one_reply_server(reply)
    with pytest.raises(fetch_module.FetchError) as info:
        fetch_module.download(url, tmp_path / "f.png", "ab" * 32)
    assert str(info.value).startswith(f"{url}: {message}") and "\n" not in str(info.value)


@pytest.mark.parametrize("reply, message", [
    (b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * 300, "the server sent more than the file's 100 bytes; not the file"),
    (b"HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000,
     "the server sends 1000 bytes where the file has 100; not the file"),
], ids=["endless", "other-length"])
def test_a_download_takes_no_more_than_the_files_size(reply, message, tmp_path):
    """An endless reply (no Content-Length) was written until the disk was full."""
    url = _one_reply_server(reply)
    with pytest.raises(fetch_module.FetchError) as info:
        fetch_module.download(url, tmp_path / "f.png", "ab" * 32, size=100)
    assert str(info.value) == f"{url}: {message}"


def test_a_download_of_known_size_has_a_deadline(tmp_path, monkeypatch):
    """The timeout is per read: a server sending a byte every few seconds held a fetch for ever."""
    import types

    clock = iter(range(0, 10**6, 40))  # 40 s pass between looks at the clock
    monkeypatch.setattr(fetch_module, "time", types.SimpleNamespace(monotonic=lambda: next(clock)))
    url = _one_reply_server(b"HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 100)
    with pytest.raises(fetch_module.FetchError) as info:
        fetch_module.download(url, tmp_path / "f.png", "ab" * 32, size=100)
    assert str(info.value).startswith(f"{url}: too slow (100 of 100 bytes in 30 s)")


def test_a_download_that_cannot_be_written_names_the_file(tmp_path):
    """A full disk said "[Errno 28] No space left on device", naming nothing (here: a folder that is not there)."""
    url = _one_reply_server(b"HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\n" + b"x" * 10)
    dest = tmp_path / "gone" / "f.png"
    with pytest.raises(fetch_module.FetchError) as info:
        fetch_module.download(url, dest, "ab" * 32, size=10)
    assert str(info.value) == f"{dest}: cannot write the download (No such file or directory)"


def test_a_stopped_fetch_ends_at_once_and_leaves_nothing(tmp_path):
    """SIGTERM (or Ctrl-C) during a fetch from a stalled mirror: Ctrl-C used to hang (the thread pool waited for
    the stalled downloads) and a killed fetch left its staging folder behind."""
    server = _Server({}, trickle=True)
    root = tmp_path / "data"
    try:
        proc = subprocess.Popen([sys.executable, "-m", "srgan", "data", "fetch", "set5", "--data-root", str(root),
                                 "--mirror", server.url], stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not list(root.glob(".fetch-set5-*/**/*.png")):  # downloads under way
            assert time.monotonic() < deadline and proc.poll() is None, "the fetch never started downloading"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
        server.close()
    assert proc.returncode == 130 and err.strip().endswith("srgan: interrupted")
    assert _tree(root) == []  # no staging folder, no partial set, not even the fresh data root


def test_a_killed_fetchs_staging_folder_is_removed_by_the_next(tmp_path, capsys, monkeypatch):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    abandoned = tmp_path / "d" / f".fetch-set5-{int(gone.stdout)}"
    (abandoned / "benchmarks").mkdir(parents=True)
    mine = tmp_path / "d" / f".fetch-set14-{os.getppid()}"  # a live process's: left alone
    mine.mkdir()
    monkeypatch.setattr(fetch_module, "TIMEOUT_S", 2)
    assert main(["data", "fetch", "set5", "--data-root", str(tmp_path / "d"), "--mirror", "http://127.0.0.1:9"]) == 1
    assert not abandoned.exists() and mine.exists()


def test_a_set_is_put_in_place_whole_or_not_at_all(set5_server, tmp_path, capsys):
    """A folder where the set has a file stopped the moves part-way: 9 of 10 files in, a raw [Errno 21]."""
    root = tmp_path / "data"
    (root / "benchmarks" / "Set5" / "LR_bicubic_x4" / "woman.png" / "sub").mkdir(parents=True)
    assert main(["data", "fetch", "set5", "--data-root", str(root), "--mirror", set5_server.url]) == 1
    assert "woman.png: is a folder where the set has a file; remove it and fetch again" in capsys.readouterr().err
    assert [p for p in root.rglob("*") if p.is_file()] == []


def test_a_file_that_differs_is_replaced_and_kept(set5_server, tmp_path, capsys):
    """It was replaced without a word: someone's own baby.png, or a damaged copy, was gone."""
    root = tmp_path / "data"
    mine = root / "benchmarks" / "Set5" / "HR" / "baby.png"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"precious")
    assert main(["data", "fetch", "set5", "--data-root", str(root), "--mirror", set5_server.url]) == 0
    assert capsys.readouterr().err == (f"srgan: set5: 1 file(s) already there did not match the published checksums "
                                       f"and were replaced; each is kept as NAME.before-fetch (the first: {mine})\n")
    assert (mine.parent / "baby.png.before-fetch").read_bytes() == b"precious"
    assert fetch_module.file_sha256(mine) == dict((d, s) for d, _src, s, _n in fetch_module.manifest("set5"))[
        "benchmarks/Set5/HR/baby.png"]
    # a second fetch over another edit keeps both copies (it replaced the first .before-fetch)
    mine.write_bytes(b"my own edit")
    assert main(["data", "fetch", "set5", "--data-root", str(root), "--mirror", set5_server.url]) == 0
    capsys.readouterr()
    assert (mine.parent / "baby.png.before-fetch").read_bytes() == b"precious"
    assert (mine.parent / "baby.png.before-fetch.2").read_bytes() == b"my own edit"


def test_a_move_that_fails_undoes_the_others(set5_server, tmp_path, capsys, monkeypatch):
    """A read-only LR folder stopped the moves part-way: HR files in, LR not, someone's own baby.png renamed
    .before-fetch without a word, and a raw [Errno 13] naming the staging folder."""
    root = tmp_path / "data"
    mine = root / "benchmarks" / "Set5" / "HR" / "baby.png"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"precious")
    real_replace = os.replace

    def replace(src, dst):
        if str(dst).endswith("LR_bicubic_x4/head.png"):
            raise PermissionError(13, "Permission denied", str(src), None, str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(fetch_module.os, "replace", replace)
    assert main(["data", "fetch", "set5", "--data-root", str(root), "--mirror", set5_server.url]) == 1
    assert capsys.readouterr().err == (f"srgan: error: {root / 'benchmarks/Set5/LR_bicubic_x4/head.png'}: cannot put "
                                       "the downloaded file there (Permission denied); nothing was changed\n")
    assert _tree(root) == ["benchmarks", "benchmarks/Set5", "benchmarks/Set5/HR", "benchmarks/Set5/HR/baby.png"]
    assert mine.read_bytes() == b"precious"


def test_a_data_root_that_is_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "notes").write_text("mine")  # it used to be "[Errno 17] File exists"
    assert main(["data", "fetch", "set5", "--data-root", str(tmp_path / "notes")]) == 1
    assert capsys.readouterr().err == f"srgan: error: {tmp_path / 'notes'}: is a file; the data root must be a folder\n"


def test_urban100_is_refused_honestly(tmp_path, capsys):
    assert main(["data", "fetch", "urban100", "--data-root", str(tmp_path)]) == 1
    assert "urban100: no checksummed source" in capsys.readouterr().err


def test_manifest_matches_the_shared_copies(shared_data):
    """srgan/datasets.tsv (what users' downloads are checked against) agrees with the shared files, which
    MANIFEST.md says are byte-identical to the sources."""
    import hashlib

    for key in fetch_module.SOURCES:
        rows = fetch_module.manifest(key)
        assert rows, key
        for dest, _source, sha, size in rows[:3] + rows[-3:]:
            blob = (shared_data / dest).read_bytes()
            assert (hashlib.sha256(blob).hexdigest(), len(blob)) == (sha, size), dest
    counts = {key: len(fetch_module.manifest(key)) for key in fetch_module.SOURCES}
    assert counts == {"set5": 10, "set14": 28, "bsd100": 200, "t91": 91, "bsd200": 199}


def test_data_list_with_a_data_root_that_is_not_a_folder(tmp_path, capsys):
    """It exited 0, listing every set as "not found" under a mistyped root."""
    assert main(["data", "list", "--data-root", str(tmp_path / "nosuch")]) == 1
    assert capsys.readouterr() == ("", f"srgan: error: --data-root {tmp_path / 'nosuch'}: no such folder\n")


def test_data_list_says_a_set_is_incomplete(shared_data, tmp_path, capsys):
    """A Set5 missing an image was listed as found, and eval scored the four that were there."""
    import shutil

    shutil.copytree(shared_data / "benchmarks" / "Set5", tmp_path / "benchmarks" / "Set5")
    (tmp_path / "benchmarks" / "Set5" / "HR" / "baby.png").unlink()
    assert main(["data", "list", "--data-root", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        f"set5      {tmp_path / 'benchmarks' / 'Set5'} (incomplete: 1 of its 10 files missing, e.g. "
        f"benchmarks/Set5/HR/baby.png; srgan data fetch set5 --data-root {tmp_path})")
    hr_only = tmp_path / "hr_only"  # no LR folder: eval makes the LR, the set is whole
    shutil.copytree(shared_data / "benchmarks" / "Set5" / "HR", hr_only / "benchmarks" / "Set5" / "HR")
    assert main(["data", "list", "--data-root", str(hr_only)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"set5      {hr_only / 'benchmarks' / 'Set5'}"


def test_data_list_says_where_it_looked(tmp_path, capsys):
    """"not found (srgan data fetch set5)" did not say where it had looked."""
    assert main(["data", "list", "--data-root", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    # with the root it looked in: the advice without it fetched into the cache, and the list still said not found
    assert out.splitlines()[0] == f"set5      not found (srgan data fetch set5 --data-root {tmp_path})"
    assert err == (f"srgan: looked in {tmp_path} (each holding benchmarks/<Set> and train/<Set>; --data-root DIR or "
                   "$SRGAN_DATA looks elsewhere)\n")
