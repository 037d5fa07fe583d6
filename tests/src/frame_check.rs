//! Every WebSocket frame the suites exchange, checked against `docs/schema/`: the local
//! server's frame tap hands each one here, and a [`FrameGuard`] fails the test that saw a
//! frame its dialect's schema does not describe.
//!
//! Server frames are always checked. A client frame is checked only when the server's own
//! parser accepts it: the suites send malformed JSON, unknown actions and wrong types on
//! purpose, and those are refused before anything reads them. Any dialect accepts every
//! client shape (docs/protocol.md, "Client frames"), so a client frame needs to match one
//! of the client schemas, whichever its connection's dialect.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use chat_core::domain::Dialect;
use chat_core::protocol::ClientFrame;
use chat_local::ws_api::{FrameDirection, FrameTap};
use jsonschema::Validator;
use serde_json::Value;

/// Where the schemas are committed.
pub fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/schema")
}

/// `docs/schema/<dialect>/<side>.json`.
pub fn schema_path(dialect: Dialect, side: Side) -> PathBuf {
    schema_dir()
        .join(dialect.as_str())
        .join(format!("{}.json", side.name()))
}

/// Which party sends the frames a schema describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    Client,
    Server,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Server => "server",
        }
    }

    fn of(direction: FrameDirection) -> Self {
        match direction {
            FrameDirection::FromClient => Self::Client,
            FrameDirection::ToClient => Self::Server,
        }
    }
}

/// One dialect's schema for one side, and each of its frames compiled on its own, by the
/// frame's name (its `action`, `type` or `mt`), so a refusal says what is wrong with the
/// frame rather than that it matches none of twenty.
pub struct FrameSchema {
    whole: Validator,
    by_name: BTreeMap<String, Vec<Validator>>,
}

/// The fields that name a frame, in the order the server's dispatch reads them.
const NAME_FIELDS: [&str; 3] = ["action", "type", "mt"];

impl FrameSchema {
    /// Compiles `schema`, a `oneOf` of frames (each naming itself with a `const`).
    pub fn new(schema: &Value) -> Result<Self, String> {
        let whole = jsonschema::draft202012::new(schema).map_err(|error| error.to_string())?;
        let mut by_name: BTreeMap<String, Vec<Validator>> = BTreeMap::new();
        for variant in schema["oneOf"].as_array().into_iter().flatten() {
            let Some(name) =
                frame_name(|field| variant.pointer(&format!("/properties/{field}/const")))
            else {
                continue;
            };
            let mut alone = variant.clone();
            if let (Some(fields), Some(definitions)) = (alone.as_object_mut(), schema.get("$defs"))
            {
                fields.insert("$defs".into(), definitions.clone());
            }
            let compiled =
                jsonschema::draft202012::new(&alone).map_err(|error| error.to_string())?;
            by_name.entry(name).or_default().push(compiled);
        }
        Ok(Self { whole, by_name })
    }

    /// Loads and compiles `path`.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("{}: {error}", path.display()))?;
        let schema: Value = serde_json::from_str(&text)
            .map_err(|error| format!("{}: not JSON: {error}", path.display()))?;
        Self::new(&schema).map_err(|error| format!("{}: {error}", path.display()))
    }

    pub fn is_valid(&self, frame: &Value) -> bool {
        self.whole.is_valid(frame)
    }

    /// Why `frame` fails: the errors of the frames of its name, else of the whole schema.
    pub fn errors(&self, frame: &Value) -> Vec<String> {
        let named = frame_name(|field| frame.get(field))
            .and_then(|name| self.by_name.get(&name))
            .filter(|variants| !variants.is_empty());
        let validators: Vec<&Validator> = match named {
            Some(variants) => variants.iter().collect(),
            None => vec![&self.whole],
        };
        validators
            .into_iter()
            .flat_map(|validator| {
                validator
                    .iter_errors(frame)
                    .map(|error| format!("at {:?}: {error}", error.instance_path().as_str()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// The first of `action`, `type`, `mt` that `field` finds as a string.
fn frame_name<'a>(field: impl Fn(&str) -> Option<&'a Value>) -> Option<String> {
    NAME_FIELDS
        .iter()
        .find_map(|name| field(name).and_then(Value::as_str))
        .map(str::to_owned)
}

/// Every committed schema, compiled once per test process.
pub struct FrameSchemas {
    server: BTreeMap<Dialect, FrameSchema>,
    client: Vec<(Dialect, FrameSchema)>,
}

impl FrameSchemas {
    pub fn get() -> &'static Self {
        static SCHEMAS: OnceLock<FrameSchemas> = OnceLock::new();
        SCHEMAS.get_or_init(|| {
            let load = |dialect, side| {
                FrameSchema::load(&schema_path(dialect, side)).unwrap_or_else(|error| {
                    panic!("docs/schema/ has a schema for every dialect and side: {error}")
                })
            };
            Self {
                server: Dialect::ALL
                    .into_iter()
                    .map(|dialect| (dialect, load(dialect, Side::Server)))
                    .collect(),
                client: Dialect::ALL
                    .into_iter()
                    .map(|dialect| (dialect, load(dialect, Side::Client)))
                    .collect(),
            }
        })
    }

    /// Whether `text`, sent `direction` on a `dialect` connection, matches its schema, or
    /// what is wrong with it.
    pub fn check(
        &self,
        direction: FrameDirection,
        dialect: Dialect,
        text: &str,
    ) -> Result<Checked, Vec<String>> {
        let frame: Value = match serde_json::from_str(text) {
            Ok(frame) => frame,
            Err(_) if direction == FrameDirection::FromClient => return Ok(Checked::Refused),
            Err(error) => return Err(vec![format!("not JSON: {error}")]),
        };
        match direction {
            FrameDirection::FromClient => {
                if ClientFrame::parse(text).is_err() {
                    return Ok(Checked::Refused);
                }
                if self
                    .client
                    .iter()
                    .any(|(_, schema)| schema.is_valid(&frame))
                {
                    return Ok(Checked::Matched);
                }
                // Told against the schemas most likely meant: the contract's and its own.
                Err(self
                    .client
                    .iter()
                    .filter(|(owner, _)| [Dialect::Canonical, dialect].contains(owner))
                    .flat_map(|(owner, schema)| {
                        schema
                            .errors(&frame)
                            .into_iter()
                            .map(move |error| format!("{}/client.json {error}", owner.as_str()))
                    })
                    .collect())
            }
            FrameDirection::ToClient if is_gateway_frame(&frame) => Ok(Checked::Gateway),
            FrameDirection::ToClient => {
                let schema = &self.server[&dialect];
                if schema.is_valid(&frame) {
                    Ok(Checked::Matched)
                } else {
                    Err(schema.errors(&frame))
                }
            }
        }
    }
}

/// What became of a frame that is not a violation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checked {
    /// It matches its schema.
    Matched,
    /// A client frame the server's parser refuses: bad input, not checked.
    Refused,
    /// API Gateway's own frame, not the backend's: not checked.
    Gateway,
}

/// API Gateway's own answer when a route's Lambda fails, not the backend's frame:
/// `{"message": "Internal server error", "connectionId", "requestId"}`.
fn is_gateway_frame(frame: &Value) -> bool {
    frame.get("connectionId").is_some() && frame.get("requestId").is_some()
}

/// A frame its schema does not describe.
#[derive(Clone, Debug)]
pub struct Violation {
    pub direction: FrameDirection,
    pub dialect: Dialect,
    pub frame: String,
    pub errors: Vec<String>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const SHOWN: usize = 600;
        let frame: String = self.frame.chars().take(SHOWN).collect();
        let cut = if self.frame.chars().count() > SHOWN {
            "..."
        } else {
            ""
        };
        writeln!(
            f,
            "{:?} on a {} connection: {frame}{cut}",
            self.direction,
            self.dialect.as_str()
        )?;
        for error in &self.errors {
            writeln!(f, "    {error}")?;
        }
        Ok(())
    }
}

/// What one server's tap saw: how many frames were checked, and what failed.
#[derive(Default)]
pub struct FrameLog {
    checked: Mutex<BTreeMap<(Dialect, Side), usize>>,
    refused: Mutex<usize>,
    gateway: Mutex<usize>,
    violations: Mutex<Vec<Violation>>,
}

impl FrameLog {
    /// A tap for `chat_local::Options::frame_tap` that records into this log.
    pub fn tap(self: &Arc<Self>) -> FrameTap {
        let log = Arc::clone(self);
        FrameTap::new(move |direction, dialect, text| log.record(direction, dialect, text))
    }

    pub fn record(&self, direction: FrameDirection, dialect: Dialect, text: &str) {
        match FrameSchemas::get().check(direction, dialect, text) {
            Ok(Checked::Matched) => {
                *lock(&self.checked)
                    .entry((dialect, Side::of(direction)))
                    .or_default() += 1;
            }
            Ok(Checked::Refused) => *lock(&self.refused) += 1,
            Ok(Checked::Gateway) => *lock(&self.gateway) += 1,
            Err(errors) => lock(&self.violations).push(Violation {
                direction,
                dialect,
                frame: text.to_owned(),
                errors,
            }),
        }
    }

    pub fn violations(&self) -> Vec<Violation> {
        lock(&self.violations).clone()
    }

    /// Frames that matched their schema, by dialect and side.
    pub fn checked(&self) -> BTreeMap<(Dialect, Side), usize> {
        lock(&self.checked).clone()
    }

    /// `dialect side count` for each, and the frames not checked: what `--nocapture` shows.
    pub fn summary(&self) -> String {
        let mut summary: Vec<String> = self
            .checked()
            .into_iter()
            .map(|((dialect, side), count)| format!("{} {} {count}", dialect.as_str(), side.name()))
            .collect();
        summary.push(format!("refused {}", lock(&self.refused)));
        summary.push(format!("gateway {}", lock(&self.gateway)));
        summary.join(", ")
    }

    /// Panics listing every violation, if any.
    pub fn assert_clean(&self) {
        let violations = self.violations();
        if violations.is_empty() {
            return;
        }
        let listed: String = violations.iter().map(ToString::to_string).collect();
        panic!(
            "{} WebSocket frame(s) do not match docs/schema/ (fix the schema, or the server \
             if docs/protocol.md says otherwise):\n{listed}",
            violations.len()
        );
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Fails the test when it goes out of scope (the test app stopped or dropped) if a frame
/// did not match its schema.
pub struct FrameGuard(pub Arc<FrameLog>);

impl Drop for FrameGuard {
    fn drop(&mut self) {
        eprintln!("frame schemas: {}", self.0.summary());
        // A test already failing says why on its own.
        if !std::thread::panicking() {
            self.0.assert_clean();
        }
    }
}
