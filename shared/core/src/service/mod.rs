//! The use cases, written against the ports. REST handlers and WebSocket routes call these
//! and nothing deeper; authorization happens here, so every transport enforces the same.

mod access;
mod attachments;
mod bot;
mod chatbots;
mod documents;
mod error;
mod fanout;
mod library;
mod posting;
mod realtime;
mod sweep;
mod usage;

use std::sync::Arc;

pub use access::{Access, acting_as};
pub use attachments::{
    DOWNLOAD_URL_LIFETIME, DirectUpload, Files, MAX_DIRECT_UPLOAD_BYTES, Timeline,
    UPLOAD_URL_LIFETIME, UploadRequest,
};
pub use bot::BotSettings;
pub use chatbots::{ChatbotPolicy, ChatbotSettings};
pub use documents::{
    AddedDocument, DOCUMENT_TYPES, DocumentReaders, Indexing, chatbot_document_key,
};
pub use error::{ServiceError, ServiceResult};
pub use fanout::{Delivery, FANOUT_CONCURRENCY, Fanout};
pub use library::{LIBRARY_DOCUMENTS_PER_USER, library_document_key, library_scope};
pub use posting::ConnectionSender;
pub use realtime::{TYPING_LASTS, WELCOME_PATIENCE};
pub use sweep::{IDLE_REASON, SweepPolicy, SweepReport};
pub use usage::UsageReport;

use crate::config::RateLimits;
use crate::domain::{
    BusinessId, BusinessSecret, ChatbotId, ClientMsgId, Connection, Content, CustomerSecret,
    DepartmentId, DocumentId, ExternalCustomerId, JoinPolicy, Language, Member, MemberRole,
    Message, MessageId, MessageKind, Page, PageLimit, Principal, Reaction, ReplyPreferences, Role,
    Session, SessionId, SessionKind, SessionSpec, TimeZoneName, Title, UserId, ValidationError,
    verified_customer_id,
};
use crate::metrics::{Metrics, NoMetrics, Sample};
use crate::moderation::Moderator;
use crate::ports::{
    Clock, Created, Edit, Invoker, MAX_INITIAL_MEMBERS, MessageQuery, Pusher, SessionPatch,
    SessionQuery, Store,
};
use crate::protocol::{AttachmentRef, ServerFrame};

/// A session with who belongs to it and who is connected now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionDetails {
    pub session: Session,
    pub members: Vec<Member>,
    pub online: Vec<UserId>,
}

/// What a client asks for when creating a session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewSession {
    pub kind: Option<SessionKind>,
    pub title: Option<Title>,
    pub members: Vec<UserId>,
    pub document_id: Option<DocumentId>,
    pub chatbot_id: Option<ChatbotId>,
    pub business_id: Option<BusinessId>,
    /// See [`crate::domain::Session::one_of_many`].
    pub one_of_many: bool,
    /// Groups only; invite-only when not given.
    pub join_policy: Option<JoinPolicy>,
    /// What the bot replies in, and the time zone its dates are in.
    pub language: Option<Language>,
    pub timezone: Option<TimeZoneName>,
    /// See [`crate::domain::Session::end_on_disconnect`].
    pub end_on_disconnect: bool,
}

/// A session opened (or found already open) with its latest messages, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    pub details: SessionDetails,
    pub previous_messages: Vec<Message>,
    /// False when an already active session was returned instead of a new one.
    pub created: bool,
}

/// A visitor's request for support from a business.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SupportRequest {
    pub business_id: BusinessId,
    pub department_id: Option<DepartmentId>,
    pub external_customer_id: Option<ExternalCustomerId>,
    /// The address the request came from, when known: public starts are limited per
    /// address as well as per business.
    pub source_address: Option<String>,
    /// The business backend's HMAC of `external_customer_id` (see
    /// [`crate::domain::CustomerSecret`]): with it, the customer is the same visitor on
    /// every device.
    pub customer_proof: Option<String>,
}

/// What a client asks to post: text, or a file or image with an optional caption.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMessage {
    pub content: Option<Content>,
    pub kind: MessageKind,
    /// The uploaded file a file or image message carries.
    pub attachment: Option<AttachmentRef>,
    pub client_msg_id: Option<ClientMsgId>,
    pub is_bot: bool,
    pub token_count: Option<u32>,
    /// The connection to acknowledge with `message_received` before the broadcast.
    pub acknowledge: Option<Connection>,
    /// What the sender asks the bot's reply in.
    pub preferences: ReplyPreferences,
}

impl NewMessage {
    pub fn text(content: Content) -> Self {
        Self {
            content: Some(content),
            kind: MessageKind::Text,
            attachment: None,
            client_msg_id: None,
            is_bot: false,
            token_count: None,
            acknowledge: None,
            preferences: ReplyPreferences::default(),
        }
    }
}

/// How many messages the welcome and `previous_messages` carry.
const RECENT_MESSAGES: usize = 50;

#[derive(Clone)]
pub struct ChatService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    fanout: Fanout,
    /// Absent in a deployment without attachments: file operations are then unavailable.
    files: Option<Files>,
    /// Starts bot replies; absent, messages in bot sessions get none.
    bot_invoker: Option<Arc<dyn Invoker>>,
    /// The models chatbots may use, and the default chatbot (`DEFAULT_CHATBOT_ID`): the
    /// one of the AI chat a bare `ai` connection is bound to.
    chatbots: ChatbotPolicy,
    rates: RateLimits,
    /// Reviews every message text before it is stored: sends, edits, bot replies.
    moderator: Arc<Moderator>,
    /// Read the files the bot indexes.
    readers: DocumentReaders,
    metrics: Arc<dyn Metrics>,
}

impl ChatService {
    pub fn new(store: Arc<dyn Store>, pusher: Arc<dyn Pusher>, clock: Arc<dyn Clock>) -> Self {
        let fanout = Fanout::new(store.clone(), pusher, clock.clone());
        Self {
            store,
            clock,
            fanout,
            files: None,
            bot_invoker: None,
            chatbots: ChatbotPolicy::with_default(
                ChatbotId::parse("assistant").expect("a valid id"),
            ),
            rates: RateLimits::default(),
            moderator: Arc::new(Moderator::default()),
            readers: DocumentReaders::default(),
            metrics: Arc::new(NoMetrics),
        }
    }

    /// The same service recording what it does in `metrics` (the deployment's).
    pub fn with_metrics(self, metrics: Arc<dyn Metrics>) -> Self {
        Self {
            fanout: self.fanout.clone().with_metrics(metrics.clone()),
            metrics,
            ..self
        }
    }

    /// Counts one of something that happened outside the service: a refusal, where
    /// errors are answered (so that each counts once).
    pub fn count_metric(&self, metric: crate::metrics::Metric) {
        self.metrics.record(&[Sample::count(metric, 1)]);
    }

    /// The same service reading the files it indexes with `readers`.
    pub fn with_readers(self, readers: DocumentReaders) -> Self {
        Self { readers, ..self }
    }

    /// The same service with these rate limits.
    pub fn with_rates(self, rates: RateLimits) -> Self {
        Self { rates, ..self }
    }

    pub fn rates(&self) -> &RateLimits {
        &self.rates
    }

    /// The same service moderating with `moderator` (the deployment's `MODERATION_*`).
    pub fn with_moderator(self, moderator: Arc<Moderator>) -> Self {
        Self { moderator, ..self }
    }

    /// The same service with the deployment's chatbot policy.
    pub fn with_chatbots(self, chatbots: ChatbotPolicy) -> Self {
        Self { chatbots, ..self }
    }

    /// The same service starting bot replies through `invoker`.
    pub fn with_bot_invoker(self, bot_invoker: Option<Arc<dyn Invoker>>) -> Self {
        Self {
            bot_invoker,
            ..self
        }
    }

    /// The same service with attachments stored in `files`.
    pub fn with_files(self, files: Option<Files>) -> Self {
        Self { files, ..self }
    }

    /// Whether attachments can be uploaded (a blob store is configured).
    pub fn stores_files(&self) -> bool {
        self.files.is_some()
    }

    pub fn fanout(&self) -> &Fanout {
        &self.fanout
    }

    /// The session as the caller stands to it; unknown sessions are `NotFound`.
    pub async fn access(&self, caller: &Principal, id: SessionId) -> ServiceResult<Access> {
        let session = self
            .store
            .get_session(id)
            .await?
            .ok_or(ServiceError::NotFound("session"))?;
        let member = self.store.get_member(id, &caller.user_id).await?;
        Ok(Access::new(caller, session, member))
    }

    async fn readable(&self, caller: &Principal, id: SessionId) -> ServiceResult<Access> {
        let access = self.access(caller, id).await?;
        access.require_read(caller)?;
        Ok(access)
    }

    pub async fn create_session(
        &self,
        caller: &Principal,
        request: NewSession,
    ) -> ServiceResult<Opened> {
        if caller.role == Role::Visitor {
            return Err(ServiceError::Forbidden(
                "visitors start support sessions with POST /sessions/start",
            ));
        }
        let kind = request
            .kind
            .ok_or_else(|| ValidationError::new("kind", "is required"))?;
        let others = other_members(caller, request.members)?;
        match kind {
            SessionKind::Direct if others.len() != 1 => {
                return Err(ValidationError::new(
                    "members",
                    "a direct session has exactly one other member",
                )
                .into());
            }
            SessionKind::Bot | SessionKind::Support if !others.is_empty() => {
                return Err(ValidationError::new(
                    "members",
                    "must be empty for this kind of session",
                )
                .into());
            }
            _ => {}
        }
        let about_a_document = self
            .binds_library_document(&caller.user_id, request.document_id.as_ref())
            .await?;
        // A session with a chatbot starts only with an active one, named as it is now.
        let chatbot = match &request.chatbot_id {
            Some(id) => Some(self.active_chatbot(id).await?),
            None => None,
        };
        let spec = SessionSpec {
            title: request.title,
            chatbot_name: chatbot.as_ref().map(|c| c.name.clone()),
            chatbot_id: request.chatbot_id,
            language: request.language,
            timezone: request.timezone,
            business_id: request.business_id,
            document_id: request.document_id,
            // A chat about a document is a conversation of its own, beside the user's
            // other chats with the chatbot.
            one_of_many: (request.one_of_many || about_a_document) && kind == SessionKind::Bot,
            join_policy: request.join_policy.unwrap_or_default(),
            end_on_disconnect: request.end_on_disconnect,
            ..SessionSpec::new(kind, caller.user_id.clone())
        };
        let now = self.clock.now();
        let session = Session::open(SessionId::new(now), spec, now)?;
        let mut members = vec![Member::new(
            session.id,
            caller.user_id.clone(),
            MemberRole::Owner,
            caller.name.clone(),
            now,
        )];
        members.extend(
            others
                .into_iter()
                .map(|user| Member::new(session.id, user, MemberRole::Member, None, now)),
        );
        let mut opened = self.open(session, members).await?;
        if let (true, Some(greeting)) = (opened.created, chatbot.and_then(|c| c.greeting)) {
            opened
                .previous_messages
                .push(self.greet(&opened.details.session, &greeting).await?);
        }
        Ok(opened)
    }

    /// Starts or resumes the visitor's one active support session with the business. A
    /// caller holding a visitor token for that business resumes; anyone else is a new
    /// visitor (an `external_customer_id` is the business's note, never an identity).
    pub async fn start_support(
        &self,
        caller: Option<&Principal>,
        request: SupportRequest,
    ) -> ServiceResult<(Principal, Opened)> {
        if let Some(address) = &request.source_address {
            let window = self.rates.starts_per_address;
            self.count(
                &window,
                format!("start-ip#{address}"),
                "sessions started from your address",
            )
            .await?;
        }
        let window = self.rates.starts_per_business;
        let key = format!("start-business#{}", request.business_id);
        self.count(&window, key, "sessions started with this business")
            .await?;
        let now = self.clock.now();
        let visitor = match (&request.customer_proof, caller) {
            (Some(proof), _) => self.verified_customer(&request, proof).await?,
            (None, Some(p))
                if p.role == Role::Visitor && p.org.as_ref() == Some(&request.business_id) =>
            {
                p.clone()
            }
            _ => Principal::visitor(
                UserId::parse(&format!("visitor-{}", SessionId::new(now)))?,
                request.business_id.clone(),
            ),
        };
        let spec = SessionSpec {
            business_id: Some(request.business_id),
            department_id: request.department_id,
            external_customer_id: request.external_customer_id,
            ..SessionSpec::new(SessionKind::Support, visitor.user_id.clone())
        };
        let session = Session::open(SessionId::new(now), spec, now)?;
        let owner = Member::new(
            session.id,
            visitor.user_id.clone(),
            MemberRole::Owner,
            visitor.name.clone(),
            now,
        );
        let opened = self.open(session, vec![owner]).await?;
        Ok((visitor, opened))
    }

    /// The visitor a customer proof names: the same one on every device. A proof that does
    /// not verify is refused rather than taken as a new visitor, so a business's broken
    /// integration shows at once.
    async fn verified_customer(
        &self,
        request: &SupportRequest,
        proof: &str,
    ) -> ServiceResult<Principal> {
        let customer = request.external_customer_id.as_ref().ok_or_else(|| {
            ValidationError::new("external_customer_id", "is required with a customer_proof")
        })?;
        let secret = self.store.get_business_secret(&request.business_id).await?;
        if !secret.is_some_and(|s| s.secret.verifies(customer, proof)) {
            return Err(ServiceError::Forbidden(
                "the customer proof does not verify for this business",
            ));
        }
        Ok(Principal::visitor(
            verified_customer_id(&request.business_id, customer),
            request.business_id.clone(),
        ))
    }

    /// An admin makes (or replaces) a business's customer-verification secret, shown once.
    /// The secret before it stops verifying at once.
    /// The business's open support sessions, newest first: its agents' queue (the
    /// business's agents and admins only).
    pub async fn support_queue(
        &self,
        caller: &Principal,
        business: &BusinessId,
    ) -> ServiceResult<Vec<Session>> {
        let agent = caller.role == Role::Agent && caller.org.as_ref() == Some(business);
        if !(agent || caller.is_admin()) {
            return Err(ServiceError::Forbidden(
                "only the business's agents see its support sessions",
            ));
        }
        Ok(self.store.open_support_sessions(business, 100).await?)
    }

    pub async fn new_business_secret(
        &self,
        caller: &Principal,
        business: BusinessId,
    ) -> ServiceResult<BusinessSecret> {
        if !caller.is_admin() {
            return Err(ServiceError::Forbidden(
                "only an admin sets a business's customer secret",
            ));
        }
        let secret = BusinessSecret {
            business_id: business,
            secret: CustomerSecret::generate(),
            created_at: self.clock.now(),
        };
        self.store.put_business_secret(&secret).await?;
        Ok(secret)
    }

    async fn open(&self, session: Session, members: Vec<Member>) -> ServiceResult<Opened> {
        match self.store.create_session(&session, &members).await? {
            Created::New(session) => Ok(Opened {
                details: SessionDetails {
                    session,
                    members,
                    online: Vec::new(),
                },
                previous_messages: Vec::new(),
                created: true,
            }),
            Created::Existing(session) => {
                let previous_messages = self.recent_messages(session.id).await?;
                let details = self.details(session).await?;
                Ok(Opened {
                    details,
                    previous_messages,
                    created: false,
                })
            }
        }
    }

    /// The latest messages, oldest first.
    async fn recent_messages(&self, id: SessionId) -> ServiceResult<Vec<Message>> {
        let query = MessageQuery {
            limit: PageLimit::new(RECENT_MESSAGES)?,
            ..Default::default()
        };
        let mut messages = self.store.list_messages(id, &query).await?.items;
        messages.reverse();
        Ok(messages)
    }

    async fn details(&self, session: Session) -> ServiceResult<SessionDetails> {
        let members = self.store.list_members(session.id).await?;
        let online = online_users(&self.fanout.connections(session.id).await?);
        Ok(SessionDetails {
            session,
            members,
            online,
        })
    }

    pub async fn list_sessions(
        &self,
        caller: &Principal,
        query: &SessionQuery,
    ) -> ServiceResult<Page<Session>> {
        Ok(self
            .store
            .list_user_sessions(&caller.user_id, query)
            .await?)
    }

    pub async fn get_session(
        &self,
        caller: &Principal,
        id: SessionId,
    ) -> ServiceResult<SessionDetails> {
        let access = self.readable(caller, id).await?;
        self.details(access.session).await
    }

    /// The session with its latest page of messages (oldest first) and the cursor to older.
    pub async fn full_session(
        &self,
        caller: &Principal,
        id: SessionId,
        limit: PageLimit,
    ) -> ServiceResult<(SessionDetails, Page<Message>)> {
        let access = self.readable(caller, id).await?;
        let mut page = self
            .store
            .list_messages(
                id,
                &MessageQuery {
                    limit,
                    ..Default::default()
                },
            )
            .await?;
        page.items.reverse();
        Ok((self.details(access.session).await?, page))
    }

    pub async fn update_session(
        &self,
        caller: &Principal,
        id: SessionId,
        patch: &SessionPatch,
    ) -> ServiceResult<Session> {
        patch.check()?;
        let access = self.access(caller, id).await?;
        access.require_manage(caller)?;
        if patch.join_policy.is_some() && access.session.kind != SessionKind::Group {
            return Err(ValidationError::new("join_policy", "only a group has one").into());
        }
        Ok(self
            .store
            .update_session(id, patch, self.clock.now())
            .await?)
    }

    /// Ends the session: no more messages; every connection gets `session_ended` and is closed.
    pub async fn end_session(
        &self,
        caller: &Principal,
        id: SessionId,
        reason: &str,
    ) -> ServiceResult<Session> {
        self.access(caller, id).await?.require_manage(caller)?;
        let ended = self.store.end_session(id, self.clock.now()).await?;
        self.announce_end(id, reason).await?;
        Ok(ended)
    }

    /// Makes the caller a member; true when they were not one already.
    pub async fn join(
        &self,
        caller: &Principal,
        id: SessionId,
    ) -> ServiceResult<(SessionDetails, bool)> {
        let access = self.access(caller, id).await?;
        if access.member.is_none() {
            if !access.can_join(caller) {
                access.require_read(caller)?;
                return Err(ServiceError::Forbidden("you may not join this session"));
            }
            access.require_open()?;
        }
        let member = Member::new(
            id,
            caller.user_id.clone(),
            access.joining_role(),
            caller.name.clone(),
            self.clock.now(),
        );
        let joined = access.member.is_none() && self.store.add_member(&member).await?;
        Ok((self.details(access.session).await?, joined))
    }

    /// Ends the caller's membership; false when they were not a member. Their sockets in
    /// the session stop hearing it at once (see [`ChatService::unbind_member`]).
    pub async fn leave(&self, caller: &Principal, id: SessionId) -> ServiceResult<bool> {
        let access = self.readable(caller, id).await?;
        if access.member.is_none() {
            return Ok(false);
        }
        self.drop_member(id, &caller.user_id).await
    }

    /// The owner or an admin adds `user` to a group; false when they already were a member.
    pub async fn add_member(
        &self,
        caller: &Principal,
        id: SessionId,
        user: UserId,
    ) -> ServiceResult<(SessionDetails, bool)> {
        let access = self.access(caller, id).await?;
        access.require_manage_members(caller)?;
        let member = Member::new(id, user, MemberRole::Member, None, self.clock.now());
        let added = self.store.add_member(&member).await?;
        Ok((self.details(access.session).await?, added))
    }

    /// The owner or an admin removes `user` from a group, as if they had left; false when
    /// they were not a member. The owner is not removed: ending the group is how it goes.
    pub async fn remove_member(
        &self,
        caller: &Principal,
        id: SessionId,
        user: &UserId,
    ) -> ServiceResult<bool> {
        let access = self.access(caller, id).await?;
        access.require_manage_members(caller)?;
        if access.session.owner_id == *user {
            return Err(ServiceError::Conflict(
                "the owner cannot be removed; end the session instead",
            ));
        }
        self.drop_member(id, user).await
    }

    /// Ends `user`'s membership, and their sockets' hearing of the session with it.
    async fn drop_member(&self, id: SessionId, user: &UserId) -> ServiceResult<bool> {
        let removed = self.store.remove_member(id, user).await?;
        self.unbind_member(user, id).await?;
        Ok(removed)
    }

    pub async fn connections(
        &self,
        caller: &Principal,
        id: SessionId,
    ) -> ServiceResult<Vec<Connection>> {
        self.readable(caller, id).await?;
        Ok(self.fanout.connections(id).await?)
    }

    pub async fn list_messages(
        &self,
        caller: &Principal,
        id: SessionId,
        query: &MessageQuery,
    ) -> ServiceResult<Page<Message>> {
        self.readable(caller, id).await?;
        Ok(self.store.list_messages(id, query).await?)
    }

    pub async fn get_message(
        &self,
        caller: &Principal,
        id: SessionId,
        message: MessageId,
    ) -> ServiceResult<Message> {
        self.readable(caller, id).await?;
        self.find_message(id, message).await
    }

    async fn find_message(&self, id: SessionId, message: MessageId) -> ServiceResult<Message> {
        self.store
            .get_message(id, message)
            .await?
            .ok_or(ServiceError::NotFound("message"))
    }

    pub async fn edit_message(
        &self,
        caller: &Principal,
        id: SessionId,
        message: MessageId,
        content: &Content,
    ) -> ServiceResult<Message> {
        let access = self.readable(caller, id).await?;
        let original = self.find_message(id, message).await?;
        access.require_edit(caller, &original)?;
        let (content, moderated) = self.moderate(content, original.is_bot)?;
        let edit = Edit { content, moderated };
        let edited = self
            .store
            .edit_message(id, message, &edit, self.clock.now())
            .await?;
        self.broadcast(
            id,
            ServerFrame::MessageUpdated {
                message: self.view(&edited).await,
            },
        )
        .await;
        Ok(edited)
    }

    pub async fn delete_message(
        &self,
        caller: &Principal,
        id: SessionId,
        message: MessageId,
    ) -> ServiceResult<Message> {
        let access = self.readable(caller, id).await?;
        access.require_delete(caller, &self.find_message(id, message).await?)?;
        let deleted = self
            .store
            .delete_message(id, message, self.clock.now())
            .await?;
        self.broadcast(
            id,
            ServerFrame::MessageDeleted {
                message: self.view(&deleted).await,
            },
        )
        .await;
        Ok(deleted)
    }

    /// Adds (`present`) or removes the caller's reaction.
    pub async fn react(
        &self,
        caller: &Principal,
        id: SessionId,
        message: MessageId,
        reaction: &Reaction,
        present: bool,
    ) -> ServiceResult<Message> {
        self.access(caller, id).await?.require_write(caller)?;
        let updated = self
            .store
            .set_reaction(id, message, reaction, &caller.user_id, present)
            .await?;
        self.broadcast(
            id,
            ServerFrame::ReactionUpdated {
                message: self.view(&updated).await,
            },
        )
        .await;
        Ok(updated)
    }

    /// A message's text through the moderator, as it is to be stored, and whether
    /// moderation changed it. A bot's text (a service token's `is_bot` message) is
    /// reviewed as a model's reply: cleaned and masked, never refused.
    fn moderate(&self, content: &Content, is_bot: bool) -> ServiceResult<(Content, bool)> {
        let reviewed = if is_bot {
            self.moderator.review_bot(content.as_str())
        } else {
            self.moderator.review(content.as_str())?
        };
        if !reviewed.masked {
            return Ok((content.clone(), false));
        }
        Ok((Content::parse(&reviewed.text)?, true))
    }

    /// Broadcasts after a change is stored; a failed broadcast never undoes the change.
    async fn broadcast(&self, id: SessionId, frame: ServerFrame) {
        if let Err(error) = self.fanout.broadcast(id, &frame).await {
            tracing::warn!(session = %id, error = %crate::ports::error_chain(&error), "broadcast failed");
        }
    }
}

/// The initial members other than the caller, each once.
fn other_members(caller: &Principal, members: Vec<UserId>) -> Result<Vec<UserId>, ValidationError> {
    let mut others: Vec<UserId> = members
        .into_iter()
        .filter(|m| *m != caller.user_id)
        .collect();
    others.sort();
    others.dedup();
    if others.len() >= MAX_INITIAL_MEMBERS {
        return Err(ValidationError::new(
            "members",
            format!("must be fewer than {MAX_INITIAL_MEMBERS}"),
        ));
    }
    Ok(others)
}

/// Each connected user once, sorted.
pub fn online_users(connections: &[Connection]) -> Vec<UserId> {
    let mut users: Vec<UserId> = connections
        .iter()
        .map(|c| c.principal.user_id.clone())
        .collect();
    users.sort();
    users.dedup();
    users
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: T) {}

    /// Handlers box these futures as `Send`; this fails to compile if one is not.
    #[allow(dead_code)]
    fn service_futures_are_send(
        service: ChatService,
        caller: Principal,
        id: SessionId,
        m: MessageId,
        r: Reaction,
        c: Content,
    ) {
        assert_send(service.access(&caller, id));
        assert_send(service.create_session(&caller, NewSession::default()));
        assert_send(service.list_sessions(&caller, &SessionQuery::default()));
        assert_send(service.get_session(&caller, id));
        assert_send(service.full_session(&caller, id, PageLimit::DEFAULT));
        assert_send(service.update_session(&caller, id, &SessionPatch::default()));
        assert_send(service.end_session(&caller, id, "done"));
        assert_send(service.join(&caller, id));
        assert_send(service.leave(&caller, id));
        assert_send(service.connections(&caller, id));
        assert_send(service.list_messages(&caller, id, &MessageQuery::default()));
        assert_send(service.post_message(&caller, id, NewMessage::text(c.clone())));
        assert_send(service.get_message(&caller, id, m));
        assert_send(service.edit_message(&caller, id, m, &c));
        assert_send(service.delete_message(&caller, id, m));
        assert_send(service.react(&caller, id, m, &r, true));
        let connection = crate::domain::Connection::new(
            crate::domain::ConnectionId::parse("c").expect("id"),
            caller.clone(),
            Some(id),
            crate::domain::Timestamp::now(),
        );
        assert_send(service.open_connection(
            caller.clone(),
            connection.id.clone(),
            Some(id),
            crate::domain::Dialect::Canonical,
        ));
        assert_send(service.welcome(&connection.id));
        assert_send(service.join_connection(&connection, id));
        assert_send(service.leave_connection(&connection));
        assert_send(service.close_connection(&connection.id));
        assert_send(service.typing(&connection.id, &connection.principal.user_id, true));
        assert_send(service.send_history(&connection, None, PageLimit::DEFAULT));
    }
}
