//! `chat-local`: the chat backend on a laptop. `cargo run -p chat-local` serves the REST API
//! on 127.0.0.1:3000 and the WebSocket API on 127.0.0.1:3001, on the embedded store.

use chat_local::{Command, Options, mint_token, start};
use clap::Parser;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = Options::parse();
    if let Some(Command::Token(request)) = &options.command {
        println!("{}", mint_token(&options.jwt_secret, request)?);
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,aws_smithy_runtime=warn,aws_config=warn".into()),
        )
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let running = start(options).await?;
    println!("{}", running.banner());
    tokio::signal::ctrl_c().await?;
    running.stop().await;
    Ok(())
}
