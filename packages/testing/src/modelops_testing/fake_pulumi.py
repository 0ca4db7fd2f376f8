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
``up``/``destroy`` with the DIY backend's real "currently locked" message. Any plane's tests can use it
(the state lives in ``<root>/state.json``, the calls in ``<root>/calls.jsonl``).
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

from modelops_testing._fake_pulumi_cli import load_state, save_state, write_json

# -S: no site-packages at start-up; the stand-in needs only the standard library, and starts 3x faster.
_SCRIPT = """#!{python} -S
import sys
sys.path[:0] = {paths!r}
from modelops_testing._fake_pulumi_cli import main
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
        src = str(Path(__file__).resolve().parents[1])  # the directory holding modelops_testing/
        script.write_text(_SCRIPT.format(python=sys.executable, paths=[src], root=str(root)), encoding="utf-8")
        script.chmod(0o755)
        return cls(root)

    # --- arranging --------------------------------------------------------------------------------------------
    def set_outputs(self, stack: str, outputs: Mapping[str, Any], *, secret: Iterable[str] = ()) -> None:
        """What ``pulumi up`` on ``stack`` will produce."""
        write_json(self.root / "planned" / f"{stack}.json", {"outputs": dict(outputs), "secret": sorted(secret)})

    def lock(self, stack: str) -> None:
        (self.root / "locks").mkdir(parents=True, exist_ok=True)
        (self.root / "locks" / stack).write_text("locked", encoding="utf-8")

    def add_stack(self, stack: str, outputs: Mapping[str, Any] | None = None, secret: Iterable[str] = ()) -> None:
        """A stack that already exists (as if brought up earlier), with outputs."""
        state = load_state(self.root)
        state["stacks"][stack] = {"config": {}, "outputs": dict(outputs or {}), "secret": sorted(secret)}
        save_state(self.root, state)

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
        return load_state(self.root)["stacks"]


class RecordingMocks(pulumi.runtime.Mocks):
    """Pulumi unit-test mocks that record every resource and invoke, and echo a resource's inputs as its outputs.

    Subclasses add what the cloud would compute: ``computed(args)`` returns extra outputs for a resource (ids, login
    servers, identities), ``answer(args)`` the result of an invoke. Use with ``pulumi.runtime.set_mocks``; inputs
    arrive camelCase, and input-only properties come back None on outputs, so assert them from ``resources``.
    """

    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []  # in registration order
        self.calls: list[pulumi.runtime.MockCallArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        return self.resource_id(args), {**args.inputs, **self.computed(args)}

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        self.calls.append(args)
        return self.answer(args)

    def resource_id(self, args: pulumi.runtime.MockResourceArgs) -> str:
        return f"{args.name}-id"

    def computed(self, args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
        return {}

    def answer(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == typ]

    def named(self, name: str) -> pulumi.runtime.MockResourceArgs:
        (found,) = [r for r in self.resources if r.name == name]
        return found


def resolve_outputs(build: Callable[[], Mapping[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """Run ``build()`` (which registers resources and returns a mapping of outputs) under the mocks, wait until
    every registration and output has settled, and return the plain values and the names of the secret outputs.

    Assertions run afterwards, outside the engine, so they see the whole resource graph (an ``apply`` may run before
    unrelated resources are registered)."""
    values: dict[str, Any] = {}
    secret: list[str] = []

    @pulumi.runtime.test
    def run() -> Any:
        outputs = build()

        async def settle(key: str, value: Any) -> None:
            out = pulumi.Output.from_input(value)
            values[key] = await out.future()
            if await out.is_secret():
                secret.append(key)

        async def everything() -> None:
            for key, value in outputs.items():
                await settle(key, value)

        return pulumi.Output.from_input(everything())

    run()
    return values, sorted(secret)


def run_program(plan: Any) -> dict[str, Any]:
    """Run the program a stack plan names (``plan.program``, as `pulumi up` would) and return what it exported
    (``pulumi.export`` needs a real stack, so it is captured instead)."""
    exported: dict[str, Any] = {}
    original = pulumi.export
    pulumi.export = lambda k, v: exported.__setitem__(k, v)  # type: ignore[assignment]
    try:
        module, _, attr = plan.program.partition(":")
        getattr(importlib.import_module(module), attr)(plan)()
    finally:
        pulumi.export = original  # type: ignore[assignment]
    return exported
