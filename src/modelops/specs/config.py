"""The global config, ``~/.modelops/config.yaml``, and the one function that says where ``~/.modelops`` is.

```yaml
environment: dev                 # embedded in every name and stack: modelops-infra-dev, modelops-dev-rg-alice
provider: azure                  # azure | kubeconfig | aws | gcp
provider_config: ~/.modelops/providers/azure.yaml   # optional: used when a command is given no --config
pulumi_backend_url: null         # default file://~/.modelops/pulumi/backend; azblob://... after `mops infra bootstrap`
organization: null               # Pulumi Cloud organisation; leave empty for file:// and azblob:// backends
username: null                   # overrides $USER in per-user names (resource group, registry)
```

Every path under ``~/.modelops`` comes from :func:`modelops_home`, which honours ``MODELOPS_HOME`` so tests (and
users who want several independent setups) never touch the real home directory.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import field_validator

from modelops.core.naming import ENVIRONMENT_RULE
from modelops.specs.base import SpecError, SpecModel, parse_spec, read_yaml

HOME_ENV = "MODELOPS_HOME"
ENVIRONMENT_HELP = "use 1-10 lowercase letters and digits starting with a letter (for example dev, staging, prod)"


def modelops_home() -> Path:
    """``$MODELOPS_HOME`` if set, else ``~/.modelops``. Not created here; writers create what they need."""
    override = os.environ.get(HOME_ENV, "").strip()
    return Path(override).expanduser() if override else Path.home() / ".modelops"


def config_path() -> Path:
    """Where the global config lives: ``<modelops home>/config.yaml``."""
    return modelops_home() / "config.yaml"


class GlobalConfig(SpecModel):
    """The user's global settings; every field has a default, so a missing file means "all defaults"."""

    environment: str = "dev"
    provider: Literal["azure", "kubeconfig", "aws", "gcp"] = "azure"
    provider_config: str | None = None
    pulumi_backend_url: str | None = None
    organization: str | None = None
    username: str | None = None

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: str) -> str:
        if not ENVIRONMENT_RULE.match(value):
            raise ValueError(f"environment {value!r} is not valid: {ENVIRONMENT_HELP}")
        return value

    @field_validator("pulumi_backend_url")
    @classmethod
    def _backend(cls, value: str | None) -> str | None:
        if value is None:
            return None
        schemes = ("file://", "azblob://", "s3://", "gs://", "https://")
        if not value.startswith(schemes):
            raise ValueError(
                f"{value!r} is not a Pulumi backend URL; use file:///path, azblob://container?storage_account=NAME, "
                "or https://api.pulumi.com (leave empty for the local default)"
            )
        return value

    @field_validator("username")
    @classmethod
    def _username(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("username must not be empty; remove the key to use $USER")
        return value


def load_config(path: Path | None = None) -> GlobalConfig:
    """Read the global config; a missing file gives the defaults, an invalid one a SpecError naming the field."""
    path = path or config_path()
    if not path.exists():
        return GlobalConfig()
    data = read_yaml(path)
    if data is None:
        return GlobalConfig()
    return parse_spec(GlobalConfig, data, source=str(path))


def save_config(config: GlobalConfig, path: Path | None = None) -> Path:
    """Write the global config with every key spelled out, so the file documents what can be set."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)  # atomic: a crash never leaves a half-written config
    return path


def update_config(config: GlobalConfig, key: str, value: str) -> GlobalConfig:
    """A copy of ``config`` with ``key`` set from a command-line string (``"null"`` or ``""`` clears it)."""
    if key not in GlobalConfig.model_fields:
        raise SpecError("config", [(key, f"unknown setting; expected one of {', '.join(GlobalConfig.model_fields)}")])
    data = config.model_dump()
    data[key] = None if value.strip().lower() in ("", "null", "none") else value
    return parse_spec(GlobalConfig, data, source="config")


def resolve_username(config: GlobalConfig | None = None, spec_username: str | None = None) -> str:
    """Who owns the per-user resources: the global config's override, else the provider spec's ``username``, else
    ``$USER`` / ``$USERNAME`` / the login name."""
    if config is not None and config.username:
        return config.username
    if spec_username:
        return spec_username
    for var in ("USER", "USERNAME"):
        if os.environ.get(var, "").strip():
            return os.environ[var].strip()
    try:
        return getpass.getuser()
    except Exception:  # getpass raises OSError/KeyError in containers without a passwd entry
        return "user"
