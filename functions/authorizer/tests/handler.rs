//! The authorizer fed API Gateway's own `$connect` authorizer event, adjusted per case.

use aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
use aws_lambda_events::iam::IamPolicyEffect;
use std::sync::Arc;

use chat_core::auth::{AuthSettings, Authenticator, Claims, KeySource, issue_hs256};
use chat_core::config::AuthConfig;
use chat_core::ports::NoKeySets;
use serde_json::{Value, json};

const SECRET: &[u8] = b"an-authorizer-test-secret-long-enough";
const FIXTURE: &str =
    include_str!("fixtures/example-apigw-v2-custom-authorizer-websocket-request.json");

fn authenticator() -> Authenticator {
    let keys = KeySource::Hs256 {
        secret: SECRET.to_vec(),
    };
    Authenticator::new(
        AuthConfig {
            settings: AuthSettings {
                keys,
                issuer: None,
                audience: None,
                leeway_secs: 0,
            },
            visitor_secret: None,
        },
        Arc::new(NoKeySets),
    )
}

fn token(role: &str) -> String {
    let claims = Claims {
        sub: "ann".into(),
        exp: 4_102_444_800,
        iat: None,
        role: Some(role.into()),
        name: Some("Ann".into()),
        org: Some("acme".into()),
        iss: None,
        aud: None,
    };
    issue_hs256(&claims, SECRET).expect("a token")
}

/// The fixture with `headers` and `queryStringParameters` replaced.
fn event(headers: Value, query: Value) -> ApiGatewayCustomAuthorizerRequestTypeRequest {
    let mut event: Value = serde_json::from_str(FIXTURE).expect("the fixture is JSON");
    event["headers"] = headers;
    event["queryStringParameters"] = query;
    serde_json::from_value(event).expect("an authorizer event")
}

async fn refusal(event: ApiGatewayCustomAuthorizerRequestTypeRequest) -> String {
    authorizer::handle(&authenticator(), event)
        .await
        .expect_err("refused")
        .to_string()
}

#[tokio::test]
async fn a_good_token_is_allowed_with_the_caller_as_context() {
    let response = authorizer::handle(
        &authenticator(),
        event(json!({}), json!({"token": token("agent")})),
    )
    .await
    .expect("allowed");
    assert_eq!(response.principal_id.as_deref(), Some("ann"));
    let statement = &response.policy_document.statement[0];
    assert_eq!(statement.effect, IamPolicyEffect::Allow);
    assert_eq!(
        statement.resource,
        vec!["arn:aws:execute-api:eu-west-1:123456789012:abcdef123/test/$connect".to_owned()]
    );
    assert_eq!(
        response.context,
        json!({"user_id": "ann", "role": "agent", "name": "Ann", "org": "acme"})
    );
}

#[tokio::test]
async fn a_token_in_the_subprotocol_header_is_found() {
    let headers = json!({"Sec-WebSocket-Protocol": format!("Bearer, {}", token("user"))});
    let response = authorizer::handle(&authenticator(), event(headers, json!({})))
        .await
        .expect("allowed");
    assert_eq!(response.principal_id.as_deref(), Some("ann"));
}

#[tokio::test]
async fn no_token_a_bad_one_or_an_unknown_role_is_unauthorized() {
    assert_eq!(
        refusal(event(json!({}), json!({}))).await,
        authorizer::UNAUTHORIZED
    );
    assert_eq!(
        refusal(event(json!({}), json!({"token": "garbage"}))).await,
        authorizer::UNAUTHORIZED
    );
    let forged = format!("{}x", token("user"));
    assert_eq!(
        refusal(event(
            json!({"Authorization": format!("Bearer {forged}")}),
            json!({})
        ))
        .await,
        authorizer::UNAUTHORIZED
    );
    assert_eq!(
        refusal(event(json!({}), json!({"token": token("root")}))).await,
        authorizer::UNAUTHORIZED
    );
}
