"""JSON-lines logging. Pass `extra={"job_id": ...}` and the id lands on the line.

Article text, API keys and credentials are never passed to a logger. As a second line of
defence every line is scrubbed before it is written: bearer tokens and the values of
secret-looking query parameters (`sig`, `token`, `access_token`, `key`, ...) become `[redacted]`,
whichever library logged them.
"""
from __future__ import annotations

import json
import logging
import re
import sys
import time

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_SECRETS = re.compile(
    r"(?i)(bearer\s+|[?&;](?:sig|signature|token|access_token|api_key|key|x-amz-signature|x-amz-credential)=)"
    r"[^\s&\"'\\,;]+"
)
_ARQ_JOB = re.compile(r"\b(?:article|chunk):([0-9a-f]{32})\b")  # ARQ job ids name the Readout job


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if "job_id" not in line and record.name.startswith("arq"):
            found = _ARQ_JOB.search(line["msg"])
            if found:
                line["job_id"] = found.group(1)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return _SECRETS.sub(r"\1[redacted]", json.dumps(line, default=str))


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # botocore's DEBUG lines carry the signed Authorization header (the AWS access key id) and
    # request bodies (article text): never let them through, whatever READOUT_LOG_LEVEL says.
    for name in ("botocore", "aiobotocore", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.Formatter.converter = time.gmtime
