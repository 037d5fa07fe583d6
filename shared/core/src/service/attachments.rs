//! Files in a session: upload URLs, small uploads through the API, checking an upload
//! before a message carries it, download links, and the timeline of messages and files.

use std::sync::Arc;
use std::time::Duration;

use futures::future::{join_all, try_join_all};

use super::{ChatService, ServiceError, ServiceResult};
use crate::domain::{
    Attachment, AttachmentId, AttachmentState, Cursor, Message, MessageKind, PageLimit, Principal,
    SessionId, SizeRefusal, Timestamp, UploadPolicy, ValidationError, parse_file_name,
};
use crate::paging::{message_cursor, message_id_at};
use crate::ports::{BlobStore, MessageQuery, PresignedRequest};
use crate::protocol::{AttachmentRef, AttachmentView, MessageView, TimelineItem};

/// How long a presigned upload stays valid.
pub const UPLOAD_URL_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// How long a download link stays valid.
pub const DOWNLOAD_URL_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// The largest file accepted through the API itself: a Lambda request payload is at most
/// 6 MB and API Gateway sends binary bodies base64-encoded (4/3 larger), so 4 MiB of file
/// plus the multipart envelope still fits.
pub const MAX_DIRECT_UPLOAD_BYTES: u64 = 4 * 1024 * 1024;
/// How many attachments one timeline page looks through at most.
const TIMELINE_ATTACHMENT_SCAN: usize = 1_000;

/// Where attachments' bytes live and what may be uploaded.
#[derive(Clone)]
pub struct Files {
    pub blobs: Arc<dyn BlobStore>,
    pub policy: UploadPolicy,
}

/// A client's announcement of a file it is about to upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadRequest {
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
}

/// A file received through the API (the small-file path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectUpload {
    pub file_name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// A page of the timeline, oldest first, and the cursor to the older page.
#[derive(Clone, Debug, PartialEq)]
pub struct Timeline {
    pub items: Vec<TimelineItem>,
    pub next_cursor: Option<Cursor>,
}

impl ChatService {
    pub(super) fn files(&self) -> ServiceResult<&Files> {
        self.files.as_ref().ok_or_else(|| {
            ServiceError::Unavailable("no blob store is configured (ATTACHMENTS_BUCKET)".into())
        })
    }

    /// A pending attachment and the presigned PUT that uploads its bytes.
    pub async fn request_upload(
        &self,
        caller: &Principal,
        id: SessionId,
        request: UploadRequest,
    ) -> ServiceResult<(Attachment, PresignedRequest)> {
        let files = self.files()?;
        self.access(caller, id).await?.require_write(caller)?;
        let attachment =
            self.new_attachment(files, caller, id, &request, files.policy.max_bytes)?;
        self.store.put_attachment(&attachment).await?;
        let upload = files
            .blobs
            .presign_upload(
                &attachment.storage_key(),
                &attachment.content_type,
                attachment.size,
                UPLOAD_URL_LIFETIME,
            )
            .await?;
        Ok((attachment, upload))
    }

    /// Stores a small file received through the API; it is pending until a message
    /// carries it, like an upload through a presigned URL.
    pub async fn upload(
        &self,
        caller: &Principal,
        id: SessionId,
        upload: DirectUpload,
    ) -> ServiceResult<AttachmentView> {
        let files = self.files()?;
        self.access(caller, id).await?.require_write(caller)?;
        let request = UploadRequest {
            file_name: upload.file_name,
            content_type: upload.content_type,
            size: upload.bytes.len() as u64,
        };
        let limit = files.policy.max_bytes.min(MAX_DIRECT_UPLOAD_BYTES);
        let attachment = self.new_attachment(files, caller, id, &request, limit)?;
        // The record first: it checks the session is still open before any bytes are kept.
        self.store.put_attachment(&attachment).await?;
        files
            .blobs
            .put(
                &attachment.storage_key(),
                &attachment.content_type,
                upload.bytes,
            )
            .await?;
        Ok(AttachmentView::new(&attachment))
    }

    fn new_attachment(
        &self,
        files: &Files,
        caller: &Principal,
        id: SessionId,
        request: &UploadRequest,
        max_bytes: u64,
    ) -> ServiceResult<Attachment> {
        let file_name = parse_file_name(&request.file_name)?;
        let content_type = files.policy.allowed_type(&request.content_type)?;
        check_size(request.size, max_bytes)?;
        let now = self.clock.now();
        Ok(Attachment {
            id: AttachmentId::new(now),
            session_id: id,
            uploader_id: caller.user_id.clone(),
            file_name,
            content_type,
            size: request.size,
            state: AttachmentState::Pending,
            created_at: now,
        })
    }

    /// The attachment's metadata and a download link. A pending attachment is its
    /// uploader's alone: nobody else has been shown it yet.
    pub async fn attachment(
        &self,
        caller: &Principal,
        id: SessionId,
        attachment: AttachmentId,
    ) -> ServiceResult<AttachmentView> {
        self.readable(caller, id).await?;
        let found = self
            .store
            .get_attachment(id, attachment)
            .await?
            .filter(|a| a.state == AttachmentState::Ready || a.uploader_id == caller.user_id)
            .ok_or(ServiceError::NotFound("attachment"))?;
        if found.state == AttachmentState::Pending
            && self
                .files()?
                .blobs
                .head(&found.storage_key())
                .await?
                .is_none()
        {
            return Ok(AttachmentView::new(&found));
        }
        self.linked(&found).await
    }

    /// The attachment a file or image message will carry, checked, as it will be once the
    /// message is stored: the caller uploaded it to this session, its bytes are there, and
    /// they are the size and type declared.
    pub(super) async fn attach(
        &self,
        caller: &Principal,
        id: SessionId,
        reference: &AttachmentRef,
        kind: MessageKind,
    ) -> ServiceResult<Attachment> {
        let files = self.files()?;
        let attachment_id = resolve(reference, id)?;
        let attachment = self
            .store
            .get_attachment(id, attachment_id)
            .await?
            .ok_or(ServiceError::NotFound("attachment"))?;
        if attachment.uploader_id != caller.user_id {
            return Err(ServiceError::Forbidden(
                "only the member who uploaded a file may send it",
            ));
        }
        if kind == MessageKind::Image && !attachment.content_type.starts_with("image/") {
            return Err(ValidationError::new(
                "kind",
                format!(
                    "an image message needs an image, not {}",
                    attachment.content_type
                ),
            )
            .into());
        }
        if attachment.state == AttachmentState::Ready {
            return Ok(attachment);
        }
        let stored =
            files
                .blobs
                .head(&attachment.storage_key())
                .await?
                .ok_or(ServiceError::Conflict(
                    "the file has not been uploaded yet; upload it, then send the message",
                ))?;
        if stored.size != attachment.size {
            return Err(ValidationError::new(
                "attachment_id",
                format!(
                    "the uploaded file is {} bytes, not the {} declared",
                    stored.size, attachment.size
                ),
            )
            .into());
        }
        let stored_type = stored
            .content_type
            .as_deref()
            .and_then(|t| crate::domain::parse_content_type(t).ok());
        if stored_type.is_some_and(|t| t != attachment.content_type) {
            return Err(ValidationError::new(
                "attachment_id",
                format!(
                    "the uploaded file is not of the declared type {}",
                    attachment.content_type
                ),
            )
            .into());
        }
        // Ready in the write that stores the message (`put_message`): a send refused or
        // failed after this check must not share a file nobody was sent.
        Ok(Attachment {
            state: AttachmentState::Ready,
            ..attachment
        })
    }

    /// The attachment as clients see it, with a download link.
    async fn linked(&self, attachment: &Attachment) -> ServiceResult<AttachmentView> {
        let link = self.download(attachment).await?;
        Ok(AttachmentView::new(attachment).with_url(link.url, link.expires_at))
    }

    async fn download(&self, attachment: &Attachment) -> ServiceResult<PresignedRequest> {
        Ok(self
            .files()?
            .blobs
            .presign_download(&attachment.storage_key(), DOWNLOAD_URL_LIFETIME)
            .await?)
    }

    /// The message as clients see it, with a download link for its attachment. Without a
    /// blob store, or if signing fails, the link is left out rather than the message.
    pub async fn view(&self, message: &Message) -> MessageView {
        let view = MessageView::new(message);
        let Some(attachment) = view.attachment.as_ref().and(message.attachment.as_ref()) else {
            return view;
        };
        match self.download(attachment).await {
            Ok(link) => view.with_download(link.url, link.expires_at),
            Err(error) => {
                tracing::warn!(error = %crate::ports::error_chain(&error), "no download link for an attachment");
                view
            }
        }
    }

    pub async fn views(&self, messages: &[Message]) -> Vec<MessageView> {
        join_all(messages.iter().map(|m| self.view(m))).await
    }

    /// A page of the session's timeline, oldest first: messages, and the files shared
    /// while they were written (ready attachments, by upload time). `cursor` continues
    /// to older entries.
    pub async fn timeline(
        &self,
        caller: &Principal,
        id: SessionId,
        cursor: Option<&Cursor>,
        limit: PageLimit,
    ) -> ServiceResult<Timeline> {
        self.readable(caller, id).await?;
        let before = cursor.map(message_id_at).transpose()?;
        let page = self
            .store
            .list_messages(
                id,
                &MessageQuery {
                    limit,
                    before,
                    ..Default::default()
                },
            )
            .await?;
        let mut messages = page.items;
        messages.reverse();
        // Entries in [oldest message shown, the newer page's oldest message): the window
        // opens at the start of the session on the last page, and is open-ended on the first.
        let oldest = messages.first().filter(|_| page.next_cursor.is_some());
        let from = oldest.map(|m| AttachmentId::first_at(m.created_at));
        let until = before.map(|b| AttachmentId::first_at(b.timestamp()));
        let attachments = self.ready_attachments(id, from, until).await?;
        let attachment_views = try_join_all(attachments.iter().map(|a| self.linked(a))).await?;
        let message_views = self.views(&messages).await;
        let next_cursor = oldest.map(|m| message_cursor(m.id));

        let mut entries: Vec<(Timestamp, u8, TimelineItem)> = Vec::new();
        for (attachment, view) in attachments.iter().zip(attachment_views) {
            // An upload comes before the message that shares it, even in one millisecond.
            entries.push((attachment.created_at, 0, TimelineItem::Attachment(view)));
        }
        for (message, view) in messages.iter().zip(message_views) {
            entries.push((message.created_at, 1, TimelineItem::Message(view)));
        }
        entries.sort_by_key(|(at, rank, _)| (*at, *rank));
        Ok(Timeline {
            items: entries.into_iter().map(|(_, _, item)| item).collect(),
            next_cursor,
        })
    }

    /// Ready attachments with ids in `[from, until)`, oldest first.
    async fn ready_attachments(
        &self,
        id: SessionId,
        from: Option<AttachmentId>,
        until: Option<AttachmentId>,
    ) -> ServiceResult<Vec<Attachment>> {
        let mut after = from.and_then(|f| f.predecessor());
        let mut found = Vec::new();
        let mut scanned = 0;
        loop {
            let page = self
                .store
                .list_attachments(id, after, PageLimit::new(PageLimit::MAX)?)
                .await?;
            scanned += page.items.len();
            let last = page.items.last().map(|a| a.id);
            let mut past_window = false;
            for attachment in page.items {
                if until.is_some_and(|u| attachment.id >= u) {
                    past_window = true;
                    break;
                }
                if attachment.state == AttachmentState::Ready {
                    found.push(attachment);
                }
            }
            if past_window || page.next_cursor.is_none() {
                return Ok(found);
            }
            if scanned >= TIMELINE_ATTACHMENT_SCAN {
                tracing::warn!(session = %id, scanned, "timeline stopped looking for attachments");
                return Ok(found);
            }
            after = last;
        }
    }
}

/// The attachment a message names: its id, or the URL an upload or download returned,
/// whose path ends in the server-made key `sessions/<session>/<attachment>`. A URL for
/// another session's file is refused.
fn resolve(reference: &AttachmentRef, session: SessionId) -> Result<AttachmentId, ValidationError> {
    let url = match reference {
        AttachmentRef::Id(id) => return Ok(*id),
        AttachmentRef::Url(url) => url,
    };
    let invalid = || {
        ValidationError::new(
            "attachment",
            "the URL is not one this session's upload returned",
        )
    };
    let path = url
        .split_once("://")
        .map(|(_, rest)| rest)
        .and_then(|rest| rest.split_once('/'))
        .map(|(_, path)| path.split(['?', '#']).next().unwrap_or_default())
        .ok_or_else(invalid)?;
    let segments: Vec<&str> = path.split('/').collect();
    match segments.as_slice() {
        [.., "sessions", sid, aid] if *sid == session.to_string() => {
            AttachmentId::parse(aid).map_err(|_| invalid())
        }
        _ => Err(invalid()),
    }
}

/// Refuses an empty file, or one over `max_bytes`.
pub(super) fn check_size(size: u64, max_bytes: u64) -> ServiceResult<()> {
    match UploadPolicy::fits_within(size, max_bytes) {
        Ok(()) => Ok(()),
        Err(SizeRefusal::Empty) => Err(ValidationError::new("size", "the file is empty").into()),
        Err(SizeRefusal::TooLarge(max)) => Err(ServiceError::TooLarge(format!(
            "the file is {size} bytes; at most {max} bytes may be uploaded this way"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MessageId;

    const SESSION: &str = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    const ATTACHMENT: &str = "01HZY6Q6E8J5G7XGZK3M2N4P5R";

    fn session() -> SessionId {
        SessionId::parse(SESSION).expect("id")
    }

    #[test]
    fn an_upload_url_of_this_session_resolves_to_its_attachment() {
        for url in [
            format!(
                "https://bucket.s3.amazonaws.com/sessions/{SESSION}/{ATTACHMENT}?X-Amz-Signature=x"
            ),
            format!("http://127.0.0.1:9000/files/sessions/{SESSION}/{ATTACHMENT}"),
            format!("http://localhost:3000/_blobs/sessions/{SESSION}/{ATTACHMENT}?sig=1#frag"),
        ] {
            let reference = AttachmentRef::Url(url.clone());
            assert_eq!(
                resolve(&reference, session()).map(|id| id.to_string()),
                Ok(ATTACHMENT.to_owned()),
                "{url}"
            );
        }
    }

    #[test]
    fn a_url_of_another_session_or_no_upload_at_all_is_refused() {
        let other = "01BX5ZZKBKACTAV9WEVGEMMVRZ";
        for url in [
            format!("https://bucket/sessions/{other}/{ATTACHMENT}"),
            format!("https://bucket/sessions/{SESSION}/not-an-id"),
            format!("https://bucket/{ATTACHMENT}"),
            format!("https://evil.example/x?u=/sessions/{SESSION}/{ATTACHMENT}"),
            "https://bucket".to_owned(),
        ] {
            assert!(
                resolve(&AttachmentRef::Url(url.clone()), session()).is_err(),
                "{url}"
            );
        }
    }

    #[test]
    fn timeline_cursors_round_trip_and_foreign_ones_are_refused() {
        let id = MessageId::parse("01BX5ZZKBKACTAV9WEVGEMMVRZ").expect("id");
        let cursor = message_cursor(id);
        assert_eq!(message_id_at(&cursor), Ok(id));
        assert!(message_id_at(&Cursor::encode("SESSION#x")).is_err());
    }
}
