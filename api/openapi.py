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
_SPEED = {"type": "number", "minimum": 0.5, "maximum": 2.0, "default": 1.0}
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
        "type": "object", "oneOf": [{"required": ["text"]}, {"required": ["url"]}],
        "properties": {
            "text": {**_STR, "description": "The article."},
            "url": {**_STR, "format": "uri", "maxLength": 2048,
                    "description": "Instead of `text`: an http(s) page the worker fetches (status `fetching`) and extracts "
                                   "(trafilatura; menus, comments and footers left out). `format` is then ignored."},
            "format": {"enum": ["text", "markdown", "html"], "default": "text"},
            "engine": {**_STR, "description": "An engine name from `GET /v1/engines`; default READOUT_DEFAULT_ENGINE."},
            "voice": {**_STR, "description": "A voice id of the engine; default its default voice."},
            "variant": {**_STR, "description": "Engine-specific variant (Polly: standard, neural, long-form, generative)."},
            "speed": {**_SPEED, "description": "Speaking rate, 0.5 to 2.0 (1.25 = 1/1.25 of the duration); default 1.0."},
        },
    },
    "JobCreated": {
        "type": "object", "required": ["id", "status", "status_url", "audio_url", "events_url"],
        "additionalProperties": False,
        "properties": {"id": {**_STR, "pattern": "^[0-9a-f]{32}$"}, "status": {"const": "queued"},
                       "status_url": _STR, "audio_url": _STR, "events_url": _STR, "captions_url": _STR,
                       "srt_url": _STR, "marks_url": _STR},
    },
    "Job": {
        "type": "object", "additionalProperties": False,
        "required": ["id", "status", "engine", "voice", "speed", "characters", "chunks", "cache", "error", "created_at",
                     "started_at", "finished_at", "duration_seconds", "time_to_first_audio_seconds", "audio_url",
                     "title", "author", "source_url"],
        "properties": {
            "id": {**_STR, "pattern": "^[0-9a-f]{32}$"},
            "status": {"enum": ["queued", "fetching", "running", "done", "failed", "cancelled"],
                       "description": "`fetching`: a URL job's page is being read."},
            "engine": _STR, "voice": _STR, "speed": _SPEED,
            "characters": {**_INT, "description": "Characters after cleaning."},
            "chunks": {"type": "object", "required": ["total", "done"], "additionalProperties": False,
                       "properties": {"total": {**_nullable(_INT), "description": "null until the text is chunked."},
                                      "done": _INT}},
            "cache": {"type": "object", "required": ["hits", "misses"], "additionalProperties": False,
                      "properties": {"hits": _INT, "misses": _INT}},
            "error": _nullable({"type": "object", "required": ["code", "message"], "additionalProperties": False,
                                "properties": {"code": {**_nullable(_STR), "description": (
                                    "URL jobs also: `url_forbidden`, `fetch_failed`, `fetch_too_large`, `fetch_timeout`, "
                                    "`unsupported_content`, `text_empty`, `text_too_long`.")}, "message": _STR}}),
            "created_at": {**_NUM, "description": "Unix seconds."},
            "started_at": _nullable(_NUM),
            "finished_at": _nullable(_NUM),
            "duration_seconds": {**_NUM, "description": "Finished (or now) minus created."},
            "time_to_first_audio_seconds": {**_nullable(_NUM), "description": "Chunk 0 landed minus created."},
            "title": {**_nullable(_STR), "description": "The article's title once known (URL jobs: the page's)."},
            "author": {**_nullable(_STR), "description": "URL jobs: the page's author, if it names one."},
            "source_url": {**_nullable(_STR), "description": "URL jobs: as submitted, then the page's URL after redirects."},
            "audio": _nullable({"type": "object", "required": ["bytes", "duration_seconds"],
                                "additionalProperties": False, "properties": {"bytes": _INT, "duration_seconds": _NUM}}),
            "status_url": _STR,
            "audio_url": _STR, "events_url": _STR, "captions_url": _STR, "srt_url": _STR, "marks_url": _STR,
        },
    },
    "JobList": {
        "type": "object", "required": ["jobs", "next_cursor"], "additionalProperties": False,
        "properties": {"jobs": {"type": "array", "items": _ref("Job")}, "next_cursor": _nullable(_STR)},
    },
    "Marks": {
        "type": "object", "required": ["title", "duration_ms", "timing", "chapters", "sentences"],
        "additionalProperties": False,
        "description": "Where each sentence and chapter is in the finished audio (milliseconds from its start).",
        "properties": {
            "title": _STR, "duration_ms": _INT,
            "timing": {"enum": ["exact", "detected"],
                       "description": "`exact`: from the engine's own marks; `detected`: from the audio's pauses."},
            "chapters": {"type": "array", "items": {
                "type": "object", "required": ["title", "start_ms"], "additionalProperties": False,
                "properties": {"title": {**_STR, "description": "A heading of the article."}, "start_ms": _INT}}},
            "sentences": {"type": "array", "items": {
                "type": "object", "required": ["start_ms", "end_ms", "text", "spoken", "start", "end", "chapter"],
                "additionalProperties": False,
                "properties": {"start_ms": _INT, "end_ms": _INT, "text": {**_STR, "description": "As written."},
                               "spoken": {**_STR, "description": "As sent to the engine."},
                               "start": {**_INT, "description": "Character offset in the cleaned text."},
                               "end": {**_INT, "description": "Character offset just past the sentence."},
                               "chapter": {"type": "integer", "description": "Index into `chapters`; -1 before the "
                                                                            "first heading."}}}},
        },
    },
    "FeedUrl": {"type": "object", "required": ["url"], "additionalProperties": False, "properties": {"url": _STR}},
    "Model": {
        "type": "object", "required": ["id", "object", "created", "owned_by"], "additionalProperties": False,
        "properties": {"id": _STR, "object": {"const": "model"}, "created": _INT, "owned_by": _STR},
    },
    "Models": {
        "type": "object", "required": ["object", "data"], "additionalProperties": False,
        "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": _ref("Model")}},
    },
    "Engines": {
        "type": "object", "required": ["engines"],
        "properties": {"engines": {"type": "array", "items": {
            "type": "object", "required": ["name", "available", "reason", "default", "max_chars", "default_voice", "voices"],
            "properties": {
                "name": _STR, "default": {"type": "boolean"},
                "available": {"type": "boolean", "description": "False when the engine cannot run here (no voices then)."},
                "reason": {"type": ["string", "null"], "description": "Why it is unavailable; null when available."},
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
            "voice": {**_STR, "description": "A voice id of the engine, or an OpenAI voice name (alloy, ash, ballad, coral, "
                                            "echo, fable, onyx, nova, sage, shimmer, verse, marin, cedar), mapped to a "
                                            "distinct voice of the engine where it has several (see the README)."},
            "response_format": {"enum": ["mp3", "opus", "aac", "flac", "wav", "pcm"], "default": "mp3",
                                "description": "pcm: raw 24 kHz 16-bit mono little-endian; wav: streamed, sizes 0xFFFFFFFF."},
            "speed": {"type": "number", "minimum": 0.25, "maximum": 4.0, "default": 1.0,
                      "description": "The job runs at it clamped to 0.5-2.0."},
            "instructions": {**_STR, "description": "Accepted and ignored (no engine takes style prompts)."},
            "stream_format": {"const": "audio", "default": "audio"},
        },
    },
}

_JOB_HEADERS = {"Retry-After": {"description": "While the job is not finished: seconds before polling again.",
                                "schema": {"type": "integer"}}}

_SIGNED = [{"bearer": []}, {"signedLink": []}, {}]
_SIGNED_PARAMS = [{"name": n, "in": "query", "required": False, "schema": _STR, "description": d} for n, d in (
    ("expires", "Signed link: expiry, unix seconds."), ("sig", "Signed link: HMAC-SHA256 signature."))]
_FORBIDDEN = _error("`invalid_signature` or `link_expired`: a signed link that is wrong or late.")


def _stored(name: str, media: str, schema: Schema = _STR) -> dict[str, Any]:
    return {"get": {
        "operationId": f"getJob{name.title().replace('.', '')}", "tags": ["results"], "summary": f"The finished job's {name}",
        "description": "Written with the finished audio. The status JSON's signed link to it works without a key.",
        "security": _SIGNED, "parameters": [_JOB_ID, *_SIGNED_PARAMS],
        "responses": {"200": {"description": name, "content": {media: {"schema": schema}}}, "401": _UNAUTHORIZED,
                      "403": _FORBIDDEN, "404": _error("`job_not_found`, or `not_found` until the job is done.")}}}


PATHS: dict[str, Any] = {
    "/v1/jobs": {"get": {
        "operationId": "listJobs", "tags": ["results"], "summary": "The caller's jobs, newest first",
        "parameters": [{"name": "limit", "in": "query", "required": False, "schema": _INT, "description": "1-100, default 20."},
                       {"name": "cursor", "in": "query", "required": False, "schema": _STR,
                        "description": "`next_cursor` of the previous page."}],
        "responses": {"200": _json(_ref("JobList"), "A page of jobs."), "400": _error("`invalid_parameter`."),
                      "401": _UNAUTHORIZED}}, "post": {
        "operationId": "submitJob", "tags": ["jobs"], "summary": "Submit an article",
        "description": "JSON (`JobSubmission`), or the raw article as the body with `Content-Type: text/plain`, "
                       "`text/markdown` or `text/html` and `engine`/`voice` as query parameters.",
        "parameters": [*({"name": n, "in": "query", "required": False, "schema": _STR,
                          "description": f"{n} (raw-body submissions only; with a JSON body a 400)"}
                         for n in ("engine", "voice", "variant")),
                       {"name": "speed", "in": "query", "required": False, "schema": _SPEED,
                        "description": "speed (raw-body submissions only; with a JSON body a 400)"}],
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": _ref("JobSubmission")},
            "text/plain": {"schema": _STR}, "text/markdown": {"schema": _STR}, "text/html": {"schema": _STR}}},
        "responses": {
            "202": _json(_ref("JobCreated"), "Accepted: the job is queued.",
                         {"Location": {"description": "The status URL.", "schema": _STR}}),
            "400": _error("`invalid_json`, `json_too_deep`, `json_too_complex`, `number_too_long`, `body_not_object`, "
                          "`text_missing`, `text_not_string`, `text_empty`, `unknown_format`, `invalid_parameter`, "
                          "`invalid_utf8`, `url_invalid`, `text_and_url`."),
            "401": _UNAUTHORIZED,
            "413": _error("`text_too_long` (over READOUT_MAX_CHARS) or `body_too_large`."),
            "415": _error("`unsupported_media_type`."),
            "422": _error("`unknown_engine`, `engine_unavailable` (the message names the reason), `unknown_voice`, "
                          "`url_forbidden` (a literal private, loopback or reserved address), or `text_too_complex` "
                          "(cleaning took longer than READOUT_CLEAN_TIMEOUT)."),
            "429": _error("`rate_limited` or `quota_exceeded` (with Retry-After)."),
        },
    }},
    "/v1/jobs/{job_id}": {
        "parameters": [_JOB_ID],
        "get": {"operationId": "getJob", "tags": ["jobs"], "summary": "A job's status",
                "responses": {"200": _json(_ref("Job"), "The job.", _JOB_HEADERS), "401": _UNAUTHORIZED,
                              "404": _NOT_FOUND}},
        "delete": {"operationId": "deleteJob", "tags": ["jobs"], "summary": "Cancel a running job, delete a finished one",
                   "description": "A running job is cancelled (chunks not yet started are skipped). A finished job's "
                                  "record and stored files are removed; every URL of it answers 404 afterwards.",
                   "responses": {"200": _json(_ref("Job"), "The job after the cancel."),
                                 "204": {"description": "Deleted."}, "401": _UNAUTHORIZED, "404": _NOT_FOUND}},
    },
    "/v1/jobs/{job_id}/cancel": {"post": {
        "operationId": "cancelJob", "tags": ["jobs"], "summary": "Cancel a job",
        "description": "Chunks not yet started are skipped. A finished job is returned unchanged.",
        "parameters": [_JOB_ID],
        "responses": {"200": _json(_ref("Job"), "The job after the cancel."), "401": _UNAUTHORIZED, "404": _NOT_FOUND}}},
    "/v1/jobs/{job_id}/captions.vtt": _stored("captions.vtt", "text/vtt"),
    "/v1/jobs/{job_id}/captions.srt": _stored("captions.srt", "application/x-subrip"),
    "/v1/jobs/{job_id}/marks.json": _stored("marks.json", "application/json", _ref("Marks")),
    "/v1/feed": {"get": {
        "operationId": "getFeed", "tags": ["results"], "summary": "The caller's podcast feed URL",
        "responses": {"200": _json(_ref("FeedUrl"), "The feed's URL."), "401": _UNAUTHORIZED}}},
    "/v1/feed/rotate": {"post": {
        "operationId": "rotateFeed", "tags": ["results"], "summary": "A new feed URL; the old one answers 404",
        "responses": {"200": _json(_ref("FeedUrl"), "The new feed's URL."), "401": _UNAUTHORIZED}}},
    "/v1/feeds/{token}.xml": {"get": {
        "operationId": "podcastFeed", "tags": ["results"], "summary": "RSS 2.0 podcast feed of finished articles",
        "security": _PUBLIC, "parameters": [{"name": "token", "in": "path", "required": True, "schema": _STR}],
        "responses": {"200": {"description": "RSS 2.0 with the iTunes namespace.",
                              "content": {"application/rss+xml": {"schema": _STR}}},
                      "404": _error("`not_found`: no such feed, or rotated.")}}},
    "/v1/jobs/{job_id}/audio": {"get": {
        "operationId": "getJobAudio", "tags": ["jobs"], "summary": "The job's MP3",
        "description": "While the job runs: a chunked stream, chunk 0 as soon as it exists, then each next chunk in "
                       "order; cut (not ended cleanly) if the job fails. Once done: the stored file, with "
                       "Content-Length, ETag, Accept-Ranges and Range (or a 307 to a presigned S3 URL). The status "
                       "JSON's signed `audio_url` works without a key.",
        "security": _SIGNED,
        "parameters": [_JOB_ID, *_SIGNED_PARAMS, {"name": "Range", "in": "header", "required": False, "schema": _STR,
                                 "description": "One `bytes=start-end` range (finished jobs, mp3)."},
                       {"name": "format", "in": "query", "required": False,
                        "schema": {"enum": ["mp3", "opus", "aac", "flac", "wav", "pcm"], "default": "mp3"},
                        "description": "Another format is encoded as the chunks are read: streamed, no ranges."}],
        "responses": {
            "200": _AUDIO, "206": {**_AUDIO, "description": "The requested range."},
            "304": {"description": "Not modified (If-None-Match matched the ETag)."},
            "307": {"description": "READOUT_S3_PRESIGN=1: the finished file at a presigned URL."},
            "400": _error("`unsupported_format`."),
            "401": _UNAUTHORIZED, "403": _FORBIDDEN, "404": _NOT_FOUND,
            "409": _error("`job_failed` or `job_cancelled`: no audio."),
            "416": _error("`invalid_range` or `range_not_satisfiable`."),
        },
    }},
    "/v1/jobs/{job_id}/events": {"get": {
        "operationId": "getJobEvents", "tags": ["jobs"], "summary": "Server-sent events of the job's progress",
        "description": "First a `progress` event with the current state, one `progress` per landed chunk or change of "
                       "status (`fetching`, `running`), then "
                       "`done`, `failed` or `cancelled` and the stream ends. Every event's data is the `Job` JSON. "
                       "The status JSON's signed `events_url` works without a key.",
        "security": _SIGNED,
        "parameters": [_JOB_ID, *_SIGNED_PARAMS],
        "responses": {"200": {"description": "An event stream; each `data:` line is a `Job`.",
                              "content": {"text/event-stream": {"schema": _STR}}},
                      "401": _UNAUTHORIZED, "403": _FORBIDDEN, "404": _NOT_FOUND},
    }},
    "/v1/audio/speech": {"post": {
        "operationId": "createSpeech", "tags": ["openai"], "summary": "OpenAI-compatible speech",
        "description": "OpenAI's `POST /v1/audio/speech`: runs as a job (queue, cache, locks, quota) and streams "
                       "the MP3 as chunks land.",
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("SpeechRequest")}}},
        "responses": {
            "200": {"description": "The audio in `response_format`, streamed (chunked) while it is synthesized.",
                    "headers": {"X-Readout-Job": {"description": "The job's id (GET /v1/jobs/{id}).", "schema": _STR}},
                    "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in (
                        "audio/mpeg", "audio/ogg", "audio/aac", "audio/flac", "audio/wav", "audio/pcm")}},
            "400": _error("`parameter_missing`, `invalid_parameter`, `invalid_json`, `json_too_deep`, `json_too_complex`, "
                          "`number_too_long`, `invalid_utf8`, `body_not_object`, "
                          "`unsupported_response_format`, `unsupported_stream_format`, `text_empty`."),
            "401": _UNAUTHORIZED,
            "409": _error("`job_failed`: synthesis failed before any audio."),
            "413": _error("`text_too_long` or `body_too_large`."),
            "415": _error("`unsupported_media_type`: send JSON."),
            "422": _error("`unknown_model`, `unknown_voice` or `text_too_complex`."),
            "429": _error("`rate_limited` or `quota_exceeded`."),
        },
    }},
    "/v1/models": {"get": {
        "operationId": "listModels", "tags": ["openai"], "summary": "OpenAI-style model list",
        "description": "`tts-1`, `tts-1-hd`, `gpt-4o-mini-tts` and every engine name (each usable as `model`).",
        "responses": {"200": _json(_ref("Models"), "The models."), "401": _UNAUTHORIZED}}},
    "/v1/models/{model_id}": {"get": {
        "operationId": "getModel", "tags": ["openai"], "summary": "One model",
        "parameters": [{"name": "model_id", "in": "path", "required": True, "schema": _STR}],
        "responses": {"200": _json(_ref("Model"), "The model."), "401": _UNAUTHORIZED,
                      "404": _error("`model_not_found`.")}}},
    "/v1/engines": {"get": {
        "operationId": "listEngines", "tags": ["service"], "summary": "Engines, voices and chunk limits",
        "responses": {"200": _json(_ref("Engines"), "The engines of this deployment."), "401": _UNAUTHORIZED}}},
    "/v1/stats": {"get": {
        "operationId": "getStats", "tags": ["service"], "summary": "Cluster-wide counters and cost",
        "responses": {"200": _json(_ref("Stats"), "Counters read from Redis."), "401": _UNAUTHORIZED}}},
    "/metrics": {"get": {
        "operationId": "getMetrics", "tags": ["service"], "summary": "Prometheus metrics",
        "description": "With keys configured, an API key or READOUT_METRICS_TOKEN as the bearer token.",
        "security": [{"bearer": []}, {"metricsToken": []}, {}],
        "responses": {"200": {"description": "Prometheus text format 0.0.4.",
                              "content": {"text/plain": {"schema": _STR}}}, "401": _UNAUTHORIZED}}},
    "/healthz": {"get": {
        "operationId": "healthz", "tags": ["service"], "summary": "The process is up", "security": _PUBLIC,
        "responses": {"200": _json(_ref("Health"), "Up.")}}},
    "/readyz": {"get": {
        "operationId": "readyz", "tags": ["service"], "summary": "Redis reachable and a worker alive",
        "responses": {"200": _json(_ref("Ready"), "Ready."), "401": _UNAUTHORIZED,
                      "503": _json(_ref("Ready"), "Not ready.")}}},
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

_RETRY_AFTER = {"Retry-After": {"description": "Seconds before trying again.", "schema": {"type": "integer"}}}
_COMMON = {  # answers any operation may give, besides its own
    "400": "`duplicate_authorization`: more than one Authorization header.",
    "405": "`method_not_allowed`, with an `Allow` header.",
}
_STORE = {  # answers of operations that use the job store (Redis)
    "503": "`store_unavailable`: the job store is unreachable, frozen or read-only (answered within "
           "READOUT_STORE_TIMEOUT); `cleaner_busy` on submissions.",
    "507": "`store_full`: the job store is out of memory.",
}
_NO_STORE = {"/healthz", "/openapi.json", "/docs", "/", "/static/{path}"}
_BODY = {"408": "`body_timeout`: the body did not arrive within READOUT_BODY_TIMEOUT."}
_NOT_SIGNED = {"403": "`invalid_signature`: signed-link parameters (`sig`, `expires`) where they open "
                      "nothing (a signed link is for its own download only)."}


def _add_common_errors(paths: dict[str, Any]) -> None:
    for path, item in paths.items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            extra = dict(_COMMON)
            if path not in _NO_STORE and path != "/readyz":  # /readyz reports an unreachable store itself
                extra |= _STORE
            if "requestBody" in operation:
                extra |= _BODY
            if operation.get("security") not in (_PUBLIC, _SIGNED):
                extra |= _NOT_SIGNED
            responses = operation["responses"]
            for status, text in extra.items():
                if status in responses:
                    description = responses[status]["description"].rstrip(".") + "; " + text
                    responses[status] = {**responses[status], "description": description}
                else:
                    responses[status] = _error(text)
                if status in _STORE:
                    responses[status]["headers"] = _RETRY_AFTER


_add_common_errors(PATHS)

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
             {"name": "results", "description": "Finished files, captions, the job list and the podcast feed."},
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
            "metricsToken": {"type": "http", "scheme": "bearer",
                             "description": "READOUT_METRICS_TOKEN: lets a scraper read /metrics without an API key."},
            "signedLink": {"type": "apiKey", "in": "query", "name": "sig",
                           "description": "A signed link from the status JSON (`expires` and `sig`): one path, until it expires."},
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
