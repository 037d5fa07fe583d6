//! Who is calling: the verified token's identity, as the service layer authorizes it.

use serde::{Deserialize, Serialize};

use super::{BusinessId, DisplayName, TextShape, UserId, ValidationError, check_characters};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    User,
    Agent,
    Admin,
    /// Bots and back-office jobs: the only callers that may set `is_bot` and `token_count`.
    Service,
    /// A website guest of a business, holding a short-lived token from `POST /sessions/start`.
    Visitor,
}

impl Role {
    /// A missing claim is a plain user; an unknown one is refused rather than guessed.
    pub fn parse(value: Option<&str>) -> Result<Self, ValidationError> {
        match value {
            None | Some("user") => Ok(Self::User),
            Some("agent") => Ok(Self::Agent),
            Some("admin") => Ok(Self::Admin),
            Some("service") => Ok(Self::Service),
            Some("visitor") => Ok(Self::Visitor),
            Some(_) => Err(ValidationError::new(
                "role",
                "must be one of user, agent, admin, service, visitor",
            )),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Agent => "agent",
            Self::Admin => "admin",
            Self::Service => "service",
            Self::Visitor => "visitor",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub user_id: UserId,
    pub role: Role,
    pub name: Option<DisplayName>,
    /// The business an agent works for or a visitor is visiting.
    pub org: Option<BusinessId>,
}

impl Principal {
    /// Builds a principal from a token's claims, parsing each at this boundary. The
    /// `sub` keeps to the character rules of identifiers, so no invisible character makes
    /// one user look like another.
    pub fn from_claims(
        sub: &str,
        role: Option<&str>,
        name: Option<&str>,
        org: Option<&str>,
    ) -> Result<Self, ValidationError> {
        check_characters("sub", sub, TextShape::Identifier)?;
        Ok(Self {
            user_id: UserId::parse(sub).map_err(|e| ValidationError::new("sub", e.reason))?,
            role: Role::parse(role)?,
            name: name.map(DisplayName::parse).transpose()?.flatten(),
            org: org
                .map(BusinessId::parse)
                .transpose()
                .map_err(|e| ValidationError::new("org", e.reason))?,
        })
    }

    /// A website visitor of `business`.
    pub fn visitor(user_id: UserId, business: BusinessId) -> Self {
        Self {
            user_id,
            role: Role::Visitor,
            name: None,
            org: Some(business),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_role_is_a_user_and_an_unknown_one_is_refused() {
        assert_eq!(Role::parse(None), Ok(Role::User));
        assert_eq!(Role::parse(Some("agent")), Ok(Role::Agent));
        assert_eq!(
            Role::parse(Some("root")).expect_err("refused").field,
            "role"
        );
    }

    #[test]
    fn claims_are_parsed_into_a_principal_naming_the_bad_claim() {
        let p = Principal::from_claims("u1", Some("agent"), Some(" Ada "), Some("acme"))
            .expect("valid");
        assert_eq!(p.name.as_ref().map(DisplayName::as_str), Some("Ada"));
        assert_eq!(p.org.as_ref().map(BusinessId::as_str), Some("acme"));
        assert_eq!(
            Principal::from_claims("a#b", None, None, None)
                .expect_err("refused")
                .field,
            "sub"
        );
        for sub in ["ann\u{200B}", "ann\u{202E}", "\u{FEFF}ann"] {
            assert_eq!(
                Principal::from_claims(sub, None, None, None)
                    .expect_err("refused")
                    .field,
                "sub",
                "{sub:?}"
            );
        }
        assert_eq!(
            Principal::from_claims("u", None, Some("Ann\u{202E}"), None)
                .expect_err("refused")
                .field,
            "name"
        );
        assert_eq!(
            Principal::from_claims("u", None, None, Some(""))
                .expect_err("refused")
                .field,
            "org"
        );
    }
}
