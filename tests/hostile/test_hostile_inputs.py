"""The hostile-input corpus, in process (typer's CliRunner): every case ends with its exit code and one message.

Each case runs under a time limit (pytest-timeout): a hang fails the case instead of stalling CI. The figures the issue
asks for are printed by ``test_corpus_figures`` (cases per class).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hostile_checks import check_outcome
from hostile_corpus import CASES, Case
from typer.testing import CliRunner

from modelops.cli.app import app

IN_PROCESS = [c for c in CASES if "subprocess-only" not in c.tags]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DASK_SCHEDULER_ADDRESS", "MODELOPS_RUNS_DIR", "MODELOPS_DEBUG", "MODELOPS_BUNDLE_REPOSITORY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # ~/.modelops of the machine is not the corpus's business
    monkeypatch.chdir(tmp_path)  # the journal of a run lives under ./.modelops


def test_corpus_figures() -> None:
    classes = Counter(c.cls for c in CASES)
    print(
        f"\nhostile corpus: {len(CASES)} cases ({len(IN_PROCESS)} in process), {len(classes)} classes: {dict(classes)}"
    )
    assert len(CASES) >= 250


@pytest.mark.parametrize("case", IN_PROCESS, ids=[c.id for c in IN_PROCESS])
def test_hostile_input(case: Case, tmp_path: Path) -> None:
    args = case.make(tmp_path / "case")
    runner = CliRunner()
    with _timeout(case.timeout_s):
        result = runner.invoke(app, args, catch_exceptions=True)
    exc = result.exception
    assert exc is None or isinstance(exc, SystemExit), f"case {case.id}: escaped {exc!r}\n{result.output}"
    check_outcome(case, result.exit_code, result.stdout, result.stderr)


class _timeout:
    """A hard bound on one in-process case: SIGALRM raises in the test (reported as a hang), never waits for ever."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __enter__(self) -> None:
        import signal

        def expired(signum: int, frame: object) -> None:
            raise TimeoutError(f"hang: no result within {self.seconds} s")

        self._previous = signal.signal(signal.SIGALRM, expired)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc: object) -> None:
        import signal

        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._previous)
