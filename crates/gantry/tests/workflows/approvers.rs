//! What makes the approvals trustworthy across a deployment: two control planes on one
//! PostgreSQL share the requests and decide each once, an external approver's callback must
//! be signed, and an unknown type stops the start.

use super::fixture::*;

#[tokio::test]
async fn two_control_planes_on_postgresql_see_and_decide_the_same_requests() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let dirs = tempfile::tempdir().unwrap();
    let args = ["--workflows", "AM_APPLICATION_CREATION"];
    let cp1 =
        ControlPlaneProcess::start_with_args(BIN, &db.url, &dirs.path().join("cp1"), &args).await;
    let cp2 =
        ControlPlaneProcess::start_with_args(BIN, &db.url, &dirs.path().join("cp2"), &args).await;
    let admin1 = Rest::new(&cp1.url(""), cp1.client());
    let admin2 = Rest::new(&cp2.url(""), cp2.client());
    admin1
        .create_user("replica-dev", "replica-dev-pw-1", &["subscriber"])
        .await;
    let dev = admin1.as_user("replica-dev", "replica-dev-pw-1");
    let (status, response) = dev
        .post(
            &format!("{DEV}/applications"),
            json!({"name": "replicated", "throttlingPolicy": "Unlimited"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{response}");
    let reference = reference_of(&response);

    let on_two = pending(&admin2, "AM_APPLICATION_CREATION").await;
    assert_eq!(on_two.len(), 1, "{on_two:?}");
    // Paged as WSO2's lists are.
    let (status, page) = admin2
        .get(&format!("{ADMIN}/workflows?limit=1&offset=0"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["count"], 1, "{page}");
    let (status, page) = admin2
        .get(&format!("{ADMIN}/workflows?limit=1&offset=1"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["count"], 0, "{page}");
    assert!(
        page["previous"].as_str().unwrap().contains("offset=0"),
        "{page}"
    );
    let (status, page) = admin2.get(&format!("{ADMIN}/workflows?limit=0")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    let (status, page) = admin2
        .get(&format!("{ADMIN}/workflows?workflowType=AM_NOPE"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert_eq!(on_two[0]["referenceId"], reference.as_str());
    decided(&admin2, &reference, "APPROVED", "from replica 2").await;
    let (status, body) = decide(&admin1, &reference, "APPROVED", "again").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, apps) = dev.get(&format!("{DEV}/applications")).await;
    assert_eq!(apps["list"][0]["status"], "APPROVED", "{apps}");
    assert!(pending(&admin1, "AM_APPLICATION_CREATION").await.is_empty());
    drop((cp1, cp2));
    db.drop_now().await;
}

/// A one-shot approver: accepts one POST, hands back its headers and body.
async fn approver_endpoint() -> (String, tokio::sync::oneshot::Receiver<(String, String)>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/approve", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())
                            .flatten()
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + length {
                    let head = text[..end].to_owned();
                    let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).to_string();
                    stream
                        .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .await
                        .unwrap();
                    let _ = tx.send((head, body));
                    break;
                }
            }
        }
    });
    (url, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_approver_decides_over_a_signed_callback_and_forgeries_are_refused() {
    const SECRET: &str = "approver-shared-secret-0123456789";
    let upstream = EchoUpstream::start().await;
    let (approver_url, received) = approver_endpoint().await;
    let hooks = format!("AM_SUBSCRIPTION_CREATION={approver_url}");
    let mut d = deployment(
        "AM_SUBSCRIPTION_CREATION",
        &[
            ("GANTRY_WORKFLOW_WEBHOOKS", &hooks),
            ("GANTRY_WORKFLOW_WEBHOOK_SECRET", SECRET),
        ],
    )
    .await;
    let api_id = deployed(&d.admin, "Ticketed", "/ticketed", &upstream).await;
    let app = d.dev.application("dora-ticketed").await;
    let token = token_of(&d.dev, &app).await;
    let (status, response) = subscribe(&d.dev, &app, &api_id).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{response}");
    let reference = reference_of(&response);

    // The approver got the request, signed, with where to answer.
    let (head, body) = tokio::time::timeout(Duration::from_secs(10), received)
        .await
        .expect("the approver is called")
        .unwrap();
    let signature = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("x-gantry-signature")
                .then(|| v.trim().to_owned())
        })
        .expect("signed");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    gantry_keys::webhook_signature::verify(SECRET, Some(&signature), body.as_bytes(), now, 300)
        .expect("signed with the shared secret");
    let request: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(request["workflowReferenceId"], reference.as_str());
    assert_eq!(request["workflowType"], "AM_SUBSCRIPTION_CREATION");
    let callback = request["callbackUrl"].as_str().unwrap().to_owned();
    let callback_path = &callback[callback.find("/api/").unwrap()..];

    let answer = json!({"status": "APPROVED", "description": "TICKET-99 approved"}).to_string();
    let client = d.up.cp_client();
    let post = |signature: Option<String>, body: String| {
        let client = client.clone();
        let url = d.up.cp_url(callback_path);
        async move {
            let mut request = client
                .post(url)
                .header("content-type", "application/json")
                .body(body);
            if let Some(s) = signature {
                request = request.header("x-gantry-signature", s);
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    use gantry_keys::webhook_signature::sign;
    for (why, signature) in [
        ("unsigned", None),
        (
            "forged",
            Some(sign("not-the-secret-at-all!!", now, answer.as_bytes())),
        ),
        (
            "replayed",
            Some(sign(SECRET, now - 3600, answer.as_bytes())),
        ),
        ("garbage", Some("t=1,v1=deadbeef".to_owned())),
    ] {
        let (status, body) = post(signature, answer.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}: {body}");
    }
    // A signature over another body does not carry over.
    let reject = json!({"status": "REJECTED"}).to_string();
    let (status, _) = post(Some(sign(SECRET, now, answer.as_bytes())), reject).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(d.up.gw_status("/ticketed/1.0.0/items", &token).await, 403);
    assert_eq!(
        pending(&d.approver, "AM_SUBSCRIPTION_CREATION").await.len(),
        1
    );

    let (status, body) = post(Some(sign(SECRET, now, answer.as_bytes())), answer.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_wso2("Workflow", &body);
    assert!(
        d.up.eventually_gw_status("/ticketed/1.0.0/items", &token, 200)
            .await
    );
    let (_, info) = d
        .approver
        .get(&format!("{ADMIN}/workflows/{reference}"))
        .await;
    assert_eq!(info["properties"]["decidedBy"], "webhook");
    assert_eq!(info["properties"]["comment"], "TICKET-99 approved");
    d.up.stop();
}

#[test]
fn an_unknown_workflow_type_stops_the_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(BIN)
        .args(["up", "--data-dir"])
        .arg(dir.path())
        .args(["--workflows", "AM_SUBSCRIPTION_CREATION,AM_NOT_A_TYPE"])
        .env_remove("GANTRY_WORKFLOWS")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--workflows") && stderr.contains("AM_NOT_A_TYPE"),
        "{stderr}"
    );
    let output = std::process::Command::new(BIN)
        .args(["up", "--data-dir"])
        .arg(dir.path())
        .env("GANTRY_WORKFLOWS", "AM_API_STATE")
        .env(
            "GANTRY_WORKFLOW_WEBHOOKS",
            "AM_API_STATE=https://tickets.example/approve",
        )
        .env_remove("GANTRY_WORKFLOW_WEBHOOK_SECRET")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("GANTRY_WORKFLOW_WEBHOOK_SECRET"),
        "{stderr}"
    );
}
