"""The input boundary: every file the CLI reads from a user goes through here.

A file is read only if it is a regular file (a FIFO or a device would block or never end), no larger than a limit
(a spec is kilobytes; a multi-gigabyte "spec" is a mistake), and decoded as UTF-8 (a UTF-8 byte-order mark is
allowed) with an error that names the file, the byte and where it is. YAML is loaded with PyYAML's safe loader plus
the checks PyYAML lacks: nesting depth and the size after alias expansion are bounded (an alias bomb or a recursive
alias is refused before anything expands it), duplicate keys are refused (PyYAML keeps the last one silently) and only
plain-data tags are accepted (``!!binary``, ``!!set``, ``!!python/...`` and custom tags are refused).

Every refusal is an :class:`InputError` (a :class:`~modelops.specs.base.SpecError`), so the CLI's error boundary
prints it as one message with the file name and a non-zero exit code.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from modelops.specs.base import SpecError

MiB = 1024 * 1024
# Limits (documented in docs/study-spec.md, "Limits"). A real spec is a few kilobytes; observed data a few megabytes.
MAX_SPEC_BYTES = 2 * MiB
MAX_DATA_BYTES = 256 * MiB
MAX_YAML_DEPTH = 64
MAX_YAML_NODES = 200_000  # after alias expansion: a billion-laughs document is refused long before it expands
MAX_NUMBER_CHARS = 100  # a scalar resolved as int/float longer than this is refused (no 10,000-digit integers)

_CORE = "tag:yaml.org,2002:"
ALLOWED_TAGS = frozenset(_CORE + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "merge"))
_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32 (big-endian)"),
    (b"\xff\xfe\x00\x00", "UTF-32 (little-endian)"),
    (b"\xfe\xff", "UTF-16 (big-endian)"),
    (b"\xff\xfe", "UTF-16 (little-endian)"),
)


class InputError(SpecError):
    """A user's file could not be read as what it should be; the message names the file and the problem."""

    def __init__(self, source: str | Path, message: str):
        # One line, "<file>: <problem>": the problem is about the file as a whole, not about a field in it.
        ValueError.__init__(self, f"{source}: {message}")
        self.source = str(source)
        self.problems = [("", message)]
        self.reason = message


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _size(n: int) -> str:
    return f"{n / MiB:.1f} MiB" if n >= MiB else f"{n} bytes"


def read_bytes(path: str | Path, *, limit: int = MAX_SPEC_BYTES, what: str = "file") -> bytes:
    """The bytes of a regular file no larger than ``limit``; InputError (naming the file) otherwise."""
    path = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer for ever. It changes nothing for
        # a regular file, and anything else is refused by the fstat below before a read is attempted.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError(path, "file not found; check the path") from None
    except PermissionError:
        raise InputError(path, f"permission denied reading the {what}; check the file's permissions") from None
    except OSError as exc:
        raise InputError(path, f"cannot open the {what}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(path, f"is {_kind(info.st_mode)}, not a regular file; give the path of the {what}")
        if info.st_size > limit:
            raise InputError(
                path, f"is {_size(info.st_size)}, over the {_size(limit)} limit for a {what}; is this the right file?"
            )
        chunks: list[bytes] = []
        total = 0
        while True:  # read at most limit + 1 bytes: a file growing while we read cannot make us read for ever
            chunk = os.read(fd, min(1 * MiB, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise InputError(path, f"grew over the {_size(limit)} limit for a {what} while being read")
        return b"".join(chunks)
    except OSError as exc:
        raise InputError(path, f"cannot read the {what}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def decode_text(data: bytes, source: str | Path, what: str = "file") -> str:
    """UTF-8 text (a UTF-8 byte-order mark is dropped); InputError saying which encoding it looks like otherwise."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            raise InputError(source, f"is {name} text (it starts with a {name} byte-order mark); save it as UTF-8")
    if b"\x00" in data:  # before decoding: UTF-16 without a byte-order mark is mostly NULs, and would fail oddly
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise InputError(
            source, f"contains NUL bytes from line {line} (a binary file, or UTF-16 without a byte-order mark?)"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputError(
            source,
            f"is not UTF-8: byte 0x{data[exc.start]:02x} at line {line}, column {column} cannot be decoded "
            f"(Latin-1/Windows-1252 text or a binary file?); save the {what} as UTF-8",
        ) from None
    return text


def read_text(path: str | Path, *, limit: int = MAX_SPEC_BYTES, what: str = "file") -> str:
    """A regular UTF-8 text file, size-limited (see :func:`read_bytes` and :func:`decode_text`)."""
    return decode_text(read_bytes(path, limit=limit, what=what), path, what)


# --- YAML ------------------------------------------------------------------------------------------------------------


class _Refused(yaml.YAMLError):
    def __init__(self, message: str, node: Node | None = None):
        super().__init__(message)
        self.message = message
        self.mark = node.start_mark if node is not None else None


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with a bound on nesting while composing (its composer recurses once per level)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:  # type: ignore[override]
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                mark = self.peek_event().start_mark
                error = _Refused(f"nested deeper than {MAX_YAML_DEPTH} levels; a spec needs a handful")
                error.mark = mark
                raise error
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _short(value: str, limit: int = 60) -> str:
    return value if len(value) <= limit else value[: limit - 3] + "..."


def _check_graph(root: Node) -> None:
    """Refuse recursive aliases, alias bombs, deep expansions, duplicate keys and non-plain tags (before building)."""
    sizes: dict[int, tuple[int, int]] = {}
    visiting: set[int] = set()

    def tag_ok(node: Node) -> None:
        if node.tag not in ALLOWED_TAGS:
            tag = node.tag.replace(_CORE, "!!")
            raise _Refused(f"the tag {tag} is not allowed in a spec; write plain values (text, numbers, lists)", node)
        numeric = isinstance(node, ScalarNode) and node.tag in (_CORE + "int", _CORE + "float")
        if numeric and len(node.value) > MAX_NUMBER_CHARS:
            raise _Refused(f"a number of {len(node.value)} characters; numbers are at most {MAX_NUMBER_CHARS}", node)

    def too_deep(node: Node) -> _Refused:
        return _Refused(f"nested deeper than {MAX_YAML_DEPTH} levels once aliases are expanded", node)

    def size(node: Node, depth: int) -> tuple[int, int]:
        """(values, height) of ``node`` expanded; refuses as soon as a bound is crossed."""
        key = id(node)
        if key in sizes:
            # An alias of an already-measured node: its expansion counts again (that is what an alias bomb exploits),
            # and its height adds to the depth it is used at (aliases nested in aliases make deep documents).
            count, height = sizes[key]
            if depth + height - 1 > MAX_YAML_DEPTH:
                raise too_deep(node)
            return count, height
        if key in visiting:
            raise _Refused("recursive alias: an anchor is used inside itself; write the value out instead", node)
        if depth > MAX_YAML_DEPTH:
            raise too_deep(node)
        tag_ok(node)
        visiting.add(key)
        total, height = 1, 1
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            seen: dict[tuple[str, str], int] = {}
            for k, v in node.value:
                if isinstance(k, ScalarNode) and k.tag != _CORE + "merge":
                    ident = (k.tag, k.value)
                    if ident in seen:
                        raise _Refused(
                            f"duplicate key {_short(k.value)!r} (first at line {seen[ident]}); keep one of them", k
                        )
                    seen[ident] = k.start_mark.line + 1
                children += (k, v)
        for child in children:
            count, child_height = size(child, depth + 1)
            total += count
            height = max(height, child_height + 1)
            if total > MAX_YAML_NODES:
                break
        visiting.discard(key)
        if total > MAX_YAML_NODES:
            raise _Refused(
                f"expands to more than {MAX_YAML_NODES:,} values (an alias bomb, or a spec far larger than any study "
                "needs)",
                node,
            )
        sizes[key] = (total, height)
        return total, height

    size(root, 1)


def load_yaml(text: str, source: str | Path = "spec") -> Any:
    """One YAML document as plain data, with the bounds and refusals of this module (InputError otherwise)."""
    loader: _BoundedLoader | None = None
    try:
        loader = _BoundedLoader(text)  # its reader refuses control characters at once (a ReaderError)
        node = loader.get_single_node()
        if node is None:
            return None
        _check_graph(node)
        return loader.construct_document(node)
    except _Refused as exc:
        where = f"line {exc.mark.line + 1}, column {exc.mark.column + 1}: " if exc.mark else ""
        raise InputError(source, f"{where}{exc.message}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise InputError(source, f"{where}invalid YAML ({getattr(exc, 'problem', None) or exc})") from None
    except (ValueError, OverflowError, RecursionError) as exc:  # e.g. a date like 2024-13-45, an out-of-range value
        raise InputError(source, f"a value cannot be read: {exc}") from None
    finally:
        if loader is not None:
            loader.dispose()


def read_yaml_file(path: str | Path, *, limit: int = MAX_SPEC_BYTES, what: str = "spec") -> Any:
    """Read a YAML file through the whole boundary: regular file, size limit, UTF-8, bounded safe YAML."""
    return load_yaml(read_text(path, limit=limit, what=what), source=path)


# --- command-line locations ------------------------------------------------------------------------------------------

_SCHEDULER = re.compile(
    r"^(?:(?P<scheme>[a-z][a-z0-9+.-]*)://)?(?P<host>\[[0-9a-fA-F:]+\]|[^\s/:\[\]]+):(?P<port>\d{1,5})/?$"
)
SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")


def check_scheduler_address(address: str) -> str | None:
    """Why ``address`` is not a Dask scheduler address (``tcp://host:8786``), or None when it looks like one."""
    match = _SCHEDULER.match(address.strip())
    if match is None:
        return f"{address!r} is not a scheduler address; write it as tcp://host:8786"
    scheme = match.group("scheme")
    if scheme is not None and scheme not in SCHEDULER_SCHEMES:
        return f"{address!r}: unknown protocol {scheme!r}; use one of {', '.join(SCHEDULER_SCHEMES)} (tcp://host:8786)"
    if not 0 < int(match.group("port")) < 65536:
        return f"{address!r}: port {match.group('port')} is out of range (1-65535)"
    return None


def check_runs_dir(value: str, *, write: bool = True) -> None:
    """Refuse a runs directory that cannot work, before a run starts: unknown protocol, a file in the way, read-only.

    Object-store URLs are only checked for a known protocol here (their credentials are checked by the first write).
    """
    import fsspec

    if "://" in value:
        protocol = value.split("://", 1)[0]
        if protocol != "file":
            try:
                fsspec.get_filesystem_class(protocol)
            except (ValueError, ImportError) as exc:
                raise InputError(
                    value, f"runs directory: {exc}; give a local path or a URL such as az://container/runs"
                ) from None
            return
        value = value.split("://", 1)[1]
    path = Path(value).expanduser()
    probe = path
    while not probe.exists():  # the first existing ancestor decides: is it a directory, can we create inside it?
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise InputError(value, f"runs directory: {probe} is a file, not a directory; give a directory path")
    if write and probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(value, f"runs directory: {probe} is not writable; choose a directory you can write to")


def redacted_spec_bytes(path: Any) -> bytes:
    """What a run keeps as its spec.yaml: the spec file read through the input boundary, secrets redacted."""
    from modelops.core.redaction import redact_spec

    return redact_spec(read_text(path, what="spec")).encode("utf-8")
