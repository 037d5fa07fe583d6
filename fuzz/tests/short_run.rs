//! The fuzzer's share of the test command: a fixed number of executions from a fixed seed,
//! failing on any finding (`cargo run --release -p chat-fuzz -- --seconds 600` runs longer).

use chat_fuzz::{Budget, run};

#[test]
fn a_short_run_finds_nothing() {
    let report = run(
        Budget::Executions {
            frames: 20_000,
            rest: 2_000,
        },
        0x5eed_c4a7,
    );
    eprintln!(
        "fuzz: {} frames ({} parsed) and {} REST bodies ({} 2xx) in {:.1} s",
        report.frames,
        report.frames_accepted,
        report.rest,
        report.rest_accepted,
        report.elapsed.as_secs_f64()
    );
    let findings: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
    assert!(findings.is_empty(), "{}", findings.join("\n\n"));
    assert_eq!((report.frames, report.rest), (20_000, 2_000));
    // Mutants that still parse and succeed exercise the handlers past the first check.
    assert!(report.frames_accepted > 500, "{report:?}");
    assert!(report.rest_accepted > 50, "{report:?}");
}
