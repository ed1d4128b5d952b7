"""``srgan serve``: the models to offer, then uvicorn on loopback (unless told otherwise)."""
from __future__ import annotations

import argparse
import math
import os
import re
import signal
import socket
import sys
from pathlib import Path

from .. import shipped
from ..extras import require
from ..signals import HANGUP, handling

LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: Smallest --max-upload-mb, about 1 KB: under it only images of less than about 16x16 px fit (a 16x16 photo is
#: ~0.8 KB as PNG), so every real upload would be refused, as with a limit of 0.
MIN_UPLOAD_MB = 0.001
#: A served model's name goes into URLs (``/api/jobs/ID/NAME.png``) and the comma-separated ``models=`` list.
MODEL_NAME = re.compile(r"[A-Za-z0-9._-]+")


def served_models(weights: list[str]) -> dict[str, str]:
    """bicubic, the shipped generators that are present, then each weights file under its file name."""
    models = {"bicubic": "bicubic"}
    models.update({name: name for name in shipped.NAMES if shipped.weights_file(name).is_file()})
    for path in weights:
        name, suffix = Path(path).stem, Path(path).suffix
        if name == "input":  # a job's input image is input.png, beside its results
            raise ValueError(f"{path}: 'input' cannot be a model name (it is the page's input image); "
                             f"rename the file, e.g. to input_model{suffix}")
        if not MODEL_NAME.fullmatch(name):
            bad = "".join(dict.fromkeys(re.sub(r"[A-Za-z0-9._-]", "", name)))
            raise ValueError(f"{path}: the model name {name!r} has {bad!r}, which the page's URLs and model list "
                             "cannot carry; rename the file with letters, digits, '.', '_' and '-' only, e.g. to "
                             f"{re.sub(r'[^A-Za-z0-9._-]', '_', name)}{suffix}")
        if name in models and not Path(path).exists():  # --model srgan: "rename the file" named no file
            raise ValueError(f"{path}: no such weights file ({name} is served without --model: --model adds your "
                             "own weights files)")
        if name in models:
            raise ValueError(f"{path}: a model named {name!r} is already served; rename the file")
        models[name] = path
    return models


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket uvicorn will serve on, bound before the models load: a port in use is one clear
    error, and ``--port 0`` is a real port that the banner can name."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family)  # SO_REUSEADDR, as uvicorn binds
    except socket.gaierror as exc:
        raise ValueError(f"{host}: cannot listen there ({exc.strerror})") from None
    except OSError as exc:  # create_server's own strerror is long; the errno says it in a few words
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ValueError(f"{host}:{port}: cannot listen there ({reason})") from None


def serve_from_cli(args: argparse.Namespace) -> int:
    uvicorn, _ = require(("uvicorn", "starlette"), "serve", "srgan serve")
    from ..images import DEFAULT_MAX_PIXELS
    from .app import MAX_UPLOAD_BYTES, create_app
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be 0-65535, got {args.port}")
    listening = _listen(args.host, args.port)  # before loading models; uvicorn would say it only after the banner
    with listening:
        mb = args.max_upload_mb  # inf and nan are floats too: int() of them failed with a bare message
        if mb is not None and not (math.isfinite(mb) and mb >= MIN_UPLOAD_MB):
            raise ValueError(f"--max-upload-mb must be a number from {MIN_UPLOAD_MB} (about 1 KB), got {mb:g}")
        if args.max_pixels is not None and args.max_pixels < 1:  # as upscale: every upload would be refused
            raise ValueError("--max-pixels must be positive")
        # min(): 1e303 MB is finite, but not once in bytes (an OverflowError); any limit past 2**62 is none
        limit = MAX_UPLOAD_BYTES if mb is None else int(min(mb * 1024 * 1024, 2 ** 62))
        kwargs = {} if args.max_pixels is None else {"max_pixels": args.max_pixels}
        app = create_app(served_models(args.model or []), study_dir=args.study, device=args.device,
                         precision=args.precision, max_upload_bytes=limit, **kwargs)

        def stop(signum, _frame):
            # uvicorn takes SIGINT and SIGTERM while it serves (and gives SIGTERM back when it stops); before or
            # after, or for SIGHUP, which it does not take, this interrupts: the job folder (the users' uploads)
            # is removed below. SIGHUP while uvicorn serves is passed on to it as SIGTERM.
            if signum == getattr(signal, "SIGHUP", None) and signal.getsignal(signal.SIGTERM) is not stop:
                signal.raise_signal(signal.SIGTERM)
            else:
                raise KeyboardInterrupt

        try:
            with handling((signal.SIGTERM, *HANGUP), stop):
                for line in app.state.study.warnings() if app.state.study else []:
                    print(f"srgan: warning: {line}", file=sys.stderr)
                if args.host not in LOOPBACK:
                    print(f"srgan: warning: listening on {args.host}: anyone who can reach this port can upload "
                          "images", file=sys.stderr)
                port = listening.getsockname()[1]  # the one the system chose, for --port 0
                where = f"http://{f'[{args.host}]' if ':' in args.host else args.host}:{port}"  # IPv6 in brackets
                pixels = DEFAULT_MAX_PIXELS if args.max_pixels is None else args.max_pixels
                # the limits a deployer gets by default, which bound the server's memory (docs/SERVE.md: 16x the
                # input's pixels are made at x4), said where they can be seen
                print(f"srgan serve: {where}/" + (f"  (study: {where}/study)" if args.study else "") +
                      f"  (uploads up to {limit / 2**20:g} MB and {pixels / 1e6:g} megapixels: --max-upload-mb, "
                      "--max-pixels)", flush=True)
                config = uvicorn.Config(app, host=args.host, port=port, log_level="warning")
                uvicorn.Server(config).run(sockets=[listening])
        finally:  # what the app's shutdown does, when a signal came before uvicorn ran it (or after it)
            app.state.runner.close()
    return 0
