//! The REST API over real HTTP against the spawned local server.

use chat_e2e::{Caller, spawn_app, spawn_app_on_dynamodb};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .expect("a list")
        .iter()
        .map(|i| i["id"].as_str().expect("an id").to_owned())
        .collect()
}

fn member_ids(session: &Value) -> Vec<&str> {
    let mut ids: Vec<&str> = session["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["user_id"].as_str().expect("id"))
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn health_answers_without_a_token() {
    let app = spawn_app().await;
    let reply = app.request(Method::GET, "/health", None, None).await;
    assert_eq!(
        (reply.status, reply.body),
        (StatusCode::OK, json!({"status": "ok"}))
    );
}

#[tokio::test]
async fn creating_a_group_session_answers_201_with_its_members() {
    let app = spawn_app().await;
    let ann = app.user("ann");
    let reply = app
        .post(
            "/sessions",
            &ann,
            json!({"kind": "group", "title": " Lunch ", "members": ["bob", "cy", "bob", "ann"]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    let session = &reply.body["session"];
    assert_eq!(
        (
            session["title"].as_str(),
            session["kind"].as_str(),
            session["status"].as_str()
        ),
        (Some("Lunch"), Some("group"), Some("active"))
    );
    assert_eq!(member_ids(session), vec!["ann", "bob", "cy"]);
    assert_eq!(reply.body["previous_messages"], json!([]));
    let got = app
        .get(
            &format!("/sessions/{}", session["id"].as_str().expect("id")),
            &app.user("bob"),
        )
        .await;
    assert_eq!(
        (got.status, got.body["session"]["online"].clone()),
        (StatusCode::OK, json!([]))
    );
}

#[tokio::test]
async fn a_bot_session_is_unique_per_user_and_chatbot_and_returns_its_previous_messages() {
    let app = spawn_app().await;
    let ann = app.user("ann");
    let bot = json!({"kind": "bot", "chatbot_id": "helper"});
    let first = app.post("/sessions", &ann, bot.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
    let id = first.body["session"]["id"].as_str().expect("id").to_owned();
    let hello = app.post_message(&id, &ann, "hello bot").await;
    let again = app.post("/sessions", &ann, bot.clone()).await;
    assert_eq!(again.status, StatusCode::OK, "{again:?}");
    assert_eq!(again.body["session"]["id"].as_str(), Some(id.as_str()));
    assert_eq!(ids(&again.body["previous_messages"]), vec![hello]);
    let other = app.post("/sessions", &app.user("bob"), bot).await;
    assert_eq!(other.status, StatusCode::CREATED);
    assert_ne!(other.body["session"]["id"].as_str(), Some(id.as_str()));
    assert_eq!(
        app.post("/sessions", &ann, json!({"kind": "bot"}))
            .await
            .error_message(),
        "chatbot_id: is required for a bot session"
    );
}

#[tokio::test]
async fn a_direct_session_needs_exactly_one_other_member() {
    let app = spawn_app().await;
    let ann = app.user("ann");
    let none = app.post("/sessions", &ann, json!({"kind": "direct"})).await;
    assert_eq!(
        (none.status, none.error_code()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    assert!(none.error_message().starts_with("members:"), "{none:?}");
    let one = app
        .post(
            "/sessions",
            &ann,
            json!({"kind": "direct", "members": ["bob"]}),
        )
        .await;
    assert_eq!(one.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_visitor_starts_a_support_session_and_resumes_it_with_its_token() {
    let app = spawn_app().await;
    let start = app
        .request(
            Method::POST,
            "/sessions/start",
            None,
            Some(json!({"business_id": "acme", "department_id": "billing"})),
        )
        .await;
    assert_eq!(start.status, StatusCode::CREATED, "{start:?}");
    assert_eq!(
        (start.body["active"].clone(), start.body["resumed"].clone()),
        (json!(true), json!(false))
    );
    let session = start.body["session"]["id"].as_str().expect("id").to_owned();
    assert_eq!(start.body["session"]["department_id"], json!("billing"));
    let visitor = start.visitor();
    let question = app
        .post_message(&session, &visitor, "where is my order?")
        .await;

    let resumed = app
        .request(
            Method::POST,
            "/sessions/start",
            Some(&visitor),
            Some(json!({"business_id": "acme"})),
        )
        .await;
    assert_eq!(resumed.status, StatusCode::OK, "{resumed:?}");
    assert_eq!(
        resumed.body["session"]["id"].as_str(),
        Some(session.as_str())
    );
    assert_eq!(resumed.body["resumed"], json!(true));
    assert_eq!(ids(&resumed.body["previous_messages"]), vec![question]);

    let stranger = app
        .request(
            Method::POST,
            "/sessions/start",
            None,
            Some(json!({"business_id": "acme"})),
        )
        .await;
    assert_ne!(
        stranger.body["session"]["id"].as_str(),
        Some(session.as_str()),
        "without the token it is a new visitor"
    );
    let elsewhere = app
        .request(
            Method::POST,
            "/sessions/start",
            Some(&visitor),
            Some(json!({"business_id": "globex"})),
        )
        .await;
    assert_ne!(
        elsewhere.body["session"]["owner_id"].as_str(),
        Some(visitor.id.as_str()),
        "a token for one business is no identity at another"
    );
    let missing = app
        .request(Method::POST, "/sessions/start", None, Some(json!({})))
        .await;
    assert_eq!(
        (missing.status, missing.error_message()),
        (StatusCode::BAD_REQUEST, "missing field `business_id`")
    );
    assert_eq!(
        app.post("/sessions", &visitor, json!({"kind": "group"}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_users_sessions_page_newest_activity_first_and_filter_by_status() {
    let app = spawn_app().await;
    let ann = app.user("ann");
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(
            app.create_session(&ann, json!({"kind": "group", "title": format!("s{i}")}))
                .await,
        );
    }
    let mut seen = Vec::new();
    let mut path = "/sessions?limit=2".to_owned();
    loop {
        let page = app.get(&path, &ann).await;
        assert_eq!(page.status, StatusCode::OK, "{page:?}");
        seen.extend(ids(&page.body["items"]));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/sessions?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    created.reverse();
    assert_eq!(seen, created);
    assert_eq!(
        app.delete(&format!("/sessions/{}", created[1]), &ann)
            .await
            .status,
        StatusCode::OK
    );
    let ended = app.get("/sessions?status=ended", &ann).await;
    assert_eq!(ids(&ended.body["items"]), vec![created[1].clone()]);
    let active = app.get("/sessions?status=active", &ann).await;
    assert_eq!(ids(&active.body["items"]).len(), 4);
    assert!(
        app.get("/sessions", &app.user("bob")).await.body["items"]
            .as_array()
            .expect("list")
            .is_empty()
    );
    for bad in [
        "/sessions?status=gone",
        "/sessions?limit=0",
        "/sessions?limit=101",
        "/sessions?limit=ten",
        "/sessions?cursor=forged!",
    ] {
        let reply = app.get(bad, &ann).await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{bad}: {reply:?}"
        );
    }
}

#[tokio::test]
async fn patching_a_session_renames_it_and_sets_its_status() {
    let app = spawn_app().await;
    let ann = app.user("ann");
    let id = app
        .create_session(&ann, json!({"kind": "group", "title": "Old"}))
        .await;
    let path = format!("/sessions/{id}");
    let renamed = app
        .patch(&path, &ann, json!({"title": "New", "status": "inactive"}))
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{renamed:?}");
    assert_eq!(
        (
            renamed.body["session"]["title"].clone(),
            renamed.body["session"]["status"].clone()
        ),
        (json!("New"), json!("inactive"))
    );
    let cleared = app.patch(&path, &ann, json!({"title": null})).await;
    assert_eq!(cleared.body["session"]["title"], Value::Null);
    for (body, field) in [
        (json!({"status": "ended"}), "status"),
        (json!({}), "title"),
        (json!({"title": "t".repeat(201)}), "title"),
        (json!({"status": 3}), "status"),
    ] {
        let reply = app.patch(&path, &ann, body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{reply:?}");
        assert!(reply.error_message().starts_with(field), "{reply:?}");
    }
}

#[tokio::test]
async fn an_ended_session_refuses_new_messages_with_session_ended() {
    let app = spawn_app().await;
    let ann = app.user("ann");
    let id = app.create_session(&ann, json!({"kind": "group"})).await;
    let hello = app.post_message(&id, &ann, "hello").await;
    let ended = app.delete(&format!("/sessions/{id}"), &ann).await;
    assert_eq!(
        (ended.status, ended.body["session"]["status"].clone()),
        (StatusCode::OK, json!("ended"))
    );
    assert!(ended.body["session"]["ended_at"].is_string());
    let late = app
        .post(
            &format!("/sessions/{id}/messages"),
            &ann,
            json!({"content": "anyone?"}),
        )
        .await;
    assert_eq!(
        (late.status, late.error_code()),
        (StatusCode::GONE, "session_ended")
    );
    for reply in [
        app.delete(&format!("/sessions/{id}"), &ann).await,
        app.patch(&format!("/sessions/{id}"), &ann, json!({"title": "x"}))
            .await,
        app.patch(
            &format!("/sessions/{id}/messages/{hello}"),
            &ann,
            json!({"content": "edit"}),
        )
        .await,
        app.post(
            &format!("/sessions/{id}/messages/{hello}/reactions"),
            &ann,
            json!({"reaction": "👍"}),
        )
        .await,
    ] {
        assert_eq!(
            (reply.status, reply.error_code()),
            (StatusCode::GONE, "session_ended"),
            "{reply:?}"
        );
    }
    let history = app.get(&format!("/sessions/{id}/messages"), &ann).await;
    assert_eq!(
        ids(&history.body["items"]),
        vec![hello],
        "history stays readable"
    );
}

#[tokio::test]
async fn joining_and_leaving_an_open_group_change_membership() {
    let app = spawn_app().await;
    let (ann, bob) = (app.user("ann"), app.user("bob"));
    let id = app
        .create_session(&ann, json!({"kind": "group", "join_policy": "open"}))
        .await;
    assert_eq!(
        app.get(&format!("/sessions/{id}"), &bob).await.status,
        StatusCode::FORBIDDEN
    );
    let joined = app
        .post(&format!("/sessions/{id}/join"), &bob, json!({}))
        .await;
    assert_eq!(
        (joined.status, joined.body["joined"].clone()),
        (StatusCode::OK, json!(true))
    );
    assert_eq!(member_ids(&joined.body["session"]), vec!["ann", "bob"]);
    assert_eq!(
        app.post(&format!("/sessions/{id}/join"), &bob, json!({}))
            .await
            .body["joined"],
        json!(false)
    );
    app.post_message(&id, &bob, "hi all").await;
    let listed = app.get("/sessions", &bob).await;
    assert_eq!(ids(&listed.body["items"]), vec![id.clone()]);
    let left = app
        .post(&format!("/sessions/{id}/leave"), &bob, json!({}))
        .await;
    assert_eq!(
        (left.status, left.body["left"].clone()),
        (StatusCode::OK, json!(true))
    );
    assert_eq!(
        app.post(
            &format!("/sessions/{id}/messages"),
            &bob,
            json!({"content": "hi"})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let connections = app.get(&format!("/sessions/{id}/connections"), &ann).await;
    assert_eq!(
        (connections.status, connections.body.clone()),
        (StatusCode::OK, json!({"items": [], "online": []}))
    );
}

#[tokio::test]
async fn messages_page_with_limit_cursor_order_and_after() {
    let app = spawn_app().await;
    let ann = app.user("ann");
    let id = app.create_session(&ann, json!({"kind": "group"})).await;
    let mut posted = Vec::new();
    for i in 0..5 {
        posted.push(app.post_message(&id, &ann, &format!("m{i}")).await);
    }
    let base = format!("/sessions/{id}/messages");
    let first = app.get(&format!("{base}?limit=2"), &ann).await;
    assert_eq!(
        ids(&first.body["items"]),
        vec![posted[4].clone(), posted[3].clone()]
    );
    let cursor = first.body["next_cursor"].as_str().expect("a cursor");
    let second = app
        .get(&format!("{base}?limit=2&cursor={cursor}"), &ann)
        .await;
    assert_eq!(
        ids(&second.body["items"]),
        vec![posted[2].clone(), posted[1].clone()]
    );
    let asc = app.get(&format!("{base}?order=asc&limit=3"), &ann).await;
    assert_eq!(ids(&asc.body["items"]), posted[..3].to_vec());
    let after = app.get(&format!("{base}?after={}", posted[2]), &ann).await;
    assert_eq!(
        ids(&after.body["items"]),
        posted[3..].to_vec(),
        "after reads oldest first"
    );
    assert_eq!(after.body["next_cursor"], Value::Null);
    let one = app.get(&format!("{base}/{}", posted[0]), &ann).await;
    assert_eq!(
        (
            one.body["message"]["content"].clone(),
            one.body["message"]["sender_id"].clone()
        ),
        (json!("m0"), json!("ann"))
    );
    let full = app.get(&format!("/sessions/{id}/full?limit=3"), &ann).await;
    assert_eq!(full.status, StatusCode::OK, "{full:?}");
    assert_eq!(
        ids(&full.body["messages"]),
        posted[2..].to_vec(),
        "full is oldest first"
    );
    assert!(full.body["next_cursor"].is_string());
    assert_eq!(member_ids(&full.body["session"]), vec!["ann"]);
    for bad in ["?order=up", "?after=nope", "?before=1"] {
        assert_eq!(
            app.get(&format!("{base}{bad}"), &ann).await.status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn a_repeated_client_msg_id_returns_the_original_message() {
    let app = spawn_app().await;
    let ann = app.user("ann");
    let id = app.create_session(&ann, json!({"kind": "group"})).await;
    let path = format!("/sessions/{id}/messages");
    let first = app
        .post(
            &path,
            &ann,
            json!({"content": "once", "client_msg_id": "c-1"}),
        )
        .await;
    assert_eq!(
        (first.status, first.body["duplicate"].clone()),
        (StatusCode::CREATED, json!(false))
    );
    let again = app
        .post(
            &path,
            &ann,
            json!({"content": "once more", "client_msg_id": "c-1"}),
        )
        .await;
    assert_eq!(
        (again.status, again.body["duplicate"].clone()),
        (StatusCode::OK, json!(true))
    );
    assert_eq!(again.body["message"], first.body["message"]);
    assert_eq!(
        app.get(&path, &ann).await.body["items"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[tokio::test]
async fn messages_are_edited_by_their_author_deleted_softly_and_reacted_to() {
    let app = spawn_app().await;
    let (ann, bob) = (app.user("ann"), app.user("bob"));
    let id = app
        .create_session(&ann, json!({"kind": "group", "members": ["bob"]}))
        .await;
    let message = app.post_message(&id, &bob, "helo").await;
    let path = format!("/sessions/{id}/messages/{message}");
    let edited = app.patch(&path, &bob, json!({"content": "hello"})).await;
    assert_eq!(
        (
            edited.body["message"]["content"].clone(),
            edited.body["message"]["edited"].clone()
        ),
        (json!("hello"), json!(true))
    );
    assert_eq!(
        app.patch(&path, &ann, json!({"content": "nope"}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    let reacted = app
        .post(
            &format!("{path}/reactions"),
            &ann,
            json!({"reaction": "👍"}),
        )
        .await;
    assert_eq!(
        reacted.body["message"]["reactions"],
        json!({"👍": ["ann"]}),
        "{reacted:?}"
    );
    app.post(
        &format!("{path}/reactions"),
        &bob,
        json!({"reaction": "👍"}),
    )
    .await;
    let removed = app
        .delete(&format!("{path}/reactions/%F0%9F%91%8D"), &ann)
        .await;
    assert_eq!(
        removed.body["message"]["reactions"],
        json!({"👍": ["bob"]}),
        "{removed:?}"
    );
    let bad = app
        .post(
            &format!("{path}/reactions"),
            &ann,
            json!({"reaction": "ok"}),
        )
        .await;
    assert_eq!(
        (bad.status, bad.error_message()),
        (
            StatusCode::BAD_REQUEST,
            "reaction: must be exactly one emoji"
        )
    );

    let deleted = app.delete(&path, &ann).await;
    assert_eq!(
        deleted.status,
        StatusCode::OK,
        "the owner deletes: {deleted:?}"
    );
    assert_eq!(
        (
            deleted.body["message"]["deleted"].clone(),
            deleted.body["message"]["content"].clone()
        ),
        (json!(true), json!(""))
    );
    assert_eq!(
        app.patch(&path, &bob, json!({"content": "back"}))
            .await
            .status,
        StatusCode::CONFLICT
    );
    let unknown = app
        .get(
            &format!("/sessions/{id}/messages/01ARZ3NDEKTSV4RRFFQ69G5FAV"),
            &ann,
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.error_message()),
        (StatusCode::NOT_FOUND, "message not found")
    );
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_no_internals() {
    let app = spawn_app().await;
    let ann = app.user("ann");
    let id = app.create_session(&ann, json!({"kind": "group"})).await;
    let messages = format!("{}/sessions/{id}/messages", app.base);
    let raw = |body: &str| {
        app.http
            .post(&messages)
            .bearer_auth(&ann.token)
            .body(body.to_owned())
    };

    let not_json = app.send(raw("{not json")).await;
    assert_eq!(
        (not_json.status, not_json.error_code()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    assert!(
        not_json
            .error_message()
            .starts_with("the body is not valid JSON"),
        "{not_json:?}"
    );
    let empty = app.send(raw("")).await;
    assert_eq!(
        (empty.status, empty.error_message()),
        (StatusCode::BAD_REQUEST, "a JSON body is required")
    );
    let wrong_type = app
        .send(raw(r#"{"content": "hi", "token_count": "many"}"#))
        .await;
    assert!(
        wrong_type.error_message().starts_with("token_count:"),
        "{wrong_type:?}"
    );
    let blank = app.send(raw(r#"{"content": "   "}"#)).await;
    assert_eq!(blank.error_message(), "content: must not be empty");
    let long = app
        .post(
            &format!("/sessions/{id}/messages"),
            &ann,
            json!({"content": "x".repeat(4_001)}),
        )
        .await;
    assert_eq!(
        long.error_message(),
        "content: must be at most 4000 characters"
    );
    let huge = app
        .send(raw(&format!(r#"{{"content": "{}"}}"#, "x".repeat(70_000))))
        .await;
    assert_eq!(
        (huge.status, huge.error_code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
    );
    let kind = app.post("/sessions", &ann, json!({"kind": "party"})).await;
    assert!(
        kind.error_message().starts_with("kind: unknown variant"),
        "{kind:?}"
    );
    let bot_claim = app
        .post(
            &format!("/sessions/{id}/messages"),
            &ann,
            json!({"content": "beep", "is_bot": true}),
        )
        .await;
    assert_eq!(
        (bot_claim.status, bot_claim.error_code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let file = app
        .post(
            &format!("/sessions/{id}/messages"),
            &ann,
            json!({"content": "x", "kind": "file"}),
        )
        .await;
    assert_eq!(file.status, StatusCode::BAD_REQUEST);

    let bad_id = app.get("/sessions/not-an-id", &ann).await;
    assert_eq!(
        (bad_id.status, bad_id.error_message()),
        (
            StatusCode::BAD_REQUEST,
            "session_id: must be a 26-character id"
        )
    );
    let unknown = app.get("/sessions/01ARZ3NDEKTSV4RRFFQ69G5FAV", &ann).await;
    assert_eq!(
        (unknown.status, unknown.error_code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let no_route = app.get("/nowhere", &ann).await;
    assert_eq!(
        (no_route.status, no_route.error_code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let method = app
        .request(Method::PUT, "/sessions", Some(&ann), None)
        .await;
    assert_eq!(method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        method.headers.get("allow").and_then(|v| v.to_str().ok()),
        Some("GET, POST")
    );
    for reply in [&not_json, &wrong_type, &huge, &bad_id, &unknown, &method] {
        let text = reply.body.to_string();
        assert!(
            !text.contains("Store") && !text.contains("panicked") && !text.contains("src/"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn tokens_are_required_and_checked() {
    let app = spawn_app().await;
    let none = app.request(Method::GET, "/sessions", None, None).await;
    assert_eq!(
        (none.status, none.error_code(), none.error_message()),
        (
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing bearer token"
        )
    );
    let forged = Caller {
        id: "ann".into(),
        token: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2lnbmF0dXJl".into(),
    };
    assert_eq!(
        app.get("/sessions", &forged).await.status,
        StatusCode::UNAUTHORIZED
    );
    let garbage = Caller {
        id: "ann".into(),
        token: "garbage".into(),
    };
    assert_eq!(
        app.get("/sessions", &garbage).await.status,
        StatusCode::UNAUTHORIZED
    );
    let unknown_role = app.caller("ann", "root", None);
    let refused = app.get("/sessions", &unknown_role).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.error_message().contains("role"), "{refused:?}");
}

#[tokio::test]
async fn the_rest_api_runs_the_same_on_dynamodb() {
    let Some(app) = spawn_app_on_dynamodb().await else {
        return;
    };
    let (ann, bob) = (app.user("ann"), app.user("bob"));
    let id = app
        .create_session(&ann, json!({"kind": "group", "members": ["bob"]}))
        .await;
    let message = app.post_message(&id, &bob, "stored in DynamoDB").await;
    let page = app.get(&format!("/sessions/{id}/messages"), &ann).await;
    assert_eq!(ids(&page.body["items"]), vec![message.clone()]);
    let reacted = app
        .post(
            &format!("/sessions/{id}/messages/{message}/reactions"),
            &ann,
            json!({"reaction": "👍"}),
        )
        .await;
    assert_eq!(reacted.body["message"]["reactions"], json!({"👍": ["ann"]}));
    assert_eq!(
        ids(&app.get("/sessions", &bob).await.body["items"]),
        vec![id.clone()]
    );
    assert_eq!(
        app.delete(&format!("/sessions/{id}"), &ann).await.status,
        StatusCode::OK
    );
    let late = app
        .post(
            &format!("/sessions/{id}/messages"),
            &bob,
            json!({"content": "late"}),
        )
        .await;
    assert_eq!(late.status, StatusCode::GONE);
    app.stop().await;
}

#[tokio::test]
async fn a_business_agents_see_its_open_support_sessions_newest_first_and_no_one_else_does() {
    let app = spawn_app().await;
    let (_, first) = app.start_support("acme").await;
    let (_, second) = app.start_support("acme").await;
    app.start_support("globex").await;
    let agent = app.caller("alice", "agent", Some("acme"));
    let queue = app.get("/businesses/acme/sessions", &agent).await;
    assert_eq!(queue.status, StatusCode::OK, "{queue:?}");
    let ids: Vec<&str> = queue.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(ids, [second.as_str(), first.as_str()]);
    for outsider in [app.caller("bob", "agent", Some("globex")), app.user("ann")] {
        let refused = app.get("/businesses/acme/sessions", &outsider).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
    }
    let admin = app.caller("root", "admin", None);
    assert_eq!(
        app.get("/businesses/acme/sessions", &admin).await.status,
        StatusCode::OK
    );
    // An ended one leaves the queue.
    assert_eq!(
        app.delete(&format!("/sessions/{second}"), &agent)
            .await
            .status,
        StatusCode::OK
    );
    let queue = app.get("/businesses/acme/sessions", &agent).await;
    assert_eq!(
        queue.body["items"].as_array().map(Vec::len),
        Some(1),
        "{queue:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_browsers_preflight_gets_204_from_both_rest_functions_with_the_apis_cors_headers() {
    let app = spawn_app().await;
    let ann = app.user("ann");
    let session = app
        .create_session(&ann, json!({"kind": "group", "title": "cors"}))
        .await;
    for path in [
        "/sessions".to_owned(),
        format!("/sessions/{session}/messages"),
        // The uploads function's routes.
        format!("/sessions/{session}/uploads"),
        format!("/sessions/{session}/attachments"),
    ] {
        let preflight = app
            .http
            .request(Method::OPTIONS, format!("{}{path}", app.base))
            .header("origin", "https://chat.example")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
            .await
            .expect("an answer");
        assert_eq!(preflight.status(), StatusCode::NO_CONTENT, "{path}");
        let headers = preflight.headers();
        assert_eq!(headers["access-control-allow-origin"], "*", "{path}");
        assert!(
            headers["access-control-allow-methods"]
                .to_str()
                .unwrap_or_default()
                .contains("POST"),
            "{path}"
        );
        assert!(
            headers["access-control-allow-headers"]
                .to_str()
                .unwrap_or_default()
                .contains("authorization"),
            "{path}"
        );
    }
    // The call itself carries them too.
    let listed = app
        .http
        .get(format!("{}/sessions", app.base))
        .header("origin", "https://chat.example")
        .bearer_auth(&ann.token)
        .send()
        .await
        .expect("an answer");
    assert_eq!(listed.status(), StatusCode::OK);
    assert_eq!(listed.headers()["access-control-allow-origin"], "*");
    app.stop().await;
}
