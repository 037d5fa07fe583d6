//! The WebSocket frames and error shapes of the client contract (`PROTOCOL.md`), as serde
//! types. Client frames are parsed in one place, [`ClientFrame::parse`], which maps the
//! seeds' frame shapes onto the canonical actions and every field onto a domain type, so
//! nothing past this module sees raw client JSON.

mod client;
mod dialect;
mod error;
#[cfg(feature = "schema")]
mod schema;
mod server;

pub use client::{AttachmentRef, ClientFrame, SendFrame};
pub use dialect::{chat_message_document, render};
pub use error::{CloseCode, ErrorBody, ErrorCode, ErrorDetail, FrameError};
#[cfg(feature = "schema")]
pub use schema::{
    canonical_client_schema, canonical_server_schema, generated_schemas, live_server_schema,
};
pub use server::{
    AttachmentView, MemberView, MessageView, ServerFrame, SessionSummary, SessionView, TimelineItem,
};

/// The largest frame the service parses. Below API Gateway's 32 KiB frame limit (which
/// closes the socket), so a frame in between gets a `too_large` error and the socket stays
/// open; above the longest legitimate frame (4,000 characters of content, even escaped).
pub const MAX_FRAME_BYTES: usize = 24 * 1024;

/// API Gateway's limit on one message to a connection: a larger `PostToConnection` is
/// refused (`PayloadTooLargeException`), so nothing the service sends may be larger.
pub const MAX_POST_BYTES: usize = 128 * 1024;
