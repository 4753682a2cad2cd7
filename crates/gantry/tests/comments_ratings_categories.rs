//! Comments, ratings, API categories and gateway labels as WSO2 clients use them: readers of
//! the Developer Portal comment (one level of replies) and rate what they can see, authors
//! alone edit their comments, moderators delete any; the Publisher answers on its side; the
//! admin keeps the categories APIs may name and the Developer Portal filters by them.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use gantry_testkit::GantryUp;
use gantry_testkit::rest::Rest;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const PUB: &str = "/api/am/publisher/v4";
const DEV: &str = "/api/am/devportal/v3";
const ADM: &str = "/api/am/admin/v4";

async fn patch(rest: &Rest, path: &str, body: Value) -> (StatusCode, Value) {
    rest.send(Method::PATCH, path, Some(body)).await
}

async fn published_api(admin: &Rest, name: &str, extra: Value) -> String {
    let mut body = json!({"name": name, "context": format!("/{}", name.to_lowercase()),
                          "version": "1.0.0", "endpointConfig": {"endpoint_type": "http",
                          "production_endpoints": {"url": "http://127.0.0.1:9/"}}});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (status, api) = admin.post(&format!("{PUB}/apis"), body).await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    let id = api["id"].as_str().unwrap().to_owned();
    admin.publish_and_deploy(&id, &["Default"]).await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_comment_and_rate_authors_edit_moderators_delete() {
    let mut up = GantryUp::start_with(BIN, false).await;
    let admin = up.rest();
    let anonymous = admin.anonymous();
    admin
        .create_user("alice", "alice-pass-1", &["Internal/subscriber"])
        .await;
    admin
        .create_user("bob", "bob-pass-12", &["Internal/subscriber"])
        .await;
    admin
        .create_user("carol", "carol-pass-1", &["Internal/creator"])
        .await;
    let alice = admin.as_user("alice", "alice-pass-1");
    let bob = admin.as_user("bob", "bob-pass-12");
    let carol = admin.as_user("carol", "carol-pass-1");
    let api_id = published_api(&admin, "Commented", json!({})).await;
    let comments = format!("{DEV}/apis/{api_id}/comments");

    // Anyone who sees the API reads its comments; writing needs a signed-in subscriber.
    let (status, list) = anonymous.get(&comments).await;
    assert_eq!((status, list["count"].clone()), (StatusCode::OK, json!(0)));
    let (status, _) = anonymous
        .post(&comments, json!({"content": "anonymous"}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for bad in [
        json!({}),
        json!({"content": "   "}),
        json!({"content": "x".repeat(513)}),
        json!({"content": "ok", "category": "<script>"}),
    ] {
        let (status, body) = alice.post(&comments, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad} → {body}");
        assert!(body["description"].is_string(), "{body}");
    }

    let response = alice
        .request(Method::POST, &comments)
        .json(&json!({"content": "Does it support refunds?", "category": "question"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let question: Value = response.json().await.unwrap();
    let question_id = question["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("{comments}/{question_id}"));
    assert_eq!(question["createdBy"], "alice");
    assert_eq!(question["entryPoint"], "devPortal");
    assert_eq!(question["category"], "question");

    // One level of replies.
    let (status, reply) = bob
        .post(
            &format!("{comments}?replyTo={question_id}"),
            json!({"content": "Yes, within 30 days."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!(reply["parentCommentId"], json!(question_id));
    let reply_id = reply["id"].as_str().unwrap().to_owned();
    let (status, _) = alice
        .post(
            &format!("{comments}?replyTo={reply_id}"),
            json!({"content": "A reply to a reply"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = alice
        .post(
            &format!("{comments}?replyTo=00000000-0000-4000-8000-000000000000"),
            json!({"content": "To nothing"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The Publisher sees the conversation and answers from its side.
    let publisher_comments = format!("{PUB}/apis/{api_id}/comments");
    let (status, answer) = carol
        .post(
            &format!("{publisher_comments}?replyTo={question_id}"),
            json!({"content": "Confirmed by the API team."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["entryPoint"], "publisher");
    let (status, seen) = carol.get(&publisher_comments).await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["count"], 1);
    assert_eq!(seen["list"][0]["replies"]["count"], 2);
    assert_eq!(seen["list"][0]["replies"]["pagination"]["total"], 2);
    // A subscriber has no Publisher scope.
    let (status, _) = alice.get(&publisher_comments).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Listing, one comment with its replies, replies alone; commenter names on request.
    let (status, list) = anonymous
        .get(&format!("{comments}?includeCommenterInfo=true"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["count"], 1);
    assert_eq!(list["list"][0]["commenterInfo"]["fullName"], "");
    assert!(list["list"][0]["commenterInfo"].is_object(), "{list}");
    let (status, one) = anonymous
        .get(&format!("{comments}/{question_id}?replyLimit=1"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["replies"]["count"], 1);
    assert_eq!(one["replies"]["pagination"]["total"], 2);
    assert_eq!(one["replies"]["list"][0]["content"], "Yes, within 30 days.");
    let (status, replies) = anonymous
        .get(&format!("{comments}/{question_id}/replies?offset=1"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(replies["list"][0]["entryPoint"], "publisher");
    let (status, _) = anonymous
        .get(&format!("{comments}/{question_id}?replyLimit=0"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Only the author edits; the author or a moderator deletes.
    let (status, _) = patch(
        &bob,
        &format!("{comments}/{question_id}"),
        json!({"content": "hijacked"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, edited) = patch(
        &alice,
        &format!("{comments}/{question_id}"),
        json!({"content": "Does it support partial refunds?"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["content"], "Does it support partial refunds?");
    assert_eq!(
        edited["category"], "question",
        "a PATCH keeps what it leaves out"
    );
    let (status, _) = alice.delete(&format!("{comments}/{reply_id}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not alice's reply");
    let (status, _) = bob.delete(&format!("{comments}/{reply_id}")).await;
    assert_eq!(status, StatusCode::OK);

    // Ids belong to their API: another API does not reach this comment.
    let other_id = published_api(&admin, "Other", json!({})).await;
    let (status, _) = anonymous
        .get(&format!("{DEV}/apis/{other_id}/comments/{question_id}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = admin
        .delete(&format!("{DEV}/apis/{other_id}/comments/{question_id}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // An API is not an MCP server.
    let (status, _) = anonymous
        .get(&format!("{DEV}/mcp-servers/{api_id}/comments"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The admin moderates: the comment goes with its replies.
    let (status, _) = admin.delete(&format!("{comments}/{question_id}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = anonymous
        .get(&format!("{comments}/{question_id}/replies"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // An API readers may not see has no comments or ratings for them either.
    let hidden = published_api(
        &admin,
        "Hidden",
        json!({"visibility": "RESTRICTED", "visibleRoles": ["admin"]}),
    )
    .await;
    for path in [
        format!("{DEV}/apis/{hidden}/comments"),
        format!("{DEV}/apis/{hidden}/ratings"),
    ] {
        let (status, _) = alice.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = alice
        .post(
            &format!("{DEV}/apis/{hidden}/comments"),
            json!({"content": "let me in"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Ratings: one per user, 1 to 5, the average as WSO2 writes it.
    let rating = format!("{DEV}/apis/{api_id}/user-rating");
    for bad in [json!({"rating": 6}), json!({"rating": 0}), json!({})] {
        let (status, _) = alice.put(&rating, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (status, first) = alice.put(&rating, json!({"rating": 3})).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, changed) = alice.put(&rating, json!({"rating": 4})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(changed["ratingId"], first["ratingId"]);
    assert_eq!(changed["ratedBy"], "alice");
    assert_eq!(changed["apiId"], json!(api_id));
    let (status, _) = bob.put(&rating, json!({"rating": 5})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, ratings) = alice.get(&format!("{DEV}/apis/{api_id}/ratings")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ratings["avgRating"], "4.5");
    assert_eq!(ratings["userRating"], 4);
    assert_eq!(ratings["count"], 2);
    let (status, ratings) = anonymous.get(&format!("{DEV}/apis/{api_id}/ratings")).await;
    assert_eq!(
        (status, ratings["userRating"].clone()),
        (StatusCode::OK, json!(0))
    );
    let (status, _) = alice.delete(&rating).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = alice.get(&rating).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = anonymous.put(&rating, json!({"rating": 5})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, ratings) = bob.get(&format!("{DEV}/apis/{api_id}/ratings")).await;
    assert_eq!(
        (status, ratings["avgRating"].clone()),
        (StatusCode::OK, json!("5.0"))
    );
    up.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn categories_are_kept_by_the_admin_named_by_apis_and_filter_the_portal() {
    let mut up = GantryUp::start_with(BIN, false).await;
    let admin = up.rest();
    let anonymous = admin.anonymous();
    admin
        .create_user("cara", "cara-pass-12", &["Internal/creator"])
        .await;
    let creator = admin.as_user("cara", "cara-pass-12");

    let (status, _) = creator
        .post(&format!("{ADM}/api-categories"), json!({"name": "Finance"}))
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "only the admin keeps categories"
    );
    let response = admin
        .request(Method::POST, &format!("{ADM}/api-categories"))
        .json(&json!({"name": "Finance", "description": "Money"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(response.headers().contains_key("location"));
    let finance: Value = response.json().await.unwrap();
    let finance_id = finance["id"].as_str().unwrap().to_owned();
    assert_eq!(finance["numberOfAPIs"], 0);
    let (status, _) = admin
        .post(&format!("{ADM}/api-categories"), json!({"name": "FINANCE"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = admin
        .post(&format!("{ADM}/api-categories"), json!({"name": ""}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // APIs name existing categories only.
    let (status, body) = admin
        .post(
            &format!("{PUB}/apis"),
            json!({"name": "Nope", "context": "/nope", "version": "1.0.0", "categories": ["Nope"]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["description"].as_str().unwrap().contains("Nope"),
        "{body}"
    );
    let payments = published_api(&admin, "Payments", json!({"categories": ["Finance"]})).await;
    published_api(&admin, "Weather", json!({})).await;

    for (reader, path) in [(&creator, PUB), (&anonymous, DEV)] {
        let (status, list) = reader.get(&format!("{path}/api-categories")).await;
        assert_eq!(status, StatusCode::OK, "{path}: {list}");
        assert_eq!(list["list"][0]["name"], "Finance", "{path}");
    }
    let (status, found) = anonymous
        .get(&format!("{DEV}/apis?query=api-category:finance"))
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["count"], 1, "{found}");
    assert_eq!(found["list"][0]["id"], json!(payments));
    let (_, list) = admin.get(&format!("{ADM}/api-categories")).await;
    assert_eq!(list["list"][0]["numberOfAPIs"], 1, "{list}");

    // A rename follows into the APIs; a category in use is not deleted.
    let (status, renamed) = admin
        .put(
            &format!("{ADM}/api-categories/{finance_id}"),
            json!({"name": "Banking", "description": "Money"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    let (_, api) = admin.get(&format!("{PUB}/apis/{payments}")).await;
    assert_eq!(api["categories"], json!(["Banking"]));
    let (status, body) = admin
        .delete(&format!("{ADM}/api-categories/{finance_id}"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let mut api = api.clone();
    api["categories"] = json!([]);
    let (status, body) = admin.put(&format!("{PUB}/apis/{payments}"), api).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = admin
        .delete(&format!("{ADM}/api-categories/{finance_id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = admin
        .delete(&format!("{ADM}/api-categories/{finance_id}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Gateway labels.
    let (status, _) = admin
        .post(
            &format!("{ADM}/labels"),
            json!({"name": "Public", "accessUrls": ["javascript:alert(1)"]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, label) = admin
        .post(
            &format!("{ADM}/labels"),
            json!({"name": "Public", "description": "Internet-facing",
                   "accessUrls": ["https://gw.example.com"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{label}");
    let label_id = label["id"].as_str().unwrap().to_owned();
    let (status, changed) = admin
        .put(
            &format!("{ADM}/labels/{label_id}"),
            json!({"name": "Public", "accessUrls": ["https://gw2.example.com"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    let (_, labels) = admin.get(&format!("{ADM}/labels")).await;
    assert_eq!(
        labels["list"][0]["accessUrls"],
        json!(["https://gw2.example.com"])
    );
    let (status, _) = admin.delete(&format!("{ADM}/labels/{label_id}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = admin.delete(&format!("{ADM}/labels/{label_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    up.stop();
}
