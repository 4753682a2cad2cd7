//! Deny policies (WSO2 "blocking conditions"): calls an administrator refuses outright — by
//! API, application, user or client address — at every gateway of every environment.
//!
//! WSO2's wire shape (`conditionType` + a `conditionValue` whose shape depends on the type)
//! is parsed here once into a [`DenyCondition`]; gateways receive the parsed form.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::InvalidField;

/// The condition types WSO2 names, in its spelling.
pub const CONDITION_TYPES: [&str; 5] = ["API", "APPLICATION", "USER", "IP", "IPRANGE"];

/// An inclusive range of client addresses of one family (one address when start = end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressRange {
    /// First address of the range.
    pub start: IpAddr,
    /// Last address of the range (same family as `start`, not below it).
    pub end: IpAddr,
}

impl AddressRange {
    /// The range `start..=end`; `None` when the families differ or `end` < `start`.
    pub fn new(start: IpAddr, end: IpAddr) -> Option<Self> {
        match (start, end) {
            (IpAddr::V4(a), IpAddr::V4(b)) if a <= b => Some(Self { start, end }),
            (IpAddr::V6(a), IpAddr::V6(b)) if a <= b => Some(Self { start, end }),
            _ => None,
        }
    }

    /// Whether `address` is in the range. An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`,
    /// as a dual-stack listener reports IPv4 peers) counts as the IPv4 address.
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.start, self.end, address.to_canonical()) {
            (IpAddr::V4(a), IpAddr::V4(b), IpAddr::V4(x)) => a <= x && x <= b,
            (IpAddr::V6(a), IpAddr::V6(b), IpAddr::V6(x)) => a <= x && x <= b,
            _ => false,
        }
    }
}

/// An address as an administrator typed it, or why it is not one.
pub fn parse_address(field: &str, text: &str) -> Result<IpAddr, InvalidField> {
    text.trim()
        .parse::<IpAddr>()
        .map(|a| a.to_canonical())
        .map_err(|_| InvalidField::new(field, format!("'{text}' is not an IPv4 or IPv6 address")))
}

/// What a deny policy refuses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DenyCondition {
    /// Every call to the API version whose `context/version` this is (`/pizzashack/1.0.0`),
    /// under any of its paths (also the default-version one).
    Api {
        /// `context/version`, with a leading `/`.
        context: String,
    },
    /// Every call made with the keys of one application (WSO2 value `owner:name`).
    Application {
        /// The application's UUID, resolved by the control plane when the policy is made
        /// (empty until then).
        #[serde(default)]
        id: String,
        /// Owner's username.
        owner: String,
        /// Application name.
        name: String,
    },
    /// Every call by one user: the subject of the token or API key.
    User {
        /// Username as given (matched case-insensitively, `@carbon.super` ignored).
        name: String,
    },
    /// Calls from one address (WSO2 `IP`), or with `invert` from every other address.
    Ip {
        /// The address.
        address: IpAddr,
        /// Block everything but this address.
        #[serde(default)]
        invert: bool,
    },
    /// Calls from a range of addresses (WSO2 `IPRANGE`), or with `invert` from outside it.
    IpRange {
        /// The range.
        range: AddressRange,
        /// Block everything outside the range.
        #[serde(default)]
        invert: bool,
    },
}

fn text<'a>(value: &'a Value, field: &str) -> Result<&'a str, InvalidField> {
    value
        .as_str()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| InvalidField::new(field, "is required (a non-empty string)"))
}

fn member<'a>(value: &'a Value, name: &str) -> Result<&'a str, InvalidField> {
    text(
        value.get(name).unwrap_or(&Value::Null),
        &format!("conditionValue.{name}"),
    )
}

fn invert_of(value: &Value) -> Result<bool, InvalidField> {
    match value.get("invert") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        // WSO2's own portal sends the flag as a string.
        Some(Value::String(s)) if s == "true" || s == "false" => Ok(s == "true"),
        Some(_) => Err(InvalidField::new(
            "conditionValue.invert",
            "must be true or false",
        )),
    }
}

/// A username as deny policies compare it: lower case, without WSO2's super-tenant suffix.
pub fn user_key(name: &str) -> String {
    let name = name.trim();
    let name = name.strip_suffix("@carbon.super").unwrap_or(name);
    name.to_lowercase()
}

impl DenyCondition {
    /// Parses WSO2's `conditionType` and `conditionValue`; the error names the field.
    pub fn from_wso2(condition_type: &str, value: &Value) -> Result<Self, InvalidField> {
        match condition_type {
            "API" => {
                let context = text(value, "conditionValue")?;
                let context = format!("/{}", context.trim_matches('/'));
                if context.len() < 2 || context.contains(char::is_whitespace) {
                    return Err(InvalidField::new(
                        "conditionValue",
                        "must be an API's context and version, as /pizzashack/1.0.0",
                    ));
                }
                Ok(Self::Api { context })
            }
            "APPLICATION" => {
                let given = text(value, "conditionValue")?;
                match given.split_once(':') {
                    Some((owner, name)) if !owner.trim().is_empty() && !name.trim().is_empty() => {
                        Ok(Self::Application {
                            id: String::new(),
                            owner: owner.trim().to_owned(),
                            name: name.trim().to_owned(),
                        })
                    }
                    _ => Err(InvalidField::new(
                        "conditionValue",
                        format!(
                            "'{given}' is not an application as owner:name (admin:DefaultApplication)"
                        ),
                    )),
                }
            }
            "USER" => {
                let name = text(value, "conditionValue")?;
                if name.contains(char::is_whitespace) {
                    return Err(InvalidField::new(
                        "conditionValue",
                        format!("'{name}' is not a username"),
                    ));
                }
                Ok(Self::User {
                    name: name.to_owned(),
                })
            }
            "IP" => {
                if !value.is_object() {
                    return Err(InvalidField::new(
                        "conditionValue",
                        "must be an object {\"fixedIp\": \"192.168.1.1\", \"invert\": false}",
                    ));
                }
                let address = parse_address("conditionValue.fixedIp", member(value, "fixedIp")?)?;
                Ok(Self::Ip {
                    address,
                    invert: invert_of(value)?,
                })
            }
            "IPRANGE" | "IP_RANGE" => {
                if !value.is_object() {
                    return Err(InvalidField::new(
                        "conditionValue",
                        "must be an object {\"startingIp\": \"10.0.0.1\", \"endingIp\": \"10.0.0.9\", \"invert\": false}",
                    ));
                }
                let start =
                    parse_address("conditionValue.startingIp", member(value, "startingIp")?)?;
                let end = parse_address("conditionValue.endingIp", member(value, "endingIp")?)?;
                let range = AddressRange::new(start, end).ok_or_else(|| {
                    InvalidField::new(
                        "conditionValue.endingIp",
                        "must be of the same family as startingIp and not below it",
                    )
                })?;
                Ok(Self::IpRange {
                    range,
                    invert: invert_of(value)?,
                })
            }
            other => Err(InvalidField::new(
                "conditionType",
                format!("'{other}' is not one of API, APPLICATION, USER, IP, IPRANGE"),
            )),
        }
    }

    /// WSO2's `conditionType`.
    pub fn condition_type(&self) -> &'static str {
        match self {
            Self::Api { .. } => "API",
            Self::Application { .. } => "APPLICATION",
            Self::User { .. } => "USER",
            Self::Ip { .. } => "IP",
            Self::IpRange { .. } => "IPRANGE",
        }
    }

    /// WSO2's `conditionValue`: a string for API, APPLICATION and USER, an object for IP
    /// (`fixedIp`, `invert`) and IPRANGE (`startingIp`, `endingIp`, `invert`).
    pub fn wso2_value(&self) -> Value {
        match self {
            Self::Api { context } => json!(context),
            Self::Application { owner, name, .. } => json!(format!("{owner}:{name}")),
            Self::User { name } => json!(name),
            Self::Ip { address, invert } => {
                json!({"fixedIp": address.to_string(), "invert": invert})
            }
            Self::IpRange { range, invert } => json!({
                "startingIp": range.start.to_string(),
                "endingIp": range.end.to_string(),
                "invert": invert,
            }),
        }
    }

    /// What makes two policies the same one (a second is refused with 409): the type and
    /// the value, usernames and application owners compared case-insensitively.
    pub fn identity(&self) -> String {
        match self {
            Self::Api { context } => format!("API:{context}"),
            Self::Application { owner, name, .. } => {
                format!("APPLICATION:{}:{name}", user_key(owner))
            }
            Self::User { name } => format!("USER:{}", user_key(name)),
            Self::Ip { address, invert } => format!("IP:{address}:{invert}"),
            Self::IpRange { range, invert } => {
                format!("IPRANGE:{}-{}:{invert}", range.start, range.end)
            }
        }
    }

    /// Whether a search value (WSO2's `conditionValue:` modifier) names this condition: the
    /// string value, or for IP conditions one of the addresses.
    pub fn matches_search(&self, wanted: &str) -> bool {
        let wanted = wanted.trim();
        match self {
            Self::Api { context } => {
                context == wanted
                    || context.trim_start_matches('/') == wanted.trim_start_matches('/')
            }
            Self::Application { owner, name, .. } => format!("{owner}:{name}") == wanted,
            Self::User { name } => user_key(name) == user_key(wanted),
            Self::Ip { address, .. } => address.to_string() == wanted,
            Self::IpRange { range, .. } => {
                range.start.to_string() == wanted
                    || range.end.to_string() == wanted
                    || format!("{}-{}", range.start, range.end) == wanted
            }
        }
    }
}

/// A deny policy as gateways receive it: only switched-on policies are sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenyPolicy {
    /// The policy's UUID (WSO2 `conditionId`).
    pub id: String,
    /// What it refuses.
    pub condition: DenyCondition,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn wso2_values_parse_and_render_back() {
        for (kind, value) in [
            ("API", json!("/pizzashack/1.0.0")),
            ("APPLICATION", json!("admin:DefaultApplication")),
            ("USER", json!("alice")),
            ("IP", json!({"fixedIp": "192.168.1.1", "invert": false})),
            (
                "IPRANGE",
                json!({"startingIp": "10.0.0.1", "endingIp": "10.0.0.9", "invert": true}),
            ),
        ] {
            let parsed = DenyCondition::from_wso2(kind, &value).unwrap();
            assert_eq!(parsed.condition_type(), kind);
            assert_eq!(parsed.wso2_value(), value);
        }
        let api = DenyCondition::from_wso2("API", &json!("pizzashack/1.0.0/")).unwrap();
        assert_eq!(api.wso2_value(), json!("/pizzashack/1.0.0"));
    }

    #[test]
    fn bad_values_name_their_field() {
        let field =
            |kind: &str, value: Value| DenyCondition::from_wso2(kind, &value).unwrap_err().field;
        assert_eq!(field("HOST", json!("x")), "conditionType");
        assert_eq!(field("API", json!(7)), "conditionValue");
        assert_eq!(field("APPLICATION", json!("noowner")), "conditionValue");
        assert_eq!(field("IP", json!("10.0.0.1")), "conditionValue");
        assert_eq!(
            field("IP", json!({"fixedIp": "10.0.0.300"})),
            "conditionValue.fixedIp"
        );
        assert_eq!(
            field("IP", json!({"fixedIp": "10.0.0.3", "invert": 3})),
            "conditionValue.invert"
        );
        assert_eq!(
            field(
                "IPRANGE",
                json!({"startingIp": "10.0.0.9", "endingIp": "10.0.0.1"})
            ),
            "conditionValue.endingIp"
        );
        assert_eq!(
            field(
                "IPRANGE",
                json!({"startingIp": "10.0.0.1", "endingIp": "::1"})
            ),
            "conditionValue.endingIp"
        );
        assert_eq!(
            field("IPRANGE", json!({"endingIp": "10.0.0.1"})),
            "conditionValue.startingIp"
        );
    }

    #[test]
    fn ranges_hold_their_own_family_and_mapped_addresses() {
        let range =
            AddressRange::new("10.0.0.1".parse().unwrap(), "10.0.0.9".parse().unwrap()).unwrap();
        assert!(range.contains("10.0.0.5".parse().unwrap()));
        assert!(range.contains("::ffff:10.0.0.9".parse().unwrap()));
        assert!(!range.contains("10.0.0.10".parse().unwrap()));
        assert!(!range.contains("::1".parse().unwrap()));
    }

    #[test]
    fn identity_ignores_case_of_users_and_super_tenant() {
        let a = DenyCondition::from_wso2("USER", &json!("Alice@carbon.super")).unwrap();
        let b = DenyCondition::from_wso2("USER", &json!("alice")).unwrap();
        assert_eq!(a.identity(), b.identity());
        assert!(a.matches_search("ALICE"));
    }
}
