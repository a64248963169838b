"""Amazon Polly through aiobotocore.

One request per unit (a sentence of ours). At speed 1.0 the text is sent with
TextType="text": article markup (even `<speak>` tags) is read as words and never
interpreted as SSML. At any other speed it is sent as SSML whose only markup is ours,
`<speak><prosody rate="N%">...</prosody></speak>`, around the XML-escaped text (`&`, `<`,
`>` and quotes as entities), so article text still cannot act as SSML. The MP3 Polly returns
is decoded to PCM for the renderer. botocore's own retries are off; throttling, 5xx and
dropped connections go through `retry.with_retries` (full jitter, bounded tries), while bad
input, unknown voices and credential problems fail at once.
"""
from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any
from xml.sax.saxutils import escape

from botocore import exceptions as boto

from shared.audio.decode import decode_to_pcm
from shared.config import Settings
from shared.engines.base import AudioParams, Engine, EngineError, Speech, UnknownVoice, VoiceInfo
from shared.engines.retry import with_retries

VARIANTS = ("standard", "neural", "long-form", "generative")
SAMPLE_RATE = 24_000  # valid for MP3 with every Polly engine variant
_THROTTLE_CODES = {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
_AUTH_CODES = {
    "UnrecognizedClientException", "InvalidSignatureException", "SignatureDoesNotMatch",
    "AccessDeniedException", "ExpiredTokenException", "InvalidClientTokenId",
    "MissingAuthenticationTokenException", "IncompleteSignature",
}
# A common subset; Polly checks variant support per voice and reports it as a hard error.
_VOICES = {
    "Joanna": "en-US", "Matthew": "en-US", "Ivy": "en-US", "Kendra": "en-US", "Kimberly": "en-US",
    "Salli": "en-US", "Joey": "en-US", "Justin": "en-US", "Kevin": "en-US", "Ruth": "en-US",
    "Stephen": "en-US", "Danielle": "en-US", "Gregory": "en-US", "Amy": "en-GB", "Emma": "en-GB",
    "Brian": "en-GB", "Arthur": "en-GB", "Olivia": "en-AU", "Aria": "en-NZ", "Ayanda": "en-ZA",
    "Niamh": "en-IE", "Kajal": "en-IN", "Lea": "fr-FR", "Remi": "fr-FR", "Vicki": "de-DE",
    "Daniel": "de-DE", "Lucia": "es-ES", "Sergio": "es-ES", "Lupe": "es-US", "Bianca": "it-IT",
    "Adriano": "it-IT", "Camila": "pt-BR", "Ines": "pt-PT", "Laura": "nl-NL", "Takumi": "ja-JP",
    "Seoyeon": "ko-KR", "Zhiyu": "cmn-CN",
}


def request_text(text: str, speed: float) -> tuple[str, str]:
    """(Text, TextType) for one unit: plain text, or our prosody wrapper around escaped text."""
    if abs(speed - 1.0) < 1e-3:
        return text, "text"
    body = escape(text, {'"': "&quot;", "'": "&apos;"})
    return f'<speak><prosody rate="{round(speed * 100)}%">{body}</prosody></speak>', "ssml"


def _client_error(exc: boto.ClientError, text_len: int) -> EngineError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = str(error.get("Message", "")) or code
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code in _THROTTLE_CODES or status == 429:
        return EngineError("polly", f"throttled: {message}", retryable=True, code="throttled")
    if status >= 500 or code in {"ServiceFailureException", "ServiceUnavailable"}:
        return EngineError("polly", f"service error {status} {code}: {message}", retryable=True,
                           code="provider_unavailable")
    if code in _AUTH_CODES or status == 403:
        return EngineError("polly", f"AWS rejected the credentials ({code}): {message}", code="auth_failed")
    if code == "TextLengthExceededException":
        return EngineError("polly", f"text too long for Polly ({text_len} characters): {message}",
                           code="invalid_request")
    return EngineError("polly", f"request rejected ({code}): {message}", code="invalid_request")


class PollyEngine(Engine):
    name = "polly"
    max_chars = 3000

    def __init__(self, settings: Settings) -> None:
        if settings.polly_variant not in VARIANTS:
            raise ValueError(f"READOUT_POLLY_ENGINE must be one of {', '.join(VARIANTS)}")
        self._settings = settings
        self._stack: AsyncExitStack | None = None
        self._client: Any = None
        self._client_lock = asyncio.Lock()

    def voices(self) -> list[VoiceInfo]:
        return [VoiceInfo(id=v, name=v, language=lang) for v, lang in _VOICES.items()]

    def default_voice(self) -> str:
        return "Joanna"

    def params(self, voice: str | None = None, variant: str | None = None) -> AudioParams:
        voice = voice or self.default_voice()
        variant = variant or self._settings.polly_variant
        if voice not in _VOICES:
            raise UnknownVoice(f"polly has no voice {voice!r}")
        if variant not in VARIANTS:
            raise UnknownVoice(f"polly has no engine variant {variant!r} (use {', '.join(VARIANTS)})")
        return AudioParams(
            engine=self.name,
            engine_version="polly-2016-06-10",
            voice=voice,
            variant=variant,
            region=self._settings.polly_region,
            sample_rate=SAMPLE_RATE,
            bitrate_kbps=0,  # Polly picks the MP3 bit rate
        )

    async def _get_client(self) -> Any:
        async with self._client_lock:
            if self._client is None:
                from aiobotocore.config import AioConfig
                from aiobotocore.session import get_session

                stack = AsyncExitStack()
                config = AioConfig(
                    retries={"total_max_attempts": 1},  # retries are ours, with full jitter
                    connect_timeout=10,
                    read_timeout=self._settings.chunk_timeout_s,
                )
                self._client = await stack.enter_async_context(get_session().create_client(
                    "polly",
                    region_name=self._settings.polly_region or None,
                    endpoint_url=self._settings.polly_endpoint_url,
                    config=config,
                ))
                self._stack = stack
            return self._client

    async def speak(self, text: str, params: AudioParams) -> Speech:
        return await with_retries(lambda: self._call(text, params), self._settings)

    async def _call(self, text: str, params: AudioParams) -> Speech:
        client = await self._get_client()
        body, text_type = request_text(text, params.speed)
        try:
            response = await client.synthesize_speech(
                Text=body,
                TextType=text_type,
                VoiceId=params.voice,
                Engine=params.variant,
                OutputFormat="mp3",
                SampleRate=str(params.sample_rate),
            )
            async with response["AudioStream"] as stream:
                audio = await stream.read()
        except boto.ClientError as exc:
            raise _client_error(exc, len(text)) from exc
        except (boto.NoCredentialsError, boto.PartialCredentialsError, boto.CredentialRetrievalError) as exc:
            raise EngineError(self.name, f"no usable AWS credentials: {exc}", code="auth_failed") from exc
        except (boto.ConnectionError, boto.HTTPClientError) as exc:
            raise EngineError(self.name, f"connection failed: {exc}", retryable=True,
                              code="provider_unavailable") from exc
        except boto.BotoCoreError as exc:
            raise EngineError(self.name, f"request failed: {exc}", code="invalid_request") from exc
        try:
            pcm = await asyncio.to_thread(decode_to_pcm, audio, params.sample_rate)
        except ValueError as exc:
            raise EngineError(self.name, f"unreadable audio: {exc}", retryable=True,
                              code="provider_unavailable") from exc
        return Speech(pcm=pcm, sample_rate=params.sample_rate, tempo=params.speed,
                      billed_chars=int(response.get("RequestCharacters") or len(text)))

    async def close(self) -> None:
        async with self._client_lock:
            if self._stack is not None:
                await self._stack.aclose()
            self._stack = None
            self._client = None
