//! Regression tests for the holes an outside probe found (issue 14), each at its cause.

use std::time::Duration;

use chat_e2e::spawn_app;
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
    let joined = app
        .post(&format!("/sessions/{session}/join"), &agent, json!({}))
        .await;
    assert_eq!(joined.status, StatusCode::OK, "{joined:?}");
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
