"""The one container image for scheduler, workers and runners, and its default reference.

The Makefile builds ``$(REGISTRY)/$(IMAGE_NAME):$(VERSION)`` with the same defaults as here, so the image a spec
gets by default is the image `make images push` produced for the installed modelops version: the client (`mops`
on the laptop) and the cluster always run the same code.
"""

from __future__ import annotations

from modelops.versions import distribution_version

DEFAULT_REGISTRY = "ghcr.io/modelops"
IMAGE_NAME = "modelops"


def image_version() -> str:
    """The tag: the installed modelops version (the Makefile's VERSION default reads the same pyproject)."""
    return distribution_version("modelops") or "0.0.0"


def default_image(registry: str = DEFAULT_REGISTRY) -> str:
    return f"{registry.rstrip('/')}/{IMAGE_NAME}:{image_version()}"
