"""The provider seam holds: outside the providers package (and the per-cloud modules it loads), no code branches on
AWS or Google Cloud. Checked on the syntax tree of every module of ``modelops``: no comparison with "aws"/"gcp", no
reference to the AWS/GCP provider classes, no import of pulumi_aws/pulumi_gcp."""

from __future__ import annotations

import ast
from pathlib import Path

import modelops

SRC = Path(modelops.__file__).resolve().parent
# Where a cloud may be named: the providers package, each cloud's own modules, and the registrations of its config
# model: ``PROVIDER_SPECS`` in specs/provider.py (provider configs) and the ``RuntimeProvider`` union in
# specs/runtime.py (a Runtime document's ``provider: {name: ...}``).
ALLOWED = {
    "infra/providers",
    "infra/components/aws.py",
    "infra/components/gcp.py",
    "core/naming_clouds.py",
    "specs/provider_clouds.py",
}
REGISTRATION = {
    "specs/provider.py": {"AwsProviderSpec", "GcpProviderSpec"},
    "specs/runtime.py": {"AwsProviderSpec", "GcpProviderSpec"},
}
CLOUDS = {"aws", "gcp"}
CLASSES = {"AwsCloud", "GcpCloud", "AwsProviderSpec", "GcpProviderSpec"}
MODULES = ("pulumi_aws", "pulumi_gcp", "modelops.infra.providers.aws", "modelops.infra.providers.gcp")


def _allowed(rel: str) -> bool:
    return any(rel == a or rel.startswith(a + "/") for a in ALLOWED)


def _strings(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return {s for e in node.elts for s in _strings(e)}
    return set()


def violations(path: Path, rel: str) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        where = f"{rel}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Compare):
            named = set().union(*(_strings(n) for n in (node.left, *node.comparators)))
            if named & CLOUDS:
                found.append(f"{where}: compares with {sorted(named & CLOUDS)}")
        elif isinstance(node, ast.match_case):
            named = {c.value.value for c in ast.walk(node.pattern) if isinstance(c, ast.MatchValue)}
            if {str(n) for n in named} & CLOUDS:
                found.append(f"{where}: matches a cloud name")
        elif isinstance(node, ast.Name | ast.alias):
            name = node.id if isinstance(node, ast.Name) else (node.asname or node.name)
            if name in CLASSES and name not in REGISTRATION.get(rel, set()):
                found.append(f"{where}: refers to {name}")
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if any(n.startswith(MODULES) for n in names):
                found.append(f"{where}: imports {names}")
    return found


def test_no_cloud_conditionals_outside_the_providers_package() -> None:
    found = []
    checked = 0
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if _allowed(rel):
            continue
        checked += 1
        found += violations(path, rel)
    assert checked > 50  # the walk really covered the package
    assert found == [], "\n".join(found)


def test_the_check_catches_what_it_is_for(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import pulumi_aws\n"
        "from modelops.specs.provider_clouds import AwsProviderSpec\n"
        "def f(spec):\n"
        "    if spec.provider == 'aws':\n"
        "        return 1\n"
        "    if spec.provider in ('gcp', 'azure'):\n"
        "        return 2\n"
        "    match spec.provider:\n"
        "        case 'gcp':\n"
        "            return 3\n"
    )
    found = violations(bad, "cli/bad.py")
    assert len(found) == 5, found
