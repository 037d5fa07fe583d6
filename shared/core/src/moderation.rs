//! Moderation of message content: the one place every message text passes through (REST
//! and WebSocket sends, edits, the bot's replies), so every transport and dialect is
//! moderated alike. Pure: no I/O, no state across messages.
//!
//! A person's message is refused when it carries malicious characters or script links, or
//! looks like spam, and has its profanity masked (each character of it replaced with `*`).
//! Text a model wrote is never refused: its unsafe characters are removed and its
//! profanity and script links masked.

use std::collections::HashSet;
use std::ops::Range;

use rustrict::{Censor, Type};

use crate::domain::{
    CharacterProblem, TextShape, Timestamp, character_problem, strip_unsafe_characters,
};

/// What happens to a message with profanity in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProfanityPolicy {
    /// Stored and shown with each character of the profanity replaced with `*`, marked
    /// `moderated`.
    #[default]
    Mask,
    /// Refused.
    Refuse,
    /// Left as written.
    Off,
}

/// What happens to a message that looks like spam.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SpamPolicy {
    #[default]
    Refuse,
    Off,
}

/// A deployment's moderation, as configured (`MODERATION_*`, see [`crate::config`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModerationSettings {
    pub profanity: ProfanityPolicy,
    pub spam: SpamPolicy,
    /// Words that always count as profanity, lowercase.
    pub deny_words: Vec<String>,
    /// Words that never do, lowercase.
    pub allow_words: Vec<String>,
    /// Spam: more links than this.
    pub max_links: usize,
    /// Spam: more `@name` mentions than this.
    pub max_mentions: usize,
    /// Spam: more of one character in a row than this (any whitespace counts as one).
    pub max_run: usize,
    /// Spam: the same text from one user more than this many times in a row (within
    /// [`Repetition::WINDOW`]); 0 allows any.
    pub max_repeats: u32,
}

impl ModerationSettings {
    pub const DEFAULT_MAX_LINKS: usize = 5;
    pub const DEFAULT_MAX_MENTIONS: usize = 10;
    pub const DEFAULT_MAX_RUN: usize = 30;
    pub const DEFAULT_MAX_REPEATS: u32 = 2;
    /// A smaller limit would refuse ordinary words and ellipses.
    pub const MIN_RUN: usize = 3;
}

impl Default for ModerationSettings {
    fn default() -> Self {
        Self {
            profanity: ProfanityPolicy::default(),
            spam: SpamPolicy::default(),
            deny_words: Vec::new(),
            allow_words: Vec::new(),
            max_links: Self::DEFAULT_MAX_LINKS,
            max_mentions: Self::DEFAULT_MAX_MENTIONS,
            max_run: Self::DEFAULT_MAX_RUN,
            max_repeats: Self::DEFAULT_MAX_REPEATS,
        }
    }
}

/// Why a message was refused: the rule it broke, never its text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the message contains {}", .0.description())]
    Characters(CharacterProblem),
    /// The scheme, as `javascript:`.
    #[error("the message contains a {0} link")]
    ScriptLink(&'static str),
    #[error("the message contains more than {0} links")]
    Links(usize),
    #[error("the message contains more than {0} mentions")]
    Mentions(usize),
    #[error("the message repeats one character more than {0} times in a row")]
    Run(usize),
    #[error("the message contains profanity")]
    Profanity,
    #[error("the message is the same as your last {0}")]
    Repeated(u32),
}

/// What a user sent last, kept with their send bucket: a fingerprint of the text (never
/// the text), how many times in a row it came, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repetition {
    pub fingerprint: u64,
    pub times: u32,
    pub at: Timestamp,
}

impl Repetition {
    /// A text sent again after this long starts a new count.
    pub const WINDOW: std::time::Duration = std::time::Duration::from_secs(10 * 60);

    /// The text's fingerprint: the same for texts that differ only in case and spacing.
    pub fn fingerprint(text: &str) -> u64 {
        use std::hash::{Hash, Hasher};
        let normal: String = text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        // SipHash with fixed keys: the same on every instance (a fingerprint, not a secret).
        let mut hasher = std::hash::DefaultHasher::new();
        normal.hash(&mut hasher);
        hasher.finish()
    }
}

/// A text that passed: as it is to be stored, and whether moderation changed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reviewed {
    pub text: String,
    pub masked: bool,
}

impl Reviewed {
    fn new(original: &str, text: String) -> Self {
        Self {
            masked: text != original,
            text,
        }
    }
}

/// Reviews message texts against a deployment's settings; built once from the
/// configuration.
#[derive(Clone, Debug)]
pub struct Moderator {
    settings: ModerationSettings,
    deny: HashSet<String>,
    allow: HashSet<String>,
}

impl Default for Moderator {
    fn default() -> Self {
        Self::new(ModerationSettings::default())
    }
}

/// The filter's categories that count as profanity: its own default threshold (profane,
/// offensive, sexual or mean, beyond mild).
const PROFANITY: Type = Type::INAPPROPRIATE;

/// Link schemes that run code or carry a whole document when a client follows them.
const SCRIPT_SCHEMES: [(&str, &str); 3] = [
    ("javascript", "javascript:"),
    ("vbscript", "vbscript:"),
    ("data", "data:"),
];

impl Moderator {
    pub fn new(settings: ModerationSettings) -> Self {
        let lowercase = |words: &[String]| words.iter().map(|w| w.to_lowercase()).collect();
        Self {
            deny: lowercase(&settings.deny_words),
            allow: lowercase(&settings.allow_words),
            settings,
        }
    }

    /// A person's message: refused with the rule it broke, or passed as it is to be stored
    /// (masked when the profanity policy masks). Malicious content is checked first, then
    /// spam, then profanity.
    pub fn review(&self, text: &str) -> Result<Reviewed, Refusal> {
        if let Some(problem) = character_problem(text, TextShape::Multiline) {
            return Err(Refusal::Characters(problem));
        }
        if let Some(link) = script_links(text).first() {
            return Err(Refusal::ScriptLink(link.scheme));
        }
        if self.settings.spam == SpamPolicy::Refuse {
            self.check_spam(text)?;
        }
        let reviewed = match self.settings.profanity {
            ProfanityPolicy::Off => Reviewed::new(text, text.to_owned()),
            ProfanityPolicy::Mask | ProfanityPolicy::Refuse => {
                Reviewed::new(text, self.mask_profanity(text))
            }
        };
        if reviewed.masked && self.settings.profanity == ProfanityPolicy::Refuse {
            return Err(Refusal::Profanity);
        }
        Ok(reviewed)
    }

    /// Text a model wrote, which nobody can be asked to rewrite: never refused. Unsafe
    /// characters are removed (a reply of nothing visible becomes empty), script links
    /// masked, and profanity masked unless the policy is off (`refuse` masks too). Spam
    /// rules are for people flooding a chat; a reply's length is bounded by its tokens.
    /// The user's repetition after sending `text` at `now` after `last`, or the refusal
    /// of one text too many in a row (spam, unless the spam policy is off).
    pub fn repeat(
        &self,
        text: &str,
        last: Option<Repetition>,
        now: Timestamp,
    ) -> Result<Repetition, Refusal> {
        let fingerprint = Repetition::fingerprint(text);
        let times = match last {
            Some(last)
                if last.fingerprint == fingerprint && now < last.at.plus(Repetition::WINDOW) =>
            {
                last.times.saturating_add(1)
            }
            _ => 1,
        };
        let max = self.settings.max_repeats;
        if self.settings.spam == SpamPolicy::Refuse && max > 0 && times > max {
            return Err(Refusal::Repeated(max));
        }
        Ok(Repetition {
            fingerprint,
            times,
            at: now,
        })
    }

    pub fn review_bot(&self, text: &str) -> Reviewed {
        let stripped = strip_unsafe_characters(text);
        let mut chars: Vec<char> = match self.settings.profanity {
            ProfanityPolicy::Off => stripped.chars().collect(),
            ProfanityPolicy::Mask | ProfanityPolicy::Refuse => {
                self.mask_profanity(&stripped).chars().collect()
            }
        };
        // After the profanity, which the filter would misread next to masks; masking
        // keeps every character's place, so the links found before still line up.
        for link in script_links(&stripped) {
            mask(&mut chars, link.chars);
        }
        Reviewed::new(text, chars.into_iter().collect())
    }

    fn check_spam(&self, text: &str) -> Result<(), Refusal> {
        let limits = &self.settings;
        if count_links(text) > limits.max_links {
            return Err(Refusal::Links(limits.max_links));
        }
        if count_mentions(text) > limits.max_mentions {
            return Err(Refusal::Mentions(limits.max_mentions));
        }
        if longest_run(text) > limits.max_run {
            return Err(Refusal::Run(limits.max_run));
        }
        Ok(())
    }

    /// `text` with every character of its profanity replaced with `*` (whitespace kept).
    ///
    /// The filter normalises what it reads (accents, look-alike letters, spacing), so its
    /// own censored output is not the text with masks: only where it lines up character
    /// for character are its masks copied onto the original, which is otherwise left
    /// exactly as written. Allowed words and numbers are blanked before the filter reads
    /// the text, so neither they nor a phrase they would complete count (the filter reads
    /// digits as letters, which would mask phone and order numbers and times); denied
    /// words are masked after.
    fn mask_profanity(&self, text: &str) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        let words = words(&chars);
        let lowered: Vec<String> = words
            .iter()
            .map(|word| {
                chars[word.clone()]
                    .iter()
                    .collect::<String>()
                    .to_lowercase()
            })
            .collect();
        let mut probe = chars.clone();
        for (word, lower) in words.iter().zip(&lowered) {
            if is_number_like(lower) || self.allow.contains(lower) {
                probe[word.clone()].fill(' ');
            }
        }
        let probe_text: String = probe.iter().collect();
        let (censored, analysis) = Censor::from_str(&probe_text)
            .with_censor_threshold(PROFANITY)
            .with_censor_first_character_threshold(PROFANITY)
            .censor_and_analyze();
        if analysis.is(PROFANITY) {
            let censored: Vec<char> = censored.chars().collect();
            if censored.len() == chars.len() {
                for (i, c) in censored.into_iter().enumerate() {
                    if c == '*' && !probe[i].is_whitespace() {
                        chars[i] = '*';
                    }
                }
            } else {
                // The filter dropped characters it ignores (combining accents, private
                // use), so positions no longer line up: judge each word on its own.
                for word in &words {
                    let candidate: String = probe[word.clone()].iter().collect();
                    if Censor::from_str(&candidate).analyze().is(PROFANITY) {
                        mask(&mut chars, word.clone());
                    }
                }
            }
        }
        for (word, lower) in words.iter().zip(&lowered) {
            if self.deny.contains(lower) {
                mask(&mut chars, word.clone());
            }
        }
        chars.into_iter().collect()
    }
}

/// Replaces the characters at `range` (whitespace kept) with `*`.
fn mask(chars: &mut [char], range: Range<usize>) {
    for c in &mut chars[range] {
        if !c.is_whitespace() {
            *c = '*';
        }
    }
}

/// The words of `chars` (maximal runs of letters and digits), as character ranges.
/// A word that is a number rather than a word spelled with digits: more digits than
/// letters (`12345`, `03T14`, `308Z`, `A1234`), where `sh1t` has one digit among letters.
fn is_number_like(word: &str) -> bool {
    let digits = word.chars().filter(char::is_ascii_digit).count();
    digits * 2 > word.chars().count()
}

fn words(chars: &[char]) -> Vec<Range<usize>> {
    let mut words = Vec::new();
    let mut start = None;
    for (i, c) in chars.iter().enumerate() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                words.push(s..i);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        words.push(s..chars.len());
    }
    words
}

/// A script link found: its scheme, and the characters from the scheme to its colon.
struct ScriptLink {
    scheme: &'static str,
    chars: Range<usize>,
}

/// The script links in `text`, as a browser would read them: character references
/// decoded (`&#106;avascript:`, `javascript&colon;`), tabs and line breaks inside dropped
/// (`java\tscript:`), ASCII case ignored, the scheme starting a word. A `data:` link
/// starts a media type, `,` or `;`; a `javascript:` or `vbscript:` one is followed by
/// something other than whitespace, so prose like "JavaScript: the good parts" passes.
fn script_links(text: &str) -> Vec<ScriptLink> {
    let seen = browser_view(text);
    let mut found = Vec::new();
    for start in 0..seen.len() {
        let starts_word = start == 0 || !is_scheme_char(seen[start - 1].0);
        if !starts_word {
            continue;
        }
        for (name, scheme) in SCRIPT_SCHEMES {
            let colon = start + name.len();
            let spelled = seen.get(start..colon).is_some_and(|letters| {
                letters
                    .iter()
                    .zip(name.chars())
                    .all(|((c, _), n)| c.eq_ignore_ascii_case(&n))
            });
            if !spelled || seen.get(colon).map(|(c, _)| *c) != Some(':') {
                continue;
            }
            let rest = &seen[colon + 1..];
            let payload = if name == "data" {
                data_payload(rest)
            } else {
                rest.first().is_some_and(|(c, _)| !c.is_whitespace())
            };
            if payload {
                let from = seen[start].1.start;
                found.push(ScriptLink {
                    scheme,
                    chars: from..seen[colon].1.end,
                });
            }
        }
    }
    found
}

/// Whether what follows `data:` is a data URL's: a media type (`text/html`), or `,` or
/// `;` directly.
fn data_payload(rest: &[(char, Range<usize>)]) -> bool {
    match rest.first() {
        Some((',' | ';', _)) => true,
        _ => {
            let kind = rest
                .iter()
                .take_while(|(c, _)| c.is_ascii_alphabetic())
                .count();
            kind > 0
                && rest.get(kind).map(|(c, _)| *c) == Some('/')
                && rest
                    .get(kind + 1)
                    .is_some_and(|(c, _)| c.is_ascii_alphanumeric())
        }
    }
}

fn is_scheme_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')
}

/// The characters a browser would read from `text` as a URL in HTML: character references
/// decoded, ASCII tabs and line breaks dropped; each with the range of `text`'s characters
/// it came from.
fn browser_view(text: &str) -> Vec<(char, Range<usize>)> {
    let chars: Vec<char> = text.chars().collect();
    let mut seen = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let (c, len) = match chars[i] {
            '&' => character_reference(&chars[i..]).unwrap_or(('&', 1)),
            c => (c, 1),
        };
        if !matches!(c, '\t' | '\n' | '\r') {
            seen.push((c, i..i + len));
        }
        i += len;
    }
    seen
}

/// The character an HTML character reference at the start of `chars` stands for, and its
/// length: numeric (`&#106;`, `&#x6A;`, the `;` optional as browsers allow) or one of the
/// named ones that spell a scheme's separators (`&colon;`, `&Tab;`, `&NewLine;`).
fn character_reference(chars: &[char]) -> Option<(char, usize)> {
    let text: String = chars
        .iter()
        .take(12)
        .collect::<String>()
        .to_ascii_lowercase();
    for (name, c) in [("&colon;", ':'), ("&tab;", '\t'), ("&newline;", '\n')] {
        if text.starts_with(name) {
            return Some((c, name.len()));
        }
    }
    let (radix, digits_at) = match chars.get(1..3) {
        Some(['#', 'x' | 'X']) => (16, 3),
        Some(['#', _]) => (10, 2),
        _ => return None,
    };
    let digits = chars[digits_at..]
        .iter()
        .take_while(|c| c.is_digit(radix))
        .count();
    if digits == 0 {
        return None;
    }
    // Browsers take any number of leading zeros (`&#0000106;`).
    let number: String = chars[digits_at..digits_at + digits].iter().collect();
    let significant = number.trim_start_matches('0');
    let value = match significant {
        "" => 0,
        _ if significant.len() > 8 => return None,
        _ => u32::from_str_radix(significant, radix).ok()?,
    };
    let c = char::from_u32(value)?;
    let end = digits_at + digits;
    let with_semicolon = chars.get(end) == Some(&';');
    Some((c, end + usize::from(with_semicolon)))
}

/// Links: each `scheme://` and each `www.` that starts a word outside one.
fn count_links(text: &str) -> usize {
    let lower = text.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let schemes = lower
        .match_indices("://")
        .filter(|(at, _)| *at > 0 && bytes[at - 1].is_ascii_alphabetic())
        .count();
    let bare = lower
        .match_indices("www.")
        .filter(|(at, _)| {
            *at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'/')
        })
        .count();
    schemes + bare
}

/// Mentions: each `@` that starts a word and is followed by a name (so e-mail addresses
/// are not mentions).
fn count_mentions(text: &str) -> usize {
    let chars: Vec<char> = text.chars().collect();
    (0..chars.len())
        .filter(|&i| {
            chars[i] == '@'
                && (i == 0
                    || !(chars[i - 1].is_alphanumeric() || matches!(chars[i - 1], '.' | '_')))
                && chars
                    .get(i + 1)
                    .is_some_and(|c| c.is_alphanumeric() || *c == '_')
        })
        .count()
}

/// The longest run of one character; whitespace of any kind counts as one character.
fn longest_run(text: &str) -> usize {
    let mut longest = 0;
    let mut run = 0;
    let mut last = None;
    for c in text.chars() {
        let key = if c.is_whitespace() { ' ' } else { c };
        run = if last == Some(key) { run + 1 } else { 1 };
        last = Some(key);
        longest = longest.max(run);
    }
    longest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_text_a_third_time_in_a_row_is_spam_and_another_text_starts_again() {
        let moderator = Moderator::default();
        let now = Timestamp::from_unix_millis(1_000_000);
        let first = moderator.repeat("Buy now", None, now).expect("once");
        let second = moderator
            .repeat("buy   NOW", Some(first), now)
            .expect("twice, the same text");
        assert_eq!(second.times, 2);
        assert_eq!(
            moderator.repeat("Buy now", Some(second), now),
            Err(Refusal::Repeated(2))
        );
        let other = moderator
            .repeat("something else", Some(second), now)
            .expect("new");
        assert_eq!(other.times, 1);
        let later = now.plus(Repetition::WINDOW);
        assert_eq!(
            moderator
                .repeat("Buy now", Some(second), later)
                .map(|r| r.times),
            Ok(1)
        );
        let lenient = Moderator::new(ModerationSettings {
            max_repeats: 0,
            ..ModerationSettings::default()
        });
        assert!(lenient.repeat("Buy now", Some(second), now).is_ok());
    }

    fn configured(adjust: impl FnOnce(&mut ModerationSettings)) -> Moderator {
        let mut settings = ModerationSettings::default();
        adjust(&mut settings);
        Moderator::new(settings)
    }

    fn passed(moderator: &Moderator, text: &str) -> Reviewed {
        moderator
            .review(text)
            .unwrap_or_else(|refusal| panic!("{text:?} refused: {refusal}"))
    }

    fn refusal(moderator: &Moderator, text: &str) -> String {
        match moderator.review(text) {
            Ok(reviewed) => panic!("{text:?} passed as {reviewed:?}"),
            Err(refusal) => refusal.to_string(),
        }
    }

    #[test]
    fn clean_text_passes_unchanged() {
        let moderator = Moderator::default();
        for text in [
            "Pizza at noon?",
            "été, naïve café",
            "e\u{301}te\u{301} ok",
            "Scunthorpe assassin cockpit classic",
            "JavaScript: the good parts",
            "the data: 42 rows",
            "metadata:x and mydata:text/html",
            "see https://example.com and www.example.org",
            "mail ann@example.com, cc @bob",
            "order 12345678901 shipped",
            "smoke test 2026-12-03T14:22:46.308Z",
            "ticket A1234 and 308Z, build 5f3e2",
            "wait.......... what",
            "שלום עולם",
            "line one\nline two\ttabbed\r\nthree",
            "👨\u{200D}👩\u{200D}👧",
        ] {
            assert_eq!(
                passed(&moderator, text),
                Reviewed {
                    text: text.to_owned(),
                    masked: false
                }
            );
        }
    }

    #[test]
    fn profanity_is_masked_character_for_character() {
        let moderator = Moderator::default();
        for (text, masked) in [
            ("hello crap", "hello ****"),
            ("you are a shit head", "you are a **** ****"),
            ("Fuck!", "****!"),
            ("été fuck", "été ****"),
            ("f u c k", "* * * *"),
            ("sh1t happens", "**** happens"),
            ("call 12345678901 now, crap", "call 12345678901 now, ****"),
        ] {
            assert_eq!(
                passed(&moderator, text),
                Reviewed {
                    text: masked.to_owned(),
                    masked: true
                },
                "{text:?}"
            );
        }
    }

    #[test]
    fn profanity_the_filter_cannot_line_up_is_masked_word_by_word() {
        // The decomposed accents are dropped by the filter, so its output is shorter.
        assert_eq!(
            passed(&Moderator::default(), "e\u{301}te\u{301} fuck").text,
            "e\u{301}te\u{301} ****"
        );
    }

    #[test]
    fn deny_words_always_count_and_allow_words_never_do() {
        let moderator = configured(|s| {
            s.deny_words = vec!["Brocolli".into()];
            s.allow_words = vec!["crap".into()];
        });
        assert_eq!(
            passed(&moderator, "BROCOLLI again, crap").text,
            "******** again, crap"
        );
        assert!(!passed(&moderator, "brocollis").masked);
        // Other profanity still counts.
        assert_eq!(passed(&moderator, "crap shit").text, "crap ****");
    }

    #[test]
    fn the_profanity_policy_masks_refuses_or_is_off() {
        let refuse = configured(|s| s.profanity = ProfanityPolicy::Refuse);
        assert_eq!(
            refusal(&refuse, "hello crap"),
            "the message contains profanity"
        );
        assert!(!passed(&refuse, "hello there").masked);
        let off = configured(|s| s.profanity = ProfanityPolicy::Off);
        assert_eq!(passed(&off, "hello crap").text, "hello crap");
        let off_deny = configured(|s| {
            s.profanity = ProfanityPolicy::Off;
            s.deny_words = vec!["brocolli".into()];
        });
        assert!(!passed(&off_deny, "brocolli").masked);
    }

    #[test]
    fn malicious_characters_are_refused_naming_the_rule() {
        let moderator = Moderator::default();
        for (text, rule) in [
            ("\u{1b}[31mred", "the message contains control characters"),
            ("bell\u{7}", "the message contains control characters"),
            ("c1\u{9b}", "the message contains control characters"),
            (
                "invoice\u{202E}txt.exe",
                "the message contains bidirectional override or isolate characters",
            ),
            (
                "a\u{2066}b",
                "the message contains bidirectional override or isolate characters",
            ),
            (
                "\u{200B}\u{200C}\u{2060}\u{FEFF}",
                "the message contains only invisible characters",
            ),
        ] {
            assert_eq!(refusal(&moderator, text), rule, "{text:?}");
        }
    }

    #[test]
    fn script_links_are_refused_however_they_are_spelled() {
        let moderator = Moderator::default();
        for (text, scheme) in [
            ("javascript:alert(1)", "javascript:"),
            ("click [here](JavaScript:alert(1))", "javascript:"),
            ("java\tscript:alert(1)", "javascript:"),
            ("java\nscript:\nalert(1)", "javascript:"),
            ("&#106;avascript:alert(1)", "javascript:"),
            ("&#x6A;avascript&#58;alert(1)", "javascript:"),
            ("&#0000106avascript:alert(1)", "javascript:"),
            ("javascript&colon;alert(1)", "javascript:"),
            ("java&Tab;script:alert(1)", "javascript:"),
            ("<a href=\"vbscript:msgbox\">", "vbscript:"),
            ("data:text/html;base64,PHNjcmlwdD4=", "data:"),
            ("DATA:,hello", "data:"),
            ("x data:image/png;base64,AAAA", "data:"),
        ] {
            assert_eq!(
                refusal(&moderator, text),
                format!("the message contains a {scheme} link"),
                "{text:?}"
            );
        }
    }

    #[test]
    fn malformed_character_references_are_read_as_text() {
        let moderator = Moderator::default();
        for text in [
            "&#;",
            "&#x;",
            "&#99999999999;",
            "&#xD800;",
            "& javascript",
            "&",
        ] {
            assert!(!passed(&moderator, text).masked, "{text:?}");
        }
    }

    #[test]
    fn no_input_makes_the_moderator_panic() {
        let pieces = [
            "&",
            "&#",
            "&#x",
            "&colon;",
            "javascript",
            ":",
            "data:",
            "e\u{301}",
            "crap",
            "\u{202E}",
            "\u{200B}",
            "\r",
            "@",
            "www.",
            "://",
            "9",
            "\u{E000}",
            " ",
        ];
        let moderator = Moderator::default();
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let text = format!("{a}{b}{c}");
                    let _ = moderator.review(&text);
                    let reviewed = moderator.review_bot(&text);
                    assert!(reviewed.text.chars().count() <= text.chars().count());
                }
            }
        }
    }

    #[test]
    fn spam_is_refused_past_each_limit() {
        let moderator = Moderator::default();
        let links = |n: usize| {
            (0..n)
                .map(|i| format!("https://example.com/{i}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert!(!passed(&moderator, &links(5)).masked);
        assert_eq!(
            refusal(&moderator, &links(6)),
            "the message contains more than 5 links"
        );
        assert_eq!(
            refusal(
                &moderator,
                "www.a.com www.b.com www.c.com www.d.com www.e.com http://www.f.com"
            ),
            "the message contains more than 5 links"
        );
        let mentions = |n: usize| {
            (0..n)
                .map(|i| format!("@user{i}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert!(!passed(&moderator, &mentions(10)).masked);
        assert_eq!(
            refusal(&moderator, &mentions(11)),
            "the message contains more than 10 mentions"
        );
        assert!(!passed(&moderator, &format!("wow{}", "!".repeat(30))).masked);
        assert_eq!(
            refusal(&moderator, &format!("wow{}", "!".repeat(31))),
            "the message repeats one character more than 30 times in a row"
        );
        assert_eq!(
            refusal(&moderator, &format!("a{}b", " \n".repeat(16))),
            "the message repeats one character more than 30 times in a row"
        );
    }

    #[test]
    fn spam_limits_are_the_deployments_and_spam_may_be_off() {
        let strict = configured(|s| {
            s.max_links = 0;
            s.max_mentions = 1;
            s.max_run = 3;
        });
        assert_eq!(
            refusal(&strict, "see http://x.example"),
            "the message contains more than 0 links"
        );
        assert_eq!(
            refusal(&strict, "@a @b"),
            "the message contains more than 1 mentions"
        );
        assert_eq!(
            refusal(&strict, "nooooo"),
            "the message repeats one character more than 3 times in a row"
        );
        let off = configured(|s| s.spam = SpamPolicy::Off);
        assert!(!passed(&off, &"a".repeat(100)).masked);
        // Malicious content is refused whatever the spam policy.
        assert!(off.review("javascript:alert(1)").is_err());
    }

    #[test]
    fn a_models_reply_is_cleaned_and_masked_never_refused() {
        let moderator = configured(|s| s.profanity = ProfanityPolicy::Refuse);
        assert_eq!(
            moderator.review_bot("\u{1b}[1mBold\u{202E} shit, try javascript:void(0)"),
            Reviewed {
                text: "[1mBold ****, try ***********void(0)".into(),
                masked: true
            }
        );
        assert_eq!(
            moderator.review_bot("\u{200B}"),
            Reviewed {
                text: String::new(),
                masked: true
            }
        );
        let links = "https://a.example ".repeat(20);
        assert!(!moderator.review_bot(&links).masked);
        let off = configured(|s| s.profanity = ProfanityPolicy::Off);
        assert_eq!(off.review_bot("crap").text, "crap");
    }
}
