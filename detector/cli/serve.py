"""``cspdet serve``: the detector behind an HTTP API, a browser page and many camera streams."""
from __future__ import annotations

import os
import sys

from . import DefaultsFormatter
from .argtypes import float_in, int_at_least, nonnegative_float, positive_float, positive_int
from .common import add_model_args, add_nms_args

LOOPBACK = ("127.", "::1", "localhost")
EPILOG = """\
limits: every one bounds memory or time before anything is allocated or waited for. A body over
--max-bytes is refused on its Content-Length (413), an image whose header claims more than
--max-pixels before it is decoded (413); at most --queue images are in the service at once
(past that: 503 with Retry-After), so images hold at most about queue x (max-bytes + 3 x
max-pixels) bytes, and bodies still arriving at most max-connections x max-bytes. Request
headers must arrive within --header-timeout, a body within --body-timeout (408), and an idle
connection closes after --keep-alive (slow or stalled clients hold nothing for long).

routes: POST /v1/detect (a JPEG, PNG or WebP as the body or as a multipart field 'image';
options ?conf=&iou=&classes=0,2&max_det=&img_size=&agnostic=&format=json|jpeg), GET /v1/models,
/healthz, /readyz, /v1/streams, /v1/streams/NAME (+ /events: Server-Sent Events, /frame.jpg),
the page at /, the OpenAPI page at /docs. Logs: one JSON line per request on stdout, with its
X-Request-ID. SIGTERM or Ctrl-C: no new connections, requests in flight finish (at most
--drain-timeout s), exit 0.

example: cspdet serve --weights weights/cspdet-shapes.pt --stream cam1=rtsp://10.0.0.5/live --track
"""


def add_parser(sub) -> None:
    from ..serve.config import API_KEY_ENV, ServeConfig

    d = ServeConfig()
    p = sub.add_parser("serve", help="serve detections over HTTP: an API, a browser page, camera streams",
                       description="Run the detector as an HTTP service (FastAPI + uvicorn; "
                                   "pip install \"cspdet[serve]\"). Requests arriving together are batched.",
                       epilog=EPILOG, formatter_class=_Formatter)
    add_model_args(p)
    add_nms_args(p)
    g = p.add_argument_group("network")
    g.add_argument("--host", default=d.host, help="address to listen on; anything but loopback warns (default: "
                                                  "127.0.0.1, this machine only)")
    g.add_argument("--port", type=int_at_least(0, 65535), default=d.port, help="TCP port (0: any free one, printed)")
    g.add_argument("--api-key", default=None,
                   help=f"key every route but /healthz and /readyz needs (X-API-Key, Bearer or the browser's "
                        f"login prompt); prefer ${API_KEY_ENV}, as a command line is visible to other users "
                        "(default: none)")
    g.add_argument("--cors", action="append", default=[], metavar="ORIGIN",
                   help="allow browser pages of ORIGIN (e.g. https://app.example.com) to call the API; "
                        "repeatable (default: none, CORS off)")
    b = p.add_argument_group("batching and limits (see below)")
    b.add_argument("--max-batch", type=positive_int, default=d.max_batch, help="images inferred in one call at most")
    b.add_argument("--max-wait-ms", type=nonnegative_float, default=d.max_wait_ms,
                   help="how long a batch waits to fill once its first image is queued")
    b.add_argument("--queue", type=positive_int, default=d.queue, help="images in the service at once; more: 503")
    b.add_argument("--max-bytes", type=positive_int, default=d.max_bytes, help="largest request body, in bytes")
    b.add_argument("--max-pixels", type=positive_int, default=d.max_pixels, help="largest image, width x height")
    b.add_argument("--max-img-size", type=int_at_least(32, 8192), default=d.max_img_size,
                   help="largest img_size a request may ask for")
    b.add_argument("--max-connections", type=positive_int, default=d.max_connections,
                   help="connections served at once; more: 503")
    b.add_argument("--header-timeout", type=positive_float, default=d.header_timeout,
                   help="seconds for a request's headers to arrive")
    b.add_argument("--body-timeout", type=positive_float, default=d.body_timeout,
                   help="seconds for a request's body to arrive (408)")
    b.add_argument("--keep-alive", type=positive_float, default=d.keep_alive,
                   help="seconds an idle connection stays open")
    b.add_argument("--drain-timeout", type=float_in(0.0, 60.0), default=d.drain_timeout,
                   help="seconds requests in flight get to finish on SIGTERM")
    s = p.add_argument_group("streams")
    s.add_argument("--stream", action="append", default=[], metavar="NAME=URL",
                   help="follow a camera index, rtsp/http/... URL or video file (played at its frame rate, "
                        "looped) on its newest frame; results at /v1/streams/NAME; repeatable")
    s.add_argument("--stream-file", default=None, metavar="FILE", help="NAME=URL lines, one stream each")
    s.add_argument("--track", action="store_true", help="ByteTrack IDs per stream")
    p.add_argument("--no-request-log", action="store_true", help="no JSON line per request")
    p.set_defaults(run=run)


class _Formatter(DefaultsFormatter):
    """``--help`` with the defaults and the epilog's paragraphs as written."""

    def _fill_text(self, text, width, indent):
        return "".join(indent + line for line in text.splitlines(keepends=True))


def build_config(args):
    """Parsed arguments -> ServeConfig; one-line errors for bad streams."""
    from ..serve.config import API_KEY_ENV, ServeConfig, check_streams, parse_stream, read_stream_file
    from ..serve.streams import check_source

    streams = [parse_stream(s) for s in args.stream]
    if args.stream_file:
        streams += read_stream_file(args.stream_file)
    for spec in check_streams(streams):
        check_source(spec)
    return ServeConfig(
        host=args.host, port=args.port, max_batch=args.max_batch, max_wait_ms=args.max_wait_ms, queue=args.queue,
        max_bytes=args.max_bytes, max_pixels=args.max_pixels, max_img_size=args.max_img_size,
        max_connections=args.max_connections, header_timeout=args.header_timeout, body_timeout=args.body_timeout,
        keep_alive=args.keep_alive, drain_timeout=args.drain_timeout,
        api_key=args.api_key or os.environ.get(API_KEY_ENV) or None, cors=list(args.cors), streams=streams,
        track=args.track, log_requests=not args.no_request_log)


def run(args) -> int:
    from . import CLIError

    config = build_config(args)
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise CLIError(f"cspdet serve needs FastAPI and uvicorn ({e.name} is missing): "
                       "pip install \"cspdet[serve]\"") from None
    from ..runtime.predictor import Detector
    from ..serve.app import create_app
    from ..serve.server import DrainingServer, setup_logging, uvicorn_config
    from ..serve.service import DetectionService, model_name
    from .common import default_weights, detector_kwargs

    if config.track:
        from ..runtime.tracking.assign import require_scipy

        try:
            require_scipy()
        except ImportError as e:
            raise CLIError(str(e)) from None
    if not config.host.startswith(LOOPBACK):
        print(f"warning: --host {config.host} listens beyond this machine: anyone who can reach it can send "
              f"requests{'' if config.api_key else ' (no --api-key is set)'}", file=sys.stderr)
    weights = args.weights or default_weights()
    det = Detector(weights, **detector_kwargs(args))
    service = DetectionService(det, config, model_name(weights))
    app = create_app(service, config)
    setup_logging()
    server = DrainingServer(uvicorn_config(app, config))
    server.on_exit = app.state.drain
    try:
        server.run()
    except SystemExit as e:  # uvicorn's own exit: the port is taken, or start-up failed (logged above it)
        raise CLIError(f"the server did not start on {config.host}:{config.port} (the log line above says why)") from None
    finally:
        service.close()
    return 0
