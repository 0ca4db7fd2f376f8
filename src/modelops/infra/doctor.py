"""`mops infra doctor`: every precondition of `mops infra up`, checked without changing anything."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from modelops.core import naming
from modelops.infra import automation, azure_cli
from modelops.infra.providers import cloud_for, provider_config_path
from modelops.infra.providers.cloud import CloudProvider
from modelops.infra.ssh import public_key_from_spec
from modelops.specs.base import SpecError
from modelops.specs.config import GlobalConfig, config_path, load_config, resolve_username
from modelops.specs.provider import AzureProviderSpec, KubeconfigProviderSpec, load_provider


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str
    fix: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)


def _error(name: str, exc: Exception) -> Check:
    if isinstance(exc, automation.InfraError):
        return Check(name, "fail", exc.message, exc.hint)
    return Check(name, "fail", str(exc), None)


def run_checks(config_file: Path | None) -> list[Check]:
    checks: list[Check] = []
    try:
        config = load_config()
        checks.append(
            Check(
                "global config",
                "ok",
                f"{config_path()}: environment {config.environment}, backend "
                f"{config.pulumi_backend_url or automation.default_backend_url()}",
            )
        )
    except SpecError as exc:
        checks.append(Check("global config", "fail", str(exc), "fix the file or recreate it: mops config init --force"))
        config = GlobalConfig()

    spec: AzureProviderSpec | None = None
    cloud: CloudProvider | None = None  # another cloud's provider, which brings its own checks
    try:
        path = provider_config_path(config_file, config)
        loaded = load_provider(path)
        if isinstance(loaded, AzureProviderSpec):
            spec = loaded
            user = resolve_username(config, spec.username)
            rg = spec.resource_group or naming.resource_group_name(config.environment, user)
            checks.append(Check("provider config", "ok", f"{path}: resource group {rg}, region {spec.location}"))
        elif isinstance(loaded, KubeconfigProviderSpec):
            checks.append(Check("provider config", "warn", f"{path} is a kubeconfig provider: no Azure to check"))
        else:
            cloud = cloud_for(loaded)
            checks.append(Check("provider config", "ok", f"{path}: provider {cloud.name}"))
    except (SpecError, automation.InfraError) as exc:
        checks.append(_error("provider config", exc))

    try:
        command = automation.find_pulumi()
        checks.append(Check("pulumi CLI", "ok", f"{command.command} {command.version}"))
    except automation.InfraError as exc:
        checks.append(_error("pulumi CLI", exc))

    try:
        automation.load_passphrase(create=False)
        source = "$" + automation.PASSPHRASE_ENV if os.environ.get(automation.PASSPHRASE_ENV) else "the passphrase file"
        checks.append(Check("secrets passphrase", "ok", f"from {source}"))
    except automation.PassphraseMissing as exc:
        if automation.passphrase_path().exists():
            checks.append(_error("secrets passphrase", exc))
        else:
            checks.append(
                Check(
                    "secrets passphrase",
                    "warn",
                    f"none yet; the first `mops infra up` creates {automation.passphrase_path()} (mode 0600)",
                    "back that file up: without it the stacks' secrets cannot be read",
                )
            )

    if cloud is not None:
        return checks + cloud.doctor(config)
    if spec is None:
        return checks
    try:
        public_key_from_spec(spec.ssh)
        checks.append(Check("ssh key", "ok", f"mode {spec.ssh.mode}"))
    except automation.InfraError as exc:
        checks.append(_error("ssh key", exc))

    logged_in = False
    try:
        account = azure_cli.check_login(spec)
        who = f"{account.user} on subscription {account.subscription_id}" if account else "service principal"
        checks.append(Check("azure login", "ok", who))
        logged_in = True
    except automation.InfraError as exc:
        checks.append(_error("azure login", exc))

    if not logged_in or not spec.auth.use_azure_cli:
        checks.append(Check("aks version", "warn", f"{spec.aks.version}: not checked (needs a working az login)"))
        return checks
    try:
        offered = azure_cli.aks_versions(spec.location)
        if spec.aks.version in offered:
            checks.append(Check("aks version", "ok", f"{spec.aks.version} is offered in {spec.location}"))
        else:
            newest = ", ".join(offered[:4]) or "none"
            checks.append(
                Check(
                    "aks version",
                    "fail",
                    f"{spec.aks.version} is not offered in {spec.location} (newest: {newest})",
                    "set aks.version to one of the listed versions",
                )
            )
    except automation.InfraError as exc:
        checks.append(_error("aks version", exc))
    return checks
