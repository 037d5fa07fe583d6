//! The seeds' own REST routes against chat-local, on both stores: each seed's documented
//! requests, answered in its shapes by the same service the canonical API uses, and every
//! identity a request names checked against the caller.

use std::time::Duration;

use chat_e2e::{Caller, FilePart, Reply, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn put(app: &TestApp, path: &str, caller: &Caller, body: Value) -> Reply {
    app.request(Method::PUT, path, Some(caller), Some(body))
        .await
}

fn assert_status(reply: &Reply, status: StatusCode) {
    assert_eq!(reply.status, status, "{reply:?}");
}

/// Seed 000's routes are the canonical ones under `/api/chat/sessions`; join and leave
/// take the seed's "a user" as `{"user_id"}`: the caller, or someone the group's owner adds
/// or removes.
async fn the_live_chat_routes_work(app: &TestApp) {
    let (ann, bob) = (app.user("ann"), app.user("bob"));
    let created = app
        .post(
            "/api/chat/sessions",
            &ann,
            json!({"kind": "group", "title": "Standup"}),
        )
        .await;
    assert_status(&created, StatusCode::CREATED);
    let id = created.body["session"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let base = format!("/api/chat/sessions/{id}");

    let claimed = app
        .post(&format!("{base}/join"), &bob, json!({"user_id": "cy"}))
        .await;
    assert_status(&claimed, StatusCode::FORBIDDEN);
    let uninvited = app
        .post(&format!("{base}/join"), &bob, json!({"user_id": "bob"}))
        .await;
    assert_status(&uninvited, StatusCode::FORBIDDEN);
    let joined = app
        .post(&format!("{base}/join"), &ann, json!({"user_id": "bob"}))
        .await;
    assert_status(&joined, StatusCode::OK);
    assert_eq!(joined.body["joined"], true);
    let bare = app
        .request(Method::POST, &format!("{base}/join/"), Some(&bob), None)
        .await;
    assert_eq!(
        (bare.status, &bare.body["joined"]),
        (StatusCode::OK, &json!(false))
    );

    let posted = app
        .post(
            &format!("{base}/messages"),
            &bob,
            json!({"content": "Hello, world!"}),
        )
        .await;
    assert_status(&posted, StatusCode::CREATED);
    let listed = app.get(&format!("{base}/messages"), &ann).await;
    assert_eq!(
        listed.body["items"][0]["content"], "Hello, world!",
        "{listed:?}"
    );
    let details = app.get(&base, &ann).await;
    assert_eq!(details.body["session"]["title"], "Standup");

    let left = app.post(&format!("{base}/leave"), &bob, json!({})).await;
    assert_eq!(
        (left.status, &left.body["left"]),
        (StatusCode::OK, &json!(true))
    );
    let wrong = app
        .post(&format!("{base}/leave"), &bob, json!({"user_id": 7}))
        .await;
    assert_status(&wrong, StatusCode::FORBIDDEN);
    let broken = app
        .post(&format!("{base}/leave"), &bob, json!({"user_id": [1]}))
        .await;
    assert_status(&broken, StatusCode::BAD_REQUEST);
    assert!(broken.error_message().starts_with("user_id"), "{broken:?}");
}

/// Waits for the echo model's reply among the messages a list route answers.
async fn bot_reply(app: &TestApp, messages: &str, caller: &Caller) -> Value {
    for _ in 0..100 {
        let page = app.get(messages, caller).await;
        if let Some(reply) = page.body["items"]
            .as_array()
            .and_then(|items| items.iter().find(|m| m["is_bot"] == true))
        {
            return reply.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no bot reply in {messages}");
}

/// Seed 001: chats and their messages as its documents, numbered pages, one reaction per
/// user, deleted chats and messages gone, and `user_id` numbers that must be the caller.
async fn the_chat_routes_work(app: &TestApp) {
    let (seven, eight) = (app.user("7"), app.user("8"));
    let created = app
        .post(
            "/chat/",
            &seven,
            json!({"user_id": 7, "document_id": "507f1f77bcf86cd799439011", "title": "AI Discussion", "status": "active"}),
        )
        .await;
    assert_status(&created, StatusCode::CREATED);
    let chat = created.body.clone();
    let fields: Vec<&str> = chat
        .as_object()
        .expect("a document")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        [
            "_id",
            "created_at",
            "document_id",
            "status",
            "title",
            "updated_at",
            "user_id"
        ]
    );
    assert_eq!(
        (&chat["user_id"], &chat["status"]),
        (&json!(7), &json!("active"))
    );
    let id = chat["_id"].as_str().expect("an id").to_owned();

    let theirs = app
        .post("/chat", &eight, json!({"user_id": 7, "title": "Mine now"}))
        .await;
    assert_status(&theirs, StatusCode::FORBIDDEN);
    // A user has many chats, each its own conversation.
    let second = app
        .post(
            "/chat",
            &seven,
            json!({"user_id": "7", "title": "Second", "status": "inactive"}),
        )
        .await;
    assert_status(&second, StatusCode::CREATED);
    assert_ne!(second.body["_id"], chat["_id"]);
    assert_eq!(second.body["status"], "inactive");

    let first_page = app.get("/chat/user/7?page=1&limit=1", &seven).await;
    assert_eq!(
        first_page.body["items"].as_array().map(Vec::len),
        Some(1),
        "{first_page:?}"
    );
    assert_eq!(
        (&first_page.body["has_more"], &first_page.body["page"]),
        (&json!(true), &json!(1))
    );
    let second_page = app.get("/chat/user/7?page=2&limit=1", &seven).await;
    assert_eq!(second_page.body["has_more"], false, "{second_page:?}");
    let both: Vec<Value> = [&first_page, &second_page]
        .iter()
        .map(|page| page.body["items"][0]["_id"].clone())
        .collect();
    assert!(
        both.contains(&chat["_id"]) && both.contains(&second.body["_id"]),
        "{both:?}"
    );
    assert_status(
        &app.get("/chat/user/7", &eight).await,
        StatusCode::FORBIDDEN,
    );
    assert_status(
        &app.get("/chat/user/7?page=0", &seven).await,
        StatusCode::BAD_REQUEST,
    );

    let renamed = put(
        app,
        &format!("/chat/{id}"),
        &seven,
        json!({"title": "Updated Title"}),
    )
    .await;
    assert_eq!(renamed.body["title"], "Updated Title", "{renamed:?}");
    assert_status(
        &app.get(&format!("/chat/{id}"), &eight).await,
        StatusCode::NOT_FOUND,
    );

    // Messages: a user may not pose as the bot; the bot's reply is a document too.
    let as_bot = app
        .post(
            &format!("/chat/{id}/messages"),
            &seven,
            json!({"message": "I am a bot", "is_bot": true}),
        )
        .await;
    assert_status(&as_bot, StatusCode::FORBIDDEN);
    let posted = app
        .post(
            &format!("/chat/{id}/messages"),
            &seven,
            json!({"message": "Hello, how are you?", "is_bot": false, "type": "text"}),
        )
        .await;
    assert_status(&posted, StatusCode::CREATED);
    let message = posted.body.clone();
    for (field, value) in [
        ("chat_id", json!(id)),
        ("message", json!("Hello, how are you?")),
        ("is_bot", json!(false)),
        ("reaction", Value::Null),
        ("token", Value::Null),
        ("type", json!("text")),
        ("is_edited", json!(false)),
    ] {
        assert_eq!(message[field], value, "{field} in {message}");
    }
    assert_eq!(message["created_ts"], message["updated_ts"]);
    let reply = bot_reply(app, &format!("/chat/{id}/messages?limit=100"), &seven).await;
    assert!(
        reply["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Hello, how are you?"),
        "{reply}"
    );

    let mid = message["_id"].as_str().expect("an id").to_owned();
    let path = format!("/chat/{id}/messages/{mid}");
    let updated = put(
        app,
        &path,
        &seven,
        json!({"message": "Updated message content", "reaction": "👍"}),
    )
    .await;
    assert_eq!(
        (
            &updated.body["message"],
            &updated.body["reaction"],
            &updated.body["is_edited"]
        ),
        (
            &json!("Updated message content"),
            &json!("👍"),
            &json!(true)
        ),
        "{updated:?}"
    );
    assert_ne!(updated.body["updated_ts"], updated.body["created_ts"]);
    let hearts = app
        .request(
            Method::POST,
            &format!("{path}/reaction?reaction=%E2%9D%A4%EF%B8%8F"),
            Some(&seven),
            None,
        )
        .await;
    assert_eq!(hearts.body["reaction"], "❤️", "{hearts:?}");
    let canonical = app
        .get(&format!("/sessions/{id}/messages/{mid}"), &seven)
        .await;
    assert_eq!(
        canonical.body["message"]["reactions"],
        json!({"❤️": ["7"]}),
        "one per user"
    );
    let removed = app.delete(&format!("{path}/reaction"), &seven).await;
    assert_eq!(removed.body["reaction"], Value::Null, "{removed:?}");
    assert_status(
        &app.request(
            Method::POST,
            &format!("{path}/reaction"),
            Some(&seven),
            None,
        )
        .await,
        StatusCode::BAD_REQUEST,
    );

    let full = app
        .get(&format!("/chat/{id}/full?page=1&limit=50"), &seven)
        .await;
    assert_eq!(full.body["chat"]["_id"], json!(id), "{full:?}");
    assert_eq!(
        full.body["messages"]["items"].as_array().map(Vec::len),
        Some(2)
    );
    let status = app.get(&format!("/chat/ws/{id}/status"), &seven).await;
    assert_eq!(
        (status.status, &status.body["active_connections"]),
        (StatusCode::OK, &json!(0))
    );

    assert_status(&app.delete(&path, &seven).await, StatusCode::OK);
    assert_status(&app.get(&path, &seven).await, StatusCode::NOT_FOUND);
    let left = app.get(&format!("/chat/{id}/messages"), &seven).await;
    assert_eq!(
        left.body["items"].as_array().map(Vec::len),
        Some(1),
        "the bot's reply is left"
    );

    assert_status(
        &app.delete(&format!("/chat/{id}"), &seven).await,
        StatusCode::OK,
    );
    assert_status(
        &app.get(&format!("/chat/{id}"), &seven).await,
        StatusCode::NOT_FOUND,
    );
    assert_status(
        &app.get(&format!("/chat/{id}/messages"), &seven).await,
        StatusCode::NOT_FOUND,
    );
    // An admin acts for any user; a service token posts the bot's messages.
    let admin = app.caller("root", "admin", None);
    let for_nine = app.post("/chat", &admin, json!({"user_id": 9})).await;
    assert_eq!(
        (for_nine.status, &for_nine.body["user_id"]),
        (StatusCode::CREATED, &json!(9))
    );
    let nines = app.get("/chat/user/9", &admin).await;
    assert_eq!(
        nines.body["items"][0]["_id"], for_nine.body["_id"],
        "{nines:?}"
    );
    let nine_id = for_nine.body["_id"].as_str().expect("an id");
    let service = app.caller("indexer", "service", None);
    let from_bot = app
        .post(
            &format!("/chat/{nine_id}/messages"),
            &service,
            json!({"message": "AI is a branch of computer science...", "is_bot": true, "token": 45}),
        )
        .await;
    assert_status(&from_bot, StatusCode::CREATED);
    assert_eq!(
        (&from_bot.body["is_bot"], &from_bot.body["token"]),
        (&json!(true), &json!(45))
    );

    let after = app.get("/chat/user/7", &seven).await;
    assert_eq!(
        after.body["items"].as_array().map(Vec::len),
        Some(1),
        "{after:?}"
    );
}

/// Seed 003: one active session per user and chatbot, resumed with its previous messages,
/// and ended by `DELETE`.
async fn the_chatbot_routes_work(app: &TestApp) {
    let (ann, bob) = (app.user("ann"), app.user("bob"));
    let opened = app
        .request(Method::POST, "/chatbot/assistant/session", Some(&ann), None)
        .await;
    assert_status(&opened, StatusCode::CREATED);
    let fields: Vec<&str> = opened
        .body
        .as_object()
        .expect("an answer")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        [
            "chatbot_id",
            "chatbot_name",
            "conversation_id",
            "previous_messages",
            "session_id"
        ]
    );
    assert_eq!(opened.body["chatbot_name"], "Assistant");
    let id = opened.body["session_id"]
        .as_str()
        .expect("an id")
        .to_owned();
    app.post_message(&id, &ann, "Hello, can you help me with my project?")
        .await;
    bot_reply(app, &format!("/sessions/{id}/messages"), &ann).await;

    let again = app
        .request(Method::POST, "/chatbot/assistant/session", Some(&ann), None)
        .await;
    assert_status(&again, StatusCode::OK);
    assert_eq!(again.body["session_id"], json!(id));
    let previous = again.body["previous_messages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let roles: Vec<&str> = previous.iter().filter_map(|m| m["role"].as_str()).collect();
    assert_eq!(roles, ["user", "assistant"], "{previous:?}");
    assert_eq!(
        previous[0]["message"],
        "Hello, can you help me with my project?"
    );
    assert!(previous[0]["created_at"].is_string());

    assert_status(
        &app.delete(&format!("/chatbot/session/{id}"), &bob).await,
        StatusCode::NOT_FOUND,
    );
    assert_status(
        &app.delete(&format!("/chatbot/session/{id}"), &ann).await,
        StatusCode::OK,
    );
    let fresh = app
        .request(Method::POST, "/chatbot/assistant/session", Some(&ann), None)
        .await;
    assert_status(&fresh, StatusCode::CREATED);
    assert_ne!(fresh.body["session_id"], json!(id));
    let unauthenticated = app
        .request(Method::POST, "/chatbot/assistant/session", None, None)
        .await;
    assert_status(&unauthenticated, StatusCode::UNAUTHORIZED);
}

/// Seed 004: a public start answering `{"message", "data"}` with a visitor token, uploads
/// whose named uploader must be the caller, and the history timeline.
async fn the_visitor_support_routes_work(app: &TestApp) {
    let started = app
        .request(
            Method::POST,
            "/chat/start-session/",
            None,
            Some(json!({"business": "acme", "external_customer_id": "cust-1"})),
        )
        .await;
    assert_status(&started, StatusCode::CREATED);
    assert_eq!(started.body["message"], "Chat session started successfully");
    let data = &started.body["data"];
    assert_eq!(data["active"], true, "{started:?}");
    let session = data["session_id"].as_str().expect("an id").to_owned();
    let visitor = Caller {
        id: String::new(),
        token: data["visitor_token"]
            .as_str()
            .expect("a visitor token")
            .to_owned(),
    };
    let resumed = app
        .post("/chat/start-session", &visitor, json!({"business": "acme"}))
        .await;
    assert_status(&resumed, StatusCode::OK);
    assert_eq!(resumed.body["data"]["session_id"], json!(session));
    let canonical_body = app
        .request(
            Method::POST,
            "/chat/start-session/",
            None,
            Some(json!({"business_id": "acme"})),
        )
        .await;
    assert_status(&canonical_body, StatusCode::BAD_REQUEST);
    assert!(
        canonical_body.error_message().contains("business"),
        "{canonical_body:?}"
    );

    let details = app.get(&format!("/sessions/{session}"), &visitor).await;
    let visitor_id = details.body["session"]["owner_id"]
        .as_str()
        .expect("an owner")
        .to_owned();
    let file = FilePart {
        name: "example.pdf",
        kind: "application/pdf",
        bytes: b"%PDF-1.4 a small file",
    };
    let posing = app
        .form(
            "/chat/upload-file/",
            Some(&visitor),
            &[("uploaded_by_end_user", "someone-else")],
            file,
        )
        .await;
    assert_status(&posing, StatusCode::FORBIDDEN);
    let anonymous = app.form("/chat/upload-file/", None, &[], file).await;
    assert_status(&anonymous, StatusCode::UNAUTHORIZED);
    let uploaded = app
        .form(
            "/chat/upload-file/",
            Some(&visitor),
            &[("message", "null"), ("uploaded_by_end_user", &visitor_id)],
            file,
        )
        .await;
    assert_status(&uploaded, StatusCode::CREATED);
    assert_eq!(uploaded.body["message"], "File uploaded successfully");
    assert_eq!(uploaded.body["data"]["file_name"], "example.pdf");
    let url = uploaded.body["data"]["file"]
        .as_str()
        .expect("a file URL")
        .to_owned();

    // The URL goes back in a file message, as the seed's socket sends it; then the history
    // has the message and the attachment.
    let sent = app
        .post(
            &format!("/sessions/{session}/messages"),
            &visitor,
            json!({"kind": "file", "attachment_id": uploaded.body["data"]["attachment_id"]}),
        )
        .await;
    assert_status(&sent, StatusCode::CREATED);
    assert!(url.contains(&session), "{url}");
    let history = app
        .get(&format!("/chat/history/{session}/"), &visitor)
        .await;
    assert_eq!(
        history.body["message"], "Chat timeline fetched successfully",
        "{history:?}"
    );
    let kinds: Vec<&str> = history.body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item["type"].as_str())
        .collect();
    assert!(
        kinds.contains(&"message") && kinds.contains(&"attachment"),
        "{kinds:?}"
    );
    let outsider = app.caller("mallory", "visitor", Some("acme"));
    assert_status(
        &app.get(&format!("/chat/history/{session}/"), &outsider)
            .await,
        StatusCode::NOT_FOUND,
    );
}

chat_e2e::on_both_stores! {
    the_live_chat_routes_work => seed_000s_session_routes_answer_as_the_canonical_ones, seed_000s_session_routes_work_on_dynamodb;
    the_chat_routes_work => seed_001s_chats_and_messages_are_its_documents_in_numbered_pages, seed_001s_chat_routes_work_on_dynamodb;
    the_chatbot_routes_work => seed_003s_chatbot_session_is_one_per_user_and_resumed_with_its_messages, seed_003s_chatbot_routes_work_on_dynamodb;
    the_visitor_support_routes_work => seed_004s_visitor_starts_uploads_and_reads_history_with_its_token, seed_004s_visitor_routes_work_on_dynamodb;
}
