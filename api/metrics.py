"""`GET /metrics`: Prometheus text format.

Two sources:
- this API process: HTTP request latency by method, route template and status (middleware);
- the cluster, read from Redis at scrape time: what workers count (provider calls and
  characters per engine, cache hits and misses, lock waits and how waiters woke, the
  lock-wait and time-to-first-audio histograms), queue depth, jobs by status, live workers.
  Any API replica reports the same cluster figures, so one scrape of any of them is enough.
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from aiohttp import web
from aiohttp.typedefs import Handler
from arq.constants import default_queue_name
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from api.context import ctx
from shared import keys, stats
from shared.jobs import STATUSES
from shared.liveness import live_workers

routes = web.RouteTableDef()
REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)
_HTTP = web.AppKey("http_histogram", Histogram)
# Per-engine counters: stats field prefix -> (metric name, help)
_PER_ENGINE = {
    "provider_calls": ("readout_provider_calls", "Provider (engine) synthesis calls."),
    "provider_attempts": ("readout_provider_attempts", "Requests the provider saw, retries included."),
    "provider_chars": ("readout_provider_characters", "Characters sent to the provider."),
    "provider_billed": ("readout_provider_billed_characters", "Characters the provider billed."),
    "provider_errors": ("readout_provider_errors", "Failed provider calls (after the engine's own retries)."),
}
_COUNTERS = {
    stats.CACHE_HITS: ("readout_cache_hits", "Chunk lookups answered by the cache."),
    stats.CACHE_MISSES: ("readout_cache_misses", "Chunk lookups that missed the cache."),
    stats.CACHED_CHARS: ("readout_cached_characters", "Characters served from the cache instead of a provider."),
    stats.LOCK_WAITS: ("readout_lock_waits", "Callers that found a chunk's lock held and waited."),
    stats.TAKEOVERS: ("readout_lock_takeovers", "Waiters that took the lock after its holder vanished or failed."),
}
_WOKEN_BY = {"notified": stats.WAKEUPS_NOTIFIED, "polled": stats.WAKEUPS_POLLED}


def setup_metrics(app: web.Application) -> None:
    """Give `app` its own registry (several apps in one process never clash) and the middleware."""
    registry = CollectorRegistry(auto_describe=True)
    app[REGISTRY] = registry
    app[_HTTP] = Histogram(
        "readout_http_request_duration_seconds",
        "HTTP request handling time in this API process, by route template; streams count until their end.",
        ["method", "route", "status"], registry=registry,
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    )
    app.middlewares.insert(0, _http_latency)
    app.add_routes(routes)


def _route(request: web.Request) -> str:
    """The route template (`/v1/jobs/{job_id}`), never the raw path: ids would explode cardinality."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def _http_latency(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = "499"  # client went away (the handler was cancelled) unless a response says otherwise
    try:
        response = await handler(request)
        status = str(response.status)
        return response
    except web.HTTPException as exc:
        status = str(exc.status)
        raise
    finally:
        request.app[_HTTP].labels(request.method, _route(request), status).observe(time.perf_counter() - started)


def _histogram(name: str, doc: str, counters: dict[str, int], fields: dict[tuple[str, ...], str],
               buckets: tuple[float, ...], label_names: list[str]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=label_names)
    for labels, field in fields.items():
        cumulative, total = stats.read_histogram(counters, field, buckets)
        family.add_metric(list(labels), cumulative, total)
    return family


def cluster_families(counters: dict[str, int], by_status: dict[str, int], queue_depth: int,
                     workers: int) -> list[Metric]:
    """The cluster-wide metrics from one read of Redis."""
    families: list[Metric] = []
    per_engine = {prefix: CounterMetricFamily(name, doc, labels=["engine"]) for prefix, (name, doc) in _PER_ENGINE.items()}
    for field, value in sorted(counters.items()):
        prefix, _, engine = field.partition(":")
        if engine and prefix in per_engine:
            per_engine[prefix].add_metric([engine], value)
    families.extend(per_engine.values())
    for field, (name, doc) in _COUNTERS.items():
        families.append(CounterMetricFamily(name, doc, value=counters.get(field, 0)))
    wakeups = CounterMetricFamily("readout_wakeups", "Waiters that found their chunk's audio, by what woke them.",
                                  labels=["woken_by"])
    for label, field in _WOKEN_BY.items():
        wakeups.add_metric([label], counters.get(field, 0))
    families.append(wakeups)
    families.append(_histogram(
        "readout_lock_wait_seconds",
        "Time a waiter spent from finding a chunk locked by another caller to holding its audio, by what woke it.",
        counters, {(label,): stats.lock_wait(field) for label, field in _WOKEN_BY.items()},
        stats.LOCK_WAIT_BUCKETS, ["woken_by"]))
    families.append(_histogram(
        "readout_time_to_first_audio_seconds",
        "Per job: chunk 0's audio landed minus the job's creation (submit to first playable byte).",
        counters, {(): stats.TTFA}, stats.TTFA_BUCKETS, []))
    families.append(GaugeMetricFamily("readout_queue_depth", "ARQ jobs waiting in the queue.", value=queue_depth))
    jobs = GaugeMetricFamily(
        "readout_jobs", "Jobs by status: queued, fetching and running now; done, failed and cancelled ever (until Redis is flushed).",
        labels=["status"])
    for status in STATUSES:
        jobs.add_metric([status], by_status.get(status, 0))
    families.append(jobs)
    families.append(GaugeMetricFamily("readout_workers_alive", "Workers with a recent heartbeat.", value=workers))
    return families


class _Snapshot(Collector):
    """Hands prometheus-client metric families already read from Redis (its collectors are sync)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    c = ctx(request)
    counters = await stats.read_stats(c.redis)
    by_status = {k.decode(): int(v) for k, v in (await c.redis.hgetall(keys.JOBS_BY_STATUS)).items()}
    depth = int(await c.queue.zcard(default_queue_name))
    cluster = CollectorRegistry(auto_describe=False)
    cluster.register(_Snapshot(cluster_families(counters, by_status, depth, await live_workers(c.redis))))
    body = generate_latest(request.app[REGISTRY]) + generate_latest(cluster)
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
