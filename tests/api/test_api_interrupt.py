"""An interrupt (Ctrl-C in a terminal, Interrupt in Jupyter: both SIGINT) ends modelops.run with an interrupted Run,
and run(..., resume=True) completes it."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .conftest import sir_study

pytestmark = pytest.mark.slow

SCRIPT = """
import sys
import modelops

def progress(p):
    print("recorded", p.recorded, flush=True)

run = modelops.run({study!r}, workers=0, runs_dir="runs", run_id="stopped", n_trials=400, progress=progress)
print("STATUS", run.status, run.trials.height, flush=True)
more = run.trials.height + 3
again = modelops.run({study!r}, workers=0, runs_dir="runs", run_id="stopped", resume=True, n_trials=more)
print("RESUMED", again.status, again.trials.height, flush=True)
"""


def test_an_interrupt_returns_an_interrupted_run_that_resumes(sir_project: Path) -> None:
    script = sir_project / "stop.py"
    script.write_text(textwrap.dedent(SCRIPT.format(study=sir_study())))
    proc = subprocess.Popen(
        [sys.executable, str(script)], cwd=sir_project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.strip())
            if line.startswith("recorded 3"):
                proc.send_signal(signal.SIGINT)
                break
        rest, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines += rest.splitlines()
    assert proc.returncode == 0, err[-3000:]
    (status,) = [line for line in lines if line.startswith("STATUS")]
    _, state, recorded = status.split()
    assert state == "interrupted" and 3 <= int(recorded) < 400
    (resumed,) = [line for line in lines if line.startswith("RESUMED")]
    assert resumed == f"RESUMED completed {int(recorded) + 3}"
