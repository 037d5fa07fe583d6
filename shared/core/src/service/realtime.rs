//! The WebSocket use cases: connections binding to sessions, the welcome, presence,
//! typing and history. Frames go out through the fan-out; the caller is always a
//! connection the store knows.

use std::time::Duration;

use super::{ChatService, NewSession, ServiceError, ServiceResult, online_users};
use crate::domain::{
    Connection, ConnectionId, Dialect, Member, MessageId, Page, PageLimit, Principal, Session,
    SessionId, SessionKind, UserId, ValidationError,
};
use crate::ports::{MessageQuery, PushError, StoreError};
use crate::protocol::{ServerFrame, SessionView, render};

/// The most messages a `resume` sends; further behind, the client pages over REST.
pub const RESUME_MESSAGES: usize = 1_000;

/// How long a `typing` frame counts before the user is taken to have stopped.
pub const TYPING_LASTS: Duration = Duration::from_secs(6);
/// How long the welcome waits for API Gateway to open a socket that `$connect` accepted.
pub const WELCOME_PATIENCE: Duration = Duration::from_secs(3);

impl ChatService {
    /// `$connect`: records the connection, bound to `session` when given. Refuses a
    /// session that does not exist, that the caller may not enter, or that ended, as
    /// [`ChatService::admit`] says.
    ///
    /// Seed 002's AI chat client connects with nothing but its token: in the `ai` dialect
    /// a connection without a session is bound to the caller's AI chat, the bot session
    /// with the deployment's default chatbot, found or started. Seed 004 refuses a
    /// connection that names no session (its 4001), so the `visitor` dialect does too.
    pub async fn open_connection(
        &self,
        principal: Principal,
        id: ConnectionId,
        session: Option<SessionId>,
        dialect: Dialect,
    ) -> ServiceResult<Connection> {
        let window = self.rates.connects_per_user;
        let key = format!("connect#{}", principal.user_id);
        self.count(&window, key, "connections").await?;
        let session = match (session, dialect) {
            (None, Dialect::Ai) => Some(self.ai_chat(&principal).await?),
            (None, Dialect::Visitor) => {
                return Err(ValidationError::new("session_id", "is required").into());
            }
            (Some(session), _) => {
                self.admit(&principal, session).await?;
                Some(session)
            }
            (None, _) => None,
        };
        let connection =
            Connection::new(id, principal, session, self.clock.now()).with_dialect(dialect);
        self.store.put_connection(&connection).await?;
        Ok(connection)
    }

    /// The caller's one active bot session with the default chatbot, started if none is.
    async fn ai_chat(&self, caller: &Principal) -> ServiceResult<SessionId> {
        let chatbot = self.default_chatbot().clone();
        let request = NewSession {
            kind: Some(SessionKind::Bot),
            chatbot_id: Some(chatbot),
            ..NewSession::default()
        };
        Ok(self
            .create_session(caller, request)
            .await?
            .details
            .session
            .id)
    }

    /// The connection a frame came from, unless it is gone.
    pub async fn connection(&self, id: &ConnectionId) -> ServiceResult<Connection> {
        self.store
            .get_connection(id, self.clock.now())
            .await?
            .ok_or(ServiceError::NotFound("connection"))
    }

    /// Checks that the caller may bind to the session, making them a member when they may
    /// join it (an agent of its business, a user of an open group). Admins and services
    /// bind without becoming members. A caller who may not is refused as a REST read is:
    /// 403 for a group, 404 for any other session, and before the session's state is
    /// looked at, so neither the refusal nor a 410 tells a hidden session from no session.
    async fn admit(&self, caller: &Principal, session: SessionId) -> ServiceResult<Session> {
        let access = self.access(caller, session).await?;
        if access.member.is_some() || access.is_privileged() {
            access.require_open()?;
            return Ok(access.session);
        }
        if !access.can_join(caller) {
            access.require_read(caller)?;
            return Err(ServiceError::Forbidden(
                "you are not a member of this session",
            ));
        }
        access.require_open()?;
        let member = Member::new(
            session,
            caller.user_id.clone(),
            access.joining_role(),
            caller.name.clone(),
            self.clock.now(),
        );
        self.store.add_member(&member).await?;
        Ok(access.session)
    }

    /// The job `$connect` starts: once the socket is open, `session_info` then
    /// `chat_history` to the new connection (as its dialect renders them), and
    /// `user_joined` to the others. API Gateway answers 410 until the handshake completes,
    /// so the first frame is retried on a gone connection for a while before it is taken
    /// to have left; the rest follow it.
    pub async fn welcome(&self, id: &ConnectionId) -> ServiceResult<()> {
        let Some(connection) = self.store.get_connection(id, self.clock.now()).await? else {
            return Ok(());
        };
        let Some(session) = connection.session_id else {
            return Ok(());
        };
        let (session, info, history) = self.welcome_frames(&connection, session).await?;
        let now = self.clock.now();
        let payloads: Vec<String> = [&info, &history]
            .into_iter()
            .flat_map(|frame| render(frame, connection.dialect, now))
            .collect();
        // A dialect with no welcome (001's) posts nothing, but the others still hear of it.
        if let Some((first, rest)) = payloads.split_first() {
            if !self.post_once_open(id, first).await? {
                return Ok(());
            }
            match self.fanout.send_payloads(id, rest).await {
                Ok(()) | Err(PushError::Gone) => {}
                Err(error) => return Err(error.into()),
            }
        }
        self.join_reply(&session, id).await;
        self.announce_joined(&connection, session.id).await
    }

    /// Posts `payload` to a connection whose handshake may still be running, retrying
    /// while API Gateway answers 410 for up to [`WELCOME_PATIENCE`]. False when it stayed
    /// gone, and is then forgotten.
    async fn post_once_open(&self, id: &ConnectionId, payload: &str) -> ServiceResult<bool> {
        let mut waited = Duration::ZERO;
        let mut pause = Duration::from_millis(25);
        loop {
            match self.fanout.post_raw(id, payload.as_bytes()).await {
                Ok(()) => return Ok(true),
                Err(PushError::Gone) if waited < WELCOME_PATIENCE => {
                    tokio::time::sleep(pause).await;
                    waited += pause;
                    pause = (pause * 2).min(Duration::from_millis(400));
                }
                Err(PushError::Gone) => {
                    self.close_connection(id).await?;
                    return Ok(false);
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    async fn welcome_frames(
        &self,
        connection: &Connection,
        session: SessionId,
    ) -> ServiceResult<(Session, ServerFrame, ServerFrame)> {
        let details = self
            .details(
                self.store
                    .get_session(session)
                    .await?
                    .ok_or(ServiceError::NotFound("session"))?,
            )
            .await?;
        let title = details
            .session
            .title
            .as_ref()
            .map_or("the session", |t| t.as_str());
        let info = ServerFrame::session_info(
            SessionView::new(&details.session, &details.members, details.online.clone()),
            connection.principal.user_id.clone(),
            format!("Welcome to {title}"),
        );
        let history = self
            .history_frame(session, None, PageLimit::DEFAULT)
            .await?;
        Ok((details.session, info, history))
    }

    /// A connection that comes to a bot session while a reply streams joins the reply:
    /// at its next check the bot sends it the text so far, then the rest. Called once the
    /// connection's welcome or catch-up is sent, so the reply's frames come after it. A
    /// failure costs the joiner only the reply's stream: `response_complete` still comes.
    async fn join_reply(&self, session: &Session, connection: &ConnectionId) {
        if !session.wants_bot() {
            return;
        }
        if let Err(error) = self.store.join_reply(session.id, connection).await {
            tracing::warn!(error = %crate::ports::error_chain(&error), "cannot join the reply in progress");
        }
    }

    /// A page of history older than `before` (the latest when `None`), oldest first; its
    /// `next_cursor` is the oldest message's id, to pass back as `before`. A page too large
    /// for one post holds the newest messages that fit (see [`ServerFrame::history_page`]).
    async fn history_frame(
        &self,
        session: SessionId,
        before: Option<MessageId>,
        limit: PageLimit,
    ) -> ServiceResult<ServerFrame> {
        let query = MessageQuery {
            before,
            limit,
            ..Default::default()
        };
        let Page {
            mut items,
            next_cursor,
        } = self.store.list_messages(session, &query).await?;
        items.reverse();
        let next_cursor = next_cursor.and(items.first().map(|m| m.id.to_string()));
        Ok(ServerFrame::history_page(
            self.views(&items).await,
            next_cursor,
        ))
    }

    /// A `join` frame: binds the connection (leaving any other session), welcomes it and
    /// tells the others.
    pub async fn join_connection(
        &self,
        connection: &Connection,
        session: SessionId,
    ) -> ServiceResult<Connection> {
        self.admit(&connection.principal, session).await?;
        if connection.session_id.is_some_and(|old| old != session) {
            self.leave_connection(connection).await?;
        }
        let bound = self
            .store
            .bind_connection(&connection.id, Some(session))
            .await?;
        let (joined, info, history) = self.welcome_frames(&bound, session).await?;
        self.reply(&bound, &info).await?;
        self.reply(&bound, &history).await?;
        self.join_reply(&joined, &bound.id).await;
        self.announce_joined(&bound, session).await?;
        Ok(bound)
    }

    /// A `resume` frame, after a reconnect: binds the connection like `join` (without the
    /// welcome: the client has the session), then sends every message after `after_seq`
    /// as `chat_message`, in seq order. Bound first, then read: a message committed after
    /// the read reaches the connection live, so none falls between the two; one may come
    /// both ways, and the client drops a seq it has (docs/protocol.md, "Reconnecting").
    pub async fn resume_connection(
        &self,
        connection: &Connection,
        session: SessionId,
        after_seq: u64,
    ) -> ServiceResult<Connection> {
        let resumed = self.admit(&connection.principal, session).await?;
        let moved = connection.session_id != Some(session);
        if moved && connection.session_id.is_some() {
            self.leave_connection(connection).await?;
        }
        let bound = if moved {
            self.store
                .bind_connection(&connection.id, Some(session))
                .await?
        } else {
            connection.clone()
        };
        let mut after = after_seq;
        let mut sent = 0;
        loop {
            let query = MessageQuery {
                after_seq: Some(after),
                limit: PageLimit::new(PageLimit::MAX)?,
                ..Default::default()
            };
            let page = self.store.list_messages(session, &query).await?;
            for message in &page.items {
                let frame = ServerFrame::ChatMessage {
                    message: self.view(message).await,
                };
                self.reply(&bound, &frame).await?;
                after = message.seq;
            }
            sent += page.items.len();
            if page.next_cursor.is_none() {
                break;
            }
            if sent >= RESUME_MESSAGES {
                return Err(ServiceError::Conflict(
                    "too far behind to resume: read GET /sessions/{id}/messages?after_seq= first",
                ));
            }
        }
        self.join_reply(&resumed, &bound.id).await;
        if moved {
            self.announce_joined(&bound, session).await?;
        }
        Ok(bound)
    }

    /// A `leave` frame: unbinds the connection, which stays open.
    pub async fn leave_connection(&self, connection: &Connection) -> ServiceResult<Connection> {
        let unbound = self.store.bind_connection(&connection.id, None).await?;
        if let Some(session) = connection.session_id {
            self.announce_left(&connection.principal.user_id, session)
                .await?;
        }
        Ok(unbound)
    }

    /// `$disconnect` (or a connection found gone): forgets it and tells the session.
    pub async fn close_connection(&self, id: &ConnectionId) -> ServiceResult<()> {
        if let Some(connection) = self.store.delete_connection(id).await?
            && let Some(session) = connection.session_id
        {
            let left = self
                .announce_left(&connection.principal.user_id, session)
                .await?;
            if left == 0 {
                self.end_if_abandoned(session).await?;
            }
        }
        Ok(())
    }

    /// Ends a session that asked to end with its last connection, now that it has none:
    /// one GetItem for any session whose last connection closed.
    async fn end_if_abandoned(&self, id: SessionId) -> ServiceResult<()> {
        let Some(session) = self.store.get_session(id).await? else {
            return Ok(());
        };
        if !session.end_on_disconnect || session.is_ended() {
            return Ok(());
        }
        match self.store.end_session(id, self.clock.now()).await {
            // Ended meanwhile (by its owner, the sweeper, another disconnect): done.
            Err(StoreError::SessionEnded) => Ok(()),
            Err(error) => Err(error.into()),
            Ok(_) => self.announce_end(id, "disconnected").await,
        }
    }

    /// Closes the socket from our side, and forgets the connection at once.
    pub async fn disconnect(&self, id: &ConnectionId) {
        if let Err(PushError::Failed(reason)) = self.fanout.close(id).await {
            tracing::warn!(connection = %id, %reason, "cannot close a connection");
        }
        if let Err(error) = self.close_connection(id).await {
            tracing::warn!(connection = %id, error = %crate::ports::error_chain(&error), "cannot forget a closed connection");
        }
    }

    /// `user_joined` to the others, when this is the user's first connection there.
    async fn announce_joined(
        &self,
        connection: &Connection,
        session: SessionId,
    ) -> ServiceResult<()> {
        let connections = self.fanout.connections(session).await?;
        let user = &connection.principal.user_id;
        let own = connections
            .iter()
            .filter(|c| c.principal.user_id == *user)
            .count();
        if own > 1 {
            return Ok(());
        }
        let others: Vec<Connection> = connections
            .iter()
            .filter(|c| c.principal.user_id != *user)
            .cloned()
            .collect();
        let frame = ServerFrame::user_joined(user.clone(), online_users(&connections));
        self.fanout.send_all(&others, &frame).await;
        Ok(())
    }

    /// `user_left` to the rest, when the user has no connection left there: how many
    /// connections the session has left.
    async fn announce_left(&self, user: &UserId, session: SessionId) -> ServiceResult<usize> {
        let connections = self.fanout.connections(session).await?;
        if connections.iter().any(|c| c.principal.user_id == *user) {
            return Ok(connections.len());
        }
        let frame = ServerFrame::user_left(user.clone(), online_users(&connections));
        self.fanout.send_all(&connections, &frame).await;
        Ok(connections.len())
    }

    /// A member who left or was removed: their sockets bound to the session are unbound,
    /// so none keeps hearing it, and they and everyone still there get `user_left`.
    pub(super) async fn unbind_member(
        &self,
        user: &UserId,
        session: SessionId,
    ) -> ServiceResult<()> {
        let connections = self.fanout.connections(session).await?;
        let mut unbound = false;
        for connection in connections.iter().filter(|c| c.principal.user_id == *user) {
            match self.store.bind_connection(&connection.id, None).await {
                Ok(_) | Err(StoreError::NotFound(_)) => unbound = true,
                Err(error) => return Err(error.into()),
            }
        }
        if !unbound {
            return Ok(());
        }
        let online = online_users(&connections)
            .into_iter()
            .filter(|online| online != user);
        let frame = ServerFrame::user_left(user.clone(), online);
        self.fanout.send_all(&connections, &frame).await;
        Ok(())
    }

    /// The session a connection's frame is about, or an error asking it to join first.
    pub fn bound_session(connection: &Connection) -> ServiceResult<SessionId> {
        connection
            .session_id
            .ok_or(ServiceError::Conflict("join a session first"))
    }

    /// A `typing` frame, remembered for a few seconds, in two store requests: the mark (which also says who the
    /// connection is and where it is bound), then the session's peers.
    pub async fn typing(
        &self,
        id: &ConnectionId,
        user: &UserId,
        is_typing: bool,
    ) -> ServiceResult<Connection> {
        let now = self.clock.now();
        let until = is_typing.then(|| now.plus(TYPING_LASTS));
        let connection = self
            .store
            .set_typing(id, until, now)
            .await?
            .filter(|c| c.principal.user_id == *user)
            .ok_or(ServiceError::NotFound("connection"))?;
        let session = Self::bound_session(&connection)?;
        let mut peers = self.store.typing_peers(session, now).await?;
        // The peers may not show this very mark yet: it is the one we know.
        peers.retain(|c| c.id != connection.id);
        let typing = online_users(
            &peers
                .iter()
                .chain(std::iter::once(&connection))
                .filter(|c| c.is_typing(now))
                .cloned()
                .collect::<Vec<_>>(),
        );
        let others: Vec<Connection> = peers
            .into_iter()
            .filter(|c| c.principal.user_id != *user)
            .collect();
        let frame = ServerFrame::typing_status(user.clone(), is_typing, typing);
        self.fanout.send_all(&others, &frame).await;
        Ok(connection)
    }

    /// A `history` frame: a page of older messages to the asking connection only.
    pub async fn send_history(
        &self,
        connection: &Connection,
        before: Option<MessageId>,
        limit: PageLimit,
    ) -> ServiceResult<()> {
        let session = Self::bound_session(connection)?;
        self.access(&connection.principal, session)
            .await?
            .require_read(&connection.principal)?;
        let frame = self.history_frame(session, before, limit).await?;
        self.reply(connection, &frame).await
    }

    /// Sends a frame to one connection, in its dialect; one that is gone has nothing left
    /// to tell.
    pub async fn reply(&self, connection: &Connection, frame: &ServerFrame) -> ServiceResult<()> {
        self.reply_in(&connection.id, connection.dialect, frame)
            .await
    }

    /// Sends a frame to the connection `id`, which speaks `dialect`.
    pub async fn reply_in(
        &self,
        id: &ConnectionId,
        dialect: Dialect,
        frame: &ServerFrame,
    ) -> ServiceResult<()> {
        match self.fanout.send(id, dialect, frame).await {
            Ok(()) | Err(PushError::Gone) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
}
