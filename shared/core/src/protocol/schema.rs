//! JSON Schemas (draft 2020-12) of the canonical frames, generated from the serde types so
//! they cannot drift from what is sent (`docs/schema/`, written by the `frame_schemas`
//! suite). Behind the `schema` feature: only the end-to-end suites need schemars.
//!
//! The domain's value types keep their hand-written serde impls, so their schemas are
//! written here, each saying what its `parse` accepts and how it serializes. Server frames
//! follow the serialize contract (what is sent, every object closed); client frames the
//! deserialize one (what is accepted: `null` for an optional field, extra fields ignored).

use std::borrow::Cow;

use schemars::generate::{Contract, SchemaSettings};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serialize;
use serde_json::{Value, json};

use super::{CloseCode, ServerFrame};
use crate::domain::{
    AttachmentId, BusinessId, ChatbotId, ClientMsgId, Content, DepartmentId, Dialect, DisplayName,
    DocumentId, ExternalCustomerId, IncompleteReason, JoinPolicy, Language, MemberRole, MessageId,
    MessageKind, Reaction, Reactions, SessionId, SessionKind, SessionStatus, Source, TimeZoneName,
    Timestamp, Title, UserId,
};

/// The server frames of the contract, as `dialect` `canonical` sends them.
pub fn canonical_server_schema() -> Value {
    root::<ServerFrame>(
        Contract::Serialize,
        "Server frames (canonical dialect)",
        "What a connection of the canonical dialect receives (docs/protocol.md, \"Server frames\").",
    )
}

/// The client frames of the canonical actions, as `docs/protocol.md` lists them: named by
/// `action`, or by `type` (which takes every canonical name too) when `action` is absent.
pub fn canonical_client_schema() -> Value {
    let mut schema = root::<CanonicalClientFrame>(
        Contract::Deserialize,
        "Client frames of the canonical actions (named by action, or by type)",
        "What a client sends (docs/protocol.md, \"Client frames\"); any connection accepts these \
         and the seeds' shapes (<dialect>/client.json). Fields not listed are ignored; a field \
         set to null counts as missing.",
    );
    if let Some(Value::Array(variants)) = schema.get_mut("oneOf") {
        let named_by_type: Vec<Value> = variants.iter().filter_map(named_by_type).collect();
        variants.extend(named_by_type);
    }
    schema
}

/// `variant` with its `action` name under `type` instead, and `action` absent (or null).
fn named_by_type(variant: &Value) -> Option<Value> {
    let mut variant = variant.clone();
    let properties = variant.get_mut("properties")?.as_object_mut()?;
    let name = properties.remove("action")?;
    properties.insert("type".into(), name);
    properties.insert("action".into(), json!({"type": "null"}));
    for required in variant.get_mut("required")?.as_array_mut()? {
        if required == "action" {
            *required = json!("type");
        }
    }
    Some(variant)
}

/// Seed 000's frames are the contract's frames of the names it knows, field for field.
pub fn live_server_schema() -> Value {
    const LIVE_FRAMES: [&str; 8] = [
        "chat_history",
        "chat_message",
        "user_joined",
        "user_left",
        "typing_status",
        "session_ended",
        "error",
        "pong",
    ];
    let mut schema = root::<ServerFrame>(
        Contract::Serialize,
        "Server frames (live dialect)",
        "What a connection of seed 000's dialect receives: the contract's frames of the names \
         it knows, a bot's reply as a chat_message (docs/compat.md, \"000\").",
    );
    if let Some(Value::Array(variants)) = schema.get_mut("oneOf") {
        variants.retain(|variant| {
            variant
                .pointer("/properties/type/const")
                .and_then(Value::as_str)
                .is_some_and(|name| LIVE_FRAMES.contains(&name))
        });
    }
    prune_unused_definitions(&mut schema);
    schema
}

/// The schemas generated from the code, by their path under `docs/schema/`.
pub fn generated_schemas() -> Vec<(String, Value)> {
    vec![
        (
            format!("{}/server.json", Dialect::Canonical.as_str()),
            canonical_server_schema(),
        ),
        (
            format!("{}/client.json", Dialect::Canonical.as_str()),
            canonical_client_schema(),
        ),
        (
            format!("{}/server.json", Dialect::Live.as_str()),
            live_server_schema(),
        ),
    ]
}

fn root<T: JsonSchema>(contract: Contract, title: &str, description: &str) -> Value {
    let serialize = contract.is_serialize();
    let settings = SchemaSettings::draft2020_12().with(|settings| settings.contract = contract);
    let mut schema = settings
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    if let Some(fields) = schema.as_object_mut() {
        fields.insert("title".into(), json!(title));
        fields.insert("description".into(), json!(description));
    }
    if serialize {
        close_objects(&mut schema);
        never_null_when_present(&mut schema);
    }
    schema
}

/// In what is sent, a field that may be missing is one left out when unset
/// (`skip_serializing_if`), so it is never null: only the fields always sent may be.
fn never_null_when_present(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            let required: Vec<Value> = fields
                .get("required")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if let Some(Value::Object(properties)) = fields.get_mut("properties") {
                for (name, property) in properties.iter_mut() {
                    if !required.contains(&Value::String(name.clone())) {
                        drop_null(property);
                    }
                }
            }
            fields.values_mut().for_each(never_null_when_present);
        }
        Value::Array(items) => items.iter_mut().for_each(never_null_when_present),
        _ => {}
    }
}

/// `{"anyOf": [X, {"type": "null"}]}` becomes X, `{"type": [T, "null"]}` becomes `T`.
fn drop_null(property: &mut Value) {
    let null = json!({"type": "null"});
    if let Some(Value::Array(branches)) = property.get_mut("anyOf") {
        branches.retain(|branch| *branch != null);
        if let [only] = branches.as_slice() {
            let only = only.clone();
            if let Some(fields) = property.as_object_mut() {
                fields.remove("anyOf");
                if let Value::Object(only) = only {
                    fields.extend(only);
                }
            }
        }
    } else if let Some(Value::Array(types)) = property.get_mut("type") {
        types.retain(|kind| kind != "null");
        if let [only] = types.as_slice() {
            property["type"] = only.clone();
        }
    }
}

/// `additionalProperties: false` on every object with listed properties: the server sends
/// exactly those, so a field renamed or added by mistake fails validation. Maps (reactions)
/// list none and stay open.
fn close_objects(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            if fields.contains_key("properties") && !fields.contains_key("additionalProperties") {
                fields.insert("additionalProperties".into(), Value::Bool(false));
            }
            fields.values_mut().for_each(close_objects);
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

/// Drops the `$defs` nothing refers to any more, until none is left.
fn prune_unused_definitions(schema: &mut Value) {
    loop {
        let text = schema.to_string();
        let Some(Value::Object(definitions)) = schema.get_mut("$defs") else {
            return;
        };
        let before = definitions.len();
        definitions.retain(|name, _| text.contains(&format!("\"#/$defs/{name}\"")));
        if definitions.len() == before {
            return;
        }
    }
}

/// The wire shape of [`super::ClientFrame`]'s canonical actions. [`super::ClientFrame::parse`]
/// reads frames by hand (it takes the seeds' shapes too); this type only describes the
/// `action` frames for the schema, and the `frame_schemas` suite checks it against the
/// parser.
#[derive(JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
#[allow(dead_code)]
enum CanonicalClientFrame {
    /// Bind the connection to a session; `session_info` and `chat_history` follow.
    Join {
        session_id: SessionId,
        /// Ignored: identity comes from the token.
        user_id: Option<UserId>,
    },
    /// Post a message: text needs `content`; `file` and `image` need `attachment_id`, with
    /// `content` an optional caption.
    #[schemars(extend("anyOf" = [
        {"required": ["content"], "properties": {"content": {"type": "string"}}},
        {"required": ["attachment_id"], "properties": {"attachment_id": {"type": "string"}}},
    ]))]
    Send {
        content: Option<Content>,
        kind: Option<MessageKind>,
        /// Makes the send idempotent per user and session.
        client_msg_id: Option<ClientMsgId>,
        attachment_id: Option<AttachmentId>,
        /// The language of the bot's reply; blank is absent.
        language: Option<Language>,
        /// The caller's time zone, for the bot's reply; blank is absent.
        timezone: Option<TimeZoneName>,
    },
    Typing {
        is_typing: bool,
    },
    /// The author only.
    Edit {
        message_id: MessageId,
        content: Content,
    },
    Delete {
        message_id: MessageId,
    },
    React {
        message_id: MessageId,
        reaction: Reaction,
    },
    Unreact {
        message_id: MessageId,
        reaction: Reaction,
    },
    /// A page of messages older than `before` (the latest without it).
    History {
        before: Option<MessageId>,
        #[schemars(range(min = 1, max = 100))]
        limit: Option<u8>,
    },
    /// Bind after a reconnect and get every message after `after_seq`.
    Resume {
        session_id: SessionId,
        after_seq: u64,
    },
    /// Stop the session's bot reply in progress.
    Stop,
    /// Unbind; the connection stays open.
    Leave,
    Ping,
}

/// A schema named after the domain type it describes, kept in `$defs`.
macro_rules! named_schema {
    ($($name:ident => |$generator:ident| $schema:expr;)*) => {$(
        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema($generator: &mut SchemaGenerator) -> Schema {
                let _ = &$generator;
                $schema
            }
        }
    )*};
}

/// A string enum, its names from serde itself. The match fails to compile when a variant is
/// added, so the list cannot fall behind the type.
macro_rules! string_enum {
    ($($name:ident { $($variant:ident),* $(,)? })*) => {$(
        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                let _every_variant_listed = |value: $name| match value {
                    $($name::$variant)|* => (),
                };
                wire_names(&[$($name::$variant),*])
            }
        }
    )*};
}

fn wire_names<T: Serialize>(variants: &[T]) -> Schema {
    let names: Vec<Value> = variants
        .iter()
        .filter_map(|variant| serde_json::to_value(variant).ok())
        .collect();
    json_schema!({"type": "string", "enum": names})
}

string_enum! {
    MessageKind { Text, File, Image }
    IncompleteReason {
        MaxTokens, ContentFilter, ContextWindow, MalformedOutput, ModelError, Timeout,
    }
    SessionKind { Direct, Group, Bot, Support }
    SessionStatus { Active, Inactive, Ended }
    JoinPolicy { Invite, Open }
    MemberRole { Owner, Member, Agent, Bot }
}

/// A ULID as the server writes it: 26 Crockford base-32 characters, upper case. The parser
/// also takes lower case.
fn ulid(generator: &SchemaGenerator) -> Schema {
    let pattern = if generator.contract().is_serialize() {
        "^[0-7][0-9A-HJKMNP-TV-Z]{25}$"
    } else {
        "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"
    };
    json_schema!({"type": "string", "pattern": pattern})
}

/// An id from outside: 1 to `max` characters, no whitespace, control characters or `#`.
fn opaque_id(max: usize) -> Schema {
    json_schema!({
        "type": "string",
        "minLength": 1,
        "maxLength": max,
        "pattern": "^[^\\s#\\u0000-\\u001f\\u007f-\\u009f]+$",
    })
}

named_schema! {
    SessionId => |generator| ulid(generator);
    MessageId => |generator| ulid(generator);
    AttachmentId => |generator| ulid(generator);
    UserId => |generator| opaque_id(UserId::MAX_LEN);
    ClientMsgId => |generator| opaque_id(ClientMsgId::MAX_LEN);
    ChatbotId => |generator| opaque_id(ChatbotId::MAX_LEN);
    BusinessId => |generator| opaque_id(BusinessId::MAX_LEN);
    DepartmentId => |generator| opaque_id(DepartmentId::MAX_LEN);
    ExternalCustomerId => |generator| opaque_id(ExternalCustomerId::MAX_LEN);
    DocumentId => |generator| opaque_id(DocumentId::MAX_LEN);
    Timestamp => |generator| if generator.contract().is_serialize() {
        // Written with milliseconds in UTC, so timestamps sort as text.
        json_schema!({
            "type": "string",
            "format": "date-time",
            "pattern": "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z$",
        })
    } else {
        json_schema!({"type": "string", "format": "date-time"})
    };
    Content => |generator| json_schema!({
        "description": "1 to 4,000 characters once trimmed",
        "type": "string",
        "minLength": 1,
        "pattern": "\\S",
    });
    Title => |generator| json_schema!({
        "type": "string",
        "minLength": 1,
        "maxLength": Title::MAX_CHARS,
    });
    DisplayName => |generator| json_schema!({
        "type": "string",
        "minLength": 1,
        "maxLength": DisplayName::MAX_CHARS,
    });
    Reaction => |generator| json_schema!({
        "description": "exactly one emoji",
        "type": "string",
        "minLength": 1,
    });
    Language => |generator| json_schema!({
        "description": "a language code or name, e.g. `pt-BR` or `Hindi`",
        "type": "string",
    });
    TimeZoneName => |generator| json_schema!({
        "description": "an IANA name (`Asia/Kolkata`), `UTC`, or an offset (`+05:30`)",
        "type": "string",
    });
    Reactions => |generator| {
        let reaction = generator.subschema_for::<Reaction>();
        let users = generator.subschema_for::<Vec<UserId>>();
        json_schema!({
            "description": "emoji to the users who gave it, each sorted",
            "type": "object",
            "propertyNames": reaction,
            "additionalProperties": users,
        })
    };
    Source => |generator| {
        let attachment_id = generator.subschema_for::<AttachmentId>();
        json_schema!({
            "description": "a file a bot reply drew on",
            "type": "object",
            "properties": {
                "attachment_id": attachment_id,
                "file_name": {"type": "string"},
            },
            "required": ["attachment_id", "file_name"],
        })
    };
}

impl JsonSchema for CloseCode {
    fn schema_name() -> Cow<'static, str> {
        "CloseCode".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let codes = [
            CloseCode::MISSING_SESSION_ID,
            CloseCode::INVALID_SESSION_ID,
            CloseCode::UNAUTHORIZED,
            CloseCode::SESSION_ENDED,
            CloseCode::POLICY_VIOLATION,
        ]
        .map(|code| code.code());
        json_schema!({
            "description": "the close code the server closes the connection with next",
            "type": "integer",
            "enum": codes,
        })
    }
}
