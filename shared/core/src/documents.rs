//! Documents a bot answers from: a shared file's text, cut into chunks, each indexed by
//! its terms so that a reply finds the few chunks that match its question (BM25) without
//! reading the documents. Pure functions; the store keeps what they make.

use std::collections::BTreeMap;

use crate::domain::parse_content_type;

/// About this many characters a chunk: a paragraph or two, enough to hold a fact whole.
pub const CHUNK_CHARS: usize = 900;
/// The most query terms a reply looks up (each one Query of the index).
pub const QUERY_TERMS: usize = 8;
/// The best postings a reply reads of each term.
pub const POSTINGS_PER_TERM: usize = 20;
/// The most chunks a prompt carries, and the characters they may come to.
pub const PROMPT_CHUNKS: usize = 5;
pub const PROMPT_CHARS: usize = 6_000;
/// The most text taken from one file (a larger one is indexed up to here).
pub const MAX_DOCUMENT_CHARS: usize = 2_000_000;

/// The text of a file of this media type, when it is one the bot can read: plain text,
/// Markdown, CSV and HTML (its markup dropped). `None` for any other type, or bytes that
/// are not UTF-8.
pub fn extract_text(content_type: &str, bytes: &[u8]) -> Option<String> {
    let reading = reading(content_type)?;
    let text = std::str::from_utf8(bytes).ok()?;
    let text = match reading {
        Reading::Text => text.to_owned(),
        Reading::Html => html_text(text),
    };
    Some(text.chars().take(MAX_DOCUMENT_CHARS).collect())
}

/// Reads what [`extract_text`] reads.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlainText;

#[async_trait::async_trait]
impl crate::ports::TextExtractor for PlainText {
    fn reads(&self, content_type: &str) -> bool {
        reading(content_type).is_some()
    }

    async fn extract(&self, content_type: &str, bytes: Vec<u8>) -> Option<String> {
        extract_text(content_type, &bytes)
    }
}

enum Reading {
    Text,
    Html,
}

fn reading(content_type: &str) -> Option<Reading> {
    match parse_content_type(content_type).ok()?.as_str() {
        "text/plain" | "text/markdown" | "text/x-markdown" | "text/csv" => Some(Reading::Text),
        "text/html" | "application/xhtml+xml" => Some(Reading::Html),
        _ => None,
    }
}

/// HTML's text: tags dropped (a block tag leaves a line break), `script` and `style`
/// dropped with their content, the common entities decoded.
fn html_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        rest = &rest[open..];
        let close = rest.find('>').map_or(rest.len(), |at| at + 1);
        let tag = rest[1..close.saturating_sub(1).max(1)]
            .trim()
            .to_ascii_lowercase();
        rest = &rest[close..];
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if name == "script" || name == "style" {
            let end = format!("</{name}");
            let skip = rest.to_ascii_lowercase().find(&end).unwrap_or(rest.len());
            rest = &rest[skip..];
            continue;
        }
        if matches!(
            name.as_str(),
            "p" | "br" | "div" | "li" | "tr" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6"
        ) {
            out.push('\n');
        }
    }
    out.push_str(rest);
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The text in chunks of about [`CHUNK_CHARS`], cut at a paragraph, else a sentence, else
/// a space: no word is split, and blank runs are dropped.
pub fn chunks(text: &str) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let window_end = rest
            .char_indices()
            .nth(CHUNK_CHARS)
            .map_or(rest.len(), |(at, _)| at);
        if window_end == rest.len() {
            chunks.push(rest.to_owned());
            break;
        }
        let window = &rest[..window_end];
        let half = window.len() / 2;
        let cut = [
            window.rfind("\n\n"),
            window.rfind(". "),
            window.rfind(char::is_whitespace),
        ]
        .into_iter()
        .flatten()
        .find(|&at| at > half)
        .map_or(window_end, |at| at + 1);
        let (chunk, after) = rest.split_at(cut);
        let chunk = chunk.trim();
        if !chunk.is_empty() {
            chunks.push(chunk.to_owned());
        }
        rest = after.trim_start();
    }
    chunks
}

/// Words too common to tell chunks apart.
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "do", "does", "for", "from",
    "has", "have", "how", "i", "if", "in", "is", "it", "its", "me", "my", "no", "not", "of", "on",
    "or", "our", "so", "that", "the", "their", "then", "there", "these", "this", "to", "was", "we",
    "what", "when", "where", "which", "who", "why", "will", "with", "you", "your",
];

/// The longest term indexed (a longer run is cut): keys stay short.
const MAX_TERM_CHARS: usize = 40;

/// The text's terms in order: lowercased runs of letters and digits, stop words dropped.
pub fn terms(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| {
            word.to_lowercase()
                .chars()
                .take(MAX_TERM_CHARS)
                .collect::<String>()
        })
        .filter(|term| !STOP_WORDS.contains(&term.as_str()))
        .filter(|term| term.chars().count() > 1 || term.chars().all(|c| c.is_numeric()))
        .collect()
}

/// Each term of a chunk and its weight there ([`impact`]): what its postings hold.
pub fn weighted_terms(chunk: &str) -> BTreeMap<String, u32> {
    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    let mut length = 0u32;
    for term in terms(chunk) {
        *counts.entry(term).or_insert(0) += 1;
        length += 1;
    }
    counts
        .into_iter()
        .map(|(term, tf)| (term, impact(tf, length)))
        .collect()
}

/// What a question looks up: its distinct terms, the longest (most telling) first, at
/// most [`QUERY_TERMS`].
pub fn query_terms(question: &str) -> Vec<String> {
    let mut distinct: Vec<String> = terms(question);
    distinct.sort();
    distinct.dedup();
    distinct.sort_by_key(|term| std::cmp::Reverse(term.chars().count()));
    distinct.truncate(QUERY_TERMS);
    distinct
}

const K1: f64 = 1.2;
const B: f64 = 0.75;
/// The chunk length [`impact`] assumes for the average (a full chunk's terms, roughly).
pub const TYPICAL_CHUNK_TERMS: f64 = 120.0;

/// BM25's term-frequency part of a term's weight in a chunk, as stored with its posting
/// (thousandths): the index keeps each term's postings best first, so a reply reads only
/// the head of each list.
pub fn impact(tf: u32, length: u32) -> u32 {
    let tf = f64::from(tf);
    let norm = K1 * (1.0 - B + B * f64::from(length) / TYPICAL_CHUNK_TERMS);
    ((tf * (K1 + 1.0) / (tf + norm)) * 1_000.0).round() as u32
}

/// BM25's inverse document frequency: `chunks` in the index, `with_term` of them having
/// the term (as counted from the postings read, at most [`POSTINGS_PER_TERM`]: a term
/// that common weighs little either way).
pub fn idf(chunks: u64, with_term: usize) -> f64 {
    let n = chunks.max(with_term as u64) as f64;
    let df = with_term as f64;
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_markdown_and_html_are_read_and_other_types_are_not() {
        assert_eq!(
            extract_text("text/plain; charset=utf-8", b"hello").as_deref(),
            Some("hello")
        );
        assert_eq!(
            extract_text("text/markdown", b"# Title").as_deref(),
            Some("# Title")
        );
        let html = b"<html><head><style>p{color:red}</style><script>var x=1;</script></head><body><p>Fish &amp; chips</p><p>cost 5</p></body></html>";
        let text = extract_text("text/html", html).expect("html is read");
        assert_eq!(
            text.split_whitespace().collect::<Vec<_>>(),
            ["Fish", "&", "chips", "cost", "5"]
        );
        assert_eq!(extract_text("image/png", b"\x89PNG"), None);
        assert_eq!(extract_text("text/plain", b"\xff\xfe"), None);
    }

    #[test]
    fn chunks_are_cut_between_words_near_the_size_and_keep_all_the_words() {
        let text = "word ".repeat(1_000) + "\n\nlast paragraph here.";
        let cut = chunks(&text);
        assert!(cut.len() > 4);
        assert!(cut.iter().all(|c| c.chars().count() <= CHUNK_CHARS));
        assert_eq!(
            cut.join(" ").split_whitespace().count(),
            text.split_whitespace().count()
        );
        assert_eq!(chunks("  "), Vec::<String>::new());
    }

    #[test]
    fn terms_are_lowercase_words_without_stop_words() {
        assert_eq!(
            terms("The Wi-Fi password is Zebra-42!"),
            ["wi", "fi", "password", "zebra", "42"]
        );
        assert_eq!(
            query_terms("What is the wifi password, the PASSWORD?"),
            ["password", "wifi"]
        );
    }

    #[test]
    fn a_rarer_term_and_a_denser_chunk_weigh_more() {
        assert!(idf(1_000, 1) > idf(1_000, 20));
        assert!(impact(3, 50) > impact(1, 50));
        assert!(impact(1, 30) > impact(1, 300));
    }
}
