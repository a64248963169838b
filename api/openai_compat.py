"""OpenAI's speech API (`POST /v1/audio/speech`, `GET /v1/models`), served by Readout's job pipeline.

The request becomes an ordinary job (same queue, cache, per-chunk locks, quota and
ownership as `POST /v1/jobs`) and the audio streams back as the chunks land, so a long
input starts playing before its end is synthesized. The `X-Readout-Job` response header
names the job, so a caller can fetch its status (`GET /v1/jobs/{id}`) afterwards. Tools
built for OpenAI work by pointing their base URL at `http://host:port/v1`; the API key is
the usual bearer token.

Mapping:
- `model`: `tts-1`, `tts-1-hd` and `gpt-4o-mini-tts` mean the default engine
  (READOUT_DEFAULT_ENGINE); an engine name (`piper`, `espeak`, `polly`, ...) picks that engine.
- `voice`: a voice id of the chosen engine is used as is; an OpenAI voice name maps through
  `VOICE_MAP` to a distinct voice of the engine where it has enough (espeak, Polly), else to
  the engine's default voice (Piper has one bundled voice: every name maps to it).
- `response_format`: `mp3` (each chunk's stored frames as they are, joined), `opus` (Ogg Opus,
  48 kHz), `aac` (ADTS), `flac`, `wav` (streamed: sizes 0xFFFFFFFF) and `pcm` (raw 24 kHz 16-bit
  mono little-endian), the others encoded from each chunk's own PCM as the chunks land
  (`api.transcode`), so they last as long as the job's finished MP3.
- `speed`: 0.25-4.0 accepted like OpenAI; the job runs at it clamped to 0.5-2.0 (the range
  Readout's engines speak at).
- `instructions`: accepted and ignored (no engine takes style prompts).
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
from api.transcode import audio_response
from shared.audio.formats import FORMATS
from shared.config import Settings
from shared.engines import UnknownEngine, engine_names, get_engine

log = logging.getLogger("readout.api")
routes = web.RouteTableDef()

OPENAI_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
MODELS_CREATED = 1_764_547_200  # 2025-12-01, Readout 0.1.0: `created` of every model in GET /v1/models
OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse",
                 "marin", "cedar")
# OpenAI voice name -> the engine's voice, one distinct voice per name where the engine has enough.
# espeak: English accents, and espeak's variants (`+f3`: a female voice) where the accents run out.
# Polly: 13 English neural voices. ElevenLabs: its 8 premade voices (some shared). fake: its 2 voices.
# Engines not listed (Piper, with one bundled voice) give every name their default voice.
VOICE_MAP: dict[str, dict[str, str]] = {
    "espeak": {
        "alloy": "en-us", "ash": "en-us+m3", "ballad": "en-gb-x-rp", "coral": "en-us+f2", "echo": "en-gb",
        "fable": "en-gb-x-gbclan", "onyx": "en-us+m7", "nova": "en-us+f3", "sage": "en-gb-x-rp+f4",
        "shimmer": "en-us+f5", "verse": "en-gb-scotland", "marin": "en-029+f1", "cedar": "en-us-nyc",
    },
    "polly": {
        "alloy": "Joanna", "ash": "Stephen", "ballad": "Arthur", "coral": "Ruth", "echo": "Joey", "fable": "Brian",
        "onyx": "Matthew", "nova": "Danielle", "sage": "Kendra", "shimmer": "Salli", "verse": "Justin",
        "marin": "Amy", "cedar": "Gregory",
    },
    "elevenlabs": {
        "alloy": "Rachel", "ash": "Adam", "ballad": "Antoni", "coral": "Sarah", "echo": "Josh", "fable": "Arnold",
        "onyx": "Adam", "nova": "Elli", "sage": "Domi", "shimmer": "Rachel", "verse": "Antoni", "marin": "Sarah",
        "cedar": "Josh",
    },
    "fake": {name: ("fake-a", "fake-b")[i % 2] for i, name in enumerate(OPENAI_VOICES)},
}
SPEED_RANGE = (0.25, 4.0)  # what OpenAI accepts
JOB_SPEED_RANGE = (0.5, 2.0)  # what a job runs at


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
    """The engine's voice id for `voice` (its own id, or an OpenAI name through VOICE_MAP); None = its default."""
    try:
        engine = get_engine(engine_name, settings)
    except UnknownEngine as exc:
        raise ApiError(422, "unknown_engine", f"unknown engine {engine_name!r}") from exc
    if voice in {v.id for v in engine.voices()}:
        return voice
    if voice.lower() in OPENAI_VOICES:
        return VOICE_MAP.get(engine_name, {}).get(voice.lower())
    raise ApiError(422, "unknown_voice",
                   f"engine {engine_name!r} has no voice {voice!r}; use an OpenAI voice name or one from GET /v1/engines")


def _options(body: dict[str, Any]) -> tuple[str, float]:
    """(response_format, job speed) after checking the optional fields."""
    fmt = body.get("response_format", "mp3")
    if not isinstance(fmt, str) or fmt not in FORMATS:
        raise ApiError(400, "unsupported_response_format",
                       f"response_format {fmt!r} is not supported; use one of {', '.join(FORMATS)}")
    speed = body.get("speed", 1.0)
    if isinstance(speed, bool) or not isinstance(speed, int | float):
        raise ApiError(400, "invalid_parameter", "'speed' must be a number")
    if not SPEED_RANGE[0] <= speed <= SPEED_RANGE[1]:
        raise ApiError(400, "invalid_parameter", f"'speed' must be between {SPEED_RANGE[0]} and {SPEED_RANGE[1]}")
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise ApiError(400, "invalid_parameter", "'instructions' must be a string")  # a string is accepted, unused
    stream_format = body.get("stream_format", "audio")
    if stream_format != "audio":
        raise ApiError(400, "unsupported_stream_format", f"stream_format {stream_format!r} is not supported; only 'audio'")
    return fmt, min(max(float(speed), JOB_SPEED_RANGE[0]), JOB_SPEED_RANGE[1])


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
    fmt, speed = _options(body)
    engine_name = engine_for_model(model, c.settings)
    engine_voice = voice_for(engine_name, voice, c.settings)
    document = await clean_article(raw_input, "text", c.settings, what="'input'")
    job_id = await submit_job(request, document=document, engine_name=engine_name, voice=engine_voice, variant=None,
                              speed=speed)
    log.info("speech request", extra={"job_id": job_id, "model": model, "engine": engine_name,
                                      "chars": len(document.text), "format": fmt})
    return await stream_audio(request, c, job_id, audio_response(fmt, {"X-Readout-Job": job_id}))


def _models(settings: Settings) -> list[dict[str, Any]]:
    ids = [*OPENAI_MODELS, *engine_names(settings)]
    return [{"id": name, "object": "model", "created": MODELS_CREATED, "owned_by": "readout"} for name in ids]


@routes.get("/v1/models")
async def models(request: web.Request) -> web.Response:
    c = ctx(request)
    caller(request, c.settings)
    return web.json_response({"object": "list", "data": _models(c.settings)})


@routes.get("/v1/models/{model_id}")
async def model(request: web.Request) -> web.Response:
    c = ctx(request)
    caller(request, c.settings)
    for entry in _models(c.settings):
        if entry["id"] == request.match_info["model_id"]:
            return web.json_response(entry)
    raise ApiError(404, "model_not_found", f"no model {request.match_info['model_id']!r}; see GET /v1/models")
