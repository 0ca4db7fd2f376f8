"""A stand-in ``pulumi`` executable for tests: it records every call and keeps a tiny stack store on disk.

The real Pulumi engine cannot run on a CI machine without cloud credentials, but the Automation API is only a driver
of the ``pulumi`` CLI. A stand-in at ``<root>/bin/pulumi`` lets ``LocalWorkspace``/``Stack`` run for real and shows
exactly which commands ModelOps issues, on which backend, with which environment:

    fake = FakePulumi.install(tmp_path / "pulumi")
    fake.set_outputs("modelops-infra-dev", {"kubeconfig": "apiVersion: v1"}, secret=["kubeconfig"])
    ctx = PulumiContext.from_config(config, pulumi_root=fake.root, create_passphrase=True)
    automation.up(ctx, "infra", program)
    assert fake.calls_with("up")[0].env["PULUMI_BACKEND_URL"] == ctx.backend_url

Behaviour (only what the Automation API needs): ``version``; ``stack select|init|ls|rm|output|history``;
``config set|set-all|get``; ``up`` (copies the outputs registered with :meth:`FakePulumi.set_outputs` into the
stack); ``destroy`` (clears them); ``state unprotect``; ``cancel``. A stack listed by :meth:`FakePulumi.lock` fails
``up``/``destroy`` with the DIY backend's real "currently locked" message. Used by ModelOps's own tests and by
the workspace/adaptive planes' tests.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Environment variables worth recording: what decides where state goes and how secrets are encrypted.
RECORDED_ENV = (
    "PULUMI_BACKEND_URL",
    "PULUMI_CONFIG_PASSPHRASE",
    "PULUMI_CONFIG_PASSPHRASE_FILE",
    "AZURE_STORAGE_ACCOUNT",
    "PULUMI_SKIP_UPDATE_CHECK",
)
FAKE_VERSION = "v3.200.0"

_SCRIPT = """#!{python}
import sys
sys.path[:0] = {paths!r}
from modelops.infra.testing import main
sys.exit(main({root!r}, sys.argv[1:]))
"""


@dataclass(frozen=True)
class Call:
    """One recorded invocation of the stand-in CLI."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: str

    @property
    def command(self) -> tuple[str, ...]:
        """The subcommand words (flags and values after the first flag dropped): ("stack", "select")."""
        words = [a for a in self.argv if a != "--non-interactive"]
        out: list[str] = []
        for word in words:
            if word.startswith("-"):
                break
            out.append(word)
        return tuple(out)

    def flag(self, name: str) -> str | None:
        """The value after ``name`` (e.g. ``--stack``), or None."""
        args = list(self.argv)
        if name in args and args.index(name) + 1 < len(args):
            return args[args.index(name) + 1]
        return None


@dataclass(frozen=True)
class FakePulumi:
    """Handle on an installed stand-in: its ``root`` (pass it as ``pulumi_root``) and what it recorded."""

    root: Path

    @classmethod
    def install(cls, root: Path) -> FakePulumi:
        root = Path(root)
        (root / "bin").mkdir(parents=True, exist_ok=True)
        script = root / "bin" / "pulumi"
        src = str(Path(__file__).resolve().parents[2])
        script.write_text(_SCRIPT.format(python=sys.executable, paths=[src], root=str(root)), encoding="utf-8")
        script.chmod(0o755)
        return cls(root)

    # --- arranging --------------------------------------------------------------------------------------------
    def set_outputs(self, stack: str, outputs: Mapping[str, Any], *, secret: Iterable[str] = ()) -> None:
        """What ``pulumi up`` on ``stack`` will produce."""
        _write(self.root / "planned" / f"{stack}.json", {"outputs": dict(outputs), "secret": sorted(secret)})

    def lock(self, stack: str) -> None:
        (self.root / "locks").mkdir(parents=True, exist_ok=True)
        (self.root / "locks" / stack).write_text("locked", encoding="utf-8")

    def add_stack(self, stack: str, outputs: Mapping[str, Any] | None = None, secret: Iterable[str] = ()) -> None:
        """A stack that already exists (as if brought up earlier), with outputs."""
        state = _load_state(self.root)
        state["stacks"][stack] = {"config": {}, "outputs": dict(outputs or {}), "secret": sorted(secret)}
        _save_state(self.root, state)

    # --- inspecting ----------------------------------------------------------------------------------------------
    def calls(self) -> list[Call]:
        path = self.root / "calls.jsonl"
        if not path.exists():
            return []
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [Call(tuple(r["argv"]), r["env"], r["cwd"]) for r in rows]

    def calls_with(self, *command: str) -> list[Call]:
        return [c for c in self.calls() if c.command[: len(command)] == command]

    def stacks(self) -> dict[str, dict[str, Any]]:
        return _load_state(self.root)["stacks"]


def _write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


def _load_state(root: Path) -> dict[str, Any]:
    path = root / "state.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return {"stacks": {}, "current": None}


def _save_state(root: Path, state: Mapping[str, Any]) -> None:
    _write(root / "state.json", state)


def _flag(args: list[str], name: str) -> str | None:
    if name in args:
        i = args.index(name)
        return args[i + 1] if i + 1 < len(args) else None
    return None


def main(root: str, argv: list[str]) -> int:
    """Entry point of the stand-in script."""
    base = Path(root)
    env = {k: os.environ[k] for k in RECORDED_ENV if k in os.environ}
    with (base / "calls.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"argv": argv, "env": env, "cwd": os.getcwd()}) + "\n")

    args = [a for a in argv if a != "--non-interactive"]
    if args[:1] == ["version"]:
        print(FAKE_VERSION)
        return 0
    state = _load_state(base)
    stacks: dict[str, Any] = state["stacks"]
    stack = _flag(args, "--stack") or state.get("current")

    def missing(name: str | None) -> int:
        print(f"error: no stack named '{name}' found", file=sys.stderr)
        return 255

    def locked(name: str) -> bool:
        return (base / "locks" / name).exists()

    head = tuple(a for a in args[:2] if not a.startswith("-"))
    if head == ("stack", "select"):
        if stack not in stacks:
            return missing(stack)
        state["current"] = stack
    elif head == ("stack", "init"):
        name = args[2]
        if name in stacks:
            print(f"error: stack '{name}' already exists", file=sys.stderr)
            return 255
        stacks[name] = {"config": {}, "outputs": {}, "secret": []}
        state["current"] = name
    elif head == ("stack", "ls"):
        print(json.dumps([{"name": n, "current": n == state.get("current")} for n in sorted(stacks)]))
        return 0
    elif head == ("stack", "rm"):
        name = args[-1]
        if name not in stacks:
            return missing(name)
        del stacks[name]
    elif head == ("stack", "output"):
        if stack not in stacks:
            return missing(stack)
        data = stacks[stack]
        shown = "--show-secrets" in args
        print(
            json.dumps({k: (v if shown or k not in data["secret"] else "[secret]") for k, v in data["outputs"].items()})
        )
        return 0
    elif head == ("stack", "history"):
        entry = {
            "kind": "update",
            "startTime": "2026-01-01T00:00:00.000000Z",
            "endTime": "2026-01-01T00:00:01.000000Z",
            "message": "",
            "environment": {},
            "config": {},
            "result": "succeeded",
            "version": 1,
        }
        print(json.dumps([entry]))
        return 0
    elif head[:1] == ("config",):
        if stack not in stacks:
            return missing(stack)
        config = stacks[stack]["config"]
        sub = args[1]
        if sub == "set":
            key, value = args[2], args[args.index("--") + 1]
            config[key] = {"value": value, "secret": "--secret" in args}
        elif sub == "set-all":
            for i, word in enumerate(args):
                if word in ("--plaintext", "--secret"):
                    key, _, value = args[i + 1].partition("=")
                    config[key] = {"value": value, "secret": word == "--secret"}
        elif sub == "get":
            key = args[2]
            if key not in config:
                print(f"error: configuration key '{key}' not found for stack '{stack}'", file=sys.stderr)
                return 255
            print(json.dumps(config[key]))
            return 0
        else:
            print(json.dumps(config))
            return 0
    elif head[:1] in (("up",), ("destroy",)):
        if stack not in stacks:
            return missing(stack)
        if locked(stack):
            print(
                "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end "
                "or delete the lock file with `pulumi cancel`.",
                file=sys.stderr,
            )
            return 255
        if head[0] == "up":
            planned = base / "planned" / f"{stack}.json"
            if planned.exists():
                data = json.loads(planned.read_text(encoding="utf-8"))
                stacks[stack]["outputs"], stacks[stack]["secret"] = data["outputs"], data["secret"]
        else:
            stacks[stack]["outputs"], stacks[stack]["secret"] = {}, []
    elif head == ("state", "unprotect") or head[:1] == ("cancel",):
        if stack not in stacks:
            return missing(stack)
    else:
        print(f"error: the stand-in pulumi does not implement {' '.join(args)!r}", file=sys.stderr)
        return 2
    _save_state(base, state)
    return 0
