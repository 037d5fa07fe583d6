//! The server's frames as each dialect's clients expect them. The contract's own
//! (`canonical`) is the frames' serde form; a seed system's dialect renders the frames its
//! client knows in that system's shapes and leaves out the events it has no frame for.

use serde_json::json;

use super::ServerFrame;
use crate::domain::{Dialect, Timestamp};

/// `frame` as a `dialect` client receives it, or `None` when that client has no such frame.
/// `now` stamps the frames whose dialect carries a time the frame itself does not.
pub fn render(frame: &ServerFrame, dialect: Dialect, now: Timestamp) -> Option<String> {
    match dialect {
        Dialect::Canonical => Some(frame.to_json()),
        Dialect::Ai => ai(frame, now),
    }
}

/// Seed 002: a welcome (`system`), each bot reply whole (`ai_response`), and errors, each
/// `{type, message, timestamp}` with Python's naive ISO time. The user's own messages, the
/// streamed chunks, presence and typing have no frame there. `pong` answers the client's
/// own `ping`, so it goes as it is.
fn ai(frame: &ServerFrame, now: Timestamp) -> Option<String> {
    let (kind, message, at) = match frame {
        ServerFrame::SessionInfo {
            session, user_id, ..
        } => {
            let name = session
                .members
                .iter()
                .find(|member| member.user_id == *user_id)
                .and_then(|member| member.name.as_ref())
                .map_or(user_id.as_str(), |name| name.as_str());
            (
                "system",
                format!("Welcome to AI Chat, {name}! How can I assist you today?"),
                now,
            )
        }
        ServerFrame::ResponseComplete { message, .. }
        | ServerFrame::StoppedGeneration { message, .. } => {
            ("ai_response", message.content.clone(), message.created_at)
        }
        ServerFrame::Error { message, .. } => ("error", message.clone(), now),
        ServerFrame::SessionEnded { reason, .. } => {
            ("error", format!("the session has ended: {reason}"), now)
        }
        ServerFrame::Pong => return Some(frame.to_json()),
        _ => return None,
    };
    Some(
        json!({
            "type": kind,
            "message": message,
            "timestamp": at.naive_iso(),
        })
        .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::domain::{
        Member, MemberRole, Message, MessageId, Session, SessionId, SessionKind, SessionSpec,
        UserId,
    };
    use crate::protocol::{ErrorCode, MessageView, SessionView};

    fn at(millis: u64) -> Timestamp {
        Timestamp::from_unix_millis(millis)
    }

    fn rendered(frame: &ServerFrame) -> Option<Value> {
        render(frame, Dialect::Ai, at(1_759_348_800_000))
            .map(|text| serde_json::from_str(&text).expect("JSON"))
    }

    #[test]
    fn the_canonical_dialect_is_the_frame_itself() {
        let frame = ServerFrame::Pong;
        assert_eq!(
            render(&frame, Dialect::Canonical, at(0)),
            Some(frame.to_json())
        );
    }

    #[test]
    fn the_ai_dialect_welcomes_answers_and_errs_as_seed_002_documents() {
        let now = at(1_759_348_800_000);
        let ann = UserId::parse("ann").expect("id");
        let session = Session::open(
            SessionId::new(now),
            SessionSpec {
                chatbot_id: Some(crate::domain::ChatbotId::parse("assistant").expect("an id")),
                ..SessionSpec::new(SessionKind::Bot, ann.clone())
            },
            now,
        )
        .expect("a session");
        let member = Member::new(
            session.id,
            ann.clone(),
            MemberRole::Owner,
            crate::domain::DisplayName::parse("Ann").expect("a name"),
            now,
        );
        let info = ServerFrame::SessionInfo {
            session: SessionView::new(&session, &[member], vec![]),
            user_id: ann.clone(),
            message: "hello".into(),
        };
        assert_eq!(
            rendered(&info),
            Some(json!({
                "type": "system",
                "message": "Welcome to AI Chat, Ann! How can I assist you today?",
                "timestamp": "2025-10-01T20:00:00.000000",
            }))
        );

        let mut reply = Message::text(
            session.id,
            UserId::parse("assistant").expect("id"),
            None,
            crate::domain::Content::parse("Hello! How can I help you today?").expect("text"),
            at(1_759_348_801_000),
        );
        reply.is_bot = true;
        let complete = ServerFrame::ResponseComplete {
            response_id: reply.id,
            message: MessageView::new(&reply),
            token_count: None,
        };
        assert_eq!(
            rendered(&complete),
            Some(json!({
                "type": "ai_response",
                "message": "Hello! How can I help you today?",
                "timestamp": "2025-10-01T20:00:01.000000",
            }))
        );

        let error = ServerFrame::error(ErrorCode::InvalidFrame, "content: is required");
        assert_eq!(rendered(&error).expect("an error")["type"], "error");
        assert_eq!(rendered(&ServerFrame::Pong), Some(json!({"type": "pong"})));
        for unknown in [
            ServerFrame::ResponseStart {
                response_id: MessageId::new(now),
            },
            ServerFrame::user_joined(ann.clone(), [ann.clone()]),
            ServerFrame::ChatMessage {
                message: MessageView::new(&reply),
            },
        ] {
            assert_eq!(rendered(&unknown), None, "{unknown:?}");
        }
    }
}
