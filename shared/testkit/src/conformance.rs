//! The store conformance suite: what every store adapter must do, stated once, and the
//! runner each adapter's suite calls. Each case runs on its own multi-threaded runtime
//! against a fresh store, so concurrent cases really race and cannot see each other.

use std::sync::Arc;
use std::time::Duration;

use chat_core::documents::Embedding;
use chat_core::domain::{
    Attachment, AttachmentId, AttachmentState, BusinessId, BusinessSecret, Chatbot, ChatbotId,
    ClientMsgId, Connection, ConnectionId, Content, CustomerSecret, Day, Dialect, DisplayName,
    Greeting, JoinPolicy, Language, Member, MemberRole, Message, MessageId, ModelName, Order,
    PageLimit, Principal, Reaction, Role, Session, SessionId, SessionKind, SessionSpec,
    SessionStatus, SystemPrompt, Temperature, TimeZoneName, Timestamp, Title, Usage, UserId,
};
use chat_core::ports::{
    Append, BucketUpdate, ChatbotWrite, Created, DocumentScope, DocumentState, Edit,
    IndexedDocument, LibraryDocument, MessageQuery, Posted, SenderKey, SessionPatch, SessionQuery,
    Store, StoreError, StoreResult, UsageCharge, WindowCount,
};

use std::future::Future;
use std::pin::Pin;

use libtest_mimic::{Failed, Trial};

type CaseFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
type Case = fn(Arc<dyn Store>) -> CaseFuture;

/// Every case as a trial named `{adapter}::{case}`, each run against a store that
/// `make_store` makes fresh for it.
pub fn trials<F, Fut>(adapter: &str, make_store: F) -> Vec<Trial>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<Arc<dyn Store>, String>>,
{
    ALL.iter()
        .map(|&(name, case)| {
            let make_store = make_store.clone();
            Trial::test(format!("{adapter}::{name}"), move || run(case, make_store))
        })
        .collect()
}

/// The cases' names, for an adapter that reports them skipped or failed.
pub fn names() -> impl Iterator<Item = &'static str> {
    ALL.iter().map(|&(name, _)| name)
}

/// Runs one case on its own multi-threaded runtime, so concurrent cases really race.
fn run<F, Fut>(case: Case, make_store: F) -> Result<(), Failed>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Arc<dyn Store>, String>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let store = make_store().await?;
        tokio::spawn(case(store))
            .await
            .map_err(|e| panic_message(e.into_panic()))
    })?;
    Ok(())
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "the case panicked".to_owned())
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        const ALL: &[(&str, Case)] = &[
            $((stringify!($name), |store| -> CaseFuture { Box::pin($name(store)) })),*
        ];
    };
}

cases![
    messages_take_the_next_seq_and_a_stale_seq_is_refused,
    the_senders_bucket_is_read_and_written_with_the_message,
    a_connections_bucket_and_strikes_go_with_its_routing_item,
    a_window_counts_to_its_limit_then_starts_again,
    a_message_sharing_a_file_makes_it_ready_in_its_own_write,
    a_business_secret_is_read_back_and_replaced_by_the_next,
    a_chatbot_is_created_once_replaced_only_as_last_read_listed_and_deleted,
    a_message_counted_against_a_full_window_is_refused_and_not_stored,
    the_feed_holds_the_last_seq_and_the_live_connections,
    a_session_is_created_read_updated_and_ended,
    a_session_id_cannot_be_taken_twice,
    members_are_added_listed_and_removed,
    a_users_sessions_come_newest_activity_first_in_pages,
    a_users_sessions_can_be_filtered_by_status_across_pages,
    cursors_the_store_did_not_make_are_refused,
    messages_page_newest_first_and_oldest_first_with_cursors,
    after_returns_every_newer_message_for_catching_up,
    a_message_is_refused_by_an_ended_or_unknown_session_and_nothing_is_stored,
    a_sender_claimed_as_member_must_be_one,
    editing_replaces_the_content_and_marks_the_message_edited,
    deleting_is_soft_and_idempotent,
    reactions_are_added_and_removed_per_user,
    connections_are_stored_found_moved_and_deleted,
    a_connections_dialect_is_kept_where_it_is_routed_and_where_it_is_broadcast,
    expired_connections_are_left_out,
    typing_is_kept_where_the_sessions_connections_are_listed,
    attachments_are_recorded_marked_ready_and_listed_in_order,
    an_attachment_is_refused_by_an_ended_or_unknown_session,
    one_active_bot_session_per_user_and_chatbot_holds_under_concurrent_creation,
    one_active_support_session_per_visitor_and_business_holds_under_concurrent_creation,
    a_client_message_id_makes_sending_idempotent_under_concurrency,
    one_bot_reply_at_a_time_holds_the_slot_until_it_finishes_or_goes_stale,
    connections_join_only_a_reply_in_progress_and_a_new_reply_starts_with_none,
    a_replys_tokens_add_to_its_askers_day_read_with_the_sender_and_listed_by_user,
    a_files_chunks_are_indexed_once_and_a_terms_postings_come_weightiest_first,
    a_library_lists_its_owners_documents_and_records_how_their_indexing_ended,
    idle_bot_and_support_sessions_are_listed_oldest_first_and_end_once_only_while_idle,
    stale_uploads_and_expired_connections_are_listed_and_removed_once,
    a_business_queue_lists_its_open_support_sessions_newest_first,
    a_file_message_keeps_its_attachment,
];

const RACERS: usize = 12;

fn user(name: &str) -> UserId {
    UserId::parse(name).expect("a valid user id")
}

/// A user id no other case uses, since user-level lists span the whole table.
fn unique_user(name: &str) -> UserId {
    user(&format!("{name}-{}", SessionId::new(Timestamp::now())))
}

fn at(base: Timestamp, millis: u64) -> Timestamp {
    base.plus(Duration::from_millis(millis))
}

fn spec(kind: SessionKind, owner: &UserId) -> SessionSpec {
    SessionSpec {
        title: Title::parse("A chat").expect("a valid title"),
        ..SessionSpec::new(kind, owner.clone())
    }
}

fn members_of(session: &Session, users: &[&UserId], now: Timestamp) -> Vec<Member> {
    users
        .iter()
        .map(|&u| {
            let role = if *u == session.owner_id {
                MemberRole::Owner
            } else {
                MemberRole::Member
            };
            Member::new(session.id, u.clone(), role, None, now)
        })
        .collect()
}

/// A new group session owned by the first user, with every user a member.
async fn open_group(store: &Arc<dyn Store>, users: &[&UserId], now: Timestamp) -> Session {
    let session = Session::open(SessionId::new(now), spec(SessionKind::Group, users[0]), now)
        .expect("a valid session");
    let created = store
        .create_session(&session, &members_of(&session, users, now))
        .await;
    assert_eq!(created.expect("created"), Created::New(session.clone()));
    session
}

fn text(session: &Session, sender: &UserId, body: &str, now: Timestamp) -> Message {
    Message::text(
        session.id,
        sender.clone(),
        None,
        Content::parse(body).expect("content"),
        now,
    )
}

/// Stores `message` as the session's next, as the message path does: the feed's last seq
/// read, the message written after it, read again when another took that seq first.
pub async fn append(
    store: &Arc<dyn Store>,
    message: &Message,
    member: bool,
) -> StoreResult<Posted> {
    let mut message = message.clone();
    loop {
        let feed = store
            .session_feed(message.session_id, Timestamp::now())
            .await?;
        message.seq = feed.last_seq + 1;
        let append = Append {
            sender_is_member: member,
            ..Append::after(feed.last_seq)
        };
        match store.put_message(&message, &append).await {
            Err(StoreError::Stale("seq")) => continue,
            other => return other,
        }
    }
}

/// `message` with the seq it was stored under.
fn numbered(message: &Message, posted: &Posted) -> Message {
    Message {
        seq: posted.message().seq,
        ..message.clone()
    }
}

async fn post(store: &Arc<dyn Store>, message: &Message) -> Message {
    match append(store, message, true).await.expect("posted") {
        Posted::New(stored) => stored,
        Posted::Duplicate(original) => panic!("unexpected duplicate of {}", original.id),
    }
}

/// Posts `count` messages one millisecond apart, returning them oldest first.
async fn post_many(
    store: &Arc<dyn Store>,
    session: &Session,
    sender: &UserId,
    count: u64,
) -> Vec<Message> {
    let base = Timestamp::now();
    let mut posted = Vec::new();
    for i in 0..count {
        posted.push(
            post(
                store,
                &text(session, sender, &format!("message {i}"), at(base, i)),
            )
            .await,
        );
    }
    posted
}

fn ids(messages: &[Message]) -> Vec<MessageId> {
    messages.iter().map(|m| m.id).collect()
}

fn limit(n: usize) -> PageLimit {
    PageLimit::new(n).expect("a valid limit")
}

/// Every page of a message query, following cursors, as one list of ids per page.
async fn message_pages(
    store: &Arc<dyn Store>,
    session: SessionId,
    mut query: MessageQuery,
) -> Vec<Vec<MessageId>> {
    let mut pages = Vec::new();
    loop {
        let page = store.list_messages(session, &query).await.expect("a page");
        pages.push(ids(&page.items));
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return pages,
        }
    }
}

/// Every page of a user's session list, as one list of ids per page.
async fn session_pages(
    store: &Arc<dyn Store>,
    user: &UserId,
    mut query: SessionQuery,
) -> Vec<Vec<SessionId>> {
    let mut pages = Vec::new();
    loop {
        let page = store
            .list_user_sessions(user, &query)
            .await
            .expect("a page");
        pages.push(page.items.iter().map(|s| s.id).collect());
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return pages,
        }
    }
}

fn principal(user: &UserId) -> Principal {
    Principal {
        user_id: user.clone(),
        role: Role::User,
        name: None,
        org: None,
    }
}

fn connection(id: &str, user: &UserId, session: Option<SessionId>, now: Timestamp) -> Connection {
    let id = ConnectionId::parse(&format!("{id}-{}", SessionId::new(now))).expect("a valid id");
    Connection::new(id, principal(user), session, now)
}

fn connection_ids(connections: &[Connection]) -> Vec<ConnectionId> {
    let mut ids: Vec<ConnectionId> = connections.iter().map(|c| c.id.clone()).collect();
    ids.sort();
    ids
}

async fn a_session_is_created_read_updated_and_ended(store: Arc<dyn Store>) {
    let now = Timestamp::now();
    let ann = user("ann");
    let session = open_group(&store, &[&ann], now).await;
    assert_eq!(
        store.get_session(session.id).await.expect("read"),
        Some(session.clone())
    );

    let later = at(now, 10);
    let patch = SessionPatch {
        title: Some(Title::parse("Renamed").expect("title")),
        status: Some(SessionStatus::Inactive),
        join_policy: Some(JoinPolicy::Open),
        language: Some(Language::parse("Hindi").ok()),
        timezone: Some(TimeZoneName::parse("Asia/Kolkata").ok()),
    };
    let updated = store
        .update_session(session.id, &patch, later)
        .await
        .expect("updated");
    assert_eq!(updated.title, Title::parse("Renamed").expect("title"));
    assert_eq!(
        (
            updated.language.as_ref().map(|l| l.to_string()),
            updated.timezone.as_ref().map(|z| z.to_string())
        ),
        (Some("Hindi".to_owned()), Some("Asia/Kolkata".to_owned()))
    );
    assert_eq!(
        (updated.status, updated.join_policy, updated.updated_at),
        (SessionStatus::Inactive, JoinPolicy::Open, later)
    );
    assert_eq!(
        store.get_session(session.id).await.expect("read"),
        Some(updated.clone())
    );

    let untitled = SessionPatch {
        title: Some(None),
        language: Some(None),
        ..SessionPatch::default()
    };
    let cleared = store
        .update_session(session.id, &untitled, later)
        .await
        .expect("updated");
    assert_eq!(
        (cleared.title, cleared.status, cleared.language),
        (None, SessionStatus::Inactive, None)
    );
    assert!(cleared.timezone.is_some(), "a field left out is kept");

    let ending = store
        .update_session(
            session.id,
            &SessionPatch {
                status: Some(SessionStatus::Ended),
                ..Default::default()
            },
            later,
        )
        .await;
    assert!(matches!(ending, Err(StoreError::Invalid(_))), "{ending:?}");

    let ended = store
        .end_session(session.id, at(now, 20))
        .await
        .expect("ended");
    assert_eq!(
        (ended.status, ended.ended_at),
        (SessionStatus::Ended, Some(at(now, 20)))
    );
    assert_eq!(
        store.get_session(session.id).await.expect("read"),
        Some(ended)
    );
    assert!(matches!(
        store.end_session(session.id, later).await,
        Err(StoreError::SessionEnded)
    ));
    assert!(matches!(
        store.update_session(session.id, &patch, later).await,
        Err(StoreError::SessionEnded)
    ));

    let unknown = SessionId::new(now);
    assert_eq!(store.get_session(unknown).await.expect("read"), None);
    assert!(matches!(
        store.update_session(unknown, &patch, later).await,
        Err(StoreError::NotFound("session"))
    ));
    assert!(matches!(
        store.end_session(unknown, later).await,
        Err(StoreError::NotFound("session"))
    ));
}

async fn a_session_id_cannot_be_taken_twice(store: Arc<dyn Store>) {
    let now = Timestamp::now();
    let session = open_group(&store, &[&user("ann")], now).await;
    let again = store.create_session(&session, &[]).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
}

async fn members_are_added_listed_and_removed(store: Arc<dyn Store>) {
    let now = Timestamp::now();
    let (ann, bob) = (user("ann"), user("bob"));
    let session = open_group(&store, &[&ann], now).await;
    let bob_member = Member::new(
        session.id,
        bob.clone(),
        MemberRole::Member,
        None,
        at(now, 1),
    );

    assert!(store.add_member(&bob_member).await.expect("added"));
    assert!(
        !store
            .add_member(&bob_member)
            .await
            .expect("already a member")
    );
    assert_eq!(
        store.get_member(session.id, &bob).await.expect("read"),
        Some(bob_member.clone())
    );
    let mut listed: Vec<UserId> = store
        .list_members(session.id)
        .await
        .expect("listed")
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    listed.sort();
    assert_eq!(listed, vec![ann.clone(), bob.clone()]);

    assert!(
        store
            .remove_member(session.id, &bob)
            .await
            .expect("removed")
    );
    assert!(
        !store
            .remove_member(session.id, &bob)
            .await
            .expect("not a member")
    );
    assert_eq!(
        store.get_member(session.id, &bob).await.expect("read"),
        None
    );
    assert_eq!(
        store.list_members(session.id).await.expect("listed").len(),
        1
    );

    store
        .end_session(session.id, at(now, 2))
        .await
        .expect("ended");
    assert!(matches!(
        store.add_member(&bob_member).await,
        Err(StoreError::SessionEnded)
    ));
    let stranger = Member::new(SessionId::new(now), bob, MemberRole::Member, None, now);
    assert!(matches!(
        store.add_member(&stranger).await,
        Err(StoreError::NotFound("session"))
    ));
}

async fn a_users_sessions_come_newest_activity_first_in_pages(store: Arc<dyn Store>) {
    let base = Timestamp::now();
    let (ann, bob) = (unique_user("ann"), unique_user("bob"));
    let mut sessions = Vec::new();
    for i in 0..5 {
        sessions.push(open_group(&store, &[&ann, &bob], at(base, i)).await.id);
    }
    let newest_first: Vec<SessionId> = sessions.iter().rev().copied().collect();
    let query = SessionQuery {
        limit: limit(2),
        ..Default::default()
    };
    let pages = session_pages(&store, &ann, query.clone()).await;
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert_eq!(pages.concat(), newest_first);

    // Ann posts in the oldest session: it comes first for her, not for Bob.
    let oldest = store
        .get_session(sessions[0])
        .await
        .expect("read")
        .expect("exists");
    post(&store, &text(&oldest, &ann, "back again", at(base, 100))).await;
    let anns = session_pages(&store, &ann, query.clone()).await.concat();
    assert_eq!(anns[0], sessions[0]);
    assert_eq!(anns[1..], newest_first[..4]);
    assert_eq!(
        session_pages(&store, &bob, query.clone()).await.concat(),
        newest_first
    );
    let touched = store
        .get_session(sessions[0])
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(touched.last_activity_at, at(base, 100));

    // Leaving a session takes it off the list.
    store
        .remove_member(sessions[1], &bob)
        .await
        .expect("removed");
    assert!(
        !session_pages(&store, &bob, query)
            .await
            .concat()
            .contains(&sessions[1])
    );
}

async fn a_users_sessions_can_be_filtered_by_status_across_pages(store: Arc<dyn Store>) {
    let base = Timestamp::now();
    let ann = unique_user("ann");
    let mut sessions = Vec::new();
    for i in 0..7 {
        sessions.push(open_group(&store, &[&ann], at(base, i)).await.id);
    }
    for ended in [sessions[1], sessions[4], sessions[5]] {
        store.end_session(ended, at(base, 50)).await.expect("ended");
    }
    let filtered = |status| SessionQuery {
        status: Some(status),
        limit: limit(2),
        cursor: None,
    };
    let ended = session_pages(&store, &ann, filtered(SessionStatus::Ended))
        .await
        .concat();
    assert_eq!(ended, vec![sessions[5], sessions[4], sessions[1]]);
    let active = session_pages(&store, &ann, filtered(SessionStatus::Active))
        .await
        .concat();
    assert_eq!(
        active,
        vec![sessions[6], sessions[3], sessions[2], sessions[0]]
    );
    let inactive = store
        .list_user_sessions(&ann, &filtered(SessionStatus::Inactive))
        .await
        .expect("a page");
    assert!(inactive.items.is_empty());
}

async fn cursors_the_store_did_not_make_are_refused(store: Arc<dyn Store>) {
    let now = Timestamp::now();
    let ann = user("ann");
    let session = open_group(&store, &[&ann], now).await;
    let forged = chat_core::domain::Cursor::from_client("Zm9yZ2Vk").expect("base64");
    let messages = MessageQuery {
        cursor: Some(forged.clone()),
        ..Default::default()
    };
    assert!(
        matches!(store.list_messages(session.id, &messages).await, Err(StoreError::Invalid(e)) if e.field == "cursor")
    );
    let sessions = SessionQuery {
        cursor: Some(forged),
        ..Default::default()
    };
    assert!(
        matches!(store.list_user_sessions(&ann, &sessions).await, Err(StoreError::Invalid(e)) if e.field == "cursor")
    );
}

async fn messages_page_newest_first_and_oldest_first_with_cursors(store: Arc<dyn Store>) {
    let ann = user("ann");
    let session = open_group(&store, &[&ann], Timestamp::now()).await;
    let posted = ids(&post_many(&store, &session, &ann, 7).await);
    let newest: Vec<MessageId> = posted.iter().rev().copied().collect();

    let desc = MessageQuery {
        limit: limit(3),
        ..Default::default()
    };
    let pages = message_pages(&store, session.id, desc.clone()).await;
    assert_eq!(
        pages,
        vec![
            newest[0..3].to_vec(),
            newest[3..6].to_vec(),
            newest[6..].to_vec()
        ]
    );

    let asc = MessageQuery {
        order: Order::Asc,
        limit: limit(3),
        ..Default::default()
    };
    let pages = message_pages(&store, session.id, asc).await;
    assert_eq!(
        pages,
        vec![
            posted[0..3].to_vec(),
            posted[3..6].to_vec(),
            posted[6..].to_vec()
        ]
    );

    // An exact multiple of the limit ends without an empty extra page.
    let pages = message_pages(
        &store,
        session.id,
        MessageQuery {
            limit: limit(7),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(pages, vec![newest.clone()]);

    let before = MessageQuery {
        before: Some(posted[3]),
        limit: limit(2),
        ..Default::default()
    };
    assert_eq!(
        message_pages(&store, session.id, before).await.concat(),
        vec![posted[2], posted[1], posted[0]]
    );

    let stored = store
        .get_message(session.id, posted[4])
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(stored.content, "message 4");
    assert_eq!(
        store
            .get_message(session.id, MessageId::new(Timestamp::now()))
            .await
            .expect("read"),
        None
    );
    let other = open_group(&store, &[&ann], Timestamp::now()).await;
    assert!(
        store
            .list_messages(other.id, &desc)
            .await
            .expect("a page")
            .items
            .is_empty()
    );
}

async fn after_returns_every_newer_message_for_catching_up(store: Arc<dyn Store>) {
    let ann = user("ann");
    let session = open_group(&store, &[&ann], Timestamp::now()).await;
    let posted = ids(&post_many(&store, &session, &ann, 6).await);
    let catch_up = MessageQuery {
        order: Order::Asc,
        after: Some(posted[1]),
        limit: limit(2),
        ..Default::default()
    };
    assert_eq!(
        message_pages(&store, session.id, catch_up).await.concat(),
        posted[2..].to_vec()
    );
    let latest = MessageQuery {
        order: Order::Asc,
        after: Some(posted[5]),
        ..Default::default()
    };
    assert_eq!(
        message_pages(&store, session.id, latest).await,
        vec![Vec::<MessageId>::new()]
    );
    let window = MessageQuery {
        after: Some(posted[1]),
        before: Some(posted[4]),
        ..Default::default()
    };
    assert_eq!(
        message_pages(&store, session.id, window).await.concat(),
        vec![posted[3], posted[2]]
    );
}

async fn a_message_is_refused_by_an_ended_or_unknown_session_and_nothing_is_stored(
    store: Arc<dyn Store>,
) {
    let now = Timestamp::now();
    let ann = user("ann");
    let session = open_group(&store, &[&ann], now).await;
    store
        .end_session(session.id, at(now, 1))
        .await
        .expect("ended");
    let late = text(&session, &ann, "too late", at(now, 2));
    assert!(matches!(
        append(&store, &late, true).await,
        Err(StoreError::SessionEnded)
    ));
    assert_eq!(
        store.get_message(session.id, late.id).await.expect("read"),
        None
    );

    let mut stray = late.clone();
    stray.session_id = SessionId::new(now);
    stray.id = MessageId::new(now);
    assert!(matches!(
        append(&store, &stray, false).await,
        Err(StoreError::NotFound("session"))
    ));
    assert_eq!(
        store
            .get_message(stray.session_id, stray.id)
            .await
            .expect("read"),
        None
    );
}

async fn a_sender_claimed_as_member_must_be_one(store: Arc<dyn Store>) {
    let now = Timestamp::now();
    let (ann, admin) = (user("ann"), user("admin"));
    let session = open_group(&store, &[&ann], now).await;
    let claimed = text(&session, &admin, "hello", at(now, 1));
    assert!(matches!(
        append(&store, &claimed, true).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .get_message(session.id, claimed.id)
            .await
            .expect("read"),
        None
    );
    // Staff who are not members post with the membership left alone.
    let staff = text(&session, &admin, "hello", at(now, 2));
    let posted = append(&store, &staff, false).await.expect("posted");
    assert_eq!(posted, Posted::New(numbered(&staff, &posted)));
    assert_eq!(
        store.get_member(session.id, &admin).await.expect("read"),
        None
    );
}

async fn editing_replaces_the_content_and_marks_the_message_edited(store: Arc<dyn Store>) {
    let now = Timestamp::now();
    let ann = user("ann");
    let session = open_group(&store, &[&ann], now).await;
    let original = post(&store, &text(&session, &ann, "helo", at(now, 1))).await;
    let fixed = Edit {
        content: Content::parse("hello").expect("content"),
        moderated: false,
    };
    let edited = store
        .edit_message(session.id, original.id, &fixed, at(now, 2))
        .await
        .expect("edited");
    assert_eq!(
        (edited.content.as_str(), edited.edited_at, edited.moderated),
        ("hello", Some(at(now, 2)), false)
    );
    assert_eq!(
        (edited.id, edited.created_at, &edited.sender_id),
        (original.id, original.created_at, &ann)
    );
    assert_eq!(
        store
            .get_message(session.id, original.id)
            .await
            .expect("read"),
        Some(edited)
    );
    // An edit moderation changed is marked so, and stays marked after a clean one.
    let masked = Edit {
        content: Content::parse("h***o").expect("content"),
        moderated: true,
    };
    for edit in [&masked, &fixed] {
        let edited = store
            .edit_message(session.id, original.id, edit, at(now, 2))
            .await
            .expect("edited");
        assert!(edited.moderated, "{edited:?}");
        let stored = store
            .get_message(session.id, original.id)
            .await
            .expect("read");
        assert_eq!(stored, Some(edited));
    }

    let missing = store
        .edit_message(session.id, MessageId::new(now), &fixed, now)
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound("message"))),
        "{missing:?}"
    );
    store
        .delete_message(session.id, original.id, at(now, 3))
        .await
        .expect("deleted");
    let after_delete = store
        .edit_message(session.id, original.id, &fixed, at(now, 4))
        .await;
    assert!(
        matches!(after_delete, Err(StoreError::Conflict(_))),
        "{after_delete:?}"
    );
}

async fn deleting_is_soft_and_idempotent(store: Arc<dyn Store>) {
    let now = Timestamp::now();
    let ann = user("ann");
    let session = open_group(&store, &[&ann], now).await;
    let message = post(&store, &text(&session, &ann, "oops", at(now, 1))).await;
    let thumbs = Reaction::parse("👍").expect("emoji");
    store
        .set_reaction(session.id, message.id, &thumbs, &ann, true)
        .await
        .expect("reacted");

    let deleted = store
        .delete_message(session.id, message.id, at(now, 2))
        .await
        .expect("deleted");
    assert_eq!(deleted.deleted_at, Some(at(now, 2)));
    assert!(deleted.content.is_empty() && deleted.reactions.is_empty());
    let again = store
        .delete_message(session.id, message.id, at(now, 3))
        .await
        .expect("deleted");
    assert_eq!(again.deleted_at, Some(at(now, 2)));
    let listed = store
        .list_messages(session.id, &MessageQuery::default())
        .await
        .expect("a page");
    assert_eq!(listed.items, vec![deleted]);
    let missing = store
        .delete_message(session.id, MessageId::new(now), now)
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound("message"))),
        "{missing:?}"
    );
}

async fn reactions_are_added_and_removed_per_user(store: Arc<dyn Store>) {
    let now = Timestamp::now();
    let (ann, bob) = (user("ann"), user("bob"));
    let session = open_group(&store, &[&ann, &bob], now).await;
    let message = post(&store, &text(&session, &ann, "news", at(now, 1))).await;
    let (thumbs, heart) = (
        Reaction::parse("👍").expect("emoji"),
        Reaction::parse("❤️").expect("emoji"),
    );
    let react = |reaction: &Reaction, user: &UserId, present: bool| {
        let (store, reaction, user) = (store.clone(), reaction.clone(), user.clone());
        async move {
            store
                .set_reaction(session.id, message.id, &reaction, &user, present)
                .await
        }
    };

    react(&thumbs, &ann, true).await.expect("reacted");
    react(&thumbs, &bob, true).await.expect("reacted");
    react(&heart, &ann, true).await.expect("reacted");
    let twice = react(&thumbs, &ann, true).await.expect("reacted");
    assert_eq!(
        twice.reactions.users(&thumbs).collect::<Vec<_>>(),
        vec![&ann, &bob]
    );
    assert_eq!(
        twice.reactions.users(&heart).collect::<Vec<_>>(),
        vec![&ann]
    );

    let removed = react(&thumbs, &ann, false).await.expect("unreacted");
    assert_eq!(
        removed.reactions.users(&thumbs).collect::<Vec<_>>(),
        vec![&bob]
    );
    let none_left = react(&heart, &ann, false).await.expect("unreacted");
    assert_eq!(none_left.reactions.iter().count(), 1);
    let absent = react(&heart, &bob, false).await.expect("nothing to remove");
    assert_eq!(absent.reactions, none_left.reactions);
    assert_eq!(
        store
            .get_message(session.id, message.id)
            .await
            .expect("read"),
        Some(absent)
    );

    let unknown = store
        .set_reaction(session.id, MessageId::new(now), &thumbs, &ann, true)
        .await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound("message"))),
        "{unknown:?}"
    );
    store
        .delete_message(session.id, message.id, at(now, 2))
        .await
        .expect("deleted");
    assert!(matches!(
        react(&thumbs, &ann, true).await,
        Err(StoreError::Conflict(_))
    ));
}

async fn a_connections_dialect_is_kept_where_it_is_routed_and_where_it_is_broadcast(
    store: Arc<dyn Store>,
) {
    let now = Timestamp::now();
    let ann = user("ann");
    let first = open_group(&store, &[&ann], now).await;
    let second = open_group(&store, &[&ann], now).await;
    let ai = connection("ai", &ann, Some(first.id), now).with_dialect(Dialect::Ai);
    let plain = connection("plain", &ann, Some(first.id), now);
    for c in [&ai, &plain] {
        store.put_connection(c).await.expect("stored");
    }
    let found = store.get_connection(&ai.id, now).await.expect("read");
    assert_eq!(found.map(|c| c.dialect), Some(Dialect::Ai));
    let dialects = |connections: Vec<Connection>| -> Vec<(ConnectionId, Dialect)> {
        let mut seen: Vec<(ConnectionId, Dialect)> =
            connections.into_iter().map(|c| (c.id, c.dialect)).collect();
        seen.sort();
        seen
    };
    let listed = store
        .list_session_connections(first.id, now)
        .await
        .expect("listed");
    assert_eq!(
        dialects(listed),
        vec![
            (ai.id.clone(), Dialect::Ai),
            (plain.id.clone(), Dialect::Canonical)
        ]
    );
    let moved = store
        .bind_connection(&ai.id, Some(second.id))
        .await
        .expect("moved");
    assert_eq!(moved.dialect, Dialect::Ai);
    let listed = store
        .list_session_connections(second.id, now)
        .await
        .expect("listed");
    assert_eq!(dialects(listed), vec![(ai.id.clone(), Dialect::Ai)]);

    // Every dialect comes back as it went in, read alone and in a broadcast's list.
    let third = open_group(&store, &[&ann], now).await;
    let mut each: Vec<(ConnectionId, Dialect)> = Vec::new();
    for dialect in Dialect::ALL {
        let speaker = connection(dialect.as_str(), &ann, Some(third.id), now).with_dialect(dialect);
        store.put_connection(&speaker).await.expect("stored");
        let found = store.get_connection(&speaker.id, now).await.expect("read");
        assert_eq!(found.map(|c| c.dialect), Some(dialect));
        each.push((speaker.id, dialect));
    }
    each.sort();
    let listed = store
        .list_session_connections(third.id, now)
        .await
        .expect("listed");
    assert_eq!(dialects(listed), each);
}

async fn connections_are_stored_found_moved_and_deleted(store: Arc<dyn Store>) {
    let now = Timestamp::now();
    let (ann, bob) = (user("ann"), user("bob"));
    let first = open_group(&store, &[&ann, &bob], now).await;
    let second = open_group(&store, &[&ann], now).await;
    let phone = connection("phone", &ann, Some(first.id), now);
    let laptop = connection("laptop", &bob, Some(first.id), now);
    let idle = connection("idle", &ann, None, now);
    for c in [&phone, &laptop, &idle] {
        store.put_connection(c).await.expect("stored");
    }
    assert_eq!(
        store.get_connection(&phone.id, now).await.expect("read"),
        Some(phone.clone())
    );
    assert_eq!(
        store.get_connection(&idle.id, now).await.expect("read"),
        Some(idle.clone())
    );
    let listed = store
        .list_session_connections(first.id, now)
        .await
        .expect("listed");
    assert_eq!(
        connection_ids(&listed),
        connection_ids(&[phone.clone(), laptop.clone()])
    );

    let moved = store
        .bind_connection(&phone.id, Some(second.id))
        .await
        .expect("moved");
    assert_eq!(moved.session_id, Some(second.id));
    assert_eq!(
        connection_ids(
            &store
                .list_session_connections(first.id, now)
                .await
                .expect("listed")
        ),
        vec![laptop.id.clone()]
    );
    assert_eq!(
        store
            .list_session_connections(second.id, now)
            .await
            .expect("listed"),
        vec![moved.clone()]
    );
    let unbound = store
        .bind_connection(&phone.id, None)
        .await
        .expect("unbound");
    assert_eq!(unbound.session_id, None);
    assert!(
        store
            .list_session_connections(second.id, now)
            .await
            .expect("listed")
            .is_empty()
    );
    assert_eq!(
        store.get_connection(&phone.id, now).await.expect("read"),
        Some(unbound)
    );

    assert_eq!(
        store.delete_connection(&laptop.id).await.expect("deleted"),
        Some(laptop.clone())
    );
    assert_eq!(
        store.delete_connection(&laptop.id).await.expect("deleted"),
        None
    );
    assert_eq!(
        store.get_connection(&laptop.id, now).await.expect("read"),
        None
    );
    assert!(
        store
            .list_session_connections(first.id, now)
            .await
            .expect("listed")
            .is_empty()
    );
    let gone = store.bind_connection(&laptop.id, Some(first.id)).await;
    assert!(
        matches!(gone, Err(StoreError::NotFound("connection"))),
        "{gone:?}"
    );
}

async fn expired_connections_are_left_out(store: Arc<dyn Store>) {
    let now = Timestamp::now();
    let ann = user("ann");
    let session = open_group(&store, &[&ann], now).await;
    let live = connection("live", &ann, Some(session.id), now);
    let lifetime = Connection::MAX_LIFETIME + Connection::EXPIRY_SLACK + Duration::from_secs(60);
    let stale = connection(
        "stale",
        &ann,
        Some(session.id),
        Timestamp::from_unix_millis(now.unix_millis() - lifetime.as_millis() as u64),
    );
    store.put_connection(&live).await.expect("stored");
    store.put_connection(&stale).await.expect("stored");
    assert_eq!(
        store.get_connection(&stale.id, now).await.expect("read"),
        None
    );
    assert_eq!(
        store
            .list_session_connections(session.id, now)
            .await
            .expect("listed"),
        vec![live.clone()]
    );
    // The same connection is gone once its own expiry passes.
    assert_eq!(
        store
            .get_connection(&live.id, live.expires_at)
            .await
            .expect("read"),
        None
    );
    assert!(
        store
            .list_session_connections(session.id, live.expires_at)
            .await
            .expect("listed")
            .is_empty()
    );
}

async fn typing_is_kept_where_the_sessions_connections_are_listed(store: Arc<dyn Store>) {
    let now = Timestamp::now();
    let ann = user("ann");
    let session = open_group(&store, &[&ann], now).await;
    let phone = connection("phone", &ann, Some(session.id), now);
    store.put_connection(&phone).await.expect("stored");
    let until = at(now, 5_000);
    let marked = store
        .set_typing(&phone.id, Some(until), now)
        .await
        .expect("typing")
        .expect("the connection");
    assert_eq!(
        (marked.session_id, marked.typing_until),
        (Some(session.id), Some(until))
    );
    let peers = store.typing_peers(session.id, now).await.expect("listed");
    assert_eq!(
        peers
            .iter()
            .map(|c| (&c.id, c.typing_until))
            .collect::<Vec<_>>(),
        vec![(&phone.id, Some(until))]
    );
    assert!(peers[0].is_typing(now) && !peers[0].is_typing(until));
    store
        .set_typing(&phone.id, None, now)
        .await
        .expect("stopped");
    let peers = store.typing_peers(session.id, now).await.expect("listed");
    assert_eq!(peers[0].typing_until, None);
    // Unbound, it is no one's peer; gone, there is nothing to mark.
    store
        .bind_connection(&phone.id, None)
        .await
        .expect("unbound");
    assert!(
        store
            .typing_peers(session.id, now)
            .await
            .expect("listed")
            .is_empty()
    );
    store.delete_connection(&phone.id).await.expect("deleted");
    assert_eq!(
        store
            .set_typing(&phone.id, Some(until), now)
            .await
            .expect("answered"),
        None
    );
}

fn attachment(session: &Session, uploader: &UserId, name: &str, now: Timestamp) -> Attachment {
    Attachment {
        id: AttachmentId::new(now),
        session_id: session.id,
        uploader_id: uploader.clone(),
        file_name: name.to_owned(),
        content_type: "image/png".to_owned(),
        size: 1_234,
        state: AttachmentState::Pending,
        created_at: now,
    }
}

async fn attachments_are_recorded_marked_ready_and_listed_in_order(store: Arc<dyn Store>) {
    let now = Timestamp::now();
    let ann = user("ann");
    let session = open_group(&store, &[&ann], now).await;
    let files: Vec<Attachment> = (0..3)
        .map(|i| attachment(&session, &ann, &format!("f{i}.png"), at(now, i)))
        .collect();
    for file in &files {
        store.put_attachment(file).await.expect("recorded");
    }
    assert_eq!(
        store
            .get_attachment(session.id, files[1].id)
            .await
            .expect("read"),
        Some(files[1].clone())
    );
    let again = store.put_attachment(&files[1]).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");

    let ready = store
        .mark_attachment_ready(session.id, files[1].id)
        .await
        .expect("ready");
    assert_eq!(
        ready,
        Attachment {
            state: AttachmentState::Ready,
            ..files[1].clone()
        }
    );
    assert_eq!(
        store
            .mark_attachment_ready(session.id, files[1].id)
            .await
            .expect("ready"),
        ready
    );
    let missing = store
        .mark_attachment_ready(session.id, AttachmentId::new(now))
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound("attachment"))),
        "{missing:?}"
    );
    assert_eq!(
        store
            .get_attachment(session.id, AttachmentId::new(now))
            .await
            .expect("read"),
        None
    );

    let first = store
        .list_attachments(session.id, None, limit(2))
        .await
        .expect("a page");
    assert_eq!(
        first.items.iter().map(|a| a.id).collect::<Vec<_>>(),
        vec![files[0].id, files[1].id]
    );
    assert!(first.next_cursor.is_some());
    let rest = store
        .list_attachments(session.id, Some(files[1].id), limit(2))
        .await
        .expect("a page");
    assert_eq!(
        (
            rest.items.iter().map(|a| a.id).collect::<Vec<_>>(),
            rest.next_cursor
        ),
        (vec![files[2].id], None)
    );
    let other = open_group(&store, &[&ann], now).await;
    assert!(
        store
            .list_attachments(other.id, None, limit(2))
            .await
            .expect("a page")
            .items
            .is_empty()
    );
}

async fn an_attachment_is_refused_by_an_ended_or_unknown_session(store: Arc<dyn Store>) {
    let now = Timestamp::now();
    let ann = user("ann");
    let session = open_group(&store, &[&ann], now).await;
    store.end_session(session.id, now).await.expect("ended");
    let late = attachment(&session, &ann, "late.png", now);
    assert!(matches!(
        store.put_attachment(&late).await,
        Err(StoreError::SessionEnded)
    ));
    assert_eq!(
        store
            .get_attachment(session.id, late.id)
            .await
            .expect("read"),
        None
    );
    let stray = Attachment {
        session_id: SessionId::new(now),
        ..late
    };
    assert!(matches!(
        store.put_attachment(&stray).await,
        Err(StoreError::NotFound("session"))
    ));
}

/// Races `RACERS` creations of sessions from `spec` and checks exactly one wins.
async fn race_creations(store: &Arc<dyn Store>, spec: SessionSpec) -> Session {
    let now = Timestamp::now();
    let attempts = (0..RACERS).map(|_| {
        let (store, spec) = (store.clone(), spec.clone());
        tokio::spawn(async move {
            let session = Session::open(SessionId::new(now), spec, now).expect("a valid session");
            let owner = Member::new(
                session.id,
                session.owner_id.clone(),
                MemberRole::Owner,
                None,
                now,
            );
            store
                .create_session(&session, &[owner])
                .await
                .expect("created or found")
        })
    });
    let outcomes: Vec<Created> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|joined| joined.expect("the task finished"))
        .collect();
    let winners: Vec<&Session> = outcomes
        .iter()
        .filter_map(|c| match c {
            Created::New(session) => Some(session),
            Created::Existing(_) => None,
        })
        .collect();
    assert_eq!(winners.len(), 1, "exactly one creation wins: {outcomes:?}");
    let winner = winners[0].clone();
    assert!(
        outcomes.iter().all(|c| c.session().id == winner.id),
        "every loser gets the winner"
    );
    winner
}

async fn one_active_bot_session_per_user_and_chatbot_holds_under_concurrent_creation(
    store: Arc<dyn Store>,
) {
    let ann = unique_user("ann");
    let mut bot = spec(SessionKind::Bot, &ann);
    bot.chatbot_id = Some(ChatbotId::parse("helper").expect("id"));
    let first = race_creations(&store, bot.clone()).await;

    let mut other_bot = bot.clone();
    other_bot.chatbot_id = Some(ChatbotId::parse("other").expect("id"));
    assert_ne!(race_creations(&store, other_bot).await.id, first.id);

    // Once it ends, the next one may start.
    store
        .end_session(first.id, Timestamp::now())
        .await
        .expect("ended");
    let second = race_creations(&store, bot).await;
    assert_ne!(second.id, first.id);
    assert_eq!(
        store.list_members(second.id).await.expect("listed").len(),
        1
    );
}

async fn one_active_support_session_per_visitor_and_business_holds_under_concurrent_creation(
    store: Arc<dyn Store>,
) {
    let visitor = unique_user("visitor");
    let mut support = spec(SessionKind::Support, &visitor);
    support.business_id = Some(BusinessId::parse("acme").expect("id"));
    let first = race_creations(&store, support.clone()).await;
    let mut elsewhere = support.clone();
    elsewhere.business_id = Some(BusinessId::parse("globex").expect("id"));
    assert_ne!(race_creations(&store, elsewhere).await.id, first.id);
    store
        .end_session(first.id, Timestamp::now())
        .await
        .expect("ended");
    assert_ne!(race_creations(&store, support).await.id, first.id);
}

async fn a_client_message_id_makes_sending_idempotent_under_concurrency(store: Arc<dyn Store>) {
    let now = Timestamp::now();
    let (ann, bob) = (user("ann"), user("bob"));
    let session = open_group(&store, &[&ann, &bob], now).await;
    let client_id = ClientMsgId::parse("retry-me").expect("id");
    let sends = (0..RACERS).map(|i| {
        let store = store.clone();
        let mut message = text(&session, &ann, &format!("attempt {i}"), at(now, i as u64));
        message.client_msg_id = Some(client_id.clone());
        tokio::spawn(async move {
            append(&store, &message, true)
                .await
                .expect("posted or found")
        })
    });
    let outcomes: Vec<Posted> = futures::future::join_all(sends)
        .await
        .into_iter()
        .map(|joined| joined.expect("the task finished"))
        .collect();
    let new: Vec<&Posted> = outcomes
        .iter()
        .filter(|p| matches!(p, Posted::New(_)))
        .collect();
    assert_eq!(
        new.len(),
        1,
        "exactly one send stores a message: {outcomes:?}"
    );
    let original = new[0].message().clone();
    assert!(
        outcomes.iter().all(|p| p.message() == &original),
        "every retry gets the original"
    );
    let listed = store
        .list_messages(session.id, &MessageQuery::default())
        .await
        .expect("a page");
    assert_eq!(listed.items, vec![original.clone()]);

    // The id is the sender's own: another member may use the same one.
    let mut bobs = text(&session, &bob, "mine", at(now, 100));
    bobs.client_msg_id = Some(client_id);
    let posted = append(&store, &bobs, true).await.expect("posted");
    assert_eq!(posted, Posted::New(numbered(&bobs, &posted)));
}

async fn one_bot_reply_at_a_time_holds_the_slot_until_it_finishes_or_goes_stale(
    store: Arc<dyn Store>,
) {
    let now = Timestamp::now();
    let session = SessionId::new(now);
    let long_ago = now.minus(Duration::from_secs(120));
    let (first, second) = (MessageId::new(now), MessageId::new(now));
    assert_eq!(store.get_reply(session).await.expect("read"), None);
    assert_eq!(
        store.request_stop(session).await.expect("stop"),
        None,
        "nothing to stop"
    );
    let stale_before = now.minus(Duration::from_secs(60));
    assert!(
        store
            .start_reply(session, first, now, stale_before)
            .await
            .expect("start")
    );
    assert!(
        !store
            .start_reply(session, second, now, stale_before)
            .await
            .expect("refused")
    );
    let reply = store
        .get_reply(session)
        .await
        .expect("read")
        .expect("in progress");
    assert_eq!((reply.response_id, reply.stop_requested), (first, false));

    assert_eq!(
        store.request_stop(session).await.expect("stop"),
        Some(first)
    );
    assert!(
        store
            .get_reply(session)
            .await
            .expect("read")
            .expect("still held")
            .stop_requested
    );

    // Another reply's finish frees nothing; its own does.
    store.finish_reply(session, second).await.expect("no-op");
    assert!(store.get_reply(session).await.expect("read").is_some());
    store.finish_reply(session, first).await.expect("finished");
    assert_eq!(store.get_reply(session).await.expect("read"), None);

    // A reply whose bot died is replaced once it is older than the staleness bound.
    assert!(
        store
            .start_reply(session, first, long_ago, stale_before)
            .await
            .expect("start")
    );
    let later = at(now, 1);
    assert!(
        store
            .start_reply(session, second, later, now)
            .await
            .expect("replaced")
    );
    assert_eq!(
        store
            .get_reply(session)
            .await
            .expect("read")
            .expect("held")
            .response_id,
        second
    );
}

async fn a_file_message_keeps_its_attachment(store: Arc<dyn Store>) {
    let now = Timestamp::now();
    let ann = unique_user("ann");
    let session = open_group(&store, &[&ann], now).await;
    let mut file = attachment(&session, &ann, "plan.pdf", now);
    store.put_attachment(&file).await.expect("recorded");
    file.state = AttachmentState::Ready;
    let message = Message::file(
        chat_core::domain::MessageKind::File,
        file.clone(),
        Some(&Content::parse("the plan").expect("content")),
        None,
        at(now, 1),
    );
    let stored = post(&store, &message).await;
    assert_eq!(stored.attachment.as_ref(), Some(&file));
    let read = store
        .get_message(session.id, message.id)
        .await
        .expect("read")
        .expect("found");
    assert_eq!(read, stored);
}

async fn messages_take_the_next_seq_and_a_stale_seq_is_refused(store: Arc<dyn Store>) {
    let now = Timestamp::now();
    let ann = user("ann");
    let session = open_group(&store, &[&ann], now).await;
    let first = post(&store, &text(&session, &ann, "one", at(now, 1))).await;
    let second = post(&store, &text(&session, &ann, "two", at(now, 2))).await;
    assert_eq!((first.seq, second.seq), (1, 2));
    // Written after a seq that is no longer the last: refused, nothing stored.
    let mut late = text(&session, &ann, "late", at(now, 3));
    late.seq = 2;
    let stale = store
        .put_message(
            &late,
            &Append {
                sender_is_member: true,
                ..Append::after(1)
            },
        )
        .await;
    assert!(matches!(stale, Err(StoreError::Stale("seq"))), "{stale:?}");
    assert_eq!(
        store.get_message(session.id, late.id).await.expect("read"),
        None
    );
    let listed = store
        .list_messages(
            session.id,
            &MessageQuery {
                after_seq: Some(1),
                ..Default::default()
            },
        )
        .await
        .expect("listed");
    assert_eq!(listed.items, vec![second]);
}

async fn the_senders_bucket_is_read_and_written_with_the_message(store: Arc<dyn Store>) {
    let now = Timestamp::now();
    let ann = unique_user("ann");
    let session = open_group(&store, &[&ann], now).await;
    let key = SenderKey::Member {
        session: session.id,
        user: ann.clone(),
    };
    let read = store.read_sender(&key, now).await.expect("read");
    assert_eq!(read.session.as_ref().map(|s| s.id), Some(session.id));
    assert_eq!(read.member.as_ref().map(|m| &m.user_id), Some(&ann));
    assert_eq!(read.user_bucket, None);
    let mut message = text(&session, &ann, "counted", at(now, 1));
    message.seq = 1;
    let drawn = |previous, next| Append {
        sender_is_member: true,
        user_bucket: Some(BucketUpdate {
            owner: ann.clone(),
            previous,
            next,
        }),
        ..Append::after(0)
    };
    store
        .put_message(&message, &drawn(None, 5_000))
        .await
        .expect("posted");
    let read = store.read_sender(&key, now).await.expect("read");
    assert_eq!(read.user_bucket, Some(5_000));
    // A write computed from a bucket that has moved since is stale.
    let mut next = text(&session, &ann, "raced", at(now, 2));
    next.seq = 2;
    let mut append = drawn(None, 6_000);
    append.after_seq = 1;
    let stale = store.put_message(&next, &append).await;
    assert!(
        matches!(stale, Err(StoreError::Stale("bucket"))),
        "{stale:?}"
    );
    append.user_bucket = Some(BucketUpdate {
        owner: ann.clone(),
        previous: Some(5_000),
        next: 6_000,
    });
    store.put_message(&next, &append).await.expect("posted");
    let read = store.read_sender(&key, now).await.expect("read");
    assert_eq!(read.user_bucket, Some(6_000));
}

async fn a_connections_bucket_and_strikes_go_with_its_routing_item(store: Arc<dyn Store>) {
    let now = Timestamp::now();
    let ann = unique_user("ann");
    let session = open_group(&store, &[&ann], now).await;
    let principal = Principal {
        user_id: ann.clone(),
        role: Role::User,
        name: None,
        org: None,
    };
    let id = ConnectionId::parse(&format!("c{}", SessionId::new(now))).expect("an id");
    let connection = Connection::new(id.clone(), principal, Some(session.id), now);
    store.put_connection(&connection).await.expect("stored");
    store.set_strikes(&id, 2).await.expect("struck");
    let key = SenderKey::Connection {
        id: id.clone(),
        user: ann.clone(),
    };
    let read = store.read_sender(&key, now).await.expect("read");
    let found = read.connection.expect("the connection");
    assert_eq!((found.strikes, found.send_bucket), (2, None));
    let mut message = text(&session, &ann, "from the socket", at(now, 1));
    message.seq = 1;
    let append = Append {
        sender_is_member: true,
        connection_bucket: Some(BucketUpdate {
            owner: id.clone(),
            previous: None,
            next: 9_000,
        }),
        ..Append::after(0)
    };
    store.put_message(&message, &append).await.expect("posted");
    let found = store
        .read_sender(&key, now)
        .await
        .expect("read")
        .connection
        .expect("the connection");
    assert_eq!((found.strikes, found.send_bucket), (0, Some(9_000)));
    store.delete_connection(&id).await.expect("deleted");
    assert!(matches!(
        store.set_strikes(&id, 1).await,
        Err(StoreError::NotFound("connection"))
    ));
}

async fn a_business_secret_is_read_back_and_replaced_by_the_next(store: Arc<dyn Store>) {
    let business = BusinessId::parse(&format!("biz-{}", SessionId::new(Timestamp::now())))
        .expect("a valid id");
    assert_eq!(
        store.get_business_secret(&business).await.expect("read"),
        None
    );
    let secret = |at| BusinessSecret {
        business_id: business.clone(),
        secret: CustomerSecret::generate(),
        created_at: at,
    };
    let first = secret(Timestamp::from_unix_millis(1_000));
    store.put_business_secret(&first).await.expect("stored");
    assert_eq!(
        store.get_business_secret(&business).await.expect("read"),
        Some(first.clone())
    );
    let second = secret(Timestamp::from_unix_millis(2_000));
    store.put_business_secret(&second).await.expect("replaced");
    let read = store.get_business_secret(&business).await.expect("read");
    assert_eq!(read, Some(second));
    assert_ne!(read.map(|s| s.secret), Some(first.secret));
}

async fn a_chatbot_is_created_once_replaced_only_as_last_read_listed_and_deleted(
    store: Arc<dyn Store>,
) {
    let suffix = SessionId::new(Timestamp::now()).to_string().to_lowercase();
    let chatbot = |id: &str, at: u64| Chatbot {
        id: ChatbotId::parse(&format!("{id}-{suffix}")).expect("a valid id"),
        name: DisplayName::parse("Helper").ok().flatten().expect("a name"),
        system_prompt: SystemPrompt::parse("Answer briefly.").expect("a prompt"),
        greeting: Some(Greeting::parse("Hello!").expect("a greeting")),
        model: Some(ModelName::parse("gpt-4o-mini").expect("a model")),
        max_tokens: 512,
        temperature: Some(Temperature::parse(0.3).expect("a temperature")),
        show_reasoning: true,
        active: true,
        created_at: Timestamp::from_unix_millis(1_000),
        updated_at: Timestamp::from_unix_millis(at),
    };
    let first = chatbot("helper", 1_000);
    assert_eq!(store.get_chatbot(&first.id).await.expect("read"), None);
    assert!(
        store
            .put_chatbot(&first, ChatbotWrite::Create)
            .await
            .expect("written")
    );
    assert!(
        !store
            .put_chatbot(&first, ChatbotWrite::Create)
            .await
            .expect("refused"),
        "an id is taken once"
    );
    assert_eq!(
        store.get_chatbot(&first.id).await.expect("read"),
        Some(first.clone())
    );

    let edited = Chatbot {
        active: false,
        greeting: None,
        ..chatbot("helper", 2_000)
    };
    let stale = ChatbotWrite::Replace {
        updated_at: Timestamp::from_unix_millis(999),
    };
    assert!(!store.put_chatbot(&edited, stale).await.expect("refused"));
    let current = ChatbotWrite::Replace {
        updated_at: first.updated_at,
    };
    assert!(store.put_chatbot(&edited, current).await.expect("written"));
    assert!(
        !store.put_chatbot(&edited, current).await.expect("refused"),
        "a second edit from the same read loses"
    );
    assert_eq!(
        store.get_chatbot(&first.id).await.expect("read"),
        Some(edited.clone())
    );
    let missing = chatbot("nobody", 1_000);
    assert!(
        !store
            .put_chatbot(
                &missing,
                ChatbotWrite::Replace {
                    updated_at: missing.updated_at
                }
            )
            .await
            .expect("refused"),
        "only a stored chatbot is replaced"
    );

    let other = chatbot("another", 1_000);
    store
        .put_chatbot(&other, ChatbotWrite::Create)
        .await
        .expect("written");
    let listed: Vec<Chatbot> = store
        .list_chatbots()
        .await
        .expect("listed")
        .into_iter()
        .filter(|c| c.id.as_str().ends_with(&suffix))
        .collect();
    assert_eq!(listed, vec![other.clone(), edited.clone()], "by id");

    assert!(store.delete_chatbot(&first.id).await.expect("deleted"));
    assert!(!store.delete_chatbot(&first.id).await.expect("gone"));
    assert_eq!(store.get_chatbot(&first.id).await.expect("read"), None);
}

async fn a_window_counts_to_its_limit_then_starts_again(store: Arc<dyn Store>) {
    let now = Timestamp::now();
    let key = format!("test#{}", SessionId::new(now));
    let count = |window| WindowCount {
        key: key.clone(),
        window,
        limit: 2,
        ends_at: at(now, 60_000),
    };
    assert!(store.count_in_window(&count(1)).await.expect("counted"));
    assert!(store.count_in_window(&count(1)).await.expect("counted"));
    assert!(!store.count_in_window(&count(1)).await.expect("full"));
    assert!(
        store
            .count_in_window(&count(2))
            .await
            .expect("a new window")
    );
}

async fn the_feed_holds_the_last_seq_and_the_live_connections(store: Arc<dyn Store>) {
    let now = Timestamp::now();
    let ann = unique_user("ann");
    let session = open_group(&store, &[&ann], now).await;
    let empty = store.session_feed(session.id, now).await.expect("a feed");
    assert_eq!(
        (empty.last_seq, empty.wants_bot, empty.connections.len()),
        (0, Some(false), 0)
    );
    post(&store, &text(&session, &ann, "one", at(now, 1))).await;
    let principal = Principal {
        user_id: ann.clone(),
        role: Role::User,
        name: None,
        org: None,
    };
    let id = ConnectionId::parse(&format!("f{}", SessionId::new(now))).expect("an id");
    store
        .put_connection(&Connection::new(
            id.clone(),
            principal,
            Some(session.id),
            now,
        ))
        .await
        .expect("stored");
    let feed = store.session_feed(session.id, now).await.expect("a feed");
    assert_eq!(feed.last_seq, 1);
    assert_eq!(
        feed.connections.iter().map(|c| &c.id).collect::<Vec<_>>(),
        vec![&id]
    );
    let later =
        now.plus(Connection::MAX_LIFETIME + Connection::EXPIRY_SLACK + Duration::from_secs(1));
    assert!(
        store
            .session_feed(session.id, later)
            .await
            .expect("a feed")
            .connections
            .is_empty()
    );
}

async fn a_message_sharing_a_file_makes_it_ready_in_its_own_write(store: Arc<dyn Store>) {
    let now = Timestamp::now();
    let ann = user("ann");
    let session = open_group(&store, &[&ann], now).await;
    let file = attachment(&session, &ann, "f.png", now);
    store.put_attachment(&file).await.expect("recorded");
    let sharing = |file: &Attachment, at_ms| Message {
        attachment: Some(Attachment {
            state: AttachmentState::Ready,
            ..file.clone()
        }),
        ..text(&session, &ann, "the file", at(now, at_ms))
    };
    let shared = append(&store, &sharing(&file, 1), true)
        .await
        .expect("posted");
    assert!(matches!(shared, Posted::New(_)), "{shared:?}");
    let read = store
        .get_attachment(session.id, file.id)
        .await
        .expect("read");
    assert_eq!(read.map(|f| f.state), Some(AttachmentState::Ready));

    // A file with no record (never announced, or swept) is refused with the message.
    let missing = attachment(&session, &ann, "gone.png", at(now, 2));
    let orphan = sharing(&missing, 3);
    let refused = append(&store, &orphan, true).await;
    assert!(
        matches!(refused, Err(StoreError::NotFound(_))),
        "{refused:?}"
    );
    assert_eq!(
        store
            .get_message(session.id, orphan.id)
            .await
            .expect("read"),
        None
    );
    assert_eq!(
        store
            .get_attachment(session.id, missing.id)
            .await
            .expect("read"),
        None
    );
}

async fn a_message_counted_against_a_full_window_is_refused_and_not_stored(store: Arc<dyn Store>) {
    let now = Timestamp::now();
    let ann = user("ann");
    let session = open_group(&store, &[&ann], now).await;
    let count = WindowCount {
        key: format!("bot#{}", SessionId::new(now)),
        window: 7,
        limit: 1,
        ends_at: at(now, 60_000),
    };
    let counted = |after_seq| Append {
        sender_is_member: true,
        window: Some(count.clone()),
        ..Append::after(after_seq)
    };
    let mut first = text(&session, &ann, "one", at(now, 1));
    first.seq = 1;
    store
        .put_message(&first, &counted(0))
        .await
        .expect("posted");
    let mut second = text(&session, &ann, "two", at(now, 2));
    second.seq = 2;
    let refused = store.put_message(&second, &counted(1)).await;
    assert!(matches!(refused, Err(StoreError::Full)), "{refused:?}");
    assert_eq!(
        store
            .get_message(session.id, second.id)
            .await
            .expect("read"),
        None
    );
    assert!(!store.count_in_window(&count).await.expect("full"));
}

async fn connections_join_only_a_reply_in_progress_and_a_new_reply_starts_with_none(
    store: Arc<dyn Store>,
) {
    let now = Timestamp::now();
    let session = SessionId::new(now);
    let (ann, bob) = (
        ConnectionId::parse("conn-ann").expect("an id"),
        ConnectionId::parse("conn-bob").expect("an id"),
    );
    assert!(
        !store.join_reply(session, &ann).await.expect("no reply"),
        "there is no reply to join"
    );
    assert_eq!(store.get_reply(session).await.expect("read"), None);

    let stale_before = now.minus(Duration::from_secs(60));
    let first = MessageId::new(now);
    assert!(
        store
            .start_reply(session, first, now, stale_before)
            .await
            .expect("start")
    );
    for joiner in [&ann, &bob, &ann] {
        assert!(store.join_reply(session, joiner).await.expect("joined"));
    }
    let reply = store
        .get_reply(session)
        .await
        .expect("read")
        .expect("in progress");
    assert_eq!(
        reply.joiners.into_iter().collect::<Vec<_>>(),
        vec![ann.clone(), bob.clone()]
    );

    // A reply that takes over a stale slot has no joiners of the one before.
    let second = MessageId::new(at(now, 1));
    assert!(
        store
            .start_reply(session, second, at(now, 1), at(now, 1))
            .await
            .expect("replaced")
    );
    let reply = store
        .get_reply(session)
        .await
        .expect("read")
        .expect("in progress");
    assert_eq!((reply.response_id, reply.joiners.len()), (second, 0));
    store.finish_reply(session, second).await.expect("finished");
    assert!(!store.join_reply(session, &bob).await.expect("no reply"));
    assert_eq!(store.get_reply(session).await.expect("read"), None);
}

async fn a_replys_tokens_add_to_its_askers_day_read_with_the_sender_and_listed_by_user(
    store: Arc<dyn Store>,
) {
    let now = Timestamp::parse("2001-02-03T10:00:00Z").expect("a time");
    let day = Day::of(now);
    let (ann, bob) = (unique_user("ann"), unique_user("bob"));
    let session = open_group(&store, &[&ann, &bob], now).await;
    let charge = |user: &UserId, tokens| Append {
        usage: Some(UsageCharge {
            user: user.clone(),
            day,
            tokens,
        }),
        ..Append::after(0)
    };
    let bot = user("bot");
    let replies = [(&ann, 120), (&bob, 7), (&ann, 30)];
    for ((asker, tokens), seq) in replies.into_iter().zip(0..) {
        let mut reply = text(&session, &bot, "an answer", at(now, seq));
        reply.seq = seq + 1;
        let append = Append {
            after_seq: seq,
            ..charge(asker, tokens)
        };
        store.put_message(&reply, &append).await.expect("stored");
    }
    // A write refused as stale charges nothing.
    let mut late = text(&session, &bot, "too late", at(now, 9));
    late.seq = 1;
    assert!(matches!(
        store.put_message(&late, &charge(&ann, 1_000)).await,
        Err(StoreError::Stale(_))
    ));

    let anns = store
        .get_usage(&ann, day)
        .await
        .expect("read")
        .expect("used");
    assert_eq!((anns.tokens, anns.replies, anns.day), (150, 2, day));
    let other_day = Day::of(at(now, 24 * 3_600_000));
    assert_eq!(store.get_usage(&ann, other_day).await.expect("read"), None);

    let member = |user: &UserId| SenderKey::Member {
        session: session.id,
        user: user.clone(),
    };
    let read = store.read_sender(&member(&ann), at(now, 60_000)).await;
    assert_eq!(read.expect("read").tokens_today, 150);
    let tomorrow = at(now, 24 * 3_600_000);
    let read = store.read_sender(&member(&ann), tomorrow).await;
    assert_eq!(read.expect("read").tokens_today, 0, "a new day starts at 0");

    // The day's users, one page at a time, in id order.
    let mut listed = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_usage(day, after.as_ref(), PageLimit::new(1).expect("a limit"))
            .await
            .expect("a page");
        listed.extend(
            page.items
                .iter()
                .filter(|u| [&ann, &bob].contains(&&u.user_id))
                .cloned(),
        );
        match page.next_cursor {
            Some(cursor) => after = Some(Usage::after_cursor(&cursor).expect("ours")),
            None => break,
        }
    }
    let mut expected = vec![
        Usage {
            tokens: 150,
            replies: 2,
            ..Usage::none(ann.clone(), day)
        },
        Usage {
            tokens: 7,
            replies: 1,
            ..Usage::none(bob.clone(), day)
        },
    ];
    expected.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    assert_eq!(listed, expected);
    let empty = store
        .list_usage(other_day, None, PageLimit::DEFAULT)
        .await
        .expect("a page");
    assert!(
        empty
            .items
            .iter()
            .all(|u| u.user_id != ann && u.user_id != bob)
    );
}

/// A session of `kind` (bot or support get what they need), created at `now`.
async fn open_kind(store: &Arc<dyn Store>, kind: SessionKind, now: Timestamp) -> Session {
    let owner = unique_user("sweepee");
    let session = Session::open(
        SessionId::new(now),
        SessionSpec {
            chatbot_id: (kind == SessionKind::Bot)
                .then(|| ChatbotId::parse("helper").expect("an id")),
            business_id: (kind == SessionKind::Support)
                .then(|| BusinessId::parse("acme").expect("an id")),
            ..spec(kind, &owner)
        },
        now,
    )
    .expect("a valid session");
    let created = store
        .create_session(&session, &members_of(&session, &[&owner], now))
        .await;
    assert_eq!(created.expect("created"), Created::New(session.clone()));
    session
}

async fn idle_bot_and_support_sessions_are_listed_oldest_first_and_end_once_only_while_idle(
    store: Arc<dyn Store>,
) {
    let hour = Duration::from_secs(3_600);
    // Long ago, so that no other session of the table is older.
    let t0 = Timestamp::from_unix_millis(Timestamp::now().unix_millis() - 30 * 86_400_000);
    let bot = open_kind(&store, SessionKind::Bot, t0).await;
    let support = open_kind(&store, SessionKind::Support, t0.plus(hour)).await;
    let group = open_kind(&store, SessionKind::Group, t0).await;
    let recent = open_kind(&store, SessionKind::Bot, t0.plus(hour * 5)).await;
    let before = t0.plus(hour * 3);
    let idle = store.idle_sessions(before, 10).await.expect("read");
    assert_eq!(
        idle,
        vec![bot.id, support.id],
        "groups last; the recent one is not idle"
    );
    assert!(!idle.contains(&group.id) && !idle.contains(&recent.id));
    assert_eq!(
        store.idle_sessions(before, 1).await.expect("read"),
        vec![bot.id]
    );

    // A message since makes the support session active again: it is not ended.
    let message = text(&support, &support.owner_id, "still here", t0.plus(hour * 4));
    append(&store, &message, true).await.expect("stored");
    let now = t0.plus(hour * 6);
    assert_eq!(
        store
            .end_idle_session(support.id, before, now)
            .await
            .expect("read"),
        None
    );
    assert!(
        !store
            .idle_sessions(before, 10)
            .await
            .expect("read")
            .contains(&support.id)
    );

    let ended = store
        .end_idle_session(bot.id, before, now)
        .await
        .expect("written")
        .expect("ended");
    assert!(ended.is_ended());
    assert_eq!(ended.ended_at, Some(now));
    assert_eq!(
        store
            .end_idle_session(bot.id, before, now)
            .await
            .expect("read"),
        None,
        "ended once"
    );
    assert_eq!(store.get_session(bot.id).await.expect("read"), Some(ended));
    assert!(
        store
            .idle_sessions(before, 10)
            .await
            .expect("read")
            .is_empty()
    );
    // Its active scope is free: the user's next session with the chatbot is a new one.
    assert!(matches!(
        store.end_session(bot.id, now).await,
        Err(StoreError::SessionEnded)
    ));
    // Ending by hand takes a session out of the list too.
    store.end_session(recent.id, now).await.expect("ended");
    assert!(
        store
            .idle_sessions(t0.plus(hour * 100), 10)
            .await
            .expect("read")
            .iter()
            .all(|id| *id == support.id)
    );
}

async fn a_business_queue_lists_its_open_support_sessions_newest_first(store: Arc<dyn Store>) {
    let now = Timestamp::now();
    let acme = BusinessId::parse("acme").expect("an id");
    let first = open_kind(&store, SessionKind::Support, now).await;
    let second = open_kind(&store, SessionKind::Support, at(now, 5)).await;
    open_kind(&store, SessionKind::Bot, at(now, 10)).await;
    let ids = |sessions: Vec<Session>| sessions.iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.open_support_sessions(&acme, 10).await.expect("read")),
        vec![second.id, first.id]
    );
    assert_eq!(
        ids(store.open_support_sessions(&acme, 1).await.expect("read")),
        vec![second.id]
    );
    let other = BusinessId::parse("globex").expect("an id");
    assert!(
        store
            .open_support_sessions(&other, 10)
            .await
            .expect("read")
            .is_empty()
    );
    store
        .end_session(second.id, at(now, 20))
        .await
        .expect("ended");
    assert_eq!(
        ids(store.open_support_sessions(&acme, 10).await.expect("read")),
        vec![first.id],
        "an ended session leaves the queue"
    );
}

async fn stale_uploads_and_expired_connections_are_listed_and_removed_once(store: Arc<dyn Store>) {
    let day = Duration::from_secs(86_400);
    let t0 = Timestamp::from_unix_millis(Timestamp::now().unix_millis() - 30 * 86_400_000);
    let ann = unique_user("ann");
    let session = open_group(&store, &[&ann], t0).await;
    let old = attachment(&session, &ann, "old.png", t0);
    let sent = attachment(&session, &ann, "sent.png", at(t0, 1));
    let fresh = attachment(&session, &ann, "fresh.png", t0.plus(day * 2));
    for file in [&old, &sent, &fresh] {
        store.put_attachment(file).await.expect("stored");
    }
    store
        .mark_attachment_ready(session.id, sent.id)
        .await
        .expect("ready");
    let before = t0.plus(day);
    assert_eq!(
        store.stale_uploads(before, 10).await.expect("read"),
        vec![(session.id, old.id)],
        "a sent one is not stale, nor a recent one"
    );
    assert!(
        !store
            .remove_stale_upload(session.id, sent.id)
            .await
            .expect("read")
    );
    assert!(
        store
            .remove_stale_upload(session.id, old.id)
            .await
            .expect("removed")
    );
    assert!(
        !store
            .remove_stale_upload(session.id, old.id)
            .await
            .expect("read")
    );
    assert_eq!(
        store
            .get_attachment(session.id, old.id)
            .await
            .expect("read"),
        None
    );
    assert!(
        store
            .stale_uploads(before, 10)
            .await
            .expect("read")
            .is_empty()
    );
    assert!(
        store
            .get_attachment(session.id, sent.id)
            .await
            .expect("read")
            .is_some()
    );

    let dead = connection("dead", &ann, Some(session.id), t0);
    let live = connection("live", &ann, Some(session.id), Timestamp::now());
    for socket in [&dead, &live] {
        store.put_connection(socket).await.expect("stored");
    }
    let expired = store
        .expired_connections(Timestamp::now(), 10)
        .await
        .expect("read");
    assert_eq!(expired, vec![dead.id.clone()]);
    assert!(
        store
            .delete_connection(&dead.id)
            .await
            .expect("deleted")
            .is_some()
    );
    assert!(
        store
            .expired_connections(Timestamp::now(), 10)
            .await
            .expect("read")
            .is_empty()
    );
    assert_eq!(
        connection_ids(
            &store
                .list_session_connections(session.id, Timestamp::now())
                .await
                .expect("read")
        ),
        vec![live.id.clone()]
    );
}

async fn a_library_lists_its_owners_documents_and_records_how_their_indexing_ended(
    store: Arc<dyn Store>,
) {
    let now = Timestamp::now();
    let (ann, bob) = (unique_user("ann"), unique_user("bob"));
    let document = |id: AttachmentId, name: &str| LibraryDocument {
        document_id: id,
        owner_id: ann.clone(),
        file_name: name.to_owned(),
        content_type: "text/plain".to_owned(),
        size: 12,
        added_at: now,
        state: DocumentState::Indexing,
    };
    let (first, second) = (AttachmentId::new(now), AttachmentId::new(at(now, 1)));
    assert!(store.library(&ann).await.expect("read").is_empty());
    store
        .add_library_document(&document(second, "b.txt"))
        .await
        .expect("added");
    store
        .add_library_document(&document(first, "a.txt"))
        .await
        .expect("added");
    assert!(
        matches!(
            store
                .add_library_document(&document(first, "again.txt"))
                .await,
            Err(StoreError::Conflict(_))
        ),
        "an id is added once"
    );
    let listed = store.library(&ann).await.expect("read");
    assert_eq!(
        listed,
        vec![document(first, "a.txt"), document(second, "b.txt")]
    );
    assert!(store.library(&bob).await.expect("read").is_empty());
    assert_eq!(
        store.library_document(&bob, first).await.expect("read"),
        None,
        "a library is its owner's"
    );

    let indexed = DocumentState::Indexed { chunks: 3 };
    assert!(
        store
            .set_library_state(&ann, first, indexed)
            .await
            .expect("written")
    );
    assert!(
        store
            .set_library_state(&ann, second, DocumentState::Unreadable)
            .await
            .expect("written")
    );
    let read = store.library_document(&ann, first).await.expect("read");
    assert_eq!(read.map(|d| d.state), Some(indexed));
    assert_eq!(
        store
            .library(&ann)
            .await
            .expect("read")
            .iter()
            .map(|d| d.state)
            .collect::<Vec<_>>(),
        vec![indexed, DocumentState::Unreadable]
    );

    assert!(
        !store
            .remove_library_document(&bob, first)
            .await
            .expect("read")
    );
    assert!(
        store
            .remove_library_document(&ann, first)
            .await
            .expect("removed")
    );
    assert!(
        !store
            .remove_library_document(&ann, first)
            .await
            .expect("read")
    );
    assert!(
        !store
            .set_library_state(&ann, first, indexed)
            .await
            .expect("read"),
        "a removed document is not brought back"
    );
    assert_eq!(
        store.library_document(&ann, first).await.expect("read"),
        None
    );
    assert_eq!(store.library(&ann).await.expect("read").len(), 1);

    // Each document's index is a scope of its own, keyed by its owner too.
    let scope = DocumentScope::Library {
        owner: ann.clone(),
        document: second,
    };
    let chunk = IndexedDocument {
        attachment_id: second,
        file_name: "b.txt".to_owned(),
        chunks: vec![(
            "boiler".to_owned(),
            std::iter::once(("boiler".to_owned(), 1_000)).collect(),
        )],
        embeddings: Vec::new(),
    };
    assert!(store.index_document(&scope, &chunk).await.expect("indexed"));
    assert_eq!(store.indexed_chunks(&scope).await.expect("read"), 1);
    let elsewhere = DocumentScope::Library {
        owner: bob.clone(),
        document: second,
    };
    assert_eq!(store.indexed_chunks(&elsewhere).await.expect("read"), 0);
    assert!(
        store
            .postings(&elsewhere, "boiler", 20)
            .await
            .expect("read")
            .is_empty()
    );
}

async fn a_files_chunks_are_indexed_once_and_a_terms_postings_come_weightiest_first(
    store: Arc<dyn Store>,
) {
    let now = Timestamp::now();
    // A session's index, and a chatbot's, which share nothing.
    let chatbot = ChatbotId::parse(&format!("docs-{}", SessionId::new(now))).expect("an id");
    let (session, elsewhere) = (
        DocumentScope::Session(SessionId::new(now)),
        DocumentScope::Chatbot(chatbot),
    );
    let (manual, notes) = (AttachmentId::new(now), AttachmentId::new(at(now, 1)));
    let impacts = |pairs: &[(&str, u32)]| -> std::collections::BTreeMap<String, u32> {
        pairs.iter().map(|(t, i)| ((*t).to_owned(), *i)).collect()
    };
    let document = IndexedDocument {
        attachment_id: manual,
        file_name: "manual.txt".to_owned(),
        chunks: vec![
            (
                "The boiler code is 7731.".to_owned(),
                impacts(&[("boiler", 900), ("code", 400)]),
            ),
            (
                "Reset the boiler twice.".to_owned(),
                impacts(&[("boiler", 1_300), ("reset", 1_300)]),
            ),
        ],
        // Each chunk's vector is kept with it.
        embeddings: vec![
            Embedding::pack("model", &[1.0, 0.0]),
            Embedding::pack("model", &[0.0, 1.0]),
        ],
    };
    assert_eq!(store.indexed_chunks(&session).await.expect("read"), 0);
    assert!(
        store
            .index_document(&session, &document)
            .await
            .expect("indexed")
    );
    assert!(
        !store
            .index_document(&session, &document)
            .await
            .expect("read"),
        "a file is indexed once"
    );
    assert_eq!(store.indexed_chunks(&session).await.expect("read"), 2);
    let other = IndexedDocument {
        attachment_id: notes,
        file_name: "notes.md".to_owned(),
        chunks: vec![("boiler".to_owned(), impacts(&[("boiler", 1_000)]))],
        embeddings: Vec::new(),
    };
    assert!(
        store
            .index_document(&session, &other)
            .await
            .expect("indexed")
    );
    assert_eq!(store.indexed_chunks(&session).await.expect("read"), 3);

    let boiler = store.postings(&session, "boiler", 20).await.expect("read");
    let places: Vec<(AttachmentId, u32, u32)> = boiler
        .iter()
        .map(|p| (p.attachment_id, p.n, p.impact))
        .collect();
    assert_eq!(
        places,
        vec![(manual, 1, 1_300), (notes, 0, 1_000), (manual, 0, 900)]
    );
    assert_eq!(
        store
            .postings(&session, "boiler", 1)
            .await
            .expect("read")
            .len(),
        1
    );
    assert!(
        store
            .postings(&session, "boil", 20)
            .await
            .expect("read")
            .is_empty()
    );
    assert!(
        store
            .postings(&elsewhere, "boiler", 20)
            .await
            .expect("read")
            .is_empty()
    );

    let mut found = store
        .get_chunks(&session, &[(manual, 0), (notes, 0), (notes, 7)])
        .await
        .expect("read");
    found.sort_by_key(|c| (c.attachment_id, c.n));
    assert_eq!(
        found
            .iter()
            .map(|c| (c.file_name.as_str(), c.text.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("manual.txt", "The boiler code is 7731."),
            ("notes.md", "boiler")
        ]
    );
    assert_eq!(
        found
            .iter()
            .map(|c| c.embedding.clone())
            .collect::<Vec<_>>(),
        vec![Some(Embedding::pack("model", &[1.0, 0.0])), None]
    );
    assert!(
        store
            .get_chunks(&elsewhere, &[(manual, 0)])
            .await
            .expect("read")
            .is_empty()
    );

    let listed = store.list_documents(&session).await.expect("read");
    let names: Vec<(&str, u64)> = listed
        .iter()
        .map(|f| (f.file_name.as_str(), f.chunks))
        .collect();
    let mut expected = [(manual, "manual.txt", 2), (notes, "notes.md", 1)];
    expected.sort();
    assert_eq!(
        listed.iter().map(|f| f.attachment_id).collect::<Vec<_>>(),
        expected.iter().map(|e| e.0).collect::<Vec<_>>(),
        "{names:?}"
    );
    assert_eq!(
        names,
        expected.iter().map(|e| (e.1, e.2)).collect::<Vec<_>>()
    );
    assert!(
        store
            .list_documents(&elsewhere)
            .await
            .expect("read")
            .is_empty()
    );

    // Removed, a file leaves nothing behind: no chunk, no posting, not counted.
    assert!(
        store
            .remove_document(&session, manual)
            .await
            .expect("removed")
    );
    assert!(!store.remove_document(&session, manual).await.expect("read"));
    assert_eq!(store.indexed_chunks(&session).await.expect("read"), 1);
    let boiler = store.postings(&session, "boiler", 20).await.expect("read");
    assert_eq!(
        boiler.iter().map(|p| p.attachment_id).collect::<Vec<_>>(),
        vec![notes]
    );
    assert!(
        store
            .postings(&session, "reset", 20)
            .await
            .expect("read")
            .is_empty()
    );
    let chunks = store
        .get_chunks(&session, &[(manual, 0), (manual, 1)])
        .await;
    assert!(chunks.expect("read").is_empty());
    let left = store.list_documents(&session).await.expect("read");
    assert_eq!(
        left.iter().map(|f| f.attachment_id).collect::<Vec<_>>(),
        vec![notes]
    );
    assert!(
        store
            .index_document(&session, &document)
            .await
            .expect("indexed again")
    );
}
