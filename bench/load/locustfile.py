"""Load test of the whole flow against a running Gantry: publish -> subscribe -> token -> invoke.

On start it creates (through the control plane's REST APIs, as a user would) an API in front of
an upstream, publishes and deploys it, and creates an application subscribed to it with keys.
Simulated users then mostly call the API through the gateway with bearer tokens, and now and
then fetch a fresh token. At the end the run is checked against an SLO and Locust exits non-zero
when it is missed.

    pip install locust
    GANTRY_CP=https://localhost:9443 GANTRY_CA=./gantry-data/tls/ca.pem GANTRY_ADMIN_PASSWORD=admin \
    GANTRY_UPSTREAM=http://127.0.0.1:9091 \
      locust -f bench/load/locustfile.py --headless -u 20 -r 10 -t 30s --host http://localhost:9090

Settings (environment): GANTRY_CP, GANTRY_CA (CA bundle, or "insecure"), GANTRY_ADMIN_USER /
GANTRY_ADMIN_PASSWORD, GANTRY_ENVIRONMENT (Default), GANTRY_VHOST (localhost), GANTRY_UPSTREAM
(the backend; the demo backend by default), SLO_P99_MS (500), SLO_ERROR_RATE (0.001).
"""

import os
import time
import uuid

import requests
from locust import HttpUser, between, events, task

CP = os.environ.get("GANTRY_CP", "https://localhost:9443")
CA = os.environ.get("GANTRY_CA", "./gantry-data/tls/ca.pem")
VERIFY = False if CA == "insecure" else CA
ADMIN = (os.environ.get("GANTRY_ADMIN_USER", "admin"), os.environ.get("GANTRY_ADMIN_PASSWORD", "admin"))
ENVIRONMENT = os.environ.get("GANTRY_ENVIRONMENT", "Default")
VHOST = os.environ.get("GANTRY_VHOST", "localhost")
UPSTREAM = os.environ.get("GANTRY_UPSTREAM", "http://127.0.0.1:9091")
SLO_P99_MS = float(os.environ.get("SLO_P99_MS", "500"))
SLO_ERROR_RATE = float(os.environ.get("SLO_ERROR_RATE", "0.001"))

STATE = {}


def rest(method, path, **kwargs):
    response = requests.request(method, CP + path, auth=ADMIN, verify=VERIFY, timeout=30, **kwargs)
    if response.status_code >= 300:
        raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
    return response.json() if response.content else {}


@events.test_start.add_listener
def publish_subscribe(environment, **_kwargs):
    """Publish -> deploy -> application -> subscription -> keys, once per run."""
    suffix = uuid.uuid4().hex[:8]
    context = f"/load{suffix}"
    api = rest("POST", "/api/am/publisher/v4/apis", json={
        "name": f"Load{suffix}", "context": context, "version": "1.0.0",
        "policies": ["Unlimited"],
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": UPSTREAM}},
        "operations": [{"target": "/menu", "verb": "GET"}],
    })
    rest("POST", f"/api/am/publisher/v4/apis/change-lifecycle?apiId={api['id']}&action=Publish")
    revision = rest("POST", f"/api/am/publisher/v4/apis/{api['id']}/revisions", json={"description": "load"})
    rest("POST", f"/api/am/publisher/v4/apis/{api['id']}/deploy-revision?revisionId={revision['id']}",
         json=[{"name": ENVIRONMENT, "vhost": VHOST}])
    app = rest("POST", "/api/am/devportal/v3/applications",
               json={"name": f"LoadApp{suffix}", "throttlingPolicy": "Unlimited"})
    rest("POST", "/api/am/devportal/v3/subscriptions",
         json={"apiId": api["id"], "applicationId": app["applicationId"], "throttlingPolicy": "Unlimited"})
    keys = rest("POST", f"/api/am/devportal/v3/applications/{app['applicationId']}/generate-keys",
                json={"keyType": "PRODUCTION", "grantTypesToBeSupported": ["client_credentials"]})
    STATE.update(path=f"{context}/1.0.0/menu", key=keys["consumerKey"], secret=keys["consumerSecret"])
    time.sleep(1)  # let the gateways apply the new version


def new_token():
    response = requests.post(CP + "/oauth2/token", data={"grant_type": "client_credentials"},
                             auth=(STATE["key"], STATE["secret"]), verify=VERIFY, timeout=30)
    response.raise_for_status()
    return response.json()["access_token"]


class ApiConsumer(HttpUser):
    wait_time = between(0.01, 0.05)

    def on_start(self):
        self.token = new_token()

    @task(50)
    def invoke(self):
        self.client.get(STATE["path"], name="invoke",
                        headers={"Authorization": f"Bearer {self.token}", "Host": VHOST})

    @task(1)
    def refresh_token(self):
        started = time.perf_counter()
        try:
            self.token = new_token()
            events.request.fire(request_type="POST", name="token", response_time=(time.perf_counter() - started) * 1000,
                                response_length=0, exception=None, context={})
        except Exception as error:  # counted as a failure, the run goes on
            events.request.fire(request_type="POST", name="token", response_time=(time.perf_counter() - started) * 1000,
                                response_length=0, exception=error, context={})


@events.quitting.add_listener
def check_slo(environment, **_kwargs):
    total = environment.stats.total
    p99 = total.get_response_time_percentile(0.99) or 0
    error_rate = total.fail_ratio
    verdict = "PASS" if p99 <= SLO_P99_MS and error_rate <= SLO_ERROR_RATE and total.num_requests > 0 else "FAIL"
    print(f"SLO {verdict}: {total.num_requests} requests, {total.total_rps:.0f} req/s, "
          f"p99 {p99:.0f} ms (SLO {SLO_P99_MS:.0f}), errors {error_rate:.4%} (SLO {SLO_ERROR_RATE:.3%})")
    if verdict == "FAIL":
        environment.process_exit_code = 1
