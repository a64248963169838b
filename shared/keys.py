"""The one place that names Redis keys and channels."""
from __future__ import annotations

PREFIX = "readout"


def job(job_id: str) -> str:
    """Hash: owner, params, status, counters, timestamps."""
    return f"{PREFIX}:job:{job_id}"


def job_chunks(job_id: str) -> str:
    """List of the job's chunk cache keys, in order."""
    return f"{PREFIX}:job:{job_id}:chunks"


def job_landed(job_id: str) -> str:
    """Set of chunk indexes whose audio has landed for this job."""
    return f"{PREFIX}:job:{job_id}:landed"


def job_text(job_id: str) -> str:
    """The article text, kept until the article job has chunked it."""
    return f"{PREFIX}:job:{job_id}:text"


def job_window(job_id: str) -> str:
    """List of the job's chunk indexes that go through the queue, in order (shared/queue_order.py)."""
    return f"{PREFIX}:job:{job_id}:window"


def job_window_state(job_id: str) -> str:
    """Hash: `released` (how many of the window list are enqueued), `finished` (how many of
    those, from the front, have left the queue)."""
    return f"{PREFIX}:job:{job_id}:window-state"


WINDOWS = f"{PREFIX}:windows"  # set: jobs with chunks not yet released (swept by every worker)


def lock(cache_key: str) -> str:
    """Per-chunk synthesis lock: owner token, PX TTL."""
    return f"{PREFIX}:lock:{cache_key}"


def events(job_id: str) -> str:
    """Pub/sub channel of one job's progress events."""
    return f"{PREFIX}:events:{job_id}"


EVENTS_PATTERN = f"{PREFIX}:events:*"
AUDIO_READY_CHANNEL = f"{PREFIX}:audio-ready"  # pub/sub: a cache key whose state changed; look again
STATS = f"{PREFIX}:stats"  # hash of cluster-wide counters
JOBS_BY_STATUS = f"{PREFIX}:jobs-by-status"  # hash: status -> count
WORKERS = f"{PREFIX}:workers"  # sorted set: worker id -> last heartbeat (unix seconds)


def quota(key_name: str, month: str) -> str:
    return f"{PREFIX}:quota:{key_name}:{month}"


def rate(key_name: str, minute: int) -> str:
    return f"{PREFIX}:rate:{key_name}:{minute}"


def job_texts(job_id: str) -> str:
    """List of the job's chunk texts, in order; deleted once the job is over."""
    return f"{PREFIX}:job:{job_id}:texts"


RUNNING = f"{PREFIX}:running"  # hash: ARQ job id -> worker id running it (for the reaper)


def owner_jobs(owner: str) -> str:
    """Sorted set of one owner's job ids by created_at (the job list)."""
    return f"{PREFIX}:owner:{owner}:jobs"


def finish_claim(job_id: str) -> str:
    """Lock name (see shared.lock) held by the one worker writing a job's finished files."""
    return f"finish:{job_id}"


def finished_content(content_id: str) -> str:
    """String (JSON): a job whose finished files have this content id, their title, size, duration."""
    return f"{PREFIX}:finished:{content_id}"


def feed_token(token: str) -> str:
    """String: the owner a podcast feed token belongs to."""
    return f"{PREFIX}:feed:{token}"


def owner_feed(owner: str) -> str:
    """String: an owner's current podcast feed token."""
    return f"{PREFIX}:owner:{owner}:feed"


SWEEP_CLAIM = f"{PREFIX}:sweep"  # SET NX EX: one retention sweep per interval across the cluster
