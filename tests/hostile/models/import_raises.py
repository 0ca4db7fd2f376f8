"""A model module that raises as it is imported (with markup in the message)."""

raise RuntimeError("cannot import: [bold red]boom[/] :smile: [/]")
