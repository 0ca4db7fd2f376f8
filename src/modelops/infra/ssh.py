"""The SSH public key AKS requires for its Linux profile, by mode: ``ephemeral`` (generated once, the private half
discarded, the public half kept as a secret stack setting), ``path`` (a .pub file) or ``env`` (a variable)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from modelops.infra.automation import InfraError
from modelops.specs.provider import SshSpec

# Where the ephemeral key lives: a secret config value of the infra stack.
SSH_CONFIG_KEY = "modelops:sshPublicKey"


def generate_ephemeral_public_key() -> str:
    """A fresh ed25519 public key; the private key is never written anywhere durable (a private temp dir, deleted)."""
    keygen = shutil.which("ssh-keygen")
    if keygen:
        with tempfile.TemporaryDirectory(prefix="modelops-ssh-") as tmp:
            key = Path(tmp) / "key"
            result = subprocess.run(
                [keygen, "-q", "-t", "ed25519", "-N", "", "-C", "modelops-ephemeral", "-f", str(key)],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode == 0:
                return key.with_suffix(".pub").read_text(encoding="utf-8").strip()
    try:  # no ssh-keygen (minimal containers): the cryptography package, when present, does the same in memory
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    except ImportError:
        raise InfraError(
            "cannot generate an SSH key: ssh-keygen is not installed",
            hint="install openssh-client, or use ssh: {mode: path, pubkey_path: ~/.ssh/id_ed25519.pub}",
        ) from None
    public = Ed25519PrivateKey.generate().public_key()
    raw = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return f"{raw} modelops-ephemeral"


def check_public_key(text: str, source: str) -> str:
    key = text.strip()
    if not key.startswith(("ssh-ed25519 ", "ssh-rsa ", "ecdsa-sha2-")):
        raise InfraError(
            f"{source} does not hold an SSH public key (expected a line starting ssh-ed25519 or ssh-rsa)",
            hint="point it at a .pub file, never a private key",
        )
    return key


def public_key_from_spec(ssh: SshSpec) -> str | None:
    """The key for ``path``/``env`` modes, or None for ``ephemeral`` (the program reads it from stack config)."""
    if ssh.mode == "ephemeral":
        return None
    if ssh.mode == "path":
        path = ssh.path
        if not path.exists():
            raise InfraError(
                f"SSH public key {path} not found (ssh.mode is path)",
                hint=f"create one with `ssh-keygen -t ed25519 -f {str(path).removesuffix('.pub')}` or set "
                "ssh.pubkey_path",
            )
        return check_public_key(path.read_text(encoding="utf-8"), str(path))
    value = os.environ.get(ssh.env_var, "")
    if not value.strip():
        raise InfraError(
            f"SSH public key variable ${ssh.env_var} is empty (ssh.mode is env)",
            hint=f'export {ssh.env_var}="$(cat ~/.ssh/id_ed25519.pub)"',
        )
    return check_public_key(value, f"${ssh.env_var}")
