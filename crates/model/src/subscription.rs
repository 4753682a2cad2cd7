//! Key types and subscription states, shared by the devportal, the key manager and the
//! gateway's subscription check.

use serde::{Deserialize, Serialize};

/// Which set of keys (and so which endpoint) a credential belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum KeyType {
    /// Production keys: traffic goes to `production_endpoints`.
    Production,
    /// Sandbox keys: traffic goes to `sandbox_endpoints`.
    Sandbox,
}

impl KeyType {
    /// `PRODUCTION` or `SANDBOX`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Production => "PRODUCTION",
            KeyType::Sandbox => "SANDBOX",
        }
    }

    /// Parses `PRODUCTION` / `SANDBOX` exactly.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "PRODUCTION" => Some(KeyType::Production),
            "SANDBOX" => Some(KeyType::Sandbox),
            _ => None,
        }
    }
}

/// The state of a subscription, as WSO2 names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SubscriptionStatus {
    /// Calls are allowed.
    Unblocked,
    /// All calls are refused.
    Blocked,
    /// Production calls are refused, sandbox calls allowed.
    ProdOnlyBlocked,
    /// Waiting for approval.
    OnHold,
    /// Approval refused.
    Rejected,
}

impl SubscriptionStatus {
    /// The WSO2 name (`UNBLOCKED`).
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionStatus::Unblocked => "UNBLOCKED",
            SubscriptionStatus::Blocked => "BLOCKED",
            SubscriptionStatus::ProdOnlyBlocked => "PROD_ONLY_BLOCKED",
            SubscriptionStatus::OnHold => "ON_HOLD",
            SubscriptionStatus::Rejected => "REJECTED",
        }
    }

    /// Parses the stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "UNBLOCKED" => SubscriptionStatus::Unblocked,
            "BLOCKED" => SubscriptionStatus::Blocked,
            "PROD_ONLY_BLOCKED" => SubscriptionStatus::ProdOnlyBlocked,
            "ON_HOLD" => SubscriptionStatus::OnHold,
            "REJECTED" => SubscriptionStatus::Rejected,
            _ => return None,
        })
    }

    /// Whether a call with a key of `key_type` may pass.
    pub fn allows(self, key_type: KeyType) -> bool {
        match self {
            SubscriptionStatus::Unblocked => true,
            SubscriptionStatus::ProdOnlyBlocked => key_type == KeyType::Sandbox,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prod_only_blocked_lets_sandbox_through() {
        assert!(SubscriptionStatus::ProdOnlyBlocked.allows(KeyType::Sandbox));
        assert!(!SubscriptionStatus::ProdOnlyBlocked.allows(KeyType::Production));
        assert!(!SubscriptionStatus::Blocked.allows(KeyType::Sandbox));
        assert!(SubscriptionStatus::Unblocked.allows(KeyType::Production));
    }
}
