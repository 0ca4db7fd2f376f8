"""Pure Kubernetes manifest builders (plain dicts, no cluster, no Pulumi).

- ``workspace``: the Dask workspace (namespace, scheduler Deployment/Service/PDB, worker Deployments per group).
- ``adaptive``: one run (namespace, study ConfigMap, runs PVC or object-store Secret, runner Job).
- ``postgres``: the run's in-cluster PostgreSQL (Secrets, StatefulSet + PVC, Service, idempotent init Job).
- ``network``: NetworkPolicies (default deny; DNS, in-namespace, adaptive -> scheduler 8786, HTTPS egress).
- ``common``: labels and the restricted security profile every pod gets; ``render``: YAML with secrets redacted.
"""
