"""NetworkPolicies: deny by default, then allow only what a study needs.

Allowed: DNS (kube-dns in kube-system), any traffic inside the namespace (scheduler <-> workers, runner <-> its
PostgreSQL), adaptive runners -> the workspace scheduler on 8786, and HTTPS egress (the object store for run
records and the simulation cache, and the registry for bundles; both are outside the cluster).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelops.k8s.common import Manifest, labels, metadata

PLANE_LABEL = "modelops.io/plane"
SCHEDULER_PORT = 8786


def _policy(name: str, ns: str, pod_selector: Mapping[str, Any], spec: Mapping[str, Any]) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(name, ns, labels("network-policy", ns)),
        "spec": {"podSelector": dict(pod_selector), **spec},
    }


def baseline_policies(ns: str) -> list[Manifest]:
    """Default deny, DNS, in-namespace traffic and HTTPS egress, for any modelops namespace."""
    return [
        _policy("default-deny", ns, {}, {"policyTypes": ["Ingress", "Egress"]}),
        _policy(
            "allow-dns",
            ns,
            {},
            {
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    }
                ],
            },
        ),
        _policy(
            "allow-same-namespace",
            ns,
            {},
            {
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"podSelector": {}}]}],
                "egress": [{"to": [{"podSelector": {}}]}],
            },
        ),
        _policy(
            "allow-https-egress",
            ns,
            {},
            {
                "policyTypes": ["Egress"],
                # Azure Blob Storage and container registries have no stable in-cluster address: allow 443 out.
                "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 443}]}],
            },
        ),
    ]


def scheduler_ingress_from_adaptive(ns: str, scheduler_selector: Mapping[str, str]) -> Manifest:
    """Workspace side: let pods in any adaptive-plane namespace reach the scheduler's 8786."""
    return _policy(
        "allow-scheduler-from-adaptive",
        ns,
        {"matchLabels": dict(scheduler_selector)},
        {
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"namespaceSelector": {"matchLabels": {PLANE_LABEL: "adaptive"}}}],
                    "ports": [{"protocol": "TCP", "port": SCHEDULER_PORT}],
                }
            ],
        },
    )


def egress_to_scheduler(ns: str, workspace_ns: str, scheduler_selector: Mapping[str, str]) -> Manifest:
    """Adaptive side: let the run's pods open connections to the workspace scheduler's 8786, nothing else there."""
    return _policy(
        "allow-egress-to-scheduler",
        ns,
        {},
        {
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": workspace_ns}},
                            "podSelector": {"matchLabels": dict(scheduler_selector)},
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": SCHEDULER_PORT}],
                }
            ],
        },
    )


def egress_to_cidr(ns: str, name: str, cidr: str, port: int) -> Manifest:
    """Let the namespace's pods open TCP connections to ``cidr`` on ``port`` only (e.g. a managed database)."""
    return _policy(
        name,
        ns,
        {},
        {
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": cidr}}], "ports": [{"protocol": "TCP", "port": port}]}],
        },
    )


SCRAPE_LABEL = "modelops.io/scrape"


def scrape_annotations(port: int, path: str = "/metrics") -> dict[str, str]:
    """The de-facto Prometheus pod annotations (kubernetes_sd_configs with the usual relabelling reads them)."""
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(port), "prometheus.io/path": path}


def metrics_ingress(ns: str, ports: list[int]) -> Manifest:
    """Let Prometheus, in a namespace labelled ``modelops.io/scrape=true``, reach the metrics ports; nothing else."""
    return _policy(
        "allow-metrics-scrape",
        ns,
        {},
        {
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"namespaceSelector": {"matchLabels": {SCRAPE_LABEL: "true"}}}],
                    "ports": [{"protocol": "TCP", "port": p} for p in ports],
                }
            ],
        },
    )
