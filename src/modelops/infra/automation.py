"""Pulumi Automation API, wrapped: stacks on the right backend, the passphrase, outputs, and errors a user can act on.

Every stack ModelOps owns goes through :class:`PulumiContext`:

    from modelops.infra import automation
    from modelops.specs.config import load_config

    ctx = automation.PulumiContext.from_config(load_config(), create_passphrase=True)
    outputs = automation.up(ctx, "workspace", program, config={"modelops:replicas": "4"})
    outputs = automation.read_outputs(ctx, "infra")            # plain values, secrets decrypted
    automation.destroy(ctx, "adaptive", run_id="abc")

- Backend: ``pulumi_backend_url`` from the global config, else ``file://<modelops home>/pulumi/backend``.
- Passphrase: ``PULUMI_CONFIG_PASSPHRASE`` if set, else a file ``<modelops home>/pulumi/passphrase`` (mode 0600)
  generated once by the first command that creates a stack; read-only commands never invent one.
- Projects live in ``<modelops home>/pulumi/projects/<project>``, so per-stack config (``Pulumi.<stack>.yaml``,
  e.g. the ephemeral SSH public key) survives between commands.
- The CLI: ``PulumiContext.from_config(..., pulumi_root=...)`` or ``command=PulumiCommand(...)`` selects a custom
  CLI location (tests pass a stand-in); otherwise ``MODELOPS_PULUMI_ROOT``, then ``PATH``, then ``~/.pulumi/bin``.

Failures are raised as :class:`InfraError` subclasses carrying a message, a hint and an exit code; the CLI prints
them with ``fail()``. No traceback reaches the user for the expected ones (CLI missing, passphrase missing, stack
locked, stack missing, Azure login missing).
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi import automation as auto
from pulumi.automation import errors as auto_errors

from modelops.core import naming
from modelops.specs.config import GlobalConfig, modelops_home

PASSPHRASE_ENV = "PULUMI_CONFIG_PASSPHRASE"
PULUMI_ROOT_ENV = "MODELOPS_PULUMI_ROOT"
INSTALL_HINT = (
    "install the pulumi CLI: `curl -fsSL https://get.pulumi.com | sh` (or `brew install pulumi`), then open a new "
    f"shell; or point {PULUMI_ROOT_ENV} at a directory containing bin/pulumi"
)

# Exit codes, one per failure a user can fix, so scripts can tell them apart.
EXIT_FAILED = 1
EXIT_PULUMI_MISSING = 3
EXIT_PASSPHRASE_MISSING = 4
EXIT_AZURE_LOGIN = 5
EXIT_STACK_LOCKED = 6
EXIT_STACK_MISSING = 7


class InfraError(Exception):
    """An infrastructure operation failed in a way the user can fix: ``message``, ``hint`` and ``exit_code``."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


class PulumiNotFound(InfraError):
    exit_code = EXIT_PULUMI_MISSING


class PassphraseMissing(InfraError):
    exit_code = EXIT_PASSPHRASE_MISSING


class AzureLoginMissing(InfraError):
    exit_code = EXIT_AZURE_LOGIN


class StackLocked(InfraError):
    exit_code = EXIT_STACK_LOCKED


class StackMissing(InfraError):
    exit_code = EXIT_STACK_MISSING


# --- where things live ----------------------------------------------------------------------------------------------
def pulumi_dir() -> Path:
    """``<modelops home>/pulumi``: the default backend, the passphrase file and the project directories."""
    return modelops_home() / "pulumi"


def default_backend_url() -> str:
    return (pulumi_dir() / "backend").as_uri()


def passphrase_path() -> Path:
    return pulumi_dir() / "passphrase"


def load_passphrase(*, create: bool) -> str:
    """The secrets passphrase: ``$PULUMI_CONFIG_PASSPHRASE``, else the 0600 file, else (only if ``create``) a new
    random one written to that file. A lost passphrase cannot be recovered, so read-only commands never make one."""
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env:
        return from_env
    path = passphrase_path()
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise PassphraseMissing(
                f"the passphrase file {path} is readable by other users (mode {mode:o})",
                hint=f"restrict it: chmod 600 {path}",
            )
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value
        raise PassphraseMissing(f"the passphrase file {path} is empty", hint=_passphrase_hint(path))
    if not create:
        raise PassphraseMissing(
            f"no Pulumi secrets passphrase: {PASSPHRASE_ENV} is not set and {path} does not exist",
            hint=_passphrase_hint(path),
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    # O_EXCL: if two commands race, exactly one creates the file and the other fails and re-reads it.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_passphrase(create=False)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")
    return value


def _passphrase_hint(path: Path) -> str:
    return (
        f"export {PASSPHRASE_ENV}=<the passphrase your stacks were created with>, or restore {path} (mode 0600); "
        "if no stack exists yet, `mops infra up` creates one"
    )


def find_pulumi(root: str | Path | None = None) -> auto.PulumiCommand:
    """The pulumi CLI: ``<root>/bin/pulumi`` if ``root`` (or ``$MODELOPS_PULUMI_ROOT``) is given, else ``pulumi``
    on ``PATH``, else ``~/.pulumi/bin/pulumi``. Raises :class:`PulumiNotFound` with install instructions."""
    root = root or os.environ.get(PULUMI_ROOT_ENV) or None
    if root is None:
        on_path = shutil.which("pulumi")
        if on_path:
            root = Path(on_path).resolve().parent.parent
        elif (Path.home() / ".pulumi" / "bin" / "pulumi").exists():
            root = Path.home() / ".pulumi"
    if root is None or not (Path(root) / "bin" / "pulumi").exists():
        where = f" (looked in {Path(root) / 'bin'})" if root else ""
        raise PulumiNotFound(f"the pulumi CLI was not found{where}", hint=INSTALL_HINT)
    try:
        return auto.PulumiCommand(root=str(root), skip_version_check=False)
    except auto_errors.InvalidVersionError as exc:
        raise PulumiNotFound(f"the pulumi CLI at {root} is too old or unreadable: {exc}", hint=INSTALL_HINT) from None
    except (OSError, subprocess.CalledProcessError) as exc:
        raise PulumiNotFound(f"the pulumi CLI at {root} does not run: {exc}", hint=INSTALL_HINT) from None


@dataclass(frozen=True)
class PulumiContext:
    """Everything a stack operation needs: backend, passphrase, CLI, environment and organisation."""

    backend_url: str
    passphrase: str = field(repr=False)
    command: auto.PulumiCommand = field(compare=False)
    environment: str = "dev"
    organization: str | None = None
    projects_dir: Path = field(default_factory=lambda: pulumi_dir() / "projects")

    @classmethod
    def from_config(
        cls,
        config: GlobalConfig,
        *,
        pulumi_root: str | Path | None = None,
        command: auto.PulumiCommand | None = None,
        create_passphrase: bool = False,
    ) -> PulumiContext:
        """Build the context from the global config. ``create_passphrase`` only for commands that create stacks."""
        backend = config.pulumi_backend_url or default_backend_url()
        if backend.startswith("file://"):
            Path(backend.removeprefix("file://")).expanduser().mkdir(parents=True, exist_ok=True)
        command = command or find_pulumi(pulumi_root)
        passphrase = load_passphrase(create=create_passphrase)
        return cls(
            backend_url=backend,
            passphrase=passphrase,
            command=command,
            environment=config.environment,
            organization=config.organization,
        )

    def env_vars(self) -> dict[str, str]:
        """The environment every pulumi process gets: the backend, the passphrase, no update check, and for an
        ``azblob://`` backend the storage account named in its URL."""
        env = {
            "PULUMI_BACKEND_URL": self.backend_url,
            PASSPHRASE_ENV: self.passphrase,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
        }
        if self.backend_url.startswith("azblob://") and "storage_account=" in self.backend_url:
            account = self.backend_url.split("storage_account=", 1)[1].split("&", 1)[0]
            env.setdefault("AZURE_STORAGE_ACCOUNT", account)
        return env

    def stack_name(self, component: str, run_id: str | None = None) -> str:
        """The name passed to ``--stack``: plain on self-managed backends, ``org/project/stack`` on Pulumi Cloud."""
        name = naming.stack_name(component, self.environment, run_id)
        if self.organization:
            return naming.stack_reference(component, self.environment, run_id, self.organization)
        return name

    def stack_reference(self, component: str, run_id: str | None = None) -> str:
        """What a program passes to ``pulumi.StackReference`` to read another component's outputs."""
        return naming.stack_reference(component, self.environment, run_id, self.organization)

    def work_dir(self, component: str) -> Path:
        path = self.projects_dir / naming.project_name(component)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def recover_command(self, component: str, run_id: str | None = None) -> str:
        return (
            f"cd {self.work_dir(component)} && PULUMI_BACKEND_URL='{self.backend_url}' "
            f"pulumi cancel --stack {self.stack_name(component, run_id)} --yes"
        )


# --- errors ---------------------------------------------------------------------------------------------------------
def _tail(exc: Exception, lines: int = 12) -> str:
    text = getattr(exc, "args", [""])[0] if exc.args else str(exc)
    text = str(text)
    kept = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join(kept)


@contextmanager
def translated(ctx: PulumiContext, component: str, run_id: str | None = None) -> Iterator[None]:
    """Turn the Automation API's exceptions into :class:`InfraError`s that say what to do."""
    try:
        stack = ctx.stack_name(component, run_id)
    except naming.NamingError:  # listing all runs of a component: no single stack name
        stack = f"{naming.PREFIX}-{component}-{ctx.environment}-*"
    try:
        yield
    except InfraError:
        raise
    except auto_errors.ConcurrentUpdateError:
        raise StackLocked(
            f"stack {stack} is locked: another update is running, or one was interrupted",
            hint=f"wait for the other command to finish; if none is running, clear the lock: "
            f"{ctx.recover_command(component, run_id)}",
        ) from None
    except auto_errors.StackNotFoundError:
        raise StackMissing(
            f"stack {stack} does not exist on {ctx.backend_url}",
            hint=f"create it with `mops {component} up`, or check `mops config show` (environment, backend)",
        ) from None
    except auto_errors.CommandError as exc:
        text = str(exc)
        if "currently locked" in text or "locked by" in text:
            raise StackLocked(
                f"stack {stack} is locked: another update is running, or one was interrupted",
                hint=f"if no other command is running, clear the lock: {ctx.recover_command(component, run_id)}",
            ) from None
        if "passphrase" in text.lower() and ("incorrect" in text.lower() or "decrypt" in text.lower()):
            raise PassphraseMissing(
                f"the passphrase does not decrypt stack {stack}'s secrets",
                hint=_passphrase_hint(passphrase_path()),
            ) from None
        raise InfraError(
            f"pulumi failed on stack {stack}:\n{_tail(exc)}", hint="fix the cause above and retry"
        ) from None
    except FileNotFoundError as exc:
        raise PulumiNotFound(f"the pulumi CLI could not be started: {exc}", hint=INSTALL_HINT) from None


# --- stacks ---------------------------------------------------------------------------------------------------------
PulumiProgram = Callable[[], None]


def workspace(ctx: PulumiContext, component: str, program: PulumiProgram | None = None) -> auto.LocalWorkspace:
    """A LocalWorkspace for a component's project on the context's backend."""
    project = naming.project_name(component)
    settings = auto.ProjectSettings(
        name=project,
        runtime="python",
        backend=auto.ProjectBackend(url=ctx.backend_url),
        description=f"ModelOps {component} plane",
    )
    return auto.LocalWorkspace(
        work_dir=str(ctx.work_dir(component)),
        program=program,
        env_vars=ctx.env_vars(),
        project_settings=settings,
        pulumi_command=ctx.command,
        secrets_provider="passphrase",
    )


def select_stack(
    ctx: PulumiContext,
    component: str,
    *,
    run_id: str | None = None,
    program: PulumiProgram | None = None,
    create: bool = False,
) -> auto.Stack:
    """The component's stack; created when ``create``, else :class:`StackMissing` if it does not exist."""
    ws = workspace(ctx, component, program)
    name = ctx.stack_name(component, run_id)
    with translated(ctx, component, run_id):
        if create:
            return auto.Stack.create_or_select(name, ws)
        return auto.Stack.select(name, ws)


def stack_exists(ctx: PulumiContext, component: str, run_id: str | None = None) -> bool:
    """Whether the component's stack exists on the backend (``pulumi stack ls``)."""
    ws = workspace(ctx, component)
    wanted = ctx.stack_name(component, run_id)
    with translated(ctx, component, run_id):
        names = {s.name for s in ws.list_stacks()}
    return wanted in names or wanted.rsplit("/", 1)[-1] in names


def list_stacks(ctx: PulumiContext, component: str) -> list[str]:
    """Names of the component's stacks in this environment (for adaptive: one per run)."""
    ws = workspace(ctx, component)
    prefix = f"{naming.PREFIX}-{component}-{ctx.environment}"
    with translated(ctx, component):
        names = [s.name.rsplit("/", 1)[-1] for s in ws.list_stacks()]
    return sorted(n for n in names if n == prefix or n.startswith(prefix + "-"))


def _config_values(config: Mapping[str, Any]) -> dict[str, auto.ConfigValue]:
    """Stack config from plain values: booleans as ``true``/``false``, ConfigValues (e.g. secrets) kept as given."""
    values = {}
    for key, value in config.items():
        if isinstance(value, auto.ConfigValue):
            values[key] = value
        elif isinstance(value, bool):
            values[key] = auto.ConfigValue(value="true" if value else "false")
        else:
            values[key] = auto.ConfigValue(value=str(value))
    return values


# Resource plugins each component's program needs, by the Python distribution that pins their version. Inline
# programs do not declare plugins to the engine, so they are installed (idempotently) before each up.
PLUGIN_DISTRIBUTIONS = {
    "azure-native": "pulumi-azure-native",
    "random": "pulumi-random",
    "kubernetes": "pulumi-kubernetes",
    "aws": "pulumi-aws",
    "gcp": "pulumi-gcp",
}
COMPONENT_PLUGINS = {
    "infra": ("azure-native",),
    "registry": ("azure-native", "random"),
    "storage": ("azure-native", "random"),
    "state": ("azure-native", "random"),
    "workspace": ("kubernetes", "random"),
    "adaptive": ("kubernetes", "random"),
}


def install_plugins(stack: auto.Stack, component: str, plugins: tuple[str, ...] | None = None) -> list[str]:
    """Install the resource plugins ``component`` needs (or ``plugins``, when a provider names its own), at the
    versions of the installed Python packages."""
    from importlib import metadata

    installed = []
    for plugin in plugins if plugins else COMPONENT_PLUGINS.get(component, ()):
        try:
            version = metadata.version(PLUGIN_DISTRIBUTIONS[plugin])
        except metadata.PackageNotFoundError:
            continue  # the program cannot import it either; Pulumi reports that clearly
        stack.workspace.install_plugin(plugin, f"v{version}")
        installed.append(f"{plugin}@{version}")
    return installed


def up(
    ctx: PulumiContext,
    component: str,
    program: PulumiProgram,
    *,
    config: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    on_output: Callable[[str], None] | None = None,
    target: list[str] | None = None,
    plugins: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Create or select the stack, set its config, run ``pulumi up`` with ``program``; return its outputs.
    ``plugins`` overrides the component's default resource plugins (a provider's stack plan names its own)."""
    stack = select_stack(ctx, component, run_id=run_id, program=program, create=True)
    with translated(ctx, component, run_id):
        install_plugins(stack, component, plugins)
        if config:
            stack.set_all_config(_config_values(config))
        stack.up(on_output=on_output, target=target)
    return read_outputs(ctx, component, run_id=run_id)


def destroy(
    ctx: PulumiContext,
    component: str,
    *,
    run_id: str | None = None,
    on_output: Callable[[str], None] | None = None,
    remove: bool = False,
    unprotect: bool = False,
) -> None:
    """``pulumi destroy`` the component's stack (``unprotect`` first lifts ``protect``; resources marked
    ``retain_on_delete`` stay in the cloud). ``remove`` also deletes the emptied stack and its config."""
    stack = select_stack(ctx, component, run_id=run_id)
    with translated(ctx, component, run_id):
        if unprotect:
            ctx.command.run(
                ["state", "unprotect", "--all", "--yes", "--stack", stack.name],
                cwd=str(ctx.work_dir(component)),
                additional_env=ctx.env_vars(),
            )
        stack.destroy(on_output=on_output)
        if remove:
            stack.workspace.remove_stack(stack.name)


def read_outputs(ctx: PulumiContext, component: str, run_id: str | None = None) -> dict[str, Any]:
    """The stack's outputs as plain values (secrets decrypted: keep them out of logs)."""
    return {k: v.value for k, v in read_output_values(ctx, component, run_id).items()}


def read_output_values(ctx: PulumiContext, component: str, run_id: str | None = None) -> dict[str, auto.OutputValue]:
    """The stack's outputs with their secret flags (for status displays that hide secrets)."""
    stack = select_stack(ctx, component, run_id=run_id)
    with translated(ctx, component, run_id):
        return dict(stack.outputs())


def redact(outputs: Mapping[str, auto.OutputValue]) -> dict[str, Any]:
    """Outputs for display: secret values replaced by ``"[secret]"``."""
    return {k: ("[secret]" if v.secret else v.value) for k, v in outputs.items()}


def get_config(ctx: PulumiContext, component: str, key: str, run_id: str | None = None) -> str | None:
    """A stack config value, or None when unset (used to keep the ephemeral SSH key set once)."""
    stack = select_stack(ctx, component, run_id=run_id, create=True)
    try:
        return stack.get_config(key).value
    except auto_errors.CommandError as exc:
        if "not found" in str(exc):
            return None
        with translated(ctx, component, run_id):  # e.g. a wrong passphrase: never overwrite a key we cannot read
            raise
    return None  # pragma: no cover - translated always raises


def set_config(
    ctx: PulumiContext, component: str, key: str, value: str, *, secret: bool = False, run_id: str | None = None
) -> None:
    stack = select_stack(ctx, component, run_id=run_id, create=True)
    with translated(ctx, component, run_id):
        stack.set_config(key, auto.ConfigValue(value=value, secret=secret))
