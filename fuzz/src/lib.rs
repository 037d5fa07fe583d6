//! A structure-aware fuzzer that runs on the stable toolchain (no libFuzzer, no nightly):
//! seeds of valid WebSocket frames and REST bodies, mutated by a seeded PRNG, fed to
//! `ClientFrame::parse` and to the REST router. Oracles: nothing panics, every frame is
//! parsed or refused with a plain message, every REST answer is below 500 and a 4xx
//! carries the error body.
//!
//! Each execution draws its input from its own seed (the run's seed and its number), so
//! a finding is reproduced from that one number: `--replay frames:<seed>`.

mod frames;
mod mutate;
mod oracle;
mod rest;

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;

/// Which parser an execution feeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Frames,
    Rest,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Self::Frames => "frames",
            Self::Rest => "rest",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Self::Frames, Self::Rest]
            .into_iter()
            .find(|t| t.name() == name)
    }
}

/// How long a run lasts: a number of executions of each target, or a time. A timed run
/// alternates the targets: an input costs about as much to make as either costs to check.
#[derive(Clone, Copy, Debug)]
pub enum Budget {
    Executions { frames: u64, rest: u64 },
    Time(Duration),
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Report {
    pub frames: u64,
    pub rest: u64,
    /// How many inputs were accepted (a frame parsed, a 2xx): a run that is all refusals
    /// never got past the first check, and proves little.
    pub frames_accepted: u64,
    pub rest_accepted: u64,
    pub elapsed: Duration,
    pub findings: Vec<Finding>,
}

/// An input that broke an oracle, with the seed that regenerates it.
#[derive(Debug)]
pub struct Finding {
    pub target: Target,
    pub seed: u64,
    /// For REST: the method and path the body went to.
    pub request: Option<String>,
    pub input: Vec<u8>,
    pub problem: String,
}

/// More would only flood the report: the first few of a bug say all there is.
const MAX_FINDINGS: usize = 20;
/// How much of an input a report shows (the replay seed regenerates all of it).
const SHOWN_BYTES: usize = 2_048;

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "FINDING in {}: {}", self.target.name(), self.problem)?;
        if let Some(request) = &self.request {
            writeln!(f, "  request: {request}")?;
        }
        let shown = &self.input[..self.input.len().min(SHOWN_BYTES)];
        let more = if shown.len() < self.input.len() {
            format!(" (first {} of {} bytes)", shown.len(), self.input.len())
        } else {
            String::new()
        };
        writeln!(f, "  input{more}: {}", shown.escape_ascii())?;
        let hex: String = shown.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(f, "  hex: {hex}")?;
        write!(
            f,
            "  reproduce: cargo run --release -p chat-fuzz -- --replay {}:{}",
            self.target.name(),
            self.seed
        )
    }
}

/// Panics seen by the hook, wherever they happened (a spawned task's included).
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

std::thread_local! {
    /// Set while this thread runs an execution: its panics are findings, not test failures.
    static EXECUTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Records the panics of executions instead of printing them (a run reports them as
/// findings); any other panic, such as a failing test's, is printed as usual.
fn capture_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let usual = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !EXECUTING.get() {
                return usual(info);
            }
            if let Ok(mut panics) = PANICS.lock() {
                panics.push(format!("panicked: {info}"));
            }
        }));
    });
}

/// Runs `f` as an execution, its panics caught and recorded.
fn executing<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    EXECUTING.set(true);
    let outcome = catch_unwind(AssertUnwindSafe(f));
    EXECUTING.set(false);
    outcome
}

fn take_panic() -> Option<String> {
    PANICS.lock().ok().and_then(|mut panics| {
        let first = panics.first().cloned();
        panics.clear();
        first
    })
}

/// The seed of execution `n` of `target`: the run's seed and the target mixed first, then
/// `n`, so neither neighbouring executions nor neighbouring runs share inputs.
pub fn execution_seed(run_seed: u64, target: Target, n: u64) -> u64 {
    let stream = match target {
        Target::Frames => 0,
        Target::Rest => 1u64 << 63,
    };
    splitmix64(splitmix64(run_seed ^ stream).wrapping_add(n))
}

/// SplitMix64's finaliser: every input bit reaches every output bit.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Both targets, built once per run.
struct Fuzzer {
    corpus: Vec<serde_json::Value>,
    keys: Vec<&'static str>,
    rest: rest::RestTarget,
}

impl Fuzzer {
    fn new() -> Self {
        capture_panics();
        Self {
            corpus: frames::corpus(),
            keys: FRAME_KEYS.to_vec(),
            rest: rest::RestTarget::new(),
        }
    }

    /// Generates and checks the input of `seed`: whether it was accepted, or a finding when
    /// an oracle objects.
    fn execute(&mut self, target: Target, seed: u64) -> Result<bool, Finding> {
        let mut rng = StdRng::seed_from_u64(seed);
        let (request, input, outcome) = match target {
            Target::Frames => {
                let frame = frames::generate(&mut rng, &self.corpus, &self.keys);
                let outcome = executing(|| frames::check(&frame));
                (None, frame.into_bytes(), outcome)
            }
            Target::Rest => {
                let input = self.rest.generate(&mut rng);
                let rest = &self.rest;
                let outcome = executing(|| rest.check(&input));
                let request = format!("{} {}", input.method, input.path);
                (Some(request), input.body, outcome)
            }
        };
        // A panic caught here, or one in a task the request spawned: the hook saw both.
        let panicked = take_panic();
        let problem = match (outcome, panicked) {
            (_, Some(panic)) => panic,
            (Err(_), None) => "panicked".to_owned(),
            (Ok(Err(problem)), None) => problem,
            (Ok(Ok(accepted)), None) => return Ok(accepted),
        };
        Err(Finding {
            target,
            seed,
            request,
            input,
            problem,
        })
    }

    /// Execution `n` of `target` in the run of `run_seed`, counted in `report`.
    fn step(&mut self, report: &mut Report, run_seed: u64, target: Target) {
        let (done, accepted) = match target {
            Target::Frames => (&mut report.frames, &mut report.frames_accepted),
            Target::Rest => (&mut report.rest, &mut report.rest_accepted),
        };
        let seed = execution_seed(run_seed, target, *done);
        *done += 1;
        match self.execute(target, seed) {
            Ok(true) => *accepted += 1,
            Ok(false) => {}
            Err(finding) if report.findings.len() < MAX_FINDINGS => report.findings.push(finding),
            Err(_) => {}
        }
    }
}

/// Field names of the frames, for mutations that add one.
const FRAME_KEYS: [&str; 22] = [
    "action",
    "type",
    "mt",
    "session_id",
    "user_id",
    "content",
    "client_msg_id",
    "kind",
    "attachment_id",
    "is_typing",
    "message_id",
    "reaction",
    "before",
    "limit",
    "after_seq",
    "message",
    "message_type",
    "file",
    "requestId",
    "__proto__",
    "",
    "ACTION",
];

/// Runs `budget` from `seed`. Every input is answered; findings are collected, not fatal.
pub fn run(budget: Budget, seed: u64) -> Report {
    let mut fuzzer = Fuzzer::new();
    let started = Instant::now();
    let mut report = Report::default();
    match budget {
        Budget::Executions { frames, rest } => {
            for _ in 0..frames {
                fuzzer.step(&mut report, seed, Target::Frames);
            }
            for _ in 0..rest {
                fuzzer.step(&mut report, seed, Target::Rest);
            }
        }
        Budget::Time(limit) => {
            while started.elapsed() < limit {
                fuzzer.step(&mut report, seed, Target::Frames);
                fuzzer.step(&mut report, seed, Target::Rest);
            }
        }
    }
    report.elapsed = started.elapsed();
    report
}

/// Regenerates and checks the one input of `seed` (on fresh REST fixtures).
pub fn replay(target: Target, seed: u64) -> Option<Finding> {
    Fuzzer::new().execute(target, seed).err()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_anywhere_is_taken_as_a_finding() {
        capture_panics();
        let caught = executing(|| panic!("a planted panic"));
        assert!(caught.is_err());
        let seen = take_panic().unwrap_or_default();
        assert!(seen.contains("a planted panic"), "{seen:?}");
        assert_eq!(take_panic(), None, "taking a panic clears it");
    }

    #[test]
    fn execution_seeds_differ_across_targets_and_numbers() {
        let seeds = [
            execution_seed(1, Target::Frames, 0),
            execution_seed(1, Target::Frames, 1),
            execution_seed(1, Target::Rest, 0),
            execution_seed(2, Target::Frames, 0),
        ];
        for (i, a) in seeds.iter().enumerate() {
            assert!(seeds[i + 1..].iter().all(|b| a != b), "{seeds:?}");
        }
    }
}
