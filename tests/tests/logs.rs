//! The log lines the functions write, read from the local server running the same
//! handlers in the same spans with `--log-format json`: one line an invocation with its
//! route, connection, session, latency and outcome, one a REST request with its status and
//! latency; never a token, never a message's content.

use std::io::Write;
use std::sync::{Arc, Mutex};

use chat_e2e::spawn_app;
use chat_local::{LogFormat, log_subscriber};
use serde_json::{Value, json};

/// What the subscriber wrote, kept for the test to read.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lines").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Lines {
    type Writer = Self;

    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

impl Lines {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("lines").clone()).expect("UTF-8")
    }
}

/// The lines whose message is `message` and whose span has `field` = `value`.
fn lines_where<'a>(lines: &'a [Value], message: &str, field: &str, value: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|line| line["fields"]["message"] == message && line["span"][field] == value)
        .collect()
}

// One thread: the test's subscriber is the thread's, and the server's tasks run on it.
#[tokio::test(flavor = "current_thread")]
async fn every_invocation_logs_one_json_line_with_its_route_session_latency_and_outcome_and_no_secrets()
 {
    let lines = Lines::default();
    let _logging =
        tracing::subscriber::set_default(log_subscriber(LogFormat::Json, lines.clone(), false));
    let app = spawn_app().await;
    let ann = app.user("ann");
    let session = app.create_session(&ann, json!({"kind": "group"})).await;
    let mut socket = app.connect(&ann, Some(&session)).await;
    socket.next_of("chat_history").await;
    socket
        .send(json!({"action": "send", "content": "a sentence only the chat may see"}))
        .await;
    socket.next_of("chat_message").await;
    // A well-formed id of no message: refused once the session is known.
    let unknown = session.as_str();
    socket
        .send(
            json!({"action": "edit", "message_id": unknown, "content": "another private sentence"}),
        )
        .await;
    socket.next_of("error").await;
    socket.close().await;
    // `$disconnect` runs after the close, as API Gateway runs it.
    for _ in 0..100 {
        if lines.text().contains(r#""route":"$disconnect""#) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    app.stop().await;

    let text = lines.text();
    let parsed: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let handled = lines_where(&parsed, "handled", "route", "$default");
    assert_eq!(handled.len(), 2, "one line a frame: {text}");
    for line in &handled {
        assert_eq!(line["level"], "INFO", "{line}");
        assert!(line["fields"]["latency_ms"].is_u64(), "{line}");
        assert_eq!(line["span"]["session_id"], session.as_str(), "{line}");
        assert!(
            line["span"]["connection_id"]
                .as_str()
                .is_some_and(|id| !id.is_empty()),
            "{line}"
        );
    }
    assert!(
        handled[0]["span"].get("outcome").is_none(),
        "the send went as asked"
    );
    assert_eq!(
        handled[1]["span"]["outcome"], "not_found",
        "the edit was refused"
    );
    for route in ["$connect", "$disconnect"] {
        assert_eq!(
            lines_where(&parsed, "handled", "route", route).len(),
            1,
            "{route}: {text}"
        );
    }
    assert_eq!(
        lines_where(&parsed, "handled", "route", "authorize").len(),
        1,
        "{text}"
    );
    assert_eq!(
        lines_where(&parsed, "handled", "route", "job:welcome").len(),
        1,
        "{text}"
    );
    let rest = lines_where(&parsed, "finished processing request", "path", "/sessions");
    assert_eq!(rest.len(), 1, "{text}");
    assert_eq!(rest[0]["level"], "INFO");
    assert_eq!(rest[0]["fields"]["status"], 201, "{}", rest[0]);
    assert!(rest[0]["fields"]["latency"].is_string(), "{}", rest[0]);
    assert!(
        rest[0]["span"]["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    for secret in ["a sentence only", "another private", ann.token.as_str()] {
        assert!(!text.contains(secret), "{secret:?} is in the logs:\n{text}");
    }
}
