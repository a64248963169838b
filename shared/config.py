"""Every environment variable Readout reads, in one place.

`load_settings()` is called once per process; everything else receives a `Settings`.
The README's configuration table mirrors this module.
"""
from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

from shared.text.document import Boundary

NETWORK_WORKER_CONCURRENCY = 4  # jobs at once per worker when the default engine is a network one


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def _bool(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    return raw in {"1", "true", "yes", "on"}


def _api_keys(raw: str) -> dict[str, str]:
    """Parse `name:key,name2:key2` into {key: name}."""
    keys: dict[str, str] = {}
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, key = item.partition(":")
        if not sep or not name.strip() or not key.strip():
            raise ValueError("READOUT_API_KEYS must be comma-separated name:key pairs")
        keys[key.strip()] = name.strip()
    return keys


def _networks(raw: str) -> tuple[str, ...]:
    """Comma-separated CIDRs (`10.1.2.0/24,fd00:1::/64`), each checked here so a typo fails at start-up."""
    nets = []
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            nets.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError as exc:
            raise ValueError(f"READOUT_FETCH_ALLOW_NETWORKS: {item!r} is not an IP network") from exc
    return tuple(nets)


def _pauses(raw: str) -> tuple[tuple[str, int], ...]:
    """Parse `sentence=300,paragraph=800` (boundary names, milliseconds)."""
    names = get_args(Boundary)
    pauses: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, sep, ms = (p.strip() for p in item.partition("="))
        if not sep or name not in names or not ms.isdigit():
            raise ValueError(f"READOUT_PAUSES must be name=milliseconds pairs with names from {', '.join(names)}; "
                             f"got {item!r}")
        pauses[name] = int(ms)
    return tuple(sorted(pauses.items()))


@dataclass(frozen=True)
class Settings:
    # Redis
    redis_url: str | None = None  # REDIS_URL; None = start the embedded redis-server
    cache_url: str | None = None  # READOUT_CACHE_URL; None = the queue's Redis
    cache_ttl_s: int = 30 * 24 * 3600  # READOUT_CACHE_TTL
    data_dir: Path = Path(".readout-data")  # READOUT_DATA_DIR (embedded Redis data + AOF)
    # API
    host: str = "127.0.0.1"  # READOUT_HOST
    port: int = 8000  # READOUT_PORT
    max_chars: int = 500_000  # READOUT_MAX_CHARS (characters after cleaning)
    max_body_bytes: int = 4 * 1024 * 1024  # READOUT_MAX_BODY_BYTES
    api_keys: dict[str, str] = field(default_factory=dict)  # READOUT_API_KEYS: {key: name}
    allow_anonymous: bool = False  # READOUT_ALLOW_ANONYMOUS
    quota_chars: int = 0  # READOUT_QUOTA_CHARS per key per calendar month; 0 = unlimited
    rate_per_min: int = 0  # READOUT_RATE_PER_MIN jobs per key per minute; 0 = unlimited
    price_per_million: float = 16.0  # READOUT_PRICE_PER_MILLION (USD per 1M provider chars)
    metrics_token: str = ""  # READOUT_METRICS_TOKEN: a bearer token that may read /metrics (besides API keys)
    body_timeout_s: float = 30.0  # READOUT_BODY_TIMEOUT (a request body must arrive within this; else 408)
    clean_timeout_s: float = 10.0  # READOUT_CLEAN_TIMEOUT (cleaning budget per article; else 422)
    clean_processes: int = 2  # READOUT_CLEAN_PROCESSES (cleaner pool size per API process)
    stream_idle_s: float = 300.0  # READOUT_STREAM_IDLE_TIMEOUT (a stream with no new audio this long is cut)
    store_timeout_s: float = 3.0  # READOUT_STORE_TIMEOUT (API: a Redis command gives up after this; 503)
    # Chunking
    chunk_target_chars: int = 2500  # READOUT_CHUNK_TARGET
    chunk_max_chars: int = 3000  # READOUT_CHUNK_MAX (capped by the engine's max_chars)
    first_chunk_chars: int = 400  # READOUT_FIRST_CHUNK_CHARS; 0 disables the short first chunk
    # Speech rendering
    loudness_lufs: float = -19.0  # READOUT_LOUDNESS_LUFS (integrated loudness of every chunk, mono)
    pauses: tuple[tuple[str, int], ...] = ()  # READOUT_PAUSES: pause table overrides, "sentence=300,paragraph=800"
    # Workers and locks
    workers: int = 0  # READOUT_WORKERS (`readout serve`); 0 = cores // the default engine's threads
    worker_concurrency: int = 0  # READOUT_WORKER_CONCURRENCY; 0 = the default engine's slots (Piper 1), else 4
    job_window: int = 16  # READOUT_JOB_WINDOW: a job's chunk jobs in the queue at once; 0 = FIFO, all at once
    poll_delay_s: float = 0.01  # READOUT_POLL_DELAY (ARQ queue poll; every hop waits up to this)
    chunk_timeout_s: int = 120  # READOUT_CHUNK_TIMEOUT (one try of a chunk job, queueing for the engine included)
    chunk_max_tries: int = 8  # READOUT_CHUNK_MAX_TRIES (tries of one chunk job before the job fails)
    lock_ttl_ms: int = 10_000  # READOUT_LOCK_TTL_MS (per-chunk lock, extended while held)
    wait_timeout_s: float = 120.0  # READOUT_WAIT_TIMEOUT (a waiter gives up after this)
    job_ttl_s: int = 7 * 24 * 3600  # READOUT_JOB_TTL (finished job records kept this long)
    store_fail_after_s: float = 120.0  # READOUT_STORE_FAIL_AFTER (a job blocked by a full/unreachable store fails)
    # Engines
    default_engine: str = "piper"  # READOUT_DEFAULT_ENGINE
    piper_voice: str = ""  # READOUT_PIPER_VOICE: path to a Piper .onnx; "" = bundled joe
    piper_processes: int = 1  # READOUT_PIPER_PROCESSES (Piper worker processes per worker)
    piper_length_scale: float = 1.2  # READOUT_PIPER_LENGTH_SCALE (narration rate at speed 1.0)
    fake_engine: bool = False  # READOUT_FAKE_ENGINE=1 registers the `fake` engine
    fake_latency_ms: int = 200  # READOUT_FAKE_LATENCY_MS
    fake_fail_rate: float = 0.0  # READOUT_FAKE_FAIL_RATE (fraction of calls throttled)
    fake_fail_hard: bool = False  # READOUT_FAKE_FAIL_HARD=1: every call fails permanently
    polly_region: str = ""  # READOUT_POLLY_REGION (else AWS_REGION / AWS_DEFAULT_REGION)
    polly_endpoint_url: str | None = None  # READOUT_POLLY_ENDPOINT_URL (tests, VPC endpoints)
    polly_variant: str = "neural"  # READOUT_POLLY_ENGINE: standard|neural|long-form|generative
    polly_enabled: bool = False  # true when AWS credentials or an endpoint are configured
    elevenlabs_api_key: str = ""  # ELEVENLABS_API_KEY
    elevenlabs_url: str = "https://api.elevenlabs.io"  # READOUT_ELEVENLABS_URL
    elevenlabs_model: str = "eleven_multilingual_v2"  # READOUT_ELEVENLABS_MODEL
    provider_max_tries: int = 5  # READOUT_PROVIDER_MAX_TRIES (throttling / 5xx retries)
    provider_backoff_base_s: float = 0.2  # READOUT_PROVIDER_BACKOFF (full-jitter base)
    log_level: str = "INFO"  # READOUT_LOG_LEVEL
    # Articles from the web (URL jobs)
    fetch_max_bytes: int = 5 * 1024 * 1024  # READOUT_FETCH_MAX_BYTES (page body, after decompression)
    fetch_timeout_s: float = 20.0  # READOUT_FETCH_TIMEOUT (whole fetch: every redirect hop and the body)
    fetch_max_tries: int = 3  # READOUT_FETCH_MAX_TRIES (tries of a page that answers 5xx or a network error)
    fetch_allow_private: bool = False  # READOUT_FETCH_ALLOW_PRIVATE=1 lifts the private-address (SSRF) policy
    fetch_allow_networks: tuple[str, ...] = ()  # READOUT_FETCH_ALLOW_NETWORKS: CIDRs fetchable despite the policy
    # Storage and results
    storage_url: str = ""  # READOUT_STORAGE: file:///abs/path or s3://bucket/prefix; "" = data_dir/store
    s3_endpoint_url: str | None = None  # READOUT_S3_ENDPOINT_URL; None = AWS
    s3_region: str = "us-east-1"  # AWS_REGION / AWS_DEFAULT_REGION
    s3_access_key: str = ""  # AWS_ACCESS_KEY_ID ("" = botocore's default chain: profile, role)
    s3_secret_key: str = ""  # AWS_SECRET_ACCESS_KEY
    s3_presign: bool = False  # READOUT_S3_PRESIGN=1: finished audio answers 307 to a presigned URL
    cache_max_bytes: int = 0  # READOUT_CACHE_MAX_BYTES: LRU size cap of the chunk cache; 0 = none
    sweep_interval_s: int = 600  # READOUT_SWEEP_INTERVAL: seconds between retention sweeps
    finish_timeout_s: int = 1800  # READOUT_FINISH_TIMEOUT: one try of writing an article's finished files
    url_secret: str = ""  # READOUT_URL_SECRET; "" = generated once into data_dir/url-secret
    link_ttl_s: int = 24 * 3600  # READOUT_LINK_TTL: signed links in status JSON
    feed_link_ttl_s: int = 30 * 24 * 3600  # READOUT_FEED_LINK_TTL: signed enclosure links in feeds
    public_url: str = ""  # READOUT_PUBLIC_URL: base of absolute URLs; "" = from the request
    trust_proxy: bool = False  # READOUT_TRUST_PROXY=1: honour X-Forwarded-Proto/Host


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    polly_region = (
        env.get("READOUT_POLLY_REGION") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or ""
    )
    polly_endpoint = env.get("READOUT_POLLY_ENDPOINT_URL") or None
    polly_enabled = bool(polly_endpoint or env.get("AWS_ACCESS_KEY_ID") or env.get("AWS_PROFILE"))
    return Settings(
        redis_url=env.get("REDIS_URL") or None,
        cache_url=env.get("READOUT_CACHE_URL") or None,
        cache_ttl_s=_int(env, "READOUT_CACHE_TTL", 30 * 24 * 3600),
        data_dir=Path(env.get("READOUT_DATA_DIR") or ".readout-data"),
        host=env.get("READOUT_HOST") or "127.0.0.1",
        port=_int(env, "READOUT_PORT", 8000),
        max_chars=_int(env, "READOUT_MAX_CHARS", 500_000),
        max_body_bytes=_int(env, "READOUT_MAX_BODY_BYTES", 4 * 1024 * 1024),
        api_keys=_api_keys(env.get("READOUT_API_KEYS", "")),
        allow_anonymous=_bool(env, "READOUT_ALLOW_ANONYMOUS"),
        quota_chars=_int(env, "READOUT_QUOTA_CHARS", 0),
        rate_per_min=_int(env, "READOUT_RATE_PER_MIN", 0),
        price_per_million=_float(env, "READOUT_PRICE_PER_MILLION", 16.0),
        metrics_token=env.get("READOUT_METRICS_TOKEN", "").strip(),
        body_timeout_s=_float(env, "READOUT_BODY_TIMEOUT", 30.0),
        clean_timeout_s=_float(env, "READOUT_CLEAN_TIMEOUT", 10.0),
        clean_processes=_int(env, "READOUT_CLEAN_PROCESSES", 2),
        stream_idle_s=_float(env, "READOUT_STREAM_IDLE_TIMEOUT", 300.0),
        store_timeout_s=_float(env, "READOUT_STORE_TIMEOUT", 3.0),
        chunk_target_chars=_int(env, "READOUT_CHUNK_TARGET", 2500),
        chunk_max_chars=_int(env, "READOUT_CHUNK_MAX", 3000),
        first_chunk_chars=_int(env, "READOUT_FIRST_CHUNK_CHARS", 400),
        loudness_lufs=_float(env, "READOUT_LOUDNESS_LUFS", -19.0),
        pauses=_pauses(env.get("READOUT_PAUSES", "")),
        workers=_int(env, "READOUT_WORKERS", 0),
        worker_concurrency=_int(env, "READOUT_WORKER_CONCURRENCY", 0),
        job_window=_int(env, "READOUT_JOB_WINDOW", 16),
        poll_delay_s=_float(env, "READOUT_POLL_DELAY", 0.01),
        chunk_timeout_s=_int(env, "READOUT_CHUNK_TIMEOUT", 120),
        chunk_max_tries=_int(env, "READOUT_CHUNK_MAX_TRIES", 8),
        lock_ttl_ms=_int(env, "READOUT_LOCK_TTL_MS", 10_000),
        wait_timeout_s=_float(env, "READOUT_WAIT_TIMEOUT", 120.0),
        job_ttl_s=_int(env, "READOUT_JOB_TTL", 7 * 24 * 3600),
        store_fail_after_s=_float(env, "READOUT_STORE_FAIL_AFTER", 120.0),
        default_engine=env.get("READOUT_DEFAULT_ENGINE") or "piper",
        piper_voice=env.get("READOUT_PIPER_VOICE", ""),
        piper_processes=_int(env, "READOUT_PIPER_PROCESSES", 1),
        piper_length_scale=_float(env, "READOUT_PIPER_LENGTH_SCALE", 1.2),
        fake_engine=_bool(env, "READOUT_FAKE_ENGINE"),
        fake_latency_ms=_int(env, "READOUT_FAKE_LATENCY_MS", 200),
        fake_fail_rate=_float(env, "READOUT_FAKE_FAIL_RATE", 0.0),
        fake_fail_hard=_bool(env, "READOUT_FAKE_FAIL_HARD"),
        polly_region=polly_region or "us-east-1",
        polly_endpoint_url=polly_endpoint,
        polly_variant=env.get("READOUT_POLLY_ENGINE") or "neural",
        polly_enabled=polly_enabled,
        elevenlabs_api_key=env.get("ELEVENLABS_API_KEY", ""),
        elevenlabs_url=env.get("READOUT_ELEVENLABS_URL") or "https://api.elevenlabs.io",
        elevenlabs_model=env.get("READOUT_ELEVENLABS_MODEL") or "eleven_multilingual_v2",
        provider_max_tries=_int(env, "READOUT_PROVIDER_MAX_TRIES", 5),
        provider_backoff_base_s=_float(env, "READOUT_PROVIDER_BACKOFF", 0.2),
        log_level=env.get("READOUT_LOG_LEVEL") or "INFO",
        fetch_max_bytes=_int(env, "READOUT_FETCH_MAX_BYTES", 5 * 1024 * 1024),
        fetch_timeout_s=_float(env, "READOUT_FETCH_TIMEOUT", 20.0),
        fetch_max_tries=_int(env, "READOUT_FETCH_MAX_TRIES", 3),
        fetch_allow_private=_bool(env, "READOUT_FETCH_ALLOW_PRIVATE"),
        fetch_allow_networks=_networks(env.get("READOUT_FETCH_ALLOW_NETWORKS", "")),
        storage_url=env.get("READOUT_STORAGE", "").strip(),
        s3_endpoint_url=env.get("READOUT_S3_ENDPOINT_URL") or None,
        s3_region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        s3_access_key=env.get("AWS_ACCESS_KEY_ID", ""),
        s3_secret_key=env.get("AWS_SECRET_ACCESS_KEY", ""),
        s3_presign=_bool(env, "READOUT_S3_PRESIGN"),
        cache_max_bytes=_int(env, "READOUT_CACHE_MAX_BYTES", 0),
        sweep_interval_s=_int(env, "READOUT_SWEEP_INTERVAL", 600),
        finish_timeout_s=_int(env, "READOUT_FINISH_TIMEOUT", 1800),
        url_secret=env.get("READOUT_URL_SECRET", ""),
        link_ttl_s=_int(env, "READOUT_LINK_TTL", 24 * 3600),
        feed_link_ttl_s=_int(env, "READOUT_FEED_LINK_TTL", 30 * 24 * 3600),
        public_url=(env.get("READOUT_PUBLIC_URL") or "").rstrip("/"),
        trust_proxy=_bool(env, "READOUT_TRUST_PROXY"),
    )
