//! A SOAP API compiled: its operations by the SOAPAction that calls them (the WSDL's
//! bindings, `soapActions`), and the one route its clients post to (the service URL: the
//! API's base path), whose operation `stage::soap` replaces with the action's.

use std::collections::HashMap;

use gantry_model::snapshot::DeployedApi;
use gantry_model::{AuthType, HttpVerb, Operation, ResourceTarget};

use super::limits::Policies;
use super::operation::{OperationEntry, OperationParts};

/// Operations by action.
pub struct SoapActions {
    by_action: HashMap<String, OperationEntry>,
}

impl SoapActions {
    /// Compiles `api`'s operations under their actions; an operation without one is
    /// callable by its name (`SOAPAction: GetQuote`).
    /// The environment's `gateway` policies run first, as on every route.
    pub fn compile(
        api: &DeployedApi,
        policies: &Policies<'_>,
        gateway: &gantry_model::ApiPolicies,
        problems: &mut Vec<String>,
    ) -> Self {
        let by_action = api
            .operations
            .iter()
            .map(|op| {
                let target = op.target.as_str();
                let action = api
                    .gateway
                    .soap_actions
                    .get(target)
                    .cloned()
                    .unwrap_or_else(|| target.trim_start_matches('/').to_owned());
                let entry =
                    OperationParts::compile(api, op, policies, gateway, problems).entry(op, None);
                (action, entry)
            })
            .collect();
        Self { by_action }
    }

    /// The operation `action` calls.
    pub fn operation(&self, action: &str) -> Option<&OperationEntry> {
        self.by_action.get(action)
    }

    /// The route clients post to: the service URL (the base path), admitted by its
    /// action's operation.
    pub fn route() -> Operation {
        Operation {
            id: None,
            target: ResourceTarget::parse("/").expect("a valid target"),
            verb: HttpVerb::Post,
            auth_type: AuthType::Any,
            throttling_policy: "Unlimited".to_owned(),
            scopes: Vec::new(),
            operation_policies: Default::default(),
        }
    }
}
