//! `infra/smoke.mjs`, the check docs/deploy.md runs against a deployed stack, run here
//! against the local server, which plays API Gateway: every check passes, and one fails
//! (with exit 1) when the stack does not answer as it should.

use chat_e2e::spawn_app;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/smoke.mjs");

#[tokio::test]
async fn the_deploy_smoke_test_passes_against_a_working_stack() {
    let app = spawn_app().await;
    let ann = app.user("ann");
    let stdout = app
        .run_node(
            SCRIPT,
            &[("CHAT_TOKEN", &ann.token), ("CHAT_CHATBOT", "helper")],
        )
        .await;
    for check in [
        "ok    GET /health answers 200",
        "ok    a browser's preflight is answered",
        "ok    POST /sessions makes a bot session",
        "ok    the WebSocket opens and welcomes",
        "ok    a message sent over REST reaches the socket",
        "ok    the bot streams a reply",
        "ok    DELETE /sessions/{id} ends",
        "smoke test passed",
    ] {
        assert!(stdout.contains(check), "{check}:\n{stdout}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_deploy_smoke_test_fails_with_a_token_the_stack_refuses() {
    let app = spawn_app().await;
    let output = app
        .node(
            SCRIPT,
            &[("CHAT_TOKEN", "not-a-token"), ("CHAT_WAIT_SECONDS", "5")],
        )
        .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("ok    GET /health answers 200"), "{stdout}");
    assert!(stdout.contains("FAIL  POST /sessions"), "{stdout}");
    assert!(stdout.contains("smoke test FAILED"), "{stdout}");
    app.stop().await;
}
