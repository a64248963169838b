"""`POST /v1/audio/speech`: OpenAI's speech API, served by Readout's job pipeline.

The request becomes an ordinary job (same queue, cache, per-chunk locks, quota and
ownership as `POST /v1/jobs`) and the MP3 streams back as the chunks land, so a long
input starts playing before its end is synthesized. Tools built for OpenAI work by
pointing their base URL at `http://host:port/v1`; the API key is the usual bearer token.

Mapping:
- `model`: `tts-1`, `tts-1-hd` and `gpt-4o-mini-tts` mean the default engine
  (READOUT_DEFAULT_ENGINE); an engine name (`piper`, `espeak`, `polly`, ...) picks that engine.
- `voice`: a voice id of the chosen engine is used as is; an OpenAI voice name (`alloy`,
  `echo`, `nova`, ...) maps to the engine's default voice.
- `response_format`: `mp3` only (the default); any other format is a 400.
- `speed`: only 1.0 (or absent); anything else is a 400, the engines speak at one rate.
- `instructions`: not supported (no engine takes style prompts); a non-empty value is a 400.
- `stream_format`: `audio` (the default); `sse` is a 400.
- `input`: up to READOUT_MAX_CHARS characters (OpenAI's own limit is 4096).
"""
from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from api.audio import stream_audio
from api.auth import caller
from api.context import ctx
from api.errors import ApiError
from api.jobs import submit_job
from api.submit import clean_article, load_json, read_body
from shared.config import Settings
from shared.engines import UnknownEngine, engine_names, get_engine

log = logging.getLogger("readout.api")
routes = web.RouteTableDef()

OPENAI_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
OPENAI_VOICES = ("alloy", "ash", "ballad", "cedar", "coral", "echo", "fable", "marin", "nova", "onyx", "sage",
                 "shimmer", "verse")


def _field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        raise ApiError(400, "parameter_missing", f"'{name}' is required")
    if not isinstance(value, str):
        raise ApiError(400, "invalid_parameter", f"'{name}' must be a string")
    return value


def engine_for_model(model: str, settings: Settings) -> str:
    if model in OPENAI_MODELS:
        return settings.default_engine
    if model in engine_names(settings):
        return model
    raise ApiError(422, "unknown_model",
                   f"unknown model {model!r}; use one of {', '.join(OPENAI_MODELS)} or an engine name from GET /v1/engines")


def voice_for(engine_name: str, voice: str, settings: Settings) -> str | None:
    """The engine's voice id, or None (its default) for an OpenAI voice name the engine lacks."""
    try:
        engine = get_engine(engine_name, settings)
    except UnknownEngine as exc:
        raise ApiError(422, "unknown_engine", f"unknown engine {engine_name!r}") from exc
    if voice in {v.id for v in engine.voices()}:
        return voice
    if voice.lower() in OPENAI_VOICES:
        return None
    raise ApiError(422, "unknown_voice",
                   f"engine {engine_name!r} has no voice {voice!r}; use an OpenAI voice name or one from GET /v1/engines")


def _check_unsupported(body: dict[str, Any]) -> None:
    fmt = body.get("response_format", "mp3")
    if fmt != "mp3":
        raise ApiError(400, "unsupported_response_format", f"response_format {fmt!r} is not supported; only 'mp3'")
    speed = body.get("speed")
    if speed is not None:
        if isinstance(speed, bool) or not isinstance(speed, int | float):
            raise ApiError(400, "invalid_parameter", "'speed' must be a number")
        if speed != 1:
            raise ApiError(400, "unsupported_speed", f"speed {speed} is not supported; only 1.0 (omit it)")
    if body.get("instructions"):
        raise ApiError(400, "unsupported_instructions", "'instructions' is not supported by Readout's engines")
    stream_format = body.get("stream_format", "audio")
    if stream_format != "audio":
        raise ApiError(400, "unsupported_stream_format", f"stream_format {stream_format!r} is not supported; only 'audio'")


async def _read_json(request: web.Request, settings: Settings) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the request as application/json")
    body = load_json(await read_body(request, settings))
    if not isinstance(body, dict):
        raise ApiError(400, "body_not_object", "JSON body must be an object")
    return body


@routes.post("/v1/audio/speech")
async def speech(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    caller(request, c.settings)  # 401 before reading a body
    body = await _read_json(request, c.settings)
    model, raw_input, voice = _field(body, "model"), _field(body, "input"), _field(body, "voice")
    _check_unsupported(body)
    engine_name = engine_for_model(model, c.settings)
    engine_voice = voice_for(engine_name, voice, c.settings)
    text = await clean_article(raw_input, "text", c.settings, what="'input'")
    job_id = await submit_job(request, text=text, engine_name=engine_name, voice=engine_voice, variant=None)
    log.info("speech request", extra={"job_id": job_id, "model": model, "engine": engine_name, "chars": len(text)})
    return await stream_audio(request, c, job_id)
