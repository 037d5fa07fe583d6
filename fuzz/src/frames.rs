//! The WebSocket frame parser: every canonical action and every seed dialect's frame shape
//! (as `shared/core/src/protocol/client.rs` tests them), mutated, then parsed.

use chat_core::protocol::{ClientFrame, FrameError};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};

use crate::mutate::mutate;
use crate::oracle::internals;

const SESSION: &str = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
const MESSAGE: &str = "01BX5ZZKBKACTAV9WEVGEMMVRZ";
const ATTACHMENT: &str = "01HZY6Q6E8J5G7XGZK3M2N4P5R";
const UPLOAD_URL: &str = "https://bucket.s3.amazonaws.com/sessions/a/b?X-Amz-Signature=1";

/// Frames the parser accepts: the seeds of every mutation.
pub fn corpus() -> Vec<Value> {
    vec![
        json!({"action": "join", "session_id": SESSION}),
        json!({"action": "join", "session_id": SESSION, "user_id": "u1"}),
        json!({"action": "send", "content": "  hi \n", "client_msg_id": "c-1"}),
        json!({"action": "send", "kind": "file", "attachment_id": ATTACHMENT, "content": "the report"}),
        json!({"action": "send", "kind": "image", "attachment_id": ATTACHMENT, "content": null}),
        json!({"action": "typing", "is_typing": true}),
        json!({"action": "edit", "message_id": MESSAGE, "content": "fixed"}),
        json!({"action": "delete", "message_id": MESSAGE}),
        json!({"action": "react", "message_id": MESSAGE, "reaction": "👍🏽"}),
        json!({"action": "unreact", "message_id": MESSAGE, "reaction": "❤️"}),
        json!({"action": "history"}),
        json!({"action": "history", "before": MESSAGE, "limit": 100}),
        json!({"action": "resume", "session_id": SESSION, "after_seq": 3}),
        json!({"action": "stop"}),
        json!({"action": "leave"}),
        json!({"action": "ping", "requestId": 7}),
        json!({"action": null, "type": "leave"}),
        json!({"type": "ping"}),
        json!({"type": "send", "content": "hi"}),
        json!({"type": "chat_message", "content": "hi", "client_msg_id": "c-1"}),
        json!({"type": "text", "content": "hi"}),
        json!({"content": "hi", "user_id": "u1", "session_id": SESSION}),
        json!({"message": "hi", "message_type": "text"}),
        json!({"message": UPLOAD_URL, "message_type": "image"}),
        json!({"message": "see this", "message_type": "file", "file": ATTACHMENT}),
        json!({"mt": "message_upload", "message": "hi"}),
        json!({"type": "file", "file": UPLOAD_URL, "content": "cap"}),
        json!({"type": "typing_indicator", "is_typing": false}),
        json!({"mt": "stop"}),
        json!({"user_id": "auth0|u1", "session_id": SESSION}),
    ]
}

/// One generated frame. A WebSocket text frame is valid UTF-8 by the protocol, so invalid
/// bytes are replaced as the socket layer would never deliver them.
pub fn generate(rng: &mut StdRng, corpus: &[Value], keys: &[&str]) -> String {
    let seed = corpus.choose(rng).cloned().unwrap_or(Value::Null);
    let bytes = mutate(rng, &seed, keys, corpus);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Parses `frame`: `Ok(true)` when it is accepted, `Ok(false)` when refused as it should
/// be, `Err` saying what was wrong with the answer (a panic is caught above).
pub fn check(frame: &str) -> Result<bool, String> {
    let Err(error) = ClientFrame::parse(frame) else {
        return Ok(true);
    };
    let message = error.to_string();
    if message.trim().is_empty() {
        return Err(format!("an empty error message ({error:?})"));
    }
    if let FrameError::UnknownAction(name) = &error
        && name.chars().count() > FrameError::MAX_NAME_CHARS
    {
        return Err(format!("an unknown action echoed at length: {message}"));
    }
    match internals(&message) {
        Some(found) => Err(format!("the error message shows {found:?}: {message}")),
        None => Ok(false),
    }
}
