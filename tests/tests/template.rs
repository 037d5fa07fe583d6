//! `template.yaml` against the code: a function resource for every crate in `functions/`
//! and a crate for every function resource; WebSocket routes that lead where the code
//! expects frames; the table the DynamoDB adapter creates; an environment with which every
//! function gets through its cold start. `infra/lint.sh` checks the template against
//! CloudFormation itself (cfn-lint, `sam validate --lint`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chat_aws::DynamoStore;
use chat_aws::dynamodb::{GSI1, GSI2, local_client};
use chat_core::config::{self, Config, Secret, Source, WithStored};
use chat_core::protocol::{ClientFrame, FrameError};
use serde_json::{Map, Value, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_owned()
}

/// The template, short-form tags (`!Ref X`, `!GetAtt A.B`, `!Sub s`) turned into the JSON
/// form CloudFormation documents (`{"Ref": "X"}`, `{"Fn::GetAtt": ["A", "B"]}`, ...).
fn template() -> Value {
    let path = root().join("template.yaml");
    let text = std::fs::read_to_string(&path).expect("template.yaml at the workspace root");
    let yaml: serde_norway::Value = serde_norway::from_str(&text).expect("template.yaml parses");
    to_json(&yaml)
}

fn to_json(yaml: &serde_norway::Value) -> Value {
    use serde_norway::Value as Yaml;
    match yaml {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(*b),
        Yaml::Number(n) => n
            .as_i64()
            .map(Value::from)
            .or_else(|| n.as_u64().map(Value::from))
            .or_else(|| n.as_f64().map(Value::from))
            .unwrap_or(Value::Null),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Mapping(mapping) => Value::Object(
            mapping
                .iter()
                .map(|(key, value)| {
                    let key = match key {
                        Yaml::String(s) => s.clone(),
                        other => serde_norway::to_string(other)
                            .expect("a scalar key")
                            .trim()
                            .to_owned(),
                    };
                    (key, to_json(value))
                })
                .collect(),
        ),
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let value = to_json(&tagged.value);
            match name {
                "Ref" | "Condition" => json!({ name: value }),
                "GetAtt" => {
                    let value = match value {
                        Value::String(dotted) => {
                            let (resource, attribute) =
                                dotted.split_once('.').expect("!GetAtt Resource.Attribute");
                            json!([resource, attribute])
                        }
                        other => other,
                    };
                    json!({ "Fn::GetAtt": value })
                }
                _ => json!({ format!("Fn::{name}"): value }),
            }
        }
    }
}

fn resources(template: &Value) -> &Map<String, Value> {
    template["Resources"].as_object().expect("Resources")
}

/// The logical ids and resources of one type.
fn of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    resources(template)
        .iter()
        .filter(|(_, resource)| resource["Type"] == kind)
        .map(|(id, resource)| (id.as_str(), resource))
        .collect()
}

/// A function's property, or the template's `Globals.Function` one.
fn function_property<'a>(template: &'a Value, function: &'a Value, name: &str) -> &'a Value {
    match &function["Properties"][name] {
        Value::Null => &template["Globals"]["Function"][name],
        value => value,
    }
}

/// The target of `{"Ref": X}`.
fn ref_target(value: &Value) -> Option<&str> {
    value["Ref"].as_str()
}

/// The `${Name}` and `${Name.Attribute}` references of an `Fn::Sub` string, by name.
fn sub_references(value: &Value) -> BTreeSet<String> {
    let text = match &value["Fn::Sub"] {
        Value::String(text) => text.as_str(),
        Value::Array(parts) => parts[0].as_str().unwrap_or_default(),
        _ => "",
    };
    text.split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}'))
        .map(|(name, _)| name.split('.').next().unwrap_or(name).to_owned())
        .collect()
}

/// The crates in `functions/`: directory name to package name.
fn function_crates() -> BTreeMap<String, String> {
    let mut crates = BTreeMap::new();
    for entry in std::fs::read_dir(root().join("functions")).expect("functions/") {
        let dir = entry.expect("a directory entry").path();
        let manifest = dir.join("Cargo.toml");
        if !manifest.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&manifest).expect("a readable Cargo.toml");
        let package = text
            .split("[package]")
            .nth(1)
            .and_then(|section| {
                section
                    .lines()
                    .take_while(|line| !line.trim_start().starts_with('['))
                    .find_map(|line| {
                        let (key, value) = line.split_once('=')?;
                        (key.trim() == "name").then(|| value.trim().trim_matches('"').to_owned())
                    })
            })
            .unwrap_or_else(|| panic!("{} names its package", manifest.display()));
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a UTF-8 directory name")
            .to_owned();
        crates.insert(name, package);
    }
    crates
}

/// Each function resource's logical id and the crate directory its `CodeUri` names.
fn function_resources(template: &Value) -> BTreeMap<String, String> {
    of_type(template, "AWS::Serverless::Function")
        .into_iter()
        .map(|(id, function)| {
            let code = function["Properties"]["CodeUri"]
                .as_str()
                .unwrap_or_else(|| panic!("{id} has a CodeUri"));
            let dir = code
                .strip_prefix("functions/")
                .unwrap_or_else(|| panic!("{id}'s CodeUri {code} is a crate in functions/"));
            (id.to_owned(), dir.trim_end_matches('/').to_owned())
        })
        .collect()
}

/// The crate directory behind a function logical id.
fn crate_of(template: &Value, function: &str) -> String {
    function_resources(template)
        .remove(function)
        .unwrap_or_else(|| panic!("{function} is a function of the template"))
}

/// The one function an `AWS_PROXY` integration URI (`Fn::Sub` of `${X.Arn}`) invokes.
fn invoked_function(template: &Value, uri: &Value) -> String {
    let functions = function_resources(template);
    let invoked: Vec<String> = sub_references(uri)
        .into_iter()
        .filter(|name| functions.contains_key(name))
        .collect();
    assert_eq!(invoked.len(), 1, "{uri} invokes exactly one function");
    invoked[0].clone()
}

/// The WebSocket routes: route key to the route resource.
fn websocket_routes(template: &Value) -> BTreeMap<String, Value> {
    of_type(template, "AWS::ApiGatewayV2::Route")
        .into_iter()
        .map(|(id, route)| {
            let key = route["Properties"]["RouteKey"]
                .as_str()
                .unwrap_or_else(|| panic!("{id} has a RouteKey"));
            (key.to_owned(), route["Properties"].clone())
        })
        .collect()
}

/// The crate a WebSocket route's integration invokes.
fn route_crate(template: &Value, route: &Value) -> String {
    let integration = sub_references(&route["Target"])
        .into_iter()
        .next()
        .expect("a route targets integrations/${Integration}");
    let integration = &resources(template)[&integration];
    assert_eq!(integration["Type"], "AWS::ApiGatewayV2::Integration");
    assert_eq!(integration["Properties"]["IntegrationType"], "AWS_PROXY");
    let function = invoked_function(template, &integration["Properties"]["IntegrationUri"]);
    crate_of(template, &function)
}

/// Whether the message router takes `action` as one of its own: an unknown action is
/// refused as such, a known one at worst for its missing fields.
fn router_knows(action: &str) -> bool {
    let frame = json!({ "action": action }).to_string();
    !matches!(
        ClientFrame::parse(&frame),
        Err(FrameError::UnknownAction(_))
    )
}

#[test]
fn every_function_crate_has_a_function_resource_and_every_function_resource_a_crate() {
    let template = template();
    let crates = function_crates();
    let resources = function_resources(&template);
    let deployed: BTreeSet<&String> = resources.values().collect();
    let built: BTreeSet<&String> = crates.keys().collect();
    assert_eq!(
        deployed, built,
        "the template's functions are the crates in functions/"
    );
    assert_eq!(
        resources.len(),
        deployed.len(),
        "no crate is deployed twice"
    );
    for (id, dir) in &resources {
        let function = &template["Resources"][id];
        assert_eq!(
            function["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{id} is built by cargo-lambda"
        );
        assert_eq!(
            function["Metadata"]["BuildProperties"]["Binary"], crates[dir],
            "{id} names its crate's binary"
        );
        assert!(
            root()
                .join("functions")
                .join(dir)
                .join("src/main.rs")
                .is_file(),
            "functions/{dir} is a binary crate"
        );
    }
}

#[test]
fn every_function_runs_its_bootstrap_on_arm64_and_al2023() {
    let template = template();
    for (id, function) in of_type(&template, "AWS::Serverless::Function") {
        assert_eq!(
            function_property(&template, function, "Runtime"),
            "provided.al2023",
            "{id}"
        );
        assert_eq!(
            function_property(&template, function, "Architectures"),
            &json!(["arm64"]),
            "{id}"
        );
        assert_eq!(
            function_property(&template, function, "Handler"),
            "bootstrap",
            "{id}"
        );
    }
}

#[test]
fn the_router_check_tells_known_actions_from_unknown_ones() {
    for action in [
        "join", "send", "typing", "edit", "delete", "react", "unreact",
    ] {
        assert!(router_knows(action), "{action}");
    }
    for action in ["history", "stop", "leave", "ping"] {
        assert!(router_knows(action), "{action}");
    }
    assert!(!router_knows("sendmessage"));
    assert!(!router_knows("$default"));
}

#[test]
fn websocket_frames_are_routed_by_their_action_and_all_reach_the_message_function() {
    let template = template();
    let apis = of_type(&template, "AWS::ApiGatewayV2::Api");
    assert_eq!(apis.len(), 1, "one WebSocket API");
    let api = &apis[0].1["Properties"];
    assert_eq!(api["ProtocolType"], "WEBSOCKET");
    assert_eq!(api["RouteSelectionExpression"], "$request.body.action");

    let routes = websocket_routes(&template);
    for (key, expected) in [
        ("$connect", "connect"),
        ("$disconnect", "disconnect"),
        ("$default", "message"),
    ] {
        let route = routes.get(key).unwrap_or_else(|| panic!("a {key} route"));
        assert_eq!(route_crate(&template, route), expected, "{key}");
    }
    for (key, route) in &routes {
        if key.starts_with('$') {
            assert!(
                ["$connect", "$disconnect", "$default"].contains(&key.as_str()),
                "{key} is a route API Gateway has"
            );
            continue;
        }
        assert!(
            router_knows(key),
            "the route {key} is an action the message router handles"
        );
        assert_eq!(route_crate(&template, route), "message", "{key}");
    }
}

#[test]
fn only_connect_is_authorized_and_its_authorizer_may_find_the_token_anywhere() {
    let template = template();
    let routes = websocket_routes(&template);
    for (key, route) in &routes {
        let expected = if key == "$connect" { "CUSTOM" } else { "NONE" };
        assert_eq!(route["AuthorizationType"], expected, "{key}");
    }
    let authorizer_id =
        ref_target(&routes["$connect"]["AuthorizerId"]).expect("$connect names its authorizer");
    let authorizer = &template["Resources"][authorizer_id];
    assert_eq!(authorizer["Type"], "AWS::ApiGatewayV2::Authorizer");
    let properties = &authorizer["Properties"];
    assert_eq!(properties["AuthorizerType"], "REQUEST");
    assert_eq!(
        crate_of(
            &template,
            &invoked_function(&template, &properties["AuthorizerUri"])
        ),
        "authorizer"
    );
    // The token may be in the query, a header, a cookie or the subprotocol: any identity
    // source would have API Gateway refuse the handshakes that carry it elsewhere.
    assert_eq!(
        properties["IdentitySource"],
        Value::Null,
        "no identity sources"
    );
}

#[test]
fn api_gateway_may_invoke_each_websocket_function_through_this_api_only() {
    let template = template();
    let routes = websocket_routes(&template);
    let mut invoked: Vec<String> = routes
        .values()
        .map(|route| {
            let integration = sub_references(&route["Target"])
                .into_iter()
                .next()
                .expect("a target");
            invoked_function(
                &template,
                &template["Resources"][&integration]["Properties"]["IntegrationUri"],
            )
        })
        .collect();
    let authorizer = ref_target(&routes["$connect"]["AuthorizerId"]).expect("an authorizer");
    invoked.push(invoked_function(
        &template,
        &template["Resources"][authorizer]["Properties"]["AuthorizerUri"],
    ));
    let permissions = of_type(&template, "AWS::Lambda::Permission");
    for function in invoked {
        let granted: Vec<&Value> = permissions
            .iter()
            .map(|(_, permission)| &permission["Properties"])
            .filter(|p| ref_target(&p["FunctionName"]) == Some(function.as_str()))
            .collect();
        assert_eq!(granted.len(), 1, "one permission for {function}");
        let permission = granted[0];
        assert_eq!(permission["Principal"], "apigateway.amazonaws.com");
        assert_eq!(permission["Action"], "lambda:InvokeFunction");
        assert!(
            sub_references(&permission["SourceArn"]).contains("WebSocketApi"),
            "{function} may be invoked by this API only: {}",
            permission["SourceArn"]
        );
    }
}

#[test]
fn the_http_api_sends_the_upload_routes_to_uploads_and_every_other_request_to_sessions() {
    let template = template();
    let mut routes: BTreeMap<String, String> = BTreeMap::new();
    for (id, function) in of_type(&template, "AWS::Serverless::Function") {
        let Some(events) = function["Properties"]["Events"].as_object() else {
            continue;
        };
        for event in events.values() {
            if event["Type"] != "HttpApi" {
                continue;
            }
            assert_eq!(ref_target(&event["Properties"]["ApiId"]), Some("HttpApi"));
            let route = match (
                event["Properties"]["Method"].as_str(),
                event["Properties"]["Path"].as_str(),
            ) {
                (None, None) => "$default".to_owned(),
                (Some(method), Some(path)) => format!("{method} {path}"),
                _ => panic!("{id}: an HttpApi event names both Method and Path, or neither"),
            };
            let previous = routes.insert(route.clone(), crate_of(&template, id));
            assert!(previous.is_none(), "{route} is routed once");
        }
    }
    // The uploads function's own list (chat-local routes by it too), the rest to sessions.
    let expected: BTreeMap<String, String> = chat_rest::uploads::ROUTES
        .iter()
        .map(|route| ((*route).to_owned(), "uploads".to_owned()))
        .chain([("$default".to_owned(), "sessions".to_owned())])
        .collect();
    assert_eq!(routes, expected);
}

/// The table resource's `Properties`.
fn table(template: &Value) -> &Value {
    let tables = of_type(template, "AWS::DynamoDB::Table");
    assert_eq!(tables.len(), 1, "one table");
    &tables[0].1["Properties"]
}

/// `[{AttributeName, KeyType}]` as `(name, type)` pairs.
fn key_schema(schema: &Value) -> Vec<(String, String)> {
    schema
        .as_array()
        .expect("a key schema")
        .iter()
        .map(|key| {
            (
                key["AttributeName"].as_str().expect("a name").to_owned(),
                key["KeyType"].as_str().expect("a key type").to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_table_index_is_the_one_the_store_queries() {
    let template = template();
    let table = table(&template);
    let indexes = table["GlobalSecondaryIndexes"]
        .as_array()
        .expect("an index");
    assert_eq!(indexes.len(), 2);
    assert_eq!(indexes[0]["IndexName"], GSI1);
    // The sweeper's: keys only, so no write of anything else reaches it.
    assert_eq!(indexes[1]["IndexName"], GSI2);
    assert_eq!(
        key_schema(&indexes[1]["KeySchema"]),
        [
            ("gsi2pk".to_owned(), "HASH".to_owned()),
            ("gsi2sk".to_owned(), "RANGE".to_owned())
        ]
    );
    assert_eq!(indexes[1]["Projection"]["ProjectionType"], "KEYS_ONLY");
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(table["TimeToLiveSpecification"]["Enabled"], true);
}

/// The DynamoDB endpoint `infra/test.sh` starts (moto), or `None`, said aloud, under plain
/// `cargo test`.
fn dynamodb_endpoint() -> Option<String> {
    chat_testkit::emulator_endpoint(
        "the comparison of the template's table with the DynamoDB store's was",
    )
}

/// A described key schema as `(name, type)` pairs (the SDK's types are not named here:
/// the client comes from the store's crate).
macro_rules! pairs {
    ($schema:expr) => {
        $schema
            .iter()
            .map(|key| {
                (
                    key.attribute_name().to_owned(),
                    key.key_type().as_str().to_owned(),
                )
            })
            .collect::<Vec<(String, String)>>()
    };
}

#[tokio::test]
async fn the_table_has_the_keys_index_and_ttl_of_the_table_the_dynamodb_store_creates() {
    let Some(endpoint) = dynamodb_endpoint() else {
        return;
    };
    let client = local_client(&endpoint);
    let name = format!(
        "template-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_nanos()
    );
    DynamoStore::new(&client, name.clone())
        .create_table_if_absent()
        .await
        .expect("the store creates its table");
    let described = client
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .expect("the table is described");
    let created = described.table().expect("a table");
    let ttl = client
        .describe_time_to_live()
        .table_name(&name)
        .send()
        .await
        .expect("its TTL is described");
    let _ = client.delete_table().table_name(&name).send().await;

    let template = template();
    let declared = table(&template);
    assert_eq!(
        key_schema(&declared["KeySchema"]),
        pairs!(created.key_schema()),
        "the table's keys"
    );
    let attributes: BTreeSet<(String, String)> = created
        .attribute_definitions()
        .iter()
        .map(|a| {
            (
                a.attribute_name().to_owned(),
                a.attribute_type().as_str().to_owned(),
            )
        })
        .collect();
    let declared_attributes: BTreeSet<(String, String)> = declared["AttributeDefinitions"]
        .as_array()
        .expect("attribute definitions")
        .iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().expect("a name").to_owned(),
                a["AttributeType"].as_str().expect("a type").to_owned(),
            )
        })
        .collect();
    assert_eq!(declared_attributes, attributes, "the key attributes");

    // Global and local index descriptions are different types with the same accessors.
    macro_rules! described {
        ($indexes:expr) => {
            $indexes
                .iter()
                .map(|index| {
                    (
                        index.index_name().expect("a name").to_owned(),
                        (
                            pairs!(index.key_schema()),
                            index
                                .projection()
                                .and_then(|p| p.projection_type())
                                .map(|t| t.as_str().to_owned())
                                .unwrap_or_default(),
                        ),
                    )
                })
                .collect::<BTreeMap<String, (Vec<(String, String)>, String)>>()
        };
    }
    let declared_of = |kind: &str| -> BTreeMap<String, (Vec<(String, String)>, String)> {
        declared[kind]
            .as_array()
            .expect("indexes")
            .iter()
            .map(|index| {
                (
                    index["IndexName"].as_str().expect("a name").to_owned(),
                    (
                        key_schema(&index["KeySchema"]),
                        index["Projection"]["ProjectionType"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    ),
                )
            })
            .collect()
    };
    assert_eq!(
        declared_of("GlobalSecondaryIndexes"),
        described!(created.global_secondary_indexes()),
        "the global index"
    );
    assert_eq!(
        declared_of("LocalSecondaryIndexes"),
        described!(created.local_secondary_indexes()),
        "the local index"
    );

    let ttl_attribute = ttl
        .time_to_live_description()
        .and_then(|d| d.attribute_name())
        .expect("a TTL attribute");
    assert_eq!(
        declared["TimeToLiveSpecification"]["AttributeName"], ttl_attribute,
        "the TTL attribute"
    );
}

/// What a deployment passes for the template's parameters: a secret (the template's Rules
/// require one way to verify tokens), defaults for the rest.
fn parameters(template: &Value, overrides: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut values: BTreeMap<String, String> = template["Parameters"]
        .as_object()
        .expect("Parameters")
        .iter()
        .map(|(name, parameter)| {
            let default = match &parameter["Default"] {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (name.clone(), default)
        })
        .collect();
    for (name, value) in overrides {
        assert!(values.contains_key(*name), "a parameter {name}");
        values.insert((*name).to_owned(), (*value).to_owned());
    }
    values
}

/// Evaluates what environment variables use: Ref (parameters, pseudo parameters, resources
/// as their logical ids), Sub, If on conditions of Equals, Not, And, Or. `None` is
/// AWS::NoValue.
fn evaluate(
    template: &Value,
    parameters: &BTreeMap<String, String>,
    value: &Value,
) -> Option<String> {
    let reference = |name: &str| -> Option<String> {
        match name {
            "AWS::NoValue" => None,
            "AWS::Region" => Some("us-east-1".to_owned()),
            "AWS::URLSuffix" => Some("amazonaws.com".to_owned()),
            "AWS::Partition" => Some("aws".to_owned()),
            "AWS::AccountId" => Some("123456789012".to_owned()),
            "AWS::StackName" => Some("chat".to_owned()),
            other => Some(
                parameters
                    .get(other)
                    .cloned()
                    .unwrap_or_else(|| other.to_lowercase()),
            ),
        }
    };
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Object(object) if object.contains_key("Ref") => {
            reference(object["Ref"].as_str().expect("Ref names something"))
        }
        Value::Object(object) if object.contains_key("Fn::Sub") => {
            let text = object["Fn::Sub"].as_str().expect("a Sub string");
            let mut out = String::new();
            let mut rest = text;
            while let Some((before, after)) = rest.split_once("${") {
                out.push_str(before);
                let (name, after) = after.split_once('}').expect("a closed ${...}");
                let name = name.split('.').next().unwrap_or(name);
                out.push_str(&reference(name).unwrap_or_default());
                rest = after;
            }
            out.push_str(rest);
            Some(out)
        }
        Value::Object(object) if object.contains_key("Fn::If") => {
            evaluate(template, parameters, chosen(template, parameters, object))
        }
        other => panic!("an environment value this test cannot evaluate: {other}"),
    }
}

/// The branch of an `Fn::If` its condition picks.
fn chosen<'a>(
    template: &Value,
    parameters: &BTreeMap<String, String>,
    object: &'a Map<String, Value>,
) -> &'a Value {
    let branches = object["Fn::If"].as_array().expect("If [condition, a, b]");
    let condition = branches[0].as_str().expect("a condition name");
    let holds = condition_holds(template, parameters, &template["Conditions"][condition]);
    &branches[if holds { 1 } else { 2 }]
}

fn condition_holds(
    template: &Value,
    parameters: &BTreeMap<String, String>,
    condition: &Value,
) -> bool {
    if let Some(name) = condition["Condition"].as_str() {
        return condition_holds(template, parameters, &template["Conditions"][name]);
    }
    let object = condition.as_object().expect("a condition");
    let (function, arguments) = object.iter().next().expect("one function");
    let arguments = arguments.as_array().expect("arguments");
    match function.as_str() {
        "Fn::Equals" => {
            evaluate(template, parameters, &arguments[0])
                == evaluate(template, parameters, &arguments[1])
        }
        "Fn::Not" => !condition_holds(template, parameters, &arguments[0]),
        "Fn::And" => arguments
            .iter()
            .all(|a| condition_holds(template, parameters, a)),
        "Fn::Or" => arguments
            .iter()
            .any(|a| condition_holds(template, parameters, a)),
        other => panic!("a condition function this test cannot evaluate: {other}"),
    }
}

/// A function's environment as deployed: `Globals` merged with its own variables.
struct Environment(BTreeMap<String, String>);

impl Source for Environment {
    fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

fn environment(
    template: &Value,
    function: &Value,
    parameters: &BTreeMap<String, String>,
) -> Environment {
    let mut variables = BTreeMap::new();
    for scope in [&template["Globals"]["Function"], &function["Properties"]] {
        if let Some(set) = scope["Environment"]["Variables"].as_object() {
            for (name, value) in set {
                match evaluate(template, parameters, value) {
                    Some(value) => variables.insert(name.clone(), value),
                    None => variables.remove(name),
                };
            }
        }
    }
    Environment(variables)
}

/// What deployments pass: a secret to sign tokens (HS256), or an identity provider's keys
/// with a visitor secret, an OpenAI bot and its key, a system prompt and a word list.
fn deployments(template: &Value) -> [BTreeMap<String, String>; 2] {
    const SECRET: &str = "a-deployment-secret-of-at-least-32-bytes";
    [
        parameters(template, &[("JwtSecret", SECRET)]),
        parameters(
            template,
            &[
                ("JwksUrl", "https://id.example/.well-known/jwks.json"),
                ("VisitorTokenSecret", SECRET),
                ("AllowedContentTypes", "image/png,application/pdf"),
                ("BotProvider", "openai"),
                ("OpenAiModel", "gpt-4o-mini"),
                ("OpenAiApiKey", "sk-a-key-of-the-model-server"),
                (
                    "BotSystemPrompt",
                    "You answer questions about our product, briefly.",
                ),
                ("ModerationDenyWords", "frobnicate,grault"),
            ],
        ),
    ]
}

/// The template's secret the variable `reference` names (a `Ref` evaluates to the
/// lowercased logical id), after checking that the deployment creates it.
fn stored_secret<'a>(
    template: &'a Value,
    parameters: &BTreeMap<String, String>,
    reference: &config::StoredReference,
) -> &'a Value {
    let (id, secret) = of_type(template, "AWS::SecretsManager::Secret")
        .into_iter()
        .find(|(id, _)| id.to_lowercase() == reference.id)
        .unwrap_or_else(|| panic!("{} names a secret of the template", reference.reference));
    if let Some(condition) = secret["Condition"].as_str() {
        assert!(
            condition_holds(template, parameters, &template["Conditions"][condition]),
            "{id} exists where {} names it",
            reference.reference
        );
    }
    secret
}

/// What a function reads at cold start: its environment, and for each `NAME_ARN` in it
/// the string of the secret it names, which its policies must let it read.
fn with_stored_secrets(
    template: &Value,
    parameters: &BTreeMap<String, String>,
    id: &str,
    function: &Value,
) -> WithStored<Environment> {
    let env = environment(template, function, parameters);
    let statements = deployed_statements(template, parameters, function);
    let references = config::stored_references(&env).unwrap_or_else(|e| panic!("{id}: {e}"));
    let secrets = references
        .iter()
        .map(|reference| {
            let secret = stored_secret(template, parameters, reference);
            assert!(
                allows(&statements, READ_SECRET, &reference.id, &[]),
                "{id} may read the secret {} names",
                reference.reference
            );
            let value = evaluate(template, parameters, &secret["Properties"]["SecretString"])
                .expect("a secret's value");
            (reference.variable, Secret::new(value))
        })
        .collect();
    WithStored::new(env, secrets)
}

const READ_SECRET: &str = "secretsmanager:GetSecretValue";

#[test]
fn every_function_gets_through_its_cold_start_configuration_with_the_template_environment() {
    let template = template();
    for parameters in &deployments(&template) {
        for (id, function) in of_type(&template, "AWS::Serverless::Function") {
            let env = with_stored_secrets(&template, parameters, id, function);
            let settings =
                config::auth_settings(&env).unwrap_or_else(|e| panic!("{id} verifies tokens: {e}"));
            config::visitor_secret(&env, &settings)
                .unwrap_or_else(|e| panic!("{id} signs visitor tokens: {e}"));
            match crate_of(&template, id).as_str() {
                "authorizer" => continue,
                "bot" => {
                    let bot =
                        config::bot(&env).unwrap_or_else(|e| panic!("{id} reads its model: {e}"));
                    assert!(bot.is_some(), "{id} has a model");
                }
                _ => {}
            }
            let config = Config::from_source(&env).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert!(config.store.endpoint.is_none(), "{id} uses DynamoDB itself");
            let endpoint = config::websocket_endpoint(&env).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert!(
                endpoint.starts_with("https://") && endpoint.ends_with("/prod"),
                "{id} posts through the stage's Management API: {endpoint}"
            );
            assert!(
                env.get("ATTACHMENTS_BUCKET").is_some(),
                "{id} knows the attachments bucket"
            );
        }
    }
}

#[test]
fn no_secret_or_long_setting_is_in_an_environment_and_each_function_reads_only_its_own() {
    let template = template();
    let secrets = of_type(&template, "AWS::SecretsManager::Secret");
    let stored_parameters: BTreeSet<&str> = secrets
        .iter()
        .map(|(id, secret)| {
            ref_target(&secret["Properties"]["SecretString"])
                .unwrap_or_else(|| panic!("{id} holds a parameter's value"))
        })
        .collect();
    for (name, parameter) in template["Parameters"].as_object().expect("Parameters") {
        if parameter["NoEcho"] == true {
            assert!(
                stored_parameters.contains(name.as_str()),
                "{name} is stored"
            );
        }
    }
    let secrets: Vec<String> = secrets.iter().map(|(id, _)| id.to_lowercase()).collect();
    for parameters in &deployments(&template) {
        for (id, function) in of_type(&template, "AWS::Serverless::Function") {
            let env = environment(&template, function, parameters);
            for name in &stored_parameters {
                let value = &parameters[*name];
                assert!(
                    value.is_empty() || !env.0.values().any(|v| v.contains(value.as_str())),
                    "{id}'s environment holds {name}"
                );
            }
            let named: BTreeSet<String> = config::stored_references(&env)
                .expect("references")
                .into_iter()
                .map(|reference| reference.id)
                .collect();
            let statements = deployed_statements(&template, parameters, function);
            let readable: BTreeSet<String> = secrets
                .iter()
                .filter(|secret| allows(&statements, READ_SECRET, secret, &[]))
                .cloned()
                .collect();
            assert_eq!(
                readable, named,
                "{id} may read the secrets it names, no others"
            );
        }
    }
    // The model server's key is the bot's alone.
    let [_, with_key] = &deployments(&template);
    for (id, function) in of_type(&template, "AWS::Serverless::Function") {
        let names_key = environment(&template, function, with_key)
            .get("OPENAI_API_KEY_ARN")
            .is_some();
        assert_eq!(names_key, crate_of(&template, id) == "bot", "{id}");
    }
}

/// Lambda refuses a function whose variables, names and values together, pass 4 KB.
const LAMBDA_ENVIRONMENT_BYTES: usize = 4096;

/// The longest a template value can be within the parameters' limits: a String parameter
/// its `MaxLength` (or longest allowed value), a Number 24 characters (the longest an f64
/// prints as), a resource's `Ref` the longest name CloudFormation generates for its type.
fn longest(template: &Value, value: &Value) -> usize {
    let reference = |name: &str| -> usize {
        match name {
            "AWS::NoValue" => 0,
            "AWS::Region" => 20,
            "AWS::URLSuffix" => 16,
            "AWS::Partition" => 10,
            "AWS::AccountId" => 12,
            "AWS::StackName" => 128,
            _ => {
                if let Some(parameter) = template["Parameters"].get(name) {
                    return match parameter["Type"].as_str() {
                        Some("Number") => 24,
                        _ => parameter["MaxLength"]
                            .as_u64()
                            .map(|n| n as usize)
                            .or_else(|| {
                                parameter["AllowedValues"].as_array().map(|values| {
                                    values
                                        .iter()
                                        .map(|v| v.to_string().len())
                                        .max()
                                        .unwrap_or(0)
                                })
                            })
                            .unwrap_or_else(|| {
                                panic!("{name} reaches an environment without a MaxLength")
                            }),
                    };
                }
                let kind = resources(template)[name]["Type"].as_str().expect("a type");
                // Generated names: the stack's name, the logical id and a suffix, cut to
                // the type's limit; a secret's Ref is its ARN.
                let generated = 128 + 1 + name.len() + 14;
                match kind {
                    "AWS::DynamoDB::Table" => generated.min(255),
                    "AWS::S3::Bucket" => 63,
                    "AWS::Serverless::Function" => 64,
                    "AWS::ApiGatewayV2::Api" => 10,
                    "AWS::SecretsManager::Secret" => {
                        "arn:aws-us-gov:secretsmanager:".len()
                            + 20
                            + 1
                            + 12
                            + ":secret:".len()
                            + name.len()
                            + 13
                            + 7
                    }
                    other => panic!("a resource type this test cannot bound: {other}"),
                }
            }
        }
    };
    match value {
        Value::String(s) => s.len(),
        Value::Number(n) => n.to_string().len(),
        Value::Object(object) if object.contains_key("Ref") => {
            reference(object["Ref"].as_str().expect("Ref names something"))
        }
        Value::Object(object) if object.contains_key("Fn::Sub") => {
            let text = object["Fn::Sub"].as_str().expect("a Sub string");
            let mut total = 0;
            let mut rest = text;
            while let Some((before, after)) = rest.split_once("${") {
                let (name, after) = after.split_once('}').expect("a closed ${...}");
                assert!(
                    !name.contains('.'),
                    "a Sub attribute this test cannot bound: {name}"
                );
                total += before.len() + reference(name);
                rest = after;
            }
            total + rest.len()
        }
        Value::Object(object) if object.contains_key("Fn::If") => {
            let branches = object["Fn::If"].as_array().expect("If [condition, a, b]");
            longest(template, &branches[1]).max(longest(template, &branches[2]))
        }
        other => panic!("an environment value this test cannot bound: {other}"),
    }
}

#[test]
fn every_function_environment_fits_lambdas_4_kb_with_every_parameter_at_its_limit() {
    let template = template();
    for (id, function) in of_type(&template, "AWS::Serverless::Function") {
        let mut variables = BTreeMap::new();
        for scope in [&template["Globals"]["Function"], &function["Properties"]] {
            if let Some(set) = scope["Environment"]["Variables"].as_object() {
                variables.extend(set.iter());
            }
        }
        let bytes: usize = variables
            .iter()
            .map(|(name, value)| name.len() + longest(&template, value))
            .sum();
        assert!(
            bytes <= LAMBDA_ENVIRONMENT_BYTES,
            "{id}'s environment may reach {bytes} bytes, over Lambda's {LAMBDA_ENVIRONMENT_BYTES}"
        );
        println!("{id}: at most {bytes} of {LAMBDA_ENVIRONMENT_BYTES} bytes");
    }
}

/// Every statement of a function's inline policies, its own and any `AWS::IAM::Policy`
/// attached to its role.
fn statements<'a>(template: &'a Value, id: &str, function: &'a Value) -> Vec<&'a Value> {
    let mut found = Vec::new();
    if let Some(policies) = function["Properties"]["Policies"].as_array() {
        for policy in policies {
            if let Some(list) = policy["Statement"].as_array() {
                found.extend(list);
            }
            let named = match policy["Fn::If"].as_array() {
                Some(branches) => branches[1..].iter().filter_map(ref_target).collect(),
                None => ref_target(policy).into_iter().collect::<Vec<_>>(),
            };
            for name in named.into_iter().filter(|name| !name.starts_with("AWS::")) {
                let managed = &resources(template)[name];
                assert_eq!(managed["Type"], "AWS::IAM::ManagedPolicy", "{id}: {name}");
                found.extend(
                    managed["Properties"]["PolicyDocument"]["Statement"]
                        .as_array()
                        .expect("statements"),
                );
            }
        }
    }
    let role = format!("{id}Role");
    for (_, policy) in of_type(template, "AWS::IAM::Policy") {
        let roles = policy["Properties"]["Roles"].as_array();
        if roles.is_some_and(|roles| roles.iter().any(|r| ref_target(r) == Some(role.as_str()))) {
            found.extend(
                policy["Properties"]["PolicyDocument"]["Statement"]
                    .as_array()
                    .expect("statements"),
            );
        }
    }
    found
}

fn actions(statement: &Value) -> Vec<&str> {
    match &statement["Action"] {
        Value::String(action) => vec![action.as_str()],
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        other => panic!("an Action list: {other}"),
    }
}

#[test]
fn function_policies_name_their_actions_and_resources_without_wildcards() {
    let template = template();
    for (id, function) in of_type(&template, "AWS::Serverless::Function") {
        for statement in statements(&template, id, function) {
            for action in actions(statement) {
                assert!(!action.contains('*'), "{id}: {action}");
            }
            assert_ne!(statement["Resource"], "*", "{id}: {statement}");
            if actions(statement).contains(&"execute-api:ManageConnections") {
                let resource = statement["Resource"]["Fn::Sub"]
                    .as_str()
                    .unwrap_or_default();
                assert!(
                    resource.contains("${WebSocketApi}/${StageName}/"),
                    "{id} manages the connections of the WebSocket stage only: {resource}"
                );
            }
            for action in actions(statement)
                .iter()
                .filter(|a| a.starts_with("dynamodb:"))
            {
                let resource = &statement["Resource"];
                let on_table = resource["Fn::GetAtt"] == json!(["Table", "Arn"])
                    || sub_references(resource).contains("Table");
                assert!(on_table, "{id}: {action} on the table only");
            }
        }
    }
}

/// What a function's policies let it invoke (the `Fn::GetAtt` targets), and the function
/// its `BOT_FUNCTION_NAME` names.
fn invocations(template: &Value, id: &str, function: &Value) -> (Vec<String>, Option<String>) {
    let invoked = statements(template, id, function)
        .into_iter()
        .filter(|s| actions(s).contains(&"lambda:InvokeFunction"))
        .map(|s| {
            s["Resource"]["Fn::GetAtt"][0]
                .as_str()
                .unwrap_or_else(|| panic!("{id} invokes one function by its ARN: {s}"))
                .to_owned()
        })
        .collect();
    let bot = ref_target(&function["Properties"]["Environment"]["Variables"]["BOT_FUNCTION_NAME"])
        .map(str::to_owned);
    (invoked, bot)
}

#[test]
fn connect_invokes_itself_message_and_sessions_the_bot_and_nothing_else_invokes_a_function() {
    let template = template();
    let bot = function_resources(&template)
        .into_iter()
        .find(|(_, dir)| dir == "bot")
        .map(|(id, _)| id)
        .expect("a bot function");
    for (id, function) in of_type(&template, "AWS::Serverless::Function") {
        let (invoked, named) = invocations(&template, id, function);
        match crate_of(&template, id).as_str() {
            // The welcome job; Lambda names the function to itself (AWS_LAMBDA_FUNCTION_NAME).
            "connect" => assert_eq!((invoked, named), (vec![id.to_owned()], None), "{id}"),
            // Bot replies start from messages, over the socket or REST.
            "message" | "sessions" => assert_eq!(
                (invoked, named),
                (vec![bot.clone()], Some(bot.clone())),
                "{id} invokes the bot it names in BOT_FUNCTION_NAME"
            ),
            _ => assert_eq!((invoked, named), (Vec::new(), None), "{id} invokes nothing"),
        }
    }
}

/// A template value as deployed: `Ref`, `Sub` and `If` evaluated inside lists and maps
/// (a `GetAtt` as `Resource.Attribute`), and `None` for `AWS::NoValue`.
fn resolve(
    template: &Value,
    parameters: &BTreeMap<String, String>,
    value: &Value,
) -> Option<Value> {
    match value {
        Value::Array(list) => Some(Value::Array(
            list.iter()
                .filter_map(|item| resolve(template, parameters, item))
                .collect(),
        )),
        Value::Object(object) if object.contains_key("Fn::If") => {
            resolve(template, parameters, chosen(template, parameters, object))
        }
        Value::Object(object) if object.contains_key("Fn::GetAtt") => {
            let target = object["Fn::GetAtt"]
                .as_array()
                .expect("GetAtt [resource, name]");
            Some(Value::String(format!(
                "{}.{}",
                target[0].as_str().expect("a resource"),
                target[1].as_str().expect("an attribute")
            )))
        }
        Value::Object(object) if object.contains_key("Ref") || object.contains_key("Fn::Sub") => {
            evaluate(template, parameters, value).map(Value::String)
        }
        Value::Object(object) => Some(Value::Object(
            object
                .iter()
                .filter_map(|(key, item)| Some((key.clone(), resolve(template, parameters, item)?)))
                .collect(),
        )),
        other => Some(other.clone()),
    }
}

/// IAM's wildcards: `*` any run of characters (none too), `?` any one.
fn iam_matches(pattern: &str, text: &str) -> bool {
    match pattern.chars().next() {
        None => text.is_empty(),
        Some('*') => (0..=text.len())
            .filter(|&at| text.is_char_boundary(at))
            .any(|at| iam_matches(&pattern[1..], &text[at..])),
        Some(first) => match text.chars().next() {
            Some(c) if first == '?' || first == c => {
                iam_matches(&pattern[first.len_utf8()..], &text[c.len_utf8()..])
            }
            _ => false,
        },
    }
}

fn one_or_many(value: &Value) -> Vec<&str> {
    match value {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Whether one of `statements` (all Allow) lets `action` on `resource` with the request's
/// condition keys `context`: the subset of IAM's evaluation these policies use
/// (`StringEquals`, `StringLike`).
fn allows(statements: &[Value], action: &str, resource: &str, context: &[(&str, &str)]) -> bool {
    statements.iter().any(|statement| {
        assert_eq!(statement["Effect"], "Allow", "{statement}");
        let conditions_hold = statement["Condition"].as_object().is_none_or(|conditions| {
            conditions.iter().all(|(operator, keys)| {
                keys.as_object()
                    .expect("condition keys")
                    .iter()
                    .all(|(key, wanted)| {
                        let Some((_, given)) = context.iter().find(|(name, _)| name == key) else {
                            return false;
                        };
                        one_or_many(wanted)
                            .iter()
                            .any(|wanted| match operator.as_str() {
                                "StringEquals" => wanted == given,
                                "StringLike" => iam_matches(wanted, given),
                                other => panic!(
                                    "a condition operator this test cannot evaluate: {other}"
                                ),
                            })
                    })
            })
        });
        conditions_hold
            && one_or_many(&statement["Action"])
                .iter()
                .any(|a| iam_matches(a, action))
            && one_or_many(&statement["Resource"])
                .iter()
                .any(|r| iam_matches(r, resource))
    })
}

/// A function's policy statements as a deployment with `parameters` gets them: its inline
/// policies and the managed ones it names (a `Ref` evaluates to the lowercased logical
/// id, as everywhere in these tests).
fn deployed_statements(
    template: &Value,
    parameters: &BTreeMap<String, String>,
    function: &Value,
) -> Vec<Value> {
    let managed = |name: &str| -> Vec<Value> {
        let (_, policy) = of_type(template, "AWS::IAM::ManagedPolicy")
            .into_iter()
            .find(|(id, _)| id.to_lowercase() == name)
            .unwrap_or_else(|| panic!("a managed policy {name}"));
        resolve(
            template,
            parameters,
            &policy["Properties"]["PolicyDocument"]["Statement"],
        )
        .and_then(|list| list.as_array().cloned())
        .expect("statements")
    };
    resolve(template, parameters, &function["Properties"]["Policies"])
        .expect("policies")
        .as_array()
        .expect("a list")
        .iter()
        .flat_map(|policy| match policy {
            Value::String(name) => managed(name),
            inline => inline["Statement"].as_array().cloned().unwrap_or_default(),
        })
        .collect()
}

/// The bot function's policy statements as a deployment with `overrides` gets them.
fn bot_statements(template: &Value, overrides: &[(&str, &str)]) -> Vec<Value> {
    let (_, bot) = of_type(template, "AWS::Serverless::Function")
        .into_iter()
        .find(|(id, _)| crate_of(template, id) == "bot")
        .expect("a bot function");
    deployed_statements(template, &parameters(template, overrides), bot)
}

#[test]
fn the_bot_may_stream_from_its_bedrock_model_directly_or_through_its_inference_profile_only() {
    const STREAM: &str = "bedrock:InvokeModelWithResponseStream";
    const ACCOUNT: &str = "arn:aws:bedrock:us-east-1:123456789012";
    const MODEL: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";
    let template = template();
    let secret = ("JwtSecret", "a-deployment-secret-of-at-least-32-bytes");
    let foundation =
        |region: &str, model: &str| format!("arn:aws:bedrock:{region}::foundation-model/{model}");

    let direct = bot_statements(
        &template,
        &[
            secret,
            ("BotProvider", "bedrock"),
            ("BedrockModelId", MODEL),
        ],
    );
    assert!(allows(
        &direct,
        STREAM,
        &foundation("us-east-1", MODEL),
        &[]
    ));
    assert!(!allows(
        &direct,
        STREAM,
        &foundation("us-east-1", "anthropic.claude-3-opus-20240229-v1:0"),
        &[]
    ));

    // A cross-region profile: Bedrock checks the profile, then the model in the region
    // the call is routed to, with the profile in bedrock:InferenceProfileArn.
    let profile_id = format!("us.{MODEL}");
    let profile = format!("{ACCOUNT}:inference-profile/{profile_id}");
    let through = [("bedrock:InferenceProfileArn", profile.as_str())];
    let routed = bot_statements(
        &template,
        &[
            secret,
            ("BotProvider", "bedrock"),
            ("BedrockModelId", &profile_id),
        ],
    );
    assert!(allows(&routed, STREAM, &profile, &[]), "the profile");
    for region in ["us-east-1", "us-east-2", "us-west-2"] {
        assert!(
            allows(&routed, STREAM, &foundation(region, MODEL), &through),
            "{region}"
        );
    }
    assert!(
        !allows(&routed, STREAM, &foundation("us-west-2", MODEL), &[]),
        "not directly"
    );
    let other = format!("{ACCOUNT}:inference-profile/us.anthropic.claude-3-opus-20240229-v1:0");
    assert!(!allows(&routed, STREAM, &other, &[]), "no other profile");
    assert!(
        !allows(
            &routed,
            STREAM,
            &foundation("us-west-2", MODEL),
            &[("bedrock:InferenceProfileArn", &other)]
        ),
        "nor a model through another profile"
    );

    let echo = bot_statements(&template, &[secret]);
    assert!(
        !allows(&echo, STREAM, &foundation("us-east-1", MODEL), &[]),
        "echo calls no model"
    );
}

/// The functions an alarm's metric math sums, by their `FunctionName` dimension.
fn alarmed_functions(alarm: &Value, metric: &str) -> BTreeSet<String> {
    alarm["Properties"]["Metrics"]
        .as_array()
        .expect("metric math")
        .iter()
        .filter(|m| m["MetricStat"]["Metric"]["MetricName"] == metric)
        .filter_map(|m| ref_target(&m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_function_logs_json_and_is_watched_and_a_failed_async_invocation_is_kept_and_alarmed() {
    let template = template();
    let logging = &template["Globals"]["Function"]["LoggingConfig"];
    assert_eq!(
        logging["LogFormat"], "JSON",
        "lambda_runtime then writes JSON"
    );
    let functions: BTreeSet<String> = of_type(&template, "AWS::Serverless::Function")
        .into_iter()
        .map(|(id, function)| {
            assert!(
                function["Properties"]["LoggingConfig"]["LogFormat"].is_null(),
                "{id} keeps the JSON format of Globals"
            );
            id.to_owned()
        })
        .collect();
    let alarms = of_type(&template, "AWS::CloudWatch::Alarm");
    for (name, metric) in [
        ("FunctionErrorsAlarm", "Errors"),
        ("FunctionThrottlesAlarm", "Throttles"),
    ] {
        let (_, alarm) = alarms
            .iter()
            .find(|(id, _)| *id == name)
            .unwrap_or_else(|| panic!("an alarm {name}"));
        assert_eq!(
            alarmed_functions(alarm, metric),
            functions,
            "{name} sums every function"
        );
    }
    for (id, alarm) in &alarms {
        let actions = &alarm["Properties"]["AlarmActions"]["Fn::If"];
        assert_eq!(
            actions[0], "HasAlarmTopic",
            "{id} notifies the topic parameter"
        );
        assert_eq!(ref_target(&actions[1][0]), Some("AlarmTopicArn"), "{id}");
    }
    // The asynchronously invoked functions (they are never retried) keep what failed.
    for (id, function) in of_type(&template, "AWS::Serverless::Function") {
        let invoke = &function["Properties"]["EventInvokeConfig"];
        if invoke.is_null() {
            continue;
        }
        assert_eq!(invoke["MaximumRetryAttempts"], 0, "{id}");
        let failure = &invoke["DestinationConfig"]["OnFailure"];
        assert_eq!(failure["Type"], "SQS", "{id}");
        assert_eq!(
            failure["Destination"]["Fn::GetAtt"][0], "FailedInvocations",
            "{id}"
        );
    }
    let (_, queue_alarm) = alarms
        .iter()
        .find(|(id, _)| *id == "FailedInvocationsAlarm")
        .expect("an alarm on the failed invocations");
    assert_eq!(
        queue_alarm["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0],
        "FailedInvocations"
    );
}
