//! How soon a bot reply starts and how many posts it takes, through the local server on the
//! echo model: `cargo run --release -p chat-e2e --example bot_latency` (infra/bench.sh).

use std::time::{Duration, Instant};

use chat_e2e::spawn_app;
use serde_json::json;

const REPLIES: usize = 20;

#[tokio::main]
async fn main() {
    let app = spawn_app().await;
    let (_, mut socket) = app.bot_session(&app.user("ann")).await;
    let mut to_start = Vec::new();
    let mut posts = Vec::new();
    let mut characters = 0;
    for n in 0..REPLIES {
        let sent = Instant::now();
        socket
            .send(json!({"action": "send", "content": format!("question {n}: {}", "why ".repeat(40))}))
            .await;
        socket.next_of("response_start").await;
        to_start.push(sent.elapsed());
        let mut frames = 1;
        loop {
            let frame = socket.next().await;
            if frame["type"] == "response_chunk" {
                frames += 1;
            }
            if frame["type"] == "response_complete" {
                characters = frame["message"]["content"].as_str().map_or(0, str::len);
                posts.push(frames + 1);
                break;
            }
        }
    }
    to_start.sort();
    let median = to_start[REPLIES / 2];
    let worst = to_start.last().copied().unwrap_or(Duration::ZERO);
    println!(
        "bot reply (echo model, {characters} characters, 30 ms a word): send -> response_start median {median:?}, worst {worst:?}; posts per reply per connection: {:?}",
        posts.iter().min().zip(posts.iter().max())
    );
}
