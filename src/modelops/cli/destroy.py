"""`mops destroy --all`: tear everything down in reverse order, never the state backend."""

from __future__ import annotations

from pathlib import Path

import typer

from modelops.cli.common import CONFIG_OPTION, cloud_errors
from modelops.cli.output import console, err_console, fail, pulumi_progress

PROTECTED_ENVIRONMENTS = ("prod",)

app = typer.Typer(
    help=(
        "Tear down every ModelOps stack of the current environment, in reverse order: adaptive runs, workspace, "
        "storage, registry, infra. The Pulumi state backend (mops infra bootstrap) is never touched."
    ),
    invoke_without_command=True,
    no_args_is_help=False,
)


@app.callback()
def destroy(
    all_: bool = typer.Option(False, "--all", help="Required: destroy every stack of the environment."),
    config_file: Path | None = CONFIG_OPTION,
    delete_rg: bool = typer.Option(False, "--delete-rg", help="Also delete the workload resource group."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask (not enough for prod: see --confirm-env)."),
    confirm_env: str | None = typer.Option(
        None, "--confirm-env", help="Type the environment name to confirm (required, or prompted, for prod)."
    ),
) -> None:
    """Destroy adaptive runs, the workspace, storage, the registry and the cluster, in that order."""
    from modelops.planes import destroy as plane
    from modelops.planes import stacks

    if not all_:
        fail("say what to destroy", hint="`mops destroy --all` tears down every stack of the environment", code=2)
    with cloud_errors():
        config = stacks.global_config()
        ctx = stacks.context(config)
        teardown = plane.teardown(ctx)
        if not teardown.targets:
            console.print(f"nothing to destroy in environment {ctx.environment} ({ctx.backend_url})")
            return
        names = [ctx.stack_name(c, r) for c, r in teardown.targets]
        console.print("will destroy, in order:\n  " + "\n  ".join(names))
        _confirm(ctx.environment, yes, confirm_env)
        plane.destroy_all(
            ctx,
            config,
            config_file,
            teardown,
            delete_rg=delete_rg,
            on_stack=lambda stack: err_console.print(f"destroying {stack}"),
            on_output=pulumi_progress(),
        )
        console.print(
            f"destroyed {len(teardown.targets)} stack(s); the state backend ({teardown.state_resource_group}) was "
            "not touched"
        )


def _confirm(environment: str, yes: bool, confirm_env: str | None) -> None:
    import sys

    if environment in PROTECTED_ENVIRONMENTS:
        if confirm_env == environment:
            return
        if confirm_env is not None or not sys.stdin.isatty():
            fail(
                f"environment {environment!r} needs its name typed to confirm",
                hint=f"rerun with --confirm-env {environment}",
            )
        typed = typer.prompt(f"This destroys environment {environment}. Type its name to confirm")
        if typed.strip() != environment:
            err_console.print("names differ; aborted, nothing was changed")
            raise typer.Exit(1)
        return
    if yes:
        return
    if not sys.stdin.isatty():
        fail("this command needs confirmation and no terminal is attached", hint="rerun with --yes")
    if not typer.confirm("Destroy all of the above?", default=False):
        err_console.print("aborted; nothing was changed")
        raise typer.Exit(1)
