//! Helpers both test files use: serving a router, API Gateway's fixtures, captured logs.

use std::{
    collections::BTreeSet,
    fmt::{self, Write as _},
    net::SocketAddr,
    sync::{Mutex, Once},
};

use serde_json::Value;

/// Serves the router on a free port, as the local server's main does.
pub async fn serve(app: axum::Router) -> SocketAddr {
    capture_logs();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every key path of a JSON document with a non-null value, e.g.
/// `requestContext.identity.sourceIp`; header names lower-cased, since fixtures spell them
/// otherwise.
pub fn key_paths(value: &Value) -> BTreeSet<String> {
    fn collect(value: &Value, prefix: &str, paths: &mut BTreeSet<String>) {
        let Value::Object(fields) = value else { return };
        for (key, child) in fields.iter().filter(|(_, child)| !child.is_null()) {
            let key = if prefix.ends_with("eaders") {
                key.to_ascii_lowercase()
            } else {
                key.clone()
            };
            let path = if prefix.is_empty() {
                key
            } else {
                format!("{prefix}.{key}")
            };
            collect(child, &path, paths);
            paths.insert(path);
        }
    }
    let mut paths = BTreeSet::new();
    collect(value, "", &mut paths);
    paths
}

/// Every message this crate logs while the tests run.
pub static LOGGED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Installs the capturing subscriber, globally and before any server starts: a per-thread
/// one misses events whose callsites other test threads reached first.
fn capture_logs() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| tracing::subscriber::set_global_default(Capture).unwrap());
}

struct Capture;

impl tracing::Subscriber for Capture {
    fn enabled(&self, _metadata: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _span: &tracing::span::Id, _values: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _span: &tracing::span::Id, _follows: &tracing::span::Id) {}
    fn enter(&self, _span: &tracing::span::Id) {}
    fn exit(&self, _span: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        struct Message<'a>(&'a mut String);
        impl tracing::field::Visit for Message<'_> {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
                if field.name() == "message" {
                    write!(self.0, "{value:?}").unwrap();
                }
            }
        }
        if event.metadata().target().starts_with("chat_local") {
            let mut message = String::new();
            event.record(&mut Message(&mut message));
            LOGGED.lock().unwrap().push(message);
        }
    }
}
