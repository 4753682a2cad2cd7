#!/usr/bin/env python3
"""Runs the rendered Gantry workloads with podman, the way a kubelet would, and checks them.

Called by deploy/podman/smoke.sh after it has built the image. Everything a container gets
is read from the RENDERED manifests (kubectl kustomize of overlays apim-cp and dp-prod-a):
image, command/args, env (with Kubernetes $(VAR) expansion, secretKeyRef/configMapKeyRef),
ports, volumes (emptyDir as a fresh root-owned 0777/2777 directory as the kubelet makes it,
Secret/ConfigMap as read-only files with the defaultMode and fsGroup), securityContext (runAsUser/runAsGroup/fsGroup, runAsNonRoot,
readOnlyRootFilesystem, capabilities, allowPrivilegeEscalation), resources.limits, probes
(startup, readiness, liveness: HTTP(S), TCP, exec), the preStop sleep and
terminationGracePeriodSeconds. Nothing of the workloads is retyped here.

What is NOT from the manifests (there is no cluster):
- Secret values: the rendered Secrets are placeholders (REPLACE_ME); fresh values are made
  here, as docs/operations.md tells an operator to. Secrets CloudNativePG and cert-manager
  would create (gantry-db-app, apim-serving-tls, gateway-public-tls) are made here too: a
  throw-away CA, a serving certificate for the rendered Certificate's dnsNames, and one for
  the gateway Ingress's host. The gateway token comes from the Admin API (operations.md,
  Deploy step 7). Secret volumes are bind-mounted directories (podman 4.3's `kube play`
  crashes on Secret volumes, and `kube play` would drop the probes anyway).
- ConfigMap control-plane-ca holds a placeholder; the smoke CA is put there, as Deploy step
  8 says.
- Service DNS: one podman network; each container gets the Service's names
  (`apim`, `apim.apim-cp`, `apim.apim-cp.svc`, ...) as network aliases.
- PostgreSQL (a CloudNativePG Cluster in the manifests) is a plain PostgreSQL 15 container
  named `gantry-db-rw`; the Redis Deployment runs as rendered, with Debian's Redis 7 as the
  stand-in for the Valkey image when no registry answers.
- The upstream of the test API is a small Python server in its own container.
Ports are published on 127.0.0.1 only, and every check goes through them.
"""

import argparse
import base64
import http.client
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse

import yaml

NETWORK = "gantry-smoke"
LABEL = "gantry-smoke=1"
RESULTS = []
IMAGE_OVERRIDE = {}  # the rendered gantry image -> --image (normally the same name)


def log(msg):
    print(f"  {msg}", flush=True)


def result(name, ok, detail):
    RESULTS.append((name, ok))
    print(f"RESULT {name}: {'PASS' if ok else 'FAIL'} {detail}", flush=True)
    return ok


def sh(*args, check=True, capture=True, timeout=120, input=None):
    p = subprocess.run(list(args), capture_output=capture, text=True, timeout=timeout, input=input)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])}...: exit {p.returncode}: {p.stderr.strip()[-2000:]}")
    return p


def podman(*args, **kw):
    return sh("podman", *args, **kw)


# ---- rendered manifests ------------------------------------------------------------------


class Rendered:
    def __init__(self, *paths):
        self.objs = []
        for p in paths:
            with open(p) as f:
                self.objs += [d for d in yaml.safe_load_all(f) if d]

    def get(self, kind, name, namespace=None):
        found = [
            o
            for o in self.objs
            if o["kind"] == kind
            and o["metadata"]["name"] == name
            and (namespace is None or o["metadata"].get("namespace") == namespace)
        ]
        if len(found) != 1:
            raise SystemExit(f"rendered manifests: expected one {kind}/{name}, found {len(found)}")
        return found[0]

    def all(self, kind):
        return [o for o in self.objs if o["kind"] == kind]

    def services_for(self, pod_template, namespace):
        """Names a Service selecting this pod template would give it in cluster DNS."""
        labels = pod_template["metadata"].get("labels", {})
        names = []
        for s in self.all("Service"):
            sel = s["spec"].get("selector") or {}
            if s["metadata"].get("namespace") == namespace and sel and all(labels.get(k) == v for k, v in sel.items()):
                n = s["metadata"]["name"]
                names += [n, f"{n}.{namespace}", f"{n}.{namespace}.svc", f"{n}.{namespace}.svc.cluster.local"]
        return names


def quantity_bytes(q):
    m = re.fullmatch(r"(\d+)(Ki|Mi|Gi|k|M|G)?", str(q))
    if not m:
        raise ValueError(f"quantity {q!r}")
    mult = {None: 1, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "k": 1000, "M": 1000**2, "G": 1000**3}
    return int(m.group(1)) * mult[m.group(2)]


def quantity_cpus(q):
    q = str(q)
    return int(q[:-1]) / 1000 if q.endswith("m") else float(q)


def expand(s, env):
    """Kubernetes $(VAR) expansion: $$ escapes, unknown references stay as written."""

    def sub(m):
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", sub, s)


# ---- a kubelet, just enough ------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Workload:
    """One pod of a rendered Deployment/Job: a single container run with podman."""

    def __init__(self, name, template, namespace, rendered, secrets_, configmaps, work, image_user,
                 aliases=(), container=None):
        self.name = f"smoke-{name}"
        self.spec = template["spec"]
        cs = self.spec["containers"]
        self.c = cs[0] if container is None else next(c for c in cs if c["name"] == container)
        self.namespace = namespace
        self.aliases = list(aliases) + rendered.services_for(template, namespace)
        self.secrets = secrets_
        self.configmaps = configmaps
        self.dir = os.path.join(work, "run", name)
        self.image_user = image_user
        self.ports = {}  # container port -> host port (127.0.0.1)
        self.port_names = {p["name"]: p["containerPort"] for p in self.c.get("ports", []) if "name" in p}
        self.grace = int(self.spec.get("terminationGracePeriodSeconds", 30))
        self.probe_log = {"liveness": [0, 0], "readiness": [0, 0]}  # [checks, failures]
        self.liveness_failed = None
        self._stop_monitor = threading.Event()

    # -- security context
    def sc(self, key):
        csc, psc = self.c.get("securityContext", {}), self.spec.get("securityContext", {})
        return csc[key] if key in csc else psc.get(key)

    def user(self):
        uid, gid = self.sc("runAsUser"), self.sc("runAsGroup")
        if uid is None:
            uid = self.image_user(self.c["image"]).split(":")[0] or "0"
        if self.sc("runAsNonRoot"):
            # The kubelet's check: a non-numeric or zero user is refused.
            if not str(uid).isdigit() or int(uid) == 0:
                raise SystemExit(f"{self.name}: runAsNonRoot, but the user would be {uid!r}")
        return str(uid) + (f":{gid}" if gid is not None else "")

    # -- env, with valueFrom and $(VAR) expansion
    def env(self):
        env = {}
        for e in self.c.get("env", []):
            if "value" in e:
                env[e["name"]] = expand(str(e["value"]), env)
            elif "secretKeyRef" in e.get("valueFrom", {}):
                r = e["valueFrom"]["secretKeyRef"]
                env[e["name"]] = self.secrets[r["name"]][r["key"]]
            elif "configMapKeyRef" in e.get("valueFrom", {}):
                r = e["valueFrom"]["configMapKeyRef"]
                env[e["name"]] = self.configmaps[r["name"]][r["key"]]
            else:
                raise SystemExit(f"{self.name}: env {e['name']}: unsupported valueFrom {e.get('valueFrom')}")
        if self.c.get("envFrom"):
            raise SystemExit(f"{self.name}: envFrom is not supported here")
        return env

    def volume_args(self):
        fs_group = (self.spec.get("securityContext") or {}).get("fsGroup")
        vols = {v["name"]: v for v in self.spec.get("volumes", [])}
        args = []
        for m in self.c.get("volumeMounts", []):
            v = vols[m["name"]]
            ro = ",ro" if m.get("readOnly") else ""
            if "emptyDir" in v:
                # As the kubelet makes one: an empty directory owned by root, mode 0777; with
                # fsGroup, group fsGroup and setgid (2777). A bind mount of a fresh host directory,
                # not a podman tmpfs: podman gives a tmpfs the mode of the image's directory under
                # it (0750 for the image's /var/lib/gantry) with owner root, which no kubelet does.
                # sizeLimit is not enforced (the kubelet enforces it by eviction).
                d = os.path.join(self.dir, "empty-dir", m["name"])
                os.makedirs(d, exist_ok=True)
                if fs_group is not None:
                    os.chown(d, 0, int(fs_group))
                    os.chmod(d, 0o2777)
                else:
                    os.chmod(d, 0o777)
                args += ["-v", f"{d}:{m['mountPath']}"]
            elif "secret" in v or "configMap" in v:
                src = v.get("secret") or v["configMap"]
                ref = src.get("secretName") or src.get("name")
                data = self.secrets[ref] if "secret" in v else self.configmaps[ref]
                mode = src.get("defaultMode", 0o644)
                d = os.path.join(self.dir, "volumes", m["name"])
                os.makedirs(d, exist_ok=True)
                for k, val in data.items():
                    p = os.path.join(d, k)
                    with open(p, "w") as f:
                        f.write(val)
                    os.chmod(p, mode)
                    if fs_group is not None:
                        os.chown(p, 0, int(fs_group))
                os.chmod(d, 0o755)
                args += ["-v", f"{d}:{m['mountPath']}:ro" if ro else f"{d}:{m['mountPath']}"]
            else:
                raise SystemExit(f"{self.name}: unsupported volume {v}")
        return args

    def run_args(self):
        args = ["--name", self.name, "--label", LABEL, "--network", NETWORK, "--hostname", self.name]
        for a in self.aliases:
            args += ["--network-alias", a]
        args += ["--user", self.user()]
        fs_group = (self.spec.get("securityContext") or {}).get("fsGroup")
        if fs_group is not None:
            args += ["--group-add", str(fs_group)]
        if self.sc("readOnlyRootFilesystem"):
            # Kubernetes mounts no tmpfs of its own; podman would (/tmp, /var/tmp, /run).
            args += ["--read-only", "--read-only-tmpfs=false"]
        caps = self.sc("capabilities") or {}
        for cap in caps.get("drop", []):
            args += ["--cap-drop", cap]
        for cap in caps.get("add", []):
            args += ["--cap-add", cap]
        if self.sc("allowPrivilegeEscalation") is False:
            args += ["--security-opt", "no-new-privileges"]
        seccomp = (self.sc("seccompProfile") or {}).get("type")
        if seccomp not in (None, "RuntimeDefault"):
            raise SystemExit(f"{self.name}: seccomp {seccomp} not supported here")  # RuntimeDefault: podman's default profile
        lim = (self.c.get("resources") or {}).get("limits", {})
        if "memory" in lim:
            args += ["--memory", str(quantity_bytes(lim["memory"]))]
        if "cpu" in lim:
            args += ["--cpus", str(quantity_cpus(lim["cpu"]))]
        for p in self.c.get("ports", []):
            hp = free_port()
            self.ports[p["containerPort"]] = hp
            args += ["-p", f"127.0.0.1:{hp}:{p['containerPort']}"]
        env = self.env()
        os.makedirs(self.dir, exist_ok=True)
        env_file = os.path.join(self.dir, "env")
        with open(os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            for k, v in env.items():
                if "\n" in v:
                    raise SystemExit(f"{self.name}: env {k} has a newline")
                f.write(f"{k}={v}\n")
        args += ["--env-file", env_file]
        args += self.volume_args()
        args += ["--stop-timeout", str(self.grace)]
        if self.c.get("command"):
            args += ["--entrypoint", json.dumps([expand(x, env) for x in self.c["command"]])]
        args.append(IMAGE_OVERRIDE.get(self.c["image"], self.c["image"]))
        args += [expand(str(x), env) for x in self.c.get("args", [])]
        return args

    def start(self):
        podman("rm", "-f", "-i", self.name, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
        args = self.run_args()
        podman("run", "-d", *args)
        self.started = time.monotonic()
        log(f"{self.name}: started {self.c['image']} {' '.join(self.c.get('args', []))[:120]}")
        log(f"{self.name}: ports " + ", ".join(f"127.0.0.1:{h}->{c}" for c, h in self.ports.items()))

    def host_port(self, port):
        cp = self.port_names[port] if isinstance(port, str) else port
        return self.ports[cp]

    # -- probes (the kubelet's semantics: 200-399 is success; HTTPS is not verified)
    def probe(self, p):
        timeout = p.get("timeoutSeconds", 1)
        try:
            if "httpGet" in p:
                g = p["httpGet"]
                port = self.host_port(g["port"])
                if g.get("scheme", "HTTP") == "HTTPS":
                    ctx = ssl.create_default_context()
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ctx)
                else:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
                headers = {h["name"]: h["value"] for h in g.get("httpHeaders", [])}
                conn.request("GET", g.get("path", "/"), headers=headers)
                status = conn.getresponse().status
                conn.close()
                return 200 <= status < 400, f"HTTP {status}"
            if "tcpSocket" in p:
                with socket.create_connection(("127.0.0.1", self.host_port(p["tcpSocket"]["port"])), timeout=timeout):
                    return True, "connected"
            if "exec" in p:
                r = podman("exec", self.name, *p["exec"]["command"], check=False, timeout=timeout + 5)
                return r.returncode == 0, f"exit {r.returncode}"
        except (OSError, http.client.HTTPException, subprocess.TimeoutExpired) as e:
            return False, type(e).__name__ + ": " + str(e)[:80]
        raise SystemExit(f"{self.name}: unsupported probe {p}")

    def running(self):
        r = podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", self.name, check=False)
        return r.stdout.split() if r.returncode == 0 else ["gone", "?"]

    def wait_probe(self, kind, budget=None):
        """Startup: up to failureThreshold x periodSeconds; readiness: until ready or budget."""
        p = self.c.get(f"{kind}Probe")
        if not p:
            return True, "no probe"
        period = p.get("periodSeconds", 10)
        threshold = p.get("failureThreshold", 3)
        deadline = time.monotonic() + (budget if budget else period * threshold + p.get("initialDelaySeconds", 0))
        time.sleep(p.get("initialDelaySeconds", 0))
        last = ""
        while True:
            ok, last = self.probe(p)
            if ok:
                return True, f"after {time.monotonic() - self.started:.1f}s ({last})"
            state = self.running()
            if state[0] != "running":
                return False, f"container {state[0]} (exit {state[1]}); last probe: {last}"
            if time.monotonic() > deadline:
                return False, f"not within {deadline - self.started:.0f}s; last probe: {last}"
            time.sleep(min(period, 1))

    def monitor(self):
        """Liveness and readiness every periodSeconds for as long as the pod runs, as the kubelet does."""

        def loop(kind):
            p = self.c.get(f"{kind}Probe")
            if not p:
                return
            consecutive = 0
            while not self._stop_monitor.wait(p.get("periodSeconds", 10)):
                ok, detail = self.probe(p)
                self.probe_log[kind][0] += 1
                if not ok:
                    self.probe_log[kind][1] += 1
                    consecutive += 1
                    if kind == "liveness" and consecutive >= p.get("failureThreshold", 3) and not self.liveness_failed:
                        self.liveness_failed = detail
                else:
                    consecutive = 0

        for kind in ("liveness", "readiness"):
            threading.Thread(target=loop, args=(kind,), daemon=True).start()

    def stop_monitor(self):
        self._stop_monitor.set()

    def terminate(self, after_sigterm=None):
        """The kubelet's pod deletion: preStop, then SIGTERM, SIGKILL at the grace period's end.
        `after_sigterm` runs (in this thread) right after the signal, while the process drains."""
        t0 = time.monotonic()
        self.stop_monitor()
        pre = (self.c.get("lifecycle") or {}).get("preStop") or {}
        if "sleep" in pre:
            time.sleep(pre["sleep"]["seconds"])
        elif "exec" in pre:
            podman("exec", self.name, *pre["exec"]["command"], check=False, timeout=self.grace)
        elif pre:
            raise SystemExit(f"{self.name}: unsupported preStop {pre}")
        t_term = time.monotonic()
        podman("kill", "--signal", "TERM", self.name, check=False)
        if after_sigterm:
            after_sigterm()
        killed = False
        while True:
            status, code = self.running()
            if status != "running":
                break
            if time.monotonic() - t0 >= self.grace:
                podman("kill", "--signal", "KILL", self.name, check=False)
                killed = True
                time.sleep(1)
                status, code = self.running()
                break
            time.sleep(0.2)
        return {
            "total": time.monotonic() - t0,
            "after_sigterm": time.monotonic() - t_term,
            "exit": code,
            "killed": killed,
        }

    def logs(self, n=25):
        return podman("logs", "--tail", str(n), self.name, check=False).stdout + podman(
            "logs", "--tail", str(n), self.name, check=False).stderr

    def pid(self):
        return int(podman("inspect", "--format", "{{.State.Pid}}", self.name).stdout.strip())


def process_checks(w):
    """From the kernel's view of the container's main process (host /proc)."""
    pid = w.pid()
    status = dict(line.split(":\t", 1) for line in open(f"/proc/{pid}/status").read().splitlines() if ":\t" in line)
    uids = status["Uid"].split()
    gids = status["Gid"].split()
    root_mount = None
    for line in open(f"/proc/{pid}/mountinfo"):
        f = line.split()
        if f[4] == "/":
            root_mount = f[5]
    comm = open(f"/proc/{pid}/comm").read().strip()
    nonroot = all(u != "0" for u in uids) and all(g != "0" for g in gids)
    ro = root_mount is not None and "ro" in root_mount.split(",")
    caps = int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0
    nnp = status.get("NoNewPrivs", "").strip() == "1"
    seccomp = status.get("Seccomp", "").strip() == "2"
    ok = nonroot and ro and caps and nnp and seccomp
    return result(
        f"security {w.name}",
        ok,
        f"{comm}: uid {'/'.join(uids)} gid {'/'.join(gids)} groups [{status.get('Groups', '').strip()}], "
        f"root fs {'ro' if ro else 'WRITABLE'}, CapEff {status['CapEff'].strip()}, "
        f"NoNewPrivs {status.get('NoNewPrivs', '?').strip()}, Seccomp {status.get('Seccomp', '?').strip()}",
    )


# ---- secrets an operator (or cert-manager / CloudNativePG) would provide --------------------


def make_pki(d, cp_names, gw_names):
    os.makedirs(d, exist_ok=True)

    def o(*a):
        sh("openssl", *a)

    o("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
      "-subj", "/CN=gantry-smoke internal CA", "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.crt",
      "-addext", "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for leaf, names in (("cp", cp_names), ("gw", gw_names)):
        o("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={names[0]}",
          "-keyout", f"{d}/{leaf}.key", "-out", f"{d}/{leaf}.csr")
        with open(f"{d}/{leaf}.ext", "w") as f:
            f.write("subjectAltName=" + ",".join(f"DNS:{n}" for n in names) + "\n")
            f.write("extendedKeyUsage=serverAuth\nbasicConstraints=CA:false\n")
        o("x509", "-req", "-in", f"{d}/{leaf}.csr", "-CA", f"{d}/ca.crt", "-CAkey", f"{d}/ca.key",
          "-CAcreateserial", "-days", "2", "-extfile", f"{d}/{leaf}.ext", "-out", f"{d}/{leaf}.crt")
    # PKCS#8 keys, as cert-manager writes them with `privateKey.encoding: PKCS8`; gantry reads both.
    read = lambda p: open(p).read()  # noqa: E731
    return {
        "ca": read(f"{d}/ca.crt"),
        "cp": {"tls.crt": read(f"{d}/cp.crt"), "tls.key": read(f"{d}/cp.key"), "ca.crt": read(f"{d}/ca.crt")},
        "gw": {"tls.crt": read(f"{d}/gw.crt"), "tls.key": read(f"{d}/gw.key"), "ca.crt": read(f"{d}/ca.crt")},
    }


def configmap_data(obj):
    data = dict(obj.get("data") or {})
    data.update({k: base64.b64decode(v).decode() for k, v in (obj.get("binaryData") or {}).items()})
    return data


def secret_data(obj):
    data = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
    data.update(obj.get("stringData") or {})
    return data


# ---- HTTP through the published ports ------------------------------------------------------


class Pinned(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1:port with the TLS name (SNI, verification) of `host` (curl --resolve)."""

    def __init__(self, host, port, addr="127.0.0.1", **kw):
        super().__init__(host, port, **kw)
        self._addr = addr

    def connect(self):
        sock = socket.create_connection((self._addr, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def request(method, url, *, port, ca=None, body=None, headers=None, auth=None, timeout=30, host=None):
    u = urllib.parse.urlsplit(url)
    h = dict(headers or {})
    if auth:
        h["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    if host:
        h["Host"] = host
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        h.setdefault("Content-Type", "application/json")
    if u.scheme == "https":
        ctx = ssl.create_default_context(cafile=ca)
        conn = Pinned(u.hostname, port, context=ctx, timeout=timeout)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    path = u.path + (f"?{u.query}" if u.query else "")
    conn.request(method, path, body=body, headers=h)
    r = conn.getresponse()
    data = r.read().decode(errors="replace")
    conn.close()
    return r.status, data


def expect(status, body, want, what):
    if status not in (want if isinstance(want, tuple) else (want,)):
        raise RuntimeError(f"{what}: HTTP {status}: {body[:300]}")
    return json.loads(body) if body and body.lstrip().startswith(("{", "[")) else body


UPSTREAM_PY = r"""
import http.server, json, time, urllib.parse
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        if u.path.endswith("/slow"):
            time.sleep(float(q.get("s", ["5"])[0]))
        body = json.dumps({"path": self.path, "served_by": "smoke-upstream"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), H).serve_forever()
"""

POSTGRES_SH = r"""
set -e
export PGDATA=/var/lib/pg/data
initdb -U postgres --auth-local=trust --auth-host=scram-sha-256 >/dev/null
echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"   # as CloudNativePG allows the app
pg_ctl -w -o "-c listen_addresses='' -c unix_socket_directories=/var/lib/pg" start >/dev/null
psql -h /var/lib/pg -U postgres -v ON_ERROR_STOP=1 -q \
  -c "CREATE ROLE app LOGIN PASSWORD '$APP_PASSWORD'" -c "CREATE DATABASE app OWNER app"
pg_ctl -w stop >/dev/null
exec postgres -c listen_addresses='*' -c unix_socket_directories=/var/lib/pg
"""


# ---- the run -----------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--services-image", required=True)
    ap.add_argument("--control-plane", required=True)
    ap.add_argument("--data-plane", required=True)
    a = ap.parse_args()
    keep = os.environ.get("GANTRY_SMOKE_KEEP") == "1"
    work = a.work
    shutil.rmtree(os.path.join(work, "run"), ignore_errors=True)
    os.makedirs(os.path.join(work, "run"))

    cp_r, dp_r = Rendered(a.control_plane), Rendered(a.data_plane)
    cp_dep = cp_r.get("Deployment", "apim", "apim-cp")
    mig_job = cp_r.get("Job", "apim-migrate", "apim-cp")
    gw_dep = dp_r.get("Deployment", "gateway", "apim-dp")
    redis_dep = dp_r.get("Deployment", "redis", "apim-dp")
    cert = cp_r.get("Certificate", "apim-serving-tls", "apim-cp")
    gw_ing = dp_r.get("Ingress", "gateway", "apim-dp")
    gw_host = gw_ing["spec"]["rules"][0]["host"]
    IMAGE_OVERRIDE[cp_dep["spec"]["template"]["spec"]["containers"][0]["image"]] = a.image
    gw_tls_secret = gw_ing["spec"]["tls"][0]["secretName"]
    gw_cfg = {cm["metadata"]["name"]: cm for cm in dp_r.all("ConfigMap")}
    environment = next(
        configmap_data(cm)["environment"] for n, cm in gw_cfg.items() if n.startswith("gateway-config-")
    )

    image_users = {}

    def image_user(img):
        if img not in image_users:
            image_users[img] = podman("image", "inspect", "--format", "{{.Config.User}}",
                                      IMAGE_OVERRIDE.get(img, img)).stdout.strip()
        return image_users[img]

    # Secrets: rendered placeholders replaced with fresh values; the rest made as the
    # operators' tools would.
    pki = make_pki(os.path.join(work, "run", "pki"), cert["spec"]["dnsNames"], [gw_host])
    fresh = {
        ("apim-secrets", "key-encryption-key"): base64.b64encode(secrets.token_bytes(32)).decode(),
        ("apim-secrets", "admin-password"): secrets.token_urlsafe(18),
        ("redis-auth", "password"): secrets.token_hex(32),
        ("gateway-token", "token"): None,  # from the Admin API below
    }
    sec = {}
    for o in cp_r.all("Secret") + dp_r.all("Secret"):
        name = o["metadata"]["name"]
        d = secret_data(o)
        if name == "gantry-db-backup-s3":  # CloudNativePG's backup credentials: no Cluster runs here
            continue
        for k, v in d.items():
            if "REPLACE_ME" in v:
                if (name, k) not in fresh:
                    raise SystemExit(f"rendered Secret {name} key {k} is a placeholder this script does not fill")
                d[k] = fresh[(name, k)]
        sec[name] = d
    db_password = secrets.token_hex(16)
    sec["gantry-db-app"] = {  # what CloudNativePG generates
        "username": "app",
        "password": db_password,
        "uri": f"postgresql://app:{db_password}@gantry-db-rw.apim-cp:5432/app",
    }
    sec[cert["spec"]["secretName"]] = pki["cp"]
    sec[gw_tls_secret] = {k: v for k, v in pki["gw"].items() if k != "ca.crt"}
    cms = {n: configmap_data(cm) for n, cm in gw_cfg.items()}
    cms["control-plane-ca"] = {"ca.crt": pki["ca"]}
    ca_file = os.path.join(work, "run", "pki", "ca.crt")

    # Leftovers of an earlier run, then the network.
    for cid in podman("ps", "-aq", "--filter", f"label={LABEL}").stdout.split():
        podman("rm", "-f", cid, check=False)
    podman("network", "rm", "-f", NETWORK, check=False)
    podman("network", "create", NETWORK)

    started = []
    try:
        run(a, work, cp_r, dp_r, cp_dep, mig_job, gw_dep, redis_dep, sec, cms, image_user, environment, gw_host,
            ca_file, started)
    except Exception as e:  # noqa: BLE001 - report, then show the logs
        result("run", False, f"{type(e).__name__}: {e}")
        for w in started:
            print(f"--- logs of {w.name} (last lines)")
            print(w.logs())
    finally:
        if not keep:
            for cid in podman("ps", "-aq", "--filter", f"label={LABEL}").stdout.split():
                podman("rm", "-f", "-t", "0", cid, check=False)
            podman("network", "rm", "-f", NETWORK, check=False)
        else:
            log("GANTRY_SMOKE_KEEP=1: containers left running (podman ps --filter label=gantry-smoke=1)")

    failed = [n for n, ok in RESULTS if not ok]
    print(f"\n{len(RESULTS) - len(failed)} of {len(RESULTS)} checks passed" + (f"; failed: {', '.join(failed)}" if failed else ""))
    sys.exit(1 if failed else 0)


def run(a, work, cp_r, dp_r, cp_dep, mig_job, gw_dep, redis_dep, sec, cms, image_user, environment, gw_host,
        ca_file, started):
    def helper(name, aliases, *cmd, user="65534:65534", env=(), mounts=()):
        podman("rm", "-f", "-i", f"smoke-{name}", check=False)
        args = ["run", "-d", "--name", f"smoke-{name}", "--label", LABEL, "--network", NETWORK, "--user", user]
        for al in aliases:
            args += ["--network-alias", al]
        for e in env:
            args += ["-e", e]
        for m in mounts:
            args += ["--mount", m]
        podman(*args, a.services_image, *cmd)

    # PostgreSQL (CloudNativePG's Cluster gantry-db in the manifests; its Service gantry-db-rw).
    helper("postgres", ["gantry-db-rw", "gantry-db-rw.apim-cp", "gantry-db-rw.apim-cp.svc"],
           "sh", "-c", POSTGRES_SH, user="postgres", env=[f"APP_PASSWORD={sec['gantry-db-app']['password']}"],
           mounts=["type=tmpfs,destination=/var/lib/pg,tmpfs-mode=0700,chown=true"])
    for _ in range(60):
        if podman("exec", "smoke-postgres", "pg_isready", "-q", "-h", "127.0.0.1", "-U", "app", "-d", "app",
                  check=False).returncode == 0:
            break
        time.sleep(1)
    else:
        raise RuntimeError("PostgreSQL did not start: " + podman("logs", "smoke-postgres", check=False).stderr[-800:])
    log("smoke-postgres: PostgreSQL ready as gantry-db-rw.apim-cp:5432 (database app, user app)")

    # Redis: the rendered Deployment `redis`.
    redis = Workload("redis", redis_dep["spec"]["template"], "apim-dp", dp_r, sec, cms, work, image_user)
    redis.start()
    started.append(redis)
    ok, detail = redis.wait_probe("readiness", budget=60)
    result("probe smoke-redis readiness", ok, detail)

    # Migrations: the rendered Job, restarted on failure as restartPolicy OnFailure does.
    mig = Workload("migrate", mig_job["spec"]["template"], "apim-cp", cp_r, sec, cms, work, image_user)
    for attempt in range(1, 6):
        mig.start()
        code = podman("wait", mig.name, timeout=300).stdout.strip()
        if code == "0":
            break
        log(f"{mig.name}: attempt {attempt} exited {code}: {mig.logs(5).strip()[-300:]}")
        time.sleep(2 * attempt)
    cfg = podman("inspect", "--format", "{{.Config.User}} ro={{.HostConfig.ReadonlyRootfs}}", mig.name).stdout.strip()
    result("job apim-migrate", code == "0", f"exit {code} after {attempt} attempt(s), user {cfg}: "
           + mig.logs(3).strip().replace("\n", " | ")[-300:])
    if code != "0":
        raise RuntimeError("migrations failed")

    # Control plane: the rendered Deployment `apim`.
    cp = Workload("apim", cp_dep["spec"]["template"], "apim-cp", cp_r, sec, cms, work, image_user)
    cp.start()
    started.append(cp)
    for kind in ("startup", "readiness", "liveness"):
        ok, detail = cp.wait_probe(kind, budget=120 if kind == "readiness" else None)
        result(f"probe {cp.name} {kind}", ok, f"{cp.c[kind + 'Probe']['httpGet']['scheme']} "
               f"{cp.c[kind + 'Probe']['httpGet']['path']}: {detail}")
        if not ok:
            raise RuntimeError("the control plane did not come up")
    cp.monitor()

    cp_port = cp.host_port("https")
    cp_url = f"https://apim.apim-cp.svc:{cp_port}"
    admin = ("admin", sec["apim-secrets"]["admin-password"])

    def cp_call(method, path, body=None, auth=admin, want=(200, 201), **kw):
        st, b = request(method, cp_url + path, port=cp_port, ca=ca_file, body=body, auth=auth, **kw)
        return expect(st, b, want, f"{method} {path}")

    # The environment and its gateway token, as docs/operations.md "Deploy" step 7 does.
    env_obj = cp_call("POST", "/api/am/admin/v4/environments", {
        "name": environment, "displayName": "Production A",
        "vhosts": [{"host": gw_host, "httpsPort": 443, "httpPort": 80}]})
    token = cp_call("POST", f"/api/am/admin/v4/environments/{env_obj['id']}/gateway-tokens", {})["token"]
    sec["gateway-token"]["token"] = token
    log(f"environment {environment} ({env_obj['id']}) with vhost {gw_host}; gateway token issued")

    # Upstream for the test API.
    helper("upstream", ["upstream.smoke"], "python3", "-c", UPSTREAM_PY)

    # Gateway: the rendered Deployment `gateway`.
    gw = Workload("gateway", gw_dep["spec"]["template"], "apim-dp", dp_r, sec, cms, work, image_user)
    gw.start()
    started.append(gw)
    for kind in ("startup", "readiness", "liveness"):
        ok, detail = gw.wait_probe(kind, budget=120 if kind == "readiness" else None)
        result(f"probe {gw.name} {kind}", ok, f"{gw.c[kind + 'Probe']['httpGet']['scheme']} :"
               f"{gw.c[kind + 'Probe']['httpGet']['port']} {gw.c[kind + 'Probe']['httpGet']['path']}: {detail}")
        if not ok:
            raise RuntimeError("the gateway did not come up")
    gw.monitor()
    gws = cp_call("GET", f"/api/am/admin/v4/environments/{env_obj['id']}/gateways")
    log(f"Admin API lists the environment's gateways: {json.dumps(gws)[:300]}")

    for w in (cp, gw, redis):
        process_checks(w)

    # An API published through the control plane's REST API, as in the README's tour.
    t_pub = time.monotonic()
    api = cp_call("POST", "/api/am/publisher/v4/apis", {
        "name": "SmokeAPI", "context": "/smoke", "version": "1.0.0", "policies": ["Unlimited"],
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": "http://upstream.smoke:8080"}},
        "operations": [{"target": "/menu", "verb": "GET"}, {"target": "/slow", "verb": "GET"}]})
    cp_call("POST", f"/api/am/publisher/v4/apis/change-lifecycle?apiId={api['id']}&action=Publish")
    rev = cp_call("POST", f"/api/am/publisher/v4/apis/{api['id']}/revisions", {"description": "smoke"})
    cp_call("POST", f"/api/am/publisher/v4/apis/{api['id']}/deploy-revision?revisionId={rev['id']}",
            [{"name": environment, "vhost": gw_host}])
    app = cp_call("POST", "/api/am/devportal/v3/applications", {"name": "SmokeApp", "throttlingPolicy": "Unlimited"})
    cp_call("POST", "/api/am/devportal/v3/subscriptions",
            {"apiId": api["id"], "applicationId": app["applicationId"], "throttlingPolicy": "Unlimited"})
    keys = cp_call("POST", f"/api/am/devportal/v3/applications/{app['applicationId']}/generate-keys",
                   {"keyType": "PRODUCTION", "grantTypesToBeSupported": ["client_credentials"]})
    st, b = request("POST", cp_url + "/oauth2/token", port=cp_port, ca=ca_file,
                    body="grant_type=client_credentials", auth=(keys["consumerKey"], keys["consumerSecret"]),
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    access = expect(st, b, 200, "POST /oauth2/token")["access_token"]
    bearer = {"Authorization": f"Bearer {access}"}

    http_port, https_port = gw.host_port("http"), gw.host_port("https")
    deadline = time.monotonic() + 60
    while True:
        st, b = request("GET", "http://gw/smoke/1.0.0/menu", port=http_port, host=gw_host, headers=bearer)
        if st == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    result("api through the gateway (HTTP :9090)", st == 200 and "smoke-upstream" in b,
           f"GET http://{gw_host}/smoke/1.0.0/menu with a token: HTTP {st} {b[:80]} "
           f"({time.monotonic() - t_pub:.1f}s from create to served)")
    st, b = request("GET", "http://gw/smoke/1.0.0/menu", port=http_port, host=gw_host)
    result("api without a token is refused", st == 401, f"HTTP {st} {b[:100]}")
    st, b = request("GET", f"https://{gw_host}/smoke/1.0.0/menu", port=https_port, ca=ca_file, headers=bearer)
    result("api through the gateway (HTTPS :9095)", st == 200 and "smoke-upstream" in b,
           f"TLS name {gw_host} verified against the smoke CA: HTTP {st}")

    # The image's default command, as the Dockerfile's `docker run` line.
    podman("rm", "-f", "-i", "smoke-default-cmd", check=False)
    dport, dops = free_port(), free_port()
    podman("volume", "rm", "-f", "gantry-smoke-data", check=False)
    # As docs/operations.md shows it: admin password, loopback ports, a named volume.
    podman("run", "-d", "--name", "smoke-default-cmd", "--label", LABEL, "-e", "GANTRY_ADMIN_PASSWORD=admin",
           "-p", f"127.0.0.1:{dport}:9090", "-p", f"127.0.0.1:{dops}:9000",
           "-v", "gantry-smoke-data:/var/lib/gantry", a.image)
    t0 = time.monotonic()
    st, b = 0, ""
    while time.monotonic() - t0 < 60:
        try:
            st, b = request("GET", "http://localhost/pizzashack/1.0.0/menu", port=dport, host="localhost", timeout=5)
            if st == 200:
                break
        except OSError:
            pass
        time.sleep(1)
    user = podman("top", "smoke-default-cmd", "user", "args", check=False).stdout.strip().replace("\n", " | ")
    result("default CMD (`gantry up`, docker run)", st == 200,
           f"demo API GET /pizzashack/1.0.0/menu: HTTP {st} after {time.monotonic() - t0:.1f}s; {user}")
    podman("rm", "-f", "-t", "0", "smoke-default-cmd", check=False)
    podman("volume", "rm", "-f", "gantry-smoke-data", check=False)

    # Probes kept answering while all of the above ran: wait until each has been asked at
    # least once at its own period (at most the longest periodSeconds).
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(
            w.probe_log[k][0] == 0 for w in (cp, gw) for k in ("liveness", "readiness")):
        time.sleep(0.5)
    for w in (cp, gw):
        w.stop_monitor()
        li, re_ = w.probe_log["liveness"], w.probe_log["readiness"]
        result(f"probes {w.name} while serving", not w.liveness_failed and li[1] == 0 and re_[1] == 0,
               f"liveness {li[0]} checks {li[1]} failed, readiness {re_[0]} checks {re_[1]} failed")

    # Shutdown, as a rolling update does it: the control plane first (its gateway stream is
    # open), then the gateway with a request in flight.
    r = cp.terminate()
    result("sigterm smoke-apim", r["exit"] == "0" and not r["killed"] and r["total"] < cp.grace,
           f"preStop + SIGTERM -> exit {r['exit']} {r['after_sigterm']:.1f}s after SIGTERM, "
           f"{r['total']:.1f}s in all (terminationGracePeriodSeconds {cp.grace})")
    st, b = request("GET", "http://gw/smoke/1.0.0/menu", port=http_port, host=gw_host, headers=bearer)
    result("gateway serves with the control plane gone", st == 200, f"HTTP {st}")

    inflight = {}

    def slow():
        try:
            inflight["r"] = request("GET", "http://gw/smoke/1.0.0/slow?s=9", port=http_port, host=gw_host,
                                    headers=bearer, timeout=40)
        except Exception as e:  # noqa: BLE001
            inflight["r"] = (0, repr(e))

    th = threading.Thread(target=slow)
    th.start()
    time.sleep(1)
    draining = {}

    def readiness_while_draining():
        time.sleep(0.5)
        draining["ready"] = gw.probe(gw.c["readinessProbe"])
        draining["live"] = gw.probe(gw.c["livenessProbe"])

    r = gw.terminate(after_sigterm=readiness_while_draining)
    th.join()
    st, b = inflight["r"]
    result("sigterm smoke-gateway", r["exit"] == "0" and not r["killed"] and r["total"] < gw.grace and st == 200,
           f"a 9 s request in flight answered HTTP {st}; exit {r['exit']} {r['after_sigterm']:.1f}s after "
           f"SIGTERM, {r['total']:.1f}s in all (terminationGracePeriodSeconds {gw.grace})")
    result("gateway unready while draining", not draining["ready"][0] and draining["live"][0],
           f"0.5 s after SIGTERM: readiness {draining['ready'][1]}, liveness {draining['live'][1]}")
    for w in (cp, gw):
        print(f"--- last log lines of {w.name}")
        print(w.logs(6).rstrip())


if __name__ == "__main__":
    main()
