"""Pydantic models for every YAML kind ModelOps reads (studies, providers, runtime, workspace, adaptive)."""
