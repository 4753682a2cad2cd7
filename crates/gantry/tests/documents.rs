//! API documents and thumbnails as a WSO2 client uses them: the Publisher writes inline,
//! Markdown, URL and file documents and a thumbnail; the Developer Portal reads what its
//! readers may see; content comes back in forms a browser will not run (text/plain,
//! attachments, raster images only, `nosniff`).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use gantry_testkit::GantryUp;
use gantry_testkit::rest::Rest;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const PUB: &str = "/api/am/publisher/v4";
const DEV: &str = "/api/am/devportal/v3";

/// The smallest valid PNG (1×1, transparent).
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

const COOKIE: &str = "__Host-gantry-portal";

fn cookie_of(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next())
        .find_map(|pair| pair.strip_prefix(&format!("{COOKIE}=")).map(str::to_owned))
        .unwrap()
}

fn csrf_of(html: &str) -> String {
    let marker = "name=\"_csrf\" value=\"";
    let start = html.find(marker).unwrap() + marker.len();
    let end = html[start..].find('"').unwrap();
    html[start..start + end].to_owned()
}

/// `multipart/form-data` with one file part `name` of `bytes` (file name `file_name`).
async fn upload(
    rest: &Rest,
    method: Method,
    path: &str,
    name: &str,
    file_name: &str,
    bytes: &[u8],
) -> (StatusCode, Value) {
    let boundary = "gantry-docs-boundary-77";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\n\
         Content-Type: application/pdf\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let response = rest
        .request(method, path)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_and_thumbnails_as_wso2_clients_use_them() {
    let mut up = GantryUp::start_with(BIN, false).await;
    let admin = up.rest();
    let anonymous = admin.anonymous();
    let (status, api) = admin
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "Documented", "context": "/documented", "version": "1.0.0"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    let api_id = api["id"].as_str().unwrap().to_owned();
    admin.publish_and_deploy(&api_id, &["Default"]).await;
    let docs = format!("{PUB}/apis/{api_id}/documents");

    // A Markdown how-to whose text carries markup: stored as sent, served as text.
    let (status, how_to) = admin
        .post(
            &docs,
            json!({"name": "Getting started", "type": "HOWTO", "summary": "First steps",
                   "sourceType": "MARKDOWN", "visibility": "API_LEVEL",
                   "inlineContent": null}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{how_to}");
    assert_eq!(how_to["createdBy"], "admin");
    let how_to_id = how_to["documentId"].as_str().unwrap().to_owned();
    let markdown = "# Hello\n\nSome **bold** text.\n\n<script>alert(1)</script>";
    let (status, body) = admin
        .send_multipart(
            Method::POST,
            &format!("{docs}/{how_to_id}/content"),
            &[("inlineContent", markdown)],
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for reader in [&admin, &anonymous] {
        let base = if std::ptr::eq(reader, &admin) {
            PUB
        } else {
            DEV
        };
        let response = reader
            .request(
                Method::GET,
                &format!("{base}/apis/{api_id}/documents/{how_to_id}/content"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; charset=utf-8"
        );
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert_eq!(response.text().await.unwrap(), markdown);
    }

    // Names are unique per API (case-insensitively), and `validate` says whether one is taken.
    let (status, body) = admin
        .post(
            &docs,
            json!({"name": "GETTING STARTED", "type": "HOWTO", "sourceType": "INLINE",
                   "visibility": "API_LEVEL"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = admin
        .post_empty(&format!("{docs}/validate?name=Getting%20started"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = admin
        .post_empty(&format!("{docs}/validate?name=Nothing"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Bad input names the field.
    for (body, field) in [
        (
            json!({"name": "x", "type": "NOVEL", "sourceType": "INLINE"}),
            "type",
        ),
        (
            json!({"name": "x", "type": "HOWTO", "sourceType": "URL"}),
            "sourceUrl",
        ),
        (
            json!({"name": "x", "type": "HOWTO", "sourceType": "URL", "sourceUrl": "javascript:alert(1)"}),
            "sourceUrl",
        ),
        (
            json!({"name": "x", "type": "OTHER", "sourceType": "INLINE"}),
            "otherTypeName",
        ),
        (json!({"type": "HOWTO", "sourceType": "INLINE"}), "name"),
    ] {
        let (status, refused) = admin.post(&docs, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
        assert!(
            refused["description"].as_str().unwrap().starts_with(field),
            "{field}: {refused}"
        );
    }

    // A URL document redirects to its URL.
    let (status, forum) = admin
        .post(
            &docs,
            json!({"name": "Forum", "type": "PUBLIC_FORUM", "sourceType": "URL",
                   "sourceUrl": "https://forum.example.com/documented"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{forum}");
    let no_redirects = Rest::new(&admin.url(""), up.cp_client_without_redirects());
    let response = no_redirects
        .request(
            Method::GET,
            &format!(
                "{DEV}/apis/{api_id}/documents/{}/content",
                forum["documentId"].as_str().unwrap()
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()["location"],
        "https://forum.example.com/documented"
    );

    // A file document: the upload's directories are dropped, the download is an attachment.
    let (status, file_doc) = admin
        .post(
            &docs,
            json!({"name": "Message formats", "type": "API_MESSAGE_FORMAT", "sourceType": "FILE",
                   "visibility": "PRIVATE"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{file_doc}");
    let file_id = file_doc["documentId"].as_str().unwrap().to_owned();
    let (status, body) = upload(
        &admin,
        Method::POST,
        &format!("{docs}/{file_id}/content"),
        "file",
        "../../formats.pdf",
        b"%PDF-1.4 pretend",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["fileName"], "formats.pdf");
    let response = admin
        .request(Method::GET, &format!("{docs}/{file_id}/content"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"formats.pdf\""
    );
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        b"%PDF-1.4 pretend"
    );
    let (status, body) = admin
        .send_multipart(
            Method::POST,
            &format!("{docs}/{file_id}/content"),
            &[("inlineContent", "text")],
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // An owner-only document stays in the Publisher.
    let (status, notes) = admin
        .post(
            &docs,
            json!({"name": "Internal notes", "type": "OTHER", "otherTypeName": "Notes",
                   "sourceType": "INLINE", "visibility": "OWNER_ONLY", "inlineContent": "secret"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{notes}");
    let names = |list: &Value| -> Vec<String> {
        list["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, listed) = admin.get(&docs).await;
    assert_eq!(listed["count"], 4, "{listed}");
    let (_, listed) = anonymous
        .get(&format!("{DEV}/apis/{api_id}/documents"))
        .await;
    assert_eq!(names(&listed), ["Forum", "Getting started"], "{listed}");
    let (_, listed) = admin.get(&format!("{DEV}/apis/{api_id}/documents")).await;
    assert_eq!(
        names(&listed),
        ["Forum", "Getting started", "Message formats"],
        "PRIVATE ones for signed-in readers: {listed}"
    );
    let (status, _) = admin
        .get(&format!(
            "{DEV}/apis/{api_id}/documents/{}",
            notes["documentId"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The Developer Portal's page renders the Markdown, with its raw HTML shown as text.
    let browser = up.cp_client_without_redirects();
    let login = browser
        .get(up.cp_url("/portal/login"))
        .send()
        .await
        .unwrap();
    let anonymous_cookie = cookie_of(&login);
    let csrf = csrf_of(&login.text().await.unwrap());
    let signed_in = browser
        .post(up.cp_url("/portal/login"))
        .header("cookie", format!("{COOKIE}={anonymous_cookie}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([
                ("_csrf", csrf.as_str()),
                ("username", "admin"),
                ("password", gantry_testkit::process::ADMIN_PASSWORD),
            ])
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let cookie = cookie_of(&signed_in);
    let page = browser
        .get(up.cp_url(&format!("/devportal/apis/{api_id}")))
        .header("cookie", format!("{COOKIE}={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("<h1>Hello</h1>"), "Markdown rendered");
    assert!(html.contains("<strong>bold</strong>"));
    assert!(
        !html.contains("<script>alert(1)</script>"),
        "raw HTML escaped"
    );
    assert!(
        html.contains("Download formats.pdf"),
        "file documents are offered"
    );
    assert!(
        !html.contains("secret"),
        "owner-only documents are not shown"
    );
    let file = browser
        .get(up.cp_url(&format!("/devportal/apis/{api_id}/documents/{file_id}")))
        .header("cookie", format!("{COOKIE}={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), StatusCode::OK);
    assert_eq!(file.bytes().await.unwrap().as_ref(), b"%PDF-1.4 pretend");

    // Update and delete; another API's id does not reach this API's documents.
    let mut changed = how_to.clone();
    changed["summary"] = json!("The first steps");
    let (status, updated) = admin.put(&format!("{docs}/{how_to_id}"), changed).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["summary"], "The first steps");
    let (status, other) = admin
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "Other", "context": "/other-docs", "version": "1.0.0"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    let (status, _) = admin
        .get(&format!(
            "{PUB}/apis/{}/documents/{how_to_id}",
            other["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = admin.delete(&format!("{docs}/{how_to_id}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = admin.get(&format!("{docs}/{how_to_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Thumbnails: raster images only.
    let thumbnail = format!("{PUB}/apis/{api_id}/thumbnail");
    let (status, _) = anonymous
        .get(&format!("{DEV}/apis/{api_id}/thumbnail"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = upload(
        &admin,
        Method::PUT,
        &thumbnail,
        "file",
        "x.svg",
        b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = upload(&admin, Method::PUT, &thumbnail, "file", "logo.png", PNG).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let response = anonymous
        .request(Method::GET, &format!("{DEV}/apis/{api_id}/thumbnail"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(response.bytes().await.unwrap().as_ref(), PNG);

    // Deleting the API takes its documents and thumbnail with it.
    let (status, body) = admin.delete(&format!("{PUB}/apis/{api_id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = admin.get(&docs).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    up.stop();
}
