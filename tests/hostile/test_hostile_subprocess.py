"""A sample of the hostile corpus through real `mops` processes: what a user's shell sees (exit code, stderr).

The in-process run (test_hostile_inputs.py) covers every case; this sample checks the same contract where it can only
be seen from outside: a FIFO that would block the process, the 30 s scheduler connection timeout, a 600k-key spec, the
console script's own exit path. Each process runs under a hard time limit and is killed (and the case failed as a
hang) past it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hostile_checks import check_outcome
from hostile_corpus import CASES, Case

SAMPLE = [c for c in CASES if c.subprocess]
MOPS = [sys.executable, "-c", "from modelops.cli.app import main; main()"]


def test_sample_size() -> None:
    assert len(SAMPLE) >= 15


@pytest.mark.parametrize("case", SAMPLE, ids=[c.id for c in SAMPLE])
def test_hostile_input_in_a_real_process(case: Case, tmp_path: Path) -> None:
    args = case.make(tmp_path / "case")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DASK_", "MODELOPS_"))}
    env.update(HOME=str(tmp_path / "home"), COLUMNS="200")
    try:
        done = subprocess.run(
            [*MOPS, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=case.timeout_s
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"case {case.id}: hang, no exit within {case.timeout_s} s\n{exc.stdout}\n{exc.stderr}")
    assert done.returncode >= 0, f"case {case.id}: killed by signal {-done.returncode}\n{done.stderr}"
    check_outcome(case, done.returncode, done.stdout, done.stderr)
