"""Infrastructure: Azure, AWS and Google Cloud (and existing clusters) provisioned with Pulumi, in stacks that read
each other.

Map of the package (pure first, effects last):

- ``modelops.core.naming`` (+ ``naming_clouds``), on the ground floor so specs and k8s share it: every generated
  name (resource groups, ACR, storage, AKS, node pools, namespaces, stacks and stack references, AWS and Google
  Cloud names), each valid for the rule it must meet.
- ``bindings``    frozen dataclasses one plane hands the next (ClusterBinding, RegistryBinding, StorageBinding,
                  DaskBinding, PostgresBinding, BindingOutputs), built from stack outputs with ``from_outputs``.
- ``plan``        CompiledPlan / StackPlan and the ProviderPlugin protocol (``compile`` pure, ``apply`` effects).
- ``providers``   ``azure`` (infra, registry and storage stacks, then the workspace and adaptive planes) and
                  ``kubeconfig`` (an existing cluster: the workspace and adaptive planes only); ``aws`` and ``gcp``
                  (EKS/GKE, ECR/Artifact Registry, S3/GCS); ``cloud`` is the CloudProvider protocol the cloud CLI
                  uses, so no command names a cloud.
- ``components``  thin Pulumi ComponentResources: ``cluster`` (RG + AKS), ``gpu_pool``, ``registry`` (ACR +
                  AcrPull), ``storage`` (account, containers, SAS); ``aws`` and ``gcp`` (each cloud's cluster,
                  registry and storage, and the programs their plans name); the workspace/adaptive planes add theirs.
- ``programs``    the Pulumi programs (closures over specs) each stack runs.
- ``automation``  the Automation API: backend, passphrase, stack create/select/up/destroy, outputs, errors with
                  exit codes (the tests drive it through a stand-in ``pulumi``: ``modelops_testing.fake_pulumi``).
- ``azure_cli``   the checks against the ``az`` CLI (login, supported AKS versions) used by ``mops infra doctor``.

State lives only in Pulumi stacks (``modelops-{component}-{env}[-{run}]``); there is no state file of our own.
"""
