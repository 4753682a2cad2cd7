//! The API lifecycle: WSO2's default states and actions as one state machine.
//!
//! Every transition the publisher allows is in [`LifecycleState::apply`]; nothing else in
//! the code decides whether an action is legal.

use serde::{Deserialize, Serialize};

/// Where an API is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LifecycleState {
    /// Just created; not visible to subscribers.
    Created,
    /// Deployed as a prototype for early feedback.
    #[serde(alias = "PRE-RELEASED")]
    Prototyped,
    /// Visible in the developer portal; can be subscribed to.
    Published,
    /// Calls are refused; subscriptions are kept.
    Blocked,
    /// Existing subscribers keep working; no new subscriptions.
    Deprecated,
    /// Gone from gateways and portal. Terminal.
    Retired,
}

/// A lifecycle action, named exactly as WSO2's `change-lifecycle?action=` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LifecycleAction {
    /// → PUBLISHED
    #[serde(rename = "Publish")]
    Publish,
    /// → PROTOTYPED
    #[serde(rename = "Deploy as a Prototype")]
    DeployAsPrototype,
    /// → CREATED
    #[serde(rename = "Demote to Created")]
    DemoteToCreated,
    /// → BLOCKED
    #[serde(rename = "Block")]
    Block,
    /// → DEPRECATED
    #[serde(rename = "Deprecate")]
    Deprecate,
    /// BLOCKED → PUBLISHED
    #[serde(rename = "Re-Publish")]
    RePublish,
    /// → RETIRED
    #[serde(rename = "Retire")]
    Retire,
}

impl LifecycleAction {
    /// Every action, in WSO2's order.
    pub const ALL: [LifecycleAction; 7] = [
        LifecycleAction::Publish,
        LifecycleAction::DeployAsPrototype,
        LifecycleAction::DemoteToCreated,
        LifecycleAction::Block,
        LifecycleAction::Deprecate,
        LifecycleAction::RePublish,
        LifecycleAction::Retire,
    ];

    /// The action's WSO2 name.
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleAction::Publish => "Publish",
            LifecycleAction::DeployAsPrototype => "Deploy as a Prototype",
            LifecycleAction::DemoteToCreated => "Demote to Created",
            LifecycleAction::Block => "Block",
            LifecycleAction::Deprecate => "Deprecate",
            LifecycleAction::RePublish => "Re-Publish",
            LifecycleAction::Retire => "Retire",
        }
    }

    /// Parses a WSO2 action name (exact match, as WSO2 does).
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == raw)
    }
}

impl LifecycleState {
    /// The state's WSO2 name (`PUBLISHED`).
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleState::Created => "CREATED",
            LifecycleState::Prototyped => "PROTOTYPED",
            LifecycleState::Published => "PUBLISHED",
            LifecycleState::Blocked => "BLOCKED",
            LifecycleState::Deprecated => "DEPRECATED",
            LifecycleState::Retired => "RETIRED",
        }
    }

    /// Parses a state name as stored.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "CREATED" => LifecycleState::Created,
            "PROTOTYPED" | "PRE-RELEASED" => LifecycleState::Prototyped,
            "PUBLISHED" => LifecycleState::Published,
            "BLOCKED" => LifecycleState::Blocked,
            "DEPRECATED" => LifecycleState::Deprecated,
            "RETIRED" => LifecycleState::Retired,
            _ => return None,
        })
    }

    /// The state `action` leads to from here, or `None` when WSO2's lifecycle forbids it.
    pub fn apply(self, action: LifecycleAction) -> Option<LifecycleState> {
        use LifecycleAction as A;
        use LifecycleState as S;
        match (self, action) {
            (S::Created, A::Publish) => Some(S::Published),
            (S::Created, A::DeployAsPrototype) => Some(S::Prototyped),
            (S::Prototyped, A::Publish) => Some(S::Published),
            (S::Prototyped, A::DemoteToCreated) => Some(S::Created),
            (S::Prototyped, A::DeployAsPrototype) => Some(S::Prototyped),
            (S::Published, A::Block) => Some(S::Blocked),
            (S::Published, A::DeployAsPrototype) => Some(S::Prototyped),
            (S::Published, A::DemoteToCreated) => Some(S::Created),
            (S::Published, A::Deprecate) => Some(S::Deprecated),
            (S::Published, A::Publish) => Some(S::Published),
            (S::Blocked, A::Deprecate) => Some(S::Deprecated),
            (S::Blocked, A::RePublish) => Some(S::Published),
            (S::Deprecated, A::Retire) => Some(S::Retired),
            _ => None,
        }
    }

    /// The actions allowed from here, in WSO2's order.
    pub fn allowed_actions(self) -> Vec<LifecycleAction> {
        LifecycleAction::ALL
            .into_iter()
            .filter(|a| self.apply(*a).is_some())
            .collect()
    }

    /// Whether a gateway routes calls for an API in this state (blocked APIs are routed and
    /// refused with 403, as WSO2 does; retired ones are gone).
    pub fn is_routable(self) -> bool {
        !matches!(self, LifecycleState::Retired)
    }

    /// Whether applications may subscribe to an API in this state.
    pub fn accepts_subscriptions(self) -> bool {
        matches!(self, LifecycleState::Published)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_can_publish_or_prototype_only() {
        let s = LifecycleState::Created;
        assert_eq!(
            s.apply(LifecycleAction::Publish),
            Some(LifecycleState::Published)
        );
        assert_eq!(
            s.allowed_actions(),
            vec![LifecycleAction::Publish, LifecycleAction::DeployAsPrototype]
        );
        assert_eq!(s.apply(LifecycleAction::Retire), None);
    }

    #[test]
    fn retired_is_terminal() {
        assert!(LifecycleState::Retired.allowed_actions().is_empty());
    }

    #[test]
    fn blocked_comes_back_only_by_republish() {
        let s = LifecycleState::Blocked;
        assert_eq!(s.apply(LifecycleAction::Publish), None);
        assert_eq!(
            s.apply(LifecycleAction::RePublish),
            Some(LifecycleState::Published)
        );
    }

    #[test]
    fn action_names_round_trip() {
        for a in LifecycleAction::ALL {
            assert_eq!(LifecycleAction::parse(a.as_str()), Some(a));
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{}\"", a.as_str()));
        }
        assert_eq!(LifecycleAction::parse("publish"), None);
    }
}
