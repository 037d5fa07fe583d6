//! What a client-facing error message must never show: Rust's debug output, type paths,
//! panics, source locations.

/// Signs of Rust internals; any one in a message is a finding.
const INTERNALS: &[&str] = &[
    "::",
    "Some(",
    "None",
    "Ok(",
    "Err(",
    "Error {",
    "Error(",
    "panicked",
    ".rs:",
    "struct ",
    "enum ",
    "Option<",
    "Vec<",
    "String",
    "alloc",
    "RUST_BACKTRACE",
];

/// The first sign of internals in `message`, outside what it quotes: a message may echo a
/// client's own input in `"..."` or `` `...` `` (a name, an unknown variant), and that
/// input may contain anything.
pub fn internals(message: &str) -> Option<&'static str> {
    let own_words = unquoted(message);
    INTERNALS
        .iter()
        .copied()
        .find(|sign| own_words.contains(sign))
}

/// `message` with its quoted spans (backslash escapes honoured) cut out.
fn unquoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in message.chars() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(open) if c == open => quote = None,
            Some(_) => {}
            None if c == '"' || c == '`' => quote = Some(c),
            None => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::internals;

    #[test]
    fn quoted_input_is_the_clients_and_the_rest_is_checked() {
        assert_eq!(internals(r#"unknown action "Some(x::y)""#), None);
        assert_eq!(
            internals("unknown variant `a::b`, expected one of `x`"),
            None
        );
        assert_eq!(internals(r#"unknown action "a\"::""#), None);
        assert_eq!(internals("content: Some(\"x\")"), Some("Some("));
        assert_eq!(internals("chat_core::domain failed"), Some("::"));
    }
}
