"""A bundle repository in an OCI registry (ACR, GHCR, the CNCF distribution server), through the ``oras`` package.

One bundle is one OCI artifact in repository ``name``:

- config blob: the bundle index (media type ``application/vnd.modelops.bundle.index.v1+json``); its digest IS the
  bundle digest, so a worker fetches the index straight from ``/v2/<name>/blobs/sha256:<hex>``;
- layers: one per file, the file's raw bytes (its blob digest is the file's sha256; the registry stores a blob
  once per repository, so files shared between bundles are uploaded once), titled with the file's path;
- manifest: tagged ``sha256-<hex>`` (tags cannot contain ':'), uploaded last, so the tag existing means the whole
  bundle is there. The tag also keeps the blobs referenced for the registry's garbage collector.

Credentials: those `oras login` / `docker login` saved (docker config), or $MODELOPS_REGISTRY_USERNAME and
$MODELOPS_REGISTRY_PASSWORD.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import tempfile
import urllib.parse
from collections.abc import Iterator, Mapping
from pathlib import Path

import oras.defaults
import oras.provider
import requests

from modelops.bundles.errors import NotFoundError, RepositoryError
from modelops.bundles.hashing import CHUNK
from modelops.bundles.index import BundleIndex
from modelops.bundles.records import BundleListing, PushStats

INDEX_MEDIA_TYPE = "application/vnd.modelops.bundle.index.v1+json"
FILE_MEDIA_TYPE = "application/vnd.modelops.bundle.file.v1"
ARTIFACT_TYPE = "application/vnd.modelops.bundle.v1"
ANNOTATION_FILES = "io.modelops.bundle.files"
ANNOTATION_SIZE = "io.modelops.bundle.size"
ANNOTATION_SOURCE = "io.modelops.bundle.source"
ANNOTATION_CREATED = "org.opencontainers.image.created"
USERNAME_ENV = "MODELOPS_REGISTRY_USERNAME"
PASSWORD_ENV = "MODELOPS_REGISTRY_PASSWORD"
CHUNKED_UPLOAD_ABOVE = 64 << 20  # oras' single PUT reads the whole file into memory; chunk big data files
_TAG = re.compile(r"sha256-([0-9a-f]{64})")


def _is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_oci_url(url: str) -> tuple[str, str, bool]:
    """``oci://host[:port]/name`` -> (host, name, plain_http). Loopback hosts and ``oci+http://`` use plain HTTP."""
    scheme, sep, rest = url.partition("://")
    host, _, name = rest.partition("/")
    if not sep or scheme not in ("oci", "oci+http", "oci+https") or not host or not name.strip("/"):
        raise RepositoryError(
            f"{url!r} is not an OCI repository URL",
            hint="write oci://host[:port]/name, e.g. oci://myacr.azurecr.io/bundles",
        )
    plain = scheme == "oci+http" or (scheme == "oci" and _is_loopback(host))
    return host, name.strip("/"), plain


class OciRepository:
    """Bundles as OCI artifacts in one registry repository."""

    def __init__(self, url: str):
        self.url = url
        self.host, self.name, plain_http = parse_oci_url(url)
        self.registry = oras.provider.Registry(hostname=self.host, insecure=plain_http)
        self._scheme = "http" if plain_http else "https"
        user, password = os.environ.get(USERNAME_ENV), os.environ.get(PASSWORD_ENV)
        if user and password:
            self.registry.auth.set_basic_auth(user, password)
        self._checked = False

    def __repr__(self) -> str:
        return f"OciRepository({self.url!r})"

    def _container(self, digest: str | None = None):
        tag = f"sha256-{digest.split(':', 1)[1]}" if digest else oras.defaults.default_tag
        container = self.registry.get_container(f"{self.host}/{self.name}:{tag}")
        if not self._checked:
            self._ping()
            self.registry.auth.load_configs(container)
            self._checked = True
        return container

    def _ping(self) -> None:
        # oras retries connection errors for minutes; fail fast with a clear message when nothing answers.
        try:
            requests.get(f"{self._scheme}://{self.host}/v2/", timeout=10)
        except requests.RequestException as exc:
            raise RepositoryError(
                f"cannot reach the OCI registry at {self._scheme}://{self.host} ({type(exc).__name__})",
                hint="check the host and port; use oci+http:// for a registry without TLS",
            ) from None

    def _get_blob(self, digest: str, *, stream: bool) -> requests.Response:
        response = self.registry.get_blob(self._container(), digest, stream=stream)
        if response.status_code == 404:
            response.close()
            raise NotFoundError(
                f"{digest} is not in {self.url}",
                hint="push the bundle with `mops bundle push DIR --to URL`, or check the repository URL",
            )
        if response.status_code != 200:
            response.close()
            raise RepositoryError(f"registry {self.host} answered {response.status_code} for blob {digest}")
        return response

    # --- reading --------------------------------------------------------------------------------------------------

    def has_bundle(self, digest: str) -> bool:
        container = self._container(digest)
        url = f"{self._scheme}://{container.manifest_url()}"
        headers = {"Accept": oras.defaults.default_manifest_media_type}
        return self.registry.do_request(url, "HEAD", headers=headers).status_code == 200

    def read_index(self, digest: str) -> bytes:
        with self._get_blob(digest, stream=False) as response:
            return response.content

    def iter_file(self, digest: str) -> Iterator[bytes]:
        with self._get_blob(digest, stream=True) as response:
            yield from response.iter_content(CHUNK)

    def list_bundles(self) -> list[BundleListing]:
        listings = []
        for tag in self._tags():
            m = _TAG.fullmatch(tag)
            if not m:
                continue
            digest = f"sha256:{m.group(1)}"
            manifest = self.registry.get_manifest(self._container(digest))
            notes = manifest.get("annotations") or {}
            listings.append(
                BundleListing(
                    digest=digest,
                    files=int(notes.get(ANNOTATION_FILES, len(manifest.get("layers", [])))),
                    size=int(notes.get(ANNOTATION_SIZE, -1)),
                    pushed_at=notes.get(ANNOTATION_CREATED),
                    source=notes.get(ANNOTATION_SOURCE),
                )
            )
        return sorted(listings, key=lambda b: (b.pushed_at or "", b.digest), reverse=True)

    def _tags(self) -> list[str]:
        url: str | None = f"{self._scheme}://{self._container().tags_url()}"
        tags: list[str] = []
        while url:
            response = self.registry.do_request(url, "GET")
            if response.status_code == 404:
                return []  # the registry has no repository of that name yet: no bundles
            if response.status_code != 200:
                raise RepositoryError(f"registry {self.host} answered {response.status_code} listing {self.name}")
            tags += response.json().get("tags") or []
            link = response.links.get("next", {}).get("url")  # distribution paginates with a Link header
            url = urllib.parse.urljoin(url, link) if link else None
        return tags

    # --- writing --------------------------------------------------------------------------------------------------

    def _upload(self, path: Path, layer: dict, container) -> None:
        response = self.registry.upload_blob(
            str(path), container, layer, do_chunked=layer["size"] > CHUNKED_UPLOAD_ABOVE, chunk_size=CHUNK * 16
        )
        if response.status_code not in (200, 201, 202):
            raise RepositoryError(f"registry {self.host} refused blob {layer['digest']}: {response.status_code}")

    def push(self, index: BundleIndex, sources: Mapping[str, Path], *, source_name: str | None = None) -> PushStats:
        digest = index.digest
        if self.has_bundle(digest):
            return PushStats(uploaded=0, reused=len(index), bytes_uploaded=0, index_existed=True)
        container = self._container(digest)
        uploaded = reused = nbytes = 0
        layers = []
        done: set[str] = set()
        for entry in index:
            layer = {
                "mediaType": FILE_MEDIA_TYPE,
                "digest": entry.digest,
                "size": entry.size,
                "annotations": {oras.defaults.annotation_title: entry.path},
            }
            layers.append(layer)
            if entry.sha256 in done or self.registry.blob_exists(layer, container):
                reused += 1
            else:
                self._upload(sources[entry.path], layer, container)
                uploaded += 1
                nbytes += entry.size
            done.add(entry.sha256)
        data = index.to_bytes()
        config = {"mediaType": INDEX_MEDIA_TYPE, "digest": digest, "size": len(data)}
        with tempfile.TemporaryDirectory(prefix="mops-bundle-") as tmp:
            config_file = Path(tmp) / "index.json"
            config_file.write_bytes(data)
            self._upload(config_file, config, container)
        manifest = {
            "schemaVersion": 2,
            "mediaType": oras.defaults.default_manifest_media_type,
            "artifactType": ARTIFACT_TYPE,
            "config": config,
            "layers": layers,
            "annotations": {
                ANNOTATION_CREATED: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                ANNOTATION_FILES: str(len(index)),
                ANNOTATION_SIZE: str(index.total_size),
                **({ANNOTATION_SOURCE: source_name} if source_name else {}),
            },
        }
        response = self.registry.upload_manifest(manifest, container)
        if response.status_code not in (200, 201, 202):
            raise RepositoryError(f"registry {self.host} refused the manifest: {response.status_code} {response.text}")
        return PushStats(uploaded=uploaded, reused=reused, bytes_uploaded=nbytes, index_existed=False)
