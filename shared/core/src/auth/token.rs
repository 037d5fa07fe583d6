use std::fmt;

use http::HeaderMap;
use http::header::{AUTHORIZATION, COOKIE, SEC_WEBSOCKET_PROTOCOL};

/// The cookie a browser client stores its access token in.
const ACCESS_TOKEN_COOKIE: &str = "access_token";
/// The subprotocol entry that announces a token as the next entry. Browsers
/// cannot set headers on a WebSocket, so `new WebSocket(url, ["bearer", t])`
/// is the usual way to send one; the server must then answer with the
/// `bearer` subprotocol.
const BEARER_SUBPROTOCOL: &str = "bearer";

/// Where in the request a token was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenSource {
    Query,
    AuthorizationHeader,
    Cookie,
    Subprotocol,
}

/// A token taken from a request, not yet verified.
#[derive(Clone, PartialEq, Eq)]
pub struct FoundToken {
    pub token: String,
    pub source: TokenSource,
}

/// Redacts the token so a stray `{:?}` cannot leak a credential into logs.
impl fmt::Debug for FoundToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FoundToken")
            .field("token", &"<redacted>")
            .field("source", &self.source)
            .finish()
    }
}

/// Finds the token of a WebSocket upgrade. The first place that holds one
/// wins, in this order: the `token` query parameter (passed in already
/// decoded), `Authorization: Bearer`, the `access_token` cookie, and the
/// `Sec-WebSocket-Protocol: bearer, <token>` pair.
pub fn find_websocket_token(query_token: Option<&str>, headers: &HeaderMap) -> Option<FoundToken> {
    let (token, source) = non_empty(query_token)
        .map(|t| (t, TokenSource::Query))
        .or_else(|| find_bearer_token(headers).map(|t| (t, TokenSource::AuthorizationHeader)))
        .or_else(|| cookie_token(headers).map(|t| (t, TokenSource::Cookie)))
        .or_else(|| subprotocol_token(headers).map(|t| (t, TokenSource::Subprotocol)))?;
    Some(FoundToken { token, source })
}

/// Finds the token of a REST request: `Authorization: Bearer <token>` only,
/// since cookies would expose REST calls to cross-site request forgery.
pub fn find_bearer_token(headers: &HeaderMap) -> Option<String> {
    header_values(headers, &AUTHORIZATION).find_map(|value| {
        let (scheme, token) = value.trim().split_once(' ')?;
        if scheme.eq_ignore_ascii_case("bearer") {
            non_empty(Some(token))
        } else {
            None
        }
    })
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    header_values(headers, &COOKIE)
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            if name.trim() != ACCESS_TOKEN_COOKIE {
                return None;
            }
            // RFC 6265 allows a cookie value to be wrapped in double quotes.
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            non_empty(Some(value))
        })
}

fn subprotocol_token(headers: &HeaderMap) -> Option<String> {
    // Several headers form one list, just like one comma-separated header.
    let mut entries = header_values(headers, &SEC_WEBSOCKET_PROTOCOL)
        .flat_map(|value| value.split(','))
        .map(str::trim);
    entries.find(|entry| entry.eq_ignore_ascii_case(BEARER_SUBPROTOCOL))?;
    non_empty(entries.next())
}

/// Header values that are valid visible ASCII; others cannot hold a JWT.
fn header_values<'a>(
    headers: &'a HeaderMap,
    name: &http::header::HeaderName,
) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
}

fn non_empty(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}
