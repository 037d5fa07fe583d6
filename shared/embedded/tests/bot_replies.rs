//! The bot's side of a reply, run against the embedded store with models that fail, stall
//! or stream: what the session's connections receive and what is stored.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chat_core::domain::{
    ChatbotId, Connection, ConnectionId, Content, IncompleteReason, Message, MessageId, Principal,
    Role, Session, SessionId, SessionKind, Timestamp, UserId,
};
use chat_core::moderation::{ModerationSettings, Moderator, ProfanityPolicy};
use chat_core::ports::{
    ChatModel, Clock, ModelError, Prompt, ReplyEvent, ReplyStream, Store, SystemClock,
};
use chat_core::service::{BotSettings, ChatService, NewMessage};
use chat_embedded::EmbeddedStore;
use chat_testkit::Recorder;
use futures::StreamExt;
use serde_json::Value;

/// A model that says `texts`, then ends with `ending` (or never ends when `None`).
struct Scripted {
    texts: Vec<&'static str>,
    ending: Option<Result<(), ModelError>>,
}

#[async_trait]
impl ChatModel for Scripted {
    fn name(&self) -> String {
        "scripted".into()
    }

    async fn reply(&self, _: &Prompt) -> Result<ReplyStream, ModelError> {
        let texts = futures::stream::iter(
            self.texts
                .iter()
                .map(|t| Ok(ReplyEvent::Text((*t).to_owned())))
                .collect::<Vec<_>>(),
        );
        Ok(match self.ending.clone() {
            Some(Ok(())) => texts.boxed(),
            Some(Err(error)) => texts.chain(futures::stream::iter([Err(error)])).boxed(),
            None => texts.chain(futures::stream::pending()).boxed(),
        })
    }
}

/// A model that streams `0`'s events, then ends.
struct Streams(Vec<ReplyEvent>);

#[async_trait]
impl ChatModel for Streams {
    fn name(&self) -> String {
        "streams".into()
    }

    async fn reply(&self, _: &Prompt) -> Result<ReplyStream, ModelError> {
        Ok(futures::stream::iter(self.0.clone().into_iter().map(Ok)).boxed())
    }
}

/// Runs a reply of a model that streams `events`: the frames, and what is stored.
async fn reply_of(events: Vec<ReplyEvent>) -> (Vec<Value>, Vec<Message>) {
    let (service, recorder, store, session, asked) = session_with_question().await;
    let bot = BotSettings::new(Arc::new(Streams(events)));
    service
        .run_bot_reply(&bot, session.id, asked)
        .await
        .expect("handled");
    (recorder.frames(), stored(&store, session.id).await)
}

/// A bot session with one connected member who has said something.
async fn session_with_question() -> (
    ChatService,
    Arc<Recorder>,
    Arc<dyn Store>,
    Session,
    MessageId,
) {
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::new());
    let recorder = Arc::new(Recorder::default());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let service = ChatService::new(store.clone(), recorder.clone(), clock);
    let ann = Principal {
        user_id: UserId::parse("ann").expect("id"),
        role: Role::User,
        name: None,
        org: None,
    };
    let opened = service
        .create_session(
            &ann,
            chat_core::service::NewSession {
                kind: Some(SessionKind::Bot),
                chatbot_id: Some(ChatbotId::parse("assistant").expect("id")),
                ..Default::default()
            },
        )
        .await
        .expect("a session");
    let session = opened.details.session;
    let connection = Connection::new(
        ConnectionId::parse("c-1").expect("id"),
        ann.clone(),
        Some(session.id),
        Timestamp::now(),
    );
    store.put_connection(&connection).await.expect("connected");
    let asked = service
        .post_message(
            &ann,
            session.id,
            NewMessage::text(Content::parse("hi").expect("content")),
        )
        .await
        .expect("posted");
    (service, recorder, store, session, asked.message().id)
}

fn types(frames: &[Value]) -> Vec<&str> {
    frames.iter().filter_map(|f| f["type"].as_str()).collect()
}

fn chunks(frames: &[Value]) -> String {
    frames
        .iter()
        .filter(|f| f["type"] == "response_chunk")
        .filter_map(|f| f["chunk"].as_str())
        .collect()
}

async fn stored(store: &Arc<dyn Store>, session: SessionId) -> Vec<Message> {
    store
        .list_messages(session, &Default::default())
        .await
        .expect("listed")
        .items
}

#[tokio::test]
async fn a_model_that_breaks_off_leaves_an_error_and_the_partial_reply_stored_as_incomplete() {
    let (service, recorder, store, session, asked) = session_with_question().await;
    let model = Scripted {
        texts: vec!["Half ", "an answer"],
        ending: Some(Err(ModelError::Unavailable("connection reset".into()))),
    };
    let bot = BotSettings::new(Arc::new(model));
    service
        .run_bot_reply(&bot, session.id, asked)
        .await
        .expect("handled");
    let frames = recorder.frames();
    let reply: Vec<&Value> = frames
        .iter()
        .skip_while(|f| f["type"] != "response_start")
        .collect();
    let kinds: Vec<&str> = reply.iter().filter_map(|f| f["type"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"response_start"));
    assert_eq!(
        kinds[kinds.len() - 2..],
        ["error", "response_complete"],
        "{frames:?}"
    );
    let complete = reply.last().expect("complete");
    assert_eq!(complete["message"]["content"], "Half an answer");
    assert_eq!(complete["message"]["incomplete"], true);
    assert_eq!(chunks(&frames), "Half an answer");
    let kept = stored(&store, session.id).await;
    assert!(kept[0].incomplete && kept[0].is_bot && kept[0].content == "Half an answer");
    assert!(
        !recorder
            .frames()
            .iter()
            .any(|f| f.to_string().contains("connection reset")),
        "no internals"
    );
}

#[tokio::test]
async fn a_model_that_refuses_at_once_leaves_only_an_error() {
    let (service, recorder, store, session, asked) = session_with_question().await;
    let model = Scripted {
        texts: vec![],
        ending: Some(Err(ModelError::Refused("bad key".into()))),
    };
    service
        .run_bot_reply(&BotSettings::new(Arc::new(model)), session.id, asked)
        .await
        .expect("handled");
    let frames = recorder.frames();
    assert_eq!(types(&frames).last(), Some(&"error"), "{frames:?}");
    assert_eq!(
        stored(&store, session.id).await.len(),
        1,
        "only the question"
    );
}

#[tokio::test]
async fn a_stalled_reply_is_stopped_and_what_was_said_is_kept() {
    let (service, recorder, store, session, asked) = session_with_question().await;
    let model = Scripted {
        texts: vec!["So far, ", "so good"],
        ending: None,
    };
    let bot = BotSettings::new(Arc::new(model));
    let running = tokio::spawn({
        let service = service.clone();
        async move { service.run_bot_reply(&bot, session.id, asked).await }
    });
    // The stop lands once the reply holds the slot.
    let stopped_id = loop {
        if let Some(id) = store.request_stop(session.id).await.expect("stop") {
            break id;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("a stop ends a stalled reply")
        .expect("joined")
        .expect("handled");
    let frames = recorder.frames();
    let last = frames.last().expect("frames");
    assert_eq!(last["type"], "stopped_generation", "{frames:?}");
    assert_eq!(last["response_id"], stopped_id.to_string());
    assert_eq!(
        last["message"]["content"].as_str(),
        Some(chunks(&frames).as_str())
    );
    assert_eq!(
        store.get_reply(session.id).await.expect("read"),
        None,
        "the slot is free"
    );
}

#[tokio::test]
async fn a_reply_is_moderated_as_it_streams_and_never_refused() {
    let (service, recorder, store, session, asked) = session_with_question().await;
    // Even where people's profanity is refused, a model's is masked.
    let service = service.with_moderator(Arc::new(Moderator::new(ModerationSettings {
        profanity: ProfanityPolicy::Refuse,
        ..Default::default()
    })));
    let model = Scripted {
        texts: vec![
            "Well, sh",
            "it happens.\u{7} Try ",
            "javascript:alert(1)\u{202E}",
        ],
        ending: Some(Ok(())),
    };
    service
        .run_bot_reply(&BotSettings::new(Arc::new(model)), session.id, asked)
        .await
        .expect("handled");
    let frames = recorder.frames();
    let expected = "Well, **** happens. Try ***********alert(1)";
    assert_eq!(chunks(&frames), expected, "{frames:?}");
    let complete = frames.last().expect("frames");
    assert_eq!(complete["type"], "response_complete", "{frames:?}");
    assert_eq!(complete["message"]["content"], expected);
    assert_eq!(complete["message"]["moderated"], true);
    let kept = stored(&store, session.id).await;
    assert!(kept[0].is_bot && kept[0].moderated && kept[0].content == expected);
}

#[tokio::test]
async fn a_reply_cut_at_its_token_limit_is_stored_incomplete_with_the_reason() {
    let (frames, kept) = reply_of(vec![
        ReplyEvent::Text("Part of ".into()),
        ReplyEvent::Text("an answer".into()),
        ReplyEvent::Cut(IncompleteReason::MaxTokens),
        ReplyEvent::Usage { output_tokens: 4 },
    ])
    .await;
    assert!(!types(&frames).contains(&"error"), "{frames:?}");
    let complete = frames.last().expect("frames");
    assert_eq!(complete["type"], "response_complete");
    assert_eq!(complete["message"]["incomplete"], true);
    assert_eq!(complete["message"]["incomplete_reason"], "max_tokens");
    assert_eq!(chunks(&frames), "Part of an answer");
    assert_eq!(kept[0].content, "Part of an answer");
    assert_eq!(kept[0].incomplete_reason, Some(IncompleteReason::MaxTokens));
    assert!(kept[0].incomplete);
}

#[tokio::test]
async fn an_empty_or_filtered_reply_is_never_stored_only_told() {
    for (events, said) in [
        (vec![], "empty reply"),
        (vec![ReplyEvent::Usage { output_tokens: 0 }], "empty reply"),
        (
            vec![ReplyEvent::Cut(IncompleteReason::ContentFilter)],
            "filtered its reply",
        ),
        (
            vec![
                ReplyEvent::Reasoning("Thinking it over.".into()),
                ReplyEvent::Cut(IncompleteReason::MaxTokens),
            ],
            "length limit",
        ),
    ] {
        let (frames, kept) = reply_of(events).await;
        let last = frames.last().expect("frames");
        assert_eq!(last["type"], "error", "{frames:?}");
        assert!(
            last["message"].as_str().is_some_and(|m| m.contains(said)),
            "{last}"
        );
        assert!(!types(&frames).contains(&"response_complete"));
        assert_eq!(kept.len(), 1, "only the question: {kept:?}");
    }
}

#[tokio::test]
async fn reasoning_is_neither_sent_as_the_reply_nor_stored() {
    let (frames, kept) = reply_of(vec![
        ReplyEvent::Reasoning("The user says hi; ".into()),
        ReplyEvent::Reasoning("greet them.".into()),
        ReplyEvent::Text("Hello!".into()),
    ])
    .await;
    assert_eq!(chunks(&frames), "Hello!");
    assert_eq!(kept[0].content, "Hello!");
    assert!(!kept[0].incomplete);
    assert!(
        !frames.iter().any(|f| f.to_string().contains("greet them")),
        "not shown unless the chatbot asks: {frames:?}"
    );
}

#[tokio::test]
async fn a_chatbot_that_shows_reasoning_streams_it_apart_from_the_reply() {
    let (service, recorder, store, session, asked) = session_with_question().await;
    let admin = Principal {
        user_id: UserId::parse("root").expect("id"),
        role: Role::Admin,
        name: None,
        org: None,
    };
    let assistant = ChatbotId::parse("assistant").expect("id");
    let shown = chat_core::service::ChatbotSettings {
        show_reasoning: Some(true),
        system_prompt: Some(
            chat_core::domain::SystemPrompt::parse("Think aloud.").expect("a prompt"),
        ),
        name: Some(
            chat_core::domain::DisplayName::parse("Thinker")
                .ok()
                .flatten()
                .expect("a name"),
        ),
        ..Default::default()
    };
    service
        .update_chatbot(&admin, &assistant, shown)
        .await
        .expect("the default chatbot gets a record");
    let model = Streams(vec![
        ReplyEvent::Reasoning("The user says hi; ".into()),
        ReplyEvent::Reasoning("greet them.".into()),
        ReplyEvent::Text("Hello!".into()),
    ]);
    service
        .run_bot_reply(&BotSettings::new(Arc::new(model)), session.id, asked)
        .await
        .expect("handled");
    let frames = recorder.frames();
    let reasoning: String = frames
        .iter()
        .filter(|f| f["type"] == "response_reasoning")
        .filter_map(|f| f["chunk"].as_str())
        .collect();
    assert_eq!(reasoning, "The user says hi; greet them.");
    let order = types(&frames);
    let first_reasoning = order.iter().position(|t| *t == "response_reasoning");
    let first_chunk = order.iter().position(|t| *t == "response_chunk");
    assert!(first_reasoning < first_chunk, "{order:?}");
    assert_eq!(chunks(&frames), "Hello!");
    assert_eq!(stored(&store, session.id).await[0].content, "Hello!");
}
