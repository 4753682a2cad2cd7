//! Conditional throttling (WSO2 advanced policies with `conditionalGroups`) against the real
//! binary: each condition kind — header, query parameter, JWT claim, client address — counts
//! matching calls under its group's own limit (429 with WSO2's throttle-out body once hit),
//! while calls outside every group are unaffected and fall to the policy's default limit;
//! an inverted condition; the groups returned over REST exactly as posted; and the
//! Redis-shared variant (two gateways of one environment, one group quota). Calls come from
//! 127.0.0.1 or 127.0.0.2 (both loopback), so address conditions can tell clients apart.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use gantry_testkit::cluster::{ControlPlaneProcess, GatewayProcess};
use gantry_testkit::rest::Rest;
use gantry_testkit::{EchoUpstream, GantryUp, free_port};
use reqwest::StatusCode;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const ADVANCED: &str = "/api/am/admin/v4/throttling/policies/advanced";
const REDIS: &str = "redis://127.0.0.1:6379";

/// `n` requests per hour: long enough that no quota refills, nor a shared window turns,
/// while a test runs.
fn per_hour(n: i64) -> Value {
    json!({"type": "REQUESTCOUNTLIMIT", "requestCount": {"timeUnit": "hour", "unitTime": 1, "requestCount": n}})
}

/// One call to the gateway at `port`.
struct Call<'a> {
    token: &'a str,
    from: [u8; 4],
    header: Option<(&'a str, &'a str)>,
    query: &'a str,
}

impl<'a> Call<'a> {
    fn by(token: &'a str) -> Self {
        Self {
            token,
            from: [127, 0, 0, 1],
            header: None,
            query: "",
        }
    }

    /// GET `/{api}/1.0.0/x{query}` on the gateway at `port`; (status, JSON body or null).
    async fn send(&self, port: u16, api: &str) -> (u16, Value) {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .local_address(IpAddr::from(self.from))
            .resolve("localhost", SocketAddr::from(([127, 0, 0, 1], port)))
            .build()
            .unwrap();
        let mut request = client
            .get(format!(
                "http://localhost:{port}/{api}/1.0.0/x{}",
                self.query
            ))
            .bearer_auth(self.token);
        if let Some((name, value)) = self.header {
            request = request.header(name, value);
        }
        match request.send().await {
            Ok(r) => (r.status().as_u16(), r.json().await.unwrap_or(Value::Null)),
            Err(_) => (0, Value::Null),
        }
    }
}

/// Sends `call` until it is refused; how many were admitted (at most 20), asserting the
/// refusal is WSO2's resource-level throttle-out 429.
async fn admitted(call: &Call<'_>, port: u16, api: &str) -> usize {
    admitted_with(call, port, api, "900802").await
}

/// [`admitted`], the refusal carrying WSO2's `code`.
async fn admitted_with(call: &Call<'_>, port: u16, api: &str, code: &str) -> usize {
    for n in 0..20 {
        let (status, body) = call.send(port, api).await;
        match status {
            200 => {}
            429 => {
                assert_eq!(body["code"], code, "{body}");
                assert_eq!(body["error_message"], "Message throttled out", "{body}");
                return n;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    20
}

/// An advanced policy `name` with `groups` and a default of `default` per hour, and an
/// API `context` whose only operation uses it, deployed to `environments`; the API's id.
async fn api_under(
    rest: &Rest,
    environments: &[&str],
    upstream: &EchoUpstream,
    name: &str,
    default: i64,
    groups: Value,
) -> String {
    let (status, policy) = rest
        .post(
            ADVANCED,
            json!({"policyName": name, "defaultLimit": per_hour(default), "conditionalGroups": groups}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{policy}");
    assert_eq!(
        policy["conditionalGroups"], groups,
        "returned exactly as posted"
    );
    let (status, again) = rest
        .get(&format!(
            "{ADVANCED}/{}",
            policy["policyId"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        again["conditionalGroups"], groups,
        "stored exactly as posted"
    );
    let context = format!("/{}", name.to_lowercase());
    rest.deployed_api_in(
        environments,
        name,
        &context,
        &upstream.url(),
        json!([{"target": "/x", "verb": "GET", "throttlingPolicy": name}]),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_condition_kind_has_its_own_limit_and_other_calls_fall_to_the_default() {
    let upstream = EchoUpstream::start().await;
    let mut up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let groups = json!([
        {"description": "mobile clients", "conditions": [{"type": "HEADERCONDITION", "invertCondition": false,
            "headerCondition": {"headerName": "X-Client", "headerValue": "^mobile$"}}], "limit": per_hour(2)},
        {"conditions": [{"type": "QUERYPARAMETERCONDITION", "invertCondition": false,
            "queryParameterCondition": {"parameterName": "plan", "parameterValue": "^free$"}}], "limit": per_hour(3)},
        {"conditions": [{"type": "JWTCLAIMSCONDITION", "invertCondition": false,
            "jwtClaimsCondition": {"claimUrl": "sub", "attribute": "^bob$"}}], "limit": per_hour(2)},
        {"conditions": [{"type": "IPCONDITION", "invertCondition": false,
            "ipCondition": {"ipConditionType": "IPRANGE", "startingIP": "127.0.0.2", "endingIP": "127.0.0.9"}}],
         "limit": per_hour(1)}
    ]);
    let api = api_under(&rest, &["Default"], &upstream, "Cond", 5, groups).await;
    let admin = rest.subscribed_token("CondApp", &[&api], "Unlimited").await;
    rest.create_user("bob", "bob-password-1", &["Internal/subscriber"])
        .await;
    let bob = rest
        .as_user("bob", "bob-password-1")
        .subscribed_token("BobApp", &[&api], "Unlimited")
        .await;
    let port = up.gw_port;
    let outside = Call::by(&admin);
    assert!(
        gantry_testkit::eventually(Duration::from_secs(5), || async {
            Call {
                header: Some(("X-Client", "mobile")),
                ..Call::by(&admin)
            }
            .send(port, "cond")
            .await
            .0 == 200
        })
        .await
    );
    // The header group: one call already spent by the wait above.
    let mobile = Call {
        header: Some(("X-Client", "mobile")),
        ..Call::by(&admin)
    };
    assert_eq!(admitted(&mobile, port, "cond").await, 1);
    assert_eq!(
        outside.send(port, "cond").await.0,
        200,
        "outside: unaffected"
    );
    let desktop = Call {
        header: Some(("X-Client", "mobile-desktop")),
        ..Call::by(&admin)
    };
    assert_eq!(desktop.send(port, "cond").await.0, 200, "^mobile$ only");

    let free = Call {
        query: "?plan=free",
        ..Call::by(&admin)
    };
    assert_eq!(admitted(&free, port, "cond").await, 3);
    assert_eq!(outside.send(port, "cond").await.0, 200);

    assert_eq!(admitted(&Call::by(&bob), port, "cond").await, 2);
    assert_eq!(outside.send(port, "cond").await.0, 200);

    let elsewhere = Call {
        from: [127, 0, 0, 2],
        ..Call::by(&admin)
    };
    assert_eq!(admitted(&elsewhere, port, "cond").await, 1);

    // Outside every group: four calls spent above, one more fits the default of 5.
    assert_eq!(admitted(&outside, port, "cond").await, 1);
    let (_, body) = outside.send(port, "cond").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("(Cond tier)"),
        "{body}"
    );
    up.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inverted_condition_limits_every_call_that_does_not_match() {
    let upstream = EchoUpstream::start().await;
    let mut up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let groups = json!([
        {"conditions": [{"type": "HEADERCONDITION", "invertCondition": true,
            "headerCondition": {"headerName": "X-Internal", "headerValue": "^yes$"}}], "limit": per_hour(1)}
    ]);
    let api = api_under(&rest, &["Default"], &upstream, "Inverted", 3, groups).await;
    let token = rest.subscribed_token("InvApp", &[&api], "Unlimited").await;
    let port = up.gw_port;
    let internal = Call {
        header: Some(("X-Internal", "yes")),
        ..Call::by(&token)
    };
    assert!(
        gantry_testkit::eventually(Duration::from_secs(5), || async {
            internal.send(port, "inverted").await.0 == 200
        })
        .await
    );
    assert_eq!(admitted(&Call::by(&token), port, "inverted").await, 1);
    assert_eq!(
        admitted(&internal, port, "inverted").await,
        2,
        "default of 3"
    );
    up.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_groups_are_validated_like_wso2() {
    let mut up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let header = |value: &str| {
        json!({"type": "HEADERCONDITION", "invertCondition": false,
               "headerCondition": {"headerName": "X-A", "headerValue": value}})
    };
    for (groups, field) in [
        (
            json!([{"conditions": [], "limit": per_hour(1)}]),
            "conditionalGroups[0].conditions",
        ),
        (
            json!([{"conditions": [header("a")]}]),
            "conditionalGroups[0].limit",
        ),
        (
            json!([{"conditions": [header("(")], "limit": per_hour(1)}]),
            "conditionalGroups[0].conditions[0].headerCondition.headerValue",
        ),
        (
            json!([{"conditions": [header("a"), {"type": "IPCONDITION", "ipCondition": {"specificIP": "300.1.1.1"}}],
                 "limit": per_hour(1)}]),
            "conditionalGroups[0].conditions[1].ipCondition.specificIP",
        ),
        (
            json!([{"conditions": [header("a"), {"type": "HEADERCONDITION", "invertCondition": true,
                  "headerCondition": {"headerName": "X-B", "headerValue": "b"}}], "limit": per_hour(1)}]),
            "conditionalGroups[0].conditions[1].invertCondition",
        ),
        (
            json!([{"conditions": [{"type": "COOKIECONDITION"}], "limit": per_hour(1)}]),
            "conditionalGroups[0].conditions[0].type",
        ),
        (
            json!([{"conditions": [header("a")], "limit": per_hour(0)}]),
            "conditionalGroups[0].limit.requestCount.requestCount",
        ),
    ] {
        let (status, error) = rest
            .post(
                ADVANCED,
                json!({"policyName": "Bad", "defaultLimit": per_hour(5), "conditionalGroups": groups}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{groups}: {error}");
        assert!(
            error["description"].as_str().unwrap().starts_with(field),
            "{field}: {error}"
        );
    }
    // Only advanced policies have groups.
    let (status, error) = rest
        .post(
            "/api/am/admin/v4/throttling/policies/subscription",
            json!({"policyName": "SubCond", "defaultLimit": per_hour(5),
                   "conditionalGroups": [{"conditions": [header("a")], "limit": per_hour(1)}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    // An update without `conditionalGroups` keeps them; `[]` clears them.
    let groups = json!([{"conditions": [header("^a$")], "limit": per_hour(1)}]);
    let (_, policy) = rest
        .post(
            ADVANCED,
            json!({"policyName": "Kept", "defaultLimit": per_hour(5), "conditionalGroups": groups}),
        )
        .await;
    let at = format!("{ADVANCED}/{}", policy["policyId"].as_str().unwrap());
    let (status, kept) = rest
        .put(
            &at,
            json!({"policyName": "Kept", "defaultLimit": per_hour(6)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    assert_eq!(kept["conditionalGroups"], groups);
    let (_, cleared) = rest
        .put(
            &at,
            json!({"policyName": "Kept", "defaultLimit": per_hour(6), "conditionalGroups": []}),
        )
        .await;
    assert_eq!(cleared["conditionalGroups"], json!([]));
    up.stop();
}

/// Calls with `probe` until one is refused by the custom rule `rule`: the configuration
/// holding it has reached the gateway.
async fn until_refused(probe: &Call<'_>, port: u16, api: &str, rule: &str) {
    let tier = format!("({rule} tier)");
    let refused = gantry_testkit::eventually(Duration::from_secs(5), || async {
        let (status, body) = probe.send(port, api).await;
        status == 429
            && body["error_description"]
                .as_str()
                .is_some_and(|d| d.contains(&tier))
    })
    .await;
    assert!(refused, "the rule reached the gateway");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_rules_count_calls_by_their_key_template() {
    const CUSTOM: &str = "/api/am/admin/v4/throttling/policies/custom";
    let upstream = EchoUpstream::start().await;
    let mut up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let ops = json!([{"target": "/x", "verb": "GET"}]);
    let one = rest
        .deployed_api("One", "/one", &upstream.url(), ops.clone())
        .await;
    let two = rest.deployed_api("Two", "/two", &upstream.url(), ops).await;
    let token = |name: &'static str| {
        let rest = rest.clone();
        let (one, two) = (one.clone(), two.clone());
        async move {
            rest.subscribed_token(name, &[&one, &two], "Unlimited")
                .await
        }
    };
    let (a, b, probe) = (
        token("AppA").await,
        token("AppB").await,
        token("Probe").await,
    );
    let port = up.gw_port;
    assert!(up.eventually_gw_status("/two/1.0.0/x", &a, 200).await);

    // Validation: Siddhi is refused with a pointer to the declarative form.
    let per_app = json!({"policyName": "PerApp", "description": "3 an hour per application",
                         "keyTemplate": "$appId", "defaultLimit": per_hour(3)});
    for (body, field) in [
        (
            json!({"policyName": "S", "keyTemplate": "$userId", "defaultLimit": per_hour(1),
                "siddhiQuery": "FROM RequestStream SELECT userId INSERT INTO EligibilityStream;"}),
            "siddhiQuery",
        ),
        (
            json!({"policyName": "K", "keyTemplate": "$user", "defaultLimit": per_hour(1)}),
            "keyTemplate",
        ),
        (
            json!({"policyName": "K", "defaultLimit": per_hour(1)}),
            "keyTemplate",
        ),
        (
            json!({"policyName": "L", "keyTemplate": "$userId"}),
            "defaultLimit",
        ),
        (
            json!({"policyName": "C", "keyTemplate": "$userId", "defaultLimit": per_hour(1),
                "conditions": [{"type": "IPCONDITION", "ipCondition": {"specificIP": "x"}}]}),
            "conditions[0].ipCondition.specificIP",
        ),
    ] {
        let (status, error) = rest.post(CUSTOM, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
        assert!(
            error["description"].as_str().unwrap().starts_with(field),
            "{error}"
        );
    }
    let (status, rule) = rest.post(CUSTOM, per_app.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{rule}");
    assert_eq!(rule["type"], "CustomRule");
    assert_eq!(rule["keyTemplate"], "$appId");
    assert_eq!(rule["defaultLimit"], per_hour(3));
    assert_eq!(rest.post(CUSTOM, per_app).await.0, StatusCode::CONFLICT);
    let rule_at = format!("{CUSTOM}/{}", rule["policyId"].as_str().unwrap());

    // `$appId`: one count per application, across both APIs; 429 `900806` once spent.
    until_refused(&Call::by(&probe), port, "one", "PerApp").await;
    let mut admitted_a = 0;
    for i in 0..5 {
        let (status, body) = Call::by(&a).send(port, ["one", "two"][i % 2]).await;
        match status {
            200 => admitted_a += 1,
            429 => assert_eq!(body["code"], "900806", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(admitted_a, 3, "3 an hour for AppA over both APIs");
    assert_eq!(
        admitted_with(&Call::by(&b), port, "two", "900806").await,
        3,
        "AppB counts apart"
    );

    // Conditions choose which calls count; `$appId:$apiContext` counts per API.
    let (status, _) = rest.delete(&rule_at).await;
    assert_eq!(status, StatusCode::OK);
    let batch = json!({"policyName": "Batch", "keyTemplate": "$appId:$apiContext",
        "defaultLimit": per_hour(1),
        "conditions": [{"type": "HEADERCONDITION", "invertCondition": false,
                        "headerCondition": {"headerName": "X-Client", "headerValue": "^batch$"}}]});
    let (status, rule) = rest.post(CUSTOM, batch).await;
    assert_eq!(status, StatusCode::CREATED, "{rule}");
    let in_batch = |token| Call {
        header: Some(("X-Client", "batch")),
        ..Call::by(token)
    };
    // The probe's PerApp quota is spent: only once PerApp is gone can Batch refuse it.
    until_refused(&in_batch(&probe), port, "one", "Batch").await;
    assert_eq!(admitted_with(&in_batch(&a), port, "one", "900806").await, 1);
    assert_eq!(
        admitted_with(&in_batch(&a), port, "two", "900806").await,
        1,
        "per API"
    );
    for _ in 0..4 {
        assert_eq!(
            Call::by(&a).send(port, "one").await.0,
            200,
            "outside the rule"
        );
    }
    let (status, list) = rest.get(CUSTOM).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["count"], 1, "{list}");
    up.stop();
}

fn redis_reachable() -> bool {
    let up = std::net::TcpStream::connect("127.0.0.1:6379").is_ok();
    if !up {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "Redis on 127.0.0.1:6379 is required under CI=true"
        );
        eprintln!("\n*** SKIPPING: Redis is not reachable on 127.0.0.1:6379 ***\n");
    }
    up
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_share_a_group_quota_through_redis() {
    if !redis_reachable() {
        return;
    }
    let upstream = EchoUpstream::start().await;
    let dirs = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dirs.path().join("cp.db").display());
    let cp = ControlPlaneProcess::start(BIN, &db, &dirs.path().join("cp"), None).await;
    let rest = Rest::new(&cp.url(""), cp.client());
    // A fresh environment name keeps this test's Redis counters apart from any other run.
    let env = format!("cond-{}", free_port());
    let (_, gw_token) = rest.environment_with_token(&env).await;
    let groups = json!([
        {"conditions": [{"type": "HEADERCONDITION", "invertCondition": false,
            "headerCondition": {"headerName": "X-Client", "headerValue": "^mobile$"}}], "limit": per_hour(4)}
    ]);
    let api = api_under(&rest, &[&env], &upstream, "Shared", 100, groups).await;
    let token = rest
        .subscribed_token("SharedApp", &[&api], "Unlimited")
        .await;
    let gateways: Vec<GatewayProcess> = (0..2)
        .map(|i| {
            let name = format!("gw{i}");
            let mut gw = GatewayProcess::start(
                BIN,
                &env,
                &cp.url(""),
                &gw_token,
                &cp.ca_path(),
                &dirs.path().join(&name),
                &name,
            );
            gw.restart_with_args(&["--redis-url", REDIS]);
            gw
        })
        .collect();
    for gw in &gateways {
        assert!(gw.wait_ready().await);
        assert!(
            gw.eventually_status("/shared/1.0.0/x", Some(&token), 200)
                .await
        );
    }
    let mobile = Call {
        header: Some(("X-Client", "mobile")),
        ..Call::by(&token)
    };
    let (mut ok, mut throttled) = (0, 0);
    for i in 0..8 {
        match mobile.send(gateways[i % 2].http_port, "shared").await.0 {
            200 => ok += 1,
            429 => throttled += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(
        (ok, throttled),
        (4, 4),
        "one group quota of 4 for the environment, not 4 per gateway"
    );
    // Outside the group: the default quota, untouched by the group's calls.
    for gw in &gateways {
        assert_eq!(Call::by(&token).send(gw.http_port, "shared").await.0, 200);
    }
}
