//! The index of a session's files, in the partition `DOCS#<sid>` (a chatbot's:
//! `DOCS#BOT#<id>`):
//!
//! - `C#<aid>#<n>`: chunk `n` of a file, its text;
//! - `T#<term>#<weight>#<aid>#<n>`: a posting, `weight` the term's impact in the chunk
//!   counted down from 9,999,999 so a Query of `T#<term>#` reads the weightiest first;
//! - `P#<aid>#<n>`: chunk `n`'s terms and weights, its postings' keys (to remove them);
//! - `DOC#<aid>`: the file is indexed (its chunks counted once);
//! - `STATS`: the scope's chunk count.
//!
//! A library document's index is a scope of its own (`DOCS#USER#<uid>#<aid>`); its owner's
//! library lists it, whatever its state, in `LIBRARY#<uid>` / `DOC#<aid>`.
//!
//! Indexing writes a file's chunks, postings and term lists with BatchWriteItem
//! (idempotent puts), then the marker and the count in one transaction. A reply reads each
//! scope's `STATS` (GetItem), at most eight terms' heads (a Query each, 20 items) and five
//! chunks (BatchGetItem): its cost does not grow with the documents.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Delete, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use super::errors::{conditional, sdk_failure};
use super::items::{Item, from_items, key, n, s, to_item};
use super::{ABSENT, DynamoStore, query_limit};
use chat_core::domain::{AttachmentId, UserId};
use chat_core::ports::{
    DocumentChunk, DocumentScope, DocumentState, DocumentStore, IndexedDocument, IndexedFile,
    LibraryDocument, Posting, StoreResult,
};

const STATS: &str = "STATS";
const MARKER_PREFIX: &str = "DOC#";
const TERMS_PREFIX: &str = "P#";
/// Impacts are below this (BM25's term part is under 2.2, kept in thousandths).
const IMPACT_CEILING: u32 = 9_999_999;

fn docs_pk(scope: &DocumentScope) -> String {
    match scope {
        DocumentScope::Session(session) => format!("DOCS#{session}"),
        DocumentScope::Chatbot(chatbot) => format!("DOCS#BOT#{chatbot}"),
        DocumentScope::Library { owner, document } => format!("DOCS#USER#{owner}#{document}"),
    }
}

fn library_key(owner: &UserId, document: AttachmentId) -> Item {
    key(library_pk(owner), marker_sk(document))
}

fn library_pk(owner: &UserId) -> String {
    format!("LIBRARY#{owner}")
}

fn marker_sk(attachment: AttachmentId) -> String {
    format!("{MARKER_PREFIX}{attachment}")
}

fn chunk_sk(attachment: AttachmentId, n: u32) -> String {
    format!("C#{attachment}#{n:06}")
}

fn term_prefix(term: &str) -> String {
    format!("T#{term}#")
}

fn posting_sk(term: &str, impact: u32, attachment: AttachmentId, n: u32) -> String {
    let weight = IMPACT_CEILING - impact.min(IMPACT_CEILING);
    format!("{}{weight:07}#{attachment}#{n:06}", term_prefix(term))
}

/// Where a chunk's terms are listed, so that its postings can be found to remove them.
fn terms_sk(attachment: AttachmentId, n: u32) -> String {
    format!("{TERMS_PREFIX}{attachment}#{n:06}")
}

fn terms_prefix(attachment: AttachmentId) -> String {
    format!("{TERMS_PREFIX}{attachment}#")
}

#[derive(Serialize, Deserialize)]
struct ChunkItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    chunk: DocumentChunk,
}

#[derive(Serialize, Deserialize)]
struct PostingItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    posting: Posting,
}

#[derive(Serialize, Deserialize)]
struct IndexedMarker {
    pk: String,
    sk: String,
    #[serde(flatten)]
    file: IndexedFile,
}

/// A chunk's terms and their impacts: its postings' keys.
#[derive(Serialize, Deserialize)]
struct TermsItem {
    pk: String,
    sk: String,
    n: u32,
    terms: BTreeMap<String, u32>,
}

#[derive(Serialize, Deserialize)]
struct LibraryItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    document: LibraryDocument,
}

#[derive(Deserialize)]
struct StatsItem {
    #[serde(default)]
    chunks: u64,
}

impl DynamoStore {
    /// The transaction item that moves the scope's chunk count by `by`.
    fn count_chunks(&self, pk: String, by: i64) -> StoreResult<TransactWriteItem> {
        let count = Update::builder()
            .update_expression("ADD chunks :chunks")
            .expression_attribute_values(":chunks", n(by));
        self.update_write(key(pk, STATS), count)
    }
}

#[async_trait]
impl DocumentStore for DynamoStore {
    /// A GetItem of the marker; BatchWriteItems of 25 (the chunks and postings); then
    /// one TransactWriteItems (the marker, conditioned on its absence, and the count).
    async fn index_document(
        &self,
        scope: &DocumentScope,
        document: &IndexedDocument,
    ) -> StoreResult<bool> {
        let pk = docs_pk(scope);
        let marker_key = key(pk.clone(), marker_sk(document.attachment_id));
        if self.get::<IndexedMarker>(marker_key).await?.is_some() {
            return Ok(false);
        }
        let mut items: Vec<Item> = Vec::new();
        for (chunk, impacts) in document.stored_chunks() {
            let n = chunk.n;
            items.push(to_item(&ChunkItem {
                pk: pk.clone(),
                sk: chunk_sk(document.attachment_id, n),
                chunk,
            })?);
            for (term, impact) in impacts {
                items.push(to_item(&PostingItem {
                    pk: pk.clone(),
                    sk: posting_sk(term, *impact, document.attachment_id, n),
                    posting: Posting {
                        attachment_id: document.attachment_id,
                        n,
                        impact: *impact,
                    },
                })?);
            }
            items.push(to_item(&TermsItem {
                pk: pk.clone(),
                sk: terms_sk(document.attachment_id, n),
                n,
                terms: impacts.clone(),
            })?);
        }
        self.batch_put(items).await?;
        let chunks = document.chunks.len() as u64;
        let marker = self.put_write(
            &IndexedMarker {
                pk: pk.clone(),
                sk: marker_sk(document.attachment_id),
                file: IndexedFile {
                    attachment_id: document.attachment_id,
                    file_name: document.file_name.clone(),
                    chunks,
                },
            },
            Some(ABSENT),
        )?;
        let count = self.count_chunks(pk, i64::try_from(chunks).unwrap_or(i64::MAX))?;
        // Another indexing of the same file got there first: it counted the chunks.
        Ok(self.transact(vec![marker, count]).await?.is_ok())
    }

    /// One GetItem.
    async fn indexed_chunks(&self, scope: &DocumentScope) -> StoreResult<u64> {
        Ok(self
            .get::<StatsItem>(key(docs_pk(scope), STATS))
            .await?
            .map_or(0, |stats| stats.chunks))
    }

    /// One Query of `limit` items.
    async fn postings(
        &self,
        scope: &DocumentScope,
        term: &str,
        limit: usize,
    ) -> StoreResult<Vec<Posting>> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(docs_pk(scope)))
            .expression_attribute_values(":prefix", s(term_prefix(term)))
            .limit(query_limit(limit))
            .send()
            .await
            .map_err(|e| sdk_failure("Query", e))?;
        let items: Vec<PostingItem> = from_items(output.items)?;
        Ok(items.into_iter().map(|item| item.posting).collect())
    }

    /// One BatchGetItem.
    async fn get_chunks(
        &self,
        scope: &DocumentScope,
        places: &[(AttachmentId, u32)],
    ) -> StoreResult<Vec<DocumentChunk>> {
        if places.is_empty() {
            return Ok(Vec::new());
        }
        let keys: BTreeMap<String, Item> = places
            .iter()
            .map(|&(attachment, n)| {
                let sk = chunk_sk(attachment, n);
                (sk.clone(), key(docs_pk(scope), sk))
            })
            .collect();
        let found: Vec<ChunkItem> =
            from_items(Some(self.batch_get(keys.into_values().collect()).await?))?;
        Ok(found.into_iter().map(|item| item.chunk).collect())
    }

    /// One Query of the markers (more pages only past 1 MB of them).
    async fn list_documents(&self, scope: &DocumentScope) -> StoreResult<Vec<IndexedFile>> {
        let markers: Vec<IndexedMarker> = self
            .query_prefix(docs_pk(scope), MARKER_PREFIX, None)
            .await?;
        Ok(markers.into_iter().map(|marker| marker.file).collect())
    }

    /// A GetItem of the marker, a Query of the chunks' term lists, BatchWriteItems of 25
    /// deleting the chunks, postings and lists, then one TransactWriteItems (the marker,
    /// conditioned on it still being there, and the count).
    async fn remove_document(
        &self,
        scope: &DocumentScope,
        attachment: AttachmentId,
    ) -> StoreResult<bool> {
        let pk = docs_pk(scope);
        let marker_key = key(pk.clone(), marker_sk(attachment));
        let Some(marker) = self.get::<IndexedMarker>(marker_key.clone()).await? else {
            return Ok(false);
        };
        let lists: Vec<TermsItem> = self
            .query_prefix(pk.clone(), &terms_prefix(attachment), None)
            .await?;
        let mut keys = Vec::new();
        for list in lists {
            keys.push(key(pk.clone(), chunk_sk(attachment, list.n)));
            for (term, impact) in &list.terms {
                keys.push(key(
                    pk.clone(),
                    posting_sk(term, *impact, attachment, list.n),
                ));
            }
            keys.push(key(pk.clone(), list.sk));
        }
        self.batch_delete(keys).await?;
        let unmark = self.delete_write(
            marker_key,
            Delete::builder().condition_expression("attribute_exists(pk)"),
        )?;
        let chunks = i64::try_from(marker.file.chunks).unwrap_or(i64::MAX);
        let count = self.count_chunks(pk, -chunks)?;
        // Another removal got there first: it took the count down.
        Ok(self.transact(vec![unmark, count]).await?.is_ok())
    }

    /// One PutItem, conditioned on the id being new.
    async fn add_library_document(&self, document: &LibraryDocument) -> StoreResult<()> {
        let item = LibraryItem {
            pk: library_pk(&document.owner_id),
            sk: marker_sk(document.document_id),
            document: document.clone(),
        };
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&item)?))
            .condition_expression(ABSENT);
        conditional("PutItem", request.send().await)?
            .map_err(|_| chat_core::ports::StoreError::Conflict("the document id is taken"))?;
        Ok(())
    }

    /// One Query (a page per 1 MB).
    async fn library(&self, owner: &UserId) -> StoreResult<Vec<LibraryDocument>> {
        let items: Vec<LibraryItem> = self
            .query_prefix(library_pk(owner), MARKER_PREFIX, None)
            .await?;
        Ok(items.into_iter().map(|item| item.document).collect())
    }

    /// One GetItem.
    async fn library_document(
        &self,
        owner: &UserId,
        document: AttachmentId,
    ) -> StoreResult<Option<LibraryDocument>> {
        Ok(self
            .get::<LibraryItem>(library_key(owner, document))
            .await?
            .map(|item| item.document))
    }

    /// One UpdateItem, conditioned on the document being there.
    async fn set_library_state(
        &self,
        owner: &UserId,
        document: AttachmentId,
        state: DocumentState,
    ) -> StoreResult<bool> {
        let (name, chunks) = match state {
            DocumentState::Indexing => ("indexing", None),
            DocumentState::Indexed { chunks } => ("indexed", Some(chunks)),
            DocumentState::Unreadable => ("unreadable", None),
            DocumentState::Failed => ("failed", None),
        };
        let request = self
            .update_request(library_key(owner, document))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":state", s(name));
        let request = match chunks {
            Some(chunks) => request
                .update_expression("SET #state = :state, chunks = :chunks")
                .expression_attribute_values(
                    ":chunks",
                    n(i64::try_from(chunks).unwrap_or(i64::MAX)),
                ),
            None => request.update_expression("SET #state = :state REMOVE chunks"),
        };
        Ok(self.conditional_update(request).await?.is_ok())
    }

    /// One DeleteItem.
    async fn remove_library_document(
        &self,
        owner: &UserId,
        document: AttachmentId,
    ) -> StoreResult<bool> {
        Ok(self
            .delete_returning(library_key(owner, document))
            .await?
            .is_some())
    }
}
