"""srgan serve's API through Starlette's test client, the study store and statistics, srgan study report."""
from __future__ import annotations

import io
import json
import math
import re
import socket
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

from extras import need
from srgan.cli import main
from srgan.serve import study as study_mod
from srgan.serve.report import format_report

need("starlette", "needs the serve extra: pip install -e '.[serve]'")
from starlette.testclient import TestClient  # noqa: E402

from srgan.serve.app import create_app  # noqa: E402


def png_bytes(w=12, h=10, noise=True) -> bytes:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8) if noise else np.zeros((h, w, 3), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def wait_done(client, job_id, timeout=30.0) -> dict:
    deadline = time.monotonic() + timeout
    while (job := client.get(f"/api/jobs/{job_id}").json())["status"] != "done":
        assert time.monotonic() < deadline, job
        time.sleep(0.02)
    return job


class Gate(torch.nn.Module):
    """A x4 nearest-neighbour 'model' that waits for ``event`` first: holds the queue's worker on demand."""

    scale = 4

    def __init__(self):
        super().__init__()
        self.event = threading.Event()

    def forward(self, x):
        assert self.event.wait(10)
        return torch.nn.functional.interpolate(x, scale_factor=4, mode="nearest")


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app({"bicubic": "bicubic"}, device="cpu", precision="fp32", max_pixels=10_000,
                               max_upload_bytes=20_000)) as c:
        yield c


@pytest.fixture()
def make_app():
    """create_app for tests that drive the app without its lifespan, closed afterwards (its runner's worker and
    temporary folder were left behind: one srgan-serve-* folder per test in /tmp)."""
    made = []

    def make(models):
        made.append(create_app(models, device="cpu"))
        return made[-1]

    yield make
    for app in made:
        app.state.runner.close()


@pytest.fixture()
def study_dir(tmp_path):
    rng = np.random.default_rng(1)
    for method in ("HR", "bicubic", "srgan"):
        for image in ("a", "b"):
            (tmp_path / method).mkdir(exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(tmp_path / method / f"{image}.png")
    return tmp_path


# --------------------------------------------------------------------------- upscale API


def test_models_and_pages(client):
    info = client.get("/api/models").json()
    assert [m["name"] for m in info["models"]] == ["bicubic"]
    assert info["models"][0] == {"name": "bicubic", "scale": 4, "device": "cpu", "precision": "fp64"}
    assert info["max_upload_bytes"] == 20_000 and info["study"] is False
    assert "upscale.js" in client.get("/").text and "study.js" in client.get("/study").text
    assert "Viewer" in client.get("/static/viewer.js").text


def test_bicubic_is_served_in_float64_whatever_the_precision():
    """`srgan serve --precision bf16` (or 'auto' on a bf16 CPU) ran bicubic in bf16 too; bicubic now refuses bf16,
    so serve gives it float64, as eval does, and the networks what was asked for."""
    from srgan.serve.jobs import JobRunner

    runner = JobRunner({"bicubic": "bicubic"}, "cpu", "bf16")
    try:
        assert runner.engines["bicubic"].precision == "fp64"
    finally:
        runner.close()


def test_upload_upscales_and_serves_png(client):
    r = client.post("/api/jobs?models=bicubic&name=dir/photo.jpg", content=png_bytes(12, 10))
    assert r.status_code == 202, r.text
    job = wait_done(client, r.json()["id"])
    assert job["name"] == "photo.jpg" and job["progress"] == 1.0
    (result,) = job["results"]
    assert result["error"] is None and result["seconds"] > 0 and result["precision"] == "fp64"
    png = client.get(result["url"])
    assert png.headers["content-type"] == "image/png"
    assert 'filename="photo_bicubic.png"' in png.headers["content-disposition"]
    assert Image.open(io.BytesIO(png.content)).size == (48, 40)
    assert Image.open(io.BytesIO(client.get(job["input"]).content)).size == (12, 10)


@pytest.mark.parametrize("mode", ["L", "I;16", "RGB", "LA"])
def test_served_images_are_srgan_upscales_bytes(mode, tmp_path):
    """The page promises srgan upscale's inference; 8-bit grayscale (with or without alpha) came back rounded
    twice, to RGB and then its luma (11.6-12.5% of the bundled samples' pixels, made grey, 1 level off)."""
    from srgan.models import Generator
    from srgan.engines import prepare
    from srgan.upscaling import upscale_file

    torch.manual_seed(0)
    model = Generator(scale=4, num_blocks=1, channels=8).eval()
    rng = np.random.default_rng(2)
    pixels = {"L": rng.integers(0, 256, (10, 12), dtype=np.uint8),
              "I;16": rng.integers(0, 65536, (10, 12), dtype=np.uint16),
              "RGB": rng.integers(0, 256, (10, 12, 3), dtype=np.uint8),
              "LA": rng.integers(0, 256, (10, 12, 2), dtype=np.uint8)}[mode]
    src = tmp_path / "in.png"
    Image.fromarray(pixels, mode if mode != "I;16" else None).save(src)
    with TestClient(create_app({"tiny": model}, device="cpu", precision="fp32")) as c:
        job = wait_done(c, c.post("/api/jobs?models=tiny&name=in.png", content=src.read_bytes()).json()["id"])
        served = Image.open(io.BytesIO(c.get(job["results"][0]["url"]).content))
    expected = Image.open(upscale_file(prepare(model, "cpu", "fp32"), src, tmp_path / "out.png"))
    assert served.mode == expected.mode and np.array_equal(np.asarray(served), np.asarray(expected))


def test_an_animated_upload_says_only_its_first_frame_is_upscaled(client):
    """srgan upscale warns of it; the page upscaled the first frame without a word."""
    frames = [Image.fromarray(np.full((10, 12, 3), v, np.uint8)) for v in (0, 128, 255)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    job = wait_done(client, client.post("/api/jobs?models=bicubic&name=a.gif", content=buf.getvalue()).json()["id"])
    assert job["warning"] == "3 frames (animated or multi-page); only the first is upscaled"
    job = wait_done(client, client.post("/api/jobs?models=bicubic", content=png_bytes()).json()["id"])
    assert job["warning"] is None


def test_second_upload_is_queued_not_lost():
    gate = Gate()
    with TestClient(create_app({"gate": gate}, device="cpu")) as c:
        first = c.post("/api/jobs?models=gate", content=png_bytes()).json()
        second = c.post("/api/jobs?models=gate", content=png_bytes(6, 6)).json()
        assert second["status"] == "queued" and second["ahead"] == 1
        gate.event.set()
        sizes = [Image.open(io.BytesIO(c.get(wait_done(c, j["id"])["results"][0]["url"]).content)).size
                 for j in (first, second)]
    assert sizes == [(48, 40), (24, 24)]


def test_stopping_a_busy_server_ends_its_job_and_waits_for_the_worker():
    """Ctrl-C on a server in the middle of a job aborted the process ("terminate called without an active
    exception", exit 134): its worker thread was still running torch when the process exited. Stopping now ends
    the running job at its next tile, runs none of those waiting, and waits for the worker."""
    calls = []

    class Counted(Gate):
        def forward(self, x):
            calls.append(x.shape)
            return super().forward(x)

    gate = Counted()
    with TestClient(create_app({"gate": gate}, device="cpu")) as c:
        running = c.post("/api/jobs?models=gate", content=png_bytes()).json()["id"]
        c.post("/api/jobs?models=gate", content=png_bytes(6, 6))
        runner = c.app.state.runner
        while not calls:
            time.sleep(0.01)
        threading.Timer(0.3, gate.event.set).start()  # the tile ends after the server has begun to stop
    assert not runner._worker.is_alive() and len(calls) == 1  # the waiting job never ran
    assert runner.jobs[running].results == [] and not runner.workdir.exists()


def test_a_full_queue_refuses_uploads_before_reading_them():
    """Each waiting job holds its decoded image: the queue used to grow without bound."""
    from srgan.serve.jobs import MAX_WAITING

    gate = Gate()
    with TestClient(create_app({"gate": gate}, device="cpu")) as c:
        jobs = [c.post("/api/jobs?models=gate", content=png_bytes()) for _ in range(MAX_WAITING)]
        assert [r.status_code for r in jobs] == [202] * MAX_WAITING
        r = c.post("/api/jobs?models=gate", content=png_bytes())
        assert r.status_code == 503 and f"{MAX_WAITING} jobs are already waiting" in r.json()["error"]
        assert r.headers["retry-after"] == "10"  # when to try again, for clients that read it
        wrong = c.put("/api/jobs?models=gate", content=png_bytes())  # the error's JSON kept the 405's Allow
        assert wrong.status_code == 405 and wrong.headers["allow"] == "POST" and "error" in wrong.json()
        gate.event.set()
        assert all(wait_done(c, j.json()["id"])["status"] == "done" for j in jobs)
        assert c.post("/api/jobs?models=gate", content=png_bytes()).status_code == 202  # room again


async def _upload(app, model: str, length: int | str, receive, statuses: list, replies: list | None = None) -> None:
    """POST /api/jobs?models=MODEL straight to the ASGI app, the body from ``receive`` (whose timing the test
    controls, as the test client cannot); the response status is appended to ``statuses``, its JSON to
    ``replies``."""
    async def send(message):
        if message["type"] == "http.response.start":
            statuses.append(message["status"])
        elif message.get("body") and replies is not None:
            replies.append(json.loads(message["body"]))

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/api/jobs", "raw_path": b"/api/jobs", "root_path": "",
             "query_string": f"models={model}".encode(), "headers": [(b"content-length", str(length).encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    await app(scope, receive, send)


def test_uploads_arriving_together_cannot_overfill_the_queue(make_app):
    """The queue used to be checked before the body was read but counted only after it was decoded, so uploads
    sent together all passed the check: 20 were taken with MAX_WAITING = 8."""
    import anyio

    from srgan.serve.jobs import MAX_WAITING

    gate, body, count = Gate(), png_bytes(), MAX_WAITING + 4
    app = make_app({"gate": gate})
    statuses, reading, bodies_sent = [], [], anyio.Event()

    async def upload(i):
        sent = False

        async def receive():  # the body only once every request is either reading it or answered
            nonlocal sent
            if sent:
                await anyio.sleep_forever()
            reading.append(i)
            await bodies_sent.wait()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await _upload(app, "gate", len(body), receive, statuses)

    async def all_at_once():
        async with anyio.create_task_group() as tasks:
            for i in range(count):
                tasks.start_soon(upload, i)
            while len(reading) + len(statuses) < count:
                await anyio.sleep(0)
            bodies_sent.set()

    try:
        anyio.run(all_at_once)
        assert sorted(statuses) == [202] * MAX_WAITING + [503] * 4
        assert app.state.runner.waiting() == MAX_WAITING
    finally:
        gate.event.set()
        app.state.runner.close()


def test_uploads_that_stall_hold_no_place_in_the_queue(make_app):
    """A place was held from before the body was read: eight uploads stalled part-way (a slow link, or on purpose)
    locked everyone out with "8 jobs are already waiting" while none was."""
    import anyio

    from srgan.serve.jobs import MAX_WAITING

    app = make_app({"bicubic": "bicubic"})
    body, stalled, statuses = png_bytes(), [], []

    async def request(receive):
        await _upload(app, "bicubic", len(body), receive, statuses)

    def stalling():
        reads = []

        async def receive():  # 10 bytes, then nothing more
            reads.append(1)
            if len(reads) == 1:
                return {"type": "http.request", "body": body[:10], "more_body": True}
            stalled.append(1)
            await anyio.sleep_forever()
        return receive

    async def whole():
        return {"type": "http.request", "body": body, "more_body": False}

    async def main():
        async with anyio.create_task_group() as tasks:
            for _ in range(MAX_WAITING):
                tasks.start_soon(request, stalling())
            while len(stalled) < MAX_WAITING:  # every one of them waiting for the rest of its body
                await anyio.sleep(0)
            await request(whole)
            tasks.cancel_scope.cancel()

    try:
        anyio.run(main)
        assert statuses == [202]
    finally:
        app.state.runner.close()


def test_a_refused_upload_gives_its_place_in_the_queue_back():
    from srgan.serve.jobs import MAX_WAITING

    gate = Gate()
    with TestClient(create_app({"gate": gate}, device="cpu", max_upload_bytes=20_000)) as c:
        for body in (b"not an image", b"x" * 20_001):  # 422 and 413, each once per place
            assert all(c.post("/api/jobs?models=gate", content=body).status_code in (413, 422)
                       for _ in range(MAX_WAITING))
        jobs = [c.post("/api/jobs?models=gate", content=png_bytes()) for _ in range(MAX_WAITING)]
        assert [r.status_code for r in jobs] == [202] * MAX_WAITING
        gate.event.set()


@pytest.mark.parametrize("body, status, words", [
    (b"this is not an image", 422, "not an image file"),
    (png_bytes()[:60], 422, "truncated or corrupt"),
    (png_bytes(101, 100, noise=False), 422, "exceeds the limit of 10000"),
    (b"", 422, "empty file"),
    (b"x" * 20_001, 413, "limit is 20000 bytes"),
])
def test_bad_uploads_get_a_clear_4xx(client, body, status, words):
    r = client.post("/api/jobs?models=bicubic&name=up.png", content=body)
    assert r.status_code == status and words in r.json()["error"], r.text


def test_a_content_length_that_is_not_a_number_is_400_not_413(make_app):
    import anyio

    async def receive():
        return {"type": "http.request", "body": png_bytes(), "more_body": False}

    statuses, replies = [], []
    app = make_app({"bicubic": "bicubic"})
    anyio.run(_upload, app, "bicubic", "12 34", receive, statuses, replies)
    assert statuses == [400] and replies == [{"error": "bad Content-Length header '12 34': expected a byte count"}]


def test_body_limit_also_holds_without_content_length(client):
    chunks = iter([b"x" * 8_000] * 10)  # a streamed (chunked) body: no Content-Length to check up front
    r = client.post("/api/jobs?models=bicubic", content=chunks)
    assert r.status_code == 413


@pytest.mark.parametrize("query, words", [("models=srgan9", "unknown model 'srgan9'"), ("", "no model chosen"),
                                          ("models=" + "x" * 60_000, f"unknown model '{'x' * 100}';")])
def test_unknown_or_missing_model_is_400(client, query, words):
    r = client.post(f"/api/jobs?{query}", content=png_bytes())
    assert r.status_code == 400 and words in r.json()["error"] and "bicubic" in r.json()["error"]
    assert len(r.text) < 300  # a 60,000-character name came back whole


def test_a_form_upload_is_told_to_send_the_image_itself(client):
    """curl -F file=@photo.png was answered "not an image file, or a format Pillow cannot read"."""
    r = client.post("/api/jobs?models=bicubic", files={"file": ("photo.png", png_bytes())})
    assert (r.status_code, r.json()) == (415, {"error": "send the image itself as the request body (curl "
                                                        "--data-binary @photo.png), not a form upload"})


def test_unknown_job_and_file_are_404(client):
    assert client.get("/api/jobs/nope").status_code == 404
    job = wait_done(client, client.post("/api/jobs?models=bicubic", content=png_bytes()).json()["id"])
    assert client.get(f"/api/jobs/{job['id']}/srgan.png").status_code == 404
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/api/study/next?rater=x").status_code == 404  # no --study


# --------------------------------------------------------------------------- study


def test_rating_round_trip_is_blind_and_stored(study_dir):
    with TestClient(create_app({"bicubic": "bicubic"}, study_dir=study_dir, device="cpu")) as c:
        seen = set()
        for i in range(6):
            n = c.get("/api/study/next?rater=r1").json()
            assert n["done"] is False and n["rated"] == i and n["total"] == 6
            assert not {"HR", "bicubic", "srgan", "a.png"} & set(json.dumps(n).split('"'))  # blind
            image = c.get(f"/api/study/image/{n['token']}")
            assert image.status_code == 200 and "srgan" not in str(image.headers)
            seen.add(image.content)
            r = c.post("/api/study/ratings", json={"rater": "r1", "token": n["token"], "score": 1 + i % 5})
            assert r.json() == {"saved": True}
        assert c.get("/api/study/next?rater=r1").json() == {"done": True, "rated": 6, "total": 6}
        assert c.get("/api/study/next?rater=r2").json()["rated"] == 0
    assert len(seen) == 6  # every stimulus exactly once
    lines = (study_dir / "ratings.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert sorted((r["method"], r["image"]) for r in records) == sorted(
        (m, i) for m in ("HR", "bicubic", "srgan") for i in ("a", "b"))
    assert [r["score"] for r in records] == [1, 2, 3, 4, 5, 1]
    # a restarted server remembers what r1 rated
    assert study_mod.Study(study_dir).next_for("r1")["done"] is True


@pytest.mark.parametrize("body, status", [
    ({"rater": "r1", "token": "forged", "score": 3}, 404),
    ({"rater": "r1", "token": None, "score": 6}, 400),
    ({"rater": "r1", "token": None, "score": 2.5}, 400),
    ({"rater": "../r1", "token": None, "score": 3}, 400),
    ({"rater": "r2", "token": None, "score": 3}, 404),  # another rater's token
    ([1, 2], 400),
])
def test_bad_ratings_are_refused(study_dir, body, status):
    with TestClient(create_app({"bicubic": "bicubic"}, study_dir=study_dir, device="cpu")) as c:
        token = c.get("/api/study/next?rater=r1").json()["token"]
        if isinstance(body, dict) and body["token"] is None:
            body["token"] = token
        r = c.post("/api/study/ratings", json=body)
        assert r.status_code == status and r.json()["error"]
        assert c.post("/api/study/ratings", content=b"{" * 5000).status_code == 413
        assert c.post("/api/study/ratings", content=b"{nope").status_code == 400
    assert not (study_dir / "ratings.jsonl").exists()


def test_deeply_nested_rating_json_is_400_not_500(study_dir):
    """3000 nested brackets fit the 4096-byte limit and made json.loads raise RecursionError: a 500."""
    with TestClient(create_app({"bicubic": "bicubic"}, study_dir=study_dir, device="cpu"),
                    raise_server_exceptions=False) as c:
        for body in (b"[" * 3000, b'{"a":' * 800):
            r = c.post("/api/study/ratings", content=body)
            assert r.status_code == 400 and r.json() == {"error": "the rating must be a JSON object"}


def test_only_study_files_are_served(study_dir, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "secret.png"
    Image.new("RGB", (4, 4)).save(outside)
    (study_dir / "srgan" / "c.png").symlink_to(outside)  # a link out of the study folder is not a stimulus
    assert all(s.path.name != "c.png" for s in study_mod.scan(study_dir))
    with TestClient(create_app({"bicubic": "bicubic"}, study_dir=study_dir, device="cpu")) as c:
        for url in ("/api/study/image/../../../etc/passwd", "/api/study/image/..%2F..%2Fratings.jsonl",
                    "/api/study/image/%2Fetc%2Fpasswd", f"/api/study/image/{outside}",
                    "/static/..%2F..%2F..%2Fimages.py", "/api/study/image/HR%2Fa.png"):
            r = c.get(url)
            assert r.status_code == 404, url


def test_study_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="no images in method folders"):
        study_mod.scan(tmp_path)
    with pytest.raises(ValueError, match="study folder not found"):
        study_mod.scan(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("x")  # it used to say "study folder not found" of a file that is there
    with pytest.raises(ValueError, match="notes.txt: is a file, not a study folder"):
        study_mod.scan(tmp_path / "notes.txt")
    (tmp_path / "notes.txt").unlink()
    (tmp_path / "srgan").mkdir()  # a.png and a.jpg: one stimulus name, and one of them was never shown
    for name in ("a.png", "a.jpg"):
        Image.new("RGB", (4, 4)).save(tmp_path / "srgan" / name)
    with pytest.raises(ValueError, match=r"srgan: a\.jpg and a\.png are one image name \(a\); keep one of them"):
        study_mod.scan(tmp_path)


def test_a_study_with_tiff_images_is_refused_at_startup(study_dir):
    """The rating page served .tif stimuli as image/tiff, which browsers do not display: raters saw none."""
    for method in ("HR", "srgan"):
        Image.new("RGB", (8, 8)).save(study_dir / method / "c.tif")
    with pytest.raises(ValueError) as caught:
        create_app({"bicubic": "bicubic"}, study_dir=study_dir, device="cpu")
    assert str(caught.value) == (f"{study_dir / 'HR' / 'c.tif'}: browsers cannot show .tif images, so raters would "
                                 "see none (2 such file(s) in the study); save them as .png (or .jpg, .jpeg, .jfif, "
                                 ".webp, .bmp)")
    assert len(study_mod.scan(study_dir)) == 8  # srgan study report still reads such a study


def test_torn_last_line_is_skipped_and_counted(study_dir):
    study_mod.append_rating(study_dir, {"rater": "r", "method": "HR", "image": "a", "score": 5})
    with open(study_dir / "ratings.jsonl", "a") as f:
        f.write('{"rater": "r", "method": "srg')  # a crash in the middle of a write
    ratings, bad = study_mod.read_ratings(study_dir)
    assert [r["score"] for r in ratings] == [5] and bad == 1
    # The server restarted on it: the next rating is a line of its own (it was glued to the torn one, and lost)
    with TestClient(create_app({"bicubic": "bicubic"}, study_dir=study_dir, device="cpu")) as c:
        token = c.get("/api/study/next?rater=r2").json()["token"]
        assert c.post("/api/study/ratings", json={"rater": "r2", "token": token, "score": 3}).json() == {"saved": True}
    ratings, bad = study_mod.read_ratings(study_dir)
    assert [r["score"] for r in ratings] == [5, 3] and bad == 1


def test_a_last_line_without_its_newline_keeps_its_rating(study_dir):
    (study_dir / "ratings.jsonl").write_text('{"image": "a", "method": "HR", "rater": "old", "score": 5}')  # hand-edited
    study = study_mod.Study(study_dir)
    token = study.next_for("r")["token"]
    study.rate("r", token, 2)
    assert [r["score"] for r in study_mod.read_ratings(study_dir)[0]] == [5, 2]  # it read 0 valid, 1 unreadable


def test_a_line_nested_too_deep_is_skipped_not_a_crash(study_dir, capsys):
    (study_dir / "ratings.jsonl").write_text("[" * 100_000 + "\n" + '{"method": "HR", "score": 4}\n')
    assert study_mod.read_ratings(study_dir)[1] == 1  # RecursionError stopped the report and the server
    assert study_mod.Study(study_dir).warnings() == [f"{study_dir / 'ratings.jsonl'}: 1 unreadable line(s), skipped"]
    assert main(["study", "report", str(study_dir)]) == 0
    assert "skipped 1 unreadable line(s)" in capsys.readouterr().err


def test_study_images_a_browser_cannot_show_are_refused_and_uneven_methods_named(study_dir):
    (study_dir / "srgan" / "b.png").unlink()  # srgan lacks b
    assert study_mod.Study(study_dir).warnings() == [
        f"{study_dir / 'srgan'}: lacks 1 image(s) the other methods have (b); its MOS is over fewer images"]
    for content in (b"", b"not a png"):  # served as image/png, never shown: raters could not finish
        (study_dir / "HR" / "c.png").write_bytes(content)
        with pytest.raises(ValueError, match=r"HR/c.png: .*; raters could not see it: replace or remove it"):
            study_mod.Study(study_dir)


def test_a_ratings_file_that_cannot_be_written_is_found_at_startup(study_dir, monkeypatch):
    (study_dir / "ratings.jsonl").mkdir()  # as a read-only folder does, even for root
    with pytest.raises(ValueError, match=r"ratings.jsonl: cannot be written \(Is a directory\); raters' scores"):
        study_mod.Study(study_dir)
    (study_dir / "ratings.jsonl").rmdir()
    study_mod.Study(study_dir)
    assert not (study_dir / "ratings.jsonl").exists()  # the check leaves no empty file behind

    def full(root, record):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(study_mod, "append_rating", full)  # a disk that fills while raters work: 500, in one line
    with TestClient(create_app({"bicubic": "bicubic"}, study_dir=study_dir, device="cpu")) as c:
        token = c.get("/api/study/next?rater=r").json()["token"]
        r = c.post("/api/study/ratings", json={"rater": "r", "token": token, "score": 3})
    assert (r.status_code, r.json()) == (500, {"error": "the rating could not be saved (No space left on device); "
                                                        "tell the person running the study"})


def test_an_upload_cut_off_is_a_400_not_a_traceback():
    import asyncio

    from starlette.exceptions import HTTPException
    from starlette.requests import Request

    from srgan.serve.app import _read_limited

    async def disconnect():
        return {"type": "http.disconnect"}

    request = Request({"type": "http", "method": "POST", "headers": [(b"content-length", b"100000")]}, disconnect)
    with pytest.raises(HTTPException) as caught:  # it was starlette's ClientDisconnect: 40 lines in the log
        asyncio.run(_read_limited(request, 1 << 20))
    assert caught.value.status_code == 400 and "cut off" in caught.value.detail


def test_an_upload_that_stalls_is_a_408(monkeypatch):
    """A body that stopped arriving held its connection and temporary file until the client went away."""
    import asyncio

    from starlette.exceptions import HTTPException
    from starlette.requests import Request

    from srgan.serve import app as app_module

    monkeypatch.setattr(app_module, "UPLOAD_STALL_S", 0.2)
    sent = iter([{"type": "http.request", "body": b"1234", "more_body": True}])

    async def receive():
        message = next(sent, None)
        if message is None:
            await asyncio.Event().wait()  # the client sends nothing more, ever: only the stall timeout ends this
        return message

    request = Request({"type": "http", "method": "POST", "headers": [(b"content-length", b"100000")]}, receive)
    with pytest.raises(HTTPException) as caught:  # a TimeoutError instead if the stall is not seen in 60 s
        asyncio.run(asyncio.wait_for(app_module._read_limited(request, 1 << 20), 60))
    assert caught.value.status_code == 408 and caught.value.detail == "the upload stalled: nothing arrived for 0.2 s"


@pytest.mark.parametrize("error", [MemoryError(), RuntimeError("DefaultCPUAllocator: can't allocate memory: you "
                                                                  "tried to allocate 123456789 bytes")])
def test_out_of_memory_is_said_so_and_the_next_job_runs(monkeypatch, error):
    """torch's CPU allocator raises a RuntimeError: the page showed its raw message, not "out of memory"."""
    from srgan.serve import jobs

    real = jobs.upscale_planes
    calls = []

    def first_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(jobs, "upscale_planes", first_fails)
    with TestClient(create_app({"bicubic": "bicubic"}, device="cpu")) as c:
        first = wait_done(c, c.post("/api/jobs?models=bicubic", content=png_bytes(4, 4)).json()["id"])
        second = wait_done(c, c.post("/api/jobs?models=bicubic", content=png_bytes(4, 4)).json()["id"])
    assert first["results"][0]["error"] == "out of memory" and second["results"][0]["error"] is None


def test_stopping_with_a_job_running_says_so(monkeypatch, capsys):
    """A busy server took minutes to stop (a CPU tile) and printed nothing meanwhile."""
    import threading

    from srgan.serve import jobs

    started = threading.Event()

    def slow(engine, rgb, alpha=None, *, progress=None, **kwargs):
        started.set()
        while True:  # one long tile: only the closing check at its end stops it
            time.sleep(0.01)
            progress(1)

    monkeypatch.setattr(jobs, "upscale_planes", slow)
    with TestClient(create_app({"bicubic": "bicubic"}, device="cpu")) as c:
        c.post("/api/jobs?models=bicubic", content=png_bytes(4, 4))
        assert started.wait(30)
    assert capsys.readouterr().err == "srgan: stopping: the running job ends at its current tile\n"


def test_a_forgotten_jobs_files_linger_for_downloads_already_under_way(monkeypatch):
    """A download that found the oldest job just before it was forgotten met a missing file: 500 or a cut body."""
    from srgan.serve import jobs

    monkeypatch.setattr(jobs, "KEEP_JOBS", 1)
    monkeypatch.setattr(jobs, "LINGER_JOBS", 2)
    with TestClient(create_app({"bicubic": "bicubic"}, device="cpu")) as c:
        runner = c.app.state.runner
        ids = []
        for _ in range(4):
            ids.append(c.post("/api/jobs?models=bicubic", content=png_bytes(4, 4)).json()["id"])
            wait_done(c, ids[-1])
        assert c.get(f"/api/jobs/{ids[0]}").status_code == 404  # forgotten at once ...
        kept = [i for i in ids if (runner.workdir / i / "input.png").is_file()]
        assert kept == ids[-3:], kept  # ... its files go LINGER_JOBS forgotten jobs later (at the next submit)


# --------------------------------------------------------------------------- report


def test_t975_matches_scipy():
    stats = need("scipy.stats", "needs scipy (the dev extra)")
    for df in (1, 2, 5, 30, 31, 50, 200, 5000):
        assert study_mod.t975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=2e-3)


def test_summary_mos_and_ci():
    ratings = [{"method": "a", "score": s} for s in (3, 4, 5)] + [{"method": "b", "score": 2}]
    a, b = study_mod.summarize(ratings)
    assert (a.method, a.n, a.mos, a.std) == ("a", 3, 4.0, 1.0)
    assert a.ci95 == pytest.approx(4.303 / math.sqrt(3))
    assert (b.method, b.n, b.mos) == ("b", 1, 2.0) and math.isnan(b.ci95)
    text = format_report([a, b])
    assert "1.52 - 6.48" in text and "n/a (one rating)" in text


def test_study_report_cli_prints_and_plots(study_dir, capsys):
    for score, method in [(5, "HR"), (4, "HR"), (2, "bicubic"), (3, "bicubic"), (4, "srgan")]:
        study_mod.append_rating(study_dir, {"rater": "r", "method": method, "image": "a", "score": score})
    assert main(["study", "report", str(study_dir)]) == 0
    out = capsys.readouterr().out
    rows = [line.split()[0] for line in out.splitlines()[1:4]]
    assert rows == ["HR", "srgan", "bicubic"] and "4.50" in out and "5 ratings from 1 rater(s)" in out
    plot = Image.open(study_dir / "mos.png")
    assert plot.size[0] > 200 and len(plot.getcolors(1 << 16)) > 2


def test_a_confidence_interval_past_the_axis_ends_in_an_arrow():
    """Whiskers were cut at 1 and 5 with a flat cap, as if the interval ended there (HR 2.73-5.77 drew 2.73-5)."""
    from srgan.serve.report import plot

    def cap_width(mos: float, ci95: float) -> int:  # black pixels on the row of the top end of the whisker
        page = np.asarray(plot([study_mod.MethodScore("m", 3, mos, 1.0, ci95)]).convert("L"))
        top = 20 + 300 * (5 - min(5.0, mos + ci95)) / 4
        return int((page[round(top) + (0 if mos + ci95 <= 5 else 1)] < 128).sum())

    assert cap_width(3.0, 1.0) >= 20  # inside the axis: the flat cap, 20 px wide
    assert cap_width(4.25, 1.52) <= 4  # past it: the tip of an arrowhead


def test_study_report_counts_only_integer_scores(study_dir, capsys):
    lines = [{"rater": "r", "method": "HR", "image": "a", "score": 5},
             {"rater": "r", "method": "HR", "image": "b", "score": True},  # == 1 in Python: it was counted
             {"rater": "r", "method": "HR", "image": "b", "score": 4.0}]
    (study_dir / "ratings.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert main(["study", "report", str(study_dir)]) == 0
    out, err = capsys.readouterr()
    assert "skipped 2 unreadable line(s)" in err and "1 ratings from 1 rater(s)" in out


def test_study_report_checks_its_plot_path_before_printing(study_dir, capsys):
    study_mod.append_rating(study_dir, {"rater": "r", "method": "HR", "image": "a", "score": 5})
    assert main(["study", "report", str(study_dir), "-o", str(study_dir / "mos.txt")]) == 1
    out, err = capsys.readouterr()  # the table used to be printed, then the extension refused
    assert out == "" and err == f"srgan: error: {study_dir / 'mos.txt'}: the plot is an image; name a " \
                                ".png, .jpg, .jpeg, .jfif, .bmp, .webp, .tif, .tiff file\n"
    stimulus = study_dir / "srgan" / "a.png"
    before = stimulus.read_bytes()
    assert main(["study", "report", str(study_dir), "-o", str(study_dir / "srgan" / "." / "a.png")]) == 1
    assert capsys.readouterr().err.endswith("is one of the study's images; the plot would replace it\n")
    assert stimulus.read_bytes() == before
    assert main(["study", "report", str(study_dir), "-o", str(study_dir / "plot.png")]) == 0
    assert main(["study", "report", str(study_dir), "-o", str(study_dir / "plot.png")]) == 0  # an old plot: replaced


def test_study_report_that_cannot_write_its_plot_prints_no_table(study_dir, capsys):
    study_mod.append_rating(study_dir, {"rater": "r", "method": "HR", "image": "a", "score": 5})
    (study_dir / "mos.png").mkdir()  # the table was printed, then the plot failed
    assert main(["study", "report", str(study_dir)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"srgan: error: {study_dir / 'mos.png'}") and err.count("\n") == 1
    (study_dir / "mos.png").rmdir()
    (study_dir / "bad\nname").mkdir()  # a newline in a method's name broke the report's rows
    Image.new("RGB", (8, 8)).save(study_dir / "bad\nname" / "a.png")
    with pytest.raises(ValueError, match="a method folder's name must be printable"):
        study_mod.Study(study_dir)


def test_study_report_keeps_its_plot_out_of_the_method_folders(study_dir, tmp_path_factory, capsys):
    """-o DIR/HR/plot.png became an image for raters to score, and DIR/srgan/a.jpg (beside a.png) then stopped
    srgan serve --study; the folders are compared resolved, so a link to one is caught too."""
    study_mod.append_rating(study_dir, {"rater": "r", "method": "HR", "image": "a", "score": 5})
    link = tmp_path_factory.mktemp("elsewhere") / "hr"
    link.symlink_to(study_dir / "HR")
    stimuli = study_mod.scan(study_dir)
    for out, method in [(study_dir / "HR" / "plot.png", "HR"), (study_dir / "srgan" / "a.jpg", "srgan"),
                        (link / "plot.png", "HR"), (study_dir / "plots" / "mos.png", "plots")]:
        assert main(["study", "report", str(study_dir), "-o", str(out)]) == 1
        assert capsys.readouterr() == ("", f"srgan: error: {out}: is in the study's {method}/ folder, where srgan "
                                           "serve --study would take it for an image to rate; write the plot in the "
                                           "study folder itself or outside it\n")
    assert study_mod.scan(study_dir) == stimuli and not (study_dir / "plots").exists()
    assert main(["study", "report", str(study_dir), "-o", str(study_dir / ".plots" / "mos.png")]) == 0  # not scanned


def test_study_report_without_ratings_is_one_line_error(study_dir, tmp_path, capsys):
    assert main(["study", "report", str(study_dir)]) == 1
    assert "no ratings yet" in capsys.readouterr().err
    assert main(["study", "report", str(tmp_path / "nosuch")]) == 1  # it used to say "no ratings yet" too
    assert capsys.readouterr() == ("", f"srgan: error: {tmp_path / 'nosuch'}: study folder not found\n")
    (tmp_path / "ratings.jsonl").write_text("")
    assert main(["study", "report", str(tmp_path / "ratings.jsonl")]) == 1
    assert capsys.readouterr().err.endswith("ratings.jsonl: is a file, not a study folder (one subfolder of images per method)\n")


def test_a_port_that_cannot_be_used_is_one_line_error_before_serving(capsys):
    with socket.create_server(("127.0.0.1", 0)) as taken:  # listening, as another server on the port would be
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 1
    assert capsys.readouterr() == ("", f"srgan: error: 127.0.0.1:{port}: cannot listen there (Address already in use)\n")
    assert main(["serve", "--port", "99999"]) == 1  # it used to be an OverflowError from bind()
    assert capsys.readouterr().err == "srgan: error: --port must be 0-65535, got 99999\n"
    assert main(["serve", "--port", "0", "--max-pixels", "0"]) == 1  # a limit that would refuse every upload
    assert capsys.readouterr().err == "srgan: error: --max-pixels must be positive\n"


def test_a_huge_max_upload_mb_is_no_limit_not_an_overflow(monkeypatch):
    from srgan.serve import app as app_module
    from srgan.serve import commands

    seen = {}

    def create(*args, **kwargs):
        seen.update(kwargs)
        raise SystemExit(0)  # the limit was computed: stop before serving

    monkeypatch.setattr(app_module, "create_app", create)
    with pytest.raises(SystemExit):  # int(1e303 * 2**20) was an OverflowError
        main(["serve", "--port", "0", "--max-upload-mb", "1e303"])
    assert seen["max_upload_bytes"] == 2 ** 62 and commands.MIN_UPLOAD_MB == 0.001


def test_a_hang_up_stops_the_server_as_sigterm_does(tmp_path):
    """SIGHUP (the terminal or ssh session closed) killed the server outright: the job folder, with the users'
    uploads and results, stayed in the temporary folder. uvicorn handles SIGINT and SIGTERM only."""
    import os
    import signal
    import subprocess
    import sys

    import urllib.request

    env = {**os.environ, "TMPDIR": str(tmp_path)}
    # at once after the banner (uvicorn not yet handling signals: SIGTERM killed it there too), and once serving
    for signum, ready in ((signal.SIGHUP, False), (signal.SIGHUP, True), (signal.SIGTERM, False)):
        server = subprocess.Popen([sys.executable, "-m", "srgan", "serve", "--port", "0", "--device", "cpu"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            url = re.match(r"srgan serve: (\S+)", server.stdout.readline())[1]
            assert [p.name[:12] for p in tmp_path.iterdir()] == ["srgan-serve-"]
            if ready:
                for _ in range(600):
                    try:
                        urllib.request.urlopen(url + "api/models", timeout=5).read()
                        break
                    except OSError:
                        time.sleep(0.1)
            server.send_signal(signum)
            # uvicorn shuts down on SIGTERM, then re-raises it (-15); before it runs, srgan's "interrupted" (130)
            assert server.wait(60) in (0, 130, -signal.SIGTERM), server.stderr.read()
        finally:
            server.kill()
        assert list(tmp_path.iterdir()) == []


def test_the_banner_says_the_upload_limits(capsys, monkeypatch):
    """The defaults (50 MB, 200 megapixels: gigabytes of memory at x4) were in docs/SERVE.md only."""
    import uvicorn

    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: None)
    assert main(["serve", "--port", "0", "--max-pixels", "4000000"]) == 0
    banner = capsys.readouterr().out
    assert re.fullmatch(r"srgan serve: http://127\.0\.0\.1:\d+/  \(uploads up to 50 MB and 4 megapixels: "
                        r"--max-upload-mb, --max-pixels\)\n", banner), banner


@pytest.mark.parametrize("value", ["0", "0.0000001", "-1", "inf", "nan"])
def test_max_upload_mb_must_be_finite_and_hold_an_image(capsys, monkeypatch, value):
    """inf and nan failed in int() (OverflowError, ValueError); 0.0000001 served with a 0-byte limit."""
    from srgan.serve import app as app_module

    monkeypatch.setattr(app_module, "create_app", lambda *a, **k: pytest.fail("the server was started"))
    assert main(["serve", "--port", "0", "--max-upload-mb", value]) == 1
    assert capsys.readouterr() == ("", "srgan: error: --max-upload-mb must be a number from 0.001 (about 1 KB), "
                                       f"got {float(value):g}\n")


@pytest.mark.parametrize("file, problem", [
    ("input.pt", "'input' cannot be a model name (it is the page's input image); rename the file, e.g. to "
                 "input_model.pt"),  # its result was refused: input.png already existed in the job's folder
    ("mine,v2.safetensors", "the model name 'mine,v2' has ',', which the page's URLs and model list cannot carry; "
                            "rename the file with letters, digits, '.', '_' and '-' only, e.g. to mine_v2.safetensors"),
    ("run#3.pt", "the model name 'run#3' has '#', which the page's URLs and model list cannot carry; "
                 "rename the file with letters, digits, '.', '_' and '-' only, e.g. to run_3.pt"),
])
def test_a_model_file_name_the_page_cannot_use_is_refused_at_startup(tmp_path, capsys, file, problem):
    """A ',' split the name in the models= list; a '#' cut the result's URL short (404)."""
    assert main(["serve", "--port", "0", "--model", str(tmp_path / file)]) == 1
    assert capsys.readouterr() == ("", f"srgan: error: {tmp_path / file}: {problem}\n")


def test_model_names_of_letters_digits_dots_dashes_are_served():
    from srgan.serve.commands import served_models

    assert list(served_models(["runs/x/My-run_2.v3.safetensors"]))[-1] == "My-run_2.v3"


def test_a_shipped_name_as_a_model_file_is_told_it_is_served_already(tmp_path, monkeypatch):
    """--model srgan said "a model named 'srgan' is already served; rename the file", and there was no file."""
    from srgan.serve.commands import served_models

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"^srgan: no such weights file \(srgan is served without --model: --model "
                                         r"adds your own weights files\)$"):
        served_models(["srgan"])
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "bicubic.pt").write_bytes(b"")
    with pytest.raises(ValueError, match="a model named 'bicubic' is already served; rename the file$"):
        served_models(["a/bicubic.pt"])


def test_a_bad_study_folder_fails_before_models_load(tmp_path, monkeypatch):
    """It used to load every model and make the job runner's temporary folder first, then leave it behind."""
    from srgan.serve import app as app_module

    monkeypatch.setattr(app_module, "JobRunner", lambda *a, **k: pytest.fail("models loaded before the check"))
    with pytest.raises(ValueError, match="study folder not found"):
        create_app({"bicubic": "bicubic"}, study_dir=tmp_path / "missing")
