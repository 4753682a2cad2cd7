//! The deployment preview against the real binary: before a revision is deployed, the
//! control plane answers (with the gateways' own compiler) which routes would be added,
//! removed or changed; after deploying it, the gateway serves exactly that.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use gantry_testkit::GantryUp;
use gantry_testkit::echo::EchoUpstream;
use reqwest::StatusCode;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const PUB: &str = "/api/am/publisher/v4";

fn route<'a>(list: &'a Value, method: &str, path: &str) -> Option<&'a Value> {
    list.as_array()
        .unwrap()
        .iter()
        .find(|r| r["method"] == method && r["path"] == path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_names_the_route_changes_a_deployment_then_makes() {
    let upstream = EchoUpstream::start().await;
    let up = GantryUp::start(BIN).await;
    let rest = up.rest();
    let api_id = rest
        .deployed_api(
            "Shop",
            "/shop",
            &upstream.url(),
            json!([
                {"target": "/items", "verb": "GET", "authType": "None"},
                {"target": "/legacy", "verb": "GET", "authType": "None"},
            ]),
        )
        .await;
    assert!(up.eventually_gw_status("/shop/1.0.0/items", "", 200).await);

    // Revision 2: /items now needs a token, POST /items is new, /legacy is gone.
    let (_, mut api) = rest.get(&format!("{PUB}/apis/{api_id}")).await;
    api["operations"] = json!([
        {"target": "/items", "verb": "GET"},
        {"target": "/items", "verb": "POST", "scopes": ["shop:write"]},
    ]);
    let (status, body) = rest.put(&format!("{PUB}/apis/{api_id}"), api).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, revision) = rest
        .post(&format!("{PUB}/apis/{api_id}/revisions"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let revision_id = revision["id"].as_str().unwrap();

    let preview_path = format!(
        "{PUB}/apis/{api_id}/revisions/{revision_id}/deployment-preview?environment=Default"
    );
    let (status, preview) = rest.post_empty(&preview_path).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["applies"], true, "{preview}");
    let routes = &preview["routes"];
    let added = route(&routes["added"], "POST", "/shop/1.0.0/items").unwrap();
    assert_eq!(added["scopes"], json!(["shop:write"]));
    assert_eq!(added["vhost"], "localhost");
    assert!(
        route(&routes["removed"], "GET", "/shop/1.0.0/legacy").is_some(),
        "{routes}"
    );
    let changed = &routes["changed"][0];
    assert_eq!(changed["before"]["path"], "/shop/1.0.0/items");
    assert_eq!(changed["before"]["authType"], "None");
    assert_eq!(
        changed["after"]["authType"],
        "Application & Application User"
    );
    assert_eq!(routes["unchanged"], 0);

    // Nothing changed on the gateway yet.
    assert_eq!(up.gw_status("/shop/1.0.0/items", "").await, 200);
    assert_eq!(up.gw_status("/shop/1.0.0/legacy", "").await, 200);

    // Deployed: the gateway serves what the preview said.
    let (status, body) = rest
        .post(
            &format!("{PUB}/apis/{api_id}/deploy-revision?revisionId={revision_id}"),
            json!([{"name": "Default", "vhost": "localhost"}]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(up.eventually_gw_status("/shop/1.0.0/items", "", 401).await);
    assert!(up.eventually_gw_status("/shop/1.0.0/legacy", "", 404).await);
    let post = up
        .gw_client()
        .post(up.gw_url("/shop/1.0.0/items"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        post.status(),
        StatusCode::UNAUTHORIZED,
        "POST /items is routed"
    );

    // Previewing what is deployed changes nothing.
    let (_, again) = rest.post_empty(&preview_path).await;
    assert_eq!(again["routes"]["added"], json!([]), "{again}");
    assert_eq!(again["routes"]["removed"], json!([]));
    assert_eq!(again["routes"]["changed"], json!([]));
    assert_eq!(again["routes"]["unchanged"], 2);

    // Wrong input: WSO2's error body naming it.
    let (status, body) = rest
        .post_empty(&format!(
            "{PUB}/apis/{api_id}/revisions/{revision_id}/deployment-preview?environment=Nowhere"
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["description"].as_str().unwrap().contains("Nowhere"));
    let (status, body) = rest
        .post_empty(&format!(
            "{PUB}/apis/{api_id}/revisions/{revision_id}/deployment-preview"
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = rest
        .post_empty(&format!(
            "{PUB}/apis/{api_id}/revisions/0c0ffee0-0000-4000-8000-000000000000/deployment-preview?environment=Default"
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
