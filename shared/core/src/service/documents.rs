//! Documents the bot answers from: files shared in a bot session (for that session), and
//! a chatbot's own, which an admin adds (for all its sessions). A file is indexed (text,
//! chunks, postings) once: a shared one when the bot takes up its message, before any
//! reply is composed; a chatbot's by a background job once it is uploaded. Each reply then
//! draws the few chunks that best match its question from both.

use std::collections::HashMap;
use std::sync::Arc;

use super::chatbots::require_admin;
use super::{ChatService, DirectUpload, MAX_DIRECT_UPLOAD_BYTES, ServiceError, ServiceResult};
use crate::documents::{
    EMBED_BATCH, Embedding, POSTINGS_PER_TERM, PROMPT_CHARS, PROMPT_CHUNKS, RERANK_CANDIDATES,
    chunks, cosine, idf, query_terms, rerank, weighted_terms,
};
use crate::domain::{
    Attachment, AttachmentId, ChatbotId, Principal, SessionId, ValidationError, parse_content_type,
    parse_file_name,
};
use crate::ports::{
    DocumentChunk, DocumentScope, Embedder, IndexedDocument, IndexedFile, Invoker, Job,
    TextExtractor, error_chain,
};

/// The media types a chatbot's documents may have: what the bot reads.
pub const DOCUMENT_TYPES: &[&str] = &[
    "text/plain",
    "text/markdown",
    "text/csv",
    "text/html",
    "application/pdf",
];

/// What reads the files the bot indexes: their text, and optionally their meaning.
#[derive(Clone)]
pub struct DocumentReaders {
    pub extractor: Arc<dyn TextExtractor>,
    /// Orders a reply's keyword matches by meaning; absent, BM25 alone decides.
    pub embedder: Option<Arc<dyn Embedder>>,
}

impl Default for DocumentReaders {
    fn default() -> Self {
        Self {
            extractor: Arc::new(crate::documents::PlainText),
            embedder: None,
        }
    }
}

/// A chatbot's document as it is added: indexed in the background.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddedDocument {
    pub id: AttachmentId,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
}

/// A file to index, and where its bytes are.
pub(super) struct FileToIndex<'a> {
    pub id: AttachmentId,
    pub file_name: &'a str,
    pub content_type: &'a str,
    pub key: String,
}

/// What became of indexing a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Indexing {
    /// Indexed now, in this many chunks.
    Done { chunks: u64 },
    /// Indexed before (a job run twice): nothing counted twice.
    Before,
    /// Not a type the bot reads, no text in it, or its bytes are gone.
    Unreadable,
}

/// Where a chatbot's document's bytes are kept (server-made, like an attachment's).
pub fn chatbot_document_key(chatbot: &ChatbotId, id: AttachmentId) -> String {
    format!("chatbots/{chatbot}/{id}")
}

impl ChatService {
    /// Indexes a file a stored message shared (so it is uploaded and checked), of a type
    /// the bot can read, once.
    pub(super) async fn index_shared_file(
        &self,
        session: SessionId,
        attachment: &Attachment,
    ) -> ServiceResult<Indexing> {
        let file = FileToIndex {
            id: attachment.id,
            file_name: &attachment.file_name,
            content_type: &attachment.content_type,
            key: attachment.storage_key(),
        };
        self.index_file(&DocumentScope::Session(session), file)
            .await
    }

    /// The `IndexDocument` job: indexes a chatbot's document once it is uploaded.
    pub async fn index_chatbot_document(
        &self,
        chatbot: &ChatbotId,
        id: AttachmentId,
        file_name: &str,
        content_type: &str,
    ) -> ServiceResult<Indexing> {
        let file = FileToIndex {
            id,
            file_name,
            content_type,
            key: chatbot_document_key(chatbot, id),
        };
        self.index_file(&DocumentScope::Chatbot(chatbot.clone()), file)
            .await
    }

    /// Indexes the file in the scope, once: unreadable when it is of a type the bot does
    /// not read, holds no text, or its bytes are gone.
    pub(super) async fn index_file(
        &self,
        scope: &DocumentScope,
        file: FileToIndex<'_>,
    ) -> ServiceResult<Indexing> {
        let extractor = &self.readers.extractor;
        if !extractor.reads(file.content_type) {
            return Ok(Indexing::Unreadable);
        }
        let Some(bytes) = self.files()?.blobs.get(&file.key).await? else {
            return Ok(Indexing::Unreadable);
        };
        let Some(text) = extractor.extract(file.content_type, bytes).await else {
            return Ok(Indexing::Unreadable);
        };
        let texts = chunks(&text);
        let document = IndexedDocument {
            attachment_id: file.id,
            file_name: file.file_name.to_owned(),
            embeddings: self.embed_chunks(&texts).await,
            chunks: texts
                .into_iter()
                .map(|chunk| {
                    let weights = weighted_terms(&chunk);
                    (chunk, weights)
                })
                .collect(),
        };
        let chunks = document.chunks.len() as u64;
        Ok(if self.store.index_document(scope, &document).await? {
            Indexing::Done { chunks }
        } else {
            Indexing::Before
        })
    }

    /// The chunks' vectors, with an embeddings model: a request per [`EMBED_BATCH`]. When
    /// the model fails, none (the file is still found by its words).
    async fn embed_chunks(&self, texts: &[String]) -> Vec<Embedding> {
        let Some(embedder) = &self.readers.embedder else {
            return Vec::new();
        };
        let mut embeddings = Vec::with_capacity(texts.len());
        for batch in texts.chunks(EMBED_BATCH) {
            match embedder.embed(batch).await {
                Ok(vectors) => embeddings.extend(
                    vectors
                        .iter()
                        .map(|vector| Embedding::pack(embedder.model(), vector)),
                ),
                Err(error) => {
                    tracing::warn!(error = %error_chain(&error), "cannot embed a file's chunks: it is indexed by its words only");
                    return Vec::new();
                }
            }
        }
        embeddings
    }

    /// A document as the bot indexes it, checked: a name, a type it reads, a size within
    /// the small-file path (4 MiB) and the deployment's limit.
    pub(super) fn accept_document(
        &self,
        upload: DirectUpload,
    ) -> ServiceResult<(String, String, Vec<u8>)> {
        let files = self.files()?;
        let file_name = parse_file_name(&upload.file_name)?;
        let content_type = parse_content_type(&upload.content_type)?;
        if !DOCUMENT_TYPES.contains(&content_type.as_str()) {
            return Err(ValidationError::new(
                "content_type",
                format!("a document is one of {}", DOCUMENT_TYPES.join(", ")),
            )
            .into());
        }
        let size = upload.bytes.len() as u64;
        super::attachments::check_size(size, files.policy.max_bytes.min(MAX_DIRECT_UPLOAD_BYTES))?;
        Ok((file_name, content_type, upload.bytes))
    }

    /// What indexes added documents in the background: the bot.
    pub(super) fn indexer(&self) -> ServiceResult<&dyn Invoker> {
        self.bot_invoker
            .as_deref()
            .ok_or_else(|| ServiceError::Unavailable("no bot is configured".into()))
    }

    /// Starts the bot's indexing of an added document.
    pub(super) async fn start_indexing(indexer: &dyn Invoker, job: &Job) -> ServiceResult<()> {
        indexer
            .invoke(job)
            .await
            .map_err(|e| ServiceError::Unavailable(Box::new(e)))
    }

    /// An admin adds a document to a chatbot (the small-file path, up to 4 MiB): its bytes
    /// are kept, and the bot indexes it in the background; until then no reply draws on it.
    pub async fn add_chatbot_document(
        &self,
        caller: &Principal,
        chatbot: &ChatbotId,
        upload: DirectUpload,
    ) -> ServiceResult<AddedDocument> {
        require_admin(caller)?;
        self.chatbot(chatbot)
            .await?
            .ok_or(ServiceError::NotFound("chatbot"))?;
        let (file_name, content_type, bytes) = self.accept_document(upload)?;
        let indexer = self.indexer()?;
        let document = AddedDocument {
            id: AttachmentId::new(self.clock.now()),
            file_name,
            content_type,
            size: bytes.len() as u64,
        };
        let key = chatbot_document_key(chatbot, document.id);
        self.files()?
            .blobs
            .put(&key, &document.content_type, bytes)
            .await?;
        let job = Job::IndexDocument {
            chatbot_id: chatbot.clone(),
            attachment_id: document.id,
            file_name: document.file_name.clone(),
            content_type: document.content_type.clone(),
        };
        Self::start_indexing(indexer, &job).await?;
        Ok(document)
    }

    /// The chatbot's indexed documents, for admins.
    pub async fn chatbot_documents(
        &self,
        caller: &Principal,
        chatbot: &ChatbotId,
    ) -> ServiceResult<Vec<IndexedFile>> {
        require_admin(caller)?;
        self.chatbot(chatbot)
            .await?
            .ok_or(ServiceError::NotFound("chatbot"))?;
        Ok(self
            .store
            .list_documents(&DocumentScope::Chatbot(chatbot.clone()))
            .await?)
    }

    /// An admin takes a document out of a chatbot's index: its replies no longer draw on
    /// it. 404 when the chatbot has no such document.
    pub async fn remove_chatbot_document(
        &self,
        caller: &Principal,
        chatbot: &ChatbotId,
        document: AttachmentId,
    ) -> ServiceResult<()> {
        require_admin(caller)?;
        let scope = DocumentScope::Chatbot(chatbot.clone());
        if !self.store.remove_document(&scope, document).await? {
            return Err(ServiceError::NotFound("document"));
        }
        self.delete_document_bytes(&chatbot_document_key(chatbot, document))
            .await
    }

    /// Deletes a removed document's bytes. Out of the index, it is gone for every reply:
    /// bytes left behind cost only space, so a failure is logged, not returned.
    pub(super) async fn delete_document_bytes(&self, key: &str) -> ServiceResult<()> {
        if let Err(error) = self.files()?.blobs.delete(key).await {
            tracing::warn!(error = %crate::ports::error_chain(&error), %key, "cannot delete a removed document's bytes");
        }
        Ok(())
    }

    /// The chunks of the scopes' files that best match `question` (BM25 over the head of
    /// each of its terms' postings, each scope weighed on its own), best first, within the
    /// prompt's budget; with an embeddings model, the best [`RERANK_CANDIDATES`] of them
    /// ordered by closeness to the question. Its cost is bounded whatever the files' size:
    /// for each scope one read of the count (all a scope without files pays), a Query per
    /// term (at most 8, of 20 postings), and one read of the chunks chosen (at most 5, or
    /// 20 and one embedding of the question).
    pub(super) async fn relevant_chunks(
        &self,
        scopes: &[DocumentScope],
        question: &str,
    ) -> ServiceResult<Vec<DocumentChunk>> {
        let terms = query_terms(question);
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        // The scopes at once, and within each every term's postings at once.
        let scored =
            futures::future::try_join_all(scopes.iter().map(|scope| self.scores(scope, &terms)))
                .await?;
        let mut ranked: Vec<(f64, usize, (AttachmentId, u32))> = scored
            .into_iter()
            .enumerate()
            .flat_map(|(at, scores)| {
                scores
                    .into_iter()
                    .map(move |(place, score)| (score, at, place))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let embedder = self.readers.embedder.as_ref();
        ranked.truncate(if embedder.is_some() {
            RERANK_CANDIDATES
        } else {
            PROMPT_CHUNKS
        });
        let places: Vec<Vec<_>> = (0..scopes.len())
            .map(|at| {
                ranked
                    .iter()
                    .filter(|(_, of, _)| *of == at)
                    .map(|(_, _, place)| *place)
                    .collect()
            })
            .collect();
        // A scope with none chosen is asked for none, which the stores answer unread.
        let chosen = futures::future::try_join_all(
            scopes
                .iter()
                .zip(&places)
                .map(|(scope, places)| self.store.get_chunks(scope, places)),
        )
        .await?;
        let mut found: Vec<(usize, DocumentChunk)> = chosen
            .into_iter()
            .enumerate()
            .flat_map(|(at, chunks)| chunks.into_iter().map(move |chunk| (at, chunk)))
            .collect();
        found.sort_by_key(|(at, chunk)| {
            ranked
                .iter()
                .position(|(_, of, place)| of == at && *place == (chunk.attachment_id, chunk.n))
        });
        let mut found: Vec<DocumentChunk> = found.into_iter().map(|(_, chunk)| chunk).collect();
        if let Some(embedder) = embedder
            && !found.is_empty()
        {
            found = self.by_meaning(embedder.as_ref(), question, found).await;
        }
        let mut budget = PROMPT_CHARS;
        Ok(found
            .into_iter()
            .take(PROMPT_CHUNKS)
            .filter(|chunk| {
                let size = chunk.text.chars().count();
                let fits = size <= budget;
                if fits {
                    budget -= size;
                }
                fits
            })
            .collect())
    }

    /// The keyword matches (best first) ordered by closeness to the question. When the
    /// model fails, the keyword order stands.
    async fn by_meaning(
        &self,
        embedder: &dyn Embedder,
        question: &str,
        found: Vec<DocumentChunk>,
    ) -> Vec<DocumentChunk> {
        let asked = match embedder.embed(&[question.to_owned()]).await {
            Ok(mut vectors) if vectors.len() == 1 => vectors.remove(0),
            Ok(_) => return found,
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), "cannot embed the question: the keyword order stands");
                return found;
            }
        };
        let candidates = found
            .into_iter()
            .map(|chunk| {
                let similarity = chunk
                    .embedding
                    .as_ref()
                    .filter(|embedding| embedding.model == embedder.model())
                    .and_then(Embedding::vector)
                    .map(|vector| cosine(&asked, &vector));
                (chunk, similarity)
            })
            .collect();
        rerank(candidates)
    }

    /// Each chunk of the scope's files that shares a term with the question, and its BM25
    /// score: nothing read past the count when the scope has no files.
    async fn scores(
        &self,
        scope: &DocumentScope,
        terms: &[String],
    ) -> ServiceResult<HashMap<(AttachmentId, u32), f64>> {
        let mut scores = HashMap::new();
        let indexed = self.store.indexed_chunks(scope).await?;
        if indexed == 0 {
            return Ok(scores);
        }
        let lists = futures::future::try_join_all(
            terms
                .iter()
                .map(|term| self.store.postings(scope, term, POSTINGS_PER_TERM)),
        )
        .await?;
        for postings in lists {
            let weight = idf(indexed, postings.len());
            for posting in postings {
                *scores
                    .entry((posting.attachment_id, posting.n))
                    .or_default() += weight * f64::from(posting.impact) / 1_000.0;
            }
        }
        Ok(scores)
    }
}
