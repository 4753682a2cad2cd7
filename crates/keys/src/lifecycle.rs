//! The signing-key lifecycle: `next → active → retired → removed`, and the decisions a
//! rotation makes, as pure functions over the keys' states and times.
//!
//! - `next` is published in the JWKS (and the gateways' snapshots) before it signs anything,
//!   so verifiers know it by the time it becomes active;
//! - `active` signs every new token; exactly one key is active;
//! - `retired` signs nothing but stays published until every token it signed has expired
//!   (`remove_after` = retirement time + the longest token lifetime then possible);
//! - `removed` is unpublished and its private half wiped.
//!
//! The control plane stores the states and carries out the [`Transition`]s [`plan`] returns.

/// Where a signing key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyState {
    /// Published, not signing yet.
    Next,
    /// Signs new tokens.
    Active,
    /// Published until its tokens have expired; signs nothing.
    Retired,
    /// Gone from the JWKS; the private key is wiped.
    Removed,
}

impl KeyState {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
            KeyState::Removed => "removed",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "next" => Some(KeyState::Next),
            "active" => Some(KeyState::Active),
            "retired" => Some(KeyState::Retired),
            "removed" => Some(KeyState::Removed),
            _ => None,
        }
    }

    /// Whether keys in this state appear in the JWKS and in gateway snapshots.
    pub fn is_published(self) -> bool {
        !matches!(self, KeyState::Removed)
    }

    /// Whether `self → to` is a step of the lifecycle (the only ones [`plan`] makes).
    pub fn can_become(self, to: KeyState) -> bool {
        matches!(
            (self, to),
            (KeyState::Next, KeyState::Active)
                | (KeyState::Active, KeyState::Retired)
                | (KeyState::Retired, KeyState::Removed)
        )
    }
}

/// What a rotation needs to know about a stored key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStatus {
    /// Key id.
    pub kid: String,
    /// State.
    pub state: KeyState,
    /// When it was created (epoch ms).
    pub created_at_ms: i64,
    /// When it became active (epoch ms), once it has.
    pub activated_at_ms: Option<i64>,
    /// For a retired key: when every token it signed has expired (epoch ms).
    pub remove_after_ms: Option<i64>,
}

/// When keys rotate and how long retired keys stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPolicy {
    /// Age of the active key at which a scheduled rotation replaces it (ms); 0 disables
    /// scheduled rotation.
    pub period_ms: i64,
}

/// One step a rotation takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Generate a key in this state (`Active` only when there is no key at all).
    Generate(KeyState),
    /// `next → active`.
    Activate(String),
    /// `active → retired`: keep it published until its tokens have expired.
    Retire(String),
    /// `retired → removed`.
    Remove(String),
}

/// Why a rotation is being planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The periodic check: rotate only when the active key is older than the period.
    Scheduled,
    /// An administrator asked: rotate now.
    Manual,
}

/// The transitions that bring `keys` to a good state at `now_ms`, in the order to apply
/// them. A good state has one active key, one next key, and no retired key whose tokens
/// have all expired.
pub fn plan(
    keys: &[KeyStatus],
    policy: RotationPolicy,
    trigger: Trigger,
    now_ms: i64,
) -> Vec<Transition> {
    let mut steps = Vec::new();
    let active = keys.iter().find(|k| k.state == KeyState::Active);
    let next = keys.iter().find(|k| k.state == KeyState::Next);

    let due = match (trigger, active) {
        (_, None) => true,
        (Trigger::Manual, Some(_)) => true,
        (Trigger::Scheduled, Some(key)) => {
            policy.period_ms > 0
                && now_ms - key.activated_at_ms.unwrap_or(key.created_at_ms) >= policy.period_ms
        }
    };
    if due {
        if let Some(active) = active {
            steps.push(Transition::Retire(active.kid.clone()));
        }
        match next {
            Some(next) => steps.push(Transition::Activate(next.kid.clone())),
            None => steps.push(Transition::Generate(KeyState::Active)),
        }
        steps.push(Transition::Generate(KeyState::Next));
    } else if next.is_none() {
        steps.push(Transition::Generate(KeyState::Next));
    }

    for key in keys {
        if key.state == KeyState::Retired && key.remove_after_ms.is_some_and(|t| t <= now_ms) {
            steps.push(Transition::Remove(key.kid.clone()));
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn key(kid: &str, state: KeyState, activated: Option<i64>, remove: Option<i64>) -> KeyStatus {
        KeyStatus {
            kid: kid.into(),
            state,
            created_at_ms: 0,
            activated_at_ms: activated,
            remove_after_ms: remove,
        }
    }

    #[test]
    fn first_start_makes_an_active_and_a_next_key() {
        let steps = plan(
            &[],
            RotationPolicy { period_ms: HOUR },
            Trigger::Scheduled,
            0,
        );
        assert_eq!(
            steps,
            vec![
                Transition::Generate(KeyState::Active),
                Transition::Generate(KeyState::Next)
            ]
        );
    }

    #[test]
    fn scheduled_rotation_waits_for_the_period_then_promotes_next() {
        let keys = [
            key("a", KeyState::Active, Some(0), None),
            key("n", KeyState::Next, None, None),
        ];
        let policy = RotationPolicy { period_ms: HOUR };
        assert!(plan(&keys, policy, Trigger::Scheduled, HOUR - 1).is_empty());
        assert_eq!(
            plan(&keys, policy, Trigger::Scheduled, HOUR),
            vec![
                Transition::Retire("a".into()),
                Transition::Activate("n".into()),
                Transition::Generate(KeyState::Next)
            ]
        );
        let off = RotationPolicy { period_ms: 0 };
        assert!(plan(&keys, off, Trigger::Scheduled, 100 * HOUR).is_empty());
        assert_eq!(plan(&keys, off, Trigger::Manual, 1).len(), 3);
    }

    #[test]
    fn retired_key_is_removed_only_after_its_tokens_expired() {
        let keys = [
            key("a", KeyState::Active, Some(0), None),
            key("n", KeyState::Next, None, None),
            key("r", KeyState::Retired, Some(0), Some(2 * HOUR)),
        ];
        let policy = RotationPolicy { period_ms: 0 };
        assert!(plan(&keys, policy, Trigger::Scheduled, 2 * HOUR - 1).is_empty());
        assert_eq!(
            plan(&keys, policy, Trigger::Scheduled, 2 * HOUR),
            vec![Transition::Remove("r".into())]
        );
    }

    #[test]
    fn lifecycle_moves_only_forward() {
        use KeyState::*;
        assert!(Next.can_become(Active) && Active.can_become(Retired));
        assert!(Retired.can_become(Removed));
        assert!(!Removed.can_become(Active) && !Retired.can_become(Active));
        assert!(!Next.can_become(Retired) && !Active.can_become(Next));
        for s in [Next, Active, Retired, Removed] {
            assert_eq!(KeyState::parse(s.as_str()), Some(s));
        }
        assert!(!Removed.is_published() && Retired.is_published() && Next.is_published());
    }
}
