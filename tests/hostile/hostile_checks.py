"""What every hostile case must show, whichever way it was run: its exit code, one message, no traceback."""

from __future__ import annotations

import json

from hostile_corpus import Case

TRACEBACK_MARKS = ("Traceback (most recent call last)", "╭─ Traceback", "Exception ignored in")
JSON_KEYS = {"code", "kind", "message", "hint", "problems"}


def check_outcome(case: Case, code: int, stdout: str, stderr: str) -> None:
    """Assert the case's contract; the assertion message carries what the user saw."""
    output = stdout + stderr
    seen = f"case {case.id}: exit {code}\n--- stdout\n{stdout[-3000:]}\n--- stderr\n{stderr[-3000:]}"
    if "model-traceback" in case.tags:
        # The run failed because every simulation did: the message quotes the first failure as recorded, and that
        # record holds the model's (or the evaluator's) traceback, which is the cause. Any traceback must sit inside
        # that quoted cause, never before it (a traceback of ModelOps itself).
        cause = output.find("the first failure was:")
        assert cause >= 0, f"no quoted cause; {seen}"
        for mark in TRACEBACK_MARKS:
            assert output.find(mark) in (-1,) or output.find(mark) > cause, f"traceback outside the cause; {seen}"
        if not case.json:
            assert output.count("error: ") == 1, f"more than one error message; {seen}"
    else:
        for mark in TRACEBACK_MARKS:
            assert mark not in output, f"traceback printed; {seen}"
    assert code in case.codes(), f"expected exit {case.codes()}; {seen}"
    if code != 0:
        assert output.strip(), f"exit {code} without a message (a crash); {seen}"
    if case.text is not None:
        assert case.text in output, f"expected {case.text!r} in the output; {seen}"
    if case.json and code not in (0, 10, 130):
        body = json.loads(stdout)  # stdout holds exactly one JSON document
        assert set(body) == {"error"} and set(body["error"]) == JSON_KEYS, seen
        assert body["error"]["code"] == code and body["error"]["message"], seen
