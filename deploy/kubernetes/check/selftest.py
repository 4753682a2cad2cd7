"""Proves the checks bite: each case breaks one thing in a correctly rendered overlay and
expects a failure naming it. A check that stops catching its case fails the run, so the
manifests' green result keeps meaning something.
"""

import copy

from contract import GANTRY_IMAGE


def find(objects, kind, name):
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def container(obj, name):
    return next(c for c in obj["spec"]["template"]["spec"]["containers"] if c["name"] == name)


def gateway_config(objects):
    return next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("gateway-config"))


def no_readiness(objs):
    del container(find(objs, "Deployment", "gateway"), "gateway")["readinessProbe"]


def wrong_environment(objs):
    gateway_config(objs)["data"]["environment"] = "dp-prod-b"


def wrong_cp_port(objs):
    c = container(find(objs, "Deployment", "apim"), "control-plane")
    c["args"] = [a.replace("--port=9443", "--port=9444") for a in c["args"]]


def wrong_control_plane_url(objs):
    gateway_config(objs)["data"]["control-plane"] = "https://apim.apim-cp.svc:8443"


def service_port_moved(objs):
    svc = find(objs, "Service", "gateway")
    svc["spec"]["ports"][0]["port"] = 9096


def root_allowed(objs):
    dep = find(objs, "Deployment", "apim")
    del dep["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]
    del container(dep, "control-plane")["securityContext"]["runAsNonRoot"]


def label_missing(objs):
    del find(objs, "Deployment", "gateway")["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]


def no_default_deny(objs):
    objs.remove(find(objs, "NetworkPolicy", "default-deny"))


def schema_typo(objs):
    container(find(objs, "Deployment", "gateway"), "gateway")["imagePullPolcy"] = "Always"


def dangling_secret(objs):
    env = container(find(objs, "Deployment", "apim"), "control-plane")["env"]
    next(e for e in env if e["name"] == "GANTRY_KEY_ENCRYPTION_KEY")["valueFrom"]["secretKeyRef"]["name"] = "apim-secret"


def ingress_port_typo(objs):
    ing = find(objs, "Ingress", "gateway")
    ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"]["name"] = "htps"


def extra_ingress_port(objs):
    pol = find(objs, "NetworkPolicy", "gateway-ingress")
    pol["spec"]["ingress"][0]["ports"].append({"port": 8080, "protocol": "TCP"})


def unpinned_image(objs):
    container(find(objs, "Deployment", "gateway"), "gateway")["image"] = GANTRY_IMAGE + ":latest"


def no_memory_limit(objs):
    del container(find(objs, "Deployment", "redis"), "valkey")["resources"]["limits"]["memory"]


def ops_port_moved(objs):
    ports = container(find(objs, "Deployment", "gateway"), "gateway")["ports"]
    next(p for p in ports if p["name"] == "ops")["name"] = "admin"
    next(p for p in ports if p["name"] == "http")["name"] = "ops"


def policy_namespace_typo(objs):
    pol = find(objs, "NetworkPolicy", "gateway-egress")
    pol["spec"]["egress"][0]["to"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] = "apim-controlplane"


def cp_data_dir_on_root_fs(objs):
    c = container(find(objs, "Deployment", "apim"), "control-plane")
    c["args"] = [a for a in c["args"] if not a.startswith("--data-dir")]


# (overlay, what breaks, how, a phrase the failure must contain)
CASES = [
    ("dp-prod-a", "gateway without readinessProbe", no_readiness, "no readinessProbe"),
    ("dp-prod-a", "dp-prod-a gateway serving dp-prod-b", wrong_environment, "--environment is 'dp-prod-b'"),
    ("dp-prod-a", "gateway dialling the wrong port", wrong_control_plane_url, "--control-plane"),
    ("apim-cp", "control plane on 9444", wrong_cp_port, "--port is '9444'"),
    ("dp-prod-a", "gateway Service port 9096", service_port_moved, "ports [9000, 9090, 9096]"),
    ("apim-cp", "runAsNonRoot removed", root_allowed, "runAsNonRoot is not true"),
    ("dp-prod-a", "component label missing", label_missing, "lacks standard labels app.kubernetes.io/component"),
    ("dp-prod-a", "default-deny policy removed", no_default_deny, "no default-deny policy"),
    ("dp-prod-a", "misspelt field", schema_typo, "imagePullPolcy"),
    ("apim-cp", "env from a Secret that does not exist", dangling_secret, "apim-secret, which nothing"),
    ("dp-prod-a", "Ingress backend port name typo", ingress_port_typo, "backend port 'htps'"),
    ("dp-prod-a", "gateway open on 8080", extra_ingress_port, "ingress ports"),
    ("dp-prod-a", "image tag latest", unpinned_image, "no pinned tag"),
    ("dp-prod-a", "Valkey without a memory limit", no_memory_limit, "no limits.memory"),
    ("dp-prod-a", "metrics scraped from the HTTP port", ops_port_moved, "scrapes port 9090"),
    ("dp-prod-a", "egress to a namespace nobody creates", policy_namespace_typo, "'apim-controlplane'"),
    ("apim-cp", "control plane's data dir on the read-only root", cp_data_dir_on_root_fs, "--data-dir None is not on an emptyDir"),
]


class _Collect:
    def __init__(self):
        self.failures = []

    def fail(self, overlay, obj, message):
        self.failures.append(message)


def run(rendered, environments, check_overlay, report, namespaces):
    caught = 0
    for overlay, what, breaker, phrase in CASES:
        objects = copy.deepcopy(rendered[overlay])
        breaker(objects)
        got = _Collect()
        check_overlay(overlay, objects, environments[overlay], got, all_namespaces=namespaces)
        if any(phrase in f for f in got.failures):
            caught += 1
        else:
            report.fail("self-test", what, f"not caught (expected a failure containing {phrase!r}; got {got.failures})")
    print(f"  self-test: {caught} of {len(CASES)} deliberately broken inputs caught")
