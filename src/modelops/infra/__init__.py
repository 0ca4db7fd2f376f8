"""Infrastructure: Azure, AWS and Google Cloud (and existing clusters) provisioned with Pulumi, in stacks that read
each other.

Map of the package (pure first, effects last):

- ``modelops.core.naming`` (+ ``naming_clouds``), on the ground floor so specs and k8s share it: every generated
  name (resource groups, ACR, storage, AKS, node pools, namespaces, stacks and stack references, AWS and Google
  Cloud names), each valid for the rule it must meet.
- ``bindings``    frozen dataclasses one plane hands the next (ClusterBinding, RegistryBinding, StorageBinding,
                  DaskBinding, PostgresBinding), built from stack outputs with ``from_outputs``.
- ``plan``        StackPlan: one stack a provider planned, purely, before anything is applied.
- ``providers``   ``azure`` (RG + AKS, ACR, blob storage), ``aws`` and ``gcp`` (EKS/GKE, ECR/Artifact Registry,
                  S3/GCS): the infra, registry and storage stacks; ``cloud`` is the CloudProvider protocol the
                  planes use, so no command names a cloud. An existing cluster (a kubeconfig) has no cloud stacks.
- ``naming_clouds`` the AWS and Google Cloud names (buckets, clusters, repositories), each valid for its rule.
- ``components``  thin Pulumi ComponentResources: ``cluster`` (RG + AKS), ``gpu_pool``, ``registry`` (ACR +
                  AcrPull), ``storage`` (account, containers, SAS); ``aws`` and ``gcp`` (each cloud's cluster,
                  registry and storage, and the programs their plans name); the workspace/adaptive planes add theirs.
- ``programs``    the Pulumi programs (closures over specs) each stack runs.
- ``automation``  the Automation API: backend, passphrase, stack create/select/up/destroy, outputs, errors with
                  exit codes (the tests drive it through a stand-in ``pulumi``: ``modelops_testing.fake_pulumi``).
- ``azure_cli``   the checks against the ``az`` CLI (login, supported AKS versions) used by ``mops infra doctor``.

State lives only in Pulumi stacks (``modelops-{component}-{env}[-{run}]``); there is no state file of our own.
"""
