//! The web client in a real headless Chromium, against the local server on its embedded
//! store with the echo bot: `tests/web/chat.mjs` (playwright-core driving the system's
//! Chromium) chats as two users, streams and stops a bot reply, shares and opens a file,
//! drops and restores a connection, and signs in through a stand-in identity provider's
//! hosted page (OAuth code flow with PKCE). `infra/test.sh` installs Chromium and
//! playwright-core; without them this test fails, naming what is missing.

use chat_e2e::spawn_app;

#[tokio::test]
async fn two_people_chat_live_in_chromium_with_a_stopped_bot_reply_a_file_and_a_reconnect() {
    let chromium = std::env::var("CHAT_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "no Chromium at {chromium}: infra/test.sh installs it (apt-get install chromium)"
    );
    let web = concat!(env!("CARGO_MANIFEST_DIR"), "/web");
    assert!(
        std::path::Path::new(&format!("{web}/node_modules/playwright-core")).exists(),
        "playwright-core is not installed in {web}: infra/test.sh runs `npm ci` there"
    );
    let screenshots = std::env::temp_dir().join(format!("chat-web-{}", std::process::id()));
    std::fs::create_dir_all(&screenshots).expect("a screenshot folder");
    // The stand-in identity provider the script serves, on a port chosen here so the
    // server's config.json can name it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let identity = format!("http://127.0.0.1:{port}");
    let app = chat_e2e::spawn_app_with(chat_e2e::Parts {
        oidc: Some((
            format!("{identity}/authorize"),
            format!("{identity}/token"),
            "web".to_owned(),
        )),
        ..chat_e2e::Parts::default()
    })
    .await;
    let page = format!("{}/", app.base);
    let printed = app
        .run_node(
            &format!("{web}/chat.mjs"),
            &[
                ("CHAT_WEB", page.as_str()),
                ("CHAT_CHROMIUM", chromium.as_str()),
                ("CHAT_SCREENSHOTS", &screenshots.to_string_lossy()),
                ("CHAT_OIDC_PORT", &port.to_string()),
                ("CHAT_JWT_SECRET", chat_e2e::JWT_SECRET),
            ],
        )
        .await;
    assert!(printed.contains("the web client works"), "{printed}");
    // Straight to stderr, so the folder shows whatever the harness captures.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("web client screenshots: {}\n", screenshots.display()).as_bytes(),
    );
    app.stop().await;
}

#[tokio::test]
async fn the_page_its_config_and_development_tokens_are_served_and_bad_claims_are_refused() {
    let app = spawn_app().await;
    let page = app
        .http
        .get(format!("{}/", app.base))
        .send()
        .await
        .expect("the page");
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/html")
    );
    assert!(page.text().await.expect("html").contains("app.js"));
    let config: serde_json::Value = app
        .http
        .get(format!("{}/config.json", app.base))
        .send()
        .await
        .expect("the config")
        .json()
        .await
        .expect("json");
    assert_eq!(config["api"], app.base.as_str());
    assert_eq!(config["ws"], app.ws_url().as_str());

    let token = |body: &'static str| {
        app.http
            .post(format!("{}/_local/token", app.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for refused in [
        r#"{"sub": "ann", "role": "emperor"}"#,
        r#"{"sub": "has space"}"#,
        "not json",
    ] {
        let answer = token(refused).await.expect("an answer");
        assert_eq!(answer.status(), 400, "{refused}");
    }
    let issued: serde_json::Value = token(r#"{"sub": "ann", "name": "Ann"}"#)
        .await
        .expect("a token")
        .json()
        .await
        .expect("json");
    let ann = chat_e2e::Caller {
        id: "ann".into(),
        token: issued["token"].as_str().expect("a token").to_owned(),
    };
    assert_eq!(app.get("/sessions", &ann).await.status, 200);
    app.stop().await;
}
