"""`GET /openapi.json` (the OpenAPI 3.1 description of every endpoint) and `GET /docs` (its viewer).

The document is written here by hand, next to nothing else, and tests keep it honest:
they validate it (openapi-spec-validator), check that every route the app serves is in
it, and walk live responses of every endpoint against its schemas with no undocumented
field allowed (tests/test_openapi.py).

To document a new endpoint: add its body schemas to SCHEMAS (objects list every field in
`properties`; `additionalProperties: False` where the shape is closed) and its operation to
PATHS; `security: _PUBLIC` when it answers without a key.
"""
from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import Any

from aiohttp import web

from api.errors import ApiError

STATIC = Path(__file__).resolve().parent / "static"
routes = web.RouteTableDef()

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Schema, description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


_INT = {"type": "integer", "minimum": 0}
_STR = {"type": "string"}
_NUM = {"type": "number"}
_JOB_ID = {"name": "job_id", "in": "path", "required": True, "description": "32 lowercase hex characters.",
           "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}
_NOT_FOUND = _error("`job_not_found`: no such job, or not yours (the two are indistinguishable).")
_UNAUTHORIZED = _error("`unauthorized`: API keys are configured and none (or a wrong one) was sent.")
_AUDIO = {"description": "MP3 audio.", "content": {"audio/mpeg": {"schema": {"type": "string", "format": "binary"}}}}
_KEYED: list[dict[str, list[str]]] = [{"bearer": []}, {}]  # a key when READOUT_API_KEYS is set
_PUBLIC: list[dict[str, list[str]]] = [{}]

SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object", "required": ["error"], "additionalProperties": False,
        "properties": {"error": {
            "type": "object", "required": ["code", "message"], "additionalProperties": False,
            "properties": {"code": {**_STR, "description": "Stable, machine-readable."},
                           "message": {**_STR, "description": "For people."}},
        }},
    },
    "JobSubmission": {
        "type": "object", "required": ["text"],
        "properties": {
            "text": {**_STR, "description": "The article."},
            "format": {"enum": ["text", "markdown", "html"], "default": "text"},
            "engine": {**_STR, "description": "An engine name from `GET /v1/engines`; default READOUT_DEFAULT_ENGINE."},
            "voice": {**_STR, "description": "A voice id of the engine; default its default voice."},
            "variant": {**_STR, "description": "Engine-specific variant (Polly: standard, neural, long-form, generative)."},
        },
    },
    "JobCreated": {
        "type": "object", "required": ["id", "status", "status_url", "audio_url", "events_url"],
        "additionalProperties": False,
        "properties": {"id": {**_STR, "pattern": "^[0-9a-f]{32}$"}, "status": {"const": "queued"},
                       "status_url": _STR, "audio_url": _STR, "events_url": _STR},
    },
    "Job": {
        "type": "object", "additionalProperties": False,
        "required": ["id", "status", "engine", "voice", "characters", "chunks", "cache", "error", "created_at",
                     "started_at", "finished_at", "duration_seconds", "time_to_first_audio_seconds", "audio_url"],
        "properties": {
            "id": {**_STR, "pattern": "^[0-9a-f]{32}$"},
            "status": {"enum": ["queued", "running", "done", "failed", "cancelled"]},
            "engine": _STR, "voice": _STR,
            "characters": {**_INT, "description": "Characters after cleaning."},
            "chunks": {"type": "object", "required": ["total", "done"], "additionalProperties": False,
                       "properties": {"total": {**_nullable(_INT), "description": "null until the text is chunked."},
                                      "done": _INT}},
            "cache": {"type": "object", "required": ["hits", "misses"], "additionalProperties": False,
                      "properties": {"hits": _INT, "misses": _INT}},
            "error": _nullable({"type": "object", "required": ["code", "message"], "additionalProperties": False,
                                "properties": {"code": _nullable(_STR), "message": _STR}}),
            "created_at": {**_NUM, "description": "Unix seconds."},
            "started_at": _nullable(_NUM),
            "finished_at": _nullable(_NUM),
            "duration_seconds": {**_NUM, "description": "Finished (or now) minus created."},
            "time_to_first_audio_seconds": {**_nullable(_NUM), "description": "Chunk 0 landed minus created."},
            "audio_url": _STR,
        },
    },
    "Engines": {
        "type": "object", "required": ["engines"],
        "properties": {"engines": {"type": "array", "items": {
            "type": "object", "required": ["name", "default", "max_chars", "default_voice", "voices"],
            "properties": {
                "name": _STR, "default": {"type": "boolean"},
                "max_chars": {**_INT, "description": "Largest chunk sent to this engine."},
                "default_voice": _STR,
                "voices": {"type": "array", "items": {"type": "object", "required": ["id", "name", "language"],
                                                      "properties": {"id": _STR, "name": _STR, "language": _STR}}},
            },
        }}},
    },
    "Stats": {
        "type": "object",
        "required": ["providers", "provider_calls", "cache", "jobs", "queue_depth", "workers", "cost"],
        "properties": {
            "providers": {"type": "object", "additionalProperties": {
                "type": "object", "required": ["calls", "characters", "billed_characters", "errors"],
                "properties": {"calls": {**_INT, "description": "Successful provider calls."},
                               "attempts": {**_INT, "description": "Every try the provider saw, retries included."},
                               "characters": {**_INT, "description": "Characters sent."},
                               "billed_characters": {**_INT, "description": "Characters the provider billed."},
                               "errors": {**_INT, "description": "Tries that failed."}}}},
            "provider_calls": _INT,
            "cache": {"type": "object", "required": ["hits", "misses", "lock_waits"], "properties": {
                "hits": _INT, "misses": _INT, "lock_waits": _INT, "wakeups_notified": _INT, "wakeups_polled": _INT}},
            "jobs": {"type": "object", "additionalProperties": {"type": "integer"}},
            "queue_depth": _INT,
            "workers": _INT,
            "cost": {"type": "object", "required": ["price_per_million_chars", "billed_characters",
                                                    "cached_characters", "billed_usd", "saved_usd"],
                     "properties": {
                         "price_per_million_chars": {**_NUM, "description": "READOUT_PRICE_PER_MILLION (USD)."},
                         "billed_characters": {**_INT, "description": "Characters providers billed."},
                         "cached_characters": {**_INT, "description": "Characters served from the cache instead."},
                         "billed_usd": _NUM,
                         "saved_usd": {**_NUM, "description": "cached_characters at the price: what the cache saved."},
                     }},
        },
    },
    "Health": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
    "Ready": {"type": "object", "required": ["status", "redis"], "properties": {
        "status": {"enum": ["ok", "no_workers", "unavailable"]}, "redis": {"type": "boolean"},
        "workers": _INT, "error": _STR}},
    "SpeechRequest": {
        "type": "object", "required": ["model", "input", "voice"],
        "properties": {
            "model": {**_STR, "description": "`tts-1`, `tts-1-hd`, `gpt-4o-mini-tts` (the default engine) or an engine name."},
            "input": {**_STR, "description": "The text to speak (up to READOUT_MAX_CHARS characters)."},
            "voice": {**_STR, "description": "A voice id of the engine, or an OpenAI voice name (alloy, echo, nova, ...) "
                                            "meaning the engine's default voice."},
            "response_format": {"const": "mp3", "default": "mp3"},
            "speed": {"const": 1.0, "default": 1.0, "description": "Only 1.0; anything else is a 400."},
            "instructions": {**_STR, "description": "Not supported: a non-empty value is a 400."},
            "stream_format": {"const": "audio", "default": "audio"},
        },
    },
}

_JOB_HEADERS = {"Retry-After": {"description": "While the job is not finished: seconds before polling again.",
                                "schema": {"type": "integer"}}}

PATHS: dict[str, Any] = {
    "/v1/jobs": {"post": {
        "operationId": "submitJob", "tags": ["jobs"], "summary": "Submit an article",
        "description": "JSON (`JobSubmission`), or the raw article as the body with `Content-Type: text/plain`, "
                       "`text/markdown` or `text/html` and `engine`/`voice` as query parameters.",
        "parameters": [{"name": n, "in": "query", "required": False, "schema": _STR,
                        "description": f"{n} (raw-body submissions only)"} for n in ("engine", "voice", "variant")],
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": _ref("JobSubmission")},
            "text/plain": {"schema": _STR}, "text/markdown": {"schema": _STR}, "text/html": {"schema": _STR}}},
        "responses": {
            "202": _json(_ref("JobCreated"), "Accepted: the job is queued.",
                         {"Location": {"description": "The status URL.", "schema": _STR}}),
            "400": _error("`invalid_json`, `body_not_object`, `text_missing`, `text_not_string`, `text_empty`, "
                          "`unknown_format`, `invalid_parameter`, `invalid_utf8`."),
            "401": _UNAUTHORIZED,
            "413": _error("`text_too_long` (over READOUT_MAX_CHARS) or `body_too_large`."),
            "415": _error("`unsupported_media_type`."),
            "422": _error("`unknown_engine` or `unknown_voice`."),
            "429": _error("`rate_limited` or `quota_exceeded` (with Retry-After)."),
        },
    }},
    "/v1/jobs/{job_id}": {
        "parameters": [_JOB_ID],
        "get": {"operationId": "getJob", "tags": ["jobs"], "summary": "A job's status",
                "responses": {"200": _json(_ref("Job"), "The job.", _JOB_HEADERS), "401": _UNAUTHORIZED,
                              "404": _NOT_FOUND}},
        "delete": {"operationId": "cancelJob", "tags": ["jobs"], "summary": "Cancel a job",
                   "description": "Chunks not yet started are skipped. A finished job is returned unchanged.",
                   "responses": {"200": _json(_ref("Job"), "The job after the cancel."), "401": _UNAUTHORIZED,
                                 "404": _NOT_FOUND}},
    },
    "/v1/jobs/{job_id}/audio": {"get": {
        "operationId": "getJobAudio", "tags": ["jobs"], "summary": "The job's MP3",
        "description": "While the job runs: a chunked stream, chunk 0 as soon as it exists, then each next chunk in "
                       "order; cut (not ended cleanly) if the job fails. Once done: Content-Length, ETag, "
                       "Accept-Ranges and Range requests. Browsers may pass the key as `access_token`.",
        "security": [{"bearer": []}, {"accessToken": []}, {}],
        "parameters": [_JOB_ID, {"name": "Range", "in": "header", "required": False, "schema": _STR,
                                 "description": "One `bytes=start-end` range (finished jobs)."}],
        "responses": {
            "200": _AUDIO, "206": {**_AUDIO, "description": "The requested range."},
            "304": {"description": "Not modified (If-None-Match matched the ETag)."},
            "401": _UNAUTHORIZED, "404": _NOT_FOUND,
            "409": _error("`job_failed` or `job_cancelled`: no audio."),
            "410": _error("`audio_expired`: the audio left the cache."),
            "416": _error("`invalid_range` or `range_not_satisfiable`."),
        },
    }},
    "/v1/jobs/{job_id}/events": {"get": {
        "operationId": "getJobEvents", "tags": ["jobs"], "summary": "Server-sent events of the job's progress",
        "description": "First a `progress` event with the current state, one `progress` per landed chunk, then "
                       "`done`, `failed` or `cancelled` and the stream ends. Every event's data is the `Job` JSON. "
                       "Browsers' EventSource may pass the key as `access_token`.",
        "security": [{"bearer": []}, {"accessToken": []}, {}],
        "parameters": [_JOB_ID],
        "responses": {"200": {"description": "An event stream; each `data:` line is a `Job`.",
                              "content": {"text/event-stream": {"schema": _STR}}},
                      "401": _UNAUTHORIZED, "404": _NOT_FOUND},
    }},
    "/v1/audio/speech": {"post": {
        "operationId": "createSpeech", "tags": ["openai"], "summary": "OpenAI-compatible speech",
        "description": "OpenAI's `POST /v1/audio/speech`: runs as a job (queue, cache, locks, quota) and streams "
                       "the MP3 as chunks land.",
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("SpeechRequest")}}},
        "responses": {
            "200": {**_AUDIO, "description": "MP3, streamed (chunked) while it is synthesized."},
            "400": _error("`parameter_missing`, `invalid_parameter`, `invalid_json`, `body_not_object`, "
                          "`unsupported_response_format`, `unsupported_speed`, `unsupported_instructions`, "
                          "`unsupported_stream_format`, `text_empty`."),
            "401": _UNAUTHORIZED,
            "409": _error("`job_failed`: synthesis failed before any audio."),
            "413": _error("`text_too_long` or `body_too_large`."),
            "415": _error("`unsupported_media_type`: send JSON."),
            "422": _error("`unknown_model` or `unknown_voice`."),
            "429": _error("`rate_limited` or `quota_exceeded`."),
        },
    }},
    "/v1/engines": {"get": {
        "operationId": "listEngines", "tags": ["service"], "summary": "Engines, voices and chunk limits",
        "security": _PUBLIC, "responses": {"200": _json(_ref("Engines"), "The engines of this deployment.")}}},
    "/v1/stats": {"get": {
        "operationId": "getStats", "tags": ["service"], "summary": "Cluster-wide counters and cost",
        "security": _PUBLIC, "responses": {"200": _json(_ref("Stats"), "Counters read from Redis.")}}},
    "/metrics": {"get": {
        "operationId": "getMetrics", "tags": ["service"], "summary": "Prometheus metrics",
        "security": _PUBLIC,
        "responses": {"200": {"description": "Prometheus text format 0.0.4.",
                              "content": {"text/plain": {"schema": _STR}}}}}},
    "/healthz": {"get": {
        "operationId": "healthz", "tags": ["service"], "summary": "The process is up", "security": _PUBLIC,
        "responses": {"200": _json(_ref("Health"), "Up.")}}},
    "/readyz": {"get": {
        "operationId": "readyz", "tags": ["service"], "summary": "Redis reachable and a worker alive",
        "security": _PUBLIC,
        "responses": {"200": _json(_ref("Ready"), "Ready."), "503": _json(_ref("Ready"), "Not ready.")}}},
    "/openapi.json": {"get": {
        "operationId": "openapi", "tags": ["docs"], "summary": "This document", "security": _PUBLIC,
        "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1.")}}},
    "/docs": {"get": {
        "operationId": "docs", "tags": ["docs"], "summary": "This document, rendered", "security": _PUBLIC,
        "responses": {"200": {"description": "HTML.", "content": {"text/html": {"schema": _STR}}}}}},
    "/": {"get": {
        "operationId": "webPage", "tags": ["docs"], "summary": "The web page: paste an article, listen",
        "security": _PUBLIC,
        "responses": {"200": {"description": "HTML.", "content": {"text/html": {"schema": _STR}}}}}},
    "/static/{path}": {"get": {
        "operationId": "staticFile", "tags": ["docs"], "summary": "The web page's and the docs' files",
        "security": _PUBLIC,
        "parameters": [{"name": "path", "in": "path", "required": True, "schema": _STR}],
        "responses": {"200": {"description": "A file.", "content": {
            t: {"schema": _STR} for t in ("text/html", "text/css", "application/javascript")}},
                      "404": _error("`not_found`.")}}},
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Readout",
        "version": version("readout"),  # the package's, from pyproject.toml
        "summary": "Articles in, one MP3 out.",
        "description": "Submit an article, follow its progress, and stream its MP3 while the rest is synthesized. "
                       "Errors are always JSON: `{\"error\": {\"code\", \"message\"}}`.",
        "license": {"name": "MIT", "identifier": "MIT"},
    },
    "tags": [{"name": "jobs", "description": "Articles to MP3."},
             {"name": "openai", "description": "OpenAI-compatible speech."},
             {"name": "service", "description": "Engines, health, counters."},
             {"name": "docs", "description": "Pages and this document."}],
    "security": _KEYED,
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "An API key from READOUT_API_KEYS (not needed when none are configured)."},
            "accessToken": {"type": "apiKey", "in": "query", "name": "access_token",
                            "description": "The same key, accepted only on GET of a job's audio and events."},
        },
    },
}


@routes.get("/openapi.json")
async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(DOCUMENT)


@routes.get("/docs")
async def docs(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "docs.html")


@routes.get("/")
async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


@routes.get("/static/{path:.+}")
async def static_file(request: web.Request) -> web.FileResponse:
    """A file of the page or the docs; anything else (a missing file, a way out) is a JSON 404."""
    try:
        target = (STATIC / request.match_info["path"]).resolve()
        found = target.is_relative_to(STATIC) and target.is_file()
    except (ValueError, OSError):  # a NUL byte, a name too long for the file system
        found = False
    if not found:
        raise ApiError(404, "not_found", "no such file")
    return web.FileResponse(target)


def setup_pages(app: web.Application) -> None:
    """`/`, `/docs`, `/openapi.json` and the files under `/static/`."""
    app.add_routes(routes)
