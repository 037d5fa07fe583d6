//! Files shared in a bot session (text, PDF) are indexed when the bot takes up their
//! message, and each reply's prompt carries the excerpts that bear on its question: a fact
//! only one file holds reaches the model, the reply names that file in `sources`, and
//! another session's bot never sees it. On both stores, with the OpenAI-compatible
//! stand-in.

use chat_e2e::{Caller, FilePart, TestApp, asking, each_store};
use chat_testkit::models::RecordingModel;
use reqwest::StatusCode;
use serde_json::{Value, json};

const FACT: &str = "The guest wifi password is zebra-orchid-42.";

/// A handbook of many paragraphs, the fact in one of them.
fn handbook() -> String {
    let mut text = String::new();
    for topic in [
        "parking", "lunch", "holidays", "printers", "badges", "plants",
    ] {
        for line in 0..6 {
            text.push_str(&format!(
                "Section on {topic}, line {line}: staff follow the {topic} rules posted by the door. "
            ));
        }
        text.push_str("\n\n");
        if topic == "printers" {
            text.push_str(FACT);
            text.push_str("\n\n");
        }
    }
    text
}

/// A one-page PDF (Helvetica text) saying the locker code.
const LOCKERS_PDF: &[u8] = include_bytes!("../fixtures/lockers.pdf");

/// Shares the file in the session: uploaded, then sent as a file message.
async fn share(app: &TestApp, session: &str, who: &Caller, name: &str, kind: &str, bytes: &[u8]) {
    let file = FilePart { name, kind, bytes };
    let uploaded = app
        .form(
            &format!("/sessions/{session}/attachments"),
            Some(who),
            &[],
            file,
        )
        .await;
    assert_eq!(uploaded.status, StatusCode::CREATED, "{uploaded:?}");
    let id = uploaded.body["attachment_id"].as_str().expect("an id");
    let sent = app
        .post(
            &format!("/sessions/{session}/messages"),
            who,
            json!({"kind": "file", "attachment_id": id}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{sent:?}");
}

/// `who` asks in their bot session over the socket: the reply's `response_complete`, and
/// the system text the model got for it.
async fn ask(
    app: &TestApp,
    model: &RecordingModel,
    session: &str,
    who: &Caller,
    question: &str,
) -> (Value, String) {
    let mut socket = app.connect(who, Some(session)).await;
    socket.next_of("chat_history").await;
    socket
        .send(json!({"action": "send", "content": question}))
        .await;
    let complete = socket.next_of("response_complete").await;
    socket.close().await;
    let asked = model.requests().pop().expect("the model was asked");
    let system = asked["messages"][0]["content"]
        .as_str()
        .expect("a system text")
        .to_owned();
    (complete, system)
}

/// `who` asks for the fact in `session`, whose bot has no file holding it: no excerpt
/// of it reaches the model, and the reply names no source.
async fn asks_without_the_fact(app: &TestApp, model: &RecordingModel, session: &str, who: &Caller) {
    let (complete, system) =
        ask(app, model, session, who, "What is the guest wifi password?").await;
    assert!(!system.contains("zebra"), "{system}");
    assert!(complete["message"].get("sources").is_none(), "{complete}");
}

#[tokio::test]
async fn a_fact_only_a_shared_file_holds_reaches_the_prompt_and_the_reply_names_the_file() {
    let model = RecordingModel::start("It is in the handbook.").await;
    each_store(
        || asking(&model.base_url),
        async |app: TestApp| {
            let (ann, bob) = (app.user("ann"), app.user("bob"));
            let session = app
                .create_session(&ann, json!({"kind": "bot", "chatbot_id": "helper"}))
                .await;
            // The bot's answer to each file message comes first: then the file is indexed.
            let mut watching = app.connect(&ann, Some(&session)).await;
            watching.next_of("chat_history").await;
            let menu = "Soup on Monday, fish on Friday.";
            for (name, kind, bytes) in [
                ("handbook.txt", "text/plain", handbook().into_bytes()),
                ("menu.txt", "text/plain", menu.as_bytes().to_vec()),
                ("lockers.pdf", "application/pdf", LOCKERS_PDF.to_vec()),
            ] {
                share(&app, &session, &ann, name, kind, &bytes).await;
                watching.next_of("response_complete").await;
            }
            watching.close().await;

            let (complete, system) = ask(&app, &model, &session, &ann, "Which locker code?").await;
            assert!(system.contains("heron-7158"), "a PDF's text too: {system}");
            assert_eq!(
                complete["message"]["sources"][0]["file_name"],
                "lockers.pdf"
            );

            let (complete, system) = ask(
                &app,
                &model,
                &session,
                &ann,
                "What is the guest wifi password?",
            )
            .await;
            assert!(system.contains(FACT), "{system}");
            assert!(system.contains("[handbook.txt, part"), "{system}");
            assert!(
                !system.contains("fish on Friday"),
                "only what bears on it: {system}"
            );
            let sources = &complete["message"]["sources"];
            assert_eq!(sources.as_array().map(Vec::len), Some(1), "{complete}");
            assert_eq!(sources[0]["file_name"], "handbook.txt");

            // The stored reply keeps its sources.
            let id = complete["message"]["id"].as_str().expect("an id");
            let stored = app
                .get(&format!("/sessions/{session}/messages/{id}"), &ann)
                .await;
            assert_eq!(stored.body["message"]["sources"], *sources);

            // A question the files do not bear on carries no excerpt.
            let (complete, system) = ask(&app, &model, &session, &ann, "Tell me a joke").await;
            assert!(!system.contains("Excerpts"), "{system}");
            assert!(complete["message"].get("sources").is_none(), "{complete}");

            // Another session's bot does not see ann's files.
            let theirs = app
                .create_session(&bob, json!({"kind": "bot", "chatbot_id": "helper"}))
                .await;
            asks_without_the_fact(&app, &model, &theirs, &bob).await;
            app.stop().await;
        },
    )
    .await;
}

/// Admin `who` adds a document to `chatbot`: the answer to the multipart POST.
async fn add_document(
    app: &TestApp,
    who: &Caller,
    chatbot: &str,
    name: &str,
    kind: &str,
    bytes: &[u8],
) -> chat_e2e::Reply {
    let file = FilePart { name, kind, bytes };
    app.form(
        &format!("/chatbots/{chatbot}/documents"),
        Some(who),
        &[],
        file,
    )
    .await
}

#[tokio::test]
async fn an_admins_document_for_a_chatbot_serves_all_its_sessions_and_no_other_chatbots() {
    let model = RecordingModel::start("From the chatbot's documents.").await;
    each_store(
        || asking(&model.base_url),
        async |app: TestApp| {
            let admin = app.caller("root", "admin", None);
            let (ann, bob) = (app.user("ann"), app.user("bob"));
            let other = json!({"id": "other", "name": "Other", "system_prompt": "You help."});
            assert_eq!(
                app.post("/chatbots", &admin, other).await.status,
                StatusCode::CREATED
            );

            let refused =
                add_document(&app, &ann, "helper", "handbook.txt", "text/plain", b"x").await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
            let unknown =
                add_document(&app, &admin, "nobody", "handbook.txt", "text/plain", b"x").await;
            assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{unknown:?}");
            let image =
                add_document(&app, &admin, "helper", "a.png", "image/png", b"\x89PNG").await;
            assert_eq!(image.status, StatusCode::BAD_REQUEST, "{image:?}");

            let added = add_document(
                &app,
                &admin,
                "helper",
                "handbook.txt",
                "text/plain",
                handbook().as_bytes(),
            )
            .await;
            assert_eq!(added.status, StatusCode::ACCEPTED, "{added:?}");
            assert_eq!(added.body["state"], "indexing");
            // Indexed in the background: listed once it is.
            let mut listed = Value::Null;
            for _ in 0..100 {
                listed = app.get("/chatbots/helper/documents", &admin).await.body;
                if listed["items"]
                    .as_array()
                    .is_some_and(|items| !items.is_empty())
                {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            assert_eq!(listed["items"][0]["file_name"], "handbook.txt", "{listed}");
            assert!(
                listed["items"][0]["chunks"].as_u64().is_some_and(|n| n > 1),
                "{listed}"
            );
            assert_eq!(
                app.get("/chatbots/helper/documents", &ann).await.status,
                StatusCode::FORBIDDEN
            );

            // Any of the chatbot's sessions draws on it.
            for who in [&ann, &bob] {
                let session = app
                    .create_session(who, json!({"kind": "bot", "chatbot_id": "helper"}))
                    .await;
                let (complete, system) = ask(
                    &app,
                    &model,
                    &session,
                    who,
                    "What is the guest wifi password?",
                )
                .await;
                assert!(system.contains(FACT), "{system}");
                assert_eq!(
                    complete["message"]["sources"][0]["file_name"],
                    "handbook.txt"
                );
            }
            // Removed, it serves no more.
            let id = added.body["document_id"].as_str().expect("an id");
            let path = format!("/chatbots/helper/documents/{id}");
            assert_eq!(app.delete(&path, &ann).await.status, StatusCode::FORBIDDEN);
            let removed = app.delete(&path, &admin).await;
            assert_eq!(removed.status, StatusCode::OK, "{removed:?}");
            assert_eq!(
                app.delete(&path, &admin).await.status,
                StatusCode::NOT_FOUND
            );
            let session = app
                .create_session(&bob, json!({"kind": "group", "chatbot_id": "helper"}))
                .await;
            asks_without_the_fact(&app, &model, &session, &bob).await;

            // Another chatbot's do not.
            let session = app
                .create_session(&ann, json!({"kind": "bot", "chatbot_id": "other"}))
                .await;
            asks_without_the_fact(&app, &model, &session, &ann).await;
            app.stop().await;
        },
    )
    .await;
}

/// `who`'s library once the bot has indexed everything in it.
async fn settled_library(app: &TestApp, who: &Caller) -> Value {
    for _ in 0..100 {
        let listed = app.get("/documents", who).await;
        assert_eq!(listed.status, StatusCode::OK, "{listed:?}");
        let items = listed.body["items"].as_array().cloned().unwrap_or_default();
        if items.iter().all(|item| item["state"] != "indexing") {
            return listed.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the library is still indexing");
}

#[tokio::test]
async fn a_library_document_answers_the_sessions_its_owner_binds_to_it_and_no_one_elses() {
    let model = RecordingModel::start("From your document.").await;
    each_store(
        || asking(&model.base_url),
        async |app: TestApp| {
            let (ann, bob) = (app.user("ann"), app.user("bob"));
            let add = |who: &Caller, name: &'static str, kind: &'static str, bytes: Vec<u8>| {
                let who = who.clone();
                let app = &app;
                async move {
                    let file = FilePart {
                        name,
                        kind,
                        bytes: &bytes,
                    };
                    app.form("/documents", Some(&who), &[], file).await
                }
            };
            let added = add(&ann, "handbook.txt", "text/plain", handbook().into_bytes()).await;
            assert_eq!(added.status, StatusCode::ACCEPTED, "{added:?}");
            assert_eq!(added.body["state"], "indexing", "{added:?}");
            assert_eq!(added.body["owner_id"], "ann");
            let id = added.body["document_id"]
                .as_str()
                .expect("an id")
                .to_owned();
            let broken = add(
                &ann,
                "scan.pdf",
                "application/pdf",
                b"%PDF-1.4 nothing".to_vec(),
            )
            .await;
            assert_eq!(broken.status, StatusCode::ACCEPTED, "{broken:?}");
            let image = add(&ann, "a.png", "image/png", b"\x89PNG".to_vec()).await;
            assert_eq!(image.status, StatusCode::BAD_REQUEST, "{image:?}");
            assert_eq!(
                app.form(
                    "/documents",
                    Some(&app.caller("guest", "visitor", Some("acme"))),
                    &[],
                    FilePart {
                        name: "a.txt",
                        kind: "text/plain",
                        bytes: b"x"
                    }
                )
                .await
                .status,
                StatusCode::FORBIDDEN
            );

            let library = settled_library(&app, &ann).await;
            let items = library["items"].as_array().expect("items");
            assert_eq!(items.len(), 2, "{library}");
            assert_eq!(items[0]["document_id"], id.as_str());
            assert_eq!(items[0]["state"], "indexed", "{library}");
            assert!(
                items[0]["chunks"].as_u64().is_some_and(|n| n > 1),
                "{library}"
            );
            assert_eq!(items[1]["state"], "unreadable", "{library}");
            assert_eq!(
                settled_library(&app, &bob).await["items"],
                json!([]),
                "a library is its owner's"
            );

            // A session about the document draws on it; a session without it does not.
            let about = app
                .create_session(
                    &ann,
                    json!({"kind": "bot", "chatbot_id": "helper", "document_id": id}),
                )
                .await;
            let (complete, system) = ask(
                &app,
                &model,
                &about,
                &ann,
                "What is the guest wifi password?",
            )
            .await;
            assert!(system.contains(FACT), "{system}");
            assert_eq!(
                complete["message"]["sources"][0]["file_name"],
                "handbook.txt"
            );
            // Beside it, ann's usual chat with the chatbot, which is about no document.
            let plain = app
                .create_session(&ann, json!({"kind": "bot", "chatbot_id": "helper"}))
                .await;
            assert_ne!(plain, about);
            asks_without_the_fact(&app, &model, &plain, &ann).await;

            // Someone else's document cannot be bound; a client's own reference still can.
            let theirs = app
                .post(
                    "/sessions",
                    &bob,
                    json!({"kind": "bot", "chatbot_id": "helper", "document_id": id}),
                )
                .await;
            assert_eq!(theirs.status, StatusCode::NOT_FOUND, "{theirs:?}");
            let reference = app
                .post(
                    "/sessions",
                    &bob,
                    json!({"kind": "group", "document_id": "507f1f77bcf86cd799439011"}),
                )
                .await;
            assert_eq!(reference.status, StatusCode::CREATED, "{reference:?}");

            // Removed, it serves no more, and only its owner removes it.
            let path = format!("/documents/{id}");
            assert_eq!(app.delete(&path, &bob).await.status, StatusCode::NOT_FOUND);
            let removed = app.delete(&path, &ann).await;
            assert_eq!(removed.status, StatusCode::OK, "{removed:?}");
            assert_eq!(app.delete(&path, &ann).await.status, StatusCode::NOT_FOUND);
            assert_eq!(
                app.delete("/documents/not-an-id", &ann).await.status,
                StatusCode::BAD_REQUEST
            );
            let library = settled_library(&app, &ann).await;
            assert_eq!(
                library["items"].as_array().map(Vec::len),
                Some(1),
                "{library}"
            );
            asks_without_the_fact(&app, &model, &about, &ann).await;
            app.stop().await;
        },
    )
    .await;
}

/// Eight paragraphs about guests, and one that says the fact in other words: a question
/// in the fact's usual words shares only `guests` with it, so keywords alone rank every
/// other paragraph above it.
fn visitor_policy() -> String {
    let filler =
        "Facilities staff review this note every quarter and update it whenever anything changes. ";
    let mut text = String::new();
    for floor in 1..=8 {
        for _ in 0..6 {
            text.push_str(&format!(
                "Guests of floor {floor} sign in at reception; guests wear badges and guests wait in the lobby. "
            ));
        }
        text.push_str("\n\n");
    }
    text.push_str("The wireless network for guests takes the passphrase zebra-orchid-42. ");
    text.push_str(&filler.repeat(7));
    text
}

/// Ann's bot session, with the visitor policy shared in it and indexed (the bot has
/// answered the file message).
async fn sharing_the_visitor_policy(app: &TestApp) -> (Caller, String) {
    let ann = app.user("ann");
    let session = app
        .create_session(&ann, json!({"kind": "bot", "chatbot_id": "helper"}))
        .await;
    let mut watching = app.connect(&ann, Some(&session)).await;
    watching.next_of("chat_history").await;
    let policy = visitor_policy().into_bytes();
    share(app, &session, &ann, "visitors.txt", "text/plain", &policy).await;
    watching.next_of("response_complete").await;
    watching.close().await;
    (ann, session)
}

#[tokio::test]
async fn with_an_embeddings_model_a_fact_said_in_other_words_outranks_better_keyword_matches() {
    let model = RecordingModel::start("The wireless passphrase.").await;
    let question = "What is the guests wifi password?";
    // Keywords alone: the eight paragraphs about guests fill the prompt.
    each_store(
        || asking(&model.base_url),
        async |app: TestApp| {
            let (ann, session) = sharing_the_visitor_policy(&app).await;
            let (_, system) = ask(&app, &model, &session, &ann, question).await;
            assert!(system.contains("Guests of floor"), "{system}");
            assert!(!system.contains("zebra-orchid-42"), "{system}");
            app.stop().await;
        },
    )
    .await;
    assert!(model.embedding_requests().is_empty());

    let with_embeddings = || {
        let mut parts = asking(&model.base_url);
        parts.settings.extend([
            ("EMBEDDINGS_PROVIDER", "openai".to_owned()),
            ("EMBEDDINGS_MODEL", "concepts".to_owned()),
        ]);
        parts
    };
    each_store(with_embeddings, async |app: TestApp| {
        let (ann, session) = sharing_the_visitor_policy(&app).await;
        let (complete, system) = ask(&app, &model, &session, &ann, question).await;
        assert!(system.contains("zebra-orchid-42"), "{system}");
        let first = system.find("zebra-orchid-42").expect("the fact");
        let decoy = system.find("Guests of floor").unwrap_or(usize::MAX);
        assert!(first < decoy, "the fact comes first: {system}");
        assert_eq!(
            complete["message"]["sources"][0]["file_name"],
            "visitors.txt"
        );
        app.stop().await;
    })
    .await;
    let requests = model.embedding_requests();
    let inputs: Vec<usize> = requests
        .iter()
        .map(|r| r["input"].as_array().map_or(0, Vec::len))
        .collect();
    assert!(
        requests.iter().all(|r| r["model"] == "concepts"),
        "{requests:?}"
    );
    // Per store: the file's nine chunks at once, then each question (the file message's
    // own and the one asked).
    assert!(inputs.contains(&9), "{inputs:?}");
    assert!(
        requests.iter().any(|r| r["input"][0] == question),
        "{requests:?}"
    );
}
