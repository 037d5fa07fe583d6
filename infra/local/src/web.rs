//! The web client (`web/` at the top of the repository), served at `/` with the
//! `config.json` that points it at this server, and `POST /_local/token`, which issues a
//! development token for a name and role (loopback only, like every route here).

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

/// The client's files, built into the binary so it serves them wherever it runs.
const FILES: &[(&str, &str, &str)] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("../../../web/index.html"),
    ),
    (
        "/index.html",
        "text/html; charset=utf-8",
        include_str!("../../../web/index.html"),
    ),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../web/app.js"),
    ),
    (
        "/api.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../web/api.js"),
    ),
    (
        "/chat.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../web/chat.js"),
    ),
    (
        "/style.css",
        "text/css; charset=utf-8",
        include_str!("../../../web/style.css"),
    ),
];

/// The page runs only its own scripts and styles; it talks to the two APIs (which a
/// config may put on other origins) and shows files from their download links.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self' http: https: ws: wss:; img-src 'self' data: http: https:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// Where tokens are asked for.
pub const TOKEN_PATH: &str = "/_local/token";

#[derive(Clone)]
struct Site {
    /// `config.json`: the two APIs the client talks to, and that it may ask for tokens.
    config: String,
    jwt_secret: String,
}

/// What `config.json` tells the client: the two APIs, that it may ask for development
/// tokens, and the identity provider's sign-in page when one is configured.
pub fn client_config(http_url: &str, ws_url: &str, options: &crate::Options) -> serde_json::Value {
    let mut config = serde_json::json!({ "api": http_url, "ws": ws_url, "dev_tokens": true });
    if let (Some(authorize_url), Some(token_url), Some(client_id)) = (
        &options.oidc_authorize_url,
        &options.oidc_token_url,
        &options.oidc_client_id,
    ) {
        config["oidc"] = serde_json::json!({
            "authorize_url": authorize_url,
            "token_url": token_url,
            "client_id": client_id,
            "scope": "openid profile",
        });
    }
    config
}

pub fn router(config: serde_json::Value, jwt_secret: &str) -> Router {
    let site = Site {
        config: config.to_string(),
        jwt_secret: jwt_secret.to_owned(),
    };
    let mut router = Router::new()
        .route("/config.json", get(config_file))
        .route(TOKEN_PATH, post(issue_token));
    for &(path, content_type, body) in FILES {
        router = router.route(
            path,
            get(move || async move {
                (
                    [
                        (header::CONTENT_TYPE, content_type),
                        (header::CACHE_CONTROL, "no-cache"),
                        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
                    ],
                    body,
                )
            }),
        );
    }
    router.with_state(site)
}

async fn config_file(State(site): State<Site>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        site.config,
    )
        .into_response()
}

#[derive(Deserialize)]
struct TokenAsked {
    sub: String,
    name: Option<String>,
    role: Option<String>,
    org: Option<String>,
}

async fn issue_token(State(site): State<Site>, body: axum::body::Bytes) -> Response {
    let refused =
        |message: String| crate::local_error(StatusCode::BAD_REQUEST, "invalid_request", &message);
    let asked: TokenAsked = match serde_json::from_slice(&body) {
        Ok(asked) => asked,
        Err(error) => return refused(format!("the body is {{sub, name?, role?, org?}}: {error}")),
    };
    // The claims as the server will read them: a token it would refuse is never issued.
    let checked = chat_core::domain::Principal::from_claims(
        &asked.sub,
        asked.role.as_deref(),
        asked.name.as_deref(),
        asked.org.as_deref(),
    );
    if let Err(error) = checked {
        return refused(error.to_string());
    }
    let request = crate::TokenRequest {
        sub: asked.sub,
        role: asked.role.unwrap_or_else(|| "user".to_owned()),
        name: asked.name,
        org: asked.org,
        hours: 24,
    };
    match crate::mint_token(&site.jwt_secret, &request) {
        Ok(token) => axum::Json(serde_json::json!({ "token": token })).into_response(),
        Err(error) => refused(error.to_string()),
    }
}
