//! `/usage`: what the bot's replies cost, per user and UTC day. Admins list a day's users;
//! a user reads their own day (an admin anyone's), with what is left of the day's budget.

use std::sync::Arc;

use axum::Router;
use axum::extract::State as With;
use axum::response::Response;
use axum::routing::get;
use chat_core::domain::{Day, Usage};
use http::StatusCode;
use serde::Serialize;

use crate::error::ApiError;
use crate::extract::{Caller, Query, UserPath};
use crate::reply::json_response;
use crate::{State, allow};

type Result<T> = std::result::Result<T, ApiError>;
type App = With<Arc<State>>;

pub fn routes() -> Router<Arc<State>> {
    Router::new()
        .route("/usage", allow("GET", get(list)))
        .route("/usage/{id}", allow("GET", get(read)))
}

fn day(query: &Query) -> Result<Option<Day>> {
    Ok(query.param("day", Day::parse)?)
}

#[derive(Serialize)]
struct DayPage<'a> {
    day: Day,
    items: &'a [Usage],
    next_cursor: Option<chat_core::domain::Cursor>,
    token_limit: u64,
}

#[utoipa::path(get, path = "/usage", tag = "usage", operation_id = "list_usage", params(crate::openapi::UsageQuery),
    responses((status = 200, description = "A day's usage, user by user (admins)", body = crate::openapi::DayUsage)))]
async fn list(With(app): App, Caller(caller): Caller, query: Query) -> Result<Response> {
    let (day, cursor, limit) = (day(&query)?, query.cursor()?, query.limit()?);
    let (day, page) = app
        .chat
        .usage_on(&caller, day, cursor.as_ref(), limit)
        .await?;
    let token_limit = app.chat.rates().bot_tokens_per_user;
    Ok(json_response(
        StatusCode::OK,
        &DayPage {
            day,
            items: &page.items,
            next_cursor: page.next_cursor.clone(),
            token_limit,
        },
    ))
}

#[derive(Serialize)]
struct UserDay<'a> {
    #[serde(flatten)]
    usage: &'a Usage,
    token_limit: u64,
    tokens_left: u64,
}

#[utoipa::path(get, path = "/usage/{id}", tag = "usage", operation_id = "read_usage", params(crate::openapi::DayQuery),
    responses((status = 200, description = "The user's day, with what is left of its budget", body = crate::openapi::UserDayUsage)))]
async fn read(
    With(app): App,
    UserPath(user): UserPath,
    Caller(caller): Caller,
    query: Query,
) -> Result<Response> {
    let report = app.chat.user_usage(&caller, &user, day(&query)?).await?;
    Ok(json_response(
        StatusCode::OK,
        &UserDay {
            usage: &report.usage,
            token_limit: report.token_limit,
            tokens_left: report.token_limit.saturating_sub(report.usage.tokens),
        },
    ))
}
