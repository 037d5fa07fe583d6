//! The REST plumbing both HTTP functions share (`sessions` and `uploads`): responses,
//! method checks, path segments and ids parsed at the boundary.

use chat_shared::domain::ValidationError;
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Error, Response};
use serde_json::Value;

use crate::ApiError;

/// A route's outcome: a response, or an error mapped to one in [`ApiError::into_response`].
pub type Reply = Result<Response<Body>, ApiError>;

/// What a Lambda handler returns for a route's outcome: every request gets a response,
/// errors become error bodies.
pub async fn answer(reply: impl Future<Output = Reply>) -> Result<Response<Body>, Error> {
    Ok(reply.await.unwrap_or_else(ApiError::into_response))
}

pub fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    let text = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned());
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

pub fn ok(value: Value) -> Response<Body> {
    reply(StatusCode::OK, value)
}

pub fn reply(status: StatusCode, value: Value) -> Response<Body> {
    json_response(status, &value)
}

pub fn only(method: &Method, allowed: &Method, allow: &'static str) -> Result<(), ApiError> {
    if method == allowed {
        Ok(())
    } else {
        Err(ApiError::MethodNotAllowed(allow))
    }
}

pub fn parse_id<T>(
    value: &str,
    field: &'static str,
    parse: fn(&str) -> Result<T, ValidationError>,
) -> Result<T, ApiError> {
    parse(value).map_err(|e| ValidationError::new(field, e.reason).into())
}

/// The path's segments, percent-decoded (a reaction travels as `%F0%9F%91%8D`).
pub fn segments(path: &str) -> Result<Vec<String>, ApiError> {
    path.trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|segment| {
            percent_encoding::percent_decode_str(segment)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| ApiError::BadRequest("the path is not valid UTF-8".into()))
        })
        .collect()
}
