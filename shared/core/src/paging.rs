//! Paging rules every store adapter shares, so cursors and bounds mean the same everywhere.

use crate::domain::{Cursor, Member, MessageId, Order, SessionId, Timestamp, ValidationError};
use crate::ports::MessageQuery;

/// The inclusive id range a message query covers, and its direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageRange {
    pub first: MessageId,
    pub last: MessageId,
    pub order: Order,
}

impl MessageRange {
    /// Folds `after`, `before` and the cursor (all exclusive) into one inclusive range;
    /// `None` when nothing can match.
    pub fn of(query: &MessageQuery) -> Result<Option<Self>, ValidationError> {
        let cursor = query.cursor.as_ref().map(message_id_at).transpose()?;
        let (after, before) = match query.order {
            Order::Asc => (max(query.after, cursor), query.before),
            Order::Desc => (query.after, min(query.before, cursor)),
        };
        let first = match after {
            Some(after) => after.successor(),
            None => Some(MessageId::MIN),
        };
        let last = match before {
            Some(before) => before.predecessor(),
            None => Some(MessageId::MAX),
        };
        Ok(match (first, last) {
            (Some(first), Some(last)) if first <= last => Some(Self {
                first,
                last,
                order: query.order,
            }),
            _ => None,
        })
    }
}

fn max(a: Option<MessageId>, b: Option<MessageId>) -> Option<MessageId> {
    a.max(b)
}

fn min(a: Option<MessageId>, b: Option<MessageId>) -> Option<MessageId> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A cursor at a message: its id, which [`message_id_at`] reads back.
pub fn message_cursor(last: MessageId) -> Cursor {
    Cursor::encode(&last.to_string())
}

/// The first attachment id a page starting after `after` may hold; `None` past the end.
pub fn first_after(
    after: Option<crate::domain::AttachmentId>,
) -> Option<crate::domain::AttachmentId> {
    after.map_or(Some(crate::domain::AttachmentId::MIN), |after| {
        after.successor()
    })
}

/// A cursor after an attachment: its id, which `AttachmentId::parse` reads back.
pub fn attachment_cursor(last: crate::domain::AttachmentId) -> Cursor {
    Cursor::encode(&last.to_string())
}

pub fn message_id_at(cursor: &Cursor) -> Result<MessageId, ValidationError> {
    MessageId::parse(&cursor.decode()?)
        .map_err(|_| ValidationError::new("cursor", "is not a cursor this API returned"))
}

/// Where a membership sorts in its user's session list: the member's last activity, then
/// the session id to break ties. As text it sorts the same way, which DynamoDB relies on.
pub fn membership_position(member: &Member) -> String {
    activity_position(member.last_activity_at, member.session_id)
}

pub fn activity_position(at: Timestamp, session: SessionId) -> String {
    format!("{at}#{session}")
}

/// The position a session-list cursor stands for, checked to be one we made.
pub fn membership_position_at(cursor: &Cursor) -> Result<String, ValidationError> {
    let position = cursor.decode()?;
    let valid = position.split_once('#').is_some_and(|(at, session)| {
        Timestamp::parse(at).is_ok() && SessionId::parse(session).is_ok()
    });
    if valid {
        Ok(position)
    } else {
        Err(ValidationError::new(
            "cursor",
            "is not a cursor this API returned",
        ))
    }
}

/// Splits one extra item off a page fetched with `limit + 1`: its presence means more.
pub fn split_page<T>(
    mut items: Vec<T>,
    limit: usize,
    cursor_of: impl Fn(&T) -> Cursor,
) -> (Vec<T>, Option<Cursor>) {
    if items.len() > limit {
        items.truncate(limit);
        let next = items.last().map(cursor_of);
        (items, next)
    } else {
        (items, None)
    }
}

/// The cursor after the message at `seq`, for lists in seq order.
pub fn seq_cursor(seq: u64) -> Cursor {
    Cursor::encode(&format!("seq:{seq}"))
}

/// The seq a [`seq_cursor`] names.
pub fn seq_at(cursor: &Cursor) -> Result<u64, ValidationError> {
    cursor
        .decode()?
        .strip_prefix("seq:")
        .and_then(|seq| seq.parse().ok())
        .ok_or_else(|| ValidationError::new("cursor", "is not a cursor of this list"))
}

/// Where a list in seq order starts: after `after_seq`, or after its cursor if later.
pub fn seq_start(query: &MessageQuery) -> Result<Option<u64>, ValidationError> {
    let Some(after) = query.after_seq else {
        return Ok(None);
    };
    let cursor = query.cursor.as_ref().map(seq_at).transpose()?;
    Ok(Some(cursor.map_or(after, |c| c.max(after))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PageLimit;

    fn id(ms: u64) -> MessageId {
        MessageId::new(Timestamp::from_unix_millis(ms))
    }

    #[test]
    fn exclusive_bounds_become_an_inclusive_range_in_either_order() {
        let (a, b) = (id(1), id(2));
        let desc = MessageQuery {
            cursor: Some(message_cursor(b)),
            after: Some(a),
            ..Default::default()
        };
        let range = MessageRange::of(&desc).expect("valid").expect("not empty");
        assert!(range.first > a && range.last < b);
        let asc = MessageQuery {
            order: Order::Asc,
            cursor: Some(message_cursor(b)),
            limit: PageLimit::DEFAULT,
            ..Default::default()
        };
        let range = MessageRange::of(&asc).expect("valid").expect("not empty");
        assert!(range.first > b && range.last == MessageId::MAX);
        let empty = MessageQuery {
            after: Some(b),
            before: Some(b),
            ..Default::default()
        };
        assert_eq!(MessageRange::of(&empty), Ok(None));
    }

    #[test]
    fn cursors_we_did_not_make_are_refused() {
        let garbage = Cursor::from_client("bm90LWFuLWlk").expect("base64");
        let query = MessageQuery {
            cursor: Some(garbage.clone()),
            ..Default::default()
        };
        assert_eq!(
            MessageRange::of(&query).expect_err("refused").field,
            "cursor"
        );
        assert_eq!(
            membership_position_at(&garbage).expect_err("refused").field,
            "cursor"
        );
        assert!(Cursor::from_client("not base64!").is_err());
    }
}
