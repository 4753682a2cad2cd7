//! The key ring over a shared store, as two control-plane replicas see it: one rotates,
//! the other reloads; both publish every key to their gateways; a wrong key-encryption key
//! cannot open the keys.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use gantry_control_plane::AppState;
use gantry_control_plane::keyring::KeyRing;
use gantry_keys::{KeyEncryptionKey, RotationPolicy, SigningAlgorithm, Trigger};
use gantry_store::Store;
use gantry_sync::Distributor;

const ISSUER: &str = "https://km.example/oauth2/token";
const KEK: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

async fn replica(store: &Store, algorithm: SigningAlgorithm) -> (AppState, Arc<Distributor>) {
    let ring = KeyRing::new(
        KeyEncryptionKey::from_base64(KEK).unwrap(),
        algorithm,
        RotationPolicy { period_ms: 0 },
        Duration::from_secs(60),
    );
    let issuer = ring.start(store, ISSUER).await.unwrap();
    let distributor = Arc::new(Distributor::new());
    let state = AppState::new(store.clone(), issuer, ring, distributor.clone());
    gantry_control_plane::bootstrap::ensure_default_environment(store)
        .await
        .unwrap();
    state.reconcile().await.unwrap();
    (state, distributor)
}

fn published(state: &AppState) -> Vec<String> {
    let mut kids: Vec<String> = state
        .issuer()
        .keys()
        .published()
        .iter()
        .map(|k| k.kid.clone())
        .collect();
    kids.sort();
    kids
}

#[tokio::test]
async fn a_rotation_by_one_replica_reaches_the_other_and_both_gateways() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("t.db")).await.unwrap();
    store.migrate().await.unwrap();
    let (a, a_gateways) = replica(&store, SigningAlgorithm::Rs256).await;
    let (b, b_gateways) = replica(&store, SigningAlgorithm::Es256).await;
    assert_eq!(
        published(&a),
        published(&b),
        "the second replica found the keys"
    );
    assert_eq!(published(&a).len(), 2, "active and next");
    let first_active = a.issuer().keys().active().kid().to_owned();

    assert!(a.key_ring().rotate(&a, Trigger::Manual).await.unwrap());
    let rotated = a.issuer().keys().active().kid().to_owned();
    assert_ne!(rotated, first_active);
    assert_eq!(published(&a).len(), 3, "retired, active, next");
    // The new next key was generated with replica A's algorithm settings.
    assert!(
        !b.key_ring().reload_if_changed(&a).await.unwrap(),
        "A is current"
    );

    assert!(b.key_ring().reload_if_changed(&b).await.unwrap());
    assert_eq!(b.issuer().keys().active().kid(), rotated);
    assert_eq!(published(&a), published(&b));
    assert!(
        !b.key_ring().reload_if_changed(&b).await.unwrap(),
        "nothing new"
    );

    for gateways in [&a_gateways, &b_gateways] {
        let snapshot = gateways.latest("Default").unwrap();
        let mut kids: Vec<String> = snapshot.snapshot.issuers[0]
            .keys
            .iter()
            .map(|k| k.kid.clone())
            .collect();
        kids.sort();
        assert_eq!(kids, published(&a), "gateways get every published key");
    }
}

#[tokio::test]
async fn keys_sealed_under_one_kek_do_not_open_under_another() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("t.db")).await.unwrap();
    store.migrate().await.unwrap();
    let _ = replica(&store, SigningAlgorithm::EdDsa).await;
    let (other, _) = KeyEncryptionKey::generate().unwrap();
    let ring = KeyRing::new(
        other,
        SigningAlgorithm::EdDsa,
        RotationPolicy { period_ms: 0 },
        Duration::from_secs(60),
    );
    let error = ring.start(&store, ISSUER).await.unwrap_err();
    assert!(error.to_string().contains("cannot be decrypted"), "{error}");
    for key in gantry_store::signing_keys::list(&store).await.unwrap() {
        assert!(key.private_key.starts_with("v1:"), "sealed at rest");
    }
}
