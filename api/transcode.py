"""Audio in another format than the stored MP3: `GET /v1/jobs/{id}/audio?format=...` and the OpenAI endpoint.

A `TranscodingResponse` is handed to `api.audio.stream_audio`, which gives it each landed
chunk in order (`write_chunk`, the whole `RenderedChunk` from the chunk cache); the
response feeds the chunk's own PCM (`chunk_pcm`: the exact signal its MP3 and the finished
file encode, no MP3 decode) to a streaming encoder and sends what comes out, so the client
hears the start while later chunks are still being made, and a finished job's formats are
encoded from the same PCM as its finished MP3 (same length). Transcoded audio has no
Content-Length and no ranges (its length is known only at the end); a job that fails
mid-way has its connection cut exactly like the MP3 stream.
"""
from __future__ import annotations

import asyncio

from aiohttp import web

from api.errors import ApiError
from shared.audio.formats import FORMATS, StreamEncoder
from shared.audio.rendered import RenderedChunk


def chunk_pcm(chunk: RenderedChunk) -> tuple[bytes, int]:
    """(16-bit mono PCM, sample rate) of one landed chunk, as stored beside its MP3."""
    return chunk.pcm, chunk.sample_rate


class TranscodingResponse(web.StreamResponse):
    """A chunked response whose `write_chunk` takes a landed chunk and sends its PCM re-encoded."""

    def __init__(self, fmt: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(headers={"Content-Type": FORMATS[fmt].content_type, "Cache-Control": "no-store",
                                  **(headers or {})})
        self.enable_chunked_encoding()
        self._fmt = fmt
        self._encoder: StreamEncoder | None = None

    def _transcode(self, chunk: RenderedChunk) -> bytes:
        pcm, rate = chunk_pcm(chunk)
        if self._encoder is None:
            self._encoder = StreamEncoder(self._fmt, rate)
        return self._encoder.feed(pcm)

    async def write_chunk(self, chunk: RenderedChunk) -> None:
        out = await asyncio.to_thread(self._transcode, chunk)
        if out:
            await self.write(out)

    async def write_eof(self, data: bytes = b"") -> None:
        """The encoder's tail, then the end of the body (aiohttp calls this again after the handler: a no-op)."""
        encoder, self._encoder = self._encoder, None
        if encoder is not None:
            await self.write(await asyncio.to_thread(encoder.finish))
        await super().write_eof(data)


def audio_response(fmt: str, headers: dict[str, str] | None = None) -> web.StreamResponse:
    """The streamed response for `fmt`: plain MP3 pieces, or transcoded; 400 for an unknown format."""
    if fmt not in FORMATS:
        raise ApiError(400, "unsupported_format", f"format {fmt!r} is not supported; use one of {', '.join(FORMATS)}")
    if fmt == "mp3":
        response = web.StreamResponse(headers={"Content-Type": "audio/mpeg", "Cache-Control": "no-store",
                                               **(headers or {})})
        response.enable_chunked_encoding()
        return response
    return TranscodingResponse(fmt, headers)
