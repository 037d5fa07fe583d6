//! Files end to end through the local server: uploads both ways, file messages over the
//! socket and REST, downloads of the same bytes, the timeline, and every refusal. The
//! whole flow runs on the local folder (the default) and on moto's S3.

use chat_e2e::{Caller, FilePart, Socket, TestApp, spawn_app, spawn_app_on_dynamodb};
use reqwest::StatusCode;
use serde_json::{Value, json};

const NOTES: &[u8] = b"minutes of the meeting\nall agreed\n";
const PIXEL: &[u8] = b"\x89PNG\r\n\x1a\n a very small image";

/// A group session of ann (owner) and bob.
async fn group(app: &TestApp) -> (String, Caller, Caller) {
    let ann = app.user("ann");
    let bob = app.user("bob");
    let session = app
        .create_session(&ann, json!({"kind": "group", "members": ["bob"]}))
        .await;
    (session, ann, bob)
}

/// `POST /sessions/{id}/uploads` for `bytes`, answered 201.
async fn announce(
    app: &TestApp,
    session: &str,
    who: &Caller,
    name: &str,
    kind: &str,
    size: usize,
) -> Value {
    let reply = app.announce_upload(session, who, name, kind, size).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    reply.body
}

/// The presigned request of an upload answer, made with `bytes`.
async fn put(app: &TestApp, upload: &Value, bytes: &[u8]) -> StatusCode {
    app.put_upload(upload, bytes).await
}

async fn download(app: &TestApp, url: &Value) -> Vec<u8> {
    let response = app
        .http
        .get(url.as_str().expect("a download url"))
        .send()
        .await
        .expect("the blob store answers");
    assert_eq!(response.status(), StatusCode::OK);
    response.bytes().await.expect("bytes").to_vec()
}

/// `POST /sessions/{id}/attachments` with `bytes` in the `file` part.
async fn multipart(
    app: &TestApp,
    session: &str,
    who: &Caller,
    name: &str,
    kind: &str,
    bytes: &[u8],
) -> chat_e2e::Reply {
    let file = FilePart { name, kind, bytes };
    app.form(
        &format!("/sessions/{session}/attachments"),
        Some(who),
        &[("note", "ignored")],
        file,
    )
    .await
}

/// `POST /sessions/{id}/messages` of a file message.
async fn send_file(
    app: &TestApp,
    session: &str,
    who: &Caller,
    kind: &str,
    id: impl Into<Value>,
) -> chat_e2e::Reply {
    app.post(
        &format!("/sessions/{session}/messages"),
        who,
        json!({"kind": kind, "attachment_id": id.into()}),
    )
    .await
}

/// A refusal's status and error code.
fn refusal(reply: chat_e2e::Reply) -> (StatusCode, String) {
    (reply.status, reply.error_code().to_owned())
}

/// A socket bound to the session, past its welcome.
async fn joined(app: &TestApp, who: &Caller, session: &str) -> Socket {
    let mut socket = app.connect(who, Some(session)).await;
    socket.next_of("chat_history").await;
    socket
}

/// Uploads through a presigned PUT, sends the file over the socket, and has bob download
/// the same bytes from the broadcast and from `GET .../attachments/{aid}`.
async fn presigned_upload_flow(app: &TestApp) {
    let (session, ann, bob) = group(app).await;
    let mut bobs = joined(app, &bob, &session).await;
    let upload = announce(
        app,
        &session,
        &ann,
        "minutes.txt",
        "text/plain",
        NOTES.len(),
    )
    .await;
    let attachment_id = upload["attachment_id"]
        .as_str()
        .expect("an attachment id")
        .to_owned();
    assert_eq!(upload["attachment"]["file_name"], "minutes.txt");
    assert_eq!(upload["attachment"]["size"], NOTES.len());
    let expires_at =
        chat_core::domain::Timestamp::parse(upload["expires_at"].as_str().expect("expiry"))
            .expect("a time");
    let longest =
        chat_core::domain::Timestamp::now().plus(std::time::Duration::from_secs(15 * 60 + 5));
    assert!(
        expires_at <= longest,
        "the upload URL lives at most 15 minutes"
    );
    assert!(
        !upload["url"].as_str().expect("url").contains("minutes"),
        "the client's file name is never part of the key"
    );
    assert_eq!(put(app, &upload, NOTES).await, StatusCode::OK);

    let mut anns = joined(app, &ann, &session).await;
    anns.send(json!({"action": "send", "kind": "file", "attachment_id": attachment_id, "content": "the minutes", "client_msg_id": "m-1"}))
        .await;
    let ack = anns.next_of("message_received").await;
    assert_eq!(ack["client_msg_id"], "m-1");
    let shared = bobs.next_of("chat_message").await["message"].clone();
    assert_eq!(shared["kind"], "file");
    assert_eq!(shared["content"], "the minutes");
    assert_eq!(shared["sender_id"], "ann");
    let attachment = &shared["attachment"];
    assert_eq!(attachment["id"], attachment_id.as_str());
    assert_eq!(attachment["file_name"], "minutes.txt");
    assert_eq!(attachment["content_type"], "text/plain");
    assert_eq!(attachment["size"], NOTES.len());
    assert!(attachment["url_expires_at"].is_string());
    assert_eq!(download(app, &attachment["url"]).await, NOTES);

    let reply = app
        .get(
            &format!("/sessions/{session}/attachments/{attachment_id}"),
            &bob,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body["attachment"]["file_name"], "minutes.txt");
    assert_eq!(download(app, &reply.body["attachment"]["url"]).await, NOTES);

    // The file message is in the history with a fresh link, as everywhere messages show.
    let page = app
        .get(&format!("/sessions/{session}/messages"), &bob)
        .await;
    let listed = &page.body["items"][0];
    assert_eq!(listed["attachment"]["id"], attachment_id.as_str());
    assert_eq!(download(app, &listed["attachment"]["url"]).await, NOTES);
}

#[tokio::test]
async fn a_file_uploaded_to_a_presigned_url_is_sent_over_the_socket_and_another_member_downloads_the_same_bytes()
 {
    let app = spawn_app().await;
    presigned_upload_flow(&app).await;
}

#[tokio::test]
async fn the_same_file_flow_runs_on_s3_and_dynamodb() {
    let Some(app) = spawn_app_on_dynamodb().await else {
        return;
    };
    presigned_upload_flow(&app).await;
    let (session, ann, bob) = group(&app).await;
    let reply = multipart(&app, &session, &ann, "pixel.png", "image/png", PIXEL).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    let id = reply.body["attachment_id"].as_str().expect("an id");
    let sent = send_file(&app, &session, &ann, "image", id).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{sent:?}");
    let shown = app
        .get(&format!("/sessions/{session}/attachments/{id}"), &bob)
        .await;
    assert_eq!(
        download(&app, &shown.body["attachment"]["url"]).await,
        PIXEL
    );
}

#[tokio::test]
async fn a_small_file_posted_as_multipart_is_sent_with_the_seeds_file_frame_and_the_timeline_orders_everything()
 {
    let app = spawn_app().await;
    let (session, ann, bob) = group(&app).await;
    app.post_message(&session, &ann, "here comes a picture")
        .await;

    let reply = multipart(&app, &session, &ann, "pixel.png", "Image/PNG", PIXEL).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    let image_id = reply.body["attachment_id"]
        .as_str()
        .expect("an id")
        .to_owned();
    assert_eq!(reply.body["attachment"]["content_type"], "image/png");
    assert_eq!(reply.body["attachment"]["size"], PIXEL.len());

    // The seeds name the file by the URL their upload returned.
    let upload = announce(
        &app,
        &session,
        &ann,
        "minutes.txt",
        "text/plain",
        NOTES.len(),
    )
    .await;
    assert_eq!(put(&app, &upload, NOTES).await, StatusCode::OK);
    let mut bobs = joined(&app, &bob, &session).await;
    let mut anns = joined(&app, &ann, &session).await;
    anns.send(json!({"type": "file", "file": upload["url"]}))
        .await;
    let by_url = bobs.next_of("chat_message").await["message"].clone();
    assert_eq!(by_url["attachment"]["id"], upload["attachment_id"]);
    anns.send(json!({"type": "file", "file": image_id, "content": "look"}))
        .await;
    let by_id = bobs.next_of("chat_message").await["message"].clone();
    assert_eq!(
        (by_id["kind"].as_str(), by_id["content"].as_str()),
        (Some("file"), Some("look"))
    );
    assert_eq!(download(&app, &by_id["attachment"]["url"]).await, PIXEL);

    // An upload never sent stays out of the timeline.
    announce(&app, &session, &ann, "draft.pdf", "application/pdf", 10).await;
    app.post_message(&session, &bob, "nice").await;

    let timeline = app.get(&format!("/sessions/{session}/history"), &bob).await;
    assert_eq!(timeline.status, StatusCode::OK, "{timeline:?}");
    let entries: Vec<(String, String)> = timeline.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| {
            let data = &item["data"];
            let label = data["file_name"]
                .as_str()
                .or(data["content"].as_str())
                .unwrap_or_default();
            (
                item["type"].as_str().unwrap_or_default().to_owned(),
                label.to_owned(),
            )
        })
        .collect();
    let expected = [
        ("message", "here comes a picture"),
        ("attachment", "pixel.png"),
        ("attachment", "minutes.txt"),
        ("message", ""),
        ("message", "look"),
        ("message", "nice"),
    ];
    assert_eq!(
        entries,
        expected.map(|(t, l)| (t.to_owned(), l.to_owned())).to_vec()
    );
    assert_eq!(timeline.body["next_cursor"], Value::Null);
    let image = &timeline.body["items"][1]["data"];
    assert_eq!(download(&app, &image["url"]).await, PIXEL);

    // Paged: the older page continues exactly where the newer one stopped.
    let newer = app
        .get(&format!("/sessions/{session}/history?limit=2"), &bob)
        .await;
    let newer_items = newer.body["items"].as_array().expect("items").clone();
    assert_eq!(newer_items.len(), 2, "{newer:?}");
    let cursor = newer.body["next_cursor"].as_str().expect("a cursor");
    let older = app
        .get(
            &format!("/sessions/{session}/history?limit=10&cursor={cursor}"),
            &bob,
        )
        .await;
    let older_items = older.body["items"].as_array().expect("items").clone();
    assert_eq!(
        older_items.len() + newer_items.len(),
        expected.len(),
        "{older:?}"
    );
    assert_eq!(older.body["next_cursor"], Value::Null);
}

#[tokio::test]
async fn uploads_that_break_the_rules_are_refused_with_a_clear_error() {
    let app = spawn_app().await;
    let (session, ann, _) = group(&app).await;
    let stranger = app.user("eve");
    let uploads = format!("/sessions/{session}/uploads");
    let good = json!({"file_name": "a.pdf", "content_type": "application/pdf", "size": 10});
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };
    let cases = [
        (
            "a stranger",
            &stranger,
            good.clone(),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "a page",
            &ann,
            with("content_type", json!("text/html")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "an SVG",
            &ann,
            with("content_type", json!("image/svg+xml")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "not a media type",
            &ann,
            with("content_type", json!("pdf")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "too large",
            &ann,
            with("size", json!(25 * 1024 * 1024 + 1)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
        (
            "empty",
            &ann,
            with("size", json!(0)),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "a negative size",
            &ann,
            with("size", json!(-1)),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "a path for a name",
            &ann,
            with("file_name", json!("../../etc/passwd")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "no name",
            &ann,
            json!({"content_type": "application/pdf", "size": 10}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (what, who, body, status, code) in cases {
        let reply = app.post(&uploads, who, body).await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (status, code),
            "{what}: {reply:?}"
        );
    }
    let unknown = app
        .post(
            "/sessions/01ARZ3NDEKTSV4RRFFQ69G5FAV/uploads",
            &ann,
            good.clone(),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    let too_big = vec![b'x'; 4 * 1024 * 1024 + 1];
    let reply = multipart(&app, &session, &ann, "big.txt", "text/plain", &too_big).await;
    assert_eq!(
        (reply.status, reply.error_code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        "{reply:?}"
    );
    let reply = multipart(&app, &session, &ann, "page.html", "text/html", b"<script>").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{reply:?}");
    let reply = multipart(&app, &session, &stranger, "a.txt", "text/plain", b"hi").await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reply:?}");
    let reply = app
        .send(
            app.http
                .post(format!("{}/sessions/{session}/attachments", app.base))
                .bearer_auth(&ann.token)
                .json(&json!({"file": "not multipart"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{reply:?}");

    app.delete(&format!("/sessions/{session}"), &ann).await;
    let reply = app.post(&uploads, &ann, good).await;
    assert_eq!(
        (reply.status, reply.error_code()),
        (StatusCode::GONE, "session_ended")
    );
}

#[tokio::test]
async fn a_file_message_is_refused_until_its_own_upload_is_there_and_matches() {
    let app = spawn_app().await;
    let (session, ann, bob) = group(&app).await;
    let mut anns = joined(&app, &ann, &session).await;
    let refused = |status: StatusCode, code: &str| (status, code.to_owned());

    // Announced, never uploaded.
    let missing = announce(&app, &session, &ann, "a.txt", "text/plain", 5).await;
    let id = missing["attachment_id"].clone();
    anns.send(json!({"action": "send", "kind": "file", "attachment_id": id}))
        .await;
    assert_eq!(anns.next_of("error").await["code"], "conflict");
    assert_eq!(
        refusal(send_file(&app, &session, &ann, "file", id.clone()).await),
        refused(StatusCode::CONFLICT, "conflict")
    );
    // Someone else's upload.
    assert_eq!(
        refusal(send_file(&app, &session, &bob, "file", id.clone()).await),
        refused(StatusCode::FORBIDDEN, "forbidden")
    );

    // Bytes of another size than declared (written behind the presigned URL's back).
    let key = format!("sessions/{session}/{}", id.as_str().expect("id"));
    chat_core::ports::BlobStore::put(
        app.blobs().as_ref(),
        &key,
        "text/plain",
        b"longer than five".to_vec(),
    )
    .await
    .expect("stored");
    let reply = send_file(&app, &session, &ann, "file", id.clone()).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{reply:?}");
    assert!(
        reply.error_message().contains("not the 5 declared"),
        "{reply:?}"
    );

    // A text file is no image, and no text message carries a file; an attachment of
    // another session is not found there, and its URL is refused here.
    let text = multipart(&app, &session, &ann, "b.txt", "text/plain", b"hello").await;
    let text_id = text.body["attachment_id"].clone();
    let invalid = refused(StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(
        refusal(send_file(&app, &session, &ann, "image", text_id.clone()).await),
        invalid
    );
    assert_eq!(
        refusal(send_file(&app, &session, &ann, "text", text_id.clone()).await),
        invalid
    );
    let elsewhere = app.create_session(&ann, json!({"kind": "group"})).await;
    assert_eq!(
        refusal(send_file(&app, &elsewhere, &ann, "file", text_id.clone()).await),
        refused(StatusCode::NOT_FOUND, "not_found")
    );
    let foreign_url = format!(
        "https://files.example/sessions/{elsewhere}/{}",
        text_id.as_str().expect("id")
    );
    anns.send(json!({"type": "file", "file": foreign_url}))
        .await;
    assert_eq!(anns.next_of("error").await["code"], "invalid_frame");

    // Nothing was stored by any refusal, and the socket is still open.
    let page = app
        .get(&format!("/sessions/{session}/messages"), &ann)
        .await;
    assert_eq!(page.body["items"], json!([]));
    anns.send(json!({"action": "ping"})).await;
    assert_eq!(anns.next_of("pong").await["type"], "pong");
}

#[tokio::test]
async fn a_file_is_shown_only_to_those_who_may_read_the_session() {
    let app = spawn_app().await;
    let (session, ann, bob) = group(&app).await;
    let private = app
        .create_session(&ann, json!({"kind": "direct", "members": ["bob"]}))
        .await;
    let stranger = app.user("eve");
    let sent = multipart(&app, &session, &ann, "c.txt", "text/plain", b"hello").await;
    let id = sent.body["attachment_id"].as_str().expect("id").to_owned();
    let path = format!("/sessions/{session}/attachments/{id}");

    // Pending: its uploader sees it; nobody else knows it exists yet.
    let reply = app.get(&path, &ann).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(app.get(&path, &bob).await.status, StatusCode::NOT_FOUND);
    let reply = send_file(&app, &session, &ann, "file", id.clone()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    assert_eq!(app.get(&path, &bob).await.status, StatusCode::OK);

    assert_eq!(
        app.get(&path, &stranger).await.status,
        StatusCode::FORBIDDEN
    );
    let elsewhere = app
        .get(&format!("/sessions/{private}/attachments/{id}"), &bob)
        .await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);
    let unknown = app
        .get(
            &format!("/sessions/{session}/attachments/01ARZ3NDEKTSV4RRFFQ69G5FAV"),
            &bob,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let malformed = app
        .get(&format!("/sessions/{session}/attachments/nope"), &bob)
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    let history = app
        .get(&format!("/sessions/{private}/history"), &stranger)
        .await;
    assert_eq!(history.status, StatusCode::NOT_FOUND);
    let wrong_method = app.delete(&path, &ann).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
}
