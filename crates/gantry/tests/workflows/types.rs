//! Each workflow type: pending → approved → in effect (the gateway is the judge), and
//! pending → rejected → nothing left that grants access.

use super::fixture::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_is_on_hold_until_approved_then_the_gateway_lets_it_through() {
    let upstream = EchoUpstream::start().await;
    let mut d = deployment("AM_SUBSCRIPTION_CREATION", &[]).await;
    let api_id = deployed(&d.admin, "Held", "/held", &upstream).await;
    let app_id = d.dev.application("dora-held").await;
    let token = token_of(&d.dev, &app_id).await;

    let (status, response) = subscribe(&d.dev, &app_id, &api_id).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{response}");
    let reference = reference_of(&response);
    let payload: Value = serde_json::from_str(response["jsonPayload"].as_str().unwrap()).unwrap();
    let sub_id = payload["subscriptionId"].as_str().unwrap().to_owned();
    let (_, sub) = d.dev.get(&format!("{DEV}/subscriptions/{sub_id}")).await;
    assert_eq!(sub["status"], "ON_HOLD", "{sub}");

    // Gateways never see it: the token is refused.
    let path = "/held/1.0.0/items";
    assert_eq!(d.up.gw_status(path, &token).await, 403);
    // Blocking/unblocking is no way around the approval.
    let (status, body) = d
        .admin
        .post_empty(&format!(
            "{PUB}/subscriptions/unblock-subscription?subscriptionId={sub_id}"
        ))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // The inbox lists it, with WSO2's names and the request.
    let list = pending(&d.approver, "AM_SUBSCRIPTION_CREATION").await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["referenceId"], reference.as_str());
    assert_eq!(list[0]["workflowType"], "SUBSCRIPTION_CREATION");
    assert_eq!(list[0]["properties"]["requestedBy"], "dev-dora");
    assert!(pending(&d.approver, "AM_API_STATE").await.is_empty());
    // The developer holds no approval scope.
    let (status, _) = decide(&d.dev, &reference, "APPROVED", "self-service").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    decided(&d.approver, &reference, "APPROVED", "ticket OPS-12").await;
    assert!(d.up.eventually_gw_status(path, &token, 200).await);
    let (_, sub) = d.dev.get(&format!("{DEV}/subscriptions/{sub_id}")).await;
    assert_eq!(sub["status"], "UNBLOCKED", "{sub}");

    // The audit trail: who asked, who decided, when, why.
    let (status, info) = d
        .approver
        .get(&format!("{ADMIN}/workflows/{reference}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_wso2("WorkflowInfo", &info);
    assert_eq!(info["workflowStatus"], "APPROVED");
    assert_eq!(info["properties"]["decidedBy"], "approver-ann");
    assert_eq!(info["properties"]["comment"], "ticket OPS-12");
    assert!(info["properties"]["decidedTime"].is_string(), "{info}");
    assert!(
        pending(&d.approver, "AM_SUBSCRIPTION_CREATION")
            .await
            .is_empty()
    );
    // Decided once.
    let (status, body) = decide(&d.admin, &reference, "REJECTED", "too late").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    d.up.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_subscription_and_tier_change_leave_nothing_that_grants_access() {
    let upstream = EchoUpstream::start().await;
    let mut d = deployment("AM_SUBSCRIPTION_CREATION,AM_SUBSCRIPTION_UPDATE", &[]).await;
    let api_id = deployed(&d.admin, "Refused", "/refused", &upstream).await;
    let app_id = d.dev.application("dora-refused").await;
    let token = token_of(&d.dev, &app_id).await;
    let (status, response) = subscribe(&d.dev, &app_id, &api_id).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{response}");
    let reference = reference_of(&response);
    decided(&d.approver, &reference, "REJECTED", "not for production").await;

    let (_, subs) = d
        .dev
        .get(&format!("{DEV}/subscriptions?applicationId={app_id}"))
        .await;
    assert_eq!(subs["list"][0]["status"], "REJECTED", "{subs}");
    let path = "/refused/1.0.0/items";
    assert_eq!(d.up.gw_status(path, &token).await, 403);
    let sub_id = subs["list"][0]["subscriptionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = d
        .admin
        .post_empty(&format!(
            "{PUB}/subscriptions/unblock-subscription?subscriptionId={sub_id}"
        ))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // A tier change waits too, and the subscription keeps its tier meanwhile.
    let other_app = d.dev.application("dora-tiers").await;
    let other_token = token_of(&d.dev, &other_app).await;
    let (_, response) = subscribe(&d.dev, &other_app, &api_id).await;
    decided(&d.approver, &reference_of(&response), "APPROVED", "ok").await;
    assert!(d.up.eventually_gw_status(path, &other_token, 200).await);
    let (_, subs) = d
        .dev
        .get(&format!("{DEV}/subscriptions?applicationId={other_app}"))
        .await;
    let other_sub = subs["list"][0]["subscriptionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, response) = d
        .dev
        .put(
            &format!("{DEV}/subscriptions/{other_sub}"),
            json!({"throttlingPolicy": "Unlimited"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{response}");
    let change = reference_of(&response);
    let (_, sub) = d.dev.get(&format!("{DEV}/subscriptions/{other_sub}")).await;
    assert_eq!(sub["status"], "TIER_UPDATE_PENDING", "{sub}");
    assert_eq!(sub["throttlingPolicy"], "Gold");
    assert_eq!(sub["requestedThrottlingPolicy"], "Unlimited");
    decided(&d.approver, &change, "REJECTED", "stay on Gold").await;
    let (_, sub) = d.dev.get(&format!("{DEV}/subscriptions/{other_sub}")).await;
    assert_eq!(sub["status"], "UNBLOCKED", "{sub}");
    assert_eq!(sub["throttlingPolicy"], "Gold");
    assert_eq!(d.up.gw_status(path, &other_token).await, 200);

    let (_, response) = d
        .dev
        .put(
            &format!("{DEV}/subscriptions/{other_sub}"),
            json!({"throttlingPolicy": "Unlimited"}),
        )
        .await;
    decided(&d.approver, &reference_of(&response), "APPROVED", "ok").await;
    let (_, sub) = d.dev.get(&format!("{DEV}/subscriptions/{other_sub}")).await;
    assert_eq!(sub["throttlingPolicy"], "Unlimited", "{sub}");
    d.up.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_waits_for_approval_and_a_rejected_one_gets_no_keys() {
    let upstream = EchoUpstream::start().await;
    let mut d = deployment("AM_APPLICATION_CREATION", &[]).await;
    let api_id = deployed(&d.admin, "Apps", "/apps", &upstream).await;
    let create = |name: &'static str| {
        let dev = d.dev.clone();
        async move {
            let (status, response) = dev
                .post(
                    &format!("{DEV}/applications"),
                    json!({"name": name, "throttlingPolicy": "Unlimited"}),
                )
                .await;
            assert_eq!(status, StatusCode::ACCEPTED, "{response}");
            let payload: Value =
                serde_json::from_str(response["jsonPayload"].as_str().unwrap()).unwrap();
            (
                payload["applicationId"].as_str().unwrap().to_owned(),
                reference_of(&response),
            )
        }
    };
    let keys = |app: String| {
        let dev = d.dev.clone();
        async move {
            dev.post(
                &format!("{DEV}/applications/{app}/generate-keys"),
                json!({"keyType": "PRODUCTION", "grantTypesToBeSupported": ["client_credentials"]}),
            )
            .await
        }
    };

    let (app, reference) = create("dora-pending").await;
    let (_, body) = d.dev.get(&format!("{DEV}/applications/{app}")).await;
    assert_eq!(body["status"], "CREATED", "{body}");
    let (status, body) = keys(app.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = subscribe(&d.dev, &app, &api_id).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let list = pending(&d.approver, "AM_APPLICATION_CREATION").await;
    assert_eq!(list[0]["workflowType"], "APPLICATION_CREATION");
    decided(&d.approver, &reference, "APPROVED", "").await;
    let (_, body) = d.dev.get(&format!("{DEV}/applications/{app}")).await;
    assert_eq!(body["status"], "APPROVED", "{body}");
    let (status, _) = subscribe(&d.dev, &app, &api_id).await;
    assert_eq!(status, StatusCode::CREATED);
    let token = token_of(&d.dev, &app).await;
    assert!(
        d.up.eventually_gw_status("/apps/1.0.0/items", &token, 200)
            .await
    );

    let (refused, reference) = create("dora-refused").await;
    decided(&d.approver, &reference, "REJECTED", "duplicate").await;
    let (_, body) = d.dev.get(&format!("{DEV}/applications/{refused}")).await;
    assert_eq!(body["status"], "REJECTED", "{body}");
    let (status, _) = keys(refused.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = subscribe(&d.dev, &refused, &api_id).await;
    assert_eq!(status, StatusCode::CONFLICT);
    d.up.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_keys_work_only_once_approved_and_sandbox_keys_are_not_held() {
    let upstream = EchoUpstream::start().await;
    let mut d = deployment("AM_APPLICATION_REGISTRATION_PRODUCTION", &[]).await;
    let api_id = deployed(&d.admin, "Keys", "/keys", &upstream).await;
    let app = d.dev.application("dora-keys").await;
    d.dev.subscribe(&app, &api_id, "Gold").await;
    let generate = |key_type: &'static str, app: String| {
        let dev = d.dev.clone();
        async move {
            let (status, key) = dev
                .post(
                    &format!("{DEV}/applications/{app}/generate-keys"),
                    json!({"keyType": key_type, "grantTypesToBeSupported": ["client_credentials"]}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{key}");
            key
        }
    };

    // WSO2: 200 with keyState CREATED; the credentials open nothing yet.
    let key = generate("PRODUCTION", app.clone()).await;
    assert_eq!(key["keyState"], "CREATED", "{key}");
    let (ck, cs) = (
        key["consumerKey"].as_str().unwrap().to_owned(),
        key["consumerSecret"].as_str().unwrap().to_owned(),
    );
    let (status, body) = d.dev.token(&ck, &cs).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (_, listed) = d.dev.get(&format!("{DEV}/applications/{app}/keys")).await;
    assert_eq!(listed["list"][0]["keyState"], "CREATED", "{listed}");
    let (status, _) = d
        .dev
        .post(
            &format!("{DEV}/applications/{app}/generate-keys"),
            json!({"keyType": "PRODUCTION", "grantTypesToBeSupported": ["client_credentials"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "one request at a time");
    // Sandbox key generation is not switched on: approved at once.
    let sandbox = generate("SANDBOX", app.clone()).await;
    assert_eq!(sandbox["keyState"], "APPROVED", "{sandbox}");

    let list = pending(&d.approver, "AM_APPLICATION_REGISTRATION_PRODUCTION").await;
    assert_eq!(list.len(), 1);
    assert_eq!(
        list[0]["workflowType"],
        "APPLICATION_REGISTRATION_PRODUCTION"
    );
    assert!(
        !list[0].to_string().contains("argon2"),
        "no secret hash shown: {}",
        list[0]
    );
    let reference = list[0]["referenceId"].as_str().unwrap().to_owned();
    decided(&d.approver, &reference, "APPROVED", "").await;
    let (status, token) = d.dev.token(&ck, &cs).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    let token = token["access_token"].as_str().unwrap().to_owned();
    assert!(
        d.up.eventually_gw_status("/keys/1.0.0/items", &token, 200)
            .await
    );

    // Rejected: the client never existed.
    let other = d.dev.application("dora-keys-2").await;
    let key = generate("PRODUCTION", other.clone()).await;
    let list = pending(&d.approver, "AM_APPLICATION_REGISTRATION_PRODUCTION").await;
    decided(
        &d.approver,
        list[0]["referenceId"].as_str().unwrap(),
        "REJECTED",
        "no",
    )
    .await;
    let (status, _) = d
        .dev
        .token(
            key["consumerKey"].as_str().unwrap(),
            key["consumerSecret"].as_str().unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, listed) = d.dev.get(&format!("{DEV}/applications/{other}/keys")).await;
    assert_eq!(listed["count"], 0, "{listed}");
    d.up.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_changes_wait_for_approval_and_the_requester_cannot_decide_them() {
    let upstream = EchoUpstream::start().await;
    let mut d = deployment("AM_API_STATE", &[]).await;
    // Published while the workflow is on: the publisher asks, an administrator approves.
    let (status, api) = d
        .publisher
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "States", "context": "/states", "version": "1.0.0",
                   "policies": ["Gold"],
                   "endpointConfig": {"endpoint_type": "http", "production_endpoints": {
                       "url": format!("{}/backend/", upstream.url())}},
                   "operations": [{"target": "/items", "verb": "GET", "authType": "None"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    let api_id = api["id"].as_str().unwrap().to_owned();
    d.publisher.deploy_new_revision(&api_id, &["Default"]).await;
    let change = |action: &'static str| {
        let publisher = d.publisher.clone();
        let api_id = api_id.clone();
        async move {
            publisher
                .post_empty(&format!(
                    "{PUB}/apis/change-lifecycle?apiId={api_id}&action={action}"
                ))
                .await
        }
    };
    let (status, response) = change("Publish").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{response}");
    assert_eq!(response["lifecycleState"]["state"], "CREATED", "{response}");
    let reference = reference_of(&response);
    let (_, state) = d
        .publisher
        .get(&format!("{PUB}/apis/{api_id}/lifecycle-state"))
        .await;
    assert_eq!(state["state"], "CREATED");
    assert_eq!(state["workflowStatus"], "CREATED", "{state}");
    let (status, _) = change("Publish").await;
    assert_eq!(status, StatusCode::CONFLICT, "one change at a time");
    let (status, _) = decide(&d.publisher, &reference, "APPROVED", "").await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "publishers hold no approval scope"
    );
    decided(&d.admin, &reference, "APPROVED", "release 12").await;
    let (_, state) = d
        .publisher
        .get(&format!("{PUB}/apis/{api_id}/lifecycle-state"))
        .await;
    assert_eq!(state["state"], "PUBLISHED", "{state}");
    assert_eq!(state["workflowStatus"], "APPROVED");
    let (status, history) = d
        .publisher
        .get(&format!("{PUB}/apis/{api_id}/lifecycle-history"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(history.to_string().contains("pub-pete"), "{history}");

    // Block waits: the gateway keeps serving until it is approved.
    let gateway = |up: &GantryUp| {
        let client = up.gw_client();
        let url = up.gw_url("/states/1.0.0/items");
        async move {
            client
                .get(url)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    assert_eq!(gateway(&d.up).await, 200);
    let (status, response) = change("Block").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{response}");
    let block = reference_of(&response);
    assert_eq!(gateway(&d.up).await, 200);
    decided(&d.approver, &block, "APPROVED", "incident 7").await;
    assert!(
        gantry_testkit::eventually(Duration::from_secs(5), || async {
            gateway(&d.up).await == 503
        })
        .await
    );

    // Withdrawn by the publisher (WSO2's pending-tasks): nothing waits any more.
    let (_, response) = change("Re-Publish").await;
    let withdrawn = reference_of(&response);
    let (status, _) = d
        .publisher
        .delete(&format!(
            "{PUB}/apis/{api_id}/lifecycle-state/pending-tasks"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(pending(&d.approver, "AM_API_STATE").await.is_empty());
    let (status, _) = decide(&d.approver, &withdrawn, "APPROVED", "").await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a withdrawn request cannot be approved"
    );

    // Rejected: the state stays, the status says so.
    let (_, response) = change("Re-Publish").await;
    let republish = reference_of(&response);
    decided(&d.approver, &republish, "REJECTED", "not yet").await;
    let (_, state) = d
        .publisher
        .get(&format!("{PUB}/apis/{api_id}/lifecycle-state"))
        .await;
    assert_eq!(state["state"], "BLOCKED");
    assert_eq!(state["workflowStatus"], "REJECTED");

    // An administrator's own request is decided by another one.
    let (status, response) = d
        .admin
        .post_empty(&format!(
            "{PUB}/apis/change-lifecycle?apiId={api_id}&action=Re-Publish"
        ))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{response}");
    let own = reference_of(&response);
    let (status, body) = decide(&d.admin, &own, "APPROVED", "mine").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["description"]
            .as_str()
            .unwrap_or_default()
            .contains("own request")
            || body["message"]
                .as_str()
                .unwrap_or_default()
                .contains("own request"),
        "{body}"
    );
    decided(&d.approver, &own, "APPROVED", "").await;
    assert!(
        gantry_testkit::eventually(Duration::from_secs(5), || async {
            gateway(&d.up).await == 200
        })
        .await
    );
    d.up.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revision_deployment_waits_for_approval_and_a_rejected_one_never_reaches_gateways() {
    let upstream = EchoUpstream::start().await;
    let mut d = deployment("AM_REVISION_DEPLOYMENT", &[]).await;
    let open_api = |name: &'static str, context: &'static str| {
        let publisher = d.publisher.clone();
        let url = format!("{}/backend/", upstream.url());
        async move {
            let (status, api) = publisher
                .post(
                    &format!("{PUB}/apis"),
                    json!({"name": name, "context": context, "version": "1.0.0",
                           "policies": ["Gold"],
                           "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": url}},
                           "operations": [{"target": "/items", "verb": "GET", "authType": "None"}]}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{api}");
            let id = api["id"].as_str().unwrap().to_owned();
            assert_eq!(publisher.lifecycle(&id, "Publish").await, StatusCode::OK);
            let (status, revision) = publisher
                .post(&format!("{PUB}/apis/{id}/revisions"), json!({}))
                .await;
            assert_eq!(status, StatusCode::CREATED);
            let revision = revision["id"].as_str().unwrap().to_owned();
            let (status, deployments) = publisher
                .post(
                    &format!("{PUB}/apis/{id}/deploy-revision?revisionId={revision}"),
                    json!([{"name": "Default", "vhost": "localhost"}]),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{deployments}");
            assert_eq!(deployments[0]["status"], "CREATED", "{deployments}");
            (
                id,
                deployments[0]["workflowReferenceId"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        }
    };
    let status_of = |path: &'static str| {
        let client = d.up.gw_client();
        let url = d.up.gw_url(path);
        async move {
            client
                .get(url)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };

    let (api_id, reference) = open_api("Deployed", "/deployed").await;
    let (_, listed) = d
        .publisher
        .get(&format!("{PUB}/apis/{api_id}/deployments"))
        .await;
    assert_eq!(listed["list"][0]["status"], "CREATED", "{listed}");
    assert_eq!(status_of("/deployed/1.0.0/items").await, 404);
    let mut pete = super::portal::Browser::sign_in(&d.up, "pub-pete", "pete-password-1").await;
    let (_, page) = pete.get(&format!("/publisher/apis/{api_id}")).await;
    assert!(
        page.contains("Waiting for approval")
            && page.contains("Approve the deployment of revision 1"),
        "the publisher sees the pending deployment: {page}"
    );
    let list = pending(&d.approver, "AM_REVISION_DEPLOYMENT").await;
    assert_eq!(list[0]["workflowType"], "REVISION_DEPLOYMENT");
    decided(&d.approver, &reference, "APPROVED", "change CHG-1").await;
    assert!(
        gantry_testkit::eventually(Duration::from_secs(5), || async {
            status_of("/deployed/1.0.0/items").await == 200
        })
        .await
    );

    let (other, reference) = open_api("Undeployed", "/undeployed").await;
    decided(&d.approver, &reference, "REJECTED", "freeze").await;
    let (_, listed) = d
        .publisher
        .get(&format!("{PUB}/apis/{other}/deployments"))
        .await;
    assert_eq!(listed["count"], 0, "{listed}");
    assert_eq!(status_of("/undeployed/1.0.0/items").await, 404);
    d.up.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_signup_creates_the_account_only_when_approved() {
    let mut d = deployment("AM_USER_SIGNUP", &[]).await;
    let signup = |name: &'static str| {
        let anonymous = d.admin.anonymous();
        async move {
            anonymous
                .post(
                    "/api/identity/user/v1.0/me",
                    json!({"user": {"username": name, "password": "S1gn-up-password!"}}),
                )
                .await
        }
    };
    let (status, response) = signup("sam-signup").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{response}");
    let reference = reference_of(&response);
    let sam = d.admin.as_user("sam-signup", "S1gn-up-password!");
    let (status, _) = sam.get(&format!("{DEV}/applications")).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "no account before approval"
    );
    let (status, _) = signup("sam-signup").await;
    assert_eq!(status, StatusCode::CONFLICT, "the name is held");
    let list = pending(&d.approver, "AM_USER_SIGNUP").await;
    assert_eq!(list[0]["workflowType"], "USER_SIGNUP");
    assert!(!list[0].to_string().contains("argon2"), "{}", list[0]);
    decided(&d.approver, &reference, "APPROVED", "").await;
    let (status, _) = sam.get(&format!("{DEV}/applications")).await;
    assert_eq!(status, StatusCode::OK);

    let (_, response) = signup("rita-refused").await;
    decided(&d.approver, &reference_of(&response), "REJECTED", "spam").await;
    let rita = d.admin.as_user("rita-refused", "S1gn-up-password!");
    let (status, _) = rita.get(&format!("{DEV}/applications")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    d.up.stop();
}
