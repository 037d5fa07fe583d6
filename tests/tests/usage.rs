//! Usage: each bot reply's tokens are added to its asker's day in the reply's own write;
//! a user reads their day, admins every user's; past the daily token budget, messages to
//! a bot are refused until the next day. On both stores.

use chat_e2e::{Parts, TestApp, each_store};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Ann's reply to `content` over the socket in `session`: its `response_complete`.
async fn answered(app: &TestApp, session: &str, content: &str) -> Value {
    let ann = app.user("ann");
    let mut socket = app.connect(&ann, Some(session)).await;
    socket.next_of("chat_history").await;
    socket
        .send(json!({"action": "send", "content": content}))
        .await;
    let complete = socket.next_of("response_complete").await;
    socket.close().await;
    complete
}

fn tokens(complete: &Value) -> u64 {
    complete["token_count"].as_u64().expect("a token count")
}

#[tokio::test]
async fn each_reply_adds_its_tokens_to_the_askers_day_which_they_and_admins_read() {
    each_store(Parts::default, async |app: TestApp| {
        let (ann, bob) = (app.user("ann"), app.user("bob"));
        let admin = app.caller("root", "admin", None);
        let session = app
            .create_session(&ann, json!({"kind": "bot", "chatbot_id": "helper"}))
            .await;
        let first = tokens(&answered(&app, &session, "What is two and two?").await);
        let second = tokens(&answered(&app, &session, "And three and three, please?").await);
        assert!(first > 0 && second > 0);

        let mine = app.get("/usage/ann", &ann).await;
        assert_eq!(mine.status, StatusCode::OK, "{mine:?}");
        assert_eq!(mine.body["tokens"], first + second, "{mine:?}");
        assert_eq!(mine.body["replies"], 2);
        assert_eq!(mine.body["user_id"], "ann");
        let limit = mine.body["token_limit"].as_u64().expect("a limit");
        assert_eq!(mine.body["tokens_left"], limit - first - second);
        let today = mine.body["day"].as_str().expect("a day").to_owned();

        // Another day is all zero; a day that is no date is 400.
        let before = app.get("/usage/ann?day=2001-02-03", &ann).await;
        assert_eq!(
            (
                before.body["tokens"].as_u64(),
                before.body["replies"].as_u64()
            ),
            (Some(0), Some(0))
        );
        let bad = app.get("/usage/ann?day=yesterday", &ann).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{bad:?}");

        // Only admins see others' usage and the day's list.
        assert_eq!(
            app.get("/usage/ann", &bob).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(app.get("/usage", &ann).await.status, StatusCode::FORBIDDEN);
        let theirs = app.get("/usage/ann", &admin).await;
        assert_eq!(theirs.body["tokens"], first + second);
        let listed = app
            .get(&format!("/usage?day={today}&limit=100"), &admin)
            .await;
        assert_eq!(listed.status, StatusCode::OK, "{listed:?}");
        assert_eq!(listed.body["day"], today.as_str());
        let anns: Vec<&Value> = listed.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|u| u["user_id"] == "ann")
            .collect();
        assert_eq!(anns.len(), 1, "{listed:?}");
        assert_eq!(anns[0]["tokens"], first + second);
        assert_eq!(anns[0]["replies"], 2);
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn past_the_daily_token_budget_messages_to_a_bot_are_refused_until_the_next_day() {
    let tight = || Parts {
        settings: vec![("RATE_BOT_TOKENS_PER_USER_PER_DAY", "1".to_owned())],
        ..Parts::default()
    };
    each_store(tight, async |app: TestApp| {
        let ann = app.user("ann");
        let session = app
            .create_session(&ann, json!({"kind": "bot", "chatbot_id": "helper"}))
            .await;
        let used = tokens(&answered(&app, &session, "One question first").await);
        assert!(used >= 1);

        // Over REST: 429 with when to retry (at the next UTC midnight), nothing stored.
        let path = format!("/sessions/{session}/messages");
        let refused = app.post(&path, &ann, json!({"content": "another"})).await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{refused:?}");
        assert!(
            refused.error_message().contains("bot tokens"),
            "{refused:?}"
        );
        let retry_after: u64 = refused.headers["retry-after"]
            .to_str()
            .expect("text")
            .parse()
            .expect("seconds");
        assert!((1..=24 * 3600).contains(&retry_after), "{retry_after}");

        // Over the socket: an error frame, and the socket stays open.
        let mut socket = app.connect(&ann, Some(&session)).await;
        socket.next_of("chat_history").await;
        socket
            .send(json!({"action": "send", "content": "and another"}))
            .await;
        let frame = socket.next_of("error").await;
        assert_eq!(frame["code"], "rate_limited", "{frame}");
        socket.send(json!({"action": "ping"})).await;
        socket.next_of("pong").await;

        let history = app.get(&format!("{path}?limit=100"), &ann).await;
        let asked = history.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|m| m["is_bot"] == false)
            .count();
        assert_eq!(asked, 1, "{history:?}");

        // A group chat is not a bot's: it is not limited by the bot's budget.
        let group = app
            .create_session(&ann, json!({"kind": "group", "title": "No bot here"}))
            .await;
        let posted = app
            .post(
                &format!("/sessions/{group}/messages"),
                &ann,
                json!({"content": "hi"}),
            )
            .await;
        assert_eq!(posted.status, StatusCode::CREATED, "{posted:?}");
        app.stop().await;
    })
    .await;
}
