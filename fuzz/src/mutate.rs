//! The mutator: a seed input changed at the JSON level (types, values, keys, nesting), then
//! written out with text-level changes a `serde_json::Value` cannot hold (duplicate keys,
//! lone surrogate escapes, out-of-range number literals), then sometimes broken at the
//! byte level. Everything is drawn from the caller's PRNG, so a seed reproduces an input.

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use serde_json::{Map, Value, json};

/// Stands for a raw JSON snippet in a string value until the value is written out: how a
/// `Value` carries text it cannot represent. Private-use, so no seed contains it.
const RAW_MARK: char = '\u{E000}';

/// Literals a `Value` cannot hold or that parsers commonly get wrong.
const RAW_SNIPPETS: &[&str] = &[
    r#""\ud800""#,
    r#""\udc00""#,
    r#""a\ud800b""#,
    r#""\udbff\udfff""#,
    r#""\u0000""#,
    r#""\uZZZZ""#,
    r#""\"#,
    "1e400",
    "-1e400",
    "-0",
    "00",
    "01",
    "1.",
    ".5",
    "-",
    "NaN",
    "Infinity",
    "0x10",
    "nul",
    "tru",
    "18446744073709551616",
    "-9223372036854775809",
    "123456789012345678901234567890",
];

/// Strings that make validators and renderers work: controls, bidi and zero-width marks,
/// combining characters, emoji sequences, HTML, format strings.
const ODD_STRINGS: &[&str] = &[
    "",
    " ",
    "\u{0}",
    "\u{7}\u{8}\u{1b}[31m",
    "\r\n\t",
    "\u{202e}evil\u{202c}",
    "\u{200b}\u{200d}\u{feff}",
    "e\u{301}\u{301}\u{301}\u{301}",
    "👍🏽",
    "👨‍👩‍👧‍👦",
    "❤️",
    "🏳️‍🌈",
    "<script>alert(1)</script>",
    "{}",
    "%s%n%x",
    "../../etc/passwd",
    "null",
    "01ARZ3NDEKTSV4RRFFQ69G5FAV",
    "https://evil.test/x?y=1",
    "ann",
    "user\u{0}id",
    "\u{10ffff}",
];

/// One mutated input: a seed changed by 1 to 4 JSON-level mutations, written out, then
/// changed at the text and byte level now and then. `keys` are field names worth adding,
/// `donors` the other seeds, for crossover and splices.
pub fn mutate(rng: &mut StdRng, seed: &Value, keys: &[&str], donors: &[Value]) -> Vec<u8> {
    let mut value = seed.clone();
    let rounds = rng.random_range(1..=4);
    for _ in 0..rounds {
        mutate_value(rng, &mut value, keys, donors);
    }
    let mut text = write(&value);
    if rng.random_bool(0.15) {
        duplicate_a_key(rng, &mut text, keys);
    }
    let mut bytes = text.into_bytes();
    if rng.random_bool(0.2) {
        mutate_bytes(rng, &mut bytes, donors);
    }
    bytes
}

fn mutate_value(rng: &mut StdRng, root: &mut Value, keys: &[&str], donors: &[Value]) {
    let node = pick_node(rng, root);
    match rng.random_range(0..12) {
        0 => *node = scalar(rng),
        1 => *node = swap_type(rng, node.take()),
        2 => *node = Value::Null,
        3 => *node = json!([node.take()]),
        4 => *node = nested(rng, node.take()),
        5 => {
            *node = Value::String(format!(
                "{RAW_MARK}{}",
                rng.random_range(0..RAW_SNIPPETS.len())
            ))
        }
        6 => {
            if let Some(donor) = donors.choose(rng) {
                *node = pick_node(rng, &mut donor.clone()).take();
            }
        }
        7 | 8 => match node {
            Value::Object(object) => add_key(rng, object, keys),
            other => *other = swap_type(rng, other.take()),
        },
        9 => remove_something(rng, node),
        10 => *node = Value::String(string(rng)),
        _ => *node = number(rng),
    }
}

/// A node anywhere in the tree, the root included; deeper nodes as likely as shallow.
fn pick_node<'a>(rng: &mut StdRng, value: &'a mut Value) -> &'a mut Value {
    let children = match value {
        Value::Array(items) => items.len(),
        Value::Object(fields) => fields.len(),
        _ => 0,
    };
    if children == 0 || rng.random_bool(0.3) {
        return value;
    }
    let index = rng.random_range(0..children);
    let descend = rng.random_bool(0.5);
    let child = match value {
        Value::Array(items) => &mut items[index],
        Value::Object(fields) => {
            // `index < children`, so the key exists and indexing cannot fail.
            let key = fields.keys().nth(index).cloned().unwrap_or_default();
            &mut fields[key.as_str()]
        }
        other => return other,
    };
    if descend {
        pick_node(rng, child)
    } else {
        child
    }
}

fn scalar(rng: &mut StdRng) -> Value {
    match rng.random_range(0..5) {
        0 => Value::Null,
        1 => Value::Bool(rng.random()),
        2 => number(rng),
        3 => Value::String(string(rng)),
        _ => json!({}),
    }
}

fn number(rng: &mut StdRng) -> Value {
    match rng.random_range(0..12) {
        0 => json!(0),
        1 => json!(-1),
        2 => json!(i64::MIN),
        3 => json!(i64::MAX),
        4 => json!(u64::MAX),
        5 => json!(1e30),
        6 => json!(-1e30),
        7 => json!(f64::MAX),
        8 => json!(1.5),
        9 => json!(-0.0),
        10 => json!(u32::MAX as u64 + 1),
        _ => json!(rng.random_range(-1000i64..100_000)),
    }
}

/// Short mostly, long sometimes (past the body and frame limits, and just under them).
fn string(rng: &mut StdRng) -> String {
    let unit = *ODD_STRINGS.choose(rng).unwrap_or(&"x");
    let unit = if unit.is_empty() { "x" } else { unit };
    let length = match rng.random_range(0..10) {
        0 => rng.random_range(1_000..70_000),
        1..=3 => rng.random_range(20..400),
        _ => {
            return ODD_STRINGS
                .choose(rng)
                .map_or_else(String::new, |s| (*s).to_owned());
        }
    };
    unit.repeat(length / unit.len() + 1)
}

fn swap_type(rng: &mut StdRng, value: Value) -> Value {
    match value {
        Value::String(text) => match text.parse::<f64>() {
            Ok(number) => json!(number),
            Err(_) if rng.random_bool(0.5) => json!([text]),
            Err(_) => json!({ "value": text }),
        },
        Value::Number(number) => Value::String(number.to_string()),
        Value::Bool(flag) => json!(u8::from(flag)),
        Value::Null => json!(""),
        // An object where an array belongs, and the other way round.
        Value::Object(fields) => Value::Array(fields.into_iter().map(|(_, v)| v).collect()),
        Value::Array(items) => Value::Object(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v))
                .collect(),
        ),
    }
}

/// `value` wrapped in arrays and objects, sometimes past serde_json's recursion limit.
fn nested(rng: &mut StdRng, value: Value) -> Value {
    let depth = if rng.random_bool(0.2) {
        rng.random_range(120..300)
    } else {
        rng.random_range(1..8)
    };
    (0..depth).fold(value, |inner, level| {
        if level % 2 == 0 {
            json!([inner])
        } else {
            json!({ "a": inner })
        }
    })
}

fn add_key(rng: &mut StdRng, object: &mut Map<String, Value>, keys: &[&str]) {
    let name = match keys.choose(rng) {
        Some(key) if rng.random_bool(0.8) => (*key).to_owned(),
        _ => string(rng),
    };
    object.insert(name, scalar(rng));
}

fn remove_something(rng: &mut StdRng, node: &mut Value) {
    match node {
        Value::Object(fields) if !fields.is_empty() => {
            let index = rng.random_range(0..fields.len());
            if let Some(key) = fields.keys().nth(index).cloned() {
                fields.remove(&key);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let index = rng.random_range(0..items.len());
            items.remove(index);
        }
        other => *other = Value::Null,
    }
}

/// The value as JSON text, with every raw mark replaced by its snippet (quotes and all).
fn write(value: &Value) -> String {
    let text = value.to_string();
    if !text.contains(RAW_MARK) {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find(&format!("\"{RAW_MARK}")) {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1 + RAW_MARK.len_utf8()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let snippet = after[..digits]
            .parse::<usize>()
            .ok()
            .and_then(|i| RAW_SNIPPETS.get(i));
        match (snippet, after[digits..].strip_prefix('"')) {
            (Some(snippet), Some(tail)) => {
                out.push_str(snippet);
                rest = tail;
            }
            // A mark inside a longer string: leave it as text.
            _ => {
                out.push('"');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Repeats a field at the start of a random object: `{"k":1,...}` becomes
/// `{"k":<other>,"k":1,...}`, which parsers resolve differently.
fn duplicate_a_key(rng: &mut StdRng, text: &mut String, keys: &[&str]) {
    let opens: Vec<usize> = object_starts(text);
    let (Some(&at), Some(key)) = (opens.choose(rng), keys.choose(rng)) else {
        return;
    };
    let empty = text[at + 1..].starts_with('}');
    let value = write(&scalar(rng));
    let field = format!(
        "{}:{value}{}",
        Value::String((*key).to_owned()),
        if empty { "" } else { "," }
    );
    text.insert_str(at + 1, &field);
}

/// Byte offsets of the `{` that open objects (outside strings).
fn object_starts(text: &str) -> Vec<usize> {
    let (mut in_string, mut escaped) = (false, false);
    let mut starts = Vec::new();
    for (i, byte) in text.bytes().enumerate() {
        match (in_string, escaped, byte) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') | (false, _, b'"') => in_string = !in_string,
            (false, _, b'{') => starts.push(i),
            _ => {}
        }
    }
    starts
}

/// Flips, truncations, splices from another seed, invalid UTF-8, repeated chunks.
pub fn mutate_bytes(rng: &mut StdRng, bytes: &mut Vec<u8>, donors: &[Value]) {
    if bytes.is_empty() {
        bytes.push(b'{');
    }
    let at = rng.random_range(0..bytes.len());
    match rng.random_range(0..7) {
        0 => bytes[at] ^= 1 << rng.random_range(0..8),
        1 => bytes.truncate(at),
        2 => {
            if let Some(donor) = donors.choose(rng) {
                let donor = donor.to_string().into_bytes();
                let from = rng.random_range(0..donor.len());
                bytes.splice(at..at, donor[from..].iter().copied());
            }
        }
        3 => {
            let invalid: &[&[u8]] = &[
                b"\xff",
                b"\xc0\x80",
                b"\x80",
                b"\xed\xa0\x80",
                b"\xf4\x90\x80\x80",
                b"\xe2\x82",
            ];
            if let Some(bad) = invalid.choose(rng) {
                bytes.splice(at..at, bad.iter().copied());
            }
        }
        4 => {
            let end = rng.random_range(at..=bytes.len());
            let chunk = bytes[at..end].to_vec();
            let times = rng.random_range(1..50);
            for _ in 0..times {
                bytes.splice(at..at, chunk.iter().copied());
            }
        }
        5 => bytes.insert(at, rng.random()),
        _ => {
            let deep = rng.random_range(100..5_000);
            let open = if rng.random_bool(0.5) { b'[' } else { b'{' };
            bytes.splice(at..at, std::iter::repeat_n(open, deep));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn raw_snippets_replace_their_marks_and_nothing_else() {
        let value = json!({"a": format!("{RAW_MARK}7"), "b": format!("x{RAW_MARK}7")});
        let text = write(&value);
        assert!(text.contains(r#""a":1e400"#), "{text}");
        assert!(text.contains(&format!("\"x{RAW_MARK}7\"")), "{text}");
    }

    #[test]
    fn a_duplicated_key_is_written_twice() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut text = r#"{"k":1}"#.to_owned();
        duplicate_a_key(&mut rng, &mut text, &["k"]);
        assert_eq!(text.matches("\"k\"").count(), 2, "{text}");
    }

    #[test]
    fn the_same_seed_gives_the_same_input() {
        let seed = json!({"action": "send", "content": "hi"});
        let run = |s| mutate(&mut StdRng::seed_from_u64(s), &seed, &["action"], &[]);
        assert_eq!(run(42), run(42));
        assert!((0..20).map(run).any(|input| input != run(42)));
    }
}
