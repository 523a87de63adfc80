"""The FastAPI application: detection, model facts, health, streams and the browser page.

Every refusal is one line of JSON (``{"error", "status", "request_id"}``) with the right status;
the page's three files are read from the package once at start-up and served from memory, so
no part of a request ever names a file.
"""
from __future__ import annotations

import asyncio
import importlib.resources
import json
import logging
from contextlib import asynccontextmanager
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser

from .batching import Overloaded
from .config import ServeConfig
from .guards import APIKey, BodyGuard, BodyTimeout, BodyTooLarge, RequestLog, error_body
from .service import DetectionService, RequestError
from .streams import StreamFollower, StreamHub

log = logging.getLogger("cspdet.serve")
OPTIONS = ("conf", "iou", "classes", "max_det", "img_size", "agnostic", "format")
PAGE = {"/": ("index.html", "text/html; charset=utf-8"), "/app.js": ("app.js", "text/javascript; charset=utf-8"),
        "/style.css": ("style.css", "text/css; charset=utf-8")}
IMAGE_BODY = {"required": True, "content": {
    **{t: {"schema": {"type": "string", "format": "binary"}} for t in ("image/jpeg", "image/png", "image/webp")},
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "image": {"type": "string", "format": "binary"}}, "required": ["image"]}}}}


def _json(data, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(data, separators=(",", ":")), status, headers, media_type="application/json")


def _error(request: Request, status: int, message: str, headers: dict | None = None) -> Response:
    return Response(error_body(status, message, request.state.request_id), status, headers,
                    media_type="application/json")


def _page_files() -> dict[str, tuple[bytes, str]]:
    root = importlib.resources.files("detector.serve") / "static"
    return {route: ((root / name).read_bytes(), kind) for route, (name, kind) in PAGE.items()}


async def _image_bytes(request: Request, max_bytes: int) -> bytes:
    """The body, or the one file of a multipart form (kept in memory: the body is already under
    --max-bytes, and a temporary file would put request data on disk)."""
    kind = request.headers.get("content-type", "")
    if not kind.lower().startswith("multipart/form-data"):
        return await request.body()
    parser = MultiPartParser(request.headers, request.stream(), max_files=1, max_fields=16)
    parser.spool_max_size = max_bytes + 1
    try:
        form = await parser.parse()
    except MultiPartException as e:
        raise RequestError(400, f"malformed multipart body: {e.message}") from None
    files = [v for v in form.values() if isinstance(v, UploadFile)]
    if not files:
        raise RequestError(415, "the multipart form holds no file (send the image as the field 'image')")
    data = await files[0].read()
    await form.close()
    return data


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestError)
    async def refused(request: Request, e: RequestError):
        request.state.log["error"] = e.message
        return _error(request, e.status, e.message, e.headers)

    @app.exception_handler(Overloaded)
    async def overloaded(request: Request, e: Overloaded):
        return _error(request, 503, str(e), {"Retry-After": str(e.retry_after)})

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, e: BodyTooLarge):
        return _error(request, 413, str(e), {"Connection": "close"})

    @app.exception_handler(BodyTimeout)
    async def too_slow(request: Request, e: BodyTimeout):
        return _error(request, 408, str(e), {"Connection": "close"})

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError):
        err = e.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ())[1:]) or "request"
        shown = repr(err.get("input"))
        got = f" (got {shown if len(shown) <= 60 else shown[:57] + '...'})" if isinstance(
            err.get("input"), (str, int, float)) else ""
        return _error(request, 422, f"{where}: {err.get('msg', 'invalid')}{got}")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException):
        return _error(request, e.status_code, str(e.detail), getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def crashed(request: Request, e: Exception):
        log.exception({"event": "error", "request_id": request.state.request_id, "path": request.url.path})
        return _error(request, 500, f"internal error ({type(e).__name__}); see the server log for request "
                                    f"{request.state.request_id}")


def create_app(service: DetectionService, config: ServeConfig) -> FastAPI:
    """The ASGI app over a loaded ``service``; streams of ``config.streams`` start with it."""
    hub = StreamHub(config.streams, service, track=config.track) if config.streams else None
    page = _page_files()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, service.warm_up)
        if hub is not None:
            hub.start(loop)
        log.info({"event": "ready", "model": service.model_name, "backend": service.det.backend.name,
                  "streams": list(hub.followers) if hub else []})
        yield
        app.state.draining = True
        if hub is not None:
            await loop.run_in_executor(None, hub.stop)
        service.close()

    app = FastAPI(title="cspdet", version=_version(), lifespan=lifespan,
                  description="Object detection over HTTP: POST an image to /v1/detect. Limits: see `cspdet serve "
                              "--help`.")
    app.state.draining = False
    app.state.hub = hub
    _install_handlers(app)

    def drain() -> None:
        app.state.draining = True
        if hub is not None:
            hub.wake_all()

    app.state.drain = drain

    _model_routes(app, service, config)
    _stream_routes(app, service, hub)

    for route, (body, kind) in page.items():
        app.add_api_route(route, _static(body, kind), methods=["GET"], include_in_schema=False)

    # outermost last: the request id and log see everything, CORS answers preflights before the key check
    app.add_middleware(BodyGuard, max_bytes=config.max_bytes, timeout=config.body_timeout)
    if config.api_key:
        app.add_middleware(APIKey, key=config.api_key)
    if config.cors:
        app.add_middleware(CORSMiddleware, allow_origins=config.cors, allow_methods=["GET", "POST"],
                           allow_headers=["content-type", "x-api-key", "authorization", "x-request-id"],
                           expose_headers=["x-request-id"])
    app.add_middleware(RequestLog, enabled=config.log_requests)
    return app


def _model_routes(app: FastAPI, service: DetectionService, config: ServeConfig) -> None:
    @app.post("/v1/detect", summary="Detect objects in one image (JPEG, PNG or WebP; raw body or multipart)",
              openapi_extra={"requestBody": IMAGE_BODY}, responses={
                  200: {"description": "detections as JSON, or the annotated image with format=jpeg",
                        "content": {"image/jpeg": {}}},
                  413: {"description": "body over --max-bytes, or image over --max-pixels"},
                  415: {"description": "not a JPEG, PNG or WebP image"}, 422: {"description": "bad options"},
                  503: {"description": "queue full (see Retry-After)"}})
    async def detect(request: Request,
                     conf: Annotated[float | None, Query(ge=0, le=1, description="score threshold")] = None,
                     iou: Annotated[float | None, Query(ge=0, le=1, description="NMS IoU threshold")] = None,
                     classes: Annotated[str | None, Query(pattern=r"^\d{1,6}(,\d{1,6})*$", max_length=4096,
                                                          description="class ids to keep, e.g. 0,2")] = None,
                     max_det: Annotated[int | None, Query(ge=1, le=10000)] = None,
                     img_size: Annotated[int | None, Query(ge=1, le=8192, description="inference size")] = None,
                     agnostic: Annotated[bool | None, Query(description="NMS across classes")] = None,
                     format: Literal["json", "jpeg"] = "json"):
        unknown = [k for k in request.query_params if k not in OPTIONS]
        if unknown:
            raise RequestError(422, f"{unknown[0]}: unknown option (options: {', '.join(OPTIONS)})")
        opts = service.options(conf=conf, iou=iou, max_det=max_det, img_size=img_size, agnostic=agnostic,
                               classes=[int(c) for c in classes.split(",")] if classes else None)
        data = await _image_bytes(request, config.max_bytes)
        d = await service.detect(data, opts)
        request.state.log.update(detections=len(d.result), batch=d.batch, bytes_in=len(data))
        if format == "jpeg":
            jpeg = await asyncio.get_running_loop().run_in_executor(service.pool, service.annotated_jpeg, d.result)
            return Response(jpeg, media_type="image/jpeg", headers={"X-Detections": str(len(d.result))})
        return _json(service.response_json(d, request.state.request_id))

    @app.get("/v1/models", summary="The model this server runs")
    async def models():
        return _json({"models": [service.model_json()]})

    @app.get("/healthz", summary="Liveness: the process answers")
    async def healthz():
        return _json({"status": "ok"})

    @app.get("/readyz", summary="Readiness: the model is loaded and warm, and the server is not draining")
    async def readyz():
        ok = service.ready and service.batcher.alive and not app.state.draining
        status = "ready" if ok else "draining" if app.state.draining else "not ready"
        return _json({"status": status, "queued": service.admission.held}, 200 if ok else 503)


def _static(body: bytes, kind: str):
    async def serve_page():
        return Response(body, media_type=kind, headers={"Cache-Control": "no-cache"})

    return serve_page


def _stream_routes(app: FastAPI, service: DetectionService, hub: StreamHub | None) -> None:
    def get_follower(name: str) -> StreamFollower:
        # a dependency, so an unknown name is refused before an event stream starts
        f = hub.get(name) if hub is not None else None
        if f is None:
            raise RequestError(404, f"no stream named {name!r} (GET /v1/streams lists them)")
        return f

    @app.get("/v1/streams", summary="The streams this server follows")
    async def streams():
        return _json({"streams": [f.info() for f in (hub.followers.values() if hub else [])]})

    @app.get("/v1/streams/{name}", summary="A stream's newest detections and state")
    async def stream(f: StreamFollower = Depends(get_follower)):
        return _json({**f.info(), "latest": f.latest.value})

    @app.get("/v1/streams/{name}/events", response_class=EventSourceResponse,
             summary="Server-Sent Events: each new result of a stream")
    async def stream_events(f: StreamFollower = Depends(get_follower)):
        version = 0
        while not app.state.draining:
            version, value = await f.latest.newer(version)
            if app.state.draining:
                break
            if value is not None:
                yield ServerSentEvent(data=value, id=str(version))

    @app.get("/v1/streams/{name}/frame.jpg", summary="A stream's newest frame with its detections drawn",
             responses={200: {"content": {"image/jpeg": {}}}})
    async def stream_frame(f: StreamFollower = Depends(get_follower)):
        result = f.last_result
        if result is None:
            raise RequestError(404, f"stream {f.spec.name!r} has no frame yet ({f.status})")
        jpeg = await asyncio.get_running_loop().run_in_executor(service.pool, service.annotated_jpeg, result)
        return Response(jpeg, media_type="image/jpeg")


def _version() -> str:
    from .. import __version__

    return __version__
