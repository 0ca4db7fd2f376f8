"""The hostile-input corpus: generated cases, each a command line (and the files it needs) with its expected outcome.

Every case is run (in-process, or as a real `mops` subprocess for a sample) under a time limit, and must end with its
expected exit code, one message (no traceback, no crash without a message) and, where given, a text in the output.
The classes follow issue 13's "Why" list: encodings, file kinds, YAML hazards, markup in every user-text field, huge
numbers, bad references, bad command-line locations (--scheduler, --runs-dir, run ids), observed data and the other
spec kinds. ``python -m tests.hostile.corpus`` is not needed: pytest parametrizes over :data:`CASES`.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MODELS = Path(__file__).resolve().parent / "models"
REPO = Path(__file__).resolve().parents[2]

OK = 0
ERROR = 1
INPUT = 2
RUN_FAILED = 10

# Rich markup and emoji codes that must print as written wherever user text goes.
MARKUP = (
    "[bold]x[/bold]",
    "[/]",
    "[red",
    "[link=file:///etc/passwd]y[/link]",
    ":smile:",
    "\\[esc]",
    "[@click=app.bell]z[/]",
)


@dataclass(frozen=True)
class Case:
    """One hostile input: ``make(tmp)`` writes what it needs and returns the `mops` arguments."""

    id: str
    cls: str
    make: Callable[[Path], list[str]]
    code: int | tuple[int, ...]
    text: str | None = None  # must appear in stdout+stderr (literally: markup must not be interpreted)
    json: bool = False  # --json is on the command line: the error must be a JSON object on stdout
    subprocess: bool = False  # also run as a real `mops` process (the sample)
    timeout_s: float = 60.0
    tags: tuple[str, ...] = field(default_factory=tuple)

    def codes(self) -> tuple[int, ...]:
        return self.code if isinstance(self.code, tuple) else (self.code,)


# --- building blocks -------------------------------------------------------------------------------------------------


def base_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "apiVersion": "modelops/v1",
        "kind": "Study",
        "name": "hostile",
        "model": {"fn_ref": "hostile_model:simulate", "project": str(MODELS)},
        "parameters": {"slope": {"low": 0.0, "high": 4.0}, "fixed": {"intercept": 1.0}},
        "targets": [
            {
                "name": "line",
                "output": "line",
                "observed": "observed.csv",
                "keys": ["t"],
                "values": ["y"],
                "loss": "mse",
            }
        ],
        "algorithm": {"ref": "optuna", "sampler": "random", "n_trials": 3, "seed": 1},
        "replicates": 1,
        "execution": {"workers": 0},
    }
    for key, value in overrides.items():
        if value is None:
            spec.pop(key, None)
        else:
            spec[key] = value
    return spec


def write_observed(folder: Path, text: str | None = None) -> None:
    content = text if text is not None else "t,y\n" + "".join(f"{t},{2 * t + 1}\n" for t in range(10))
    (folder / "observed.csv").write_text(content, encoding="utf-8")


def write_spec(folder: Path, spec: dict[str, Any] | str | bytes, name: str = "study.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "observed.csv").exists():
        write_observed(folder)
    path = folder / name
    if isinstance(spec, bytes):
        path.write_bytes(spec)
    else:
        path.write_text(spec if isinstance(spec, str) else yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def run_args(tmp: Path, spec_path: Path, *extra: str) -> list[str]:
    return ["run", str(spec_path), "--runs-dir", str(tmp / "runs"), *extra]


def spec_case(
    id: str,
    cls: str,
    spec: dict[str, Any] | str | bytes,
    code: int | tuple[int, ...],
    text: str | None = None,
    *extra: str,
    **kw: Any,
) -> Case:
    def make(tmp: Path) -> list[str]:
        return run_args(tmp, write_spec(tmp, spec), *extra)

    return Case(id, cls, make, code, text, **kw)


def failing_model(fn: str) -> dict[str, Any]:
    """A study whose every simulation fails: 12 trials, so the runner's fail-fast (10 in a row) ends the run."""
    return base_spec(
        model={"fn_ref": f"hostile_model:{fn}", "project": str(MODELS)},
        algorithm={"ref": "optuna", "sampler": "random", "n_trials": 12, "seed": 1},
    )


def base_yaml() -> str:
    return yaml.safe_dump(base_spec(), sort_keys=False)


def with_fixed_yaml(fixed_block: str) -> str:
    """The base spec with ``parameters.fixed`` replaced by a raw YAML block (indented under parameters)."""
    spec = base_spec(parameters={"slope": {"low": 0.0, "high": 4.0}})
    text = yaml.safe_dump(spec, sort_keys=False)
    marker = "parameters:\n"
    return text.replace(marker, marker + "  fixed:\n" + fixed_block, 1)


# --- the cases -------------------------------------------------------------------------------------------------------


def encoding_cases() -> list[Case]:
    good = base_yaml().replace("name: hostile", "name: hostile\ndescription: café “quoted” naïve")
    cases = [
        spec_case("latin1", "encoding", good.encode("latin-1", errors="replace"), INPUT, "is not UTF-8"),
        spec_case("cp1252", "encoding", good.encode("cp1252"), INPUT, "is not UTF-8"),
        spec_case("utf16-le-bom", "encoding", good.encode("utf-16"), INPUT, "UTF-16"),
        spec_case("utf16-be-bom", "encoding", b"\xfe\xff" + good.encode("utf-16-be"), INPUT, "UTF-16"),
        spec_case("utf16-no-bom", "encoding", good.encode("utf-16-le"), INPUT, "NUL"),
        spec_case("utf32-bom", "encoding", good.encode("utf-32"), INPUT, "UTF-32"),
        spec_case("binary-random", "encoding", bytes(range(256)) * 8, INPUT, "study.yaml"),
        spec_case("binary-png", "encoding", b"\x89PNG\r\n\x1a\n" + bytes(200), INPUT, "NUL"),
        spec_case("nul-bytes", "encoding", good.encode() + b"\x00\x00", INPUT, "NUL"),
        spec_case("bad-continuation", "encoding", good.encode() + b"# \xc3\x28\n", INPUT, "line"),
        spec_case("overlong", "encoding", good.encode() + b"# \xc0\xaf\n", INPUT, "not UTF-8"),
        spec_case("surrogate", "encoding", good.encode() + b"# \xed\xa0\x80\n", INPUT, "not UTF-8"),
        spec_case("empty-file", "encoding", "", INPUT, "expected a mapping"),
        spec_case("whitespace-only", "encoding", "  \n\n  \n", INPUT, "expected a mapping"),
        spec_case("comment-only", "encoding", "# nothing\n", INPUT, "expected a mapping"),
        spec_case("top-level-list", "encoding", "- a\n- b\n", INPUT, "expected a mapping"),
        spec_case("top-level-scalar", "encoding", "hello\n", INPUT, "expected a mapping"),
        spec_case("utf8-bom-ok", "encoding", "\ufeff" + good, OK, "completed", subprocess=True),
        spec_case("control-chars", "encoding", good + "# \x07\x1b[31m\n", INPUT, "study.yaml"),
    ]
    return cases


def _fifo(tmp: Path) -> list[str]:
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "study.yaml"
    os.mkfifo(path)
    return run_args(tmp, path)


def _socket(tmp: Path) -> list[str]:
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "s.yaml"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()
    return run_args(tmp, path)


def _sparse(tmp: Path, size: int, name: str = "study.yaml") -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / name
    with open(path, "wb") as fh:
        fh.truncate(size)
    return path


def _link(tmp: Path, target: str, name: str = "study.yaml") -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / name
    path.symlink_to(target)
    return path


def _loop(tmp: Path) -> list[str]:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "a.yaml").symlink_to(tmp / "b.yaml")
    (tmp / "b.yaml").symlink_to(tmp / "a.yaml")
    return run_args(tmp, tmp / "a.yaml")


def _unreadable(tmp: Path) -> list[str]:
    path = write_spec(tmp, base_spec())
    path.chmod(0)
    return run_args(tmp, path)


def file_kind_cases() -> list[Case]:
    return [
        Case("fifo", "file-kind", _fifo, INPUT, "FIFO", subprocess=True, timeout_s=30),
        Case("socket", "file-kind", _socket, INPUT, "s.yaml", timeout_s=30),
        Case(
            "directory",
            "file-kind",
            lambda t: run_args(t, (t.mkdir(parents=True, exist_ok=True), t)[1]),
            INPUT,
            "directory",
        ),
        Case("dev-null", "file-kind", lambda t: run_args(t, Path("/dev/null")), INPUT, "character device"),
        Case(
            "dev-zero", "file-kind", lambda t: run_args(t, Path("/dev/zero")), INPUT, "character device", timeout_s=30
        ),
        Case("dev-urandom", "file-kind", lambda t: run_args(t, Path("/dev/urandom")), INPUT, "character device"),
        Case("missing", "file-kind", lambda t: run_args(t, t / "nope.yaml"), INPUT, "file not found"),
        Case("dangling-link", "file-kind", lambda t: run_args(t, _link(t, "/nonexistent/x.yaml")), INPUT, "not found"),
        Case("symlink-loop", "file-kind", _loop, INPUT, "symbolic links"),
        Case("name-too-long", "file-kind", lambda t: run_args(t, t / ("x" * 300 + ".yaml")), INPUT, "not found"),
        Case("huge-sparse", "file-kind", lambda t: run_args(t, _sparse(t, 3 * 1024**3)), INPUT, "limit"),
        Case("just-over-limit", "file-kind", lambda t: run_args(t, _sparse(t, 2 * 1024**2 + 1)), INPUT, "limit"),
        Case("proc-file", "file-kind", lambda t: run_args(t, Path("/proc/self/status")), INPUT, "/proc/self/status"),
        Case("unreadable", "file-kind", _unreadable, (OK, INPUT), None),  # root reads anything; others: denied
        Case("path-in-file", "file-kind", lambda t: run_args(t, write_spec(t, base_spec()) / "x.yaml"), INPUT, "study"),
    ]


def _bomb(levels: int = 9, width: int = 9, indent: str = "") -> str:
    lines = [f"{indent}l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        refs = ", ".join([f"*l{i - 1}"] * width)
        lines.append(f"{indent}l{i}: &l{i} [{refs}]")
    return "\n".join(lines) + "\n"


def yaml_cases() -> list[Case]:
    text = base_yaml()
    deep_flow = "[" * 5000 + "]" * 5000
    deep_map = "".join("  " * i + f"k{i}:\n" for i in range(300)) + "  " * 300 + "v: 1\n"
    cases = [
        spec_case("bomb-top", "yaml-bomb", _bomb() + text, INPUT, "alias bomb"),
        spec_case(
            "bomb-in-fixed", "yaml-bomb", with_fixed_yaml(_bomb(indent="    ")), INPUT, "alias bomb", subprocess=True
        ),
        spec_case("bomb-wide", "yaml-bomb", _bomb(levels=4, width=200) + text, INPUT, "alias bomb"),
        spec_case("recursive-seq", "yaml-recursive", text + "extra: &a [1, *a]\n", INPUT, "recursive alias"),
        spec_case("recursive-map", "yaml-recursive", text + "extra: &a {b: *a}\n", INPUT, "recursive alias"),
        spec_case(
            "recursive-in-fixed",
            "yaml-recursive",
            with_fixed_yaml("    x: &x [1, [2, *x]]\n"),
            INPUT,
            "recursive alias",
        ),
        spec_case(
            "recursive-deep", "yaml-recursive", text + "extra: &a {b: {c: {d: [*a]}}}\n", INPUT, "recursive alias"
        ),
        spec_case("deep-flow", "yaml-deep", text + f"extra: {deep_flow}\n", INPUT, "nested deeper"),
        spec_case(
            "deep-block",
            "yaml-deep",
            text + "extra:\n" + "".join("  " + ln + "\n" for ln in deep_map.splitlines()),
            INPUT,
            "nested deeper",
        ),
        spec_case(
            "deep-in-fixed",
            "yaml-deep",
            with_fixed_yaml("    x: " + "[" * 2000 + "]" * 2000 + "\n"),
            INPUT,
            "nested deeper",
        ),
        spec_case(
            "deep-by-aliases",
            "yaml-deep",
            "a: &a " + "[" * 40 + "1" + "]" * 40 + "\nb: &b " + "[" * 30 + "*a" + "]" * 30 + "\n" + text,
            INPUT,
            "nested deeper",
        ),
        spec_case("dup-top", "yaml-duplicate", text + "replicates: 3\n", INPUT, "duplicate key 'replicates'"),
        spec_case("dup-name", "yaml-duplicate", "name: a\n" + text, INPUT, "duplicate key 'name'"),
        spec_case(
            "dup-param",
            "yaml-duplicate",
            text.replace("  slope:", "  slope: {low: 1, high: 2}\n  slope:", 1),
            INPUT,
            "duplicate key 'slope'",
        ),
        spec_case(
            "dup-fixed", "yaml-duplicate", with_fixed_yaml("    a: 1\n    b: 2\n    a: 3\n"), INPUT, "duplicate key 'a'"
        ),
        spec_case(
            "dup-target-key",
            "yaml-duplicate",
            text.replace("  loss: mse", "  loss: mse\n  loss: sse", 1),
            INPUT,
            "duplicate key 'loss'",
        ),
        spec_case("dup-quoted", "yaml-duplicate", text + "'replicates': 3\n", INPUT, "duplicate key"),
        spec_case(
            "binary-tag",
            "yaml-tag",
            with_fixed_yaml("    blob: !!binary aGVsbG8gd29ybGQ=\n"),
            INPUT,
            "!!binary",
            subprocess=True,
        ),
        spec_case("set-tag", "yaml-tag", with_fixed_yaml("    s: !!set {a, b}\n"), INPUT, "!!set"),
        spec_case("omap-tag", "yaml-tag", with_fixed_yaml("    s: !!omap [a: 1]\n"), INPUT, "!!omap"),
        spec_case("pairs-tag", "yaml-tag", with_fixed_yaml("    s: !!pairs [a: 1]\n"), INPUT, "!!pairs"),
        spec_case(
            "python-object",
            "yaml-tag",
            with_fixed_yaml("    s: !!python/object/apply:os.system ['true']\n"),
            INPUT,
            "python/object",
        ),
        spec_case(
            "python-name", "yaml-tag", with_fixed_yaml("    s: !!python/name:os.system ''\n"), INPUT, "python/name"
        ),
        spec_case("custom-tag", "yaml-tag", with_fixed_yaml("    s: !Ref other\n"), INPUT, "!Ref"),
        spec_case(
            "verbatim-tag", "yaml-tag", with_fixed_yaml("    s: !<tag:example.com,2000:x> 1\n"), INPUT, "not allowed"
        ),
        spec_case("bad-explicit-float", "yaml-tag", with_fixed_yaml("    s: !!float abc\n"), INPUT, "study.yaml"),
        spec_case("bigint", "yaml-number", with_fixed_yaml("    s: " + "9" * 5000 + "\n"), INPUT, "characters"),
        spec_case("bad-date", "yaml-number", with_fixed_yaml("    s: 2024-13-45\n"), INPUT, "cannot be read"),
        spec_case("tab-indent", "yaml-syntax", text.replace("  slope", "\tslope", 1), INPUT, "invalid YAML"),
        spec_case("unclosed-quote", "yaml-syntax", text + "extra: 'oops\n", INPUT, "invalid YAML"),
        spec_case("unclosed-flow", "yaml-syntax", text + "extra: [1, 2\n", INPUT, "invalid YAML"),
        spec_case("two-documents", "yaml-syntax", text + "---\n" + text, INPUT, "another document"),
        spec_case("undefined-alias", "yaml-syntax", text + "extra: *nothing\n", INPUT, "invalid YAML"),
        spec_case(
            "merge-key-ok",
            "yaml-ok",
            "defaults: &d {sampler: random, n_trials: 2, seed: 1}\n"
            + text.replace("algorithm:\n", "algorithm_unused:\n", 1)
            + "algorithm:\n  <<: *d\n  ref: optuna\n",
            INPUT,
            "defaults",
        ),
        spec_case(
            "anchors-ok",
            "yaml-ok",
            text.replace("  fixed:\n    intercept: 1.0\n", "  fixed: &f\n    intercept: 1.0\n"),
            OK,
            "completed",
        ),
    ]
    return cases


def as_path(text: str) -> str:
    """How a payload reads once it is a path (pathlib folds "//" to "/")."""
    return re.sub("/+", "/", text)


def _payload_id(payload: str) -> str:
    names = {
        "[bold]x[/bold]": "bold",
        "[/]": "close",
        "[red": "open",
        "[link=file:///etc/passwd]y[/link]": "link",
        ":smile:": "emoji",
        "\\[esc]": "escaped",
        "[@click=app.bell]z[/]": "click",
    }
    return names[payload]


def markup_cases() -> list[Case]:
    cases: list[Case] = []
    for p in MARKUP:
        pid = _payload_id(p)
        target = base_spec()["targets"][0]

        def tgt(target: dict[str, Any] = target, **changes: Any) -> list[dict[str, Any]]:
            return [{**target, **changes}]

        cases += [
            spec_case(f"markup-name-{pid}", "markup", base_spec(name=p), INPUT, p),
            spec_case(f"markup-param-{pid}", "markup", base_spec(parameters={p: {"low": 0, "high": 1}}), INPUT, p),
            spec_case(
                f"markup-fn-ref-{pid}", "markup", base_spec(model={"fn_ref": p, "project": str(MODELS)}), INPUT, p
            ),
            spec_case(
                f"markup-project-{pid}",
                "markup",
                base_spec(model={"fn_ref": "hostile_model:simulate", "project": p}),
                INPUT,
                as_path(p),
            ),
            spec_case(f"markup-algorithm-{pid}", "markup", base_spec(algorithm={"ref": p}), INPUT, p),
            spec_case(
                f"markup-observed-{pid}", "markup", base_spec(targets=tgt(observed=p + ".csv")), INPUT, as_path(p)
            ),
            spec_case(f"markup-key-{pid}", "markup", base_spec(targets=tgt(keys=[p])), (INPUT, ERROR), p),
            spec_case(f"markup-value-{pid}", "markup", base_spec(targets=tgt(values=[p])), (INPUT, ERROR), p),
            spec_case(f"markup-loss-{pid}", "markup", base_spec(targets=tgt(loss=p)), INPUT, "targets[0].loss"),
            spec_case(f"markup-dsn-{pid}", "markup", base_spec(storage={"kind": "postgres", "dsn": p}), INPUT, "dsn"),
            spec_case(f"markup-unknown-key-{pid}", "markup", {**base_spec(), p: 1}, INPUT, p),
            Case(
                f"markup-run-id-{pid}",
                "markup",
                lambda t, p=p: run_args(t, write_spec(t, base_spec()), "--run-id", p),
                INPUT,
                p,
            ),
            Case(
                f"markup-resume-{pid}",
                "markup",
                lambda t, p=p: run_args(t, write_spec(t, base_spec()), "--resume", p),
                (INPUT, ERROR),
                p,
            ),
            Case(
                f"markup-runs-show-{pid}",
                "markup",
                lambda t, p=p: ["runs", "show", p, "--runs-dir", str(t / "runs")],
                INPUT,
                p,
            ),
            Case(
                f"markup-runs-export-{pid}",
                "markup",
                lambda t, p=p: ["runs", "export", p, "--runs-dir", str(t / "runs")],
                INPUT,
                p,
            ),
        ]
    # Observed column names and the model's own error text reach a real run.
    for p in MARKUP[:3]:
        cases.append(
            Case(f"markup-observed-column-{_payload_id(p)}", "markup", _observed_column(p), (OK, ERROR, INPUT))
        )
    cases += [
        spec_case(
            "markup-model-error",
            "markup",
            failing_model("raise_markup"),
            RUN_FAILED,
            ":smile:",
            subprocess=True,
            tags=("model-traceback",),
        ),
        spec_case(
            "markup-model-error-json",
            "markup",
            failing_model("raise_markup"),
            RUN_FAILED,
            None,
            "--json",
            json=True,
            tags=("model-traceback",),
        ),
        spec_case(
            "markup-model-outputs",
            "markup",
            failing_model("wrong_outputs"),
            RUN_FAILED,
            "['[bold]not_line[/]']",
            tags=("model-traceback",),
        ),
        spec_case("markup-description-ok", "markup", base_spec(description="[bold]x[/] :smile: [red"), OK, "completed"),
        spec_case(
            "markup-fixed-name-ok",
            "markup",
            base_spec(parameters={"slope": {"low": 0, "high": 4}, "fixed": {"[bold]k[/]": 1, "intercept": 1.0}}),
            OK,
            "completed",
        ),
    ]
    return cases


def _observed_column(column: str) -> Callable[[Path], list[str]]:
    """A study whose observed value column (in the CSV and the spec) is named ``column``."""

    def make(tmp: Path) -> list[str]:
        tmp.mkdir(parents=True, exist_ok=True)
        quoted = '"' + column.replace('"', '""') + '"'
        write_observed(tmp, f"t,{quoted}\n" + "".join(f"{t},{2 * t + 1}\n" for t in range(10)))
        target = {**base_spec()["targets"][0], "values": {column: "y"}}
        return run_args(tmp, write_spec(tmp, base_spec(targets=[target])))

    return make


def number_cases() -> list[Case]:
    algo = base_spec()["algorithm"]
    slope = {"low": 0.0, "high": 4.0}

    def params(**p: Any) -> dict[str, Any]:
        return {"slope": {**slope, **p}}

    return [
        spec_case(
            "n-trials-1e12",
            "huge-number",
            base_spec(algorithm={**algo, "n_trials": 1e12}),
            INPUT,
            "n_trials",
            subprocess=True,
        ),
        spec_case(
            "n-trials-over-limit",
            "huge-number",
            base_spec(algorithm={**algo, "n_trials": 10_000_001}),
            INPUT,
            "n_trials",
        ),
        spec_case("n-trials-zero", "huge-number", base_spec(algorithm={**algo, "n_trials": 0}), INPUT, "n_trials"),
        spec_case("n-trials-negative", "huge-number", base_spec(algorithm={**algo, "n_trials": -5}), INPUT, "n_trials"),
        spec_case(
            "n-trials-fraction", "huge-number", base_spec(algorithm={**algo, "n_trials": 1.5}), INPUT, "n_trials"
        ),
        spec_case("n-trials-text", "huge-number", base_spec(algorithm={**algo, "n_trials": "many"}), INPUT, "n_trials"),
        spec_case(
            "n-trials-inf",
            "huge-number",
            with_fixed_yaml("    a: 1\n").replace("n_trials: 3", "n_trials: .inf"),
            INPUT,
            "n_trials",
        ),
        spec_case(
            "n-trials-1e400", "huge-number", base_yaml().replace("n_trials: 3", "n_trials: 1e400"), INPUT, "n_trials"
        ),
        spec_case("batch-1e9", "huge-number", base_spec(batch_size=10**9), INPUT, "batch_size", subprocess=True),
        spec_case("batch-zero", "huge-number", base_spec(batch_size=0), INPUT, "batch_size"),
        spec_case("replicates-1e9", "huge-number", base_spec(replicates=10**9), INPUT, "replicates"),
        spec_case("seed-negative", "huge-number", base_spec(algorithm={**algo, "seed": -1}), INPUT, "seed"),
        spec_case("seed-2-64", "huge-number", base_spec(algorithm={**algo, "seed": 2**64}), INPUT, "seed"),
        spec_case("seed-2-200", "huge-number", base_spec(algorithm={**algo, "seed": 2**200}), INPUT, "seed"),
        spec_case("low-nan", "huge-number", base_yaml().replace("low: 0.0", "low: .nan", 1), INPUT, "finite"),
        spec_case("high-inf", "huge-number", base_yaml().replace("high: 4.0", "high: .inf", 1), INPUT, "finite"),
        spec_case("low-minus-inf", "huge-number", base_yaml().replace("low: 0.0", "low: -.inf", 1), INPUT, "finite"),
        spec_case(
            "range-overflows",
            "huge-number",
            base_spec(parameters=params(low=-1e308, high=1e308)),
            INPUT,
            "too wide",
            subprocess=True,
        ),
        spec_case("high-1e400", "huge-number", base_yaml().replace("high: 4.0", "high: 1e400", 1), INPUT, "finite"),
        spec_case("log-low-zero", "huge-number", base_spec(parameters=params(log=True)), INPUT, "log"),
        spec_case(
            "int-fraction", "huge-number", base_spec(parameters=params(low=0.5, type="int")), INPUT, "whole-number"
        ),
        spec_case("low-above-high", "huge-number", base_spec(parameters=params(low=5.0)), INPUT, "below"),
        spec_case(
            "choices-too-many",
            "huge-number",
            base_spec(parameters={"slope": {"choices": list(range(100_001))}}),
            INPUT,
            "study.yaml",
        ),
        spec_case(
            "fixed-10001",
            "huge-number",
            base_spec(parameters={"slope": slope, "fixed": {f"k{i}": i for i in range(10_001)}}),
            INPUT,
            "fixed parameters",
        ),
        spec_case(
            "fixed-600k",
            "huge-number",
            base_spec(parameters={"slope": slope, "fixed": {f"k{i}": i for i in range(600_000)}}),
            INPUT,
            "limit",
            subprocess=True,
        ),
        spec_case(
            "workers-40",
            "huge-number",
            base_spec(execution={"workers": 40}),
            INPUT,
            "execution.workers",
            subprocess=True,
        ),
        spec_case(
            "workers-million", "huge-number", base_spec(execution={"workers": 10**6}), INPUT, "execution.workers"
        ),
        spec_case("workers-negative", "huge-number", base_spec(execution={"workers": -1}), INPUT, "workers"),
        spec_case(
            "max-in-flight-huge",
            "huge-number",
            base_spec(execution={"workers": 0, "max_in_flight": 10**9}),
            INPUT,
            "max_in_flight",
        ),
        spec_case(
            "weight-zero",
            "huge-number",
            base_spec(targets=[{**base_spec()["targets"][0], "weight": 0}]),
            INPUT,
            "weight",
        ),
        spec_case(
            "sobol-1e9",
            "huge-number",
            base_spec(algorithm={"ref": "sweep", "n_trials": 10**9, "options": {"method": "sobol"}}),
            INPUT,
            "n_trials",
            subprocess=True,
        ),
        spec_case(
            "sobol-1e12-float",
            "huge-number",
            base_spec(algorithm={"ref": "sweep", "n_trials": 1e12}),
            INPUT,
            "n_trials",
        ),
        Case(
            "cli-workers-40",
            "huge-number",
            lambda t: run_args(t, write_spec(t, base_spec()), "--workers", "40"),
            INPUT,
            "--workers",
        ),
        Case(
            "cli-workers-negative",
            "huge-number",
            lambda t: run_args(t, write_spec(t, base_spec()), "--workers", "-1"),
            INPUT,
            "workers",
        ),
        Case(
            "cli-workers-text",
            "huge-number",
            lambda t: run_args(t, write_spec(t, base_spec()), "--workers", "lots"),
            INPUT,
            "workers",
        ),
    ]


def _write_module(tmp: Path, name: str, source: str) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / f"{name}.py").write_text(source, encoding="utf-8")
    return tmp


def ref_cases() -> list[Case]:
    def model(ref: str, project: str | None = str(MODELS)) -> dict[str, Any]:
        return base_spec(model={"fn_ref": ref, **({"project": project} if project else {})})

    def algorithm(ref: str) -> dict[str, Any]:
        return base_spec(algorithm={"ref": ref, "n_trials": 3})

    def syntax(tmp: Path) -> list[str]:
        project = _write_module(tmp / "code", "broken_model", "def simulate(params, seed)\n    return {}\n")
        return run_args(
            tmp, write_spec(tmp, base_spec(model={"fn_ref": "broken_model:simulate", "project": str(project)}))
        )

    return [
        spec_case("model-no-module", "bad-ref", model("no_such_module:simulate"), ERROR, "no_such_module"),
        spec_case("model-no-attribute", "bad-ref", model("hostile_model:nothing_here"), (ERROR, INPUT), "nothing_here"),
        spec_case("model-not-callable", "bad-ref", model("hostile_model:NOT_CALLABLE"), (ERROR, INPUT), "NOT_CALLABLE"),
        spec_case(
            "model-import-raises", "bad-ref", model("import_raises:simulate"), ERROR, "cannot import", subprocess=True
        ),
        spec_case("model-not-a-ref", "bad-ref", model("simulate"), INPUT, "reference"),
        spec_case("model-empty-ref", "bad-ref", model(""), INPUT, "reference"),
        spec_case(
            "model-project-missing",
            "bad-ref",
            model("hostile_model:simulate", "/nonexistent/dir"),
            INPUT,
            "not a directory",
        ),
        spec_case(
            "model-both-refs", "bad-ref", base_spec(model={"fn_ref": "a:b", "class_ref": "c:D"}), INPUT, "exactly one"
        ),
        spec_case(
            "model-returns-int",
            "bad-ref",
            failing_model("not_a_mapping"),
            RUN_FAILED,
            "10 trials",
            tags=("model-traceback",),
        ),
        Case("model-syntax-error", "bad-ref", syntax, ERROR, "SyntaxError"),
        spec_case("algorithm-unknown-name", "bad-ref", algorithm("nosuchalgo"), INPUT, "not a known algorithm"),
        spec_case("algorithm-no-module", "bad-ref", algorithm("no_such_module:Algo"), ERROR, "cannot load algorithm"),
        spec_case(
            "algorithm-no-class", "bad-ref", algorithm("hostile_model:Nothing"), (ERROR, INPUT), "cannot load algorithm"
        ),
        spec_case(
            "algorithm-ctor-raises",
            "bad-ref",
            algorithm("hostile_model:RaisingAlgorithm"),
            ERROR,
            "constructor failed",
            subprocess=True,
        ),
        spec_case(
            "algorithm-no-ask",
            "bad-ref",
            algorithm("hostile_model:NoAskAlgorithm"),
            ERROR,
            "no ask method",
            subprocess=True,
        ),
        spec_case(
            "algorithm-not-callable", "bad-ref", algorithm("hostile_model:NOT_CALLABLE"), (ERROR, INPUT), "NOT_CALLABLE"
        ),
        spec_case("algorithm-import-raises", "bad-ref", algorithm("import_raises:Algo"), ERROR, "cannot import"),
        spec_case(
            "algorithm-option-clash",
            "bad-ref",
            base_spec(algorithm={"ref": "optuna", "options": {"seed": 1}}),
            INPUT,
            "options.seed",
        ),
        spec_case(
            "algorithm-bad-option",
            "bad-ref",
            base_spec(algorithm={"ref": "optuna", "n_trials": 3, "options": {"bogus": 1}}),
            ERROR,
            "refused the study",
        ),
        spec_case(
            "algorithm-bad-sampler",
            "bad-ref",
            base_spec(algorithm={"ref": "optuna", "n_trials": 3, "sampler": "[bold]nope"}),
            ERROR,
            "[bold]nope",
        ),
        spec_case(
            "loss-unknown", "bad-ref", base_spec(targets=[{**base_spec()["targets"][0], "loss": "rmse"}]), INPUT, "loss"
        ),
        spec_case("wrong-kind", "bad-ref", base_spec(kind="Workspace"), INPUT, "kind"),
        spec_case("wrong-api-version", "bad-ref", base_spec(apiVersion="modelops/v9"), INPUT, "apiVersion"),
        spec_case("no-targets", "bad-ref", base_spec(targets=[]), INPUT, "targets"),
        spec_case("no-parameters", "bad-ref", base_spec(parameters={"fixed": {"a": 1}}), INPUT, "nothing to search"),
    ]


def cli_cases() -> list[Case]:
    def spec(t: Path) -> Path:
        return write_spec(t, base_spec())

    schedulers = [
        "garbage",
        "tcp://",
        "tcp://host",
        "http://127.0.0.1:8786",
        "tcp://127.0.0.1:99999",
        "tcp://[bold]x[/]:1",
        "tcp://a b:1",
        "::::",
    ]
    cases = [
        Case(
            f"scheduler-{i}", "scheduler", lambda t, s=s: ["run", str(spec(t)), "--scheduler", s], INPUT, "--scheduler"
        )
        for i, s in enumerate(schedulers)
    ]
    cases += [
        spec_case(
            "scheduler-in-spec",
            "scheduler",
            base_spec(execution={"scheduler": "garbage"}),
            INPUT,
            "execution.scheduler",
        ),
        Case(
            "scheduler-and-workers",
            "scheduler",
            lambda t: ["run", str(spec(t)), "--scheduler", "tcp://127.0.0.1:1", "--workers", "1"],
            INPUT,
            "give one",
        ),
        Case(
            "scheduler-unreachable",
            "scheduler",
            lambda t: run_args(t, spec(t), "--scheduler", "tcp://127.0.0.1:1"),
            (ERROR, RUN_FAILED),
            "cannot reach",
            tags=("subprocess-only",),
            subprocess=True,
            timeout_s=90,
        ),
        Case(
            "runs-dir-bogus-protocol",
            "runs-dir",
            lambda t: ["run", str(spec(t)), "--runs-dir", "bogus://x/runs"],
            INPUT,
            "Protocol not known",
            subprocess=True,
        ),
        Case(
            "runs-dir-in-a-file",
            "runs-dir",
            lambda t: ["run", str(spec(t)), "--runs-dir", str(spec(t) / "runs")],
            INPUT,
            "not a directory",
        ),
        Case(
            "runs-dir-dev-null",
            "runs-dir",
            lambda t: ["run", str(spec(t)), "--runs-dir", "/dev/null/runs"],
            INPUT,
            "not a directory",
        ),
        Case(
            "runs-dir-proc",
            "runs-dir",
            lambda t: ["run", str(spec(t)), "--runs-dir", "/proc/runs"],
            (ERROR, INPUT),
            "/proc/runs",
        ),
        Case(
            "runs-dir-readonly-fs",
            "runs-dir",
            lambda t: ["run", str(spec(t)), "--runs-dir", "/sys/runs"],
            (ERROR, INPUT),
            "/sys",
        ),
        Case(
            "runs-list-bogus",
            "runs-dir",
            lambda t: ["runs", "list", "--runs-dir", "bogus://x"],
            (ERROR, INPUT),
            "bogus",
        ),
        Case(
            "runs-show-bogus",
            "runs-dir",
            lambda t: ["runs", "show", "x", "--runs-dir", "bogus://x"],
            (ERROR, INPUT),
            "bogus",
        ),
        Case("run-id-spaces", "run-id", lambda t: run_args(t, spec(t), "--run-id", "a b"), INPUT, "run id"),
        Case("run-id-traversal", "run-id", lambda t: run_args(t, spec(t), "--run-id", "../../etc"), INPUT, "run id"),
        Case("run-id-long", "run-id", lambda t: run_args(t, spec(t), "--run-id", "a" * 300), INPUT, "run id"),
        Case("run-id-empty", "run-id", lambda t: run_args(t, spec(t), "--run-id", ""), OK, "completed"),
        Case("run-id-unicode", "run-id", lambda t: run_args(t, spec(t), "--run-id", "été"), INPUT, "été"),
        Case("resume-missing", "run-id", lambda t: run_args(t, spec(t), "--resume", "ghost"), ERROR, "no run 'ghost'"),
        Case(
            "resume-vs-run-id",
            "run-id",
            lambda t: run_args(t, spec(t), "--resume", "a", "--run-id", "b"),
            INPUT,
            "different runs",
        ),
        Case(
            "runs-show-ghost",
            "run-id",
            lambda t: ["runs", "show", "ghost", "--runs-dir", str(t / "runs")],
            ERROR,
            "no run 'ghost'",
        ),
        Case("runs-export-format", "cli", lambda t: ["runs", "export", "x", "--format", "xlsx"], INPUT, "xlsx"),
        Case(
            "runs-plot-ghost",
            "run-id",
            lambda t: ["runs", "plot", "ghost", "--runs-dir", str(t / "runs")],
            ERROR,
            "ghost",
        ),
        Case("unknown-option", "cli", lambda t: ["run", str(spec(t)), "--bogus"], INPUT, "--bogus"),
        Case("missing-argument", "cli", lambda t: ["run"], INPUT, "Missing argument"),
        Case("unknown-command", "cli", lambda t: ["frobnicate"], INPUT, "frobnicate"),
        Case(
            "markup-usage-value",
            "markup",
            lambda t: ["run", str(spec(t)), "--workers", "[bold]x[/]"],
            INPUT,
            "--workers",
        ),
        Case("markup-usage-option", "markup", lambda t: ["run", str(spec(t)), "--[red]x"], INPUT, "--[red]x"),
        Case("markup-usage-command", "markup", lambda t: ["runs", "[bold]x[/]"], INPUT, "'[bold]x[/]'"),
        Case(
            "markup-kubeconfig-path",
            "markup",
            lambda t: ["workspace", "status", "--kubeconfig", str(t / "[bold]k[/]")],
            INPUT,
            "--kubeconfig",
        ),
        Case("unknown-subcommand", "cli", lambda t: ["runs", "frobnicate"], INPUT, "frobnicate"),
        Case(
            "bundle-push-missing",
            "cli",
            lambda t: ["bundle", "push", str(t / "nope"), "--to", str(t / "repo")],
            ERROR,
            "nope",
        ),
    ]
    return cases


def observed_cases() -> list[Case]:
    def with_observed(
        name: str, content: bytes | None = None, special: str | None = None
    ) -> Callable[[Path], list[str]]:
        def make(tmp: Path) -> list[str]:
            tmp.mkdir(parents=True, exist_ok=True)
            target = {**base_spec()["targets"][0], "observed": name}
            path = tmp / name
            if special == "fifo":
                os.mkfifo(path)
            elif special == "dir":
                path.mkdir()
            elif special == "sparse":
                _sparse(tmp, 300 * 1024**2, name)
            elif content is not None:
                path.write_bytes(content)
            write_observed(tmp)
            return run_args(tmp, write_spec(tmp, base_spec(targets=[target])))

        return make

    rows = "".join(f"{t},{2 * t + 1}\n" for t in range(10))
    return [
        Case("observed-missing", "observed", with_observed("nope.csv"), INPUT, "does not exist"),
        Case(
            "observed-fifo",
            "observed",
            with_observed("pipe.csv", special="fifo"),
            INPUT,
            "FIFO",
            subprocess=True,
            timeout_s=30,
        ),
        Case("observed-dir", "observed", with_observed("dir.csv", special="dir"), INPUT, "directory"),
        Case("observed-huge", "observed", with_observed("big.csv", special="sparse"), INPUT, "limit"),
        Case(
            "observed-latin1",
            "observed",
            with_observed("l1.csv", ("t,yé\n" + rows).encode("latin-1")),
            INPUT,
            "not UTF-8",
        ),
        Case(
            "observed-utf16", "observed", with_observed("u16.csv", ("t,y\n" + rows).encode("utf-16")), INPUT, "UTF-16"
        ),
        Case("observed-binary", "observed", with_observed("bin.csv", bytes(range(256))), INPUT, "observed"),
        Case("observed-bom-ok", "observed", with_observed("bom.csv", ("\ufefft,y\n" + rows).encode()), OK, "completed"),
        Case("observed-empty", "observed", with_observed("empty.csv", b""), INPUT, "observed"),
        Case("observed-header-only", "observed", with_observed("head.csv", b"t,y\n"), INPUT, "no rows"),
        Case(
            "observed-garbage-parquet",
            "observed",
            with_observed("bad.parquet", b"PAR1garbage"),
            INPUT,
            "cannot read observed",
        ),
        Case("observed-xlsx", "observed", with_observed("data.xlsx", b"PK\x03\x04"), INPUT, ".csv or .parquet"),
        Case(
            "observed-missing-key", "observed", with_observed("k.csv", ("day,y\n" + rows).encode()), (INPUT, ERROR), "t"
        ),
        Case(
            "observed-missing-value", "observed", with_observed("v.csv", ("t,z\n" + rows).encode()), (INPUT, ERROR), "y"
        ),
        Case(
            "observed-text-values",
            "observed",
            with_observed("txt.csv", b"t,y\n" + b"".join(f"{t},abc\n".encode() for t in range(10))),
            (INPUT, ERROR),
            None,
        ),
        Case("observed-ragged", "observed", with_observed("rag.csv", b"t,y\n1,2,3,4\n5\n"), (INPUT, ERROR), None),
        Case("observed-nul", "observed", with_observed("nul.csv", b"t,y\n1,\x002\n"), INPUT, "NUL"),
    ]


def other_spec_cases() -> list[Case]:
    workspace = (REPO / "examples" / "workspace.yaml").read_text(encoding="utf-8")
    adaptive = (REPO / "examples" / "adaptive.yaml").read_text(encoding="utf-8")

    def render(kind: str, content: bytes | None, special: str | None = None) -> Callable[[Path], list[str]]:
        def make(tmp: Path) -> list[str]:
            tmp.mkdir(parents=True, exist_ok=True)
            path = tmp / f"{kind}.yaml"
            if special == "fifo":
                os.mkfifo(path)
            else:
                path.write_bytes(content or b"")
            extra = ["--run-id", "x"] if kind == "adaptive" else []
            return [kind, "render", str(path), *extra]

        return make

    cases = []
    for kind, text in (("workspace", workspace), ("adaptive", adaptive)):
        cases += [
            Case(f"{kind}-fifo", "other-spec", render(kind, None, "fifo"), INPUT, "FIFO", timeout_s=30),
            Case(
                f"{kind}-latin1", "other-spec", render(kind, (text + "# café\n").encode("latin-1")), INPUT, "not UTF-8"
            ),
            Case(
                f"{kind}-dup",
                "other-spec",
                render(kind, (text + "kind: Workspace\n").encode()),
                INPUT,
                "duplicate key 'kind'",
            ),
            Case(f"{kind}-bomb", "other-spec", render(kind, (_bomb() + text).encode()), INPUT, "alias bomb"),
            Case(
                f"{kind}-binary-tag",
                "other-spec",
                render(kind, (text + "extra: !!binary aGk=\n").encode()),
                INPUT,
                "!!binary",
            ),
            Case(
                f"{kind}-deep",
                "other-spec",
                render(kind, (text + "extra: " + "[" * 3000 + "]" * 3000 + "\n").encode()),
                INPUT,
                "nested deeper",
            ),
        ]
    cases += [
        Case(
            "provider-fifo",
            "other-spec",
            lambda t: ["infra", "doctor", "--config", str(_fifo_at(t, "p.yaml"))],
            (INPUT, ERROR),
            "FIFO",
            timeout_s=30,
        ),
        Case(
            "provider-dup",
            "other-spec",
            lambda t: ["infra", "doctor", "--config", str(_write(t, "p.yaml", b"kind: Azure\nkind: Azure\n"))],
            (INPUT, ERROR),
            "duplicate",
        ),
    ]
    return cases


def _fifo_at(tmp: Path, name: str) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    os.mkfifo(tmp / name)
    return tmp / name


def _write(tmp: Path, name: str, content: bytes) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / name).write_bytes(content)
    return tmp / name


def json_cases() -> list[Case]:
    """The same errors with --json: one JSON object on stdout with the documented shape."""
    picked = [c for c in encoding_cases() + yaml_cases() + number_cases() + cli_cases() if c.codes() != (OK,)]
    out = []
    for c in picked[::4]:
        if "subprocess-only" in c.tags or c.id in ("missing-argument", "unknown-command", "unknown-subcommand"):
            continue

        def make(tmp: Path, c: Case = c) -> list[str]:
            return [*c.make(tmp), "--json"]

        out.append(Case(f"json-{c.id}", c.cls, make, c.code, None, json=True))
    return out


def all_cases() -> list[Case]:
    cases = (
        encoding_cases()
        + file_kind_cases()
        + yaml_cases()
        + markup_cases()
        + number_cases()
        + ref_cases()
        + cli_cases()
        + observed_cases()
        + other_spec_cases()
        + json_cases()
    )
    ids = [c.id for c in cases]
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates, f"duplicate case ids: {duplicates}"
    return cases


CASES = all_cases()
