"""Test support for the ModelOps workspace, kept out of the shipped ``modelops`` package.

- ``real_services``: PostgreSQL, Azurite (Azure Blob) and an OCI registry, found or started on loopback. Each
  fixture built on it skips with a clear reason when its service cannot be had; with MODELOPS_REQUIRE_SERVICES=1
  (set by CI) the skip becomes a failure, so CI always exercises the real thing.
- ``dask_cluster``: a Dask cluster started with the commands the workspace pods run.
- ``s3``, ``gcs``: local S3 (moto) and GCS (emulator) servers.
- ``fake_pulumi``: a stand-in ``pulumi`` executable that records its calls, and Pulumi unit-test mocks.
- ``pod``: a rendered manifest's container run as a local process, resolved the kubelet's way.

It is a workspace member installed by the dev group only (``modelops`` never imports it: import-linter checks).
"""
