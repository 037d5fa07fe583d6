//! Attachments: the record of a file uploaded to a session, pending until it is ready.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::Update;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;

use super::items::{AttachmentItem, attachment_key, attachment_sk, session_pk, to_value};
use super::{ABSENT, DynamoStore};
use chat_core::domain::{Attachment, AttachmentId, AttachmentState, Page, PageLimit, SessionId};
use chat_core::paging::{attachment_cursor, first_after};
use chat_core::ports::{AttachmentStore, StoreError, StoreResult};

/// An attachment made ready, if it is there (an update would otherwise make a new item):
/// on its own, or in the write of the message that shares it.
pub(super) fn made_ready() -> StoreResult<UpdateBuilder> {
    Ok(Update::builder()
        // Out of the sweeper's list of pending uploads.
        .update_expression("SET #state = :ready REMOVE gsi2pk, gsi2sk")
        .condition_expression("attribute_exists(pk)")
        .expression_attribute_names("#state", "state")
        .expression_attribute_values(":ready", to_value(&AttachmentState::Ready)?))
}

#[async_trait]
impl AttachmentStore for DynamoStore {
    /// One TransactWriteItems: the session is open, and the id is new.
    async fn put_attachment(&self, attachment: &Attachment) -> StoreResult<()> {
        let open = self.open_session_check(attachment.session_id)?;
        let writes = vec![
            open,
            self.put_write(&AttachmentItem::new(attachment), Some(ABSENT))?,
        ];
        match self.transact(writes).await? {
            Ok(()) => Ok(()),
            Err(_) => {
                self.require_open_session(attachment.session_id).await?;
                Err(StoreError::Conflict("the attachment id is taken"))
            }
        }
    }

    /// One GetItem.
    async fn get_attachment(
        &self,
        session: SessionId,
        id: AttachmentId,
    ) -> StoreResult<Option<Attachment>> {
        Ok(self
            .get::<AttachmentItem>(attachment_key(session, id))
            .await?
            .map(|i| i.attachment))
    }

    /// One UpdateItem.
    async fn mark_attachment_ready(
        &self,
        session: SessionId,
        id: AttachmentId,
    ) -> StoreResult<Attachment> {
        let request = self.update_alone(attachment_key(session, id), made_ready()?)?;
        let item = self.updated::<AttachmentItem>(request).await?;
        item.map(|i| i.attachment)
            .ok_or(StoreError::NotFound("attachment"))
    }

    /// One Query of `limit + 1` attachments after `after`.
    async fn list_attachments(
        &self,
        session: SessionId,
        after: Option<AttachmentId>,
        limit: PageLimit,
    ) -> StoreResult<Page<Attachment>> {
        let Some(first) = first_after(after) else {
            return Ok(Page::empty());
        };
        self.query_page(
            session_pk(session),
            (attachment_sk(first), attachment_sk(AttachmentId::MAX)),
            true,
            limit,
            |i: AttachmentItem| i.attachment,
            |a: &Attachment| attachment_cursor(a.id),
        )
        .await
    }
}
