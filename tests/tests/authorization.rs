//! The authorization matrix: every REST route of the canonical API under `/sessions` and
//! every WebSocket action (and the handshake with `?session_id=`), tried by each of nine
//! callers on each kind of session, against the exact status or frame expected.
//!
//! Each row is one route or action on one kind of session, with the nine callers'
//! expectations in the order of [`CALLERS`]. A REST cell is the status; a WebSocket cell is
//! the handshake's status, the success frame's `type`, or an `error` frame's `code`. `-`
//! marks a caller the session cannot have (a bot session has no member, only a support
//! session has a visitor of its own). Every cell runs on a fresh session with callers of
//! its own, so no cell depends on another; all mismatches are reported together.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chat_e2e::{Caller, FilePart, Socket, TestApp, TokenIn, spawn_app};
use futures::StreamExt;
use serde_json::json;

/// Who tries, in the order every row lists its expectations.
#[derive(Clone, Copy, Debug)]
enum Who {
    /// The session's owner: ann for the users' kinds, the visitor who started a support session.
    Owner,
    /// A member other than the owner: bob for groups and direct sessions, an agent of the
    /// business who joined for a support session; a bot session has none.
    Member,
    /// A `user` who is not a member.
    NonMember,
    /// An `agent` of acme, the support session's business, who has not joined.
    Agent,
    /// An `agent` of globex.
    OtherAgent,
    /// The visitor who started the support session; other kinds have none.
    Visitor,
    /// A `visitor` of acme from another support session.
    OtherVisitor,
    Admin,
    Service,
}

const CALLERS: [Who; 9] = [
    Who::Owner,
    Who::Member,
    Who::NonMember,
    Who::Agent,
    Who::OtherAgent,
    Who::Visitor,
    Who::OtherVisitor,
    Who::Admin,
    Who::Service,
];

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// A group, invite-only as groups are by default.
    Invite,
    /// A group created with `join_policy: open`.
    Open,
    Direct,
    Bot,
    /// A support session a visitor started with business acme.
    Support,
}

use Kind::{Bot, Direct, Invite, Open, Support};

/// A REST route of the canonical API.
#[derive(Clone, Copy, Debug)]
enum Route {
    ListSessions,
    /// `POST /sessions` of the row's kind (the only row not about the fixture's session).
    Create,
    Get,
    Patch,
    End,
    Join,
    Leave,
    AddMember,
    RemoveMember,
    Connections,
    Full,
    History,
    ListMessages,
    Post,
    /// `POST .../messages` with `is_bot` and `token_count`.
    PostAsBot,
    GetMessage,
    Edit,
    Delete,
    React,
    Unreact,
    Announce,
    Multipart,
    GetAttachment,
}

/// A WebSocket action, or the handshake itself.
#[derive(Clone, Copy, Debug)]
enum Action {
    Handshake,
    Join,
    Send,
    Edit,
    Delete,
    React,
    Typing,
    History,
    Resume,
    Stop,
    Leave,
    Ping,
}

/// `(route, kind, the nine callers' statuses)`.
#[rustfmt::skip]
const REST: &[(Route, Kind, &str)] = &[
    //                               owner member non-member agent other-agent visitor other-visitor admin service
    (Route::ListSessions,  Support, "200   200    200        200   200         200     200           200   200"),
    (Route::Create,        Invite,  "201   201    201        201   201         -       403           201   201"),
    (Route::Create,        Open,    "201   201    201        201   201         -       403           201   201"),
    (Route::Create,        Direct,  "201   201    201        201   201         -       403           201   201"),
    (Route::Create,        Bot,     "200   -      201        201   201         -       403           201   201"),
    (Route::Create,        Support, "403   201    201        201   201         403     403           201   201"),
    (Route::Get,           Invite,  "200   200    403        403   403         -       403           200   200"),
    (Route::Get,           Open,    "200   200    403        403   403         -       403           200   200"),
    (Route::Get,           Direct,  "200   200    404        404   404         -       404           200   200"),
    (Route::Get,           Bot,     "200   -      404        404   404         -       404           200   200"),
    (Route::Get,           Support, "200   200    404        200   404         200     404           200   200"),
    (Route::Patch,         Invite,  "200   403    403        403   403         -       403           200   403"),
    (Route::Patch,         Open,    "200   403    403        403   403         -       403           200   403"),
    (Route::Patch,         Direct,  "200   403    404        404   404         -       404           200   403"),
    (Route::Patch,         Bot,     "200   -      404        404   404         -       404           200   403"),
    (Route::Patch,         Support, "200   200    404        200   404         200     404           200   403"),
    (Route::End,           Invite,  "200   403    403        403   403         -       403           200   403"),
    (Route::End,           Open,    "200   403    403        403   403         -       403           200   403"),
    (Route::End,           Direct,  "200   403    404        404   404         -       404           200   403"),
    (Route::End,           Bot,     "200   -      404        404   404         -       404           200   403"),
    (Route::End,           Support, "200   200    404        200   404         200     404           200   403"),
    (Route::Join,          Invite,  "200   200    403        403   403         -       403           200   200"),
    (Route::Join,          Open,    "200   200    200        403   403         -       403           200   200"),
    (Route::Join,          Direct,  "200   200    404        404   404         -       404           200   200"),
    (Route::Join,          Bot,     "200   -      404        404   404         -       404           200   200"),
    (Route::Join,          Support, "200   200    404        200   404         200     404           200   200"),
    (Route::Leave,         Invite,  "200   200    403        403   403         -       403           200   200"),
    (Route::Leave,         Open,    "200   200    403        403   403         -       403           200   200"),
    (Route::Leave,         Direct,  "200   200    404        404   404         -       404           200   200"),
    (Route::Leave,         Bot,     "200   -      404        404   404         -       404           200   200"),
    (Route::Leave,         Support, "200   200    404        200   404         200     404           200   200"),
    (Route::AddMember,     Invite,  "201   403    403        403   403         -       403           201   403"),
    (Route::AddMember,     Open,    "201   403    403        403   403         -       403           201   403"),
    (Route::AddMember,     Direct,  "409   409    404        404   404         -       404           409   409"),
    (Route::AddMember,     Bot,     "409   -      404        404   404         -       404           409   409"),
    (Route::AddMember,     Support, "409   409    404        409   404         409     404           409   409"),
    (Route::RemoveMember,  Invite,  "200   403    403        403   403         -       403           200   403"),
    (Route::RemoveMember,  Open,    "200   403    403        403   403         -       403           200   403"),
    (Route::RemoveMember,  Direct,  "409   409    404        404   404         -       404           409   409"),
    (Route::RemoveMember,  Bot,     "409   -      404        404   404         -       404           409   409"),
    (Route::RemoveMember,  Support, "409   409    404        409   404         409     404           409   409"),
    (Route::Connections,   Invite,  "200   200    403        403   403         -       403           200   200"),
    (Route::Connections,   Open,    "200   200    403        403   403         -       403           200   200"),
    (Route::Connections,   Direct,  "200   200    404        404   404         -       404           200   200"),
    (Route::Connections,   Bot,     "200   -      404        404   404         -       404           200   200"),
    (Route::Connections,   Support, "200   200    404        200   404         200     404           200   200"),
    (Route::Full,          Invite,  "200   200    403        403   403         -       403           200   200"),
    (Route::Full,          Open,    "200   200    403        403   403         -       403           200   200"),
    (Route::Full,          Direct,  "200   200    404        404   404         -       404           200   200"),
    (Route::Full,          Bot,     "200   -      404        404   404         -       404           200   200"),
    (Route::Full,          Support, "200   200    404        200   404         200     404           200   200"),
    (Route::History,       Invite,  "200   200    403        403   403         -       403           200   200"),
    (Route::History,       Open,    "200   200    403        403   403         -       403           200   200"),
    (Route::History,       Direct,  "200   200    404        404   404         -       404           200   200"),
    (Route::History,       Bot,     "200   -      404        404   404         -       404           200   200"),
    (Route::History,       Support, "200   200    404        200   404         200     404           200   200"),
    (Route::ListMessages,  Invite,  "200   200    403        403   403         -       403           200   200"),
    (Route::ListMessages,  Open,    "200   200    403        403   403         -       403           200   200"),
    (Route::ListMessages,  Direct,  "200   200    404        404   404         -       404           200   200"),
    (Route::ListMessages,  Bot,     "200   -      404        404   404         -       404           200   200"),
    (Route::ListMessages,  Support, "200   200    404        200   404         200     404           200   200"),
    (Route::Post,          Invite,  "201   201    403        403   403         -       403           201   201"),
    (Route::Post,          Open,    "201   201    403        403   403         -       403           201   201"),
    (Route::Post,          Direct,  "201   201    404        404   404         -       404           201   201"),
    (Route::Post,          Bot,     "201   -      404        404   404         -       404           201   201"),
    (Route::Post,          Support, "201   201    404        403   404         201     404           201   201"),
    (Route::PostAsBot,     Invite,  "403   403    403        403   403         -       403           403   201"),
    (Route::PostAsBot,     Open,    "403   403    403        403   403         -       403           403   201"),
    (Route::PostAsBot,     Direct,  "403   403    403        403   403         -       403           403   201"),
    (Route::PostAsBot,     Bot,     "403   -      403        403   403         -       403           403   201"),
    (Route::PostAsBot,     Support, "403   403    403        403   403         403     403           403   201"),
    (Route::GetMessage,    Invite,  "200   200    403        403   403         -       403           200   200"),
    (Route::GetMessage,    Open,    "200   200    403        403   403         -       403           200   200"),
    (Route::GetMessage,    Direct,  "200   200    404        404   404         -       404           200   200"),
    (Route::GetMessage,    Bot,     "200   -      404        404   404         -       404           200   200"),
    (Route::GetMessage,    Support, "200   200    404        200   404         200     404           200   200"),
    (Route::Edit,          Invite,  "403   200    403        403   403         -       403           403   403"),
    (Route::Edit,          Open,    "403   200    403        403   403         -       403           403   403"),
    (Route::Edit,          Direct,  "403   200    404        404   404         -       404           403   403"),
    (Route::Edit,          Bot,     "200   -      404        404   404         -       404           403   403"),
    (Route::Edit,          Support, "403   200    404        403   404         403     404           403   403"),
    (Route::Delete,        Invite,  "200   200    403        403   403         -       403           200   403"),
    (Route::Delete,        Open,    "200   200    403        403   403         -       403           200   403"),
    (Route::Delete,        Direct,  "200   200    404        404   404         -       404           200   403"),
    (Route::Delete,        Bot,     "200   -      404        404   404         -       404           200   403"),
    (Route::Delete,        Support, "200   200    404        200   404         200     404           200   403"),
    (Route::React,         Invite,  "200   200    403        403   403         -       403           200   200"),
    (Route::React,         Open,    "200   200    403        403   403         -       403           200   200"),
    (Route::React,         Direct,  "200   200    404        404   404         -       404           200   200"),
    (Route::React,         Bot,     "200   -      404        404   404         -       404           200   200"),
    (Route::React,         Support, "200   200    404        403   404         200     404           200   200"),
    (Route::Unreact,       Invite,  "200   200    403        403   403         -       403           200   200"),
    (Route::Unreact,       Open,    "200   200    403        403   403         -       403           200   200"),
    (Route::Unreact,       Direct,  "200   200    404        404   404         -       404           200   200"),
    (Route::Unreact,       Bot,     "200   -      404        404   404         -       404           200   200"),
    (Route::Unreact,       Support, "200   200    404        403   404         200     404           200   200"),
    (Route::Announce,      Invite,  "201   201    403        403   403         -       403           201   201"),
    (Route::Announce,      Open,    "201   201    403        403   403         -       403           201   201"),
    (Route::Announce,      Direct,  "201   201    404        404   404         -       404           201   201"),
    (Route::Announce,      Bot,     "201   -      404        404   404         -       404           201   201"),
    (Route::Announce,      Support, "201   201    404        403   404         201     404           201   201"),
    (Route::Multipart,     Invite,  "201   201    403        403   403         -       403           201   201"),
    (Route::Multipart,     Open,    "201   201    403        403   403         -       403           201   201"),
    (Route::Multipart,     Direct,  "201   201    404        404   404         -       404           201   201"),
    (Route::Multipart,     Bot,     "201   -      404        404   404         -       404           201   201"),
    (Route::Multipart,     Support, "201   201    404        403   404         201     404           201   201"),
    (Route::GetAttachment, Invite,  "200   200    403        403   403         -       403           200   200"),
    (Route::GetAttachment, Open,    "200   200    403        403   403         -       403           200   200"),
    (Route::GetAttachment, Direct,  "200   200    404        404   404         -       404           200   200"),
    (Route::GetAttachment, Bot,     "200   -      404        404   404         -       404           200   200"),
    (Route::GetAttachment, Support, "200   200    404        200   404         200     404           200   200"),
];

/// `(action, kind, the nine callers' frames or handshake statuses)`.
#[rustfmt::skip]
const WS: &[(Action, Kind, &str)] = &[
    //                            owner              member           non-member       agent            other-agent visitor          other-visitor admin              service
    (Action::Handshake, Invite,  "200                200              403              403              403         -                403           200                200"),
    (Action::Handshake, Open,    "200                200              200              403              403         -                403           200                200"),
    (Action::Handshake, Direct,  "200                200              404              404              404         -                404           200                200"),
    (Action::Handshake, Bot,     "200                -                404              404              404         -                404           200                200"),
    (Action::Handshake, Support, "200                200              404              200              404         200              404           200                200"),
    (Action::Join,      Invite,  "session_info       session_info     forbidden        forbidden        forbidden   -                forbidden     session_info       session_info"),
    (Action::Join,      Open,    "session_info       session_info     session_info     forbidden        forbidden   -                forbidden     session_info       session_info"),
    (Action::Join,      Direct,  "session_info       session_info     not_found        not_found        not_found   -                not_found     session_info       session_info"),
    (Action::Join,      Bot,     "session_info       -                not_found        not_found        not_found   -                not_found     session_info       session_info"),
    (Action::Join,      Support, "session_info       session_info     not_found        session_info     not_found   session_info     not_found     session_info       session_info"),
    (Action::Send,      Invite,  "message_received   message_received conflict         conflict         conflict    -                conflict      message_received   message_received"),
    (Action::Send,      Open,    "message_received   message_received message_received conflict         conflict    -                conflict      message_received   message_received"),
    (Action::Send,      Direct,  "message_received   message_received conflict         conflict         conflict    -                conflict      message_received   message_received"),
    (Action::Send,      Bot,     "message_received   -                conflict         conflict         conflict    -                conflict      message_received   message_received"),
    (Action::Send,      Support, "message_received   message_received conflict         message_received conflict    message_received conflict      message_received   message_received"),
    (Action::Edit,      Invite,  "forbidden          message_updated  conflict         conflict         conflict    -                conflict      forbidden          forbidden"),
    (Action::Edit,      Open,    "forbidden          message_updated  forbidden        conflict         conflict    -                conflict      forbidden          forbidden"),
    (Action::Edit,      Direct,  "forbidden          message_updated  conflict         conflict         conflict    -                conflict      forbidden          forbidden"),
    (Action::Edit,      Bot,     "message_updated    -                conflict         conflict         conflict    -                conflict      forbidden          forbidden"),
    (Action::Edit,      Support, "forbidden          message_updated  conflict         forbidden        conflict    forbidden        conflict      forbidden          forbidden"),
    (Action::Delete,    Invite,  "message_deleted    message_deleted  conflict         conflict         conflict    -                conflict      message_deleted    forbidden"),
    (Action::Delete,    Open,    "message_deleted    message_deleted  forbidden        conflict         conflict    -                conflict      message_deleted    forbidden"),
    (Action::Delete,    Direct,  "message_deleted    message_deleted  conflict         conflict         conflict    -                conflict      message_deleted    forbidden"),
    (Action::Delete,    Bot,     "message_deleted    -                conflict         conflict         conflict    -                conflict      message_deleted    forbidden"),
    (Action::Delete,    Support, "message_deleted    message_deleted  conflict         message_deleted  conflict    message_deleted  conflict      message_deleted    forbidden"),
    (Action::React,     Invite,  "reaction_updated   reaction_updated conflict         conflict         conflict    -                conflict      reaction_updated   reaction_updated"),
    (Action::React,     Open,    "reaction_updated   reaction_updated reaction_updated conflict         conflict    -                conflict      reaction_updated   reaction_updated"),
    (Action::React,     Direct,  "reaction_updated   reaction_updated conflict         conflict         conflict    -                conflict      reaction_updated   reaction_updated"),
    (Action::React,     Bot,     "reaction_updated   -                conflict         conflict         conflict    -                conflict      reaction_updated   reaction_updated"),
    (Action::React,     Support, "reaction_updated   reaction_updated conflict         reaction_updated conflict    reaction_updated conflict      reaction_updated   reaction_updated"),
    (Action::Typing,    Invite,  "typing_status      typing_status    conflict         conflict         conflict    -                conflict      typing_status      typing_status"),
    (Action::Typing,    Open,    "typing_status      typing_status    typing_status    conflict         conflict    -                conflict      typing_status      typing_status"),
    (Action::Typing,    Direct,  "typing_status      typing_status    conflict         conflict         conflict    -                conflict      typing_status      typing_status"),
    (Action::Typing,    Bot,     "typing_status      -                conflict         conflict         conflict    -                conflict      typing_status      typing_status"),
    (Action::Typing,    Support, "typing_status      typing_status    conflict         typing_status    conflict    typing_status    conflict      typing_status      typing_status"),
    (Action::History,   Invite,  "chat_history       chat_history     conflict         conflict         conflict    -                conflict      chat_history       chat_history"),
    (Action::History,   Open,    "chat_history       chat_history     chat_history     conflict         conflict    -                conflict      chat_history       chat_history"),
    (Action::History,   Direct,  "chat_history       chat_history     conflict         conflict         conflict    -                conflict      chat_history       chat_history"),
    (Action::History,   Bot,     "chat_history       -                conflict         conflict         conflict    -                conflict      chat_history       chat_history"),
    (Action::History,   Support, "chat_history       chat_history     conflict         chat_history     conflict    chat_history     conflict      chat_history       chat_history"),
    (Action::Resume,    Invite,  "chat_message       chat_message     forbidden        forbidden        forbidden   -                forbidden     chat_message       chat_message"),
    (Action::Resume,    Open,    "chat_message       chat_message     chat_message     forbidden        forbidden   -                forbidden     chat_message       chat_message"),
    (Action::Resume,    Direct,  "chat_message       chat_message     not_found        not_found        not_found   -                not_found     chat_message       chat_message"),
    (Action::Resume,    Bot,     "chat_message       -                not_found        not_found        not_found   -                not_found     chat_message       chat_message"),
    (Action::Resume,    Support, "chat_message       chat_message     not_found        chat_message     not_found   chat_message     not_found     chat_message       chat_message"),
    (Action::Stop,      Invite,  "conflict           conflict         conflict         conflict         conflict    -                conflict      conflict           conflict"),
    (Action::Stop,      Open,    "conflict           conflict         conflict         conflict         conflict    -                conflict      conflict           conflict"),
    (Action::Stop,      Direct,  "conflict           conflict         conflict         conflict         conflict    -                conflict      conflict           conflict"),
    (Action::Stop,      Bot,     "stopped_generation -                conflict         conflict         conflict    -                conflict      stopped_generation stopped_generation"),
    (Action::Stop,      Support, "conflict           conflict         conflict         conflict         conflict    conflict         conflict      conflict           conflict"),
    (Action::Leave,     Invite,  "user_left          user_left        nothing          nothing          nothing     -                nothing       user_left          user_left"),
    (Action::Leave,     Open,    "user_left          user_left        user_left        nothing          nothing     -                nothing       user_left          user_left"),
    (Action::Leave,     Direct,  "user_left          user_left        nothing          nothing          nothing     -                nothing       user_left          user_left"),
    (Action::Leave,     Bot,     "user_left          -                nothing          nothing          nothing     -                nothing       user_left          user_left"),
    (Action::Leave,     Support, "user_left          user_left        nothing          user_left        nothing     user_left        nothing       user_left          user_left"),
    (Action::Ping,      Invite,  "pong               pong             pong             pong             pong        -                pong          pong               pong"),
    (Action::Ping,      Open,    "pong               pong             pong             pong             pong        -                pong          pong               pong"),
    (Action::Ping,      Direct,  "pong               pong             pong             pong             pong        -                pong          pong               pong"),
    (Action::Ping,      Bot,     "pong               -                pong             pong             pong        -                pong          pong               pong"),
    (Action::Ping,      Support, "pong               pong             pong             pong             pong        pong             pong          pong               pong"),
];

/// Makes every cell's ids its own.
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// How many cells run at once: enough to hide the round trips, few enough for two cores.
const CONCURRENCY: usize = 8;

/// How long a cell waits for a frame: far above a local round trip, so only a frame that
/// is not coming costs it.
const WAIT: Duration = Duration::from_secs(2);

/// A fresh session of one kind, its people, and a message (and for the attachment route a
/// shared file) by its member, or by the owner where there is no member.
struct Fixture {
    kind: Kind,
    prefix: String,
    session: String,
    owner: Caller,
    member: Option<Caller>,
    /// The visitor of a support session.
    visitor: Option<Caller>,
    message: String,
    attachment: Option<String>,
}

impl Fixture {
    async fn new(app: &TestApp, kind: Kind, with_file: bool) -> Self {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("c{n}");
        let ann = app.user(&format!("{prefix}-ann"));
        let bob = app.user(&format!("{prefix}-bob"));
        let (session, owner, member, visitor) = match kind {
            Invite | Open | Direct => {
                let body = match kind {
                    Invite => json!({"kind": "group", "members": [bob.id]}),
                    Open => json!({"kind": "group", "members": [bob.id], "join_policy": "open"}),
                    _ => json!({"kind": "direct", "members": [bob.id]}),
                };
                let session = app.create_session(&ann, body).await;
                (session, ann, Some(bob), None)
            }
            Bot => {
                let body = json!({"kind": "bot", "chatbot_id": "helper"});
                (app.create_session(&ann, body).await, ann, None, None)
            }
            Support => {
                let (visitor, session) = app.start_support("acme").await;
                let agent = app.caller(&format!("{prefix}-joined"), "agent", Some("acme"));
                let joined = app
                    .post(&format!("/sessions/{session}/join"), &agent, json!({}))
                    .await;
                assert!(joined.status.is_success(), "the agent joins: {joined:?}");
                (session, visitor.clone(), Some(agent), Some(visitor))
            }
        };
        let author = member.as_ref().unwrap_or(&owner);
        let message = app
            .post_message(&session, author, "the author's words")
            .await;
        let attachment = if with_file {
            Some(share_file(app, &session, author).await)
        } else {
            None
        };
        Self {
            kind,
            prefix,
            session,
            owner,
            member,
            visitor,
            message,
            attachment,
        }
    }

    fn caller(&self, app: &TestApp, who: Who) -> Option<Caller> {
        let id = |name: &str| format!("{}-{name}", self.prefix);
        Some(match who {
            Who::Owner => self.owner.clone(),
            Who::Member => self.member.clone()?,
            Who::NonMember => app.user(&id("eve")),
            Who::Agent => app.caller(&id("agent"), "agent", Some("acme")),
            Who::OtherAgent => app.caller(&id("globex"), "agent", Some("globex")),
            Who::Visitor => self.visitor.clone()?,
            Who::OtherVisitor => app.caller(&id("visitor"), "visitor", Some("acme")),
            Who::Admin => app.caller(&id("admin"), "admin", None),
            Who::Service => app.caller(&id("service"), "service", None),
        })
    }

    fn path(&self, rest: &str) -> String {
        format!("/sessions/{}{rest}", self.session)
    }
}

/// Uploads and sends a small text file as `author`, answering its attachment id.
async fn share_file(app: &TestApp, session: &str, author: &Caller) -> String {
    let bytes = b"shared notes";
    let upload = app
        .announce_upload(session, author, "notes.txt", "text/plain", bytes.len())
        .await;
    assert!(upload.status.is_success(), "announcing: {upload:?}");
    assert!(app.put_upload(&upload.body, bytes).await.is_success());
    let attachment = upload.body["attachment_id"]
        .as_str()
        .expect("an attachment id")
        .to_owned();
    let sent = app
        .post(
            &format!("/sessions/{session}/messages"),
            author,
            json!({"kind": "file", "attachment_id": attachment}),
        )
        .await;
    assert!(sent.status.is_success(), "sending the file: {sent:?}");
    attachment
}

impl Route {
    async fn run(self, app: &TestApp, fx: &Fixture, caller: &Caller) -> String {
        let message = fx.path(&format!("/messages/{}", fx.message));
        let stranger = format!("{}-newcomer", fx.prefix);
        let reply = match self {
            Self::ListSessions => app.get("/sessions", caller).await,
            Self::Create => {
                let body = match fx.kind {
                    Invite => json!({"kind": "group", "members": [stranger]}),
                    Open => json!({"kind": "group", "join_policy": "open"}),
                    Direct => json!({"kind": "direct", "members": [stranger]}),
                    Bot => json!({"kind": "bot", "chatbot_id": "helper"}),
                    Support => json!({"kind": "support", "business_id": "acme"}),
                };
                app.post("/sessions", caller, body).await
            }
            Self::Get => app.get(&fx.path(""), caller).await,
            Self::Patch => {
                app.patch(&fx.path(""), caller, json!({"title": "New"}))
                    .await
            }
            Self::End => app.delete(&fx.path(""), caller).await,
            Self::Join => app.post(&fx.path("/join"), caller, json!({})).await,
            Self::Leave => app.post(&fx.path("/leave"), caller, json!({})).await,
            Self::AddMember => {
                let body = json!({"user_id": stranger});
                app.post(&fx.path("/members"), caller, body).await
            }
            Self::RemoveMember => {
                let member = fx.member.as_ref().map_or(stranger, |m| m.id.clone());
                app.delete(&fx.path(&format!("/members/{member}")), caller)
                    .await
            }
            Self::Connections => app.get(&fx.path("/connections"), caller).await,
            Self::Full => app.get(&fx.path("/full"), caller).await,
            Self::History => app.get(&fx.path("/history"), caller).await,
            Self::ListMessages => app.get(&fx.path("/messages"), caller).await,
            Self::Post => {
                let body = json!({"content": "a word from the caller"});
                app.post(&fx.path("/messages"), caller, body).await
            }
            Self::PostAsBot => {
                let body = json!({"content": "beep", "is_bot": true, "token_count": 3});
                app.post(&fx.path("/messages"), caller, body).await
            }
            Self::GetMessage => app.get(&message, caller).await,
            Self::Edit => {
                let body = json!({"content": "changed"});
                app.patch(&message, caller, body).await
            }
            Self::Delete => app.delete(&message, caller).await,
            Self::React => {
                let body = json!({"reaction": "👍"});
                app.post(&format!("{message}/reactions"), caller, body)
                    .await
            }
            // 👍, URL-encoded as the route wants it.
            Self::Unreact => {
                app.delete(&format!("{message}/reactions/%F0%9F%91%8D"), caller)
                    .await
            }
            Self::Announce => {
                app.announce_upload(&fx.session, caller, "notes.txt", "text/plain", 5)
                    .await
            }
            Self::Multipart => {
                let file = FilePart {
                    name: "notes.txt",
                    kind: "text/plain",
                    bytes: b"notes",
                };
                app.form(&fx.path("/attachments"), Some(caller), &[], file)
                    .await
            }
            Self::GetAttachment => {
                let attachment = fx.attachment.as_deref().expect("the fixture shares a file");
                app.get(&fx.path(&format!("/attachments/{attachment}")), caller)
                    .await
            }
        };
        reply.status.as_u16().to_string()
    }
}

impl Action {
    async fn run(self, app: &TestApp, fx: &Fixture, caller: &Caller) -> String {
        let session = fx.session.as_str();
        if let Self::Handshake = self {
            return match app
                .try_connect(Some(caller), Some(session), TokenIn::Query)
                .await
            {
                Ok(socket) => {
                    socket.close().await;
                    "200".into()
                }
                Err(status) => status.to_string(),
            };
        }
        let mut socket = app.connect(caller, None).await;
        if let Self::Resume = self {
            // Resume binds by itself, so it is tried on a socket bound nowhere.
            socket
                .send(json!({"action": "resume", "session_id": session, "after_seq": 0}))
                .await;
            return outcome(&mut socket, "chat_message").await;
        }
        socket
            .send(json!({"action": "join", "session_id": session}))
            .await;
        let joined = outcome(&mut socket, "session_info").await;
        if let Self::Join = self {
            return joined;
        }
        if joined == "session_info" {
            // The welcome's second half, so it is not taken for an answer below.
            socket.first_of(&["chat_history"], WAIT).await;
        }
        // The typing and leave frames answer the caller nothing; an admin's socket bound
        // to the session sees what the others hear.
        let mut watcher = match self {
            Self::Typing | Self::Leave => {
                let admin = app.caller(&format!("{}-watcher", fx.prefix), "admin", None);
                let mut watcher = app.connect(&admin, Some(session)).await;
                watcher.first_of(&["chat_history"], WAIT).await;
                Some(watcher)
            }
            _ => None,
        };
        if let (Self::Stop, Bot, "session_info") = (self, fx.kind, joined.as_str()) {
            // A reply in progress to stop, seen starting: the fixture's own may be over.
            app.post_message(session, &fx.owner, "one more question")
                .await;
            socket.first_of(&["response_start"], WAIT).await;
        }
        let message = fx.message.as_str();
        let (frame, success) = match self {
            Self::Send => (
                json!({"action": "send", "content": "hi there"}),
                "message_received",
            ),
            Self::Edit => (
                json!({"action": "edit", "message_id": message, "content": "changed"}),
                "message_updated",
            ),
            Self::Delete => (
                json!({"action": "delete", "message_id": message}),
                "message_deleted",
            ),
            Self::React => (
                json!({"action": "react", "message_id": message, "reaction": "👍"}),
                "reaction_updated",
            ),
            Self::Typing => (
                json!({"action": "typing", "is_typing": true}),
                "typing_status",
            ),
            Self::History => (json!({"action": "history"}), "chat_history"),
            Self::Stop => (json!({"action": "stop"}), "stopped_generation"),
            Self::Leave => (json!({"action": "leave"}), "user_left"),
            Self::Ping => (json!({"action": "ping"}), "pong"),
            Self::Handshake | Self::Join | Self::Resume => unreachable!("answered above"),
        };
        socket.send(frame).await;
        let Some(watcher) = watcher.as_mut() else {
            return outcome(&mut socket, success).await;
        };
        // A ping behind the frame: frames are handled in order, so its pong means the
        // frame was handled without an error.
        socket.send(json!({"action": "ping"})).await;
        match outcome(&mut socket, "pong").await.as_str() {
            "pong" => watcher
                .first_of(&[success], WAIT)
                .await
                .map_or_else(|| "nothing".into(), |_| success.to_owned()),
            refused => refused.to_owned(),
        }
    }
}

/// The `success` frame's type, or the code of the `error` frame that came instead.
async fn outcome(socket: &mut Socket, success: &str) -> String {
    match socket.first_of(&[success, "error"], WAIT).await {
        Some(frame) if frame["type"] == "error" => {
            frame["code"].as_str().unwrap_or("error").to_owned()
        }
        Some(_) => success.to_owned(),
        None => "nothing".into(),
    }
}

/// One row of either table.
struct Row {
    name: String,
    kind: Kind,
    test: Test,
    expected: Vec<String>,
}

#[derive(Clone, Copy, Debug)]
enum Test {
    Rest(Route),
    Ws(Action),
}

impl Test {
    /// How the row is written in its table, to paste when it changes.
    fn entry(self, kind: Kind, cells: &[String]) -> String {
        let (table, name) = match self {
            Self::Rest(route) => ("Route", format!("{route:?}")),
            Self::Ws(action) => ("Action", format!("{action:?}")),
        };
        format!("({table}::{name}, {kind:?}, \"{}\"),", cells.join(" "))
    }

    /// One cell: `None` when the session has no such caller.
    async fn run(self, app: &TestApp, kind: Kind, who: Who) -> Option<String> {
        let with_file = matches!(self, Self::Rest(Route::GetAttachment));
        let fixture = Fixture::new(app, kind, with_file).await;
        let caller = fixture.caller(app, who)?;
        Some(match self {
            Self::Rest(route) => route.run(app, &fixture, &caller).await,
            Self::Ws(action) => action.run(app, &fixture, &caller).await,
        })
    }
}

fn rows() -> Vec<Row> {
    let split = |cells: &str| cells.split_whitespace().map(str::to_owned).collect();
    let rest = REST.iter().map(|&(route, kind, cells)| Row {
        name: format!("REST {route:?}"),
        kind,
        test: Test::Rest(route),
        expected: split(cells),
    });
    let ws = WS.iter().map(|&(action, kind, cells)| Row {
        name: format!("WS {action:?}"),
        kind,
        test: Test::Ws(action),
        expected: split(cells),
    });
    rest.chain(ws).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_and_action_answers_each_caller_as_the_rules_say() {
    let app = spawn_app().await;
    let rows = rows();
    for row in &rows {
        assert_eq!(
            row.expected.len(),
            CALLERS.len(),
            "{} on {:?}",
            row.name,
            row.kind
        );
    }
    // A cell the session has no caller for (`-`) is not run.
    let cells: Vec<(usize, usize)> = rows
        .iter()
        .enumerate()
        .flat_map(|(r, row)| {
            (0..CALLERS.len())
                .filter(|&c| row.expected[c] != "-")
                .map(move |c| (r, c))
        })
        .collect();
    let results: Vec<(usize, usize, String)> = futures::stream::iter(&cells)
        .map(|&(r, c)| {
            let (app, row) = (&app, &rows[r]);
            async move {
                let got = row.test.run(app, row.kind, CALLERS[c]).await;
                (r, c, got.unwrap_or_else(|| "no-such-caller".into()))
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    app.stop().await;
    eprintln!("authorization matrix: {} cells checked", cells.len());

    let mut got: Vec<Vec<String>> = rows.iter().map(|row| row.expected.clone()).collect();
    for (r, c, answer) in results {
        got[r][c] = answer;
    }
    let mut failures = Vec::new();
    for (row, got) in rows.iter().zip(&got) {
        if row.expected == *got {
            continue;
        }
        for (c, who) in CALLERS.iter().enumerate() {
            if row.expected[c] != got[c] {
                failures.push(format!(
                    "{} on {:?} by {who:?}: expected {}, got {}",
                    row.name, row.kind, row.expected[c], got[c]
                ));
            }
        }
        failures.push(format!("    as it is: {}", row.test.entry(row.kind, got)));
    }
    assert!(
        failures.is_empty(),
        "cells differ:\n{}",
        failures.join("\n")
    );
}
