"""What the cloud command groups share: their typer options, their error hints, and how stack outputs and
single-stack teardowns are shown. Pure presentation over ``modelops.planes``; no command lives here."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from modelops.cli import output
from modelops.cli.output import confirm, console, print_json, pulumi_progress, styled

CONFIG_OPTION = typer.Option(
    None,
    "--config",
    "-c",
    help="Provider config YAML (default: provider_config from `mops config show`, else "
    "~/.modelops/providers/azure.yaml).",
)
ENV_OPT = typer.Option(None, "--env", help="Environment (default: `environment` in ~/.modelops/config.yaml).")
KUBECONFIG_OPT = typer.Option(
    None,
    "--kubeconfig",
    help="Use this kubeconfig (an existing cluster: AKS, kind, k3d...) instead of the infra stack's.",
    exists=True,
    dir_okay=False,
    readable=True,
)
JSON_OPT = typer.Option(False, "--json", help="Print machine-readable JSON.")


def cloud_errors() -> AbstractContextManager[None]:
    """The one error boundary, with the provider config's hint for an invalid spec (infra, registry, storage,
    destroy)."""
    return output.handled(spec_hint="fix the fields listed above; examples/providers/azure.yaml shows every key")


def k8s_errors() -> AbstractContextManager[None]:
    """The one error boundary, with the Kubernetes specs' hint for an invalid spec (workspace, adaptive)."""
    return output.handled(spec_hint="fix the fields listed above; docs/kubernetes.md describes every key")


def show_outputs(title: str, values: Mapping[str, Any], as_json: bool, extra: Mapping[str, Any] | None = None) -> None:
    """Stack outputs with secrets hidden, as a table or JSON."""
    from modelops.infra.automation import redact

    shown = redact(values)
    if as_json:
        print_json({**(extra or {}), "deployed": True, "outputs": shown})
        return
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("output")
    table.add_column("value", overflow="fold")
    for key in sorted(shown):
        value = shown[key]
        table.add_row(key, Text("[secret]", style="dim") if value == "[secret]" else str(value))
    console.print(table)


def show_plain_outputs(outputs: Mapping[str, Any], as_json: bool, title: str) -> None:
    """A plane's outputs as JSON or a two-column table."""
    if as_json:
        print_json(outputs)
        return
    table = Table(title=title, show_header=False)
    for key in sorted(outputs):
        table.add_row(key, str(outputs[key]))
    console.print(table)


def status_of(component: str, title: str, as_json: bool, how: str) -> None:
    """`status` of a single-stack component: its outputs with secrets hidden, or "not deployed"."""
    from modelops.planes import stacks

    with cloud_errors():
        found = stacks.status(component)
        if found.values is None:
            if as_json:
                print_json({"stack": found.stack, "deployed": False, "outputs": {}})
            else:
                console.print(
                    styled("{}: [yellow]not deployed[/] (stack {}); create it with `{}`", component, found.stack, how)
                )
            return
        show_outputs(
            f"{title} ({found.stack}, {found.backend_url})", found.values, as_json, extra={"stack": found.stack}
        )


def destroy_component(component: str, name_output: str | tuple[str, ...], question: str, done: str, yes: bool) -> None:
    """`destroy`/`down` of a single-stack component: nothing to do if not deployed, else confirm and destroy.
    ``question`` and ``done`` may use ``{name}``, the value of the stack output ``name_output`` (the first present,
    when several are given)."""
    from modelops.planes import stacks

    with cloud_errors():
        ctx = stacks.context(stacks.global_config())
        found = stacks.single_stack(ctx, component, name_output)
        if found is None:
            console.print(f"{component}: nothing to destroy (stack {ctx.stack_name(component)} is not deployed)")
            return
        confirm(question.format(name=found.name), yes)
        stacks.destroy(ctx, component, on_output=pulumi_progress())
        console.print(done.format(name=found.name))
