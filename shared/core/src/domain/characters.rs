//! The character rules every shown text obeys (message content, titles, display names,
//! file names, a token's `sub`): no characters that terminals and logs act on, none that
//! reorder what people see, and nothing that looks empty or like something else. One
//! function, so the moderator and every parser refuse exactly the same.

use super::ValidationError;

/// Where a text is shown, which decides the characters it may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextShape {
    /// Message content and session titles: line breaks (`\n`, or `\r\n`) and tabs allowed.
    Multiline,
    /// Display names and file names: one line, no control character at all.
    SingleLine,
    /// Identifiers (a token's `sub`): one line, and no invisible character anywhere, so two
    /// ids never look the same.
    Identifier,
}

/// The rule a text breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CharacterProblem {
    /// C0 controls (but the line breaks and tabs its shape allows), DEL and C1 controls:
    /// terminals and logs act on them (an ANSI escape starts with ESC).
    Control,
    /// Bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069),
    /// which reorder how the text around them is shown ("Trojan Source"). The marks
    /// U+200E, U+200F and U+061C are allowed: right-to-left writing needs them, and they
    /// reorder nothing on their own.
    Bidi,
    /// Nothing but invisible characters (zero-width spaces and joiners, word joiner, byte
    /// order mark, fillers...) and whitespace: a text that looks empty.
    OnlyInvisible,
    /// An invisible character in an identifier.
    Invisible,
}

impl CharacterProblem {
    /// What the text contains, for a refusal's message (never the text itself).
    pub fn description(&self) -> &'static str {
        match self {
            Self::Control => "control characters",
            Self::Bidi => "bidirectional override or isolate characters",
            Self::OnlyInvisible => "only invisible characters",
            Self::Invisible => "invisible characters",
        }
    }
}

/// The first rule `text` breaks, shown as `shape`; `None` when it breaks none.
pub fn character_problem(text: &str, shape: TextShape) -> Option<CharacterProblem> {
    let mut chars = text.chars().peekable();
    let mut visible = false;
    let mut invisible = false;
    while let Some(c) = chars.next() {
        if c.is_control() {
            let line_break = match c {
                '\n' | '\t' => true,
                '\r' => chars.peek() == Some(&'\n'),
                _ => false,
            };
            if !(shape == TextShape::Multiline && line_break) {
                return Some(CharacterProblem::Control);
            }
        } else if is_bidi_control(c) {
            return Some(CharacterProblem::Bidi);
        } else if is_invisible(c) {
            if shape == TextShape::Identifier {
                return Some(CharacterProblem::Invisible);
            }
            invisible = true;
        } else if !c.is_whitespace() {
            visible = true;
        }
    }
    (invisible && !visible).then_some(CharacterProblem::OnlyInvisible)
}

/// [`character_problem`] as a refusal of `field`.
pub fn check_characters(
    field: &'static str,
    text: &str,
    shape: TextShape,
) -> Result<(), ValidationError> {
    match character_problem(text, shape) {
        None => Ok(()),
        Some(CharacterProblem::OnlyInvisible) => Err(ValidationError::new(
            field,
            "must not be only invisible characters",
        )),
        Some(problem) => Err(ValidationError::new(
            field,
            format!("must not contain {}", problem.description()),
        )),
    }
}

/// Text with every character that breaks the rules of `Multiline` removed (a bidi control,
/// a control other than a line break or tab), and emptied when nothing visible is left:
/// for text we pass on but did not write, a model's reply.
pub fn strip_unsafe_characters(text: &str) -> String {
    let mut chars = text.chars().peekable();
    let mut kept = String::with_capacity(text.len());
    while let Some(c) = chars.next() {
        let allowed = match c {
            '\n' | '\t' => true,
            '\r' => chars.peek() == Some(&'\n'),
            c => !c.is_control() && !is_bidi_control(c),
        };
        if allowed {
            kept.push(c);
        }
    }
    if character_problem(&kept, TextShape::Multiline).is_some() {
        kept.clear();
    }
    kept
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that draw nothing (and are not whitespace): format characters, fillers and
/// blanks that render empty.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' // soft hyphen
            | '\u{034F}' // combining grapheme joiner
            | '\u{061C}' // Arabic letter mark
            | '\u{115F}' | '\u{1160}' // Hangul fillers
            | '\u{17B4}' | '\u{17B5}' // Khmer inherent vowels
            | '\u{180B}'..='\u{180F}' // Mongolian variation selectors and vowel separator
            | '\u{200B}'..='\u{200F}' // zero-width space, non-joiner, joiner; LRM, RLM
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{206A}'..='\u{206F}' // deprecated format characters
            | '\u{2800}' // braille blank
            | '\u{3164}' | '\u{FFA0}' // Hangul fillers
            | '\u{FE00}'..='\u{FE0F}' // variation selectors
            | '\u{FEFF}' // zero-width no-break space, byte order mark
            | '\u{1D173}'..='\u{1D17A}' // musical formatting
            | '\u{E0000}'..='\u{E0FFF}' // tags, variation selectors supplement
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use CharacterProblem::*;
    use TextShape::*;

    #[test]
    fn clean_text_of_any_script_passes_every_shape() {
        for text in [
            "Pizza at noon?",
            "été 2025.png",
            "שלום עולם",
            "مرحبا\u{200F} 123",
            "👨\u{200D}👩\u{200D}👧 family",
            "❤️",
            "a\u{200B}b",
        ] {
            for shape in [Multiline, SingleLine] {
                assert_eq!(character_problem(text, shape), None, "{text:?} {shape:?}");
            }
        }
        assert_eq!(character_problem("auth0|abc-123", Identifier), None);
    }

    #[test]
    fn line_breaks_and_tabs_are_allowed_only_in_multiline_text() {
        for text in ["one\ntwo", "col\tcol", "windows\r\nline"] {
            assert_eq!(character_problem(text, Multiline), None, "{text:?}");
            assert_eq!(character_problem(text, SingleLine), Some(Control));
        }
        assert_eq!(character_problem("bare\rreturn", Multiline), Some(Control));
        assert_eq!(character_problem("end\r", Multiline), Some(Control));
    }

    #[test]
    fn c0_del_c1_and_ansi_escapes_are_control_characters() {
        for text in [
            "\u{0}",
            "bell\u{7}",
            "\u{1b}[31mred",
            "del\u{7f}",
            "c1\u{85}",
            "c1\u{9b}31m",
        ] {
            assert_eq!(
                character_problem(text, Multiline),
                Some(Control),
                "{text:?}"
            );
        }
    }

    #[test]
    fn bidi_overrides_and_isolates_are_refused_but_marks_are_not() {
        for c in ['\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}'] {
            assert_eq!(character_problem(&format!("a{c}b"), SingleLine), Some(Bidi));
        }
        for c in ['\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}'] {
            assert_eq!(character_problem(&format!("a{c}b"), Multiline), Some(Bidi));
        }
        for c in ['\u{200E}', '\u{200F}', '\u{061C}'] {
            assert_eq!(character_problem(&format!("a{c}b"), Multiline), None);
        }
    }

    #[test]
    fn text_that_is_only_invisible_is_refused() {
        for text in [
            "\u{200B}",
            "\u{200B} \u{200C}\u{200D}",
            "\u{2060}",
            "\u{FEFF}",
            "\u{3164}",
            "\u{2800}\u{2800}",
            "\u{E0041}",
        ] {
            assert_eq!(
                character_problem(text, Multiline),
                Some(OnlyInvisible),
                "{text:?}"
            );
            assert_eq!(character_problem(text, SingleLine), Some(OnlyInvisible));
        }
        // Plain blanks are the parsers' business (trimmed, then empty).
        assert_eq!(character_problem("   ", Multiline), None);
        assert_eq!(character_problem("", Multiline), None);
    }

    #[test]
    fn identifiers_refuse_any_invisible_character() {
        for id in ["ann\u{200B}", "\u{FEFF}ann", "a\u{200D}b", "ann\u{200E}"] {
            assert_eq!(character_problem(id, Identifier), Some(Invisible), "{id:?}");
        }
    }

    #[test]
    fn refusals_name_the_field_and_the_rule() {
        assert_eq!(
            check_characters("title", "a\u{202E}b", Multiline)
                .expect_err("refused")
                .to_string(),
            "title: must not contain bidirectional override or isolate characters"
        );
        assert_eq!(
            check_characters("name", "\u{200B}", SingleLine)
                .expect_err("refused")
                .to_string(),
            "name: must not be only invisible characters"
        );
        assert!(check_characters("file_name", "a.txt", SingleLine).is_ok());
    }

    #[test]
    fn stripping_keeps_what_is_safe_and_empties_what_is_invisible() {
        assert_eq!(
            strip_unsafe_characters("\u{1b}[31mred\u{202E} text\r\nnext\r"),
            "[31mred text\r\nnext"
        );
        assert_eq!(strip_unsafe_characters("\u{200B}\u{200D}"), "");
        assert_eq!(strip_unsafe_characters("fine\ttext"), "fine\ttext");
    }
}
