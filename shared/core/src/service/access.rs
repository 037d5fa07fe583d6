//! Who may do what with a session, decided in one place for REST and WebSocket alike.
//!
//! - Members read and write their session. `admin` may do everything; `service` (the bot)
//!   reads and writes every session and manages none.
//! - An `agent` may read and join `support` sessions of its own `org`, and end or manage
//!   them; writing needs joining first.
//! - A `group` is invite-only unless its `join_policy` is `open`: its members are added at
//!   creation or by its owner or an admin, and an open group can be joined by any user who
//!   knows its id. A group answers non-members 403. Every other session the caller may not
//!   see answers 404, as if it did not exist, so ids cannot be probed.
//! - Only the author edits a message; the author, the session's owner, its business's
//!   agents and admins delete one.

use crate::domain::{
    JoinPolicy, Member, MemberRole, Message, Principal, Role, Session, SessionKind, UserId,
};

use super::ServiceError;

/// A session as one caller stands to it.
#[derive(Clone, Debug)]
pub struct Access {
    pub session: Session,
    /// The caller's membership, if any.
    pub member: Option<Member>,
    privileged: bool,
    staff: bool,
}

impl Access {
    pub fn new(caller: &Principal, session: Session, member: Option<Member>) -> Self {
        let privileged = matches!(caller.role, Role::Admin | Role::Service);
        let staff = caller.role == Role::Agent
            && session.kind == SessionKind::Support
            && caller.org.is_some()
            && caller.org == session.business_id;
        Self {
            session,
            member,
            privileged,
            staff,
        }
    }

    /// Admins and services: everything, without being members.
    pub fn is_privileged(&self) -> bool {
        self.privileged
    }

    pub fn can_read(&self) -> bool {
        self.member.is_some() || self.privileged || self.staff
    }

    /// Whether the caller may become a member.
    pub fn can_join(&self, caller: &Principal) -> bool {
        self.privileged
            || self.staff
            || (self.session.kind == SessionKind::Group
                && self.session.join_policy == JoinPolicy::Open
                && caller.role == Role::User)
    }

    /// The role a joining caller gets.
    pub fn joining_role(&self) -> MemberRole {
        if self.staff {
            MemberRole::Agent
        } else {
            MemberRole::Member
        }
    }

    /// Reading is refused: 403 where the caller could join, 404 everywhere else.
    pub fn require_read(&self, caller: &Principal) -> Result<(), ServiceError> {
        if self.can_read() {
            Ok(())
        } else if self.can_join(caller) {
            Err(ServiceError::Forbidden("join the session first"))
        } else if self.session.kind == SessionKind::Group {
            Err(ServiceError::Forbidden(
                "you are not a member of this group",
            ))
        } else {
            Err(ServiceError::NotFound("session"))
        }
    }

    /// Posting, reacting: members, admins and services, in a session that has not ended.
    pub fn require_write(&self, caller: &Principal) -> Result<(), ServiceError> {
        self.require_read(caller)?;
        if self.member.is_none() && !self.privileged {
            return Err(ServiceError::Forbidden("join the session first"));
        }
        self.require_open()
    }

    /// Renaming, changing status, ending: the owner, admins, and the business's agents.
    pub fn require_manage(&self, caller: &Principal) -> Result<(), ServiceError> {
        self.require_read(caller)?;
        let owner = self.session.owner_id == caller.user_id;
        if !(owner || caller.role == Role::Admin || self.staff) {
            return Err(ServiceError::Forbidden(
                "only the session's owner or an admin may do this",
            ));
        }
        self.require_open()
    }

    /// Adding and removing others: a group's owner, or an admin.
    pub fn require_manage_members(&self, caller: &Principal) -> Result<(), ServiceError> {
        self.require_read(caller)?;
        if self.session.kind != SessionKind::Group {
            return Err(ServiceError::Conflict(
                "only a group's members are managed; others join or are fixed at creation",
            ));
        }
        // Like renaming and ending: a `service` token (the bot's) reads and writes, and
        // manages nothing.
        if !(self.session.owner_id == caller.user_id || caller.is_admin()) {
            return Err(ServiceError::Forbidden(
                "only the group's owner or an admin may add or remove members",
            ));
        }
        self.require_open()
    }

    pub fn require_open(&self) -> Result<(), ServiceError> {
        if self.session.is_ended() {
            Err(ServiceError::SessionEnded)
        } else {
            Ok(())
        }
    }

    pub fn require_edit(&self, caller: &Principal, message: &Message) -> Result<(), ServiceError> {
        self.require_write(caller)?;
        if message.sender_id != caller.user_id {
            return Err(ServiceError::Forbidden(
                "only the author may edit a message",
            ));
        }
        Ok(())
    }

    pub fn require_delete(
        &self,
        caller: &Principal,
        message: &Message,
    ) -> Result<(), ServiceError> {
        self.require_read(caller)?;
        // Agents moderate their own business's support sessions (`staff`), nowhere else.
        let allowed = message.sender_id == caller.user_id
            || self.session.owner_id == caller.user_id
            || self.staff
            || caller.role == Role::Admin;
        if !allowed {
            return Err(ServiceError::Forbidden(
                "only the author, the session's owner, an agent or an admin may delete a message",
            ));
        }
        self.require_open()
    }
}

/// The principal a request that names a user (`user_id` in a seed's body or path, 004's
/// `uploaded_by_*`) acts as: the caller when it names the caller, that user for an admin,
/// and for anyone else a refusal, since an identity a client claims is never taken on trust.
pub fn acting_as(caller: &Principal, claimed: &UserId) -> Result<Principal, ServiceError> {
    if caller.user_id == *claimed {
        Ok(caller.clone())
    } else if caller.role == Role::Admin {
        Ok(Principal {
            user_id: claimed.clone(),
            role: Role::User,
            name: None,
            org: None,
        })
    } else {
        Err(ServiceError::Forbidden("the user named is not you"))
    }
}
