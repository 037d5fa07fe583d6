//! The REST API's OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations and the `ToSchema` derives of the bodies and answers. What holds for every
//! operation alike is added here once, by the modifiers: the bearer scheme, the path
//! parameters, the error answers, and the seed routes served by a canonical route's
//! handler (an annotation names one path only).
//!
//! `docs/openapi.json` is this document as committed; `tests/openapi.rs` checks it is
//! current and that it names exactly the routes the router serves.

mod schemas;

use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::schema::{Object, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi};

pub(crate) use schemas::*;

/// The name of the bearer scheme operations require.
const BEARER: &str = "bearer";
/// The name of the shared error answer.
const ERROR_RESPONSE: &str = "Error";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Chat REST API",
        description = "The chat backend's REST API: sessions, members, messages, reactions, \
            history, uploads, chatbots, document libraries and usage, and the seed systems' \
            own routes served by the same service. Real-time frames travel over the \
            WebSocket API (docs/protocol.md). Every error the API sends carries the error \
            body; a path with a trailing slash is served as without one."
    ),
    paths(
        crate::sessions::health,
        crate::sessions::start_support,
        crate::sessions::list_sessions,
        crate::sessions::create_session,
        crate::sessions::get_session,
        crate::sessions::update_session,
        crate::sessions::end_session,
        crate::sessions::join,
        crate::sessions::leave,
        crate::sessions::add_member,
        crate::sessions::support_queue,
        crate::sessions::new_business_secret,
        crate::sessions::remove_member,
        crate::sessions::connections,
        crate::sessions::full_session,
        crate::sessions::history,
        crate::sessions::list_messages,
        crate::sessions::post_message,
        crate::sessions::get_message,
        crate::sessions::edit_message,
        crate::sessions::delete_message,
        crate::sessions::add_reaction,
        crate::sessions::remove_reaction,
        crate::uploads::presigned_upload,
        crate::uploads::direct_upload,
        crate::uploads::attachment,
        crate::chatbots::list,
        crate::chatbots::create,
        crate::chatbots::read,
        crate::chatbots::update,
        crate::chatbots::remove,
        crate::chatbots::documents,
        crate::chatbots::add_document,
        crate::chatbots::remove_document,
        crate::usage::list,
        crate::usage::read,
        crate::library::list,
        crate::library::add,
        crate::library::remove,
        crate::seeds::live::join,
        crate::seeds::live::leave,
        crate::seeds::chat::create_chat,
        crate::seeds::chat::user_chats,
        crate::seeds::chat::get_chat,
        crate::seeds::chat::update_chat,
        crate::seeds::chat::delete_chat,
        crate::seeds::chat::full_chat,
        crate::seeds::chat::chat_messages,
        crate::seeds::chat::post_chat_message,
        crate::seeds::chat::get_chat_message,
        crate::seeds::chat::update_chat_message,
        crate::seeds::chat::delete_chat_message,
        crate::seeds::chat::add_reaction,
        crate::seeds::chat::remove_reaction,
        crate::seeds::chat::socket_status,
        crate::seeds::chatbot::open_session,
        crate::seeds::visitor::start_session,
        crate::seeds::visitor::history,
        crate::seeds::visitor::upload_file,
    ),
    components(schemas(ErrorBody)),
    modifiers(&ReusedHandlers, &BearerJwt, &PathParameters, &ErrorAnswers),
    security(("bearer" = [])),
    tags(
        (name = "health"),
        (name = "sessions", description = "Sessions, their members and who is connected"),
        (name = "messages", description = "Messages, reactions and the timeline"),
        (name = "uploads", description = "Attachments: presigned, direct, downloaded"),
        (name = "chatbots", description = "Chatbots and their documents (admins)"),
        (name = "documents", description = "Each user's document library"),
        (name = "usage", description = "What the bot's replies cost, per user and UTC day"),
        (name = "seed 000", description = "The live chat manager's routes (docs/compat.md)"),
        (name = "seed 001", description = "Chats and messages (docs/compat.md)"),
        (name = "seed 003", description = "Chatbot sessions (docs/compat.md)"),
        (name = "seed 004", description = "Visitor support (docs/compat.md)"),
    )
)]
struct ApiDoc;

/// The REST API's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// [`openapi`] as `docs/openapi.json` holds it: pretty-printed, with a trailing newline.
pub fn openapi_json() -> String {
    let mut json = openapi()
        .to_pretty_json()
        .unwrap_or_else(|error| unreachable!("an OpenAPI document always serializes: {error}"));
    json.push('\n');
    json
}

/// The operations of `item`, whatever their methods.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

/// Tokens are JWTs: the identity provider's, or HS256 ones this API issues (visitors).
struct BearerJwt;

impl Modify for BearerJwt {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(BEARER, SecurityScheme::Http(scheme));
    }
}

/// The seed routes whose handler is a canonical route's, as (alias path, canonical path,
/// the methods they share, the alias's tag). Seed 000's answer exactly as their twins.
const REUSED: [(&str, &str, &[&str], &str); 4] = [
    ("/api/chat/sessions", "/sessions", &["post"], "seed 000"),
    (
        "/api/chat/sessions/{id}",
        "/sessions/{id}",
        &["get"],
        "seed 000",
    ),
    (
        "/api/chat/sessions/{id}/messages",
        "/sessions/{id}/messages",
        &["get", "post"],
        "seed 000",
    ),
    (
        "/chatbot/session/{id}",
        "/sessions/{id}",
        &["delete"],
        "seed 003",
    ),
];

/// Each operation of [`REUSED`] copied to its alias, with an operation id of its own.
struct ReusedHandlers;

impl Modify for ReusedHandlers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (alias, canonical, methods, tag) in REUSED {
            let Some(twin) = openapi.paths.paths.get(canonical).cloned() else {
                continue;
            };
            let mut copied = PathItem::default();
            for method in methods {
                let (from, to) = match *method {
                    "get" => (twin.get.clone(), &mut copied.get),
                    "post" => (twin.post.clone(), &mut copied.post),
                    "delete" => (twin.delete.clone(), &mut copied.delete),
                    other => unreachable!("no reused {other} route"),
                };
                *to = from.map(|mut operation| {
                    operation.operation_id = operation
                        .operation_id
                        .map(|id| format!("{}_{id}", tag.replace(' ', "_")));
                    operation.tags = Some(vec![tag.to_owned()]);
                    operation
                });
            }
            let item = openapi.paths.paths.entry(alias.to_owned()).or_default();
            item.merge_operations(copied);
        }
    }
}

/// Every `{name}` of a path, declared once on its path item: a string, described by
/// what the segment before it names.
struct PathParameters;

impl Modify for PathParameters {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in &mut openapi.paths.paths {
            let segments: Vec<&str> = path.split('/').collect();
            let parameters: Vec<Parameter> = segments
                .iter()
                .enumerate()
                .filter_map(|(at, segment)| {
                    let name = segment.strip_prefix('{')?.strip_suffix('}')?;
                    let before = at.checked_sub(1).map_or("", |at| segments[at]);
                    Some(path_parameter(name, before))
                })
                .collect();
            if !parameters.is_empty() {
                item.parameters = Some(parameters);
            }
        }
    }
}

fn path_parameter(name: &str, before: &str) -> Parameter {
    let description = match (name, before) {
        ("mid", _) => "The message's id",
        ("user_id", _) => "The member's user id",
        ("emoji", _) => "The reaction: an emoji, percent-encoded",
        ("aid", _) => "The attachment's id",
        ("did", _) => "The chatbot document's id",
        (_, "businesses") => "The business's id",
        (_, "chatbots" | "chatbot") => "The chatbot's id",
        (_, "usage" | "user") => "The user's id",
        (_, "documents") => "The library document's id",
        _ => "The session's id",
    };
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(Object::with_type(Type::String)))
        .build()
}

/// The error body on every operation's 4XX and 5XX answers, and a 401 on those that take
/// only a bearer token (the rest name their own security).
struct ErrorAnswers;

impl Modify for ErrorAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let error = ResponseBuilder::new()
            .description(
                "The error body: `error.code` names the failure, `error.message` says it \
                 (naming the field at fault). 429 comes with `Retry-After`.",
            )
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .responses
            .insert(ERROR_RESPONSE.to_owned(), RefOr::T(error));
        let reference = || RefOr::Ref(Ref::from_response_name(ERROR_RESPONSE));
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                let mut statuses = vec!["4XX", "5XX"];
                if operation.security.is_none() {
                    statuses.push("401");
                }
                for status in statuses {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(reference);
                }
            }
        }
    }
}
