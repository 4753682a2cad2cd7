//! The conditional groups of an advanced (API-level) throttling policy, compiled: per group,
//! its tests grouped by WSO2 condition type (header, query parameter, JWT claim, client
//! address; each type's tests ANDed, then inverted together when `invertCondition` says
//! so) and its own limit. The limit stage counts a call under the first group that holds,
//! else under the policy's default limit. A policy without groups compiles to nothing here.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use gantry_model::deny::AddressRange;
use gantry_model::snapshot::ThrottlingPolicy;
use gantry_model::throttle_conditions::{
    ConditionKind, ConditionTest, GroupLimit, ThrottleCondition,
};
use http::{HeaderMap, HeaderName};
use regex::Regex;

use super::tier::Limit;
use crate::credential::SelectedClaims;

/// What the conditions of a group may look at in a request.
pub struct RequestFacts<'a> {
    /// The request's headers.
    pub headers: &'a HeaderMap,
    /// The raw query string, if any.
    pub query: Option<&'a str>,
    /// The client's address (the connection's peer).
    pub peer: IpAddr,
    /// The claims of the verified access token the conditions name, if a token was used.
    pub claims: Option<&'a SelectedClaims>,
}

enum Matcher {
    Header(HeaderName, Regex),
    Query(Box<str>, Regex),
    Claim(Box<str>, Regex),
    Address(AddressRange),
}

/// The tests of one condition type in a group.
struct TypeTests {
    kind: ConditionKind,
    invert: bool,
    matchers: Vec<Matcher>,
}

/// One conditional group.
pub struct Group {
    tests: Box<[TypeTests]>,
    /// The group's limit; `None` when it is unlimited.
    pub limit: Option<Arc<Limit>>,
}

/// An advanced policy's conditional groups, in order.
pub struct ConditionalLimits {
    /// The groups.
    pub groups: Box<[Group]>,
}

/// The operation-level view: the policy's groups and this operation's counter key for each.
pub struct OperationConditions {
    /// The policy's groups.
    pub limits: Arc<ConditionalLimits>,
    /// Counter key of each group for this operation (`GET /items #1`).
    pub keys: Box<[Arc<str>]>,
}

impl OperationConditions {
    /// The groups of `limits` counted per operation `key`.
    pub fn new(limits: Arc<ConditionalLimits>, key: &str) -> Self {
        let keys = (1..=limits.groups.len())
            .map(|i| Arc::from(format!("{key} #{i}").as_str()))
            .collect();
        Self { limits, keys }
    }

    /// The first group whose conditions hold for the request: its limit (`None` when
    /// unlimited) and counter key; `None` when no group holds (the default limit applies).
    pub fn select(&self, facts: &RequestFacts<'_>) -> Option<(Option<&Arc<Limit>>, &Arc<str>)> {
        self.limits
            .groups
            .iter()
            .zip(self.keys.iter())
            .find(|(group, _)| group.holds(facts))
            .map(|(group, key)| (group.limit.as_ref(), key))
    }
}

impl ConditionalLimits {
    /// Compiles `policy`'s groups; `None` when it has none. A condition that does not
    /// compile is added to `problems` (the control plane validates them, so this is a
    /// snapshot made elsewhere).
    pub fn compile(policy: &ThrottlingPolicy, problems: &mut Vec<String>) -> Option<Arc<Self>> {
        if policy.conditional_groups.is_empty() {
            return None;
        }
        let groups = policy
            .conditional_groups
            .iter()
            .enumerate()
            .map(|(i, group)| {
                Group::compile(
                    &format!("{} condition {}", policy.name, i + 1),
                    &group.conditions,
                    &group.limit,
                    problems,
                )
            })
            .collect();
        Some(Arc::new(Self { groups }))
    }

    /// The claim names the groups' JWT conditions read.
    pub fn claim_names(&self) -> impl Iterator<Item = &str> {
        self.groups.iter().flat_map(Group::claim_names)
    }
}

fn compile_test(test: &ConditionTest<'_>) -> Result<(ConditionKind, Matcher), String> {
    let regex = |pattern: &str| Regex::new(pattern).map_err(|e| e.to_string());
    let matcher = match *test {
        ConditionTest::Header { name, pattern } => Matcher::Header(
            HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
                .map_err(|e| format!("header '{name}': {e}"))?,
            regex(pattern)?,
        ),
        ConditionTest::Query { name, pattern } => Matcher::Query(name.into(), regex(pattern)?),
        ConditionTest::JwtClaim { claim, pattern } => Matcher::Claim(claim.into(), regex(pattern)?),
        ConditionTest::Address(range) => Matcher::Address(range),
    };
    Ok((test.kind(), matcher))
}

impl Group {
    /// Compiles `conditions` (all must hold; none: every call) with `limit`, a limit named
    /// `name`; a condition that does not compile is added to `problems` (the control plane
    /// validates them, so this is a snapshot made elsewhere).
    pub fn compile(
        name: &str,
        conditions: &[ThrottleCondition],
        limit: &GroupLimit,
        problems: &mut Vec<String>,
    ) -> Self {
        let mut tests: Vec<TypeTests> = Vec::new();
        for condition in conditions {
            let compiled = match condition.resolve() {
                Ok(test) => compile_test(&test),
                Err(e) => Err(e.to_string()),
            };
            let (kind, matcher) = match compiled {
                Ok(compiled) => compiled,
                Err(error) => {
                    problems.push(format!("{name}: {error}"));
                    continue;
                }
            };
            match tests.iter_mut().find(|t| t.kind == kind) {
                Some(t) => t.matchers.push(matcher),
                None => tests.push(TypeTests {
                    kind,
                    invert: condition.invert_condition,
                    matchers: vec![matcher],
                }),
            }
        }
        let limit = ThrottlingPolicy {
            graphql_max_depth: None,
            graphql_max_complexity: None,
            level: "api".to_owned(),
            name: name.to_owned(),
            request_count: limit.request_count,
            unit_time: limit.unit_time,
            time_unit: limit.time_unit.clone(),
            burst_count: 0,
            burst_time_unit: String::new(),
            bandwidth_bytes: limit.bandwidth_bytes(),
            conditional_groups: Vec::new(),
        };
        Group {
            tests: tests.into_boxed_slice(),
            limit: Limit::from_policy(&limit).map(Arc::new),
        }
    }

    /// The claim names this group's JWT conditions read.
    pub fn claim_names(&self) -> impl Iterator<Item = &str> {
        self.tests
            .iter()
            .flat_map(|t| t.matchers.iter())
            .filter_map(|m| match m {
                Matcher::Claim(name, _) => Some(&**name),
                _ => None,
            })
    }

    /// Whether every condition holds for the request (true without conditions).
    pub fn holds(&self, facts: &RequestFacts<'_>) -> bool {
        self.tests
            .iter()
            .all(|t| t.matchers.iter().all(|m| m.matches(facts)) != t.invert)
    }
}

impl Matcher {
    fn matches(&self, facts: &RequestFacts<'_>) -> bool {
        match self {
            Matcher::Header(name, regex) => facts
                .headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| regex.is_match(v)),
            Matcher::Query(name, regex) => facts.query.is_some_and(|query| {
                query.split('&').any(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    decoded(k) == **name && regex.is_match(&decoded(v))
                })
            }),
            Matcher::Claim(name, regex) => facts
                .claims
                .and_then(|claims| claims.get(name))
                .is_some_and(|values| values.iter().any(|v| regex.is_match(v))),
            Matcher::Address(range) => range.contains(facts.peer),
        }
    }
}

/// A query component percent-decoded (`+` is a space); borrowed when there is nothing to
/// decode. Bytes that do not decode to UTF-8 are replaced.
fn decoded(text: &str) -> Cow<'_, str> {
    if !text.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(text);
    }
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).and_then(|b| hex(*b)),
                bytes.get(i + 2).and_then(|b| hex(*b)),
            ) {
                (Some(high), Some(low)) => {
                    out.push((high * 16 + low) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use gantry_model::throttle_conditions::ConditionalGroup;
    use serde_json::json;

    fn policy(groups: serde_json::Value) -> ThrottlingPolicy {
        ThrottlingPolicy {
            graphql_max_depth: None,
            graphql_max_complexity: None,
            level: "api".into(),
            name: "Cond".into(),
            request_count: 100,
            unit_time: 1,
            time_unit: "min".into(),
            burst_count: 0,
            burst_time_unit: String::new(),
            bandwidth_bytes: 0,
            conditional_groups: serde_json::from_value::<Vec<ConditionalGroup>>(groups).unwrap(),
        }
    }

    fn limit(n: i64) -> serde_json::Value {
        json!({"requestCount": n, "unitTime": 1, "timeUnit": "min"})
    }

    #[test]
    fn first_group_that_holds_wins_and_inversion_is_per_type() {
        let p = policy(json!([
            {"conditions": [
                {"type": "HEADERCONDITION", "headerCondition": {"headerName": "X-Tier", "headerValue": "^gold$"}},
                {"type": "QUERYPARAMETERCONDITION", "queryParameterCondition": {"parameterName": "q", "parameterValue": "a b"}}
             ], "limit": limit(1)},
            {"conditions": [
                {"type": "IPCONDITION", "invertCondition": true, "ipCondition": {"ipConditionType": "IPSPECIFIC", "specificIP": "127.0.0.1"}}
             ], "limit": limit(2)}
        ]));
        let mut problems = Vec::new();
        let limits = ConditionalLimits::compile(&p, &mut problems).unwrap();
        assert!(problems.is_empty());
        let op = OperationConditions::new(limits, "GET /x");
        let mut headers = HeaderMap::new();
        headers.insert("x-tier", "gold".parse().unwrap());
        let facts =
            |headers: &'static HeaderMap, query: Option<&'static str>, peer: &str| RequestFacts {
                headers,
                query,
                peer: peer.parse().unwrap(),
                claims: None,
            };
        let headers: &'static HeaderMap = Box::leak(Box::new(headers));
        let empty: &'static HeaderMap = Box::leak(Box::default());
        let chosen = |f: RequestFacts<'_>| {
            op.select(&f)
                .map(|(l, k)| (l.unwrap().count, k.to_string()))
        };
        assert_eq!(
            chosen(facts(headers, Some("q=a+b"), "127.0.0.1")),
            Some((1, "GET /x #1".into()))
        );
        assert_eq!(
            chosen(facts(headers, Some("q=a%20b&z"), "127.0.0.1")),
            Some((1, "GET /x #1".into()))
        );
        // Not the header: falls to the inverted address group, which holds off 127.0.0.1.
        assert_eq!(
            chosen(facts(empty, Some("q=a+b"), "10.1.1.1")),
            Some((2, "GET /x #2".into()))
        );
        assert_eq!(chosen(facts(empty, None, "127.0.0.1")), None);
    }

    #[test]
    fn policies_without_groups_compile_to_nothing() {
        assert!(ConditionalLimits::compile(&policy(json!([])), &mut Vec::new()).is_none());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(decoded("a%2Fb+c"), "a/b c");
        assert_eq!(decoded("plain"), "plain");
        assert_eq!(decoded("bad%zz%"), "bad%zz%");
    }
}
