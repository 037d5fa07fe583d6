//! The message path. A send costs three store requests whatever the session's size: one
//! read of the sender (the session and membership over REST, the connection over the
//! WebSocket, and the user's send bucket either way), one read of the session's feed (its
//! last seq and its connections, which the broadcast then uses), and one write (the
//! message under the next seq, the session's and the membership's activity, the buckets).
//! Another writer taking the seq first, or drawing on the same bucket, makes the write
//! stale: it is read again and retried, which only contention costs.

use crate::config::RateLimits;
use crate::domain::{
    ArrivalTime, Bucket, Connection, ConnectionId, Day, Limited, Message, MessageKind, Principal,
    Role, SessionId, Timestamp, UserId, ValidationError,
};
use crate::metrics::{Metric, Sample};
use crate::ports::{
    Append, BucketUpdate, Feed, Posted, Sender, SenderKey, StoreError, UsageCharge, WindowCount,
};
use crate::protocol::{SendFrame, ServerFrame};

use super::{Access, ChatService, NewMessage, ServiceError, ServiceResult};

/// Writes retried when others keep taking the seq (or the bucket) first: a burst of many
/// writers in one session takes turns, each retry after a short random pause.
const ATTEMPTS: usize = 40;

/// A pause of up to `attempt` × 4 ms, so racing writers spread out instead of colliding
/// again in step.
async fn pause_before_retry(attempt: usize) {
    let jitter = u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos()),
    );
    let ceiling = 4 * attempt.min(10) as u64 + 1;
    tokio::time::sleep(std::time::Duration::from_millis(jitter % ceiling)).await;
}

/// A connection as the message path reads it: with its user's send bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionSender {
    pub connection: Connection,
    pub user_bucket: Option<ArrivalTime>,
    /// What the user's bot replies came to today.
    pub tokens_today: u64,
}

/// How one send is written: whose buckets it draws on, and who is told.
struct Route<'a> {
    key: SenderKey,
    caller: &'a Principal,
    /// Records the activity on the membership, and requires it.
    sender_is_member: bool,
    /// A WebSocket send: the connection's own bucket, and the acknowledgement.
    connection: Option<&'a Connection>,
    /// Whether the session gets bot replies, when already known.
    wants_bot: Option<bool>,
}

impl ChatService {
    /// The connection a frame came from and its user's send bucket, in one read. `user` is
    /// who the authorizer said opened it.
    pub async fn connection_sender(
        &self,
        id: &ConnectionId,
        user: &UserId,
    ) -> ServiceResult<ConnectionSender> {
        let key = SenderKey::Connection {
            id: id.clone(),
            user: user.clone(),
        };
        let sender = self.store.read_sender(&key, self.clock.now()).await?;
        let connection = sender
            .connection
            .filter(|c| c.principal.user_id == *user)
            .ok_or(ServiceError::NotFound("connection"))?;
        Ok(ConnectionSender {
            connection,
            user_bucket: sender.user_bucket,
            tokens_today: sender.tokens_today,
        })
    }

    /// Posts a message over REST and broadcasts it; a repeated `client_msg_id` returns the
    /// original and broadcasts nothing.
    pub async fn post_message(
        &self,
        caller: &Principal,
        id: SessionId,
        request: NewMessage,
    ) -> ServiceResult<Posted> {
        Self::require_bot_rights(caller, &request)?;
        let key = SenderKey::Member {
            session: id,
            user: caller.user_id.clone(),
        };
        let sender = self.store.read_sender(&key, self.clock.now()).await?;
        let session = sender
            .session
            .clone()
            .ok_or(ServiceError::NotFound("session"))?;
        let access = Access::new(caller, session, sender.member.clone());
        access.require_write(caller)?;
        let message = self.compose(caller, id, &request).await?;
        let route = Route {
            key,
            caller,
            sender_is_member: access.member.is_some(),
            connection: None,
            wants_bot: Some(access.session.wants_bot()),
        };
        self.send(message, sender, &route).await
    }

    /// A `send` frame from a bound connection: stored, acknowledged to it with
    /// `message_received` (for a repeated `client_msg_id`, with the original's id), then
    /// broadcast. Membership and the session being open are conditions of the write, so
    /// nothing else is read.
    pub async fn post_from(
        &self,
        sender: &ConnectionSender,
        send: SendFrame,
    ) -> ServiceResult<Posted> {
        let connection = &sender.connection;
        let caller = &connection.principal;
        let id = Self::bound_session(connection)?;
        let request = NewMessage {
            content: send.content,
            kind: send.kind,
            attachment: send.attachment,
            client_msg_id: send.client_msg_id,
            is_bot: false,
            token_count: None,
            acknowledge: None,
            preferences: send.preferences,
        };
        let message = self.compose(caller, id, &request).await?;
        let route = Route {
            key: SenderKey::Connection {
                id: connection.id.clone(),
                user: caller.user_id.clone(),
            },
            caller,
            // Admins and services write without joining.
            sender_is_member: !matches!(caller.role, Role::Admin | Role::Service),
            connection: Some(connection),
            wants_bot: None,
        };
        let read = Sender {
            connection: Some(connection.clone()),
            user_bucket: sender.user_bucket,
            tokens_today: sender.tokens_today,
            ..Sender::default()
        };
        match self.send(message, read, &route).await {
            Err(ServiceError::RateLimited {
                what, retry_after, ..
            }) => Err(self.strike(connection, what, retry_after).await),
            other => other,
        }
    }

    fn require_bot_rights(caller: &Principal, request: &NewMessage) -> ServiceResult<()> {
        if (request.is_bot || request.token_count.is_some()) && caller.role != Role::Service {
            return Err(ServiceError::Forbidden(
                "only service tokens may set is_bot and token_count",
            ));
        }
        Ok(())
    }

    /// The message a request makes, its file checked and attached.
    async fn compose(
        &self,
        caller: &Principal,
        id: SessionId,
        request: &NewMessage,
    ) -> ServiceResult<Message> {
        // Before anything is stored or an attachment marked ready.
        let (content, moderated) = match &request.content {
            Some(content) => self
                .moderate(content, request.is_bot)
                .map(|(content, moderated)| (Some(content), moderated))?,
            None => (None, false),
        };
        let now = self.clock.now();
        let mut message = match (request.kind, &request.attachment, &content) {
            (MessageKind::Text, None, Some(content)) => Message::text(
                id,
                caller.user_id.clone(),
                caller.name.clone(),
                content.clone(),
                now,
            ),
            (MessageKind::Text, Some(_), _) => {
                return Err(ValidationError::new(
                    "attachment_id",
                    "only a file or image message carries an attachment",
                )
                .into());
            }
            (MessageKind::Text, None, None) => {
                return Err(ValidationError::new("content", "is required").into());
            }
            (kind, Some(reference), caption) => {
                let attachment = self.attach(caller, id, reference, kind).await?;
                Message::file(kind, attachment, caption.as_ref(), caller.name.clone(), now)
            }
            (_, None, _) => {
                return Err(ValidationError::new(
                    "attachment_id",
                    "is required for file and image messages",
                )
                .into());
            }
        };
        message.client_msg_id = request.client_msg_id.clone();
        message.is_bot = request.is_bot;
        message.token_count = request.token_count;
        message.moderated = moderated;
        message.language = request.preferences.language.clone();
        message.timezone = request.preferences.timezone.clone();
        Ok(message)
    }

    /// Appends the message, acknowledges it, broadcasts it to the feed's connections and
    /// hands it to the bot.
    async fn send(
        &self,
        mut message: Message,
        mut sender: Sender,
        route: &Route<'_>,
    ) -> ServiceResult<Posted> {
        let session = message.session_id;
        let mut feed = self.store.session_feed(session, self.clock.now()).await?;
        let wants_bot = match route.wants_bot.or(feed.wants_bot) {
            Some(wants) => wants,
            None => self
                .store
                .get_session(session)
                .await?
                .is_some_and(|s| s.wants_bot()),
        };
        let to_bot = wants_bot && !message.is_bot;
        if to_bot {
            self.require_token_budget(sender.tokens_today)?;
        }
        // A message to a bot counts against the sender's bot replies today, in the write.
        let bot_window = self.rates.bot_replies_per_user;
        let window = to_bot.then(|| {
            let (index, ends_at) = bot_window.at(self.clock.now());
            WindowCount {
                key: format!("bot#{}", route.caller.user_id),
                window: index,
                limit: bot_window.limit,
                ends_at,
            }
        });
        let mut attempts = 0;
        let posted = loop {
            attempts += 1;
            let append = Append {
                after_seq: feed.last_seq,
                sender_is_member: route.sender_is_member,
                window: window.clone(),
                ..self.charge(route, &sender, &message)?
            };
            message.seq = feed.last_seq + 1;
            match self.store.put_message(&message, &append).await {
                Ok(posted) => break posted,
                Err(StoreError::Full) => {
                    let ends_at = window.as_ref().map_or(self.clock.now(), |w| w.ends_at);
                    return Err(ServiceError::RateLimited {
                        what: "messages to the bot today",
                        retry_after: crate::domain::Window::refusal(ends_at, self.clock.now())
                            .retry_after,
                        closes: false,
                    });
                }
                Err(StoreError::Stale(_)) if attempts >= ATTEMPTS => {
                    return Err(ServiceError::Conflict("the session is too busy; try again"));
                }
                Err(StoreError::Stale("seq")) => {
                    pause_before_retry(attempts).await;
                    feed = self.store.session_feed(session, self.clock.now()).await?;
                }
                Err(StoreError::Stale(_)) => {
                    pause_before_retry(attempts).await;
                    sender = self.store.read_sender(&route.key, self.clock.now()).await?;
                    if let (Some(connection), None) = (route.connection, &sender.connection) {
                        tracing::debug!(connection = %connection.id, "the connection went while sending");
                        return Err(ServiceError::NotFound("connection"));
                    }
                }
                Err(other) => return Err(other.into()),
            }
        };
        if let Some(connection) = route.connection {
            let stored = posted.message();
            let ack = ServerFrame::MessageReceived {
                message_id: stored.id,
                client_msg_id: stored.client_msg_id.clone(),
                timestamp: stored.created_at,
            };
            self.reply(connection, &ack).await?;
        }
        if let Posted::New(stored) = &posted {
            let frame = ServerFrame::ChatMessage {
                message: self.view(stored).await,
            };
            let started = std::time::Instant::now();
            let delivery = self.fanout.send_all(&feed.connections, &frame).await;
            self.metrics.record(&[
                Sample::count(Metric::MessagesPosted, 1),
                Sample::count(Metric::FanOutSize, delivery.attempted()),
                Sample::duration(Metric::FanOutDuration, started.elapsed()),
            ]);
            if wants_bot {
                self.start_bot_reply(session, stored).await;
            }
        }
        Ok(posted)
    }

    /// Refuses a message to a bot once the sender's bot replies today came to their daily
    /// tokens (read with the sender: it costs no request). Replies already running may
    /// take a user past it; the next message waits for the next day.
    fn require_token_budget(&self, tokens_today: u64) -> ServiceResult<()> {
        if tokens_today < self.rates.bot_tokens_per_user {
            return Ok(());
        }
        let now = self.clock.now();
        Err(ServiceError::RateLimited {
            what: "bot tokens today",
            retry_after: crate::domain::Window::refusal(Day::of(now).next_starts_at(), now)
                .retry_after,
            closes: false,
        })
    }

    /// The buckets this send draws on, as they will be after it, and the user's run of
    /// the same text; a refusal if a bucket is empty or the text came once too often.
    fn charge(
        &self,
        route: &Route<'_>,
        sender: &Sender,
        message: &Message,
    ) -> ServiceResult<Append> {
        let now = self.clock.now();
        let repetition = if message.is_bot || message.content.is_empty() {
            None
        } else {
            Some(
                self.moderator
                    .repeat(&message.content, sender.repetition, now)?,
            )
        };
        let rates = &self.rates;
        let user = drawn(&rates.user_sends, sender.user_bucket, now, "your messages")?;
        let connection = match (route.connection, &sender.connection) {
            (Some(_), Some(connection)) => Some(BucketUpdate {
                owner: connection.id.clone(),
                previous: connection.send_bucket,
                next: drawn(
                    &rates.connection_sends,
                    connection.send_bucket,
                    now,
                    "this connection's messages",
                )?,
            }),
            _ => None,
        };
        Ok(Append {
            user_bucket: Some(BucketUpdate {
                owner: route.caller.user_id.clone(),
                previous: sender.user_bucket,
                next: user,
            }),
            connection_bucket: connection,
            repetition,
            ..Append::after(0)
        })
    }

    /// Counts a refused send against the connection: past [`RateLimits::STRIKES`] in a
    /// row, the refusal closes it.
    async fn strike(
        &self,
        connection: &Connection,
        what: &'static str,
        retry_after: std::time::Duration,
    ) -> ServiceError {
        let strikes = connection.strikes.saturating_add(1);
        if let Err(error) = self.store.set_strikes(&connection.id, strikes).await {
            tracing::warn!(error = %crate::ports::error_chain(&error), "cannot count a refused send");
        }
        ServiceError::RateLimited {
            what,
            retry_after,
            closes: strikes > RateLimits::STRIKES,
        }
    }

    /// One more event in a fixed window (`$connect`s, public starts, bot replies), or the
    /// refusal.
    pub(super) async fn count(
        &self,
        window: &crate::domain::Window,
        key: String,
        what: &'static str,
    ) -> ServiceResult<()> {
        let now = self.clock.now();
        let (index, ends_at) = window.at(now);
        let count = WindowCount {
            key,
            window: index,
            limit: window.limit,
            ends_at,
        };
        if self.store.count_in_window(&count).await? {
            Ok(())
        } else {
            Err(ServiceError::RateLimited {
                what,
                retry_after: crate::domain::Window::refusal(ends_at, now).retry_after,
                closes: false,
            })
        }
    }

    /// The feed a bot reply is appended to (see [`ChatService::append_reply`]).
    pub(super) async fn feed(&self, session: SessionId) -> ServiceResult<Feed> {
        Ok(self.store.session_feed(session, self.clock.now()).await?)
    }

    /// Stores a bot's reply under the session's next seq, with no bucket to draw on.
    pub(super) async fn append_reply(
        &self,
        mut message: Message,
        mut feed: Feed,
        usage: Option<UsageCharge>,
    ) -> ServiceResult<(Posted, Feed)> {
        for attempt in 1..=ATTEMPTS {
            message.seq = feed.last_seq + 1;
            let append = Append {
                usage: usage.clone(),
                ..Append::after(feed.last_seq)
            };
            match self.store.put_message(&message, &append).await {
                Ok(posted) => return Ok((posted, feed)),
                Err(StoreError::Stale(_)) => {
                    pause_before_retry(attempt).await;
                    feed = self.feed(message.session_id).await?;
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(ServiceError::Conflict("the session is too busy; try again"))
    }
}

fn drawn(
    bucket: &Bucket,
    state: Option<ArrivalTime>,
    now: Timestamp,
    what: &'static str,
) -> ServiceResult<ArrivalTime> {
    bucket
        .take(state, now)
        .map_err(|Limited { retry_after }| ServiceError::RateLimited {
            what,
            retry_after,
            closes: false,
        })
}
