"""compose.yaml is written and checked, not run here (no Docker engine): parse and check it."""
from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def load() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_services_and_commands() -> None:
    services = load()["services"]
    assert set(services) == {"redis", "s3", "api", "worker"}
    assert services["api"]["command"] == ["python", "-m", "api"]
    assert services["worker"]["command"] == ["python", "-m", "worker"]
    for name in ("api", "worker"):
        assert services[name]["build"] == "."
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
        assert services[name]["depends_on"]["s3"]["condition"] == "service_healthy"


def test_storage_is_the_s3_service() -> None:
    services = load()["services"]
    assert services["s3"]["image"].startswith("chrislusf/seaweedfs")
    assert "-s3" in services["s3"]["command"] and "-s3.port=8333" in services["s3"]["command"]
    for name in ("api", "worker"):
        env = services[name]["environment"]
        assert env["READOUT_STORAGE"].startswith("s3://")
        assert env["READOUT_S3_ENDPOINT_URL"] == "http://s3:8333"


def test_redis_is_durable_and_never_evicts() -> None:
    command = " ".join(load()["services"]["redis"]["command"])
    assert "--appendonly yes" in command
    assert "--maxmemory-policy noeviction" in command


def test_workers_scale_with_replicas() -> None:
    replicas = load()["services"]["worker"]["deploy"]["replicas"]
    assert replicas == "${READOUT_WORKER_REPLICAS:-3}"


def test_env_points_everything_at_the_redis_service_and_requires_keys() -> None:
    services = load()["services"]
    for name in ("api", "worker"):
        env = services[name]["environment"]
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["READOUT_API_KEYS"].startswith("${READOUT_API_KEYS:?")
    # The API binds a public address in its container, so keys are mandatory (secure by default).
    assert services["api"]["environment"]["READOUT_HOST"] == "0.0.0.0"


def test_every_env_var_is_a_real_setting() -> None:
    import re

    config = (ROOT / "shared" / "config.py").read_text()
    for service in load()["services"].values():
        for name in service.get("environment", {}):
            assert re.search(rf'"{name}"', config), f"{name} is not read by shared/config.py"


def test_dockerfile_installs_the_package_and_both_roles() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --no-cache-dir ." in dockerfile
    for path in ("api", "worker", "shared"):
        assert f"COPY {path} ./{path}" in dockerfile


RUNTIME = ("api", "shared", "worker")


def runtime_modules() -> set[str]:
    """Every top-level module the API and the workers import, except the standard library and their own."""
    import ast
    import sys

    found: set[str] = set()
    for package in RUNTIME:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - set(RUNTIME) - {"__future__"}


def installed_by_the_image() -> set[str]:
    """The distributions `pip install .` brings: the runtime dependencies and what they require."""
    import re
    import tomllib
    from importlib.metadata import PackageNotFoundError, requires

    def name(spec: str) -> str:
        return re.split(r"[\s\[<>=!~;]", spec, maxsplit=1)[0].lower().replace("_", "-")

    todo = [name(s) for s in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]]
    seen: set[str] = set()
    while todo:
        dist = todo.pop()
        if dist in seen:
            continue
        seen.add(dist)
        try:
            todo += [name(r) for r in requires(dist) or [] if "extra ==" not in r]
        except PackageNotFoundError:  # a marker kept it off this Python
            continue
    return seen


def test_the_image_installs_every_module_the_runtime_imports() -> None:
    from importlib.metadata import packages_distributions

    providers = packages_distributions()
    image = installed_by_the_image()
    modules = runtime_modules()
    assert {"av", "lameenc", "mutagen", "pyloudnorm"} <= modules  # the finished-file writer's encoders and tags
    missing = {m: providers.get(m) for m in modules
               if not {d.lower().replace("_", "-") for d in providers.get(m, [])} & image}
    assert not missing, f"imported at run time but not installed by `pip install .`: {missing}"


def test_nothing_at_run_time_starts_ffmpeg() -> None:
    """Decoding and encoding go through PyAV and lameenc wheels: the image has no ffmpeg program."""
    import ast

    for package in RUNTIME:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    program = node.value.split("/")[-1].split(" ")[0]
                    assert program not in ("ffmpeg", "ffprobe"), f"{path.relative_to(ROOT)}:{node.lineno} runs {program}"
    assert "ffmpeg" not in (ROOT / "Dockerfile").read_text()
