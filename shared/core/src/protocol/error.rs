//! Error codes, close codes and the errors of frame parsing: what a client is told when
//! something goes wrong, over the WebSocket (`error` frame) or REST (`ErrorBody`).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::MAX_FRAME_BYTES;
use crate::domain::ValidationError;

/// Every error code of the contract, on the wire in snake case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum ErrorCode {
    /// A WebSocket frame that is not JSON, not an object, or has a missing or bad field.
    InvalidFrame,
    /// A WebSocket frame naming an action (or `type`, or `mt`) this server does not know.
    UnknownAction,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    RateLimited,
    TooLarge,
    Moderated,
    SessionEnded,
    /// A REST request whose body, path or query does not validate.
    InvalidRequest,
    Internal,
}

impl ErrorCode {
    pub const ALL: [Self; 12] = [
        Self::InvalidFrame,
        Self::UnknownAction,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::Conflict,
        Self::RateLimited,
        Self::TooLarge,
        Self::Moderated,
        Self::SessionEnded,
        Self::InvalidRequest,
        Self::Internal,
    ];

    /// The code as it appears on the wire.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::InvalidFrame => "invalid_frame",
            Self::UnknownAction => "unknown_action",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::RateLimited => "rate_limited",
            Self::TooLarge => "too_large",
            Self::Moderated => "moderated",
            Self::SessionEnded => "session_ended",
            Self::InvalidRequest => "invalid_request",
            Self::Internal => "internal",
        }
    }

    /// The HTTP status a REST response carries with this code. `moderated` is 422 (the
    /// request was well formed but its content refused); `session_ended` is 410, as at
    /// `$connect`.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::InvalidFrame | Self::UnknownAction | Self::InvalidRequest => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::Conflict => 409,
            Self::SessionEnded => 410,
            Self::TooLarge => 413,
            Self::Moderated => 422,
            Self::RateLimited => 429,
            Self::Internal => 500,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A WebSocket close code the seeds' clients know. API Gateway cannot close with a custom
/// code, so the server sends it in the last frame (`error` or `session_ended`) and then
/// closes the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CloseCode(u16);

impl CloseCode {
    pub const MISSING_SESSION_ID: Self = Self(4001);
    pub const INVALID_SESSION_ID: Self = Self(4002);
    pub const UNAUTHORIZED: Self = Self(4003);
    pub const SESSION_ENDED: Self = Self(4006);
    /// Bad token, rate limit abuse.
    pub const POLICY_VIOLATION: Self = Self(1008);

    pub fn code(&self) -> u16 {
        self.0
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why a client frame was refused. The message names the field at fault and never echoes
/// the client's input beyond a short, escaped action name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame is larger than {MAX_FRAME_BYTES} bytes")]
    TooLarge,
    #[error("frame is not valid JSON")]
    NotJson,
    #[error("frame must be a JSON object")]
    NotAnObject,
    /// The `action`, `type` or `mt` value, truncated to [`FrameError::MAX_NAME_CHARS`].
    #[error("unknown action {0:?}")]
    UnknownAction(String),
    #[error("frame has no action and matches no known frame shape")]
    NoAction,
    #[error("{0}: is required")]
    MissingField(&'static str),
    #[error("{field}: {reason}")]
    InvalidField { field: &'static str, reason: String },
}

impl FrameError {
    /// How much of an unknown action name is kept (and so shown back to the client).
    pub const MAX_NAME_CHARS: usize = 32;

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::TooLarge => ErrorCode::TooLarge,
            Self::UnknownAction(_) => ErrorCode::UnknownAction,
            Self::NotJson
            | Self::NotAnObject
            | Self::NoAction
            | Self::MissingField(_)
            | Self::InvalidField { .. } => ErrorCode::InvalidFrame,
        }
    }

    pub(crate) fn unknown_action(name: &str) -> Self {
        Self::UnknownAction(name.chars().take(Self::MAX_NAME_CHARS).collect())
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidField {
            field,
            reason: reason.into(),
        }
    }

    /// A domain validation error about the frame's `field` (whose name may differ from the
    /// domain's, e.g. `before` for a message id): keeps the domain's reason.
    pub(crate) fn from_validation(field: &'static str, error: ValidationError) -> Self {
        Self::InvalidField {
            field,
            reason: error.reason,
        }
    }
}

/// A REST error response: `{"error":{"code":"...","message":"..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code,
                message: message.into(),
            },
        }
    }

    /// A domain validation error as a 400 `invalid_request`, naming the field.
    pub fn invalid_request(error: &ValidationError) -> Self {
        Self::new(ErrorCode::InvalidRequest, error.to_string())
    }

    /// The HTTP status to send with this body.
    pub fn status(&self) -> u16 {
        self.error.code.http_status()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_error_code_serializes_as_its_contract_name() {
        let names = [
            "invalid_frame",
            "unknown_action",
            "unauthorized",
            "forbidden",
            "not_found",
            "conflict",
            "rate_limited",
            "too_large",
            "moderated",
            "session_ended",
            "invalid_request",
            "internal",
        ];
        assert_eq!(ErrorCode::ALL.len(), names.len());
        for (code, name) in ErrorCode::ALL.iter().zip(names) {
            assert_eq!(serde_json::to_value(code).expect("json"), json!(name));
            assert_eq!(code.as_str(), name);
            assert_eq!(code.to_string(), name);
            let back: ErrorCode = serde_json::from_value(json!(name)).expect("known code");
            assert_eq!(back, *code);
        }
    }

    #[test]
    fn error_codes_map_to_the_contracts_http_statuses() {
        let cases = [
            (ErrorCode::InvalidRequest, 400),
            (ErrorCode::Unauthorized, 401),
            (ErrorCode::Forbidden, 403),
            (ErrorCode::NotFound, 404),
            (ErrorCode::Conflict, 409),
            (ErrorCode::SessionEnded, 410),
            (ErrorCode::TooLarge, 413),
            (ErrorCode::Moderated, 422),
            (ErrorCode::RateLimited, 429),
            (ErrorCode::Internal, 500),
        ];
        for (code, status) in cases {
            assert_eq!(code.http_status(), status, "{code}");
        }
    }

    #[test]
    fn close_codes_are_the_numbers_the_seeds_clients_know() {
        let cases = [
            (CloseCode::MISSING_SESSION_ID, 4001),
            (CloseCode::INVALID_SESSION_ID, 4002),
            (CloseCode::UNAUTHORIZED, 4003),
            (CloseCode::SESSION_ENDED, 4006),
            (CloseCode::POLICY_VIOLATION, 1008),
        ];
        for (close, number) in cases {
            assert_eq!(close.code(), number);
            assert_eq!(serde_json::to_value(close).expect("json"), json!(number));
        }
    }

    #[test]
    fn frame_errors_name_the_field_and_map_to_their_code() {
        let cases = [
            (
                FrameError::TooLarge,
                ErrorCode::TooLarge,
                "frame is larger than 24576 bytes",
            ),
            (
                FrameError::NotJson,
                ErrorCode::InvalidFrame,
                "frame is not valid JSON",
            ),
            (
                FrameError::NotAnObject,
                ErrorCode::InvalidFrame,
                "frame must be a JSON object",
            ),
            (
                FrameError::UnknownAction("dance".into()),
                ErrorCode::UnknownAction,
                "unknown action \"dance\"",
            ),
            (
                FrameError::NoAction,
                ErrorCode::InvalidFrame,
                "frame has no action and matches no known frame shape",
            ),
            (
                FrameError::MissingField("content"),
                ErrorCode::InvalidFrame,
                "content: is required",
            ),
            (
                FrameError::invalid("limit", "must be an integer"),
                ErrorCode::InvalidFrame,
                "limit: must be an integer",
            ),
        ];
        for (error, code, message) in cases {
            assert_eq!(error.code(), code, "{error:?}");
            assert_eq!(error.to_string(), message);
        }
    }

    #[test]
    fn an_unknown_action_name_is_truncated_and_escaped() {
        let error = FrameError::unknown_action(&format!("\u{7}{}", "x".repeat(10_000)));
        let FrameError::UnknownAction(name) = &error else {
            panic!("{error:?}")
        };
        assert_eq!(name.chars().count(), FrameError::MAX_NAME_CHARS);
        let message = error.to_string();
        assert!(message.len() < 64, "{message}");
        assert!(message.contains("\\u{7}"), "{message}");
    }

    #[test]
    fn a_rest_error_body_nests_code_and_message_under_error() {
        let body = ErrorBody::new(ErrorCode::NotFound, "no such session");
        assert_eq!(
            serde_json::to_value(&body).expect("json"),
            json!({"error": {"code": "not_found", "message": "no such session"}})
        );
        assert_eq!(body.status(), 404);
        let invalid = ErrorBody::invalid_request(&ValidationError::new("title", "too long"));
        assert_eq!(
            serde_json::to_value(&invalid).expect("json"),
            json!({"error": {"code": "invalid_request", "message": "title: too long"}})
        );
        assert_eq!(invalid.status(), 400);
    }
}
