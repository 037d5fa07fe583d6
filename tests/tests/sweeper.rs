//! The sweeper through chat-local's `POST /_local/sweep`, as of a time a week or a day
//! ahead, on both stores: an idle bot session ends as `DELETE` ends it (its socket told
//! and closed, its active scope freed), an active one and a group stay, an upload announced
//! and never sent goes with its object, a dead connection goes, and two sweeps at once
//! do each thing once.

use std::time::Duration;

use chat_core::domain::Timestamp;
use chat_e2e::Parts;
use chat_e2e::{TestApp, each_store};
use reqwest::StatusCode;
use serde_json::{Value, json};

const DAY: Duration = Duration::from_secs(86_400);

fn count(report: &Value, what: &str) -> u64 {
    report[what]
        .as_u64()
        .unwrap_or_else(|| panic!("{what} in {report}"))
}

#[tokio::test]
async fn an_idle_bot_session_ends_with_its_effects_and_an_active_one_and_a_group_stay() {
    each_store(Parts::default, async |app: TestApp| {
        let (ann, bob) = (app.user("ann"), app.user("bob"));
        let (idle, mut socket) = app.bot_session(&ann).await;
        let group = app
            .create_session(&bob, json!({"kind": "group", "title": "lasting"}))
            .await;
        // Nothing is idle yet.
        let report = app.sweep(None).await;
        assert_eq!(count(&report, "sessions_ended"), 0, "{report}");
        let garbled = app
            .http
            .post(format!("{}/_local/sweep", app.base))
            .body("{\"as_of\": 7}")
            .send()
            .await
            .expect("an answer");
        assert_eq!(garbled.status(), StatusCode::BAD_REQUEST);

        // A week and a day on, bob's bot session has just had a message; ann's has not.
        let later = Timestamp::now().plus(DAY * 8);
        let active = app
            .create_session(&bob, json!({"kind": "bot", "chatbot_id": "helper"}))
            .await;
        let store = app.store();
        let session = store
            .get_session(chat_core::domain::SessionId::parse(&active).expect("an id"))
            .await
            .expect("read")
            .expect("a session");
        let message = chat_core::domain::Message::text(
            session.id,
            session.owner_id.clone(),
            None,
            chat_core::domain::Content::parse("still here").expect("content"),
            later.minus(Duration::from_secs(60)),
        );
        chat_testkit::conformance::append(&store, &message, true)
            .await
            .expect("stored");

        let report = app.sweep(Some(later)).await;
        assert_eq!(count(&report, "sessions_ended"), 1, "{report}");
        let ended = socket.next_of("session_ended").await;
        assert_eq!(ended["session_id"], idle.as_str());
        assert_eq!(ended["reason"], "idle");
        assert!(socket.closed().await.is_some());
        let read = app.get(&format!("/sessions/{idle}"), &ann).await;
        assert_eq!(read.body["session"]["status"], "ended", "{read:?}");
        for kept in [&active, &group] {
            let read = app.get(&format!("/sessions/{kept}"), &bob).await;
            assert_ne!(read.body["session"]["status"], "ended", "{read:?}");
        }
        // Done once: the same sweep again ends nothing.
        let again = app.sweep(Some(later)).await;
        assert_eq!(count(&again, "sessions_ended"), 0, "{again}");
        // The scope is free: ann's next session with the chatbot is a new one.
        let next = app
            .post(
                "/sessions",
                &ann,
                json!({"kind": "bot", "chatbot_id": "helper"}),
            )
            .await;
        assert_eq!(next.status, StatusCode::CREATED, "{next:?}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn an_upload_never_sent_goes_with_its_object_and_a_dead_connection_goes() {
    each_store(Parts::default, async |app: TestApp| {
        let ann = app.user("ann");
        let session = app
            .create_session(&ann, json!({"kind": "group", "title": "files"}))
            .await;
        let upload = app
            .announce_upload(&session, &ann, "notes.txt", "text/plain", 5)
            .await;
        assert_eq!(upload.status, StatusCode::CREATED, "{upload:?}");
        assert_eq!(app.put_upload(&upload.body, b"notes").await, StatusCode::OK);
        let id = upload.body["attachment_id"]
            .as_str()
            .expect("an id")
            .to_owned();
        let key = format!("sessions/{session}/{id}");
        assert!(app.files().get(&key).await.expect("read").is_some());
        let socket = app.connect(&ann, None).await;

        // A day is not enough for the upload; the connection is past its two hours.
        let report = app
            .sweep(Some(Timestamp::now().plus(Duration::from_secs(3 * 3600))))
            .await;
        assert_eq!(count(&report, "uploads_removed"), 0, "{report}");
        assert_eq!(count(&report, "connections_removed"), 1, "{report}");

        let report = app.sweep(Some(Timestamp::now().plus(DAY * 2))).await;
        assert_eq!(count(&report, "uploads_removed"), 1, "{report}");
        assert!(
            app.files().get(&key).await.expect("read").is_none(),
            "its object too"
        );
        let attachment = app
            .get(&format!("/sessions/{session}/attachments/{id}"), &ann)
            .await;
        assert_eq!(attachment.status, StatusCode::NOT_FOUND, "{attachment:?}");
        drop(socket);
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn two_sweeps_at_once_end_each_idle_session_once() {
    each_store(Parts::default, async |app: TestApp| {
        let mut sockets = Vec::new();
        for n in 0..6 {
            let who = app.user(&format!("user-{n}"));
            sockets.push(app.bot_session(&who).await);
        }
        let later = Timestamp::now().plus(DAY * 8);
        let (first, second) = tokio::join!(app.sweep(Some(later)), app.sweep(Some(later)));
        assert_eq!(
            count(&first, "sessions_ended") + count(&second, "sessions_ended"),
            6,
            "{first} {second}"
        );
        for (session, socket) in &mut sockets {
            let ended = socket.next_of("session_ended").await;
            assert_eq!(ended["session_id"], session.as_str());
            // Told once: the next thing is the close.
            assert!(socket.closed().await.is_some());
        }
        app.stop().await;
    })
    .await;
}

/// The session as `who` reads it, once `done` says it is settled.
async fn settled(
    app: &TestApp,
    who: &chat_e2e::Caller,
    session: &str,
    done: fn(&Value) -> bool,
) -> Value {
    for _ in 0..100 {
        let read = app.get(&format!("/sessions/{session}"), who).await.body;
        if done(&read) {
            return read;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{session} did not settle");
}

#[tokio::test]
async fn a_session_made_to_end_on_disconnect_ends_with_its_last_connection_and_no_other_does() {
    each_store(Parts::default, async |app: TestApp| {
        let ann = app.user("ann");
        let reply = app
            .post(
                "/sessions",
                &ann,
                json!({"kind": "bot", "chatbot_id": "helper", "end_on_disconnect": true}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
        assert_eq!(reply.body["session"]["end_on_disconnect"], true);
        let ending = reply.body["session"]["id"]
            .as_str()
            .expect("an id")
            .to_owned();
        let lasting = app
            .create_session(&ann, json!({"kind": "group", "title": "stays"}))
            .await;
        let mut phone = app.connect(&ann, Some(&ending)).await;
        phone.next_of("chat_history").await;
        let mut laptop = app.connect(&ann, Some(&ending)).await;
        laptop.next_of("chat_history").await;
        let mut other = app.connect(&ann, Some(&lasting)).await;
        other.next_of("chat_history").await;

        // One of two connections closes: the session goes on.
        phone.close().await;
        other.close().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let read = app.get(&format!("/sessions/{ending}"), &ann).await.body;
        assert_eq!(read["session"]["status"], "active", "{read}");
        // The last one closes: it ends, and no other session does.
        laptop.close().await;
        settled(&app, &ann, &ending, |read| {
            read["session"]["status"] == "ended"
        })
        .await;
        let read = app.get(&format!("/sessions/{lasting}"), &ann).await.body;
        assert_eq!(read["session"]["status"], "active", "{read}");
        assert!(read["session"].get("end_on_disconnect").is_none(), "{read}");
        app.stop().await;
    })
    .await;
}
