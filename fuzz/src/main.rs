//! `cargo run --release -p chat-fuzz -- --seconds 600 [--seed N]`: fuzzes both targets for
//! that long and prints the executions and every finding with its reproducer.
//! `--frames N --rest N` runs counts instead; `--replay frames:SEED` (or `rest:SEED`)
//! reruns one finding's input.

use std::process::ExitCode;
use std::time::Duration;

use chat_fuzz::{Budget, Target, replay, run};

const USAGE: &str =
    "usage: chat-fuzz [--seconds N | --frames N --rest N] [--seed N] | --replay TARGET:SEED";

fn main() -> ExitCode {
    match parse(std::env::args().skip(1).collect()) {
        Ok(Command::Run { budget, seed }) => fuzz(budget, seed),
        Ok(Command::Replay { target, seed }) => match replay(target, seed) {
            Some(finding) => {
                println!("{finding}");
                ExitCode::FAILURE
            }
            None => {
                println!("{}:{seed} passes every oracle", target.name());
                ExitCode::SUCCESS
            }
        },
        Err(problem) => {
            eprintln!("{problem}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn fuzz(budget: Budget, seed: u64) -> ExitCode {
    println!("fuzzing with seed {seed}: {budget:?}");
    let report = run(budget, seed);
    let seconds = report.elapsed.as_secs_f64().max(f64::EPSILON);
    println!(
        "{} frame executions ({:.0}/s, {} parsed), {} REST executions ({:.0}/s, {} 2xx) in {:.1} s; {} findings",
        report.frames,
        report.frames as f64 / seconds,
        report.frames_accepted,
        report.rest,
        report.rest as f64 / seconds,
        report.rest_accepted,
        seconds,
        report.findings.len()
    );
    for finding in &report.findings {
        println!("\n{finding}");
    }
    if report.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

enum Command {
    Run { budget: Budget, seed: u64 },
    Replay { target: Target, seed: u64 },
}

fn parse(args: Vec<String>) -> Result<Command, String> {
    let mut seconds = None;
    let (mut frames, mut rest) = (None, None);
    // A fresh seed by default, printed so the run can be repeated.
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--seconds" => seconds = Some(number(&value()?)?),
            "--frames" => frames = Some(number(&value()?)?),
            "--rest" => rest = Some(number(&value()?)?),
            "--seed" => seed = number(&value()?)?,
            "--replay" => {
                let spec = value()?;
                let (target, seed) = spec
                    .split_once(':')
                    .ok_or(format!("--replay takes TARGET:SEED, not {spec:?}"))?;
                let target = Target::parse(target)
                    .ok_or(format!("no target {target:?} (frames or rest)"))?;
                return Ok(Command::Replay {
                    target,
                    seed: number(seed)?,
                });
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let budget = match (seconds, frames, rest) {
        (Some(seconds), None, None) => Budget::Time(Duration::from_secs(seconds)),
        (None, frames, rest) if frames.is_some() || rest.is_some() => Budget::Executions {
            frames: frames.unwrap_or(0),
            rest: rest.unwrap_or(0),
        },
        (None, None, None) => Budget::Time(Duration::from_secs(60)),
        _ => return Err("--seconds does not go with --frames or --rest".into()),
    };
    Ok(Command::Run { budget, seed })
}

fn number(text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| format!("{text:?} is not a whole number"))
}
