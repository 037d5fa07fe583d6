//! Identifiers, parsed at the boundary so the rest of the code never sees a bad one.
//!
//! Ids the server makes (sessions, messages, attachments) are ULIDs: 26 Crockford base-32
//! characters whose lexical order is their creation order, so `MSG#<id>` sort keys page in
//! time order. Ids that come from elsewhere (users from the token's `sub`, chatbots,
//! businesses, connections from API Gateway, clients' message ids) are opaque but bounded,
//! and never contain `#`, the separator of the store's composite keys.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Timestamp, ValidationError};

/// Server-made, time-sortable ids.
macro_rules! ulid_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(ulid::Ulid);

        impl $name {
            /// A new id ordered after every id made at an earlier millisecond, and after
            /// every id this process made before it at the same millisecond.
            pub fn new(at: Timestamp) -> Self {
                Self(monotonic_ulid(at))
            }

            pub fn parse(value: &str) -> Result<Self, ValidationError> {
                // Ulid::from_string accepts lower case too; the canonical form is upper.
                if value.len() != ulid::ULID_LEN {
                    return Err(ValidationError::new($field, "must be a 26-character id"));
                }
                ulid::Ulid::from_string(value)
                    .map(Self)
                    .map_err(|_| ValidationError::new($field, "must be a 26-character id"))
            }

            /// The smallest and largest ids, for open-ended ranges.
            pub const MIN: Self = Self(ulid::Ulid(0));
            pub const MAX: Self = Self(ulid::Ulid(u128::MAX));

            /// The next id in sort order, so an exclusive bound can be made inclusive.
            pub fn successor(&self) -> Option<Self> {
                (*self < Self::MAX).then(|| Self(ulid::Ulid(self.0.0 + 1)))
            }

            /// The previous id in sort order.
            pub fn predecessor(&self) -> Option<Self> {
                self.0.0.checked_sub(1).map(|n| Self(ulid::Ulid(n)))
            }

            /// The smallest id made at `at`'s millisecond: a time as an inclusive bound.
            pub fn first_at(at: Timestamp) -> Self {
                Self(ulid::Ulid::from_parts(at.unix_millis(), 0))
            }

            /// The millisecond the id was made.
            pub fn timestamp(&self) -> Timestamp {
                Timestamp::from_unix_millis(self.0.timestamp_ms())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = ValidationError;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::parse(value)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = String::deserialize(deserializer)?;
                Self::parse(&value).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// Ids that arrive from outside: 1..=max characters, printable, no whitespace, no `#`.
macro_rules! opaque_id {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const MAX_LEN: usize = $max;

            pub fn parse(value: &str) -> Result<Self, ValidationError> {
                check_opaque(value, $field, $max).map(|()| Self(value.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = ValidationError;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::parse(value)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = String::deserialize(deserializer)?;
                Self::parse(&value).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// ULIDs that keep their order within a millisecond in this process, so two messages
/// posted back to back never sort the wrong way round.
fn monotonic_ulid(at: Timestamp) -> ulid::Ulid {
    static LAST: std::sync::Mutex<Option<ulid::Ulid>> = std::sync::Mutex::new(None);
    let millis = at.unix_millis();
    let mut last = LAST.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let next = last
        .filter(|previous| previous.timestamp_ms() == millis)
        .and_then(|previous| previous.increment())
        .unwrap_or_else(|| ulid::Ulid::from_parts(millis, rand::random()));
    *last = Some(next);
    next
}

fn check_opaque(value: &str, field: &'static str, max: usize) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c == '#' || c.is_whitespace() || c.is_control())
    {
        return Err(ValidationError::new(
            field,
            "must not contain whitespace, control characters or '#'",
        ));
    }
    Ok(())
}

ulid_id!(
    /// A chat session.
    SessionId,
    "session_id"
);
ulid_id!(
    /// A message within a session.
    MessageId,
    "message_id"
);
ulid_id!(
    /// An uploaded file within a session.
    AttachmentId,
    "attachment_id"
);

opaque_id!(
    /// A user, as the token's `sub` names them.
    UserId,
    "user_id",
    128
);
opaque_id!(
    /// An API Gateway WebSocket connection (or the local server's equivalent).
    ConnectionId,
    "connection_id",
    128
);
opaque_id!(
    /// The client's own id for a message, making `send` idempotent.
    ClientMsgId,
    "client_msg_id",
    128
);
opaque_id!(
    /// The AI assistant a bot session talks to.
    ChatbotId,
    "chatbot_id",
    128
);
opaque_id!(
    /// The business whose agents answer support sessions (the token's `org`).
    BusinessId,
    "business_id",
    128
);
opaque_id!(
    /// A department of a business that a support session is routed to.
    DepartmentId,
    "department_id",
    128
);
opaque_id!(
    /// The business's own id for the visitor (its CRM's customer id), kept for its agents.
    ExternalCustomerId,
    "external_customer_id",
    128
);
opaque_id!(
    /// A document a session is about (the seeds' "chat with a document").
    DocumentId,
    "document_id",
    256
);

impl DocumentId {
    /// The library document it names, when it is one of this backend's ids: another
    /// value (seed 001's ObjectIds) is the client's own reference and names none.
    pub fn library_document(&self) -> Option<AttachmentId> {
        AttachmentId::parse(&self.0).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_ids_sort_in_creation_order() {
        let early = MessageId::new(Timestamp::from_unix_millis(1_000));
        let late = MessageId::new(Timestamp::from_unix_millis(2_000));
        assert!(early.to_string() < late.to_string());
        assert_eq!(early.timestamp(), Timestamp::from_unix_millis(1_000));
        assert!(early.successor().is_some_and(|next| next > early));
        assert_eq!(early.successor().and_then(|n| n.predecessor()), Some(early));
        assert_eq!(MessageId::MIN.predecessor(), None);
        assert_eq!(MessageId::MAX.successor(), None);
        assert_eq!(MessageId::MAX.to_string(), "7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
        assert_eq!(
            MessageId::parse("7ZZZZZZZZZZZZZZZZZZZZZZZZZ"),
            Ok(MessageId::MAX)
        );
    }

    #[test]
    fn ids_made_in_the_same_millisecond_keep_their_order() {
        let at = Timestamp::from_unix_millis(5_000);
        let ids: Vec<MessageId> = (0..100).map(|_| MessageId::new(at)).collect();
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn server_ids_round_trip_and_refuse_other_shapes() {
        let id = SessionId::new(Timestamp::from_unix_millis(42));
        assert_eq!(SessionId::parse(&id.to_string()), Ok(id));
        for bad in [
            "",
            "abc",
            "01ARZ3NDEKTSV4RRFFQ69G5FA",
            "01ARZ3NDEKTSV4RRFFQ69G5FAVV",
            "U1ARZ3NDEKTSV4RRFFQ69G5FAV",
        ] {
            assert!(SessionId::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn opaque_ids_refuse_separators_whitespace_and_excess() {
        assert!(UserId::parse("auth0|abc-123").is_ok());
        assert!(UserId::parse("").is_err());
        assert!(UserId::parse("a#b").is_err());
        assert!(UserId::parse("a b").is_err());
        assert!(UserId::parse("a\u{7}").is_err());
        assert!(UserId::parse(&"x".repeat(129)).is_err());
        assert_eq!(
            UserId::parse("a#b").expect_err("refused").to_string(),
            "user_id: must not contain whitespace, control characters or '#'"
        );
    }
}
