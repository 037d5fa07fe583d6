//! Forged and malformed tokens, each tried at every place a token may travel: the REST
//! API's `Authorization: Bearer`, and the WebSocket handshake's query, header, cookie and
//! subprotocol. One table of attacks times one table of locations; every case must be
//! refused (REST 401 with a clean JSON error, handshake 401), and the good tokens beside
//! them must be accepted at every location, so the suite cannot pass by refusing all.
//!
//! The unit-level cases (the verifier's own error for each) are in
//! `shared/providers/tests/auth.rs`; this suite checks what a client actually meets.

use std::time::{SystemTime, UNIX_EPOCH};

use chat_e2e::{Caller, JWT_SECRET, TestApp, TokenIn, spawn_app};
use chat_testkit::jwt::{encode, forge, forge_signed, hmac_key};
use jsonwebtoken::Algorithm;
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};

/// Where a token is presented.
#[derive(Clone, Copy, Debug)]
enum Location {
    RestBearer,
    Ws(TokenIn),
}

const LOCATIONS: [Location; 5] = [
    Location::RestBearer,
    Location::Ws(TokenIn::Query),
    Location::Ws(TokenIn::Header),
    Location::Ws(TokenIn::Cookie),
    Location::Ws(TokenIn::Subprotocol),
];

/// A leeway far beyond chat-local's (`JWT_LEEWAY_SECONDS`, 30 s by default).
const AN_HOUR: i64 = 3_600;

fn now() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(since_epoch.as_secs()).expect("seconds fit in i64")
}

/// Claims the server accepts, edited by `edit`.
fn claims_with(edit: impl FnOnce(&mut Map<String, Value>)) -> Value {
    let mut claims = json!({
        "sub": "mallory",
        "name": "Mallory",
        "role": "user",
        "iat": now(),
        "exp": now() + 600,
    });
    edit(claims.as_object_mut().expect("claims are an object"));
    claims
}

fn good_claims() -> Value {
    claims_with(|_| {})
}

fn header(alg: &str) -> Value {
    json!({"alg": alg, "typ": "JWT"})
}

/// A header naming `alg`, extended by `extra`.
fn header_with(alg: &str, extra: Value) -> Value {
    let mut header = header(alg);
    for (name, value) in extra.as_object().expect("extra header fields").clone() {
        header[name] = value;
    }
    header
}

/// Signed with the server's own secret as `alg` says.
fn signed(header: &Value, claims: &Value, alg: Algorithm) -> String {
    forge_signed(header, claims, alg, &hmac_key(JWT_SECRET.as_bytes()))
}

/// HS256 with the server's own secret: valid but for what `header`/`claims` change.
fn hs256(header: &Value, claims: &Value) -> String {
    signed(header, claims, Algorithm::HS256)
}

fn with_claim(name: &str, value: Value) -> Value {
    claims_with(|claims| {
        claims.insert(name.to_owned(), value);
    })
}

/// A token with `part` (0 header, 1 payload, 2 signature) replaced.
fn with_part(token: &str, part: usize, replacement: &str) -> String {
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[part] = replacement;
    parts.join(".")
}

/// Tokens that must be refused everywhere, by name.
fn attacks(attacker_url: &str) -> Vec<(String, String)> {
    let good = hs256(&header("HS256"), &good_claims());
    let [head, payload, signature]: [&str; 3] = good
        .split('.')
        .collect::<Vec<_>>()
        .try_into()
        .expect("three parts");
    let attacker_secret = b"an-attacker-secret-of-plenty-length!";
    let attacker = |header: &Value| {
        forge_signed(
            header,
            &good_claims(),
            Algorithm::HS256,
            &hmac_key(attacker_secret),
        )
    };
    let mut cases: Vec<(String, String)> = Vec::new();
    let mut add = |name: &str, token: String| cases.push((name.to_owned(), token));

    for alg in ["none", "None", "NONE", "nOnE"] {
        add(
            &format!("alg {alg}, no signature"),
            forge(&header(alg), &good_claims(), b""),
        );
        // The HMAC the right key would give, in case a verifier checks it under `none`.
        add(
            &format!("alg {alg}, signed"),
            signed(&header(alg), &good_claims(), Algorithm::HS256),
        );
    }
    // The right key under another algorithm: only the configured HS256 may verify.
    for (name, alg) in [("HS384", Algorithm::HS384), ("HS512", Algorithm::HS512)] {
        add(
            &format!("{name} with the right key"),
            signed(&header(name), &good_claims(), alg),
        );
    }
    for alg in ["RS256", "ES256"] {
        add(
            &format!("{alg} header over an HS256 signature"),
            hs256(&header(alg), &good_claims()),
        );
    }

    let admin = encode(with_claim("role", json!("admin")).to_string().as_bytes());
    add(
        "payload changed, signature kept",
        with_part(&good, 1, &admin),
    );
    add(
        "signature of other bytes",
        with_part(&good, 2, &encode(&[0x5a; 32])),
    );
    add("a foreign key's signature", attacker(&header("HS256")));

    add("header only", head.to_owned());
    add("header.payload", format!("{head}.{payload}"));
    add("empty signature", format!("{head}.{payload}."));
    add("empty payload", format!("{head}..{signature}"));
    add("empty header", format!(".{payload}.{signature}"));
    add("only dots", "..".to_owned());
    add("empty token", String::new());
    add("a fourth part", format!("{good}.{signature}"));

    add(
        "expired",
        hs256(&header("HS256"), &with_claim("exp", json!(now() - AN_HOUR))),
    );
    add(
        "no exp",
        hs256(
            &header("HS256"),
            &claims_with(|claims| {
                claims.remove("exp");
            }),
        ),
    );
    // Registered dates the server must read as whole seconds, whatever the library allows:
    // each odd value names a time that would pass (`exp` ahead, `nbf`/`iat` behind), so only
    // its type refuses it.
    for claim in ["exp", "nbf", "iat"] {
        let passing = if claim == "exp" {
            now() + 600
        } else {
            now() - 60
        };
        let odd_values = [
            ("a string", json!(passing.to_string())),
            ("a float", json!(passing as f64 + 0.5)),
            ("1e30", json!(1e30)),
            ("u64::MAX", json!(u64::MAX)),
        ];
        for (what, value) in odd_values {
            add(
                &format!("{claim} {what}"),
                hs256(&header("HS256"), &with_claim(claim, value)),
            );
        }
    }
    for claim in ["nbf", "iat"] {
        add(
            &format!("{claim} an hour ahead"),
            hs256(&header("HS256"), &with_claim(claim, json!(now() + AN_HOUR))),
        );
    }
    add(
        "unknown role",
        hs256(&header("HS256"), &with_claim("role", json!("superuser"))),
    );
    // Signed with the right key, so only its size refuses it: nearly 64 KiB, the most a
    // URI (the query location) can carry.
    let oversize = hs256(
        &header("HS256"),
        &with_claim("pad", json!("x".repeat(46_000))),
    );
    add(&format!("a {} KiB token", oversize.len() / 1024), oversize);

    // An attacker's key announced in the header, for a verifier that would trust it.
    let attacker_jwk = json!({"kty": "oct", "k": encode(attacker_secret)});
    for (name, extra) in [
        ("jku", json!({"jku": attacker_url})),
        ("x5u", json!({"x5u": attacker_url})),
        ("jwk", json!({"jwk": attacker_jwk})),
        ("kid", json!({"kid": "attacker-key"})),
    ] {
        add(
            &format!("an attacker's key named by {name}"),
            attacker(&header_with("HS256", extra)),
        );
    }
    cases
}

/// Tokens that must be accepted everywhere: the good one, and the good one naming keys
/// the server must ignore (and never fetch).
fn accepted(attacker_url: &str) -> Vec<(String, String)> {
    [
        ("a good token", json!({})),
        ("a good token with kid", json!({"kid": "whatever"})),
        ("a good token with jku", json!({"jku": attacker_url})),
        ("a good token with x5u", json!({"x5u": attacker_url})),
    ]
    .into_iter()
    .map(|(name, extra)| {
        let token = hs256(&header_with("HS256", extra), &good_claims());
        (name.to_owned(), token)
    })
    .collect()
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Accepted,
    Refused,
}

/// Presents `token` at `location`; panics on any answer but acceptance or a clean 401.
async fn present(app: &TestApp, location: Location, token: &str, case: &str) -> Outcome {
    let caller = Caller {
        id: "mallory".into(),
        token: token.to_owned(),
    };
    match location {
        Location::RestBearer => {
            let reply = app
                .request(Method::GET, "/sessions", Some(&caller), None)
                .await;
            if reply.status == StatusCode::OK {
                return Outcome::Accepted;
            }
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{case}: {reply:?}");
            assert_eq!(reply.error_code(), "unauthorized", "{case}: {reply:?}");
            assert_clean(reply.error_message(), token, case);
            Outcome::Refused
        }
        Location::Ws(token_in) => match app.try_connect(Some(&caller), None, token_in).await {
            Ok(socket) => {
                socket.close().await;
                Outcome::Accepted
            }
            Err(status) => {
                assert_eq!(status, 401, "{case} at {token_in:?}");
                Outcome::Refused
            }
        },
    }
}

/// A refusal names no internals: not the token, the key, or the libraries' wording.
fn assert_clean(message: &str, token: &str, case: &str) {
    assert!(!message.is_empty(), "{case}: an empty message");
    let internals = ["jsonwebtoken", "::", "Error", "{", "panicked", JWT_SECRET];
    for internal in internals {
        assert!(!message.contains(internal), "{case}: {message:?}");
    }
    let signature = token.rsplit('.').next().unwrap_or_default();
    assert!(
        signature.len() < 8 || !message.contains(signature),
        "{case}: the message quotes the token: {message:?}"
    );
}

#[tokio::test]
async fn every_forged_token_is_refused_at_every_location() {
    let app = spawn_app().await;
    // What a header's key URL points at: nothing may ever connect to it.
    let attacker = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the attacker");
    attacker.set_nonblocking(true).expect("nonblocking");
    let attacker_url = format!(
        "http://{}/jwks.json",
        attacker.local_addr().expect("an address")
    );

    let (mut tried, mut refused) = (0, 0);
    let mut accepted_wrongly = Vec::new();
    for (case, token) in attacks(&attacker_url) {
        for location in LOCATIONS {
            tried += 1;
            match present(&app, location, &token, &case).await {
                Outcome::Refused => refused += 1,
                Outcome::Accepted => accepted_wrongly.push(format!("{case} at {location:?}")),
            }
        }
    }
    let mut good = 0;
    for (case, token) in accepted(&attacker_url) {
        for location in LOCATIONS {
            let outcome = present(&app, location, &token, &case).await;
            assert_eq!(outcome, Outcome::Accepted, "{case} at {location:?}");
            good += 1;
        }
    }
    eprintln!(
        "jwt attacks: {tried} attack x location cases tried, {refused} refused; \
         {good} good-token cases accepted"
    );
    assert!(
        accepted_wrongly.is_empty(),
        "accepted: {accepted_wrongly:#?}"
    );
    // The connections a fetch would have made wait in the backlog until accepted.
    match attacker.accept() {
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
        Ok((_, from)) => panic!("a header's key URL was fetched (from {from})"),
        Err(error) => panic!("the attacker's listener failed: {error}"),
    }
    app.stop().await;
}
