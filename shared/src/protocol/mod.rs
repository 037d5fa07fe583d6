//! The WebSocket frames and error shapes of the client contract (`PROTOCOL.md`), as serde
//! types. Client frames are parsed in one place, [`ClientFrame::parse`], which maps the
//! seeds' frame shapes onto the canonical actions and every field onto a domain type, so
//! nothing past this module sees raw client JSON.

mod client;
mod error;
mod server;

pub use client::{AttachmentRef, ClientFrame, SendFrame};
pub use error::{CloseCode, ErrorBody, ErrorCode, ErrorDetail, FrameError};
pub use server::{
    AttachmentView, MemberView, MessageView, ServerFrame, SessionSummary, SessionView,
};

/// The largest client frame accepted (API Gateway's WebSocket frame limit); larger frames
/// are refused before any parsing.
pub const MAX_FRAME_BYTES: usize = 32 * 1024;
