"""The web app: static pages plus a small JSON API (Starlette).

Every failure a user can cause is an HTTP 4xx whose JSON body is ``{"error": "<one line>"}``, which the page
shows as it is: 400 a bad request, 404 an unknown job/stimulus, 413 an upload over the size limit, 415 a form
upload (the API takes the image as the body), 422 a file that is not a usable image (not an image, corrupt, too
many pixels). Upload bodies are streamed to disk and counted, so an oversized one is refused as soon as it passes
the limit (at once when Content-Length says so), never read whole. Study images are fetched by opaque token, so
no client-supplied path is ever opened.

API: ``GET /api/models``; ``POST /api/jobs?models=a,b&name=photo.png`` (body: the image file) -> job;
``GET /api/jobs/{id}``; ``GET /api/jobs/{id}/{input|model}.png``; ``GET /api/study/next?rater=R``;
``GET /api/study/image/{token}``; ``POST /api/study/ratings`` ``{"rater", "token", "score"}``.
"""
from __future__ import annotations

import asyncio
import json
import os
import secrets
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..images import DEFAULT_MAX_PIXELS, ImageError, extra_frames, read_image
from .jobs import MAX_WAITING, Job, JobRunner
from .study import RATER_ID, SCORES, Study

STATIC = Path(__file__).resolve().parent / "static"
#: Largest upload accepted, in bytes: a 50 MB PNG is already a ~25-megapixel photo, far past what a page
#: can compare at 4x. ``srgan serve --max-upload-mb`` changes it.
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_RATING_BYTES = 4096
#: An upload that sends nothing for this long is answered 408 and its connection, file and temporary file freed:
#: stalled uploads held them until the client went away (400 of them stayed open for minutes in a test).
UPLOAD_STALL_S = 60.0


async def _read_limited(request: Request, limit: int, sink=None) -> bytes:
    """The request body, refused with 413 once it passes ``limit`` bytes; chunks go to ``sink`` if given."""
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise HTTPException(400, f"bad Content-Length header {declared[:40]!r}: expected a byte count")
    if declared is not None and int(declared) > limit:
        raise HTTPException(413, f"request body too large: the limit is {limit} bytes")
    size, chunks = 0, []
    stream = request.stream()
    try:
        while True:
            try:
                chunk = await asyncio.wait_for(anext(stream), UPLOAD_STALL_S)
            except StopAsyncIteration:
                break
            except asyncio.TimeoutError:
                raise HTTPException(408, f"the upload stalled: nothing arrived for {UPLOAD_STALL_S:g} s") from None
            size += len(chunk)
            if size > limit:
                raise HTTPException(413, f"request body too large: the limit is {limit} bytes")
            sink.write(chunk) if sink else chunks.append(chunk)
    except ClientDisconnect:  # a tab closed mid-upload: no one to answer, and no traceback in the server's log
        raise HTTPException(400, "the request was cut off before its body arrived") from None
    return b"".join(chunks)


def _job_json(runner: JobRunner, job: Job) -> dict:
    return {
        "id": job.id, "name": job.name, "status": job.status, "progress": round(job.progress, 4),
        "ahead": runner.position(job) if job.status == "queued" else 0, "models": job.models,
        "input": f"/api/jobs/{job.id}/input.png", "warning": job.warning,
        "results": [{"model": r.model, "seconds": round(r.seconds, 3), "error": r.error,
                     "url": f"/api/jobs/{job.id}/{r.model}.png" if r.path else None,
                     **{k: v for k, v in runner.describe(r.model).items() if k != "name"}}
                    for r in job.results],
    }


def create_app(models: dict[str, object], *, study_dir: str | os.PathLike | None = None, device: str = "auto",
               precision: str = "auto", max_pixels: int | None = DEFAULT_MAX_PIXELS,
               max_upload_bytes: int = MAX_UPLOAD_BYTES) -> Starlette:
    """The app serving ``models`` (name -> 'bicubic' | 'srgan' | 'srresnet' | weights path | nn.Module)."""
    study = Study(study_dir) if study_dir is not None else None  # a bad folder fails before models load
    runner = JobRunner(models, device, precision)

    def get_job(request: Request) -> Job:
        job = runner.jobs.get(request.path_params["job"])
        if job is None:
            raise HTTPException(404, "no such job (the server keeps the most recent ones only)")
        return job

    async def list_models(request: Request) -> JSONResponse:
        return JSONResponse({"models": [runner.describe(name) for name in runner.engines],
                             "max_upload_bytes": max_upload_bytes, "max_pixels": max_pixels,
                             "study": study is not None})

    async def create_job(request: Request) -> JSONResponse:
        picked = [m for m in request.query_params.get("models", "").split(",") if m]
        unknown = [m for m in picked if m not in runner.engines]
        if unknown or not picked:
            what = f"unknown model {unknown[0][:100]!r}" if unknown else "no model chosen"  # not echoed whole
            raise HTTPException(400, f"{what}; this server has {', '.join(runner.engines)}")
        if request.headers.get("content-type", "").startswith("multipart/form-data"):  # curl -F: "not an image"
            raise HTTPException(415, "send the image itself as the request body (curl --data-binary @photo.png), "
                                     "not a form upload")
        full = f"{MAX_WAITING} jobs are already waiting; try again when one has finished"
        busy = {"Retry-After": "10"}  # seconds: a job on a photo takes about that on a CPU
        if runner.waiting() >= MAX_WAITING:  # before the body is read: a full queue costs nothing more
            raise HTTPException(503, full, headers=busy)
        name = Path(request.query_params.get("name", "upload")).name[:200] or "upload"
        upload = runner.workdir / f"upload-{secrets.token_hex(8)}"
        try:
            with open(upload, "wb") as f:  # to disk: a body trickling in holds no place in the queue
                await _read_limited(request, max_upload_bytes, f)
            # A place is held from the decoding (the image's memory) until the job is queued: counting queued jobs
            # only, uploads arriving together all passed the check above (20 taken with MAX_WAITING = 8).
            if not runner.reserve():
                raise HTTPException(503, full, headers=busy)
            job = None
            try:
                image = await run_in_threadpool(read_image, upload, max_pixels=max_pixels)
                extra = await run_in_threadpool(extra_frames, upload)  # as srgan upscale warns (it was silent)
                warning = f"{extra + 1} frames (animated or multi-page); only the first is upscaled" if extra else None
                job = await run_in_threadpool(runner.submit, name, image, list(dict.fromkeys(picked)), warning)
            except ImageError as exc:
                raise HTTPException(422, exc.problem) from None  # the page puts the file name first
            finally:
                if job is None:  # refused, failed or cut off before it was queued: the place is free again
                    runner.release()
        finally:
            upload.unlink(missing_ok=True)
        return JSONResponse(_job_json(runner, job), status_code=202)

    async def job_status(request: Request) -> JSONResponse:
        return JSONResponse(_job_json(runner, get_job(request)))

    async def job_file(request: Request) -> FileResponse:
        job, which = get_job(request), request.path_params["file"]
        if which == "input":
            return FileResponse(job.input_path, media_type="image/png")
        result = next((r for r in job.results if r.model == which and r.path), None)
        if result is None:
            raise HTTPException(404, f"no {which} result for this job")
        stem = Path(job.name).stem
        return FileResponse(result.path, media_type="image/png", filename=f"{stem}_{which}.png")

    def get_study() -> Study:
        if study is None:
            raise HTTPException(404, "no study on this server: start it with srgan serve --study DIR")
        return study

    def rater_of(value) -> str:
        if not isinstance(value, str) or not RATER_ID.fullmatch(value):
            raise HTTPException(400, "rater must be 1-64 letters, digits, '-' or '_'")
        return value

    async def study_next(request: Request) -> JSONResponse:
        return JSONResponse(get_study().next_for(rater_of(request.query_params.get("rater"))))

    async def study_image(request: Request) -> FileResponse:
        path = get_study().file_for(request.path_params["token"])
        if path is None:
            raise HTTPException(404, "no such image: it was rated already or the server restarted")
        return FileResponse(path, headers={"Cache-Control": "no-store"})

    async def study_rate(request: Request) -> JSONResponse:
        s = get_study()
        try:
            body = json.loads(await _read_limited(request, MAX_RATING_BYTES))
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: "[" * 3000, under the size limit
            raise HTTPException(400, "the rating must be a JSON object") from None
        if not isinstance(body, dict):
            raise HTTPException(400, "the rating must be a JSON object")
        score = body.get("score")
        if type(score) is not int or score not in SCORES:
            raise HTTPException(400, "score must be an integer from 1 to 5")
        try:
            await run_in_threadpool(s.rate, rater_of(body.get("rater")), str(body.get("token")), score)
        except KeyError:
            raise HTTPException(404, "this image is not waiting for your rating (reload the page)") from None
        except OSError as exc:  # the server's fault (a full disk), not the rater's: said so, in one line
            raise HTTPException(500, f"the rating could not be saved ({exc.strerror or exc}); tell the person "
                                     "running the study") from None
        return JSONResponse({"saved": True})

    async def error_json(request: Request, exc: HTTPException) -> JSONResponse:
        # with its headers: a 405's Allow, a 503's Retry-After
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @asynccontextmanager
    async def lifespan(app):
        yield
        runner.close()

    app = Starlette(
        routes=[
            Route("/", lambda request: FileResponse(STATIC / "index.html")),
            Route("/study", lambda request: FileResponse(STATIC / "study.html")),
            Route("/api/models", list_models),
            Route("/api/jobs", create_job, methods=["POST"]),
            Route("/api/jobs/{job}", job_status),
            Route("/api/jobs/{job}/{file}.png", job_file),
            Route("/api/study/next", study_next),
            Route("/api/study/image/{token}", study_image),
            Route("/api/study/ratings", study_rate, methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        exception_handlers={HTTPException: error_json},
        lifespan=lifespan,
    )
    app.state.runner = runner
    app.state.study = study
    return app
