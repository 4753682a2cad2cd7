//! The issuers' verification keys of one configuration: each snapshot key by `kid`, bound to
//! one algorithm and one issuer (RFC 8725 §3.1), the external issuers' JWKS URLs, and the
//! keys the gateway fetched itself on an unknown `kid` (`authn::jwks_refresher` fills them).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use arc_swap::ArcSwap;
use gantry_model::GatewaySnapshot;
use gantry_model::snapshot::{IssuerKey, TrustedIssuer};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const CLOCK_SKEW_SECS: u64 = 30;

/// A public key of a trusted issuer, bound to one algorithm (RFC 8725 §3.1).
pub struct VerificationKey {
    /// The issuer whose tokens this key verifies (`iss` must equal it).
    pub issuer: Arc<str>,
    /// The only algorithm accepted with this key.
    pub algorithm: Algorithm,
    /// The key itself.
    pub key: DecodingKey,
    /// Checks built once: algorithm pinned, `iss` required and equal, `exp` and `nbf`
    /// enforced with bounded clock skew.
    pub validation: Validation,
    /// The same checks for API keys, which may have no `exp`.
    pub api_key_validation: Validation,
}

impl VerificationKey {
    /// Compiles `key` of `issuer`: the algorithm is the key's own (`alg` as the snapshot
    /// pins it), and so is the key family; a token never chooses either.
    pub fn compile(issuer: &str, key: &IssuerKey) -> Result<Self, String> {
        let algorithm = match key.alg.as_str() {
            "RS256" => Algorithm::RS256,
            "RS384" => Algorithm::RS384,
            "RS512" => Algorithm::RS512,
            "PS256" => Algorithm::PS256,
            "ES256" => Algorithm::ES256,
            "EdDSA" => Algorithm::EdDSA,
            other => return Err(format!("unsupported algorithm {other}")),
        };
        let decoding = match algorithm {
            Algorithm::ES256 => DecodingKey::from_ec_components(
                key.x.as_deref().unwrap_or_default(),
                key.y.as_deref().unwrap_or_default(),
            ),
            Algorithm::EdDSA => {
                DecodingKey::from_ed_components(key.x.as_deref().unwrap_or_default())
            }
            _ => DecodingKey::from_rsa_components(&key.n, &key.e),
        }
        .map_err(|e| e.to_string())?;
        Ok(VerificationKey {
            issuer: Arc::from(issuer),
            algorithm,
            key: decoding,
            validation: validation_for(issuer, algorithm),
            api_key_validation: {
                let mut v = validation_for(issuer, algorithm);
                v.set_required_spec_claims(&["iss"]);
                v
            },
        })
    }
}

fn validation_for(issuer: &str, algorithm: Algorithm) -> Validation {
    let mut v = Validation::new(algorithm);
    v.set_issuer(&[issuer]);
    v.set_required_spec_claims(&["exp", "iss"]);
    v.leeway = CLOCK_SKEW_SECS;
    v.validate_nbf = true;
    // WSO2 puts the client id in `aud`; the subscription check is what binds a token to an API.
    v.validate_aud = false;
    v
}

/// Where an external issuer publishes its keys, and its snapshot entry (to tell whether
/// keys fetched under one configuration still belong in the next).
#[derive(Debug, Clone)]
pub struct JwksSource {
    /// The JWKS URL.
    pub uri: String,
    /// The issuer as the snapshot carries it.
    pub entry: TrustedIssuer,
}

/// The snapshot's keys by `kid`, and the JWKS URLs of external issuers by issuer. The
/// resident key manager's keys go in first and keep their `kid`s: an external JWKS
/// publishing the same `kid` cannot shadow them (nor one external issuer another).
pub fn compile(
    snapshot: &GatewaySnapshot,
    problems: &mut Vec<String>,
) -> (
    HashMap<String, VerificationKey>,
    HashMap<String, JwksSource>,
) {
    let mut keys: HashMap<String, VerificationKey> = HashMap::new();
    let mut jwks_sources = HashMap::new();
    let resident = snapshot.resident_issuer();
    let (first, rest): (Vec<_>, Vec<_>) = snapshot
        .issuers
        .iter()
        .partition(|i| Some(i.issuer.as_str()) == resident);
    for issuer in first.into_iter().chain(rest) {
        for key in &issuer.keys {
            match VerificationKey::compile(&issuer.issuer, key) {
                Ok(compiled) => match keys.entry(key.kid.clone()) {
                    Entry::Vacant(slot) => {
                        slot.insert(compiled);
                    }
                    Entry::Occupied(taken) => {
                        tracing::warn!(kid = %key.kid, issuer = %issuer.issuer, holder = %taken.get().issuer,
                            "an issuer key reuses a kid already taken; left out");
                    }
                },
                Err(error) => problems.push(format!("issuer key {}: {error}", key.kid)),
            }
        }
        if let Some(uri) = &issuer.jwks_uri {
            jwks_sources.insert(
                issuer.issuer.clone(),
                JwksSource {
                    uri: uri.clone(),
                    entry: issuer.clone(),
                },
            );
        }
    }
    (keys, jwks_sources)
}

/// Keys of one issuer by `kid`.
pub type IssuerKeys = HashMap<String, Arc<VerificationKey>>;

/// Keys this gateway fetched itself, by issuer and `kid`. Swapped whole on a fetch; read
/// only when the snapshot's keys miss.
pub struct FetchedKeys(ArcSwap<HashMap<String, Arc<IssuerKeys>>>);

impl Default for FetchedKeys {
    fn default() -> Self {
        Self(ArcSwap::from_pointee(HashMap::new()))
    }
}

impl FetchedKeys {
    /// The fetched key `kid` of `issuer`.
    pub fn get(&self, issuer: &str, kid: &str) -> Option<Arc<VerificationKey>> {
        self.0.load().get(issuer)?.get(kid).cloned()
    }

    /// Replaces the fetched keys of `issuer` with `keys`.
    pub fn replace(&self, issuer: &str, keys: IssuerKeys) {
        let keys = Arc::new(keys);
        self.0.rcu(|current| {
            let mut next = HashMap::clone(current);
            next.insert(issuer.to_owned(), keys.clone());
            next
        });
    }

    /// Takes over the keys `previous` holds for issuers whose snapshot entry is the same
    /// under the previous configuration's `was` and the next one's `is`.
    pub fn inherit(
        &self,
        previous: &FetchedKeys,
        was: &HashMap<String, JwksSource>,
        is: &HashMap<String, JwksSource>,
    ) {
        let inherited: HashMap<String, Arc<IssuerKeys>> = previous
            .0
            .load()
            .iter()
            .filter(|(issuer, _)| {
                matches!(
                    (was.get(*issuer), is.get(*issuer)),
                    (Some(a), Some(b)) if a.uri == b.uri && a.entry == b.entry
                )
            })
            .map(|(issuer, keys)| (issuer.clone(), keys.clone()))
            .collect();
        if !inherited.is_empty() {
            self.0.store(Arc::new(inherited));
        }
    }
}
