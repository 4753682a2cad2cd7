"""What the `gantry` binary listens on and how it is started: the facts the manifests
must agree with. Keep in step with DESIGN.md ("Ports") and `gantry --help`; a change of
port or flag in the binary is a change here, and the check then points at every manifest
that still uses the old one.
"""

GANTRY_IMAGE = "ghcr.io/gantry-apim/gantry"

CONTROL_PLANE = {
    "namespace": "apim-cp",
    "deployment": "apim",
    "flags": {"port": 9443},
    "ports": {"https": 9443},                 # containerPort name -> number
    "probe_port": 9443,
    "probe_scheme": "HTTPS",
    "service": {"name": "apim", "ports": [9443]},
}

GATEWAY = {
    "namespace": "apim-dp",
    "deployment": "gateway",
    "flags": {"http-port": 9090, "https-port": 9095, "ops-port": 9000},
    "ports": {"http": 9090, "https": 9095, "ops": 9000},
    "probe_port": 9000,
    "probe_scheme": "HTTP",
    "service": {"name": "gateway", "ports": [9090, 9095, 9000]},
}

STANDARD_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/version",
)

# The oldest Kubernetes these manifests support (preStop `sleep` is on by default from
# 1.30; 1.31 is the oldest release still maintained upstream) and the newest schemas
# kubernetes-validate ships. Every object must be valid under both.
SCHEMA_VERSIONS = ("1.31.0", "1.37.0")

# Custom resources kubernetes-validate has no schema for: (API group, kind). They are
# still rendered and their references checked (Secrets they produce, scrape targets), but
# not validated against a schema. Anything else without a schema is a failure: usually a
# misspelt apiVersion or kind.
SKIPPED_CRDS = {
    ("postgresql.cnpg.io", "Cluster"),
    ("postgresql.cnpg.io", "ScheduledBackup"),
    ("monitoring.coreos.com", "ServiceMonitor"),
    ("monitoring.coreos.com", "PodMonitor"),
    ("metallb.io", "IPAddressPool"),
    ("metallb.io", "L2Advertisement"),
    ("cert-manager.io", "Certificate"),
    ("cert-manager.io", "ClusterIssuer"),
}

# Namespaces owned by add-ons installed outside these manifests: ones our objects may be
# created in, and ones our NetworkPolicies may name as peers (the ingress controller,
# Prometheus, cluster DNS). Any other namespace must be one an overlay creates.
EXTERNAL_NAMESPACES = {"cert-manager", "metallb-system"}
PEER_NAMESPACES = {"ingress-nginx", "monitoring", "kube-system"}

# Metrics the Grafana dashboard must chart (issue 8's list).
DASHBOARD_METRICS = (
    "gantry_gateway_requests_total",
    "gantry_gateway_request_duration_seconds_bucket",
    "gantry_gateway_upstream_duration_seconds_bucket",
    "gantry_gateway_auth_failures_total",
    "gantry_gateway_ratelimit_rejections_total",
    "gantry_gateway_config_version",
    "gantry_gateway_sync_connected",
    "gantry_controlplane_connected_gateways",
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
)
