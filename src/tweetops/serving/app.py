"""The HTTP API's app factory: HTTP in, tweetops.serving.service out; this module only maps it to HTTP.

Routes: /health, /predict, /predict/batch, /model, /predictions, /metrics, /docs, /redoc, and
SageMaker's /ping, /invocations and /execution-parameters. `tweetops serve` runs it; api/main.py
exposes `create_app()` for any ASGI server.
"""
import contextlib
import datetime
import logging
from typing import Annotated

import orjson
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from tweetops.errors import TweetopsError
from tweetops.model.bundle import read_card
from tweetops.serving import bodies, metrics, sagemaker
from tweetops.serving.history import HistoryUnavailable
from tweetops.serving.inference import InputError, ModelChoice
from tweetops.serving.middleware import REQUEST_ID, EdgeMiddleware
from tweetops.serving.schemas import BatchResponse, ExecutionParameters, Health, HistoryPage, Label, ModelInfo
from tweetops.serving.schemas import Moment, PredictResponse, Problem, ValidationProblem, request_models
from tweetops.serving.service import Service

log = logging.getLogger("tweetops.api")
ERRORS = {401: {"model": Problem, "description": "Missing or invalid API key."},
          413: {"model": Problem, "description": "Body over the size limit."},
          415: {"model": Problem, "description": "A Content-Type the route does not read."},
          422: {"model": ValidationProblem, "description": "Bad input; each item says what to fix, and where."},
          503: {"model": Problem, "description": "The model is not loaded yet."}}
JSON_KINDS = {list: "an array", str: "a string", bool: "true or false", int: "a number", float: "a number"}


class JSON(JSONResponse):
    """JSON rendered by orjson (the fastest here; FastAPI's ORJSONResponse is deprecated). A JSONResponse, so
    /openapi.json documents each route's response model rather than a string."""

    def render(self, content) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)


def problem(status: int, detail: str | list[dict], headers: dict | None = None) -> JSON:
    """The body clients of FastAPI expect: {"detail": sentence}, or for a 422 {"detail": [{loc, msg, type}]}."""
    return JSON({"detail": detail}, status_code=status, headers=headers)


def _invalid(error: dict) -> list[dict]:
    """A pydantic error as FastAPI's items, each msg a sentence: tweetops' own (they name the field, and a batch's
    every bad text), else pydantic's after the field's name."""
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, InputError):  # a batch's bad text: its index too
        return [{"loc": [*error["loc"], *p.loc], "msg": str(p), "type": error["type"]} for p in cause.each()]
    where = ".".join(str(part) for part in error["loc"] if part != "body")
    message = f"{where} is required." if error["type"] == "missing" else \
        f"{where}: {error['msg'].removeprefix('Value error, ')}"
    return [{"loc": list(error["loc"]), "msg": message, "type": error["type"]}]


async def validation_error(_request: Request, exc: RequestValidationError) -> JSON:
    return problem(422, [item for e in exc.errors() for item in _invalid(e)])


async def tweetops_error(_request: Request, exc: TweetopsError) -> JSON:
    if isinstance(exc, bodies.UnsupportedMediaType):
        return problem(415, str(exc))
    if isinstance(exc, InputError):
        return problem(422, [{"loc": ["body", *p.loc], "msg": str(p), "type": p.kind} for p in exc.each()])
    if isinstance(exc, HistoryUnavailable):
        return problem(503, str(exc))
    log.error("request failed: %s", exc)
    return problem(500, "the server could not answer this request; see its log.")


async def http_error(_request: Request, exc: StarletteHTTPException) -> JSON:
    return problem(exc.status_code, exc.detail, exc.headers)  # headers: a 405's Allow


class ParsedBody(Request):
    """A request whose JSON body JSONBodyRoute has read already."""

    payload: dict

    async def json(self) -> dict:
        return self.payload


class JSONBodyRoute(APIRoute):
    """A route whose body is a pydantic model reads it here first, so each way a body can be wrong has its own
    sentence: a Content-Type that is not JSON (415), an empty, unreadable or non-object body (422). FastAPI would
    answer 400 "There was an error parsing the body", or call a wrong Content-Type a wrong body."""

    def get_route_handler(self):
        handle = super().get_route_handler()
        if self.body_field is None:  # GET routes, and /invocations, which reads its own content types
            return handle
        send = f"a JSON object such as {self.body_field.field_info.annotation.shape}"

        async def read_body_first(request: Request) -> Response:
            kind = bodies.media_type(request.headers.get("content-type"))
            if not bodies.is_json(kind):
                raise bodies.unsupported(kind, (bodies.JSON,))
            request = ParsedBody(request.scope, request.receive)
            payload = bodies.read_json(await request.body(), send)
            if not isinstance(payload, dict):
                raise InputError(f"the body must be {send}, not {JSON_KINDS.get(type(payload), 'null')}.",
                                 kind="model_attributes_type")
            request.payload = payload
            return await handle(request)

        return read_body_first


async def ready_service(request: Request) -> Service:
    # async: FastAPI runs a plain-def dependency in its threadpool, a thread hop on every request.
    service = request.app.state.service
    if not service.ready:
        raise HTTPException(503, "the model is still loading; retry in a moment.")
    return service


Ready = Annotated[Service, Depends(ready_service)]
IDEMPOTENCY_KEY = REQUEST_ID  # the same token rules as X-Request-ID
IDEMPOTENCY_MSG = "Idempotency-Key must be 1 to 64 letters, digits or . _ : - (send the same key again when you retry)."
# The IETF draft's header: a client that retries after a lost answer sends the same key again. Read by hand
# and documented through openapi_extra: a FastAPI header parameter would validate it on every request.
RECORDED = {"parameters": [{
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY.pattern},
    "description": "Optional. Retries of a request with the same key are recorded in the history once (the key "
                   "fixes the records' ids); the answer is computed again."}]}


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is not None and not IDEMPOTENCY_KEY.match(key):
        raise RequestValidationError([{"type": "value_error", "loc": ("header", "Idempotency-Key"), "input": key,
                                       "msg": IDEMPOTENCY_MSG, "ctx": {"error": InputError(IDEMPOTENCY_MSG)}}])
    return key


def create_app(service: Service | None = None, load: bool = True, model: ModelChoice | None = None) -> FastAPI:
    """The app; its lifespan loads the model (`model`, else the one `resolve_model` chooses) and starts the
    history writer, unless load=False (the service is started already)."""
    service = service or Service()
    PredictRequest, BatchRequest = request_models(service.limits)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        owned = load and service.history is None  # stop only what this app started (tests share one service)
        if owned:
            service.start(model)
        try:
            yield
        finally:
            if owned:
                service.stop()

    app = FastAPI(title="tweetops", version="1", default_response_class=JSON, lifespan=lifespan,
                  description="Tweet sentiment (negative / neutral / positive). Send the key as X-API-Key or "
                              "Authorization: Bearer when TWEETOPS_API_KEYS is set.")
    app.state.service = service
    app.router.route_class = JSONBodyRoute
    app.add_middleware(EdgeMiddleware, route_paths=lambda: {r.path for r in app.routes},
                       body_limit=service.limits.max_body_bytes)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(TweetopsError, tweetops_error)
    app.add_exception_handler(StarletteHTTPException, http_error)

    @app.get("/health", response_model=Health, tags=["ops"],
             responses={503: {"model": Health, "description": "The model is still loading."}})
    async def health():
        """Open. Whether the served model is the champion, and where it was chosen from."""
        predictor = service.predictor
        return JSON({"status": "ok" if predictor else "loading", "model_version": predictor and predictor.version,
                     "champion": predictor and predictor.choice.champion,
                     "model_source": predictor and predictor.choice.source,
                     "uptime_seconds": round(service.uptime(), 3)}, status_code=200 if predictor else 503)

    @app.post("/predict", response_model=PredictResponse, tags=["predict"], responses=ERRORS, openapi_extra=RECORDED)
    async def predict(body: PredictRequest, request: Request, svc: Ready):
        request_id = request.state.request_id
        result = svc.predict([body.text], request_id, idempotency_key(request))[0]
        return JSON({**result, "model_version": svc.predictor.version, "request_id": request_id})

    @app.post("/predict/batch", response_model=BatchResponse, tags=["predict"], responses=ERRORS,
              openapi_extra=RECORDED)
    async def predict_batch(body: BatchRequest, request: Request, svc: Ready):
        request_id, key = request.state.request_id, idempotency_key(request)
        results = await run_in_threadpool(svc.predict, body.texts, request_id, key)  # big batches: keep the loop free
        return JSON({"predictions": results, "model_version": svc.predictor.version, "request_id": request_id})

    @app.get("/model", response_model=ModelInfo, tags=["ops"], responses={401: ERRORS[401], 503: ERRORS[503]})
    async def model_info(svc: Ready):
        """The served bundle's manifest, its model card, and what is served (see the response's fields)."""
        predictor = svc.predictor
        return JSON({**predictor.bundle.manifest, "model_card": read_card(predictor.bundle.path),
                     "served": {"champion": predictor.choice.champion, "source": predictor.choice.source,
                                "digest": predictor.bundle.digest},
                     "registry": predictor.choice.registry})

    @app.get("/predictions", response_model=HistoryPage, tags=["history"],
             responses={status: ERRORS[status] for status in (401, 422, 503)})
    async def predictions(svc: Ready, label: Label | None = None,
                          since: Annotated[Moment | None, Query(description="RFC 3339 time, inclusive")] = None,
                          until: Annotated[Moment | None, Query(description="RFC 3339 time, exclusive")] = None,
                          limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                          offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0):
        """Recorded predictions, newest first (records reach the database within about a second)."""
        page = await run_in_threadpool(svc.history.query, label, _as_utc(since), _as_utc(until), limit, offset)
        return JSON(page)

    @app.get("/metrics", tags=["ops"], response_class=Response,
             responses={200: {"description": "Prometheus' text format.",
                              "content": {"text/plain": {"schema": {"type": "string"}}}}})
    async def prometheus():
        backlog = await run_in_threadpool(service.history.backlog) if service.history is not None else None
        body, content_type = metrics.exposition(backlog)
        return Response(body, media_type=content_type)

    @app.get("/ping", tags=["sagemaker"], response_class=Response,
             responses={200: {"description": "Ready (an empty body)."}, 503: {"description": "Loading."}})
    async def ping():
        return Response(status_code=200 if service.ready else 503)

    @app.post("/invocations", tags=["sagemaker"], response_class=Response,
              responses={**sagemaker.responses(), **ERRORS, 406: {"model": Problem, "description": "An Accept type "
                                                                  "the route does not write."}},
              openapi_extra={"requestBody": sagemaker.request_body(service.limits), **RECORDED})
    async def invocations(request: Request, svc: Ready):
        """JSON ({"instances": [...]} or a list), JSON lines, or CSV (one text per line); answers in kind."""
        content_type, key = request.headers.get("content-type"), idempotency_key(request)
        texts = sagemaker.parse_invocation(await request.body(), content_type, svc.limits)
        accept = _output_type(request.headers.get("accept"), content_type)
        results = await run_in_threadpool(svc.predict, texts, request.state.request_id, key)
        return Response(_render(results, accept, svc.predictor.labels), media_type=accept)

    @app.get("/execution-parameters", response_model=ExecutionParameters, tags=["sagemaker"])
    async def execution_parameters():
        return JSON(sagemaker.execution_parameters())

    return app


def _as_utc(moment: datetime.datetime | None) -> datetime.datetime | None:
    if moment is None:
        return None
    try:
        return moment.astimezone(datetime.timezone.utc)
    except OverflowError:  # within a day of year 1 or 9999: before or after every record, as the calendar's end is
        end = datetime.datetime.min if moment.year == 1 else datetime.datetime.max
        return end.replace(tzinfo=datetime.timezone.utc)


def _output_type(accept: str | None, content_type: str | None) -> str:
    """The type to answer in: the first one Accept lists (highest q first, q=0 never) that we write; a wildcard
    (*/*, text/*) is the request's own type when it matches (SageMaker joins lines in kind), else the first we
    write that matches. No Accept: the request's own type. Clients send lists ("application/json, text/plain,
    */*" is a common default): they were read as one type and refused."""
    own = sagemaker.media_type(content_type)
    own = own if own in sagemaker.CONTENT_TYPES else sagemaker.JSON
    if not (accept or "").strip():
        return own
    ranges = []
    for order, part in enumerate(accept.split(",")):
        kind, *params = part.split(";")
        q = next((value for name, _, value in (p.strip().partition("=") for p in params) if name.lower() == "q"), "1")
        try:
            weight = float(q)
        except ValueError:
            weight = 1.0
        if kind.strip() and weight > 0:
            ranges.append((-weight, order, sagemaker.media_type(kind)))
    for _, _, kind in sorted(ranges):
        family = "" if kind == "*/*" else kind[:-1] if kind.endswith("/*") else None
        matches = [kind] if family is None else [own, *sagemaker.CONTENT_TYPES]
        chosen = next((m for m in matches if m in sagemaker.CONTENT_TYPES and m.startswith(family or m)), None)
        if chosen:
            return chosen
    raise HTTPException(406, f"Accept {accept.strip()} is not supported; use one of "
                             f"{', '.join(sagemaker.CONTENT_TYPES)}.")


def _render(results: list[dict], kind: str, labels: tuple[str, ...]) -> bytes:
    if kind == sagemaker.JSONLINES:
        return b"".join(orjson.dumps(r) + b"\n" for r in results)
    if kind == sagemaker.CSV:
        return "".join(",".join([r["label"], *(repr(r["probabilities"][x]) for x in labels)]) + "\n"
                       for r in results).encode()
    return orjson.dumps({"predictions": results})
