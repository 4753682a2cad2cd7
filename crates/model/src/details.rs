//! The parts of WSO2's `API` object that describe an API to people and portals rather than
//! to gateways: business owners, additional properties, categories, who may see it in the
//! Developer Portal (`visibleRoles`) and who may change it in the Publisher
//! (`accessControlRoles`). Kept and returned as WSO2 clients send them; the two role lists
//! are enforced by the control plane, and `apiThrottlingPolicy` is checked against the
//! API-level tiers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::InvalidField;

/// WSO2 `API.businessInformation`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BusinessInformation {
    /// Who owns the API on the business side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_owner: Option<String>,
    /// Their e-mail address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_owner_email: Option<String>,
    /// Who looks after it technically.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub technical_owner: Option<String>,
    /// Their e-mail address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub technical_owner_email: Option<String>,
}

/// One of WSO2's `additionalProperties`: a name, a value, and whether the Developer Portal
/// shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdditionalProperty {
    /// The property's name.
    pub name: String,
    /// Its value.
    #[serde(default)]
    pub value: String,
    /// Whether the Developer Portal shows it.
    #[serde(default)]
    pub display: bool,
}

/// The descriptive and access fields of WSO2's `API` object (flattened into it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ApiDetails {
    /// A display name; the name when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Business and technical owners.
    pub business_information: BusinessInformation,
    /// Free properties, in the order given.
    pub additional_properties: Vec<AdditionalProperty>,
    /// The same properties by name (WSO2 4.x sends both forms).
    pub additional_properties_map: BTreeMap<String, AdditionalProperty>,
    /// With `visibility: RESTRICTED`, the roles whose users see the API in the Developer
    /// Portal.
    pub visible_roles: Vec<String>,
    /// Tenants that see the API (multi-tenancy is not supported; kept as given).
    pub visible_tenants: Vec<String>,
    /// `CURRENT_TENANT`, `ALL_TENANTS` or `SPECIFIC_TENANTS`.
    pub subscription_availability: String,
    /// With `SPECIFIC_TENANTS`, which ones.
    pub subscription_available_tenants: Vec<String>,
    /// `NONE`, or `RESTRICTED` to the publishers in `accessControlRoles`.
    pub access_control: String,
    /// With `accessControl: RESTRICTED`, the roles whose users may see and change the API
    /// in the Publisher.
    pub access_control_roles: Vec<String>,
    /// Developer Portal categories.
    pub categories: Vec<String>,
    /// `wso2` (the only gateway vendor Gantry is).
    pub gateway_vendor: String,
    /// An API-level throttling policy applied to the whole API instead of each operation's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_throttling_policy: Option<String>,
    /// How the endpoint is implemented: `ENDPOINT` (a backend) or `INLINE`/`MOCKED_OAS`.
    pub endpoint_implementation_type: String,
    /// Whether requests are validated against the OpenAPI document (kept; not enforced yet).
    pub enable_schema_validation: bool,
    /// The scopes the API's operations use, with the roles bound to each (WSO2 `APIScope`):
    /// a user-bound token gets a scope only when the user holds one of its roles (or when
    /// it binds none). `shared` ones come from the Publisher's shared scopes.
    pub scopes: Vec<ApiScope>,
}

/// One of an API's scopes (WSO2 `APIScope`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiScope {
    /// The scope.
    pub scope: ScopeDefinition,
    /// Whether it is a shared scope (its bindings are the shared scope's).
    #[serde(default)]
    pub shared: bool,
}

/// A scope and the roles bound to it (WSO2 `Scope`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ScopeDefinition {
    /// The shared scope's id; absent for an API's own scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The name operations and tokens carry.
    pub name: String,
    /// Shown in the portals.
    pub display_name: String,
    /// One line.
    pub description: String,
    /// Roles whose users may be granted it; none: anyone.
    pub bindings: Vec<String>,
}

impl Default for ApiDetails {
    fn default() -> Self {
        Self {
            display_name: None,
            business_information: BusinessInformation::default(),
            additional_properties: Vec::new(),
            additional_properties_map: BTreeMap::new(),
            visible_roles: Vec::new(),
            visible_tenants: Vec::new(),
            subscription_availability: "CURRENT_TENANT".to_owned(),
            subscription_available_tenants: Vec::new(),
            access_control: "NONE".to_owned(),
            access_control_roles: Vec::new(),
            categories: Vec::new(),
            gateway_vendor: "wso2".to_owned(),
            api_throttling_policy: None,
            endpoint_implementation_type: "ENDPOINT".to_owned(),
            enable_schema_validation: false,
            scopes: Vec::new(),
        }
    }
}

fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<(), InvalidField> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(InvalidField::new(
            field,
            format!("'{value}' is not one of {}", allowed.join(", ")),
        ))
    }
}

/// Whether `name` may name a scope: 1 to 255 characters, no whitespace or control characters.
pub fn valid_scope_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 255
        && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl ApiDetails {
    /// Checks the enumerations and the role lists against `visibility`.
    pub fn validate(&self, visibility: &str) -> Result<(), InvalidField> {
        one_of(
            "subscriptionAvailability",
            &self.subscription_availability,
            &["CURRENT_TENANT", "ALL_TENANTS", "SPECIFIC_TENANTS"],
        )?;
        one_of(
            "accessControl",
            &self.access_control,
            &["NONE", "RESTRICTED"],
        )?;
        one_of("gatewayVendor", &self.gateway_vendor, &["wso2"])?;
        one_of(
            "endpointImplementationType",
            &self.endpoint_implementation_type,
            &["ENDPOINT", "INLINE", "MOCKED_OAS"],
        )?;
        if self.endpoint_implementation_type != "ENDPOINT" {
            return Err(InvalidField::new(
                "endpointImplementationType",
                "mock implementations are not supported yet; use \"ENDPOINT\"",
            ));
        }
        if visibility == "RESTRICTED" && self.visible_roles.is_empty() {
            return Err(InvalidField::new(
                "visibleRoles",
                "must name at least one role when visibility is RESTRICTED",
            ));
        }
        if self.access_control == "RESTRICTED" && self.access_control_roles.is_empty() {
            return Err(InvalidField::new(
                "accessControlRoles",
                "must name at least one role when accessControl is RESTRICTED",
            ));
        }
        for (list, field) in [
            (&self.visible_roles, "visibleRoles"),
            (&self.access_control_roles, "accessControlRoles"),
            (&self.categories, "categories"),
        ] {
            if let Some(i) = list.iter().position(|r| r.trim().is_empty()) {
                return Err(InvalidField::new(
                    format!("{field}[{i}]"),
                    "must not be empty",
                ));
            }
        }
        if let Some(i) = self
            .additional_properties
            .iter()
            .position(|p| p.name.trim().is_empty())
        {
            return Err(InvalidField::new(
                format!("additionalProperties[{i}].name"),
                "must not be empty",
            ));
        }
        for (i, api_scope) in self.scopes.iter().enumerate() {
            let name = &api_scope.scope.name;
            if !valid_scope_name(name) {
                return Err(InvalidField::new(
                    format!("scopes[{i}].scope.name"),
                    "1 to 255 characters, no spaces or control characters",
                ));
            }
            if self.scopes[..i].iter().any(|s| s.scope.name == *name) {
                return Err(InvalidField::new(
                    format!("scopes[{i}].scope.name"),
                    format!("'{name}' is listed twice"),
                ));
            }
            if let Some(j) = api_scope
                .scope
                .bindings
                .iter()
                .position(|r| r.trim().is_empty())
            {
                return Err(InvalidField::new(
                    format!("scopes[{i}].scope.bindings[{j}]"),
                    "must not be empty",
                ));
            }
        }
        Ok(())
    }

    /// Whether a user with `roles` sees the API in the Developer Portal, given `visibility`
    /// (`PUBLIC` for everyone; `RESTRICTED` for the visible roles; role names compare
    /// without regard to case, as WSO2's user store does).
    pub fn visible_to(&self, visibility: &str, roles: &[String]) -> bool {
        visibility != "RESTRICTED" || intersects(&self.visible_roles, roles)
    }

    /// Whether a publisher with `roles` may see and change the API.
    pub fn editable_by(&self, roles: &[String]) -> bool {
        self.access_control != "RESTRICTED" || intersects(&self.access_control_roles, roles)
    }
}

fn intersects(allowed: &[String], roles: &[String]) -> bool {
    allowed
        .iter()
        .any(|a| roles.iter().any(|r| r.eq_ignore_ascii_case(a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_wso2s() {
        let details: ApiDetails = serde_json::from_str("{}").unwrap_or_default();
        assert_eq!(details.subscription_availability, "CURRENT_TENANT");
        assert_eq!(details.access_control, "NONE");
        assert_eq!(details.gateway_vendor, "wso2");
        assert!(details.validate("PUBLIC").is_ok());
    }

    #[test]
    fn restricted_needs_roles_and_filters_by_them() {
        let mut details = ApiDetails::default();
        assert_eq!(
            details.validate("RESTRICTED").map_err(|e| e.field),
            Err("visibleRoles".to_owned())
        );
        details.visible_roles = vec!["Internal/partner".into()];
        assert!(details.validate("RESTRICTED").is_ok());
        assert!(details.visible_to("RESTRICTED", &["internal/PARTNER".into()]));
        assert!(!details.visible_to("RESTRICTED", &["Internal/subscriber".into()]));
        assert!(details.visible_to("PUBLIC", &[]));
    }

    #[test]
    fn access_control_limits_publishers() {
        let details = ApiDetails {
            access_control: "RESTRICTED".into(),
            access_control_roles: vec!["team-pizza".into()],
            ..ApiDetails::default()
        };
        assert!(details.editable_by(&["team-pizza".into()]));
        assert!(!details.editable_by(&["Internal/publisher".into()]));
        let wrong = ApiDetails {
            access_control: "SOMETIMES".into(),
            ..ApiDetails::default()
        };
        assert_eq!(
            wrong.validate("PUBLIC").map_err(|e| e.field),
            Err("accessControl".to_owned())
        );
    }
}
