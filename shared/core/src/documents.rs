//! Documents a bot answers from: a shared file's text, cut into chunks, each indexed by
//! its terms so that a reply finds the few chunks that match its question (BM25) without
//! reading the documents; with an embeddings model, the best keyword matches are then
//! ordered by closeness of meaning too. Pure functions; the store keeps what they make.

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
/// With an embeddings model, the keyword matches a reply reads and reorders by meaning.
pub const RERANK_CANDIDATES: usize = 20;
/// The most chunks sent to the embeddings model in one request.
pub const EMBED_BATCH: usize = 64;
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

/// A chunk's vector as the index keeps it: the model that made it (vectors of different
/// models are never compared) and the vector packed to a byte a dimension (a scale, then
/// each value in 127ths of it; base64), about a quarter of its `f32` size, which is close
/// enough to order a few candidates.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Embedding {
    pub model: String,
    pub packed: String,
}

impl Embedding {
    pub fn pack(model: &str, vector: &[f32]) -> Self {
        use base64::Engine as _;
        let largest = vector.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = if largest > 0.0 { largest / 127.0 } else { 1.0 };
        let mut bytes = scale.to_le_bytes().to_vec();
        bytes.extend(
            vector
                .iter()
                .map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8 as u8),
        );
        Self {
            model: model.to_owned(),
            packed: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }

    /// The vector, as closely as it was packed; `None` for packing this code did not make.
    pub fn vector(&self) -> Option<Vec<f32>> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.packed)
            .ok()?;
        let (scale, values) = bytes.split_first_chunk::<4>()?;
        let scale = f32::from_le_bytes(*scale);
        Some(values.iter().map(|&b| f32::from(b as i8) * scale).collect())
    }
}

/// How alike two vectors point (1 the same way, 0 unrelated); 0 when their sizes differ.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() {
        return 0.0;
    }
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let norms = norm(a) * norm(b);
    if norms == 0.0 { 0.0 } else { dot / norms }
}

/// The candidates (the best keyword matches, best first) ordered by closeness to the
/// question, as a reranker orders what retrieval found: the keywords decide what is a
/// candidate, the meaning what comes first. A candidate without a vector of the model
/// (indexed before it was configured) comes after those with one, in keyword order.
pub fn rerank<T>(candidates: Vec<(T, Option<f64>)>) -> Vec<T> {
    let mut ordered: Vec<(usize, (T, Option<f64>))> = candidates.into_iter().enumerate().collect();
    ordered.sort_by(|(a_at, (_, a)), (b_at, (_, b))| match (a, b) {
        (Some(a), Some(b)) => b.total_cmp(a).then(a_at.cmp(b_at)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a_at.cmp(b_at),
    });
    ordered
        .into_iter()
        .map(|(_, (candidate, _))| candidate)
        .collect()
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

    #[test]
    fn a_packed_vector_comes_back_close_and_points_the_same_way() {
        let vector = [0.5f32, -0.25, 0.0, 1.0, -1.0, 0.125];
        let packed = Embedding::pack("m", &vector);
        let back = packed.vector().expect("unpacked");
        assert_eq!(back.len(), vector.len());
        assert!(back.iter().zip(vector).all(|(b, v)| (b - v).abs() < 0.01));
        assert!(cosine(&back, &vector) > 0.999);
        assert_eq!(
            Embedding::pack("m", &[0.0, 0.0]).vector(),
            Some(vec![0.0, 0.0])
        );
        let garbage = Embedding {
            model: "m".into(),
            packed: "not base64!".into(),
        };
        assert_eq!(garbage.vector(), None);
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 1.0]), 0.0);
        assert_eq!(cosine(&[1.0], &[1.0, 0.0]), 0.0);
    }

    #[test]
    fn reranking_lifts_the_closest_in_meaning_over_better_keyword_matches() {
        let candidates = vec![
            ("decoy 1", Some(0.1)),
            ("decoy 2", Some(0.2)),
            ("unvectored", None),
            ("decoy 3", Some(0.1)),
            ("the answer", Some(0.9)),
        ];
        assert_eq!(
            rerank(candidates),
            ["the answer", "decoy 2", "decoy 1", "decoy 3", "unvectored"]
        );
        // Without any closeness, the keyword order stands.
        assert_eq!(rerank(vec![("a", None), ("b", None)]), ["a", "b"]);
    }
}
