//! Token extraction and verification, through the public API only.
//!
//! The RSA / EC keys are test-only fixtures; a tiny axum server on
//! 127.0.0.1:0 plays the identity provider's JWKS endpoint and counts how
//! often it is asked.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chat_core::auth::{
    AuthError, AuthSettings, Claims, FoundToken, KeySource, TokenSource, TokenVerifier,
    find_bearer_token, find_websocket_token, issue_hs256,
};
use chat_providers::HttpKeySets;
use chat_testkit::jwt::forge;
use http::HeaderMap;
use http::header::{AUTHORIZATION, COOKIE, HeaderName, HeaderValue, SEC_WEBSOCKET_PROTOCOL};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};

/// Key sets fetched over HTTP, as deployed.
fn key_sets() -> Arc<HttpKeySets> {
    Arc::new(HttpKeySets::new())
}

fn verifier_for(settings: AuthSettings) -> TokenVerifier {
    TokenVerifier::new(settings, key_sets())
}

const HS_SECRET: &[u8] = b"test-only-hs256-secret-0123456789";
const RSA_PRIVATE_PEM: &str = include_str!("fixtures/auth/rsa_private.pem");
const RSA_PUBLIC_PEM: &str = include_str!("fixtures/auth/rsa_public.pem");
const EC_PRIVATE_PEM: &str = include_str!("fixtures/auth/ec_private.pem");
const JWKS_JSON: &str = include_str!("fixtures/auth/jwks.json");
const RSA_KID: &str = "test-rsa-1";
const EC_KID: &str = "test-ec-1";

// ---------------------------------------------------------------------------
// Helpers: tokens
// ---------------------------------------------------------------------------

fn now() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(since_epoch.as_secs()).expect("seconds fit in i64")
}

fn good_claims() -> Claims {
    Claims {
        sub: "user-42".into(),
        exp: now() + 600,
        iat: Some(now()),
        role: Some("agent".into()),
        name: Some("Ada".into()),
        org: Some("acme".into()),
        iss: None,
        aud: None,
    }
}

/// The good claims as JSON, edited by `edit`: how tests build bad payloads.
fn payload_with(edit: impl FnOnce(&mut Map<String, Value>)) -> Value {
    let mut payload = serde_json::to_value(good_claims()).expect("claims serialize");
    edit(payload.as_object_mut().expect("claims are an object"));
    payload
}

fn good_payload() -> Value {
    payload_with(|_| {})
}

/// The fixtures are plain PEM; the DER inside is what `jsonwebtoken` takes
/// without its optional PEM feature.
fn pem_to_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).expect("fixture PEM is base64")
}

fn signing_key(alg: Algorithm) -> EncodingKey {
    match alg {
        Algorithm::HS256 => EncodingKey::from_secret(HS_SECRET),
        Algorithm::RS256 => EncodingKey::from_rsa_der(&pem_to_der(RSA_PRIVATE_PEM)),
        Algorithm::ES256 => EncodingKey::from_ec_der(&pem_to_der(EC_PRIVATE_PEM)),
        other => panic!("no test key for {other:?}"),
    }
}

fn sign_with(alg: Algorithm, kid: Option<&str>, payload: &Value, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, payload, key).expect("test token signs")
}

fn sign(alg: Algorithm, kid: Option<&str>, payload: &Value) -> String {
    sign_with(alg, kid, payload, &signing_key(alg))
}

/// A token with the good claims, signed by the fixture key of `alg` and
/// naming that key's `kid` (HS256 tokens carry none).
fn good_token(alg: Algorithm) -> String {
    let kid = match alg {
        Algorithm::RS256 => Some(RSA_KID),
        Algorithm::ES256 => Some(EC_KID),
        _ => None,
    };
    sign(alg, kid, &good_payload())
}

fn hs256_with_payload(payload: &Value) -> String {
    sign(Algorithm::HS256, None, payload)
}

// ---------------------------------------------------------------------------
// Helpers: verifiers
// ---------------------------------------------------------------------------

fn hs_settings() -> AuthSettings {
    AuthSettings {
        keys: KeySource::Hs256 {
            secret: HS_SECRET.to_vec(),
        },
        issuer: None,
        audience: None,
        leeway_secs: 0,
    }
}

fn hs_verifier() -> TokenVerifier {
    verifier_for(hs_settings())
}

fn jwks_verifier(url: &str) -> TokenVerifier {
    verifier_for(jwks_settings(url))
}

fn jwks_settings(url: &str) -> AuthSettings {
    AuthSettings {
        keys: KeySource::Jwks {
            url: url.to_owned(),
        },
        ..hs_settings()
    }
}

async fn assert_refused(verifier: &TokenVerifier, token: &str, expected: AuthError) {
    let outcome = verifier.verify(token).await.map(|claims| claims.sub);
    assert_eq!(outcome, Err(expected));
}

fn assert_good_claims(claims: &Claims) {
    assert_eq!(claims.sub, "user-42");
    assert_eq!(claims.role.as_deref(), Some("agent"));
    assert_eq!(claims.name.as_deref(), Some("Ada"));
    assert_eq!(claims.org.as_deref(), Some("acme"));
}

// ---------------------------------------------------------------------------
// Helpers: the JWKS server
// ---------------------------------------------------------------------------

#[derive(Clone, Default)]
struct JwksState {
    served: Arc<Mutex<Value>>,
    hits: Arc<AtomicUsize>,
}

struct JwksServer {
    url: String,
    state: JwksState,
}

impl JwksServer {
    async fn start(jwks: Value) -> Self {
        async fn serve_jwks(State(state): State<JwksState>) -> Json<Value> {
            state.hits.fetch_add(1, Ordering::SeqCst);
            Json(state.served.lock().expect("jwks lock").clone())
        }

        let state = JwksState::default();
        *state.served.lock().expect("jwks lock") = jwks;
        let app = axum::Router::new()
            .route("/jwks.json", get(serve_jwks))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the JWKS server");
        let address = listener.local_addr().expect("bound address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: format!("http://{address}/jwks.json"),
            state,
        }
    }

    fn serve(&self, jwks: Value) {
        *self.state.served.lock().expect("jwks lock") = jwks;
    }

    fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }
}

fn fixture_jwk(kid: &str) -> Value {
    let jwks: Value = serde_json::from_str(JWKS_JSON).expect("fixture JWKS is JSON");
    jwks["keys"]
        .as_array()
        .expect("keys array")
        .iter()
        .find(|key| key["kid"] == kid)
        .cloned()
        .unwrap_or_else(|| panic!("no fixture key {kid}"))
}

/// A JWKS holding the given keys.
fn jwks_of(keys: impl IntoIterator<Item = Value>) -> Value {
    json!({ "keys": keys.into_iter().collect::<Vec<_>>() })
}

fn fixture_jwks() -> Value {
    jwks_of([fixture_jwk(RSA_KID), fixture_jwk(EC_KID)])
}

fn with_kid(mut jwk: Value, kid: &str) -> Value {
    jwk["kid"] = json!(kid);
    jwk
}

// ---------------------------------------------------------------------------
// Token extraction
// ---------------------------------------------------------------------------

fn headers(pairs: &[(HeaderName, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            name.clone(),
            HeaderValue::from_str(value).expect("valid header"),
        );
    }
    map
}

fn found(token: &str, source: TokenSource) -> Option<FoundToken> {
    Some(FoundToken {
        token: token.to_owned(),
        source,
    })
}

#[test]
fn a_query_token_is_found() {
    let found_token = find_websocket_token(Some("q.t.k"), &HeaderMap::new());
    assert_eq!(found_token, found("q.t.k", TokenSource::Query));
}

#[test]
fn an_authorization_bearer_header_is_found_whatever_the_scheme_case() {
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let map = headers(&[(AUTHORIZATION, &format!("{scheme} h.t.k"))]);
        assert_eq!(
            find_websocket_token(None, &map),
            found("h.t.k", TokenSource::AuthorizationHeader)
        );
    }
}

#[test]
fn an_access_token_cookie_is_found_among_several_cookies_and_headers() {
    let map = headers(&[
        (COOKIE, "theme=dark; lang=en"),
        (COOKIE, "session=abc;  access_token=c.t.k ; other=1"),
    ]);
    assert_eq!(
        find_websocket_token(None, &map),
        found("c.t.k", TokenSource::Cookie)
    );
}

#[test]
fn a_subprotocol_token_is_the_entry_after_bearer() {
    let map = headers(&[(SEC_WEBSOCKET_PROTOCOL, "chat.v1 ,  bearer ,s.t.k, other")]);
    assert_eq!(
        find_websocket_token(None, &map),
        found("s.t.k", TokenSource::Subprotocol)
    );
}

#[test]
fn the_bearer_subprotocol_is_matched_in_any_case() {
    for bearer in ["Bearer", "BEARER"] {
        let map = headers(&[(SEC_WEBSOCKET_PROTOCOL, &format!("{bearer}, s.t.k"))]);
        assert_eq!(
            find_websocket_token(None, &map),
            found("s.t.k", TokenSource::Subprotocol)
        );
    }
}

#[test]
fn precedence_is_query_then_header_then_cookie_then_subprotocol() {
    let mut map = headers(&[
        (AUTHORIZATION, "Bearer header"),
        (COOKIE, "access_token=cookie"),
        (SEC_WEBSOCKET_PROTOCOL, "bearer, subprotocol"),
    ]);
    assert_eq!(
        find_websocket_token(Some("query"), &map),
        found("query", TokenSource::Query)
    );
    assert_eq!(
        find_websocket_token(None, &map),
        found("header", TokenSource::AuthorizationHeader)
    );
    map.remove(AUTHORIZATION);
    assert_eq!(
        find_websocket_token(None, &map),
        found("cookie", TokenSource::Cookie)
    );
    map.remove(COOKIE);
    assert_eq!(
        find_websocket_token(None, &map),
        found("subprotocol", TokenSource::Subprotocol)
    );
}

#[test]
fn an_empty_query_token_counts_as_absent() {
    let map = headers(&[(COOKIE, "access_token=cookie")]);
    assert_eq!(
        find_websocket_token(Some(""), &map),
        found("cookie", TokenSource::Cookie)
    );
}

#[test]
fn no_token_anywhere_finds_nothing() {
    let map = headers(&[
        (AUTHORIZATION, "Basic dXNlcjpwYXNz"),
        (COOKIE, "session=abc; access_token="),
        (SEC_WEBSOCKET_PROTOCOL, "chat.v1, bearer"),
    ]);
    assert_eq!(find_websocket_token(None, &map), None);
    assert_eq!(find_websocket_token(None, &HeaderMap::new()), None);
}

#[test]
fn a_rest_bearer_token_comes_only_from_the_authorization_header() {
    let cookie_only = headers(&[(COOKIE, "access_token=cookie")]);
    assert_eq!(find_bearer_token(&cookie_only), None);
    let with_header = headers(&[(AUTHORIZATION, "Bearer h.t.k")]);
    assert_eq!(find_bearer_token(&with_header).as_deref(), Some("h.t.k"));
}

#[test]
fn a_found_token_does_not_show_in_debug_output() {
    let found_token = find_websocket_token(Some("secret.token.value"), &HeaderMap::new());
    assert!(!format!("{found_token:?}").contains("secret.token.value"));
}

// ---------------------------------------------------------------------------
// Verification: accepted tokens
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_good_hs256_token_is_accepted() {
    let token = issue_hs256(&good_claims(), HS_SECRET).expect("issue");
    let claims = hs_verifier().verify(&token).await.expect("accepted");
    assert_good_claims(&claims);
}

/// Verifies a good token of `algorithm` against the fixture key set.
async fn assert_jwks_accepts(algorithm: Algorithm) {
    let server = JwksServer::start(fixture_jwks()).await;
    let verifier = jwks_verifier(&server.url);
    let claims = verifier
        .verify(&good_token(algorithm))
        .await
        .expect("accepted");
    assert_good_claims(&claims);
}

#[tokio::test]
async fn a_good_rs256_token_is_accepted() {
    assert_jwks_accepts(Algorithm::RS256).await;
}

#[tokio::test]
async fn a_good_es256_token_is_accepted() {
    assert_jwks_accepts(Algorithm::ES256).await;
}

#[tokio::test]
async fn the_configured_issuer_and_audience_are_accepted() {
    let verifier = verifier_for(AuthSettings {
        issuer: Some("https://issuer.test".into()),
        audience: Some("chat".into()),
        ..hs_settings()
    });
    let token = hs256_with_payload(&payload_with(|p| {
        p.insert("iss".into(), json!("https://issuer.test"));
        p.insert("aud".into(), json!(["other", "chat"]));
    }));
    let claims = verifier.verify(&token).await.expect("accepted");
    assert_eq!(claims.iss.as_deref(), Some("https://issuer.test"));
    assert!(claims.aud.is_some_and(|aud| aud.contains("chat")));
}

#[tokio::test]
async fn a_recently_expired_token_is_accepted_within_the_leeway() {
    let verifier = verifier_for(AuthSettings {
        leeway_secs: 60,
        ..hs_settings()
    });
    let token = hs256_with_payload(&payload_with(|p| {
        p.insert("exp".into(), json!(now() - 30));
    }));
    assert!(verifier.verify(&token).await.is_ok());
}

// ---------------------------------------------------------------------------
// Verification: refusals
// ---------------------------------------------------------------------------

#[tokio::test]
async fn an_alg_none_token_is_refused() {
    let token = forge(
        &json!({ "alg": "none", "typ": "JWT" }),
        &good_payload(),
        b"",
    );
    assert_refused(&hs_verifier(), &token, AuthError::UnsupportedAlgorithm).await;
}

#[tokio::test]
async fn an_rs256_token_is_refused_by_an_hs256_verifier() {
    let token = good_token(Algorithm::RS256);
    assert_refused(&hs_verifier(), &token, AuthError::UnsupportedAlgorithm).await;
}

#[tokio::test]
async fn an_hs256_token_is_refused_by_a_jwks_verifier() {
    let server = JwksServer::start(fixture_jwks()).await;
    let token = sign(Algorithm::HS256, Some(RSA_KID), &good_payload());
    assert_refused(
        &jwks_verifier(&server.url),
        &token,
        AuthError::UnsupportedAlgorithm,
    )
    .await;
}

#[tokio::test]
async fn an_hs256_token_signed_with_the_rsa_public_key_is_refused() {
    // The classic confusion attack: a verifier that let the token pick the
    // algorithm would check this HMAC with the public key bytes as secret.
    let server = JwksServer::start(fixture_jwks()).await;
    let public_key_as_secret = EncodingKey::from_secret(RSA_PUBLIC_PEM.as_bytes());
    let token = sign_with(
        Algorithm::HS256,
        Some(RSA_KID),
        &good_payload(),
        &public_key_as_secret,
    );
    assert_refused(
        &jwks_verifier(&server.url),
        &token,
        AuthError::UnsupportedAlgorithm,
    )
    .await;
}

#[tokio::test]
async fn a_token_whose_algorithm_disagrees_with_its_jwk_is_refused() {
    let server = JwksServer::start(fixture_jwks()).await;
    let token = sign(Algorithm::ES256, Some(RSA_KID), &good_payload());
    assert_refused(
        &jwks_verifier(&server.url),
        &token,
        AuthError::UnsupportedAlgorithm,
    )
    .await;
}

#[tokio::test]
async fn a_jwk_that_disagrees_with_its_own_type_is_not_used() {
    let cases = [
        (Algorithm::RS256, RSA_KID, "alg", json!("ES256")),
        (Algorithm::ES256, EC_KID, "alg", json!("RS256")),
        (Algorithm::ES256, EC_KID, "crv", json!("P-384")),
        (Algorithm::RS256, RSA_KID, "use", json!("enc")),
    ];
    for (alg, kid, field, value) in cases {
        let mut mislabelled = fixture_jwk(kid);
        mislabelled[field] = value;
        let server = JwksServer::start(jwks_of([mislabelled])).await;
        assert_refused(
            &jwks_verifier(&server.url),
            &good_token(alg),
            AuthError::UnknownKey,
        )
        .await;
    }
}

#[tokio::test]
async fn a_token_with_a_bad_signature_is_refused() {
    let other_secret = EncodingKey::from_secret(b"some-other-secret-0123456789");
    let token = sign_with(Algorithm::HS256, None, &good_payload(), &other_secret);
    assert_refused(&hs_verifier(), &token, AuthError::BadSignature).await;
}

#[tokio::test]
async fn an_rs256_token_with_a_tampered_payload_is_refused() {
    let server = JwksServer::start(fixture_jwks()).await;
    let token = good_token(Algorithm::RS256);
    let mut parts: Vec<&str> = token.split('.').collect();
    let tampered_payload = URL_SAFE_NO_PAD.encode(
        payload_with(|p| {
            p.insert("role".into(), json!("admin"));
        })
        .to_string(),
    );
    parts[1] = &tampered_payload;
    let tampered = parts.join(".");
    assert_refused(
        &jwks_verifier(&server.url),
        &tampered,
        AuthError::BadSignature,
    )
    .await;
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let verifier = verifier_for(AuthSettings {
        leeway_secs: 60,
        ..hs_settings()
    });
    let token = hs256_with_payload(&payload_with(|p| {
        p.insert("exp".into(), json!(now() - 120));
    }));
    assert_refused(&verifier, &token, AuthError::Expired).await;
}

#[tokio::test]
async fn a_token_without_exp_is_refused() {
    let token = hs256_with_payload(&payload_with(|p| {
        p.remove("exp");
    }));
    assert_refused(&hs_verifier(), &token, AuthError::InvalidClaims("exp")).await;
}

#[tokio::test]
async fn a_token_whose_exp_is_not_an_integer_is_refused() {
    let far_future = (now() + 600).to_string();
    for exp in [json!(far_future), json!(1.5e10), json!(-5)] {
        let token = hs256_with_payload(&payload_with(|p| {
            p.insert("exp".into(), exp);
        }));
        assert_refused(&hs_verifier(), &token, AuthError::InvalidClaims("exp")).await;
    }
}

#[tokio::test]
async fn a_token_whose_nbf_is_not_an_integer_is_refused() {
    // A float in the past passes the library's own `nbf` check, which rounds it.
    let past = now() - 60;
    for nbf in [
        json!(past as f64 + 0.5),
        json!(past.to_string()),
        json!(1e30),
    ] {
        let token = hs256_with_payload(&payload_with(|p| {
            p.insert("nbf".into(), nbf);
        }));
        assert_refused(&hs_verifier(), &token, AuthError::InvalidClaims("nbf")).await;
    }
    let whole = hs256_with_payload(&payload_with(|p| {
        p.insert("nbf".into(), json!(past));
    }));
    assert!(hs_verifier().verify(&whole).await.is_ok());
}

#[tokio::test]
async fn a_token_without_sub_is_refused() {
    for sub in [None, Some(json!("")), Some(json!(42))] {
        let token = hs256_with_payload(&payload_with(|p| match sub {
            Some(sub) => {
                p.insert("sub".into(), sub);
            }
            None => {
                p.remove("sub");
            }
        }));
        assert_refused(&hs_verifier(), &token, AuthError::InvalidClaims("sub")).await;
    }
}

#[tokio::test]
async fn a_token_from_the_wrong_issuer_is_refused() {
    let verifier = verifier_for(AuthSettings {
        issuer: Some("https://issuer.test".into()),
        ..hs_settings()
    });
    let wrong = hs256_with_payload(&payload_with(|p| {
        p.insert("iss".into(), json!("https://evil.test"));
    }));
    assert_refused(&verifier, &wrong, AuthError::WrongIssuer).await;
    let without = hs256_with_payload(&good_payload());
    assert_refused(&verifier, &without, AuthError::WrongIssuer).await;
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let verifier = verifier_for(AuthSettings {
        audience: Some("chat".into()),
        ..hs_settings()
    });
    let wrong = hs256_with_payload(&payload_with(|p| {
        p.insert("aud".into(), json!("billing"));
    }));
    assert_refused(&verifier, &wrong, AuthError::WrongAudience).await;
    let without = hs256_with_payload(&good_payload());
    assert_refused(&verifier, &without, AuthError::WrongAudience).await;
}

#[tokio::test]
async fn an_empty_token_is_refused_as_missing() {
    assert_refused(&hs_verifier(), "", AuthError::Missing).await;
    assert_refused(&hs_verifier(), "   ", AuthError::Missing).await;
}

#[tokio::test]
async fn a_garbage_token_is_refused_as_malformed() {
    let oversized = "a".repeat(100_000);
    for garbage in ["garbage", "a.b", "a.b.c", "....", "a.b.c.d", &oversized] {
        assert_refused(&hs_verifier(), garbage, AuthError::Malformed).await;
    }
}

#[tokio::test]
async fn an_hs256_verifier_with_an_empty_secret_refuses_everything() {
    let verifier = verifier_for(AuthSettings {
        keys: KeySource::Hs256 { secret: Vec::new() },
        ..hs_settings()
    });
    let token = sign_with(
        Algorithm::HS256,
        None,
        &good_payload(),
        &EncodingKey::from_secret(b""),
    );
    assert_refused(&verifier, &token, AuthError::KeysUnavailable).await;
    assert_eq!(
        issue_hs256(&good_claims(), b""),
        Err(AuthError::SigningFailed)
    );
}

// ---------------------------------------------------------------------------
// JWKS fetching and caching
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jwks_is_fetched_once_across_many_concurrent_verifications() {
    let server = JwksServer::start(fixture_jwks()).await;
    let verifier = Arc::new(jwks_verifier(&server.url));
    assert_eq!(server.hits(), 0, "constructing a verifier does no I/O");

    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let verifier = Arc::clone(&verifier);
            let alg = if i % 2 == 0 {
                Algorithm::RS256
            } else {
                Algorithm::ES256
            };
            tokio::spawn(async move { verifier.verify(&good_token(alg)).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("task ran").expect("accepted");
    }
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn an_unknown_kid_triggers_exactly_one_refetch_then_is_refused() {
    // No rate limit here, so that only "once per unknown kid" is measured.
    let server = JwksServer::start(fixture_jwks()).await;
    let verifier = TokenVerifier::with_refresh_interval(
        jwks_settings(&server.url),
        key_sets(),
        Duration::ZERO,
    );
    verifier
        .verify(&good_token(Algorithm::RS256))
        .await
        .expect("accepted");
    assert_eq!(server.hits(), 1);

    let token = sign(Algorithm::RS256, Some("no-such-kid"), &good_payload());
    assert_refused(&verifier, &token, AuthError::UnknownKey).await;
    assert_eq!(server.hits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_kids_refetches_at_most_once_per_interval() {
    let server = JwksServer::start(fixture_jwks()).await;
    let verifier = Arc::new(jwks_verifier(&server.url));

    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let verifier = Arc::clone(&verifier);
            let token = sign(
                Algorithm::RS256,
                Some(&format!("random-{i}")),
                &good_payload(),
            );
            tokio::spawn(async move { verifier.verify(&token).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("task ran"), Err(AuthError::UnknownKey));
    }
    // The first miss loads the set; every later miss falls within the interval.
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn a_rotated_key_is_accepted_after_a_refresh() {
    let server = JwksServer::start(jwks_of([fixture_jwk(EC_KID)])).await;
    let verifier = TokenVerifier::with_refresh_interval(
        jwks_settings(&server.url),
        key_sets(),
        Duration::ZERO,
    );
    verifier
        .verify(&good_token(Algorithm::ES256))
        .await
        .expect("accepted");

    server.serve(fixture_jwks());
    let claims = verifier
        .verify(&good_token(Algorithm::RS256))
        .await
        .expect("accepted after the refresh");
    assert_good_claims(&claims);
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn a_token_without_kid_uses_the_only_key_of_its_type() {
    let server = JwksServer::start(fixture_jwks()).await;
    let token = sign(Algorithm::RS256, None, &good_payload());
    let claims = jwks_verifier(&server.url)
        .verify(&token)
        .await
        .expect("accepted");
    assert_good_claims(&claims);
}

#[tokio::test]
async fn a_token_without_kid_is_refused_when_several_keys_fit() {
    let rsa = fixture_jwk(RSA_KID);
    let server = JwksServer::start(jwks_of([
        with_kid(rsa.clone(), "rsa-a"),
        with_kid(rsa, "rsa-b"),
    ]))
    .await;
    let token = sign(Algorithm::RS256, None, &good_payload());
    assert_refused(&jwks_verifier(&server.url), &token, AuthError::UnknownKey).await;
}

#[tokio::test]
async fn an_unreachable_jwks_makes_keys_unavailable() {
    // A port that was just free: connecting to it is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let verifier = jwks_verifier(&format!("http://127.0.0.1:{port}/jwks.json"));
    let outcome = verifier.verify(&good_token(Algorithm::RS256)).await;
    assert_eq!(outcome, Err(AuthError::KeysUnavailable));
    assert!(outcome.is_err_and(|error| error.is_server_fault()));
}

#[test]
fn the_verifier_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<TokenVerifier>();
}

#[tokio::test]
async fn a_token_issued_in_the_future_is_refused_past_the_leeway() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after the epoch")
        .as_secs();
    let ahead = payload_with(|claims| {
        claims.insert("iat".into(), json!(now + 3_600));
    });
    assert_refused(
        &hs_verifier(),
        &hs256_with_payload(&ahead),
        AuthError::InvalidClaims("iat"),
    )
    .await;
    // Within the leeway a clock a little ahead is fine.
    let lenient = verifier_for(AuthSettings {
        leeway_secs: 30,
        ..hs_settings()
    });
    let slightly = payload_with(|claims| {
        claims.insert("iat".into(), json!(now + 5));
    });
    lenient
        .verify(&hs256_with_payload(&slightly))
        .await
        .expect("accepted");
}

#[tokio::test]
async fn a_token_naming_critical_header_extensions_is_refused() {
    let mut header = Header::new(Algorithm::HS256);
    header.crit = Some(vec!["exp".into()]);
    let token = jsonwebtoken::encode(&header, &good_payload(), &signing_key(Algorithm::HS256))
        .expect("signed");
    assert_refused(&hs_verifier(), &token, AuthError::CriticalHeader).await;
}

/// The token as each location's extraction finds it: REST `Authorization: Bearer`, and the
/// WebSocket query, header, cookie and subprotocol (chat-local signs only HS256 tokens, so
/// the JWKS attacks meet the same extraction and verifier here rather than end to end).
fn through_every_location(token: &str) -> Vec<(&'static str, String)> {
    let websocket = |pairs: &[(HeaderName, &str)]| {
        find_websocket_token(None, &headers(pairs)).map(|found| found.token)
    };
    let bearer = format!("Bearer {token}");
    let found = [
        (
            "REST bearer",
            find_bearer_token(&headers(&[(AUTHORIZATION, &bearer)])),
        ),
        (
            "WS query",
            find_websocket_token(Some(token), &HeaderMap::new()).map(|found| found.token),
        ),
        ("WS header", websocket(&[(AUTHORIZATION, &bearer)])),
        (
            "WS cookie",
            websocket(&[(COOKIE, &format!("theme=dark; access_token={token}"))]),
        ),
        (
            "WS subprotocol",
            websocket(&[(SEC_WEBSOCKET_PROTOCOL, &format!("bearer, {token}"))]),
        ),
    ];
    found
        .into_iter()
        .map(|(location, found)| (location, found.expect("the token is found")))
        .collect()
}

#[tokio::test]
async fn jwks_key_confusion_is_refused_at_every_location() {
    let oct_secret = b"an-attacker-chosen-oct-key-0123456789";
    let oct_key = json!({"kty": "oct", "kid": RSA_KID, "k": URL_SAFE_NO_PAD.encode(oct_secret)});
    let rsa_token = good_token(Algorithm::RS256);
    let cases = [
        (
            "an unknown kid",
            fixture_jwks(),
            sign(Algorithm::RS256, Some("no-such-kid"), &good_payload()),
            AuthError::UnknownKey,
        ),
        (
            "an EC key under the RSA token's kid",
            jwks_of([with_kid(fixture_jwk(EC_KID), RSA_KID)]),
            rsa_token.clone(),
            AuthError::UnsupportedAlgorithm,
        ),
        (
            "an oct key under the RSA token's kid",
            jwks_of([oct_key.clone()]),
            rsa_token.clone(),
            AuthError::UnknownKey,
        ),
        (
            "an HS256 token signed with the set's oct key",
            jwks_of([oct_key, fixture_jwk(RSA_KID)]),
            sign_with(
                Algorithm::HS256,
                Some(RSA_KID),
                &good_payload(),
                &EncodingKey::from_secret(oct_secret),
            ),
            AuthError::UnsupportedAlgorithm,
        ),
    ];
    let mut refused = 0;
    for (case, jwks, token, expected) in cases {
        let server = JwksServer::start(jwks).await;
        let verifier = jwks_verifier(&server.url);
        for (location, found) in through_every_location(&token) {
            let outcome = verifier.verify(&found).await.map(|claims| claims.sub);
            assert_eq!(outcome, Err(expected.clone()), "{case} at {location}");
            refused += 1;
        }
    }
    // The same path accepts the good token, so the refusals above are not vacuous.
    let server = JwksServer::start(fixture_jwks()).await;
    let verifier = jwks_verifier(&server.url);
    for (location, found) in through_every_location(&rsa_token) {
        let claims = verifier.verify(&found).await;
        assert_good_claims(&claims.unwrap_or_else(|e| panic!("{location}: {e}")));
    }
    eprintln!("jwks attacks: {refused} attack x location cases refused");
}
