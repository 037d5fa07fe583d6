//! Regression tests for the holes an outside probe found (issue 14), each at its cause.

use std::time::Duration;

use chat_e2e::{TestApp, TokenIn, spawn_app};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::AsyncReadExt;

/// Finding 1: chat-local posted other members' frames to whatever `Host` a WebSocket
/// client sent. Its pushes now always go to its own @connections.
#[tokio::test]
async fn a_clients_host_header_never_decides_where_frames_are_pushed() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let app = spawn_app().await;
    let (ann, mallory) = (app.user("ann"), app.user("mallory"));
    let session = app
        .create_session(&ann, json!({"kind": "group", "members": ["mallory"]}))
        .await;
    let mut anns = app.connect(&ann, Some(&session)).await;
    anns.next_of("chat_history").await;

    // Mallory's port, named as the Host of her handshake.
    let trap = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let trap_port = trap.local_addr().expect("an address").port();
    let url = format!(
        "{}/?session_id={session}&token={}",
        app.ws_url(),
        mallory.token
    );
    let mut request = url.into_client_request().expect("a request");
    request.headers_mut().insert(
        "host",
        format!("127.0.0.1:{trap_port}").parse().expect("a header"),
    );
    let (stream, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the handshake succeeds");
    let mut mallorys = chat_e2e::Socket::from_stream(stream);

    // Her frame's event names her Host: its broadcast must still go to this server.
    mallorys
        .send(json!({"action": "send", "content": "for members only"}))
        .await;
    let delivered = anns.next_of("chat_message").await;
    assert_eq!(delivered["message"]["content"], "for members only");
    // Nothing reaches the trap: no connection, let alone a post.
    let caught = tokio::time::timeout(Duration::from_millis(500), async {
        let (mut stream, _) = trap.accept().await.expect("accepted");
        let mut seen = Vec::new();
        let _ = stream.read_to_end(&mut seen).await;
        seen
    })
    .await;
    assert!(
        caught.is_err(),
        "a push reached the client's Host: {caught:?}"
    );
    anns.close().await;
    app.stop().await;
}

/// Finding 2: any agent who joined a group could delete anyone's message there. An agent
/// moderates its own business's support sessions only.
#[tokio::test]
async fn an_agent_in_a_group_deletes_only_its_own_messages() {
    let app = spawn_app().await;
    let ann = app.user("ann");
    let agent = app.caller("agent-7", "agent", Some("acme"));
    let session = app.create_session(&ann, json!({"kind": "group"})).await;
    let added = app
        .post(
            &format!("/sessions/{session}/members"),
            &ann,
            json!({"user_id": "agent-7"}),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{added:?}");
    let anns = app.post_message(&session, &ann, "mine").await;
    let refused = app
        .delete(&format!("/sessions/{session}/messages/{anns}"), &agent)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
    let kept = app
        .get(&format!("/sessions/{session}/messages/{anns}"), &ann)
        .await;
    assert_eq!(kept.body["message"]["deleted"], false, "{kept:?}");
    let own = app.post_message(&session, &agent, "the agent's").await;
    let deleted = app
        .delete(&format!("/sessions/{session}/messages/{own}"), &agent)
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{deleted:?}");
    app.stop().await;
}

/// Finding 6: the startup banner wrote a valid 24-hour token into the server's log. It
/// says how to make one instead, and that this is a development server.
#[tokio::test]
async fn the_startup_banner_holds_no_token() {
    let app = spawn_app().await;
    let banner = app.banner();
    assert!(banner.contains("development server"), "{banner}");
    assert!(banner.contains("-- token --sub"), "{banner}");
    // A JWT is three base64url parts; the header of every one starts `eyJ`.
    assert!(!banner.contains("eyJ"), "{banner}");
    app.stop().await;
}

// Finding 3: leaving answered `left: true` while the member's socket kept hearing the
// session. Leaving, or being removed by the owner, unbinds every socket of theirs there.
// Finding 5: anyone who learnt a group's id could join it. Groups are invite-only unless
// their owner opens them; the owner or an admin adds and removes members.
chat_e2e::on_both_stores! {
    leaving_unbinds => a_member_who_leaves_or_is_removed_stops_hearing_the_session_at_once, leaving_unbinds_on_dynamodb_too;
    groups_are_invite_only => a_group_is_invite_only_unless_its_owner_opens_it, groups_are_invite_only_on_dynamodb_too;
    uploads_land_once => a_presigned_upload_cannot_be_replayed_after_its_file_was_sent, uploads_land_once_on_s3_too;
}

// Finding 4: a presigned upload could be replayed for its 15 minutes after the file was
// checked and sent, and downloads then served the new bytes. Its URL is signed with
// `If-None-Match: *`, so the store takes the first upload only.
async fn uploads_land_once(app: &TestApp) {
    const SENT: &[u8] = b"the minutes, as checked";
    const SWAPPED: &[u8] = b"a payload, swapped in!!";
    let (ann, bob) = (app.user("ann"), app.user("bob"));
    let session = app
        .create_session(&ann, json!({"kind": "group", "members": ["bob"]}))
        .await;
    let upload = app
        .announce_upload(&session, &ann, "minutes.txt", "text/plain", SENT.len())
        .await
        .body;
    assert_eq!(upload["headers"]["if-none-match"], "*", "{upload}");
    assert_eq!(app.put_upload(&upload, SENT).await, StatusCode::OK);
    let sent = app
        .post(
            &format!("/sessions/{session}/messages"),
            &ann,
            json!({"kind": "file", "attachment_id": upload["attachment_id"]}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{sent:?}");

    assert_eq!(
        app.put_upload(&upload, SWAPPED).await,
        StatusCode::PRECONDITION_FAILED
    );
    let shown = app
        .get(
            &format!(
                "/sessions/{session}/attachments/{}",
                upload["attachment_id"].as_str().expect("an id")
            ),
            &bob,
        )
        .await;
    let url = shown.body["attachment"]["url"].as_str().expect("a link");
    let served = app.http.get(url).send().await.expect("served");
    assert_eq!(served.bytes().await.expect("bytes").as_ref(), SENT);
}

async fn leaving_unbinds(app: &TestApp) {
    let (ann, bob, cy) = (app.user("ann"), app.user("bob"), app.user("cy"));
    let session = app
        .create_session(&ann, json!({"kind": "group", "members": ["bob", "cy"]}))
        .await;
    let mut anns = app.connect(&ann, Some(&session)).await;
    anns.next_of("chat_history").await;
    let mut bobs = app.connect(&bob, Some(&session)).await;
    bobs.next_of("chat_history").await;
    let mut cys = app.connect(&cy, Some(&session)).await;
    cys.next_of("chat_history").await;
    anns.drain(Duration::from_millis(200)).await;
    bobs.drain(Duration::from_millis(200)).await;

    let left = app
        .post(&format!("/sessions/{session}/leave"), &bob, json!({}))
        .await;
    assert_eq!(left.body["left"], true, "{left:?}");
    let told = bobs.next_of("user_left").await;
    assert_eq!(
        (&told["user_id"], &told["online"]),
        (&json!("bob"), &json!(["ann", "cy"]))
    );
    assert_eq!(anns.next_of("user_left").await["user_id"], "bob");

    let removed = app
        .delete(&format!("/sessions/{session}/members/cy"), &ann)
        .await;
    assert_eq!(
        (removed.status, &removed.body["removed"]),
        (StatusCode::OK, &json!(true)),
        "{removed:?}"
    );
    assert_eq!(cys.next_of("user_left").await["user_id"], "bob");
    assert_eq!(cys.next_of("user_left").await["user_id"], "cy");

    app.post_message(&session, &ann, "after they went").await;
    anns.next_of("chat_message").await;
    bobs.expect_silence(Duration::from_millis(400)).await;
    cys.expect_silence(Duration::from_millis(100)).await;
    // Their sockets stay open, bound to nothing: the group refuses them again.
    bobs.send(json!({"action": "join", "session_id": session}))
        .await;
    assert_eq!(bobs.next_of("error").await["code"], "forbidden");
    for socket in [anns, bobs, cys] {
        socket.close().await;
    }
}

async fn groups_are_invite_only(app: &TestApp) {
    let (ann, bob, eve) = (app.user("ann"), app.user("bob"), app.user("eve"));
    let admin = app.caller("root", "admin", None);
    let agent = app.caller("agent-7", "agent", Some("acme"));
    let group = app.create_session(&ann, json!({"kind": "group"})).await;
    let path = |tail: &str| format!("/sessions/{group}{tail}");

    for (what, reply) in [
        ("join", app.post(&path("/join"), &eve, json!({})).await),
        ("read", app.get(&path(""), &eve).await),
        ("messages", app.get(&path("/messages"), &eve).await),
        (
            "post",
            app.post(&path("/messages"), &eve, json!({"content": "hi"}))
                .await,
        ),
        (
            "add herself",
            app.post(&path("/members"), &eve, json!({"user_id": "eve"}))
                .await,
        ),
    ] {
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{what}: {reply:?}");
    }
    assert_eq!(
        app.try_connect(Some(&eve), Some(&group), chat_e2e::TokenIn::Query)
            .await
            .map(|_| ()),
        Err(403)
    );

    // The owner adds bob (201, then 200 as he already is one); a member adds nobody.
    let added = app
        .post(&path("/members"), &ann, json!({"user_id": "bob"}))
        .await;
    assert_eq!(
        (added.status, &added.body["added"]),
        (StatusCode::CREATED, &json!(true)),
        "{added:?}"
    );
    let again = app
        .post(&path("/members"), &ann, json!({"user_id": "bob"}))
        .await;
    assert_eq!(
        (again.status, &again.body["added"]),
        (StatusCode::OK, &json!(false))
    );
    let by_member = app
        .post(&path("/members"), &bob, json!({"user_id": "eve"}))
        .await;
    assert_eq!(by_member.status, StatusCode::FORBIDDEN, "{by_member:?}");
    let mut bobs = app.connect(&bob, Some(&group)).await;
    bobs.next_of("chat_history").await;
    bobs.close().await;
    let by_admin = app
        .post(&path("/members"), &admin, json!({"user_id": "eve"}))
        .await;
    assert_eq!(by_admin.status, StatusCode::CREATED, "{by_admin:?}");
    let owner_removed = app.delete(&path("/members/ann"), &admin).await;
    assert_eq!(
        owner_removed.status,
        StatusCode::CONFLICT,
        "{owner_removed:?}"
    );
    let bad = app
        .post(&path("/members"), &ann, json!({"user_id": 7}))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{bad:?}");

    // Only a group has members to manage, or a join policy.
    let direct = app
        .create_session(&ann, json!({"kind": "direct", "members": ["bob"]}))
        .await;
    let into_direct = app
        .post(
            &format!("/sessions/{direct}/members"),
            &ann,
            json!({"user_id": "eve"}),
        )
        .await;
    assert_eq!(into_direct.status, StatusCode::CONFLICT, "{into_direct:?}");
    let opened_direct = app
        .patch(
            &format!("/sessions/{direct}"),
            &ann,
            json!({"join_policy": "open"}),
        )
        .await;
    assert_eq!(
        opened_direct.status,
        StatusCode::BAD_REQUEST,
        "{opened_direct:?}"
    );
    let open_bot = app
        .post(
            "/sessions",
            &ann,
            json!({"kind": "bot", "chatbot_id": "helper", "join_policy": "open"}),
        )
        .await;
    assert_eq!(open_bot.status, StatusCode::BAD_REQUEST, "{open_bot:?}");

    // Opened by its owner, the group lets any user in by id; agents and visitors still not.
    let opened = app
        .patch(&path(""), &ann, json!({"join_policy": "open"}))
        .await;
    assert_eq!(opened.body["session"]["join_policy"], "open", "{opened:?}");
    let cy = app.user("cy");
    let joined = app.post(&path("/join"), &cy, json!({})).await;
    assert_eq!(
        (joined.status, &joined.body["joined"]),
        (StatusCode::OK, &json!(true)),
        "{joined:?}"
    );
    let agent_joins = app.post(&path("/join"), &agent, json!({})).await;
    assert_eq!(agent_joins.status, StatusCode::FORBIDDEN, "{agent_joins:?}");
}

chat_e2e::on_both_stores! {
    verified_customers => a_verified_customer_finds_their_one_session_from_any_device, verified_customers_on_dynamodb_too;
}

// Item 3: the business's own backend proves a customer id with an HMAC of it under the
// business's secret; with the proof, starting support from any device resumes that
// customer's one active session. Without one, the id stays a note.
async fn verified_customers(app: &TestApp) {
    let admin = app.caller("root", "admin", None);
    let agent = app.caller("agent-7", "agent", Some("acme"));
    let secret_path = "/businesses/acme/customer-secret";
    for who in [&agent, &app.user("ann")] {
        let refused = app.post(secret_path, who, json!({})).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
    }
    let unsigned = app
        .request(reqwest::Method::POST, secret_path, None, None)
        .await;
    assert_eq!(unsigned.status, StatusCode::UNAUTHORIZED);
    let issue = || async {
        let issued = app.post(secret_path, &admin, json!({})).await;
        assert_eq!(issued.status, StatusCode::CREATED, "{issued:?}");
        serde_json::from_value::<chat_core::domain::CustomerSecret>(
            issued.body["customer_secret"].clone(),
        )
        .expect("a secret")
    };
    let secret = issue().await;
    assert_eq!(secret.as_str().len(), 64);
    let customer = chat_core::domain::ExternalCustomerId::parse("crm-4711").expect("an id");
    let proof = secret.prove(&customer);
    let start = |body: serde_json::Value| {
        app.request(reqwest::Method::POST, "/sessions/start", None, Some(body))
    };

    // From a first device, then a second with no token of the first: the same session.
    let first = start(
        json!({"business_id": "acme", "external_customer_id": "crm-4711", "customer_proof": proof}),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
    let session = first.body["session"]["id"].clone();
    let visitor = first.body["session"]["owner_id"].clone();
    assert!(
        visitor.as_str().is_some_and(|v| v.starts_with("customer-")),
        "{visitor}"
    );
    let second = start(
        json!({"business_id": "acme", "external_customer_id": "crm-4711", "customer_proof": proof}),
    )
    .await;
    assert_eq!(
        (
            second.status,
            &second.body["resumed"],
            &second.body["session"]["id"]
        ),
        (StatusCode::OK, &json!(true), &session),
        "{second:?}"
    );
    let on_second = chat_e2e::Caller {
        id: visitor.as_str().expect("an id").to_owned(),
        token: second.body["visitor_token"]
            .as_str()
            .expect("a token")
            .to_owned(),
    };
    let posted = app
        .post(
            &format!("/sessions/{}/messages", session.as_str().expect("an id")),
            &on_second,
            json!({"content": "from my phone"}),
        )
        .await;
    assert_eq!(posted.status, StatusCode::CREATED, "{posted:?}");
    // Seed 004's route takes the same proof.
    let seed = start_seed(
        app,
        json!({"business": "acme", "external_customer_id": "crm-4711", "customer_proof": proof}),
    )
    .await;
    assert_eq!(seed.body["data"]["session_id"], session, "{seed:?}");

    // A proof for another customer, a bad one, or one without its id is refused; an
    // unproven id is a note, and each such start is a new visitor.
    for (body, status) in [
        (
            json!({"business_id": "acme", "external_customer_id": "crm-4712", "customer_proof": proof}),
            StatusCode::FORBIDDEN,
        ),
        (
            json!({"business_id": "acme", "external_customer_id": "crm-4711", "customer_proof": "nothex"}),
            StatusCode::FORBIDDEN,
        ),
        (
            json!({"business_id": "globex", "external_customer_id": "crm-4711", "customer_proof": proof}),
            StatusCode::FORBIDDEN,
        ),
        (
            json!({"business_id": "acme", "customer_proof": proof}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let refused = start(body.clone()).await;
        assert_eq!(refused.status, status, "{body}: {refused:?}");
    }
    let noted = start(json!({"business_id": "acme", "external_customer_id": "crm-4711"})).await;
    assert_eq!(noted.status, StatusCode::CREATED, "{noted:?}");
    assert_ne!(noted.body["session"]["id"], session);

    // A new secret replaces the old at once.
    let rotated = issue().await;
    let stale = start(
        json!({"business_id": "acme", "external_customer_id": "crm-4711", "customer_proof": proof}),
    )
    .await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN, "{stale:?}");
    let fresh = start(json!({"business_id": "acme", "external_customer_id": "crm-4711", "customer_proof": rotated.prove(&customer)})).await;
    assert_eq!(fresh.body["session"]["id"], session, "{fresh:?}");
}

async fn start_seed(app: &TestApp, body: serde_json::Value) -> chat_e2e::Reply {
    app.request(
        reqwest::Method::POST,
        "/chat/start-session",
        None,
        Some(body),
    )
    .await
}

/// Found by the authorization matrix (tests/tests/authorization.rs): a socket answered 403
/// for a session the caller may not see where REST answers 404, and 410 once it ended, so
/// ids could be probed over the WebSocket. It now refuses as REST does, before looking at
/// whether the session ended; its own members still learn that it did.
#[tokio::test]
async fn a_socket_cannot_tell_a_hidden_session_from_none_even_once_it_ended() {
    let app = spawn_app().await;
    let (ann, eve) = (app.user("ann"), app.user("eve"));
    let direct = app
        .create_session(&ann, json!({"kind": "direct", "members": ["bob"]}))
        .await;
    let handshake = |caller| app.try_connect(Some(caller), Some(&direct), TokenIn::Query);
    assert_eq!(handshake(&eve).await.map(|_| ()), Err(404));
    let ended = app.delete(&format!("/sessions/{direct}"), &ann).await;
    assert_eq!(ended.status, StatusCode::OK, "{ended:?}");
    assert_eq!(handshake(&eve).await.map(|_| ()), Err(404));
    assert_eq!(handshake(&ann).await.map(|_| ()), Err(410));
    let mut socket = app.connect(&eve, None).await;
    socket
        .send(json!({"action": "join", "session_id": direct}))
        .await;
    assert_eq!(socket.next_of("error").await["code"], "not_found");
    app.stop().await;
}
