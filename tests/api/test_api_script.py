"""A plain script without `if __name__ == "__main__":` runs a study on local worker processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from .conftest import sir_study

pytestmark = pytest.mark.slow

SCRIPT = """
import modelops

# No __main__ guard: local workers are spawned processes, and they must not run this script again.
study = {study!r}
run = modelops.run(study, workers=2, runs_dir="runs")
print("STATUS", run.status, run.trials.height)
print("BEST", run.best.params["beta"])
"""


def test_a_script_without_a_main_guard_runs_a_study_on_worker_processes(sir_project: Path) -> None:
    script = sir_project / "calibrate.py"
    script.write_text(textwrap.dedent(SCRIPT.format(study=sir_study())))
    proc = psutil.Popen(
        [sys.executable, str(script)], cwd=sir_project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    assert "STATUS completed 10" in out, out
    assert "bootstrapping phase" not in err and "Nanny failed" not in err
    # The run used worker processes: the manifest names a local cluster, not "in process".
    import json

    (manifest,) = (sir_project / "runs").glob("*/manifest.json")
    assert "process pool, 2 workers" in json.loads(manifest.read_text())["execution"]["service"]


def test_main_is_hidden_only_while_runs_are_going_and_restored_after() -> None:
    from modelops.api._mainguard import children_skip_main

    main = sys.modules["__main__"]
    before = (main.__dict__.get("__file__"), main.__dict__.get("__spec__"))
    with children_skip_main():
        with children_skip_main():  # an overlapping run
            assert "__file__" not in main.__dict__ and main.__spec__ is None
        assert "__file__" not in main.__dict__ and main.__spec__ is None  # the outer run still goes on
    assert (main.__dict__.get("__file__"), main.__dict__.get("__spec__")) == before
