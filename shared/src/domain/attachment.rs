//! Files shared in a session.

use serde::{Deserialize, Serialize};

use super::{AttachmentId, SessionId, Timestamp, UserId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachmentState {
    /// Upload URL handed out; the object may not exist yet.
    Pending,
    /// The object was checked and a message refers to it.
    Ready,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub id: AttachmentId,
    pub session_id: SessionId,
    pub uploader_id: UserId,
    /// The client's name for the file, shown to people; never part of the storage key.
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
    pub state: AttachmentState,
    pub created_at: Timestamp,
}

impl Attachment {
    /// The object key: server-made only, so no client input reaches a storage path.
    pub fn storage_key(&self) -> String {
        format!("sessions/{}/{}", self.session_id, self.id)
    }
}
