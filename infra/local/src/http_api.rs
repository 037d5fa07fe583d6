//! API Gateway's HTTP API (payload format 2.0), played on a laptop.
//!
//! Every request, whatever its method and path, becomes the event API Gateway would send
//! to the Lambda integration of the route it matches (`METHOD /path/{param}` routes, then
//! `$default`). The event goes through JSON and through
//! lambda_http's own deserializer and conversion, exactly as in Lambda, so a handler sees
//! the same `http::Request` and `RequestExt` data locally as deployed. The handler's answer
//! goes back through the v2 response JSON and is mapped to HTTP as API Gateway maps it.
//!
//! Serve the router with `into_make_service_with_connect_info::<SocketAddr>()` so that
//! `requestContext.http.sourceIp` is the client's address (it is `127.0.0.1` otherwise).

use std::{collections::HashMap, net::IpAddr, sync::Arc, time::Instant};

use aws_lambda_events::{
    apigw::{
        ApiGatewayV2httpRequest, ApiGatewayV2httpRequestContext,
        ApiGatewayV2httpRequestContextHttpDescription, ApiGatewayV2httpResponse,
    },
    query_map::QueryMap,
};
use axum::{Router, extract::State, response::Response};
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use bytes::Bytes;
use futures::future::BoxFuture;
use http::{
    HeaderMap, HeaderValue, StatusCode,
    header::{
        CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, SET_COOKIE, TRANSFER_ENCODING, USER_AGENT,
    },
    request::Parts,
};
use lambda_http::{Body, RequestExt, request::LambdaRequest};
use ulid::Ulid;

use crate::gateway_common::{
    self, ACCOUNT_ID, BodyError, TIME_FORMAT, add_forwarding_headers, domain_name, gateway_error,
    header_text, host_and_port, insert_text, panic_message, source_ip, uuid, with_request_id,
};

/// A Lambda handler as lambda_http sees it: the same function a Lambda's main passes to
/// `lambda_http::run`.
pub type HttpHandler = Arc<
    dyn Fn(
            lambda_http::Request,
        ) -> BoxFuture<'static, Result<lambda_http::Response<Body>, lambda_http::Error>>
        + Send
        + Sync,
>;

/// Wraps an async function or closure as an [`HttpHandler`], e.g.
/// `http_handler(move |request| sessions::handle(Arc::clone(&state), request))`.
pub fn http_handler<F, Fut>(handler: F) -> HttpHandler
where
    F: Fn(lambda_http::Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<lambda_http::Response<Body>, lambda_http::Error>> + Send + 'static,
{
    Arc::new(move |request| Box::pin(handler(request)))
}

/// A router as the handler `lambda_http::run(router)` makes of it in Lambda: the request
/// converted from the event in, the router's answer converted as lambda_http converts it.
pub fn router_handler(router: axum::Router) -> HttpHandler {
    http_handler(move |request: lambda_http::Request| {
        let answer = tower::ServiceExt::oneshot(router.clone(), request);
        async move {
            let response = answer.await.unwrap_or_else(|never| match never {});
            Ok(lambda_http::IntoResponse::into_response(response).await)
        }
    })
}

/// API Gateway's payload limit for HTTP APIs: 10 MiB.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// What identifies the API in its events.
#[derive(Clone, Debug)]
pub struct HttpApiOptions {
    /// `requestContext.apiId`, e.g. `local`.
    pub api_id: String,
    /// `requestContext.stage`; `$default` keeps the stage out of the request's path.
    pub stage: String,
    /// Larger bodies are refused with 413 before the handler runs.
    pub max_body_bytes: usize,
    /// The origins the API's CORS configuration allows (`*`: any), as the template's
    /// `CorsConfiguration`: its headers are added to every answer to an allowed origin.
    pub allowed_origins: Vec<String>,
}

impl Default for HttpApiOptions {
    fn default() -> Self {
        Self {
            api_id: "local".to_owned(),
            stage: "$default".to_owned(),
            max_body_bytes: MAX_BODY_BYTES,
            allowed_origins: vec!["*".to_owned()],
        }
    }
}

/// The template's `CorsConfiguration` of the HTTP API.
const CORS_METHODS: &str = "GET, POST, PATCH, DELETE, OPTIONS";
const CORS_HEADERS: &str = "authorization, content-type";
const CORS_EXPOSE: &str = "retry-after";
const CORS_MAX_AGE: &str = "600";

/// Adds the CORS headers API Gateway adds to an answer (the integration's, preflights
/// included: a route that takes `OPTIONS` gets them to its function) when the request
/// comes from an allowed origin.
fn add_cors(options: &HttpApiOptions, request: &HeaderMap, response: &mut Response) {
    let Some(origin) = request
        .get(http::header::ORIGIN)
        .and_then(|o| o.to_str().ok())
    else {
        return;
    };
    let any = options.allowed_origins.iter().any(|o| o == "*");
    if !any && !options.allowed_origins.iter().any(|o| o == origin) {
        return;
    }
    let headers = response.headers_mut();
    let allowed = if any { "*" } else { origin };
    if let Ok(value) = HeaderValue::from_str(allowed) {
        headers.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
    if request.contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD) {
        headers.insert(
            http::header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(CORS_METHODS),
        );
        headers.insert(
            http::header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(CORS_HEADERS),
        );
        headers.insert(
            http::header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(CORS_MAX_AGE),
        );
    } else {
        headers.insert(
            http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(CORS_EXPOSE),
        );
    }
    if !any {
        headers.append(http::header::VARY, HeaderValue::from_static("origin"));
    }
}

/// The catch-all route: its handler routes by itself, as with `{proxy+}`.
const ROUTE_KEY: &str = "$default";
/// API Gateway names every answer's request in this header.
const REQUEST_ID_HEADER: &str = "apigw-requestid";
/// Lambda's deadline is the function's timeout; API Gateway gives up after 30 s anyway.
const INVOCATION_DEADLINE_MS: i64 = 30_000;

/// Media types whose bodies go into the event as text (lambda_http's own list of text types,
/// plus form posts). A body of any other declared type is binary and goes base64-encoded.
const TEXT_TYPE_PREFIXES: [&str; 6] = [
    "text/",
    "application/json",
    "application/javascript",
    "application/xml",
    "application/yaml",
    "application/x-www-form-urlencoded",
];
const TEXT_TYPE_SUFFIXES: [&str; 3] = ["+json", "+xml", "+yaml"];

/// A route of the API with its own integration, keyed as API Gateway keys it:
/// `POST /sessions/{id}/uploads`. Requests no route matches go to `$default`.
#[derive(Clone)]
pub struct Route {
    pub key: String,
    pub handler: HttpHandler,
}

impl Route {
    pub fn new(key: &str, handler: HttpHandler) -> Self {
        Self {
            key: key.to_owned(),
            handler,
        }
    }

    /// The path parameters when the request is this route's.
    fn matches(&self, method: &http::Method, path: &str) -> Option<HashMap<String, String>> {
        let (route_method, template) = self.key.split_once(' ')?;
        if route_method != "ANY" && route_method != method.as_str() {
            return None;
        }
        let wanted: Vec<&str> = template.trim_matches('/').split('/').collect();
        let given: Vec<&str> = path.trim_matches('/').split('/').collect();
        if wanted.len() != given.len() {
            return None;
        }
        let mut parameters = HashMap::new();
        for (want, got) in wanted.iter().zip(&given) {
            match want.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                Some(name) if !got.is_empty() => {
                    parameters.insert(name.to_owned(), (*got).to_owned());
                }
                None if want == got => {}
                _ => return None,
            }
        }
        Some(parameters)
    }
}

struct Api {
    routes: Vec<Route>,
    handler: HttpHandler,
    options: HttpApiOptions,
}

/// An axum Router that turns every request (any method, any path) into the API Gateway
/// HTTP API v2.0 event, runs the handler, and answers as API Gateway would.
pub fn router(handler: HttpHandler, options: HttpApiOptions) -> Router {
    routed(Vec::new(), handler, options)
}

/// Where the local server serves the REST API's OpenAPI document (`chat_rest::openapi`),
/// for clients and tools to read; no route of the API takes this path.
pub const OPENAPI_PATH: &str = "/openapi.json";

/// As [`router`], with `routes` tried first, each going to its own handler, and the
/// OpenAPI document at [`OPENAPI_PATH`].
pub fn routed(routes: Vec<Route>, default: HttpHandler, options: HttpApiOptions) -> Router {
    Router::new()
        .route(OPENAPI_PATH, axum::routing::get(openapi_document))
        .fallback(proxy)
        .with_state(Arc::new(Api {
            routes,
            handler: default,
            options,
        }))
}

async fn openapi_document() -> Response {
    static DOCUMENT: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(chat_rest::openapi_json);
    axum::response::IntoResponse::into_response((
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        DOCUMENT.as_str(),
    ))
}

async fn proxy(State(api): State<Arc<Api>>, request: axum::extract::Request) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let mut response = answer(&api, &parts, body).await;
    add_cors(&api.options, &parts.headers, &mut response);
    // The path only: tokens may travel in the query string.
    tracing::info!(
        "{} {} {} {}ms",
        parts.method,
        parts.uri.path(),
        response.status().as_u16(),
        started.elapsed().as_millis()
    );
    response
}

async fn answer(api: &Api, parts: &Parts, body: axum::body::Body) -> Response {
    let body = match read_body(&parts.headers, body, api.options.max_body_bytes).await {
        Ok(body) => body,
        // Refused before any event exists, yet API Gateway still names the request.
        Err(refusal) => {
            return with_request_id(refusal, REQUEST_ID_HEADER, &Ulid::new().to_string());
        }
    };
    let mut event = build_event(parts, &body, source_ip(parts), &api.options);
    let request_id = event.request_context.request_id.clone().unwrap_or_default();
    let mut handler = &api.handler;
    let matched = api
        .routes
        .iter()
        .find_map(|route| Some((route, route.matches(&parts.method, parts.uri.path())?)));
    if let Some((route, parameters)) = matched {
        handler = &route.handler;
        event.route_key = Some(route.key.clone());
        event.request_context.route_key = Some(route.key.clone());
        event.path_parameters = parameters;
    }

    // Its own task, so that a panicking handler fails this request only, as in Lambda.
    let invocation = tokio::spawn(invoke(Arc::clone(handler), event)).await;
    let response = match invocation {
        Ok(Ok(output)) => gateway_response(&output).unwrap_or_else(|error| {
            tracing::error!("the handler's response is not a valid v2 response: {error}");
            internal_server_error()
        }),
        Ok(Err(error)) => {
            tracing::error!("the handler failed: {error}");
            internal_server_error()
        }
        Err(join_error) => {
            tracing::error!("the handler panicked: {}", panic_message(join_error));
            internal_server_error()
        }
    };
    with_request_id(response, REQUEST_ID_HEADER, &request_id)
}

/// The body, or API Gateway's refusal: 413 over the limit, 400 when it cannot be read.
async fn read_body(
    headers: &HeaderMap,
    body: axum::body::Body,
    limit: usize,
) -> Result<Bytes, Response> {
    gateway_common::read_body(headers, body, limit)
        .await
        .map_err(|error| match error {
            BodyError::TooLarge => too_large(),
            BodyError::Unreadable(error) => {
                tracing::warn!("could not read the request body: {error}");
                gateway_error(StatusCode::BAD_REQUEST, "Bad Request")
            }
        })
}

/// Builds the event exactly as API Gateway does (public so tests can check it).
pub fn build_event(
    parts: &Parts,
    body: &[u8],
    source_ip: IpAddr,
    options: &HttpApiOptions,
) -> ApiGatewayV2httpRequest {
    let now = chrono::Utc::now();
    let domain_name = domain_name(parts);
    let raw_path = parts.uri.path().to_owned();
    let raw_query = parts.uri.query().unwrap_or_default().to_owned();

    // The event types are non-exhaustive: start from their defaults and fill them in.
    let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
    http.method = parts.method.clone();
    http.path = Some(raw_path.clone());
    http.protocol = Some(format!("{:?}", parts.version));
    http.source_ip = Some(source_ip.to_string());
    http.user_agent = Some(
        parts
            .headers
            .get(USER_AGENT)
            .map(header_text)
            .unwrap_or_default()
            .into_owned(),
    );

    let mut context = ApiGatewayV2httpRequestContext::default();
    context.route_key = Some(ROUTE_KEY.to_owned());
    context.account_id = Some(ACCOUNT_ID.to_owned());
    context.stage = Some(options.stage.clone());
    context.request_id = Some(Ulid::new().to_string());
    context.apiid = Some(options.api_id.clone());
    context.domain_prefix = Some(domain_prefix(&domain_name).to_owned());
    context.domain_name = Some(domain_name.clone());
    context.time = Some(now.format(TIME_FORMAT).to_string());
    context.time_epoch = now.timestamp_millis();
    context.http = http;

    let mut event = ApiGatewayV2httpRequest::default();
    event.version = Some("2.0".to_owned());
    event.route_key = Some(ROUTE_KEY.to_owned());
    event.raw_path = Some(raw_path);
    event.cookies = cookies(&parts.headers);
    event.headers = event_headers(&parts.headers, &domain_name, source_ip, now.timestamp());
    // Repeated keys stay separate here; the event's serializer joins them with commas.
    event.query_string_parameters = raw_query
        .parse::<QueryMap>()
        .unwrap_or_else(|never| match never {});
    event.raw_query_string = Some(raw_query);
    event.request_context = context;
    if !body.is_empty() {
        let declared_binary = parts
            .headers
            .get(CONTENT_TYPE)
            .is_some_and(|value| !is_text_type(&header_text(value)));
        match std::str::from_utf8(body) {
            Ok(text) if !declared_binary => event.body = Some(text.to_owned()),
            _ => {
                event.body = Some(BASE64.encode(body));
                event.is_base64_encoded = true;
            }
        }
    }
    event
}

/// The event as API Gateway sends it: the serialized type minus what API Gateway never
/// sends (the custom-authorizer-v1 fields, which serialize as nulls and a default
/// `httpMethod`, and empty `stageVariables`).
pub fn event_json(event: &ApiGatewayV2httpRequest) -> serde_json::Result<serde_json::Value> {
    gateway_common::event_json(event, |key, value| {
        let empty_map = value.as_object().is_some_and(serde_json::Map::is_empty);
        key == "httpMethod" || (key == "stageVariables" && empty_map)
    })
}

/// The first label of the host name (`id` for `id.execute-api...`), or the whole address
/// when the host is an IP address.
fn domain_prefix(domain_name: &str) -> &str {
    let host = host_and_port(domain_name).0;
    if host.parse::<IpAddr>().is_ok() {
        host
    } else {
        host.split('.').next().unwrap_or(host)
    }
}

/// Every Cookie header's pairs, in order; API Gateway moves them out of `headers`.
fn cookies(headers: &HeaderMap) -> Option<Vec<String>> {
    let cookies: Vec<String> = headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|value| {
            header_text(value)
                .split(';')
                .map(str::trim)
                .filter(|pair| !pair.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    (!cookies.is_empty()).then_some(cookies)
}

/// The request's headers as API Gateway forwards them: one lower-case entry per name with
/// repeated values joined by commas, no Cookie, plus the forwarding and trace headers API
/// Gateway adds.
fn event_headers(
    headers: &HeaderMap,
    domain_name: &str,
    source_ip: IpAddr,
    epoch_seconds: i64,
) -> HeaderMap {
    let mut forwarded = HeaderMap::new();
    for name in headers.keys().filter(|name| **name != COOKIE) {
        let joined = headers
            .get_all(name)
            .iter()
            .map(header_text)
            .collect::<Vec<_>>()
            .join(",");
        insert_text(&mut forwarded, name.clone(), &joined);
    }
    add_forwarding_headers(&mut forwarded, domain_name, source_ip, epoch_seconds);
    forwarded
}

fn is_text_type(content_type: &str) -> bool {
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    TEXT_TYPE_PREFIXES
        .iter()
        .any(|prefix| media_type.starts_with(prefix))
        || TEXT_TYPE_SUFFIXES
            .iter()
            .any(|suffix| media_type.ends_with(suffix))
}

/// The Lambda side of one invocation: the event JSON in, the response JSON out, through
/// the same types and conversions lambda_http uses in Lambda.
async fn invoke(
    handler: HttpHandler,
    event: ApiGatewayV2httpRequest,
) -> Result<Vec<u8>, lambda_http::Error> {
    let payload = serde_json::to_vec(&event_json(&event)?)?;
    let lambda_request: LambdaRequest = serde_json::from_slice(&payload)?;
    if !matches!(lambda_request, LambdaRequest::ApiGatewayV2(_)) {
        let origin = lambda_request.request_origin();
        return Err(format!("lambda_http read the event as {origin:?}, not as HTTP API v2").into());
    }
    let request =
        lambda_http::Request::from(lambda_request).with_lambda_context(lambda_context(&event));
    let response = handler(request).await?;
    Ok(serde_json::to_vec(&v2_response(response))?)
}

/// The invocation's context, as the Lambda runtime would hand it to lambda_http.
fn lambda_context(event: &ApiGatewayV2httpRequest) -> lambda_http::Context {
    let mut context = lambda_http::Context::default();
    // Lambda's request ids are UUIDs.
    context.request_id = uuid(Ulid::new().0);
    let deadline = chrono::Utc::now().timestamp_millis() + INVOCATION_DEADLINE_MS;
    context.deadline = u64::try_from(deadline).unwrap_or_default();
    context.xray_trace_id = event
        .headers
        .get("x-amzn-trace-id")
        .map(|trace| header_text(trace).into_owned());
    context
}

/// What lambda_http's `LambdaResponse::from_response` builds for an HTTP API v2 request
/// (that function is crate-private): Set-Cookie headers move to `cookies`, a binary body is
/// base64-encoded when serialized.
fn v2_response(response: lambda_http::Response<Body>) -> ApiGatewayV2httpResponse {
    let (parts, body) = response.into_parts();
    let mut headers = parts.headers;
    let cookies = headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap_or_default().to_owned())
        .collect();
    headers.remove(SET_COOKIE);

    let mut output = ApiGatewayV2httpResponse::default();
    output.status_code = i64::from(parts.status.as_u16());
    output.headers = headers;
    output.cookies = cookies;
    (output.is_base64_encoded, output.body) = match body {
        Body::Text(text) => (false, Some(Body::Text(text))),
        Body::Binary(bytes) => (true, Some(Body::Binary(bytes))),
        _ => (false, None),
    };
    output
}

/// API Gateway's mapping of a v2 response: status, headers, each cookie as a Set-Cookie
/// header, and the body, base64-decoded when flagged.
fn gateway_response(output: &[u8]) -> Result<Response, lambda_http::Error> {
    let output: ApiGatewayV2httpResponse = serde_json::from_slice(output)?;
    let status = u16::try_from(output.status_code)
        .ok()
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or_else(|| format!("invalid status code {}", output.status_code))?;
    let body = match output.body {
        Some(body) if output.is_base64_encoded => Bytes::from(BASE64.decode(body.as_ref())?),
        Some(body) => Bytes::copy_from_slice(body.as_ref()),
        None => Bytes::new(),
    };

    let mut response = Response::new(axum::body::Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    // Format 2.0 has no multiValueHeaders: only `headers` counts. Framing headers are the
    // gateway's own business, not the function's.
    headers.extend(output.headers);
    for framing in [CONTENT_LENGTH, TRANSFER_ENCODING, CONNECTION] {
        headers.remove(framing);
    }
    for cookie in output.cookies {
        headers.append(SET_COOKIE, HeaderValue::from_str(&cookie)?);
    }
    Ok(response)
}

fn internal_server_error() -> Response {
    gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}

fn too_large() -> Response {
    gateway_error(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large")
}
