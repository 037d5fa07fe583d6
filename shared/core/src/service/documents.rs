//! Files shared in a bot session, as the bot answers from them: a shared file is indexed
//! (text, chunks, postings) when the bot takes up its message, before any reply is
//! composed; each reply then draws the few chunks that best match its question.

use std::collections::HashMap;

use super::{ChatService, ServiceResult};
use crate::documents::{
    POSTINGS_PER_TERM, PROMPT_CHARS, PROMPT_CHUNKS, chunks, idf, impact, query_terms, term_counts,
};
use crate::domain::{Attachment, SessionId};
use crate::ports::{DocumentChunk, IndexedDocument};

impl ChatService {
    /// Indexes a file a stored message shared (so it is uploaded and checked), of a type
    /// the bot can read, once: true when it was indexed now. Another type, or bytes that
    /// are not text, are left out (false).
    pub(super) async fn index_shared_file(
        &self,
        session: SessionId,
        attachment: &Attachment,
    ) -> ServiceResult<bool> {
        if !self.extractor.reads(&attachment.content_type) {
            return Ok(false);
        }
        let Some(bytes) = self.files()?.blobs.get(&attachment.storage_key()).await? else {
            return Ok(false);
        };
        let Some(text) = self
            .extractor
            .extract(&attachment.content_type, bytes)
            .await
        else {
            return Ok(false);
        };
        let document = IndexedDocument {
            attachment_id: attachment.id,
            file_name: attachment.file_name.clone(),
            chunks: chunks(&text)
                .into_iter()
                .map(|chunk| {
                    let (counts, length) = term_counts(&chunk);
                    let impacts = counts
                        .into_iter()
                        .map(|(term, tf)| (term, impact(tf, length)))
                        .collect();
                    (chunk, impacts)
                })
                .collect(),
        };
        Ok(self.store.index_document(session, &document).await?)
    }

    /// The session's chunks that best match `question` (BM25 over the head of each of its
    /// terms' postings), best first, within the prompt's budget. Its cost is bounded
    /// whatever the files' size: one read of the count (all a session without files
    /// pays), a Query per term (at most 8, of 20 postings), one read of the chunks (5).
    pub(super) async fn relevant_chunks(
        &self,
        session: SessionId,
        question: &str,
    ) -> ServiceResult<Vec<DocumentChunk>> {
        let indexed = self.store.indexed_chunks(session).await?;
        let terms = query_terms(question);
        if indexed == 0 || terms.is_empty() {
            return Ok(Vec::new());
        }
        // Every term's postings at once: a reply waits for one round trip, not eight.
        let lists = futures::future::try_join_all(
            terms
                .iter()
                .map(|term| self.store.postings(session, term, POSTINGS_PER_TERM)),
        )
        .await?;
        let mut scores: HashMap<_, f64> = HashMap::new();
        for postings in lists {
            let weight = idf(indexed, postings.len());
            for posting in postings {
                *scores
                    .entry((posting.attachment_id, posting.n))
                    .or_default() += weight * f64::from(posting.impact) / 1_000.0;
            }
        }
        let mut ranked: Vec<_> = scores.into_iter().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(PROMPT_CHUNKS);
        let places: Vec<_> = ranked.iter().map(|(place, _)| *place).collect();
        let mut found = self.store.get_chunks(session, &places).await?;
        found.sort_by_key(|chunk| {
            places
                .iter()
                .position(|&place| place == (chunk.attachment_id, chunk.n))
        });
        let mut budget = PROMPT_CHARS;
        found.retain(|chunk| {
            let size = chunk.text.chars().count();
            let fits = size <= budget;
            if fits {
                budget -= size;
            }
            fits
        });
        Ok(found)
    }
}
