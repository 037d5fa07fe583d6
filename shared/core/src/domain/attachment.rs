//! Files shared in a session.

use serde::{Deserialize, Serialize};

use super::{
    AttachmentId, SessionId, TextShape, Timestamp, UserId, ValidationError, check_characters,
};

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
        storage_key(self.session_id, self.id)
    }
}

/// The object key of attachment `id` of `session`.
pub fn storage_key(session: SessionId, id: AttachmentId) -> String {
    format!("sessions/{session}/{id}")
}

/// Longest file name kept, in characters.
pub const MAX_FILE_NAME_CHARS: usize = 255;

/// A file name as people see it: trimmed, 1 to 255 characters on one line, within the
/// character rules (a bidi override would show `invoice\u{202E}txt.exe` as `invoiceexe.txt`),
/// and no path separators (it is shown, never used as a path, but clients save files by it).
pub fn parse_file_name(value: &str) -> Result<String, ValidationError> {
    let name = value.trim();
    let invalid = |reason: &str| ValidationError::new("file_name", reason.to_owned());
    if name.is_empty() {
        return Err(invalid("must not be empty"));
    }
    if name.chars().count() > MAX_FILE_NAME_CHARS {
        return Err(invalid("must be at most 255 characters"));
    }
    check_characters("file_name", name, TextShape::SingleLine)?;
    if name.chars().any(|c| c == '/' || c == '\\') || name == "." || name == ".." {
        return Err(invalid("must be a plain file name, without / or \\"));
    }
    Ok(name.to_owned())
}

/// A media type's essence, lowercased (`Image/PNG; charset=x` is `image/png`). The
/// parameters are dropped: stored objects carry the bare type the allow-list names.
pub fn parse_content_type(value: &str) -> Result<String, ValidationError> {
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let token = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
    };
    match essence.split_once('/') {
        Some((kind, subtype)) if token(kind) && token(subtype) => Ok(essence),
        _ => Err(ValidationError::new(
            "content_type",
            "must be a media type such as image/png",
        )),
    }
}

/// What may be uploaded: which media types, how large.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadPolicy {
    pub max_bytes: u64,
    /// Bare media types (`image/png`), lowercase.
    pub allowed_types: Vec<String>,
}

impl UploadPolicy {
    /// Common documents, images, audio and video. Nothing a browser would run or render as
    /// a page (no HTML, SVG or scripts), since download URLs open in browsers.
    pub const DEFAULT_TYPES: [&'static str; 22] = [
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/heic",
        "application/pdf",
        "text/plain",
        "text/csv",
        "text/markdown",
        "application/json",
        "application/zip",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "audio/mpeg",
        "audio/ogg",
        "audio/wav",
        "video/mp4",
        "video/webm",
    ];

    pub fn new(max_bytes: u64, allowed_types: Vec<String>) -> Self {
        Self {
            max_bytes,
            allowed_types,
        }
    }

    pub fn default_types() -> Vec<String> {
        Self::DEFAULT_TYPES
            .iter()
            .map(|t| (*t).to_owned())
            .collect()
    }

    /// The bare, allowed media type of `content_type`.
    pub fn allowed_type(&self, content_type: &str) -> Result<String, ValidationError> {
        let essence = parse_content_type(content_type)?;
        if self.allowed_types.contains(&essence) {
            Ok(essence)
        } else {
            Err(ValidationError::new(
                "content_type",
                format!("{essence} is not an allowed file type"),
            ))
        }
    }

    /// Whether `size` bytes may be uploaded; an empty file is refused too.
    pub fn fits(&self, size: u64) -> Result<(), SizeRefusal> {
        Self::fits_within(size, self.max_bytes)
    }

    /// Whether `size` bytes may be uploaded where at most `max_bytes` fit (a path with a
    /// lower limit of its own, such as uploads through the API).
    pub fn fits_within(size: u64, max_bytes: u64) -> Result<(), SizeRefusal> {
        if size == 0 {
            Err(SizeRefusal::Empty)
        } else if size > max_bytes {
            Err(SizeRefusal::TooLarge(max_bytes))
        } else {
            Ok(())
        }
    }
}

impl Default for UploadPolicy {
    fn default() -> Self {
        Self::new(25 * 1024 * 1024, Self::default_types())
    }
}

/// Why a size was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeRefusal {
    Empty,
    /// Larger than this many bytes.
    TooLarge(u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_trimmed_and_refused_when_they_look_like_paths() {
        assert_eq!(
            parse_file_name("  report.pdf ").as_deref(),
            Ok("report.pdf")
        );
        assert_eq!(
            parse_file_name("été 2025.png").as_deref(),
            Ok("été 2025.png")
        );
        for bad in [
            "",
            "   ",
            "../x",
            "a/b",
            "a\\b",
            "..",
            "a\nb",
            "invoice\u{202E}txt.exe",
            "\u{200B}",
            &"x".repeat(256),
        ] {
            assert_eq!(
                parse_file_name(bad).map_err(|e| e.field),
                Err("file_name"),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn content_types_are_reduced_to_their_lowercase_essence() {
        assert_eq!(
            parse_content_type("Image/PNG; charset=binary").as_deref(),
            Ok("image/png")
        );
        for bad in ["", "image", "/png", "image/", "image/png/x", "ima ge/png"] {
            assert!(parse_content_type(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_policy_allows_listed_types_and_sizes_up_to_its_limit() {
        let policy = UploadPolicy::new(10, vec!["image/png".into()]);
        assert_eq!(policy.allowed_type("image/PNG").as_deref(), Ok("image/png"));
        assert!(policy.allowed_type("text/html").is_err());
        assert_eq!(policy.fits(10), Ok(()));
        assert_eq!(policy.fits(11), Err(SizeRefusal::TooLarge(10)));
        assert_eq!(policy.fits(0), Err(SizeRefusal::Empty));
    }

    #[test]
    fn the_default_policy_allows_no_type_a_browser_would_run() {
        let policy = UploadPolicy::default();
        for risky in [
            "text/html",
            "image/svg+xml",
            "application/javascript",
            "text/xml",
        ] {
            assert!(policy.allowed_type(risky).is_err(), "{risky} allowed");
        }
    }
}
