"""Stack programs under Pulumi mocks: stack references, exports, the state backend; SSH key modes; az parsing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pulumi
import pytest

from modelops.infra import azure_cli, programs
from modelops.infra.automation import AzureLoginMissing, InfraError
from modelops.infra.components.state_backend import StateBackend, StateBackendConfig
from modelops.infra.providers.azure import registry_stack
from modelops.infra.ssh import generate_ephemeral_public_key, public_key_from_spec
from modelops.specs.provider import SshSpec, parse_provider
from modelops_testing.fake_pulumi import RecordingMocks

SUB = "00000000-0000-0000-0000-000000000000"
INFRA_REF = "organization/modelops-infra/modelops-infra-dev"


class Mocks(RecordingMocks):
    def computed(self, args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
        inputs = args.inputs
        if args.typ == "pulumi:pulumi:StackReference":
            infra = {
                "resource_group": "modelops-dev-rg-alice",
                "location": "eastus2",
                "kubelet_object_id": "kubelet-oid",
                "oidc_issuer_url": "https://eastus2.oic.prod-aks.azure.com/tenant/issuer/",
            }
            return {"outputs": infra, "secretOutputNames": []}
        if args.typ == "azure-native:containerregistry:Registry":
            return {"name": inputs["registryName"], "loginServer": f"{inputs['registryName']}.azurecr.io"}
        if args.typ == "azure-native:storage:StorageAccount":
            return {"name": inputs["accountName"]}
        if args.typ == "azure-native:storage:BlobContainer":
            return {"name": inputs["containerName"]}
        if args.typ == "azure-native:resources:ResourceGroup":
            return {"name": inputs["resourceGroupName"]}
        if args.typ == "random:index/randomString:RandomString":
            return {"result": "zz99yy88"}
        return {}


@pytest.fixture
def mocks(fresh_event_loop: object) -> Mocks:
    m = Mocks()
    pulumi.runtime.set_mocks(m, project="modelops-registry", stack="modelops-registry-dev", preview=False)
    return m


def _spec() -> Any:
    return parse_provider({"subscription_id": SUB, "location": "eastus2", "acr": {"enabled": True}})


def test_registry_program_reads_the_infra_stack(mocks: Mocks) -> None:
    plan = registry_stack(_spec(), "dev", "alice", organization=None)
    assert plan.reads == {"infra": INFRA_REF}

    @pulumi.runtime.test
    def run() -> None:  # the test decorator waits for every registration the program makes
        programs.build(plan, ctx=None)()  # type: ignore[arg-type]

    run()
    (ref,) = mocks.of_type("pulumi:pulumi:StackReference")
    assert ref.name == INFRA_REF
    (acr,) = mocks.of_type("azure-native:containerregistry:Registry")
    assert acr.inputs["resourceGroupName"] == "modelops-dev-rg-alice"
    assert acr.inputs["location"] == "eastus2"
    assert acr.inputs["registryName"] == "modelopsdevacralice"
    (role,) = mocks.of_type("azure-native:authorization:RoleAssignment")
    assert role.inputs["principalId"] == "kubelet-oid"


def test_storage_program_reads_the_infra_stack(mocks: Mocks) -> None:
    from datetime import UTC, datetime

    from modelops.infra.providers.azure import storage_stack

    plan = storage_stack(_spec(), "dev", organization="acme")
    assert plan.reads == {"infra": "acme/modelops-infra/modelops-infra-dev"}

    @pulumi.runtime.test
    def run() -> None:
        programs.storage_program(plan, now=datetime(2026, 3, 1, tzinfo=UTC))()

    run()
    (ref,) = mocks.of_type("pulumi:pulumi:StackReference")
    assert ref.name == "acme/modelops-infra/modelops-infra-dev"
    (account,) = mocks.of_type("azure-native:storage:StorageAccount")
    assert account.inputs["resourceGroupName"] == "modelops-dev-rg-alice"
    assert account.inputs["accountName"] == "mopsdevstzz99yy88"
    # Workload identity is the default: an identity in the infra stack's resource group, a Blob Data role on each
    # container, shared-key access off, and no SAS asked for.
    (identity,) = mocks.of_type("azure-native:managedidentity:UserAssignedIdentity")
    assert identity.inputs["resourceGroupName"] == "modelops-dev-rg-alice"
    assert identity.inputs["resourceName"] == "modelops-dev-workload"
    assert len(mocks.of_type("azure-native:authorization:RoleAssignment")) == 3
    assert account.inputs["allowSharedKeyAccess"] is False
    assert not [c for c in mocks.calls if c.token == "azure-native:storage:listStorageAccountSAS"]


@pulumi.runtime.test
def test_state_backend_is_locked_and_versioned(mocks: Mocks) -> Any:
    backend = StateBackend("state", StateBackendConfig(environment="dev", location="eastus2"))

    def check(values: list[Any]) -> None:
        url, *_ = values
        assert url == "azblob://pulumi-state-dev?storage_account=mopsdevstatezz99yy88"
        (rg,) = mocks.of_type("azure-native:resources:ResourceGroup")
        assert rg.inputs["resourceGroupName"] == "modelops-dev-state-rg"
        (lock,) = mocks.of_type("azure-native:authorization:ManagementLockAtResourceGroupLevel")
        assert lock.inputs["level"] == "CanNotDelete"
        (props,) = mocks.of_type("azure-native:storage:BlobServiceProperties")
        assert props.inputs["isVersioningEnabled"] is True
        (account,) = mocks.of_type("azure-native:storage:StorageAccount")
        assert account.inputs["allowBlobPublicAccess"] is False

    # Wait for every resource checked: the mocks record each one when its registration completes, and the
    # versioning properties once registered after the URL and the lock had resolved (a CI failure).
    return pulumi.Output.all(backend.backend_url, backend.lock.id, backend.versioning.id).apply(check)


def test_ephemeral_key_is_public_only() -> None:
    key = generate_ephemeral_public_key()
    assert key.startswith("ssh-ed25519 ") and "PRIVATE" not in key
    assert generate_ephemeral_public_key() != key


def test_ssh_modes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert public_key_from_spec(SshSpec()) is None
    pub = tmp_path / "id.pub"
    with pytest.raises(InfraError, match="not found"):
        public_key_from_spec(SshSpec(mode="path", pubkey_path=str(pub)))
    pub.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    with pytest.raises(InfraError, match="public key"):
        public_key_from_spec(SshSpec(mode="path", pubkey_path=str(pub)))
    pub.write_text("ssh-ed25519 AAAAC3 me@host\n")
    assert public_key_from_spec(SshSpec(mode="path", pubkey_path=str(pub))) == "ssh-ed25519 AAAAC3 me@host"
    monkeypatch.delenv("MY_KEY", raising=False)
    with pytest.raises(InfraError, match=r"\$MY_KEY"):
        public_key_from_spec(SshSpec(mode="env", pubkey_env="MY_KEY"))
    monkeypatch.setenv("MY_KEY", "ssh-rsa AAAAB3 ci")
    assert public_key_from_spec(SshSpec(mode="env", pubkey_env="MY_KEY")) == "ssh-rsa AAAAB3 ci"


def test_infra_program_fails_before_pulumi_on_missing_key(tmp_path: Path) -> None:
    spec = parse_provider(
        {"subscription_id": SUB, "location": "eastus2", "ssh": {"mode": "path", "pubkey_path": str(tmp_path / "x")}}
    )
    from modelops.infra.providers.azure import infra_stack

    with pytest.raises(InfraError, match="not found"):
        programs.build(infra_stack(spec, "dev", "alice"), ctx=None)  # type: ignore[arg-type]


def _fake_az(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stdout: str, code: int = 0, stderr: str = "") -> None:
    az = tmp_path / "az"
    az.write_text(
        f"#!{sys.executable} -S\nimport sys\nsys.stdout.write({stdout!r})\nsys.stderr.write({stderr!r})\n"
        f"sys.exit({code})\n"
    )
    az.chmod(0o755)
    monkeypatch.setenv("MODELOPS_AZ", str(az))


def test_aks_versions_both_formats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_az(
        tmp_path,
        monkeypatch,
        json.dumps({"orchestrators": [{"orchestratorVersion": "1.29.7"}, {"orchestratorVersion": "1.30.10"}]}),
    )
    assert azure_cli.aks_versions("eastus2") == ["1.30.10", "1.29.7"]
    _fake_az(tmp_path, monkeypatch, json.dumps({"values": [{"patchVersions": {"1.33.2": {}, "1.33.10": {}}}]}))
    assert azure_cli.aks_versions("eastus2") == ["1.33.10", "1.33.2"]


def test_az_missing_or_logged_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELOPS_AZ", "")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(AzureLoginMissing, match="not found"):
        azure_cli.current_account()
    _fake_az(tmp_path, monkeypatch, "", code=1, stderr="ERROR: Please run 'az login' to setup account.\n")
    with pytest.raises(AzureLoginMissing, match="not logged in"):
        azure_cli.current_account()


def test_service_principal_needs_its_secret_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = parse_provider(
        {
            "subscription_id": SUB,
            "location": "eastus2",
            "auth": {"use_azure_cli": False, "service_principal": {"client_id": SUB, "client_secret_env": "SP_SECRET"}},
        }
    )
    monkeypatch.delenv("SP_SECRET", raising=False)
    with pytest.raises(AzureLoginMissing, match=r"\$SP_SECRET"):
        azure_cli.check_login(spec)
    monkeypatch.setenv("SP_SECRET", "s3cret")
    assert azure_cli.check_login(spec) is None
    from modelops.infra.providers.azure import azure_stack_config, service_principal_secret

    assert azure_stack_config(spec)["azure-native:clientId"] == SUB
    secret = service_principal_secret(spec)["azure-native:clientSecret"]
    assert secret.secret is True and secret.value == "s3cret"


def test_infra_program_uses_the_ephemeral_key_and_exports_a_secret_kubeconfig(
    mocks: Mocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64

    from modelops.infra.providers.azure import infra_stack

    kubeconfig = "apiVersion: v1\nkind: Config\n"

    def call(args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {"kubeconfigs": [{"name": "u", "value": base64.b64encode(kubeconfig.encode()).decode()}]}

    monkeypatch.setattr(mocks, "call", call)
    pulumi.runtime.set_all_config({"modelops:sshPublicKey": "ssh-ed25519 AAAA ephemeral"}, ["modelops:sshPublicKey"])
    exported: dict[str, Any] = {}
    monkeypatch.setattr(programs.pulumi, "export", lambda k, v: exported.__setitem__(k, v))
    plan = infra_stack(parse_provider({"subscription_id": SUB, "location": "eastus2"}), "dev", "alice")
    seen: dict[str, Any] = {}

    @pulumi.runtime.test
    def run() -> Any:
        programs.build(plan, ctx=None)()  # type: ignore[arg-type]

        async def secret() -> bool:
            return await exported["kubeconfig"].is_secret()

        return pulumi.Output.all(exported["kubeconfig"], pulumi.Output.from_input(secret())).apply(
            lambda v: seen.update(kubeconfig=v[0], secret=v[1])
        )

    run()
    assert seen == {"kubeconfig": kubeconfig, "secret": True}
    assert exported["kubernetes_version"] == plan.config["cluster"]["kubernetes_version"]
    (aks,) = mocks.of_type("azure-native:containerservice:ManagedCluster")
    # the key came from a secret setting, so Pulumi keeps the whole Linux profile secret
    from pulumi.runtime import rpc

    profile = aks.inputs["linuxProfile"]
    assert profile[rpc._special_sig_key] == rpc._special_secret_sig
    assert profile["value"]["ssh"]["publicKeys"][0]["keyData"] == "ssh-ed25519 AAAA ephemeral"
    assert aks.inputs["resourceName"] == "modelops-dev-aks-alice"
