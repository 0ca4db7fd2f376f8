"""`mops bundle`: push a project directory as a content-addressed bundle, pull it, list and compare bundles."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.table import Table

from modelops.cli.output import console, err_console, fail, print_json

app = typer.Typer(
    help=(
        "Model bundles: ship your project's code and data to workers by content digest.\n\n"
        "A bundle is every file of a project directory not ignored by .gitignore or .modelopsignore, named by the "
        "sha256 of its index: `sha256:<hex>` (or `<repository>@sha256:<hex>`). The same tree always gives the same "
        "ref; any changed byte gives another. Repositories: a directory, an fsspec URL (az://container/path for "
        "Azure Blob) or an OCI registry (oci://host[:port]/name). The default repository is "
        "$MODELOPS_BUNDLE_REPOSITORY.\n\n"
        "Typical use: `REF=$(mops bundle push ./my-model --to az://bundles/team)`, then name REF (or the directory) "
        "as `bundle:` in a study spec."
    ),
    no_args_is_help=True,
)

REPO_HELP = "Repository URL: a directory, az://container/path, any fsspec URL, or oci://host[:port]/name."


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Turn bundle errors into a clear message and exit code 1 (no traceback)."""

    from modelops.bundles import BundleError

    try:
        yield
    except BundleError as exc:
        # The error boundary prints messages as plain text (never markup), so modelops[gcp] survives as written.
        fail(exc.message, hint=exc.hint)
    except OSError as exc:
        fail(f"{exc.__class__.__name__}: {exc}", hint="check the path or repository URL and your permissions")


def _size(n: int) -> str:
    if n < 0:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


@app.command("push")
def push_cmd(
    directory: Path = typer.Argument(Path("."), help="Project directory to bundle (default: the current one)."),
    to: str | None = typer.Option(None, "--to", help=REPO_HELP + " Default: $MODELOPS_BUNDLE_REPOSITORY."),
    as_json: bool = typer.Option(False, "--json", help="Print the ref, digest and upload counts as JSON."),
) -> None:
    """Push DIRECTORY as a bundle and print its ref. Uploads only files the repository lacks; idempotent."""
    from modelops.bundles import push

    with _errors():
        result = push(directory, to)
    stats = result.stats
    if as_json:
        print_json(
            {
                "ref": result.ref,
                "digest": result.digest,
                "files": len(result.index),
                "size": result.index.total_size,
                "uploaded": stats.uploaded,
                "reused": stats.reused,
                "bytes_uploaded": stats.bytes_uploaded,
                "already_present": stats.index_existed,
            }
        )
        return
    if stats.index_existed:
        err_console.print(f"unchanged: {len(result.index)} files already in the repository", highlight=False)
    else:
        err_console.print(
            f"pushed {len(result.index)} files ({_size(result.index.total_size)}): {stats.uploaded} uploaded "
            f"({_size(stats.bytes_uploaded)}), {stats.reused} already present",
            highlight=False,
        )
    typer.echo(result.ref)  # alone on stdout, so REF=$(mops bundle push) works


@app.command("pull")
def pull_cmd(
    ref: str = typer.Argument(..., help="Bundle ref: sha256:<hex> or <repository>@sha256:<hex>."),
    dest: Path | None = typer.Option(
        None, "--dest", help="Write the bundle into this new directory instead of the local bundle cache."
    ),
    source: str | None = typer.Option(None, "--from", help=REPO_HELP + " Default: the ref's, else the env."),
    as_json: bool = typer.Option(False, "--json", help="Print the path, digest and file count as JSON."),
) -> None:
    """Download and verify a bundle; print the directory holding it.

    Without --dest the bundle goes to the worker cache ($MODELOPS_BUNDLE_CACHE, default ~/.cache/modelops/bundles),
    exactly as workers fetch it. Every file is checked against the index and the index against the ref.
    """
    from modelops.bundles import fetch_to_cache, parse_ref, pull

    with _errors():
        if dest is not None:
            index = pull(ref, dest, repository=source)
            path, files, downloaded = dest.resolve(), len(index), True
        else:
            cached = fetch_to_cache(ref, repository=source)
            path, downloaded = cached.path, cached.downloaded
            files = sum(1 for p in path.rglob("*") if p.is_file())
        digest = parse_ref(ref).digest
    if as_json:
        print_json({"path": str(path), "digest": digest, "files": files, "downloaded": downloaded})
        return
    if not downloaded:
        err_console.print("already in the cache (verified when it was downloaded)", highlight=False)
    typer.echo(str(path))


@app.command("ls")
def ls_cmd(
    repository: str | None = typer.Argument(None, help=REPO_HELP + " Default: $MODELOPS_BUNDLE_REPOSITORY."),
    as_json: bool = typer.Option(False, "--json", help="Print the bundles as a JSON list."),
) -> None:
    """List the bundles in a repository, newest first."""
    from modelops.bundles import open_repository

    with _errors():
        repo = open_repository(repository)
        bundles = repo.list_bundles()
    if as_json:
        print_json(
            [
                {"ref": f"{repo.url}@{b.digest}", "digest": b.digest, "files": b.files, "size": b.size}
                | {"pushed_at": b.pushed_at, "source": b.source}
                for b in bundles
            ]
        )
        return
    if not bundles:
        console.print(f"no bundles in {repo.url}", highlight=False)
        return
    table = Table(
        title=repo.url, caption="digests shortened; --json prints full refs", show_header=True, header_style="bold"
    )
    for column in ("digest", "files", "size", "pushed at (UTC)", "source"):
        table.add_column(column, no_wrap=column != "source")
    for b in bundles:
        when = (b.pushed_at or "")[:16].replace("T", " ")
        table.add_row(b.digest[:19], str(b.files), _size(b.size), when, b.source or "")
    console.print(table)


@app.command("diff")
def diff_cmd(
    ref: str = typer.Argument(..., help="Bundle ref to compare against."),
    directory: Path = typer.Argument(Path("."), help="Project directory (default: the current one)."),
    source: str | None = typer.Option(None, "--from", help=REPO_HELP + " Default: the ref's, else the env."),
    as_json: bool = typer.Option(False, "--json", help="Print added, removed and modified paths as JSON."),
    exit_code: bool = typer.Option(False, "--exit-code", help="Exit with 1 when the directory differs (like git)."),
) -> None:
    """Show which files of DIRECTORY differ from bundle REF (added, removed, modified)."""
    from modelops.bundles import diff, scan

    with _errors():
        changes = diff(ref, directory, repository=source)
        current = scan(directory).digest
    if as_json:
        print_json(
            {
                "ref": ref,
                "directory_digest": current,
                "unchanged": changes.unchanged,
                "added": list(changes.added),
                "removed": list(changes.removed),
                "modified": list(changes.modified),
            }
        )
    elif changes.unchanged:
        console.print(f"{directory} is identical to the bundle ({current})", highlight=False, soft_wrap=True)
    else:
        for mark, style, paths in (("+", "green", changes.added), ("-", "red", changes.removed)):
            for p in paths:
                console.print(f"{mark} {p}", style=style, highlight=False)
        for p in changes.modified:
            console.print(f"M {p}", style="yellow", highlight=False)
        console.print(f"directory digest: {current}", highlight=False, soft_wrap=True)
    if exit_code and not changes.unchanged:
        raise typer.Exit(1)
