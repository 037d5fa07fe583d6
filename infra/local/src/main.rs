//! `chat-local`: the chat backend on a laptop. `cargo run -p chat-local` serves the REST API
//! on 127.0.0.1:3000 and the WebSocket API on 127.0.0.1:3001, on the embedded store.

use chat_local::{Command, Options, init_logging, mint_token, start};
use clap::Parser;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = Options::parse();
    if let Some(Command::Token(request)) = &options.command {
        println!("{}", mint_token(&options.jwt_secret, request)?);
        return Ok(());
    }
    init_logging(options.log_format);
    let running = start(options).await?;
    println!("{}", running.banner());
    tokio::signal::ctrl_c().await?;
    running.stop().await;
    Ok(())
}
