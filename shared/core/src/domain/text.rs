//! User-written text, parsed at the boundary.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use unicode_segmentation::UnicodeSegmentation;

use super::{TextShape, ValidationError, check_characters};

/// A message body: 1..=4,000 characters once surrounding whitespace is trimmed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Content(String);

impl Content {
    pub const MAX_CHARS: usize = 4_000;

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(ValidationError::new("content", "must not be empty"));
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(ValidationError::new(
                "content",
                format!("must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }
}

/// A session title: at most 200 characters once trimmed; empty means untitled.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Title(String);

impl Title {
    pub const MAX_CHARS: usize = 200;

    /// `None` for a blank title, which the session shows as untitled.
    pub fn parse(value: &str) -> Result<Option<Self>, ValidationError> {
        Ok(bounded("title", value, Self::MAX_CHARS, TextShape::Multiline)?.map(Self))
    }
}

/// A display name from the token: at most 100 characters on one line, within the
/// character rules.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(value: &str) -> Result<Option<Self>, ValidationError> {
        Ok(bounded("name", value, Self::MAX_CHARS, TextShape::SingleLine)?.map(Self))
    }
}

/// One emoji, as one grapheme cluster (so skin tones, flags and ZWJ families count as one).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reaction(String);

impl Reaction {
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let invalid = || ValidationError::new("reaction", "must be exactly one emoji");
        let mut graphemes = value.graphemes(true);
        let (Some(grapheme), None) = (graphemes.next(), graphemes.next()) else {
            return Err(invalid());
        };
        // Digits, '#' and '*' are emoji only as keycaps, which are never plain ASCII.
        if grapheme.is_ascii() {
            return Err(invalid());
        }
        // Keyboards often leave out the emoji-presentation selector (U+FE0F), as in "❤".
        let with_selector = format!("{grapheme}\u{FE0F}");
        if emojis::get(grapheme).is_some() || emojis::get(&with_selector).is_some() {
            Ok(Self(grapheme.to_owned()))
        } else {
            Err(invalid())
        }
    }
}

/// Trimmed `value` of at most `max` characters, checked as `shape`; `None` when blank.
fn bounded(
    field: &'static str,
    value: &str,
    max: usize,
    shape: TextShape,
) -> Result<Option<String>, ValidationError> {
    let trimmed = value.trim();
    check_characters(field, trimmed, shape)?;
    if trimmed.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
}

/// Trimmed `value`, when it is 1..=`max` characters each `allowed`; else `reason`.
fn named(
    field: &'static str,
    value: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
    reason: &'static str,
) -> Result<String, ValidationError> {
    let name = value.trim();
    if !name.is_empty() && name.chars().count() <= max && name.chars().all(allowed) {
        Ok(name.to_owned())
    } else {
        Err(ValidationError::new(field, reason))
    }
}

/// A chatbot's instructions to its model: 1..=8,000 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemPrompt(String);

impl SystemPrompt {
    pub const MAX_CHARS: usize = 8_000;

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        bounded(
            "system_prompt",
            value,
            Self::MAX_CHARS,
            TextShape::Multiline,
        )?
        .map(Self)
        .ok_or_else(|| ValidationError::new("system_prompt", "must not be empty"))
    }
}

/// What a chatbot says first in a new session: 1..=1,000 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Greeting(String);

impl Greeting {
    pub const MAX_CHARS: usize = 1_000;

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        bounded("greeting", value, Self::MAX_CHARS, TextShape::Multiline)?
            .map(Self)
            .ok_or_else(|| ValidationError::new("greeting", "must not be empty"))
    }
}

/// A model's id as its provider names it (`gpt-4o-mini`, `anthropic.claude-3-haiku-…`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModelName(String);

impl ModelName {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        named(
            "model",
            value,
            Self::MAX_CHARS,
            |c| c.is_ascii_alphanumeric() || "-_.:/@+".contains(c),
            "must be a model id: letters, digits and - _ . : / @ +",
        )
        .map(Self)
    }
}

/// The language a reply is asked in, as the client names it: a code (`hi`, `pt-BR`) or a
/// name (`Hindi`), passed to the model as given.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Language(String);

impl Language {
    pub const MAX_CHARS: usize = 40;

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        check_characters("language", value.trim(), TextShape::SingleLine)?;
        // Names in their own script carry combining marks (हिन्दी), which are not
        // alphanumeric; ASCII punctuation, which prose needs, is what is kept out.
        named(
            "language",
            value,
            Self::MAX_CHARS,
            |c| {
                c.is_alphanumeric()
                    || "-_ ".contains(c)
                    || (!c.is_ascii() && !c.is_whitespace() && !c.is_control())
            },
            "must be a language code or name (letters, digits, - _ and spaces, at most 40)",
        )
        .map(Self)
    }
}

/// The caller's time zone: an IANA name (`Asia/Kolkata`), `UTC`, or an offset (`+05:30`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TimeZoneName(String);

impl TimeZoneName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        named(
            "timezone",
            value,
            Self::MAX_CHARS,
            |c| c.is_ascii_alphanumeric() || "/_-+:".contains(c),
            "must be a time zone name such as Europe/Paris, UTC, or an offset such as +05:30",
        )
        .map(Self)
    }

    /// The offset from UTC in minutes when the name is `UTC`/`GMT` or an offset
    /// (`+05:30`, `-0800`, `UTC+2`); `None` for a region name, which the model converts.
    pub fn fixed_offset_minutes(&self) -> Option<i32> {
        let upper = self.0.to_ascii_uppercase();
        let rest = upper
            .strip_prefix("UTC")
            .or_else(|| upper.strip_prefix("GMT"))
            .unwrap_or(&upper);
        if rest.is_empty() {
            return Some(0);
        }
        let (sign, digits) = match rest.as_bytes()[0] {
            b'+' => (1, &rest[1..]),
            b'-' => (-1, &rest[1..]),
            _ => return None,
        };
        let digits: String = digits.chars().filter(|c| *c != ':').collect();
        if digits.is_empty() || digits.len() > 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let (hours, minutes) = if digits.len() <= 2 {
            (digits.parse::<i32>().ok()?, 0)
        } else {
            let split = digits.len() - 2;
            (
                digits[..split].parse::<i32>().ok()?,
                digits[split..].parse::<i32>().ok()?,
            )
        };
        (hours <= 14 && minutes < 60).then_some(sign * (hours * 60 + minutes))
    }
}

macro_rules! string_newtype_impls {
    ($($name:ident),*) => {$(
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }
    )*};
}
string_newtype_impls!(
    Content,
    Title,
    DisplayName,
    Reaction,
    SystemPrompt,
    Greeting,
    ModelName,
    Language,
    TimeZoneName
);

/// Deserializes through `parse`, so stored or received values obey the same rules.
macro_rules! deserialize_via_parse {
    ($($name:ident => |$value:ident| $parse:expr),* $(,)?) => {$(
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let $value = String::deserialize(deserializer)?;
                $parse.map_err(serde::de::Error::custom)
            }
        }
    )*};
}
deserialize_via_parse!(
    Content => |v| Self::parse(&v),
    Reaction => |v| Self::parse(&v),
    SystemPrompt => |v| Self::parse(&v),
    Greeting => |v| Self::parse(&v),
    ModelName => |v| Self::parse(&v),
    Language => |v| Self::parse(&v),
    TimeZoneName => |v| Self::parse(&v),
    Title => |v| Self::parse(&v)
        .and_then(|t| t.ok_or_else(|| ValidationError::new("title", "must not be blank"))),
    DisplayName => |v| Self::parse(&v)
        .and_then(|n| n.ok_or_else(|| ValidationError::new("name", "must not be blank"))),
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_trimmed_and_bounded_in_characters_not_bytes() {
        assert_eq!(Content::parse("  hi \n").map(|c| c.0), Ok("hi".to_owned()));
        assert!(Content::parse("   ").is_err());
        assert!(Content::parse("").is_err());
        assert!(Content::parse(&"é".repeat(4_000)).is_ok());
        assert!(Content::parse(&"é".repeat(4_001)).is_err());
        assert!(Content::parse(&format!("  {}  ", "a".repeat(4_000))).is_ok());
    }

    #[test]
    fn titles_are_bounded_and_blank_means_untitled() {
        assert_eq!(Title::parse("  "), Ok(None));
        assert_eq!(
            Title::parse(" Support ").map(|t| t.map(|t| t.0)),
            Ok(Some("Support".into()))
        );
        assert!(Title::parse(&"t".repeat(200)).is_ok());
        assert!(Title::parse(&"t".repeat(201)).is_err());
    }

    #[test]
    fn titles_keep_to_the_character_rules() {
        assert!(Title::parse("Line one\nline two").is_ok());
        for bad in ["Pay\u{202E}txt.exe", "\u{200B}", "\u{1b}[2J", "a\u{2066}b"] {
            assert_eq!(
                Title::parse(bad).expect_err("refused").field,
                "title",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_reaction_is_exactly_one_emoji_grapheme() {
        for good in ["👍", "❤️", "❤", "👍🏽", "🇫🇷", "👨‍👩‍👧", "#️⃣"]
        {
            assert!(Reaction::parse(good).is_ok(), "{good} should be accepted");
        }
        for bad in ["", "a", "👍👍", "ok", " 👍", "1", "\u{FE0F}"] {
            assert!(Reaction::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn display_names_keep_to_the_character_rules() {
        assert!(DisplayName::parse("Ada\u{0}").is_err());
        assert_eq!(DisplayName::parse(""), Ok(None));
        for bad in ["Ada\nLovelace", "Ada\u{202E}", "\u{200B}\u{200B}"] {
            assert_eq!(
                DisplayName::parse(bad).expect_err("refused").field,
                "name",
                "{bad:?}"
            );
        }
        assert!(DisplayName::parse("Noor \u{200F}").is_ok());
    }
}
