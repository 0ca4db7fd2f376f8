"""The ground floor: small definitions every layer shares, importing nothing of ModelOps above it.

- ``naming``: every name ModelOps generates on Azure, Kubernetes and Pulumi, and the rules (regular expressions)
  names and labels must meet: DNS-1123 labels, Kubernetes label keys and values, environments.
- ``naming_clouds``: the AWS and Google Cloud names and their rules.
- ``fnref``: ``"package.module:attr"`` references, their rule (``FN_REF_RULE``) and their resolution to callables.
- ``images``: the one container image and its default reference.

Specs, infra, k8s, services and the runner import from here; this package imports only the standard library and
``modelops.versions`` (import-linter checks).
"""
