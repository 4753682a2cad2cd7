//! The reconcile compares contents, not numbers: a change committed without its version
//! bump is published by the next reconcile; unchanged contents raise no version, on one
//! replica or two; replicas that build different contents (another issuer) do not take
//! turns raising the version; a deployment counts only from the version that carries it.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use gantry_control_plane::AppState;
use gantry_control_plane::keyring::KeyRing;
use gantry_control_plane::service;
use gantry_keys::{KeyEncryptionKey, RotationPolicy, SigningAlgorithm};
use gantry_store::{Store, apis, environments};
use gantry_sync::Distributor;
use serde_json::json;

const KEK: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

async fn replica(store: &Store, issuer: &str) -> (AppState, Arc<Distributor>) {
    let ring = KeyRing::new(
        KeyEncryptionKey::from_base64(KEK).unwrap(),
        SigningAlgorithm::Rs256,
        RotationPolicy { period_ms: 0 },
        Duration::from_secs(60),
    );
    let token_issuer = ring.start(store, issuer).await.unwrap();
    let distributor = Arc::new(Distributor::new());
    let state = AppState::new(store.clone(), token_issuer, ring, distributor.clone());
    gantry_control_plane::bootstrap::ensure_default_environment(store)
        .await
        .unwrap();
    state.reconcile().await.unwrap();
    (state, distributor)
}

async fn sqlite() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("t.db")).await.unwrap();
    store.migrate().await.unwrap();
    (store, dir)
}

/// The published version of `Default` and the stored one.
async fn versions(store: &Store, distributor: &Distributor) -> (u64, i64) {
    let stored = environments::find_by_name(store, "Default")
        .await
        .unwrap()
        .unwrap()
        .config_version;
    (
        distributor.latest("Default").unwrap().snapshot.version,
        stored,
    )
}

/// An API with one revision, not deployed; (API id, revision id).
async fn api_with_revision(state: &AppState, name: &str) -> (String, String) {
    let request = serde_json::from_value(json!({
        "name": name, "context": format!("/{}", name.to_lowercase()), "version": "1.0.0",
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": "http://upstream"}},
        "operations": [{"target": "/items", "verb": "GET"}],
    }))
    .unwrap();
    let api = service::apis::create(state, request, "admin")
        .await
        .unwrap();
    let revision = service::revisions::create_revision(state, &api.id, "")
        .await
        .unwrap();
    (api.id, revision.id)
}

#[tokio::test]
async fn a_change_committed_without_its_bump_is_published_by_the_next_reconcile() {
    let (store, _dir) = sqlite().await;
    let (a, gateways) = replica(&store, "https://km.example/oauth2/token").await;
    let (api, revision) = api_with_revision(&a, "Orders").await;
    let (before, stored) = versions(&store, &gateways).await;
    assert_eq!(before, stored as u64);

    // The deployment row commits; the bump that should follow never happens.
    apis::deploy(&store, &api, &revision, "Default", "localhost", true)
        .await
        .unwrap();
    let deployment = &apis::list_deployments(&store, &api).await.unwrap()[0];
    assert_eq!(deployment.config_version, 0, "no version carries it yet");
    let progress = service::revisions::gateway_progress(&a, "Default", 0)
        .await
        .unwrap();
    assert_eq!(progress.applied, 0);

    a.reconcile().await.unwrap();
    let (after, stored) = versions(&store, &gateways).await;
    assert_eq!((after, stored), (before + 1, before as i64 + 1));
    let latest = gateways.latest("Default").unwrap();
    assert!(
        latest
            .snapshot
            .apis
            .iter()
            .any(|d| d.revision_id == revision)
    );
    let deployment = &apis::list_deployments(&store, &api).await.unwrap()[0];
    assert_eq!(deployment.config_version, after as i64);
}

#[tokio::test]
async fn unchanged_contents_raise_no_version_and_a_redeploy_counts_from_the_version_out() {
    let (store, _dir) = sqlite().await;
    let (a, a_gateways) = replica(&store, "https://km.example/oauth2/token").await;
    let (api, revision) = api_with_revision(&a, "Stock").await;
    let target = [service::revisions::DeploymentTarget::environment("Default")];
    service::revisions::deploy_revision(&a, &api, &revision, &target)
        .await
        .unwrap();
    let (version, _) = versions(&store, &a_gateways).await;
    a.reconcile().await.unwrap();
    a.reconcile().await.unwrap();
    assert_eq!(
        versions(&store, &a_gateways).await,
        (version, version as i64)
    );

    // A second replica on the same store builds the same contents: same version, same digest.
    let (_b, b_gateways) = replica(&store, "https://km.example/oauth2/token").await;
    assert_eq!(versions(&store, &b_gateways).await.0, version);
    assert_eq!(
        b_gateways.latest("Default").unwrap().digest,
        a_gateways.latest("Default").unwrap().digest
    );

    // The same revision deployed again changes nothing gateways receive: the new row is
    // carried by the version already out.
    service::revisions::deploy_revision(&a, &api, &revision, &target)
        .await
        .unwrap();
    assert_eq!(versions(&store, &a_gateways).await.0, version);
    let deployment = &apis::list_deployments(&store, &api).await.unwrap()[0];
    assert_eq!(deployment.config_version, version as i64);
}

#[tokio::test]
async fn replicas_with_different_contents_do_not_take_turns_raising_the_version() {
    let (store, _dir) = sqlite().await;
    let (a, a_gateways) = replica(&store, "https://km.example/oauth2/token").await;
    // A misconfigured replica (another issuer) raises the version once, on start...
    let (b, b_gateways) = replica(&store, "https://other.example/oauth2/token").await;
    let (b_version, stored) = versions(&store, &b_gateways).await;
    assert_eq!(b_version, stored as u64);
    // ...and from then on neither raises it again by reconciling.
    for _ in 0..3 {
        a.reconcile().await.unwrap();
        b.reconcile().await.unwrap();
    }
    assert_eq!(versions(&store, &b_gateways).await, (b_version, stored));
    assert_eq!(versions(&store, &a_gateways).await.0, b_version);

    // Each still publishes its own changes.
    let (api, revision) = api_with_revision(&a, "Ledger").await;
    service::revisions::deploy_revision(
        &a,
        &api,
        &revision,
        &[service::revisions::DeploymentTarget::environment("Default")],
    )
    .await
    .unwrap();
    let (a_version, stored) = versions(&store, &a_gateways).await;
    assert_eq!(a_version, b_version + 1);
    b.reconcile().await.unwrap();
    let b_latest = b_gateways.latest("Default").unwrap();
    assert_eq!(b_latest.snapshot.version, stored as u64);
    assert!(b_latest.snapshot.apis.iter().any(|d| d.api_id == api));
}
