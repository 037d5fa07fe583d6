//! The hexagon, held by the compiler's inputs: the core crate's dependency tree has no AWS
//! SDK, Lambda runtime, HTTP client or server in it, and each function links only the
//! adapters it uses. Read from `cargo metadata` (normal and build dependencies; what tests
//! use does not count).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

/// `aws-lc-rs` is a cryptography library (the backend of jsonwebtoken and rustls), not an
/// AWS service client: the one `aws-` crate the core may have.
const ALLOWED_AWS_CRATES: [&str; 2] = ["aws-lc-rs", "aws-lc-sys"];

/// Crates that would mean the core reaches AWS, Lambda or the network itself.
fn forbidden_in_core(name: &str) -> bool {
    (name.starts_with("aws-") && !ALLOWED_AWS_CRATES.contains(&name))
        || name.starts_with("aws_")
        || name.starts_with("lambda_")
        || name.starts_with("lambda-")
        || name == "reqwest"
        || name == "hyper"
        || name.starts_with("hyper-")
        || name == "axum"
        || name.starts_with("tower-http")
}

/// Every package's name and its normal and build dependencies, by package id.
struct Graph {
    names: BTreeMap<String, String>,
    edges: BTreeMap<String, Vec<String>>,
}

impl Graph {
    fn of_workspace() -> Self {
        let output = Command::new(env!("CARGO"))
            .args(["metadata", "--format-version", "1", "--locked"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cargo metadata runs");
        assert!(
            output.status.success(),
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let metadata: Value = serde_json::from_slice(&output.stdout).expect("metadata is JSON");
        let names = metadata["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .map(|p| (text(&p["id"]), text(&p["name"])))
            .collect();
        let edges = metadata["resolve"]["nodes"]
            .as_array()
            .expect("a resolved graph")
            .iter()
            .map(|node| {
                let linked = node["deps"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|dep| {
                        dep["dep_kinds"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|kind| matches!(kind["kind"].as_str(), None | Some("build")))
                    })
                    .map(|dep| text(&dep["pkg"]))
                    .collect();
                (text(&node["id"]), linked)
            })
            .collect();
        Self { names, edges }
    }

    /// The names of everything `package` links, itself excluded.
    fn tree(&self, package: &str) -> BTreeSet<String> {
        let root = self
            .names
            .iter()
            .find(|(_, name)| *name == package)
            .map(|(id, _)| id.clone())
            .unwrap_or_else(|| panic!("{package} is in the workspace"));
        let mut seen = BTreeSet::new();
        let mut todo = vec![root.clone()];
        while let Some(id) = todo.pop() {
            for dep in self.edges.get(&id).into_iter().flatten() {
                if seen.insert(dep.clone()) {
                    todo.push(dep.clone());
                }
            }
        }
        seen.iter().map(|id| self.names[id].clone()).collect()
    }
}

fn text(value: &Value) -> String {
    value.as_str().expect("a string").to_owned()
}

#[test]
fn the_core_crate_depends_on_no_aws_sdk_lambda_http_client_or_server() {
    let tree = Graph::of_workspace().tree("chat-core");
    let forbidden: Vec<&String> = tree.iter().filter(|name| forbidden_in_core(name)).collect();
    assert!(
        forbidden.is_empty(),
        "chat-core must stay free of AWS, Lambda and HTTP crates: {forbidden:?}"
    );
    assert!(
        tree.contains("jsonwebtoken"),
        "the graph was read: {tree:?}"
    );
}

#[test]
fn each_function_links_only_the_adapters_it_uses() {
    let graph = Graph::of_workspace();
    // (function, what it must link, what it must not)
    let expectations: [(&str, &[&str], &[&str]); 7] = [
        (
            "authorizer",
            &["chat-core", "chat-apigw", "chat-providers", "chat-aws-base"],
            &[
                "chat-aws",
                "aws-sdk-dynamodb",
                "aws-sdk-lambda",
                "aws-sdk-s3",
                "chat-rest",
            ],
        ),
        (
            "connect",
            &["chat-aws", "chat-apigw", "aws-sdk-lambda"],
            &[
                "reqwest",
                "chat-providers",
                "aws-sdk-bedrockruntime",
                "chat-rest",
            ],
        ),
        (
            "disconnect",
            &["chat-aws", "chat-apigw"],
            &[
                "reqwest",
                "chat-providers",
                "aws-sdk-bedrockruntime",
                "chat-rest",
            ],
        ),
        (
            "message",
            &["chat-aws", "chat-apigw"],
            &[
                "reqwest",
                "chat-providers",
                "aws-sdk-bedrockruntime",
                "chat-rest",
            ],
        ),
        (
            "sessions",
            &["chat-aws", "chat-rest", "lambda_http"],
            &["aws-sdk-bedrockruntime", "chat-embedded"],
        ),
        (
            "uploads",
            &["chat-aws", "chat-rest", "lambda_http"],
            &["aws-sdk-bedrockruntime", "chat-embedded"],
        ),
        (
            "bot",
            &["chat-aws", "chat-bedrock", "chat-providers"],
            &["chat-rest", "lambda_http", "chat-embedded"],
        ),
    ];
    let functions: BTreeSet<&str> = expectations.iter().map(|(f, _, _)| *f).collect();
    for (function, links, never) in expectations {
        let tree = graph.tree(function);
        for wanted in links {
            assert!(tree.contains(*wanted), "{function} links {wanted}");
        }
        for unwanted in never {
            assert!(
                !tree.contains(*unwanted),
                "{function} must not link {unwanted}"
            );
        }
        let other_functions: Vec<&String> = tree
            .iter()
            .filter(|name| functions.contains(name.as_str()))
            .collect();
        assert!(
            other_functions.is_empty(),
            "{function} depends on another function's crate: {other_functions:?}"
        );
    }
}
