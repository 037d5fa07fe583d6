//! The local HTTP API against API Gateway's own event fixtures and, over real sockets, against
//! what a handler running under lambda_http in Lambda would see and answer.
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chat_local::http_api::{
    HttpApiOptions, HttpHandler, build_event, event_json, http_handler, router,
};
use lambda_http::{Body, Request, RequestExt, RequestPayloadExt, Response, request::LambdaRequest};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::{LOGGED, fixture, key_paths};

const INTERNAL_SERVER_ERROR: &str = r#"{"message":"Internal Server Error"}"#;
const TOO_LARGE: &str = r#"{"message":"Request Entity Too Large"}"#;

// ---------------------------------------------------------------------------------------
// The event itself
// ---------------------------------------------------------------------------------------

/// Fields we never produce locally: mutual TLS, authorizers (the HTTP API has none), route
/// path parameters (only `$default`) and stage variables (none configured).
const NOT_PRODUCED: [&str; 4] = [
    "requestContext.authentication",
    "requestContext.authorizer",
    "pathParameters",
    "stageVariables",
];

/// The request behind `example-apigw-v2-request-no-authorizer.json`.
fn curl_get() -> http::Request<()> {
    http::Request::get("/")
        .header("accept", "*/*")
        .header("content-length", "0")
        .header("host", "127.0.0.1:3000")
        .header("user-agent", "curl/7.58.0")
        .body(())
        .unwrap()
}

/// The request behind `example-apigw-v2-request-multi-value-parameters.json`.
fn multi_value_get() -> http::Request<()> {
    http::Request::get("/my/path?Parameter1=value1&Parameter1=value2")
        .header("Header2", "value1")
        .header("Header2", "value2")
        .header("cookie", "cookie1; cookie2")
        .body(())
        .unwrap()
}

const MULTI_VALUE_BODY: &[u8] = b"{\r\n\t\"a\": 1\r\n}";

fn event_for(request: http::Request<()>, body: &[u8]) -> ApiGatewayV2httpRequest {
    let (parts, ()) = request.into_parts();
    let source_ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
    build_event(&parts, body, source_ip, &HttpApiOptions::default())
}

fn json_for(request: http::Request<()>, body: &[u8]) -> Value {
    event_json(&event_for(request, body)).unwrap()
}

fn produced(path: &str) -> bool {
    !NOT_PRODUCED.iter().any(|skipped| path.starts_with(skipped))
}

fn fixture_cases() -> Vec<(&'static str, Value)> {
    vec![
        (
            "example-apigw-v2-request-no-authorizer.json",
            json_for(curl_get(), b""),
        ),
        (
            "example-apigw-v2-request-multi-value-parameters.json",
            json_for(multi_value_get(), MULTI_VALUE_BODY),
        ),
    ]
}

#[test]
fn the_event_has_every_field_of_api_gateways_own_events() {
    for (name, ours) in fixture_cases() {
        let ours_paths = key_paths(&ours);
        let missing: Vec<String> = key_paths(&fixture(name))
            .into_iter()
            .filter(|path| produced(path) && !ours_paths.contains(path))
            .collect();
        assert!(
            missing.is_empty(),
            "{name}: our event lacks {missing:?}\n{ours:#}"
        );
    }
}

#[test]
fn the_event_has_no_field_api_gateway_does_not_send() {
    let known: BTreeSet<String> = fixture_cases()
        .iter()
        .flat_map(|(name, _)| key_paths(&fixture(name)))
        .collect();
    for (name, ours) in fixture_cases() {
        let unknown: Vec<String> = key_paths(&ours).difference(&known).cloned().collect();
        assert!(
            unknown.is_empty(),
            "{name}: our event adds {unknown:?}\n{ours:#}"
        );
    }
}

#[test]
fn the_event_carries_the_fixtures_values_for_the_same_request() {
    let ours = json_for(multi_value_get(), MULTI_VALUE_BODY);
    let theirs = fixture("example-apigw-v2-request-multi-value-parameters.json");
    for field in [
        "version",
        "routeKey",
        "rawPath",
        "rawQueryString",
        "cookies",
    ] {
        assert_eq!(ours[field], theirs[field], "{field}");
    }
    assert_eq!(
        ours["queryStringParameters"],
        theirs["queryStringParameters"]
    );
    assert_eq!(ours["headers"]["header2"], theirs["headers"]["Header2"]);
    assert_eq!(ours["body"], theirs["body"]);
    assert_eq!(ours["isBase64Encoded"], theirs["isBase64Encoded"]);
    assert_eq!(ours["requestContext"]["http"]["method"], "GET");
    assert_eq!(ours["requestContext"]["http"]["path"], "/my/path");
    assert_eq!(ours["requestContext"]["http"]["protocol"], "HTTP/1.1");
}

#[test]
fn the_event_reads_back_as_api_gateways_type_and_as_lambda_https_request() {
    for (name, ours) in fixture_cases() {
        let text = ours.to_string();
        let typed: ApiGatewayV2httpRequest = serde_json::from_str(&text).unwrap();
        assert_eq!(typed.version.as_deref(), Some("2.0"), "{name}");
        let lambda: LambdaRequest = serde_json::from_str(&text).unwrap();
        assert!(
            matches!(lambda, LambdaRequest::ApiGatewayV2(_)),
            "{name}: {lambda:?}"
        );
    }
}

#[test]
fn the_event_reports_path_query_headers_cookies_and_context_as_api_gateway_does() {
    let request = || {
        http::Request::post("/sessions/a%20b?token=secret&tag=a&tag=b%2Cc&q=hello%20world")
            .header("host", "127.0.0.1:3000")
            .header("user-agent", "test-agent")
            .header("x-repeated", "one")
            .header("x-repeated", "two")
            .header("cookie", "a=1; b=2")
            .header("cookie", "c=3")
            .header("x-forwarded-for", "10.0.0.1")
            .body(())
            .unwrap()
    };
    let event = json_for(request(), br#"{"title":"hi"}"#);

    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "$default");
    assert_eq!(event["rawPath"], "/sessions/a%20b");
    assert_eq!(
        event["rawQueryString"],
        "token=secret&tag=a&tag=b%2Cc&q=hello%20world"
    );
    assert_eq!(
        event["queryStringParameters"],
        json!({"token": "secret", "tag": "a,b,c", "q": "hello world"})
    );
    assert_eq!(event["cookies"], json!(["a=1", "b=2", "c=3"]));
    assert!(event.get("pathParameters").is_none());

    let headers = &event["headers"];
    assert!(headers.get("cookie").is_none(), "{headers}");
    assert_eq!(headers["x-repeated"], "one,two");
    assert_eq!(headers["x-forwarded-for"], "10.0.0.1, 192.0.2.7");
    assert_eq!(headers["x-forwarded-port"], "3000");
    assert_eq!(headers["x-forwarded-proto"], "http");
    let trace = headers["x-amzn-trace-id"].as_str().unwrap();
    let parts: Vec<&str> = trace.strip_prefix("Root=1-").unwrap().split('-').collect();
    assert_eq!(
        parts.iter().map(|part| part.len()).collect::<Vec<_>>(),
        [8, 24]
    );
    assert!(
        parts.concat().chars().all(|c| c.is_ascii_hexdigit()),
        "{trace}"
    );

    let context = &event["requestContext"];
    assert_eq!(context["accountId"], "123456789012");
    assert_eq!(context["apiId"], "local");
    assert_eq!(context["domainName"], "127.0.0.1:3000");
    assert_eq!(context["domainPrefix"], "127.0.0.1");
    assert_eq!(context["routeKey"], "$default");
    assert_eq!(context["stage"], "$default");
    assert_eq!(
        context["http"],
        json!({
            "method": "POST",
            "path": "/sessions/a%20b",
            "protocol": "HTTP/1.1",
            "sourceIp": "192.0.2.7",
            "userAgent": "test-agent",
        })
    );
    let time =
        chrono::DateTime::parse_from_str(context["time"].as_str().unwrap(), "%d/%b/%Y:%H:%M:%S %z")
            .unwrap();
    assert_eq!(
        time.timestamp(),
        context["timeEpoch"].as_i64().unwrap() / 1000
    );
    assert!(context["time"].as_str().unwrap().ends_with(" +0000"));

    let other = json_for(request(), b"");
    assert_ne!(context["requestId"], other["requestContext"]["requestId"]);
}

#[test]
fn a_body_is_text_when_it_is_utf8_of_a_text_type_and_base64_otherwise() {
    let with_type = |content_type: Option<&str>| {
        let mut request = http::Request::post("/");
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.body(()).unwrap()
    };
    let cases: [(Option<&str>, &[u8], bool); 6] = [
        (None, b"plain words", false),
        (Some("application/json; charset=utf-8"), b"{}", false),
        (Some("application/problem+json"), b"{}", false),
        (None, &[0xff, 0x00, 0xfe], true),
        (Some("text/plain"), &[0xc3, 0x28], true),
        (Some("image/png"), b"PNG but valid UTF-8", true),
    ];
    for (content_type, body, binary) in cases {
        let event = event_for(with_type(content_type), body);
        assert_eq!(event.is_base64_encoded, binary, "{content_type:?}");
        let sent = event.body.unwrap();
        let decoded = if binary {
            BASE64.decode(sent).unwrap()
        } else {
            sent.into_bytes()
        };
        assert_eq!(decoded, body, "{content_type:?}");
    }

    let empty = event_json(&event_for(with_type(None), b"")).unwrap();
    assert!(empty.get("body").is_none());
    assert_eq!(empty["isBase64Encoded"], false);
}

// ---------------------------------------------------------------------------------------
// Over HTTP
// ---------------------------------------------------------------------------------------

async fn serve(handler: HttpHandler, options: HttpApiOptions) -> SocketAddr {
    common::serve(router(handler, options)).await
}

fn ok(body: impl Into<Body>) -> Result<Response<Body>, lambda_http::Error> {
    Ok(Response::new(body.into()))
}

/// Describes, as JSON, the request it received, through lambda_http's own accessors.
fn echo() -> HttpHandler {
    http_handler(|request: Request| async move {
        let mut query: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (key, value) in request.query_string_parameters().iter() {
            query
                .entry(key.to_owned())
                .or_default()
                .push(value.to_owned());
        }
        let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in request.headers() {
            let value = value.to_str()?.to_owned();
            headers.entry(name.to_string()).or_default().push(value);
        }
        let description = json!({
            "method": request.method().as_str(),
            "uri": request.uri().to_string(),
            "raw_http_path": request.raw_http_path(),
            "query": query,
            "headers": headers,
            "context": serde_json::to_value(request.request_context())?,
            "lambda_request_id": request.lambda_context_ref().map(|context| context.request_id.clone()),
            "json": request.json::<Value>().map_err(|error| format!("{error:?}"))?,
            "body_kind": body_kind(request.body()),
        });
        ok(description.to_string())
    })
}

fn body_kind(body: &Body) -> &'static str {
    match body {
        Body::Text(_) => "text",
        Body::Binary(_) => "binary",
        _ => "empty",
    }
}

/// Answers with the very body it received, in the same lambda_http variant.
fn mirror() -> HttpHandler {
    http_handler(|request: Request| async move {
        let kind = body_kind(request.body());
        let mut response = Response::new(request.into_body());
        response
            .headers_mut()
            .insert("x-body-kind", http::HeaderValue::from_static(kind));
        Ok(response)
    })
}

/// Answers 200 and counts its calls.
fn counting(calls: Arc<AtomicUsize>) -> HttpHandler {
    http_handler(move |_request: Request| {
        calls.fetch_add(1, Ordering::SeqCst);
        async { ok("counted") }
    })
}

async fn assert_gateway_error(response: reqwest::Response, status: u16, body: &str) {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(response.headers().contains_key("apigw-requestid"));
    assert_eq!(response.text().await.unwrap(), body);
}

#[tokio::test]
async fn the_handler_sees_the_request_as_lambda_http_presents_it_in_lambda() {
    let address = serve(echo(), HttpApiOptions::default()).await;
    let url =
        format!("http://{address}/sessions/a%20b?token=secret&tag=a&tag=b%2Cc&q=hello%20world");
    let sent = json!({"title": "Support", "kind": "group", "members": ["u1", "u2"]});
    let response = reqwest::Client::new()
        .post(&url)
        .header("x-repeated", "one")
        .header("x-repeated", "two")
        .header("cookie", "a=1; b=2")
        .json(&sent)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let request_id = response.headers()["apigw-requestid"]
        .to_str()
        .unwrap()
        .to_owned();
    let seen: Value = response.json().await.unwrap();

    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["uri"], url);
    assert_eq!(seen["raw_http_path"], "/sessions/a%20b");
    assert_eq!(
        seen["query"],
        json!({"q": ["hello world"], "tag": ["a", "b,c"], "token": ["secret"]})
    );
    let headers = &seen["headers"];
    assert_eq!(headers["x-repeated"], json!(["one,two"]));
    assert_eq!(headers["cookie"], json!(["a=1; b=2"]));
    assert_eq!(headers["content-type"], json!(["application/json"]));
    assert_eq!(headers["host"], json!([address.to_string()]));
    assert_eq!(headers["x-forwarded-for"], json!(["127.0.0.1"]));
    assert_eq!(headers["x-forwarded-proto"], json!(["http"]));

    let context = &seen["context"];
    assert_eq!(context["http"]["method"], "POST");
    assert_eq!(context["http"]["path"], "/sessions/a%20b");
    assert_eq!(context["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(context["apiId"], "local");
    assert_eq!(context["stage"], "$default");
    assert_eq!(context["routeKey"], "$default");
    assert_eq!(context["domainName"], address.to_string());
    assert_eq!(context["requestId"], request_id);
    assert_eq!(seen["lambda_request_id"].as_str().unwrap().len(), 36);

    assert_eq!(seen["json"], sent);
    assert_eq!(seen["body_kind"], "text");
}

#[tokio::test]
async fn a_binary_body_round_trips_byte_for_byte() {
    let address = serve(mirror(), HttpApiOptions::default()).await;
    let bytes: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let response = reqwest::Client::new()
        .put(format!("http://{address}/uploads/blob"))
        .header("content-type", "application/octet-stream")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["x-body-kind"], "binary");
    assert_eq!(response.bytes().await.unwrap(), bytes);
}

#[tokio::test]
async fn a_handler_error_gets_api_gateways_500() {
    let failing = http_handler(|_request: Request| async { Err("the store is down".into()) });
    let address = serve(failing, HttpApiOptions::default()).await;
    let response = reqwest::get(format!("http://{address}/sessions"))
        .await
        .unwrap();
    assert_gateway_error(response, 500, INTERNAL_SERVER_ERROR).await;
}

#[tokio::test]
async fn a_handler_panic_gets_api_gateways_500_and_later_requests_still_work() {
    let fragile = http_handler(|request: Request| async move {
        if request.uri().path() == "/boom" {
            panic!("the handler blew up");
        }
        ok("fine")
    });
    let address = serve(fragile, HttpApiOptions::default()).await;
    let response = reqwest::get(format!("http://{address}/boom"))
        .await
        .unwrap();
    assert_gateway_error(response, 500, INTERNAL_SERVER_ERROR).await;

    let response = reqwest::get(format!("http://{address}/fine"))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.unwrap(), "fine");
}

fn small_limit() -> HttpApiOptions {
    HttpApiOptions {
        max_body_bytes: 1024,
        ..HttpApiOptions::default()
    }
}

#[tokio::test]
async fn an_oversize_body_gets_413_and_never_reaches_the_handler() {
    let calls = Arc::new(AtomicUsize::new(0));
    let address = serve(counting(Arc::clone(&calls)), small_limit()).await;
    let client = reqwest::Client::new();
    let url = format!("http://{address}/sessions/s1/attachments");

    let response = client
        .post(&url)
        .body(vec![b'x'; 1025])
        .send()
        .await
        .unwrap();
    assert_gateway_error(response, 413, TOO_LARGE).await;
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    let response = client
        .post(&url)
        .body(vec![b'x'; 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_oversize_chunked_body_without_a_length_gets_413_too() {
    let calls = Arc::new(AtomicUsize::new(0));
    let address = serve(counting(Arc::clone(&calls)), small_limit()).await;
    let chunk = vec![b'x'; 2048];
    let mut request = format!(
        "POST /sessions HTTP/1.1\r\nhost: {address}\r\ntransfer-encoding: chunked\r\n\
         connection: close\r\n\r\n{:x}\r\n",
        chunk.len()
    )
    .into_bytes();
    request.extend_from_slice(&chunk);
    request.extend_from_slice(b"\r\n0\r\n\r\n");

    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(&request).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8(response).unwrap();
    assert!(response.starts_with("HTTP/1.1 413 "), "{response}");
    assert!(response.ends_with(TOO_LARGE), "{response}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_response_keeps_its_status_headers_body_and_every_set_cookie() {
    let cookies = http_handler(|_request: Request| async {
        Ok(Response::builder()
            .status(201)
            .header("content-type", "text/plain")
            .header("x-custom", "kept")
            .header("set-cookie", "a=1; Path=/")
            .header("set-cookie", "b=2; HttpOnly")
            .body(Body::from("created"))?)
    });
    let address = serve(cookies, HttpApiOptions::default()).await;
    let response = reqwest::get(format!("http://{address}/sessions"))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/plain");
    assert_eq!(headers["x-custom"], "kept");
    let set_cookies: Vec<&str> = headers
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap())
        .collect();
    assert_eq!(set_cookies, ["a=1; Path=/", "b=2; HttpOnly"]);
    assert_eq!(response.text().await.unwrap(), "created");
}

// ---------------------------------------------------------------------------------------
// Logging
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn each_request_is_logged_with_method_path_status_and_latency_but_never_the_query() {
    let address = serve(
        http_handler(|_request: Request| async { ok("") }),
        HttpApiOptions::default(),
    )
    .await;
    let url = format!("http://{address}/logged/messages?token=sup3rs3cret");
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);

    let lines: Vec<String> = LOGGED
        .lock()
        .unwrap()
        .iter()
        .filter(|line| line.contains("/logged/") || line.contains("sup3rs3cret"))
        .cloned()
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let latency = lines[0]
        .strip_prefix("GET /logged/messages 200 ")
        .and_then(|rest| rest.strip_suffix("ms"))
        .unwrap_or_else(|| panic!("unexpected log line {:?}", lines[0]));
    assert!(latency.parse::<u64>().is_ok(), "{latency}");
}
