//! The routes of the REST API and their responses.

use std::sync::Arc;

use chat_shared::domain::{MessageId, Principal, Reaction, SessionId};
use chat_shared::ports::Posted;
use chat_shared::protocol::{SessionSummary, SessionView};
use chat_shared::service::{Opened, SessionDetails};
use futures::future::BoxFuture;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use serde_json::{Value, json};

use crate::body::{
    self, AddReaction, CreateSession, EditMessage, PatchSession, PostMessage, StartSupport,
};
use crate::rest::{Reply, answer, ok, only, parse_id, reply, segments};
use crate::{ApiError, App};

/// The Lambda handler: every request gets a response; errors become error bodies. The
/// future is boxed as `Send` here, where its type is concrete, so callers need not prove it.
pub fn handle(
    app: Arc<App>,
    request: Request,
) -> BoxFuture<'static, Result<Response<Body>, Error>> {
    Box::pin(async move { answer(route(&app, &request)).await })
}

async fn route(app: &App, request: &Request) -> Reply {
    let segments = segments(request.uri().path())?;
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = request.method();
    match segments.as_slice() {
        ["health"] => only(method, &Method::GET, "GET").map(|()| ok(json!({"status": "ok"}))),
        ["sessions", "start"] => {
            only(method, &Method::POST, "POST")?;
            start_support(app, request).await
        }
        ["sessions"] => match *method {
            Method::POST => create_session(app, request).await,
            Method::GET => list_sessions(app, request).await,
            _ => Err(ApiError::MethodNotAllowed("GET, POST")),
        },
        ["sessions", id, rest @ ..] => {
            let id = parse_id(id, "session_id", SessionId::parse)?;
            session_route(app, request, id, rest).await
        }
        _ => Err(ApiError::NoRoute),
    }
}

async fn session_route(app: &App, request: &Request, id: SessionId, rest: &[&str]) -> Reply {
    let method = request.method();
    match rest {
        [] => match *method {
            Method::GET => {
                let caller = app.caller(request).await?;
                Ok(ok(
                    json!({"session": view(&app.service.get_session(&caller, id).await?)}),
                ))
            }
            Method::PATCH => {
                let caller = app.caller(request).await?;
                let patch = body::json::<PatchSession>(request)?.parse()?;
                let session = app.service.update_session(&caller, id, &patch).await?;
                Ok(ok(json!({"session": SessionSummary::new(&session)})))
            }
            Method::DELETE => {
                let caller = app.caller(request).await?;
                let session = app
                    .service
                    .end_session(&caller, id, "ended by a member")
                    .await?;
                Ok(ok(json!({"session": SessionSummary::new(&session)})))
            }
            _ => Err(ApiError::MethodNotAllowed("GET, PATCH, DELETE")),
        },
        ["join"] => {
            only(method, &Method::POST, "POST")?;
            let caller = app.caller(request).await?;
            let (details, joined) = app.service.join(&caller, id).await?;
            Ok(ok(json!({"session": view(&details), "joined": joined})))
        }
        ["leave"] => {
            only(method, &Method::POST, "POST")?;
            let caller = app.caller(request).await?;
            let left = app.service.leave(&caller, id).await?;
            Ok(ok(json!({"left": left})))
        }
        ["connections"] => {
            only(method, &Method::GET, "GET")?;
            let caller = app.caller(request).await?;
            let connections = app.service.connections(&caller, id).await?;
            let items: Vec<Value> = connections
                .iter()
                .map(|c| {
                    json!({
                        "user_id": c.principal.user_id,
                        "name": c.principal.name,
                        "role": c.principal.role,
                        "connected_at": c.connected_at,
                        "expires_at": c.expires_at,
                    })
                })
                .collect();
            let online = chat_shared::service::online_users(&connections);
            Ok(ok(json!({"items": items, "online": online})))
        }
        ["full"] => {
            only(method, &Method::GET, "GET")?;
            let caller = app.caller(request).await?;
            let limit = body::page_limit(request)?;
            let (details, page) = app.service.full_session(&caller, id, limit).await?;
            Ok(ok(json!({
                "session": view(&details),
                "messages": app.service.views(&page.items).await,
                "next_cursor": page.next_cursor,
            })))
        }
        ["messages"] => match *method {
            Method::GET => {
                let caller = app.caller(request).await?;
                let query = body::message_query(request)?;
                let page = app.service.list_messages(&caller, id, &query).await?;
                Ok(ok(json!({
                    "items": app.service.views(&page.items).await,
                    "next_cursor": page.next_cursor,
                })))
            }
            Method::POST => {
                let caller = app.caller(request).await?;
                let message = body::json::<PostMessage>(request)?.into();
                let (status, message, duplicate) =
                    match app.service.post_message(&caller, id, message).await? {
                        Posted::New(message) => (StatusCode::CREATED, message, false),
                        Posted::Duplicate(message) => (StatusCode::OK, message, true),
                    };
                let message = app.service.view(&message).await;
                Ok(reply(
                    status,
                    json!({"message": message, "duplicate": duplicate}),
                ))
            }
            _ => Err(ApiError::MethodNotAllowed("GET, POST")),
        },
        ["history"] => {
            only(method, &Method::GET, "GET")?;
            let caller = app.caller(request).await?;
            let cursor = body::cursor(request)?;
            let limit = body::page_limit(request)?;
            let timeline = app
                .service
                .timeline(&caller, id, cursor.as_ref(), limit)
                .await?;
            Ok(ok(json!({
                "items": timeline.items,
                "next_cursor": timeline.next_cursor,
            })))
        }
        ["messages", message, rest @ ..] => {
            let message = parse_id(message, "message_id", MessageId::parse)?;
            message_route(app, request, id, message, rest).await
        }
        _ => Err(ApiError::NoRoute),
    }
}

async fn message_route(
    app: &App,
    request: &Request,
    id: SessionId,
    message: MessageId,
    rest: &[&str],
) -> Reply {
    let method = request.method();
    let caller: Principal;
    let updated = match (rest, method) {
        ([], &Method::GET) => {
            caller = app.caller(request).await?;
            app.service.get_message(&caller, id, message).await?
        }
        ([], &Method::PATCH) => {
            caller = app.caller(request).await?;
            let edit = body::json::<EditMessage>(request)?;
            app.service
                .edit_message(&caller, id, message, &edit.content)
                .await?
        }
        ([], &Method::DELETE) => {
            caller = app.caller(request).await?;
            app.service.delete_message(&caller, id, message).await?
        }
        ([], _) => return Err(ApiError::MethodNotAllowed("GET, PATCH, DELETE")),
        (["reactions"], &Method::POST) => {
            caller = app.caller(request).await?;
            let add = body::json::<AddReaction>(request)?;
            app.service
                .react(&caller, id, message, &add.reaction, true)
                .await?
        }
        (["reactions"], _) => return Err(ApiError::MethodNotAllowed("POST")),
        (["reactions", reaction], &Method::DELETE) => {
            caller = app.caller(request).await?;
            let reaction = Reaction::parse(reaction)?;
            app.service
                .react(&caller, id, message, &reaction, false)
                .await?
        }
        (["reactions", _], _) => return Err(ApiError::MethodNotAllowed("DELETE")),
        _ => return Err(ApiError::NoRoute),
    };
    Ok(ok(json!({"message": app.service.view(&updated).await})))
}

async fn create_session(app: &App, request: &Request) -> Reply {
    let caller = app.caller(request).await?;
    let new_session = body::json::<CreateSession>(request)?.parse()?;
    let opened = app.service.create_session(&caller, new_session).await?;
    Ok(opened_reply(app, &opened, json!({})).await)
}

/// 201 for a new session, 200 for an active one found instead, with its latest messages
/// and whatever `extra` fields the route adds.
async fn opened_reply(app: &App, opened: &Opened, extra: Value) -> Response<Body> {
    let status = if opened.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut body = json!({
        "session": view(&opened.details),
        "previous_messages": app.service.views(&opened.previous_messages).await,
    });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    reply(status, body)
}

/// Public: a bearer token is optional, and only a visitor token for the same business
/// resumes a session. A bad token is ignored (the caller becomes a new visitor) rather
/// than refused, so an expired visitor token never locks a guest out.
async fn start_support(app: &App, request: &Request) -> Reply {
    let caller = app.caller(request).await.ok();
    let support = body::json::<StartSupport>(request)?.into();
    let (visitor, opened) = app.service.start_support(caller.as_ref(), support).await?;
    let (token, expires_at) = app
        .authenticator
        .issue_visitor_token(&visitor, app.clock.now())
        .map_err(|error| {
            tracing::error!(%error, "cannot sign a visitor token");
            ApiError::Service(chat_shared::service::ServiceError::Internal)
        })?;
    Ok(opened_reply(
        app,
        &opened,
        json!({
            "visitor_token": token,
            "visitor_token_expires_at": expires_at,
            "active": !opened.details.session.is_ended(),
            "resumed": !opened.created,
        }),
    )
    .await)
}

async fn list_sessions(app: &App, request: &Request) -> Reply {
    let caller = app.caller(request).await?;
    let query = body::session_query(request)?;
    let page = app.service.list_sessions(&caller, &query).await?;
    Ok(ok(json!({
        "items": page.items.iter().map(SessionSummary::new).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor,
    })))
}

fn view(details: &SessionDetails) -> SessionView {
    SessionView::new(&details.session, &details.members, details.online.clone())
}
