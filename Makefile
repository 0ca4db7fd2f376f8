# Images: one image for the Dask scheduler, the workers and the adaptive runner (docker/Dockerfile).
#   make images                          build $(IMAGE) for this version
#   make push REGISTRY=ghcr.io/acme      build and push; the workspace spec's default image is the pushed one
# The defaults match modelops.core.images.default_image(): ghcr.io/modelops/modelops:<version in pyproject.toml>.

REGISTRY ?= ghcr.io/modelops
IMAGE_NAME ?= modelops
VERSION ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -n 1)
IMAGE ?= $(REGISTRY)/$(IMAGE_NAME):$(VERSION)
PLATFORM ?= linux/amd64
DOCKER ?= docker

.PHONY: images push print-image

images:
	$(DOCKER) build --platform $(PLATFORM) -f docker/Dockerfile --build-arg VERSION=$(VERSION) -t $(IMAGE) .

push: images
	$(DOCKER) push $(IMAGE)

print-image:
	@echo $(IMAGE)
