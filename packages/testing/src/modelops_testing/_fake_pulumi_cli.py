"""The stand-in ``pulumi`` executable's body (see ``modelops_testing.fake_pulumi``). Standard library only, so the
script can start without site-packages."""

from __future__ import annotations

import json
import os
import sys
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


def write_json(path: Any, data: Any) -> None:
    path = str(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)


def load_state(root: Any) -> dict[str, Any]:
    path = os.path.join(str(root), "state.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    return {"stacks": {}, "current": None}


def save_state(root: Any, state: Any) -> None:
    write_json(os.path.join(str(root), "state.json"), state)


def _flag(args: list[str], name: str) -> str | None:
    if name in args:
        i = args.index(name)
        return args[i + 1] if i + 1 < len(args) else None
    return None


def main(root: str, argv: list[str]) -> int:
    """Entry point of the stand-in script."""
    env = {k: os.environ[k] for k in RECORDED_ENV if k in os.environ}
    with open(os.path.join(root, "calls.jsonl"), "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"argv": argv, "env": env, "cwd": os.getcwd()}) + "\n")

    args = [a for a in argv if a != "--non-interactive"]
    if args[:1] == ["version"]:
        print(FAKE_VERSION)
        return 0
    state = load_state(root)
    stacks: dict[str, Any] = state["stacks"]
    stack = _flag(args, "--stack") or state.get("current")

    def missing(name: str | None) -> int:
        print(f"error: no stack named '{name}' found", file=sys.stderr)
        return 255

    def locked(name: str) -> bool:
        return os.path.exists(os.path.join(root, "locks", name))

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
            planned = os.path.join(root, "planned", f"{stack}.json")
            if os.path.exists(planned):
                with open(planned, encoding="utf-8") as fh:
                    data = json.load(fh)
                stacks[stack]["outputs"], stacks[stack]["secret"] = data["outputs"], data["secret"]
        else:
            stacks[stack]["outputs"], stacks[stack]["secret"] = {}, []
    elif head == ("plugin", "install"):
        with open(os.path.join(root, "plugins.txt"), "a", encoding="utf-8") as fh:
            fh.write(f"{args[2]} {args[3]} {args[4]}\n")
        return 0
    elif head == ("state", "unprotect") or head[:1] == ("cancel",):
        if stack not in stacks:
            return missing(stack)
    else:
        print(f"error: the stand-in pulumi does not implement {' '.join(args)!r}", file=sys.stderr)
        return 2
    save_state(root, state)
    return 0
