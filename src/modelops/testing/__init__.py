"""Real services for tests: PostgreSQL, Azurite (Azure Blob) and an OCI registry, found or started on loopback.

Each fixture skips with a clear reason when its service cannot be had; with MODELOPS_REQUIRE_SERVICES=1 (set by CI)
the skip becomes a failure, so CI always exercises the real thing.
"""
