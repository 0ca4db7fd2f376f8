"""`mops infra`: the cluster (Azure AKS, AWS EKS or Google GKE) in the infra stack, and the shared state backend.

Options, one call into ``modelops.planes.infra`` and presentation; the plane does the work.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from modelops.cli.common import CONFIG_OPTION, cloud_errors, show_outputs, status_of
from modelops.cli.output import confirm, console, err_console, fail, print_json, pulumi_progress

app = typer.Typer(
    help=(
        "The cluster (Azure AKS, AWS EKS or Google GKE, picked by the provider config's `provider:`), with a system "
        "pool and an autoscaling workload pool, kept in the Pulumi stack modelops-infra-<env>.\n\n"
        "First time: `mops config init`, copy examples/providers/<cloud>.yaml to ~/.modelops/providers/ and fill it "
        "in, log in to the cloud, `mops infra doctor`, then `mops infra up --config FILE`."
    ),
    no_args_is_help=True,
)


# --- commands ----------------------------------------------------------------------------------------------------
@app.command()
def up(
    config_file: Path | None = CONFIG_OPTION,
    runtime: Path | None = typer.Option(
        None, "--runtime", help="A `kind: Runtime` document whose worker groups size the pools (GPU groups add pools)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the stack outputs (secrets hidden) as JSON."),
) -> None:
    """Create or update the cluster the provider config describes (idempotent: run it again after editing it).

    Azure: resource group (protected, kept on `down`) + AKS; AWS: VPC + EKS; GCP: VPC network + GKE. The kubeconfig
    is stored as a secret stack output (write it out with `mops infra kubeconfig`)."""
    from modelops.planes import infra

    with cloud_errors():
        result = infra.up(
            config_file, runtime, on_output=None if as_json else pulumi_progress(), on_note=err_console.print
        )
        show_outputs("infra", result.values, as_json, extra={"stack": result.stack})
        if not as_json:
            console.print("next: `mops infra kubeconfig -o ~/.kube/modelops.yaml`, then `mops workspace up`")


@app.command()
def down(
    config_file: Path | None = CONFIG_OPTION,
    delete_rg: bool = typer.Option(
        False, "--delete-rg", help="Also delete the resource group and everything in it (default: keep it)."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Destroy the AKS cluster. The resource group is kept unless --delete-rg. Refuses while the registry, storage,
    workspace or adaptive stacks still hold resources (destroy them first, or use `mops destroy --all`)."""
    from modelops.planes import infra, stacks

    with cloud_errors():
        config = stacks.global_config()
        ctx = stacks.context(config)
        if not stacks.deployed(ctx, "infra"):
            console.print(f"infra: nothing to destroy (stack {ctx.stack_name('infra')} is not deployed)")
            return
        blockers = infra.blockers(ctx)
        if blockers:
            fail(
                f"these stacks still use the cluster: {', '.join(blockers)}",
                hint="destroy them first (mops workspace down, mops registry destroy, ...) or run `mops destroy --all`",
            )
        target = infra.target(ctx)
        target.check(delete_rg)
        cluster, rg = target.cluster, target.resource_group
        if rg is None:  # a cloud without resource groups (the whole stack goes)
            confirm(f"Destroy cluster {cluster} and its network (stack {target.stack})?", yes)
        elif delete_rg:
            confirm(f"Destroy AKS cluster {cluster} AND delete resource group {rg} with everything in it?", yes)
        else:
            confirm(f"Destroy AKS cluster {cluster} (stack {target.stack})? Resource group {rg} is kept.", yes)
        infra.destroy(ctx, config, config_file, target, delete_rg=delete_rg, on_output=pulumi_progress())
        if rg is None:
            console.print(f"infra destroyed: cluster {cluster}")
        else:
            kept = "deleted" if delete_rg else "kept (delete it with `az group delete -n " + rg + "` when empty)"
            console.print(f"infra destroyed; resource group {rg} {kept}")


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """The infra stack's outputs (cluster, resource group, location; the kubeconfig hidden)."""
    status_of("infra", "infra", as_json, "mops infra up")


@app.command()
def kubeconfig(
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write to this file (mode 0600) instead of stdout."
    ),
) -> None:
    """Print (or write) the cluster's kubeconfig from the infra stack's secret output."""
    import os

    from modelops.planes import infra

    with cloud_errors():
        text = infra.kubeconfig()
        if output is None:
            typer.echo(text)
            return
        output = output.expanduser()
        output.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        console.print(f"wrote {output}; use it with `export KUBECONFIG={output}`")


@app.command()
def doctor(
    config_file: Path | None = CONFIG_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
) -> None:
    """Check what `mops infra up` needs: the global and provider configs, the pulumi CLI, the secrets passphrase,
    the Azure login (and subscription), and that Azure still offers the pinned AKS version in your region."""
    from modelops.planes import infra

    checks = infra.doctor(config_file)
    if as_json:
        print_json({"ok": all(c.status != "fail" for c in checks), "checks": [c.to_dict() for c in checks]})
    else:
        table = Table(show_header=True, header_style="bold")
        for column in ("check", "status", "detail", "fix"):
            table.add_column(column, overflow="fold")
        colours = {"ok": "green", "warn": "yellow", "fail": "red"}
        for c in checks:
            table.add_row(c.name, Text(c.status, style=colours[c.status]), c.detail, c.fix or "")
        console.print(table)
    if any(c.status == "fail" for c in checks):
        raise typer.Exit(1)


@app.command()
def bootstrap(
    config_file: Path | None = CONFIG_OPTION,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Create the shared Pulumi state backend on Azure, once per environment, and switch to it.

    Creates a separate resource group (modelops-<env>-state-rg, with a delete lock) holding a storage account and
    a container for Pulumi state, sets `pulumi_backend_url` to it (azblob://...) in ~/.modelops/config.yaml, and
    stores an ephemeral SSH public key as a secret setting of the infra stack (the private key is discarded).
    The backend's own stack stays on the local file backend (~/.modelops/pulumi/backend)."""
    from modelops.planes import infra

    with cloud_errors():
        backend = infra.state_backend_plan(config_file)
        confirm(
            f"Create the state backend resource group {backend.state.resource_group} in {backend.spec.location} "
            f"(storage account + container {backend.state.container}, delete lock)?",
            yes,
        )
        url = infra.create_state_backend(backend, on_output=pulumi_progress())
        console.print(f"state backend ready: {url} (saved as pulumi_backend_url)")
        if infra.store_ephemeral_key(backend):
            console.print("stored an ephemeral SSH public key in the infra stack (private key discarded)")
        console.print(
            "keep the passphrase (~/.modelops/pulumi/passphrase or $PULUMI_CONFIG_PASSPHRASE): the stacks' secrets "
            "cannot be read without it"
        )


@app.command()
def plan(
    runtime: Path = typer.Argument(..., help="A `kind: Runtime` document."),
    as_json: bool = typer.Option(False, "--json", help="Print the compiled plan as JSON."),
) -> None:
    """Compile a Runtime document (no cloud calls) and show the stacks it needs, in order, with what each reads."""
    from modelops.planes import infra

    with cloud_errors():
        compiled = infra.plan(runtime)
    if as_json:
        print_json(compiled.to_dict())
        return
    table = Table(
        title=f"{compiled.name}: {compiled.provider}, environment {compiled.environment}", header_style="bold"
    )
    for column in ("#", "component", "stack", "reads"):
        table.add_column(column, overflow="fold")
    for i, stack in enumerate(compiled.stacks, 1):
        table.add_row(str(i), stack.component, stack.stack, ", ".join(stack.reads) or "-")
    console.print(table)
