//! The OpenAPI document: `docs/openapi.json` is what the code generates, it is a valid
//! OpenAPI 3.1 document, and its paths are the ones the source routes (read from the
//! `.route(` calls themselves, not from the annotations). `router.rs` checks that the
//! router answers exactly the documented methods, with answers their schemas describe.
//!
//! `UPDATE_OPENAPI=1 cargo test -p chat-rest --test openapi` rewrites the document.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

const REGENERATE: &str = "UPDATE_OPENAPI=1 cargo test -p chat-rest --test openapi";

fn workspace_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

fn document() -> Value {
    serde_json::to_value(chat_rest::openapi()).expect("a JSON document")
}

#[test]
fn the_committed_document_is_the_one_the_code_generates() {
    let committed = workspace_file("docs/openapi.json");
    let generated = chat_rest::openapi_json();
    if std::env::var_os("UPDATE_OPENAPI").is_some_and(|value| value == "1") {
        std::fs::write(&committed, &generated).expect("docs/openapi.json written");
        return;
    }
    let on_disk = std::fs::read_to_string(&committed).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/openapi.json is not what the code generates: run `{REGENERATE}` and commit it"
    );
}

#[test]
fn the_document_is_openapi_3_1_and_reads_back() {
    let json = chat_rest::openapi_json();
    let read: utoipa::openapi::OpenApi = serde_json::from_str(&json).expect("an OpenAPI document");
    let document = document();
    let again = serde_json::to_value(&read).expect("a JSON document");
    assert_eq!(again, document, "the document reads back as another");
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

#[test]
fn every_operation_has_its_own_id_and_describes_its_errors() {
    let document = document();
    let mut ids = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            if method == "parameters" {
                continue;
            }
            let id = operation["operationId"].as_str().expect("an operation id");
            assert!(ids.insert(id.to_owned()), "{method} {path}: {id} twice");
            let error = &operation["responses"]["4XX"]["$ref"];
            assert_eq!(error, "#/components/responses/Error", "{method} {path}");
        }
    }
}

#[test]
fn every_path_parameter_is_declared() {
    let document = document();
    for (path, item) in document["paths"].as_object().expect("paths") {
        let templated: BTreeSet<&str> = path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        let declared: BTreeSet<&str> = item["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|parameter| parameter["in"] == "path")
            .filter_map(|parameter| parameter["name"].as_str())
            .collect();
        assert_eq!(templated, declared, "{path}");
    }
}

/// The path of every `.route("...", ...)` call in the crate's source.
fn routed_paths() -> BTreeSet<String> {
    let mut files = vec![workspace_file("shared/rest/src")];
    let mut paths = BTreeSet::new();
    while let Some(file) = files.pop() {
        if file.is_dir() {
            let entries = std::fs::read_dir(&file).expect("a source directory");
            files.extend(entries.map(|entry| entry.expect("an entry").path()));
            continue;
        }
        if file.extension().is_none_or(|extension| extension != "rs") {
            continue;
        }
        let source = std::fs::read_to_string(&file).expect("a source file");
        for call in source.split(".route(").skip(1) {
            let literal = call
                .trim_start()
                .strip_prefix('"')
                .and_then(|rest| rest.split_once('"').map(|(path, _)| path.to_owned()));
            paths.insert(literal.unwrap_or_else(|| {
                panic!("{}: a .route( whose path is not a literal", file.display())
            }));
        }
    }
    paths
}

#[test]
fn the_documented_paths_are_the_routed_paths() {
    let routed = routed_paths();
    assert!(routed.len() > 40, "{routed:?}");
    let document = document();
    let documented: BTreeSet<String> = document["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routed but not in the OpenAPI document: {undocumented:?}"
    );
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        unrouted.is_empty(),
        "in the OpenAPI document but routed nowhere: {unrouted:?}"
    );
}
