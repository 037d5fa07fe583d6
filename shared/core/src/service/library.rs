//! A user's document library: files they add (`POST /documents`), which the bot indexes
//! in the background, each in a scope of its own; a session whose `document_id` names one
//! of its owner's documents answers from it.

use super::documents::{FileToIndex, Indexing};
use super::{ChatService, DirectUpload, ServiceError, ServiceResult};
use crate::domain::{AttachmentId, DocumentId, Principal, Role, UserId};
use crate::ports::{DocumentScope, DocumentState, Job, LibraryDocument};

/// How many documents one user's library holds: each is listed in one Query.
pub const LIBRARY_DOCUMENTS_PER_USER: usize = 200;

/// Where a library document's bytes are kept (server-made, like an attachment's).
pub fn library_document_key(owner: &UserId, id: AttachmentId) -> String {
    format!("documents/{owner}/{id}")
}

/// The index scope of a library document.
pub fn library_scope(owner: &UserId, document: AttachmentId) -> DocumentScope {
    DocumentScope::Library {
        owner: owner.clone(),
        document,
    }
}

fn require_library(caller: &Principal) -> ServiceResult<()> {
    if caller.role == Role::Visitor {
        return Err(ServiceError::Forbidden("a visitor has no document library"));
    }
    Ok(())
}

impl ChatService {
    /// A user adds a document to their library (the small-file path, up to 4 MiB): its
    /// bytes are kept, it is listed as `indexing`, and the bot indexes it in the
    /// background.
    pub async fn add_library_document(
        &self,
        caller: &Principal,
        upload: DirectUpload,
    ) -> ServiceResult<LibraryDocument> {
        require_library(caller)?;
        let (file_name, content_type, bytes) = self.accept_document(upload)?;
        let indexer = self.indexer()?;
        let owner = &caller.user_id;
        if self.store.library(owner).await?.len() >= LIBRARY_DOCUMENTS_PER_USER {
            return Err(ServiceError::Conflict(
                "the library is full (200 documents): remove one first",
            ));
        }
        let now = self.clock.now();
        let document = LibraryDocument {
            document_id: AttachmentId::new(now),
            owner_id: owner.clone(),
            file_name,
            content_type,
            size: bytes.len() as u64,
            added_at: now,
            state: DocumentState::Indexing,
        };
        let key = library_document_key(owner, document.document_id);
        let blobs = &self.files()?.blobs;
        blobs.put(&key, &document.content_type, bytes).await?;
        self.store.add_library_document(&document).await?;
        let job = Job::IndexLibraryDocument {
            owner_id: owner.clone(),
            document_id: document.document_id,
            file_name: document.file_name.clone(),
            content_type: document.content_type.clone(),
        };
        if let Err(error) = Self::start_indexing(indexer, &job).await {
            // Nothing will index it: it must not stay listed as indexing forever.
            self.store
                .remove_library_document(owner, document.document_id)
                .await?;
            self.delete_document_bytes(&key).await?;
            return Err(error);
        }
        Ok(document)
    }

    /// The `IndexLibraryDocument` job: indexes the document and records the outcome in
    /// the library. A document removed meanwhile leaves no index behind.
    pub async fn index_library_document(
        &self,
        owner: &UserId,
        id: AttachmentId,
        file_name: &str,
        content_type: &str,
    ) -> ServiceResult<DocumentState> {
        let scope = library_scope(owner, id);
        let file = FileToIndex {
            id,
            file_name,
            content_type,
            key: library_document_key(owner, id),
        };
        let indexed = async {
            Ok::<_, ServiceError>(match self.index_file(&scope, file).await? {
                Indexing::Unreadable => DocumentState::Unreadable,
                Indexing::Done { chunks } => DocumentState::Indexed { chunks },
                // Indexed by an earlier run of the job: the scope holds this document
                // only, so its count is the document's.
                Indexing::Before => DocumentState::Indexed {
                    chunks: self.store.indexed_chunks(&scope).await?,
                },
            })
        };
        let state = match indexed.await {
            Ok(state) => state,
            Err(error) => {
                // The job is not retried: the library says so rather than `indexing`.
                self.store
                    .set_library_state(owner, id, DocumentState::Failed)
                    .await?;
                return Err(error);
            }
        };
        if !self.store.set_library_state(owner, id, state).await? {
            self.store.remove_document(&scope, id).await?;
        }
        Ok(state)
    }

    /// The caller's library, by id (so oldest first).
    pub async fn library(&self, caller: &Principal) -> ServiceResult<Vec<LibraryDocument>> {
        require_library(caller)?;
        Ok(self.store.library(&caller.user_id).await?)
    }

    /// The caller takes a document out of their library: its index and bytes go, and the
    /// sessions bound to it answer without it. 404 when the caller has no such document.
    pub async fn remove_library_document(
        &self,
        caller: &Principal,
        id: AttachmentId,
    ) -> ServiceResult<()> {
        require_library(caller)?;
        let owner = &caller.user_id;
        if !self.store.remove_library_document(owner, id).await? {
            return Err(ServiceError::NotFound("document"));
        }
        self.store
            .remove_document(&library_scope(owner, id), id)
            .await?;
        self.delete_document_bytes(&library_document_key(owner, id))
            .await
    }

    /// Checks a new session's `document_id` against its owner's library: one of this
    /// backend's ids must name one of the owner's documents (404 otherwise), and then the
    /// session is about it (true); another value is the client's own reference, kept as
    /// it is (false).
    pub(super) async fn binds_library_document(
        &self,
        owner: &UserId,
        document: Option<&DocumentId>,
    ) -> ServiceResult<bool> {
        let Some(id) = document.and_then(DocumentId::library_document) else {
            return Ok(false);
        };
        match self.store.library_document(owner, id).await? {
            Some(_) => Ok(true),
            None => Err(ServiceError::NotFound("document")),
        }
    }
}
