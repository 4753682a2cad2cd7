//! Conditional groups of advanced (API-level) throttling policies, in WSO2's
//! `AdvancedThrottlePolicy.conditionalGroups` shape: each group has conditions on a header,
//! a query parameter, a JWT claim or the client address, and its own limit. Gateways count
//! a call under the first group whose conditions all hold, else under the policy's default.
//!
//! As in WSO2, values of header, query-parameter and claim conditions are regular
//! expressions found anywhere in the actual value, and the conditions of one type in a
//! group are inverted together (`invertCondition` must agree among them).

use serde::{Deserialize, Serialize};

use crate::InvalidField;
use crate::deny::{AddressRange, parse_address};

/// One conditional group: the limit that applies when all its conditions hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionalGroup {
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The conditions, all of which must hold (WSO2 shape).
    pub conditions: Vec<ThrottleCondition>,
    /// The group's own limit.
    pub limit: GroupLimit,
}

/// A group's limit: requests, or with `data_amount` > 0 bytes, per `unit_time` `time_unit`s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupLimit {
    /// Requests per window (-1 unlimited; ignored for a bandwidth limit).
    pub request_count: i64,
    /// Window length in `time_unit`s.
    pub unit_time: i64,
    /// `sec`, `min`, `hour` or `day`.
    pub time_unit: String,
    /// Bandwidth limit: data per window in `data_unit`s; 0 for a request-count limit.
    #[serde(default)]
    pub data_amount: i64,
    /// `KB` or `MB` (1024-based).
    #[serde(default = "kilobytes")]
    pub data_unit: String,
}

fn kilobytes() -> String {
    "KB".to_owned()
}

/// `amount` `unit`s in bytes (`KB` = 1024, `MB` = 1024²); 0 for no bandwidth limit.
pub fn bandwidth_bytes(amount: i64, unit: &str) -> i64 {
    let unit = if unit.eq_ignore_ascii_case("MB") {
        1024 * 1024
    } else {
        1024
    };
    amount.max(0).saturating_mul(unit)
}

impl GroupLimit {
    /// Bytes per window for a bandwidth limit; 0 for a request-count one.
    pub fn bandwidth_bytes(&self) -> i64 {
        bandwidth_bytes(self.data_amount, &self.data_unit)
    }
}

/// One condition, as WSO2's `ThrottleCondition` carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThrottleCondition {
    /// `HEADERCONDITION`, `QUERYPARAMETERCONDITION`, `JWTCLAIMSCONDITION` or `IPCONDITION`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The condition holds when the request does *not* match.
    #[serde(default)]
    pub invert_condition: bool,
    /// For `HEADERCONDITION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_condition: Option<HeaderCondition>,
    /// For `IPCONDITION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_condition: Option<IpCondition>,
    /// For `JWTCLAIMSCONDITION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_claims_condition: Option<JwtClaimsCondition>,
    /// For `QUERYPARAMETERCONDITION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_parameter_condition: Option<QueryParameterCondition>,
}

/// WSO2 `HeaderCondition`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderCondition {
    /// Header name (case-insensitive).
    pub header_name: String,
    /// Regular expression found in the header's value.
    pub header_value: String,
}

/// WSO2 `QueryParameterCondition`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryParameterCondition {
    /// Parameter name (exact).
    pub parameter_name: String,
    /// Regular expression found in the (percent-decoded) value.
    pub parameter_value: String,
}

/// WSO2 `JWTClaimsCondition`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtClaimsCondition {
    /// The claim's name in the verified token (`http://wso2.org/claims/role`, `sub`…).
    pub claim_url: String,
    /// Regular expression found in the claim's value (arrays: in any element).
    pub attribute: String,
}

/// WSO2 `IPCondition`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpCondition {
    /// `IPSPECIFIC` or `IPRANGE` (absent: `IPSPECIFIC`).
    #[serde(
        rename = "ipConditionType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ip_condition_type: Option<String>,
    /// The address for `IPSPECIFIC`.
    #[serde(
        rename = "specificIP",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub specific_ip: Option<String>,
    /// First address for `IPRANGE`.
    #[serde(
        rename = "startingIP",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub starting_ip: Option<String>,
    /// Last address for `IPRANGE`.
    #[serde(rename = "endingIP", default, skip_serializing_if = "Option::is_none")]
    pub ending_ip: Option<String>,
}

/// A condition's test, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConditionTest<'a> {
    /// Header `name` has a value in which `pattern` is found.
    Header {
        /// Header name.
        name: &'a str,
        /// Regular expression.
        pattern: &'a str,
    },
    /// Query parameter `name` has a value in which `pattern` is found.
    Query {
        /// Parameter name.
        name: &'a str,
        /// Regular expression.
        pattern: &'a str,
    },
    /// The verified token's claim `claim` has a value in which `pattern` is found.
    JwtClaim {
        /// Claim name.
        claim: &'a str,
        /// Regular expression.
        pattern: &'a str,
    },
    /// The client's address is in `range`.
    Address(AddressRange),
}

impl ConditionTest<'_> {
    /// Which of WSO2's condition types this is (conditions are inverted per type).
    pub fn kind(&self) -> ConditionKind {
        match self {
            Self::Header { .. } => ConditionKind::Header,
            Self::Query { .. } => ConditionKind::Query,
            Self::JwtClaim { .. } => ConditionKind::JwtClaim,
            Self::Address(_) => ConditionKind::Address,
        }
    }
}

/// WSO2's condition types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConditionKind {
    /// `HEADERCONDITION`.
    Header,
    /// `QUERYPARAMETERCONDITION`.
    Query,
    /// `JWTCLAIMSCONDITION`.
    JwtClaim,
    /// `IPCONDITION`.
    Address,
}

fn required<'a>(value: &'a str, field: &str) -> Result<&'a str, InvalidField> {
    if value.trim().is_empty() {
        Err(InvalidField::new(field, "is required"))
    } else {
        Ok(value)
    }
}

fn pattern<'a>(value: &'a str, field: &str) -> Result<&'a str, InvalidField> {
    required(value, field)?;
    regex::Regex::new(value)
        .map(|_| value)
        .map_err(|e| InvalidField::new(field, format!("is not a regular expression: {e}")))
}

impl ThrottleCondition {
    /// What this condition tests, or the field that is wrong.
    pub fn resolve(&self) -> Result<ConditionTest<'_>, InvalidField> {
        fn part<'a, T>(part: &'a Option<T>, field: &str) -> Result<&'a T, InvalidField> {
            part.as_ref()
                .ok_or_else(|| InvalidField::new(field, "is required for this type"))
        }
        match self.kind.as_str() {
            "HEADERCONDITION" => {
                let h = part(&self.header_condition, "headerCondition")?;
                let name = required(&h.header_name, "headerCondition.headerName")?;
                if !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
                {
                    return Err(InvalidField::new(
                        "headerCondition.headerName",
                        format!("'{name}' is not a header name"),
                    ));
                }
                Ok(ConditionTest::Header {
                    name,
                    pattern: pattern(&h.header_value, "headerCondition.headerValue")?,
                })
            }
            "QUERYPARAMETERCONDITION" => {
                let q = part(&self.query_parameter_condition, "queryParameterCondition")?;
                Ok(ConditionTest::Query {
                    name: required(&q.parameter_name, "queryParameterCondition.parameterName")?,
                    pattern: pattern(&q.parameter_value, "queryParameterCondition.parameterValue")?,
                })
            }
            "JWTCLAIMSCONDITION" => {
                let j = part(&self.jwt_claims_condition, "jwtClaimsCondition")?;
                Ok(ConditionTest::JwtClaim {
                    claim: required(&j.claim_url, "jwtClaimsCondition.claimUrl")?,
                    pattern: pattern(&j.attribute, "jwtClaimsCondition.attribute")?,
                })
            }
            "IPCONDITION" => {
                let ip = part(&self.ip_condition, "ipCondition")?;
                let text =
                    |v: &Option<String>, field: &str| -> Result<std::net::IpAddr, InvalidField> {
                        let field = format!("ipCondition.{field}");
                        parse_address(&field, required(v.as_deref().unwrap_or_default(), &field)?)
                    };
                match ip.ip_condition_type.as_deref().unwrap_or("IPSPECIFIC") {
                    "IPSPECIFIC" => {
                        let address = text(&ip.specific_ip, "specificIP")?;
                        Ok(ConditionTest::Address(AddressRange {
                            start: address,
                            end: address,
                        }))
                    }
                    "IPRANGE" => {
                        let start = text(&ip.starting_ip, "startingIP")?;
                        let end = text(&ip.ending_ip, "endingIP")?;
                        AddressRange::new(start, end)
                            .map(ConditionTest::Address)
                            .ok_or_else(|| {
                                InvalidField::new(
                                    "ipCondition.endingIP",
                                    "must be of the same family as startingIP and not below it",
                                )
                            })
                    }
                    other => Err(InvalidField::new(
                        "ipCondition.ipConditionType",
                        format!("'{other}' is not one of IPSPECIFIC, IPRANGE"),
                    )),
                }
            }
            other => Err(InvalidField::new(
                "type",
                format!(
                    "'{other}' is not one of HEADERCONDITION, QUERYPARAMETERCONDITION, JWTCLAIMSCONDITION, IPCONDITION"
                ),
            )),
        }
    }
}

impl ConditionalGroup {
    /// Every condition resolves, there is at least one, and the conditions of one type
    /// agree on `invertCondition`; errors name the field under `at`
    /// (`conditionalGroups[0]`).
    pub fn validate(&self, at: &str) -> Result<(), InvalidField> {
        if self.conditions.is_empty() {
            return Err(InvalidField::new(
                format!("{at}.conditions"),
                "needs at least one condition",
            ));
        }
        validate_conditions(&self.conditions, &format!("{at}.conditions"))
    }
}

/// Every condition resolves, and the conditions of one type agree on `invertCondition`;
/// errors name the field under `at` (`conditionalGroups[0].conditions`).
pub fn validate_conditions(conditions: &[ThrottleCondition], at: &str) -> Result<(), InvalidField> {
    let mut inverts: Vec<(ConditionKind, bool)> = Vec::new();
    for (i, condition) in conditions.iter().enumerate() {
        let here = format!("{at}[{i}]");
        let kind = condition.resolve().map_err(|e| e.within(&here))?.kind();
        match inverts.iter().find(|(k, _)| *k == kind) {
            Some((_, invert)) if *invert != condition.invert_condition => {
                return Err(InvalidField::new(
                    format!("{here}.invertCondition"),
                    "conditions of the same type in a group must all be inverted or none (WSO2)",
                ));
            }
            Some(_) => {}
            None => inverts.push((kind, condition.invert_condition)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn group(conditions: serde_json::Value) -> ConditionalGroup {
        serde_json::from_value(json!({
            "conditions": conditions,
            "limit": {"requestCount": 5, "unitTime": 1, "timeUnit": "min"}
        }))
        .unwrap()
    }

    #[test]
    fn wso2_conditions_resolve_and_round_trip() {
        let conditions = json!([
            {"type": "HEADERCONDITION", "invertCondition": false,
             "headerCondition": {"headerName": "X-Tier", "headerValue": "^gold$"}},
            {"type": "IPCONDITION", "invertCondition": false,
             "ipCondition": {"ipConditionType": "IPRANGE", "startingIP": "10.0.0.1", "endingIP": "10.0.0.9"}},
            {"type": "QUERYPARAMETERCONDITION", "invertCondition": true,
             "queryParameterCondition": {"parameterName": "name", "parameterValue": "admin"}},
            {"type": "JWTCLAIMSCONDITION", "invertCondition": false,
             "jwtClaimsCondition": {"claimUrl": "sub", "attribute": "alice"}}
        ]);
        let g = group(conditions.clone());
        g.validate("conditionalGroups[0]").unwrap();
        assert_eq!(serde_json::to_value(&g.conditions).unwrap(), conditions);
        assert_eq!(
            g.conditions[1].resolve().unwrap(),
            ConditionTest::Address(
                AddressRange::new("10.0.0.1".parse().unwrap(), "10.0.0.9".parse().unwrap())
                    .unwrap()
            )
        );
    }

    #[test]
    fn bad_conditions_name_their_field() {
        let field = |c: serde_json::Value| group(c).validate("g").unwrap_err().field;
        assert_eq!(field(json!([])), "g.conditions");
        assert_eq!(
            field(json!([{"type": "HEADERCONDITION"}])),
            "g.conditions[0].headerCondition"
        );
        assert_eq!(
            field(
                json!([{"type": "HEADERCONDITION", "headerCondition": {"headerName": "X", "headerValue": "(("}}])
            ),
            "g.conditions[0].headerCondition.headerValue"
        );
        assert_eq!(
            field(json!([{"type": "IPCONDITION", "ipCondition": {"specificIP": "nope"}}])),
            "g.conditions[0].ipCondition.specificIP"
        );
        assert_eq!(
            field(json!([
                {"type": "HEADERCONDITION", "headerCondition": {"headerName": "A", "headerValue": "1"}},
                {"type": "HEADERCONDITION", "invertCondition": true, "headerCondition": {"headerName": "B", "headerValue": "2"}}
            ])),
            "g.conditions[1].invertCondition"
        );
        assert_eq!(field(json!([{"type": "COOKIE"}])), "g.conditions[0].type");
    }
}
