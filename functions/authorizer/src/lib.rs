//! The `$connect` REQUEST authorizer: finds the token where the contract lets it travel,
//! verifies it, and hands API Gateway the caller as context for every later event.

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayCustomAuthorizerResponse,
};
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use chat_apigw::principal_context;
use chat_core::auth::{Authenticator, find_websocket_token};
use lambda_runtime::Error;
use serde_json::Value;

/// API Gateway answers the handshake with 401 when an authorizer fails with exactly this.
pub const UNAUTHORIZED: &str = "Unauthorized";

pub async fn handle(
    authenticator: &Authenticator,
    event: ApiGatewayCustomAuthorizerRequestTypeRequest,
) -> Result<ApiGatewayCustomAuthorizerResponse, Error> {
    let query_token = event.query_string_parameters.first("token");
    let Some(found) = find_websocket_token(query_token, &event.headers) else {
        chat_apigw::log_outcome("no_token");
        return Err(UNAUTHORIZED.into());
    };
    let principal = match authenticator.authenticate(&found.token).await {
        Ok(principal) => principal,
        Err(failure) if failure.is_server_fault() => {
            tracing::error!(%failure, "cannot verify tokens");
            return Err("cannot verify tokens now".into());
        }
        Err(failure) => {
            chat_apigw::log_outcome("token_refused");
            tracing::info!(%failure, source = ?found.source, "token refused");
            return Err(UNAUTHORIZED.into());
        }
    };
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".to_owned()];
    statement.effect = IamPolicyEffect::Allow;
    statement.resource = event.method_arn.clone().into_iter().collect();
    let mut policy = ApiGatewayCustomAuthorizerPolicy::default();
    policy.version = Some("2012-10-17".to_owned());
    policy.statement = vec![statement];
    let mut response = ApiGatewayCustomAuthorizerResponse::<Value>::default();
    response.principal_id = Some(principal.user_id.to_string());
    response.policy_document = policy;
    response.context = Value::Object(principal_context(&principal).into_iter().collect());
    Ok(response)
}
