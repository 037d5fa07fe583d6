//! Counts the DynamoDB requests each store operation sends, against the endpoint in
//! `CHAT_DYNAMODB_ENDPOINT` (run `infra/bench.sh`, which starts moto). Prints a Markdown
//! table. A chat message must cost the same at 2 members as at 200.

use std::collections::BTreeMap;
use std::future::Future;

use chat_aws::DynamoStore;
use chat_aws::dynamodb::{RequestCounter, local_client};
use chat_core::domain::{
    Attachment, AttachmentId, AttachmentState, ChatbotId, ClientMsgId, Connection, ConnectionId,
    Content, Member, MemberRole, Message, PageLimit, Principal, Reaction, Role, Session, SessionId,
    SessionKind, SessionSpec, SessionStatus, Timestamp, Title, UserId,
};
use chat_core::ports::{
    AttachmentStore, ConnectionStore, MessageQuery, MessageStore, SessionPatch, SessionQuery,
    SessionStore,
};

type Failure = Box<dyn std::error::Error>;

struct Bench {
    counter: RequestCounter,
    rows: Vec<(String, BTreeMap<String, u64>)>,
}

impl Bench {
    /// Runs one operation and records the requests it sent.
    async fn measure<T, E: std::fmt::Debug>(
        &mut self,
        name: &str,
        operation: impl Future<Output = Result<T, E>>,
    ) -> Result<T, Failure> {
        self.counter.take();
        let result = operation.await.map_err(|e| format!("{name}: {e:?}"))?;
        self.rows.push((name.to_owned(), self.counter.take()));
        Ok(result)
    }
}

fn user(name: &str) -> Result<UserId, Failure> {
    Ok(UserId::parse(name)?)
}

fn session_with_members(
    kind: SessionKind,
    size: usize,
    now: Timestamp,
) -> Result<(Session, Vec<Member>), Failure> {
    let spec = SessionSpec {
        title: Title::parse("bench")?,
        chatbot_id: (kind == SessionKind::Bot)
            .then(|| ChatbotId::parse("helper"))
            .transpose()?,
        ..SessionSpec::new(kind, user("user-0")?)
    };
    let session = Session::open(SessionId::new(now), spec, now)?;
    let members = (0..size)
        .map(|i| {
            Ok(Member::new(
                session.id,
                user(&format!("user-{i}"))?,
                MemberRole::Member,
                None,
                now,
            ))
        })
        .collect::<Result<_, Failure>>()?;
    Ok((session, members))
}

/// Adds members past the creation limit one by one (not measured) to reach `size`.
async fn grow(
    store: &DynamoStore,
    session: &Session,
    from: usize,
    size: usize,
    now: Timestamp,
) -> Result<(), Failure> {
    for i in from..size {
        let member = Member::new(
            session.id,
            user(&format!("user-{i}"))?,
            MemberRole::Member,
            None,
            now,
        );
        store
            .add_member(&member)
            .await
            .map_err(|e| format!("{e:?}"))?;
        let connection = Connection::new(
            ConnectionId::parse(&format!("c{i}-{}", session.id))?,
            principal(&member.user_id),
            Some(session.id),
            now,
        );
        store
            .put_connection(&connection)
            .await
            .map_err(|e| format!("{e:?}"))?;
    }
    Ok(())
}

fn principal(user: &UserId) -> Principal {
    Principal {
        user_id: user.clone(),
        role: Role::User,
        name: None,
        org: None,
    }
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let endpoint = std::env::var("CHAT_DYNAMODB_ENDPOINT")
        .map_err(|_| "CHAT_DYNAMODB_ENDPOINT is not set: run infra/bench.sh")?;
    let client = local_client(&endpoint);
    let counter = RequestCounter::default();
    let table = format!("bench-{}", SessionId::new(Timestamp::now()));
    let store = DynamoStore::counted(&client, table, counter.clone());
    store
        .create_table_if_absent()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let mut bench = Bench {
        counter,
        rows: Vec::new(),
    };
    let now = Timestamp::now();
    let ann = user("user-0")?;

    let (small, members) = session_with_members(SessionKind::Group, 2, now)?;
    bench
        .measure(
            "create_session (2 members)",
            store.create_session(&small, &members),
        )
        .await?;
    let (bot, bot_members) = session_with_members(SessionKind::Bot, 1, now)?;
    bench
        .measure(
            "create_session (bot, new)",
            store.create_session(&bot, &bot_members),
        )
        .await?;
    let (again, again_members) = session_with_members(SessionKind::Bot, 1, now)?;
    bench
        .measure(
            "create_session (bot, already active)",
            store.create_session(&again, &again_members),
        )
        .await?;
    bench
        .measure("get_session", store.get_session(small.id))
        .await?;
    let patch = SessionPatch {
        title: Some(Title::parse("renamed")?),
        ..SessionPatch::default()
    };
    bench
        .measure(
            "update_session",
            store.update_session(small.id, &patch, now),
        )
        .await?;
    let newcomer = Member::new(small.id, user("newcomer")?, MemberRole::Member, None, now);
    bench
        .measure("add_member (new)", store.add_member(&newcomer))
        .await?;
    bench
        .measure("add_member (already one)", store.add_member(&newcomer))
        .await?;
    bench
        .measure("get_member", store.get_member(small.id, &newcomer.user_id))
        .await?;
    bench
        .measure("list_members", store.list_members(small.id))
        .await?;
    bench
        .measure(
            "remove_member",
            store.remove_member(small.id, &newcomer.user_id),
        )
        .await?;
    let page = SessionQuery {
        limit: PageLimit::new(20)?,
        ..Default::default()
    };
    bench
        .measure("list_user_sessions", store.list_user_sessions(&ann, &page))
        .await?;
    let filtered = SessionQuery {
        status: Some(SessionStatus::Active),
        ..page
    };
    bench
        .measure(
            "list_user_sessions (status filter)",
            store.list_user_sessions(&ann, &filtered),
        )
        .await?;

    let (large, first_members) = session_with_members(SessionKind::Group, 50, now)?;
    store
        .create_session(&large, &first_members)
        .await
        .map_err(|e| format!("{e:?}"))?;
    grow(&store, &large, 50, 200, now).await?;
    grow(&store, &small, 0, 2, now).await?;
    for (label, session) in [("2 members", &small), ("200 members", &large)] {
        let mut message = Message::text(
            session.id,
            ann.clone(),
            None,
            Content::parse("hello")?,
            Timestamp::now(),
        );
        let feed = bench
            .measure(
                &format!("session_feed ({label})"),
                store.session_feed(session.id, Timestamp::now()),
            )
            .await?;
        let append = next_of(&mut message, &feed);
        bench
            .measure(
                &format!("put_message ({label})"),
                store.put_message(&message, &append),
            )
            .await?;
        bench
            .measure(
                &format!("list_session_connections ({label})"),
                store.list_session_connections(session.id, Timestamp::now()),
            )
            .await?;
    }
    let mut keyed = Message::text(
        small.id,
        ann.clone(),
        None,
        Content::parse("once")?,
        Timestamp::now(),
    );
    keyed.client_msg_id = Some(ClientMsgId::parse("k1")?);
    let feed = store
        .session_feed(small.id, Timestamp::now())
        .await
        .map_err(|e| format!("{e:?}"))?;
    let append = next_of(&mut keyed, &feed);
    bench
        .measure(
            "put_message (client_msg_id, new)",
            store.put_message(&keyed, &append),
        )
        .await?;
    let mut retry = Message::text(
        small.id,
        ann.clone(),
        None,
        Content::parse("once")?,
        Timestamp::now(),
    );
    retry.client_msg_id = keyed.client_msg_id.clone();
    let feed = store
        .session_feed(small.id, Timestamp::now())
        .await
        .map_err(|e| format!("{e:?}"))?;
    let append = next_of(&mut retry, &feed);
    bench
        .measure(
            "put_message (client_msg_id, duplicate)",
            store.put_message(&retry, &append),
        )
        .await?;
    bench
        .measure("get_message", store.get_message(small.id, keyed.id))
        .await?;
    bench
        .measure(
            "list_messages (50)",
            store.list_messages(small.id, &MessageQuery::default()),
        )
        .await?;
    bench
        .measure(
            "edit_message",
            store.edit_message(
                small.id,
                keyed.id,
                &chat_core::ports::Edit {
                    content: Content::parse("edited")?,
                    moderated: false,
                },
                now,
            ),
        )
        .await?;
    let thumbs = Reaction::parse("👍")?;
    bench
        .measure(
            "set_reaction (add)",
            store.set_reaction(small.id, keyed.id, &thumbs, &ann, true),
        )
        .await?;
    bench
        .measure(
            "set_reaction (remove)",
            store.set_reaction(small.id, keyed.id, &thumbs, &ann, false),
        )
        .await?;
    bench
        .measure(
            "delete_message",
            store.delete_message(small.id, keyed.id, now),
        )
        .await?;
    let file = Attachment {
        id: AttachmentId::new(now),
        session_id: small.id,
        uploader_id: ann.clone(),
        file_name: "photo.png".into(),
        content_type: "image/png".into(),
        size: 1_024,
        state: AttachmentState::Pending,
        created_at: now,
    };
    bench
        .measure("put_attachment", store.put_attachment(&file))
        .await?;
    bench
        .measure("get_attachment", store.get_attachment(small.id, file.id))
        .await?;
    bench
        .measure(
            "mark_attachment_ready",
            store.mark_attachment_ready(small.id, file.id),
        )
        .await?;
    bench
        .measure(
            "list_attachments",
            store.list_attachments(small.id, None, PageLimit::DEFAULT),
        )
        .await?;

    let connection = Connection::new(
        ConnectionId::parse("bench-conn")?,
        principal(&ann),
        Some(small.id),
        now,
    );
    bench
        .measure("put_connection", store.put_connection(&connection))
        .await?;
    bench
        .measure("get_connection", store.get_connection(&connection.id, now))
        .await?;
    bench
        .measure(
            "bind_connection",
            store.bind_connection(&connection.id, Some(large.id)),
        )
        .await?;
    bench
        .measure("delete_connection", store.delete_connection(&connection.id))
        .await?;
    bench
        .measure(
            "end_session (bot: frees the active scope)",
            store.end_session(bot.id, now),
        )
        .await?;

    println!("| store operation | DynamoDB requests |\n|---|---|");
    for (name, counts) in &bench.rows {
        let total: u64 = counts.values().sum();
        let detail: Vec<String> = counts.iter().map(|(op, n)| format!("{n} {op}")).collect();
        println!("| {name} | {total}: {} |", detail.join(", "));
    }
    Ok(())
}

/// The message numbered after the feed's last seq, as the member's next.
fn next_of(message: &mut Message, feed: &chat_core::ports::Feed) -> chat_core::ports::Append {
    message.seq = feed.last_seq + 1;
    chat_core::ports::Append {
        sender_is_member: true,
        ..chat_core::ports::Append::after(feed.last_seq)
    }
}
