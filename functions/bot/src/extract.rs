//! What the bot reads of shared files: the core's plain text, Markdown, CSV and HTML, and
//! PDF's text (pdf-extract). A PDF is read on a blocking thread, and one that makes the
//! reader panic is taken as unreadable rather than ending the reply.

use async_trait::async_trait;
use chat_core::documents::{MAX_DOCUMENT_CHARS, PlainText};
use chat_core::domain::parse_content_type;
use chat_core::ports::TextExtractor;

#[derive(Clone, Copy, Debug, Default)]
pub struct FileText;

fn is_pdf(content_type: &str) -> bool {
    parse_content_type(content_type).is_ok_and(|media| media == "application/pdf")
}

#[async_trait]
impl TextExtractor for FileText {
    fn reads(&self, content_type: &str) -> bool {
        is_pdf(content_type) || PlainText.reads(content_type)
    }

    async fn extract(&self, content_type: &str, bytes: Vec<u8>) -> Option<String> {
        if !is_pdf(content_type) {
            return PlainText.extract(content_type, bytes).await;
        }
        let read = tokio::task::spawn_blocking(move || pdf_extract::extract_text_from_mem(&bytes));
        match read.await {
            Ok(Ok(text)) => Some(text.chars().take(MAX_DOCUMENT_CHARS).collect()),
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot read the PDF");
                None
            }
            Err(_) => {
                tracing::warn!("the PDF reader failed on this file");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCKERS: &[u8] = include_bytes!("../../../tests/fixtures/lockers.pdf");

    #[tokio::test]
    async fn a_pdfs_text_is_read() {
        let text = FileText
            .extract("application/pdf", LOCKERS.to_vec())
            .await
            .expect("the text");
        assert!(text.contains("heron-7158"), "{text}");
        assert!(FileText.reads("Application/PDF"));
    }

    #[tokio::test]
    async fn a_damaged_pdf_is_unreadable_and_text_is_still_read() {
        let damaged = LOCKERS[..LOCKERS.len() / 2].to_vec();
        assert_eq!(FileText.extract("application/pdf", damaged).await, None);
        assert_eq!(
            FileText
                .extract("text/plain", b"plain".to_vec())
                .await
                .as_deref(),
            Some("plain")
        );
        assert!(!FileText.reads("image/png"));
    }
}
