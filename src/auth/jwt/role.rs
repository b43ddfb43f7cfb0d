//! A JWT role (`auth/jwt/role/NAME`): the claims a token must carry to log
//! in through it, which claims become token metadata, and the token it gets.

use super::validate::{ClaimMatch, RoleBounds};
use crate::auth::token_params::TokenParams;
use crate::error::ApiError;
use crate::params::{optional_duration, optional_str, optional_string_map, optional_strings};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct JwtRole {
    pub(super) name: String,
    pub(super) bound_audiences: Vec<String>,
    pub(super) bound_subject: Option<String>,
    pub(super) bound_claims: Map<String, Value>,
    pub(super) bound_claims_glob: bool,
    pub(super) user_claim: String,
    pub(super) claim_mappings: BTreeMap<String, String>,
    pub(super) clock_skew_leeway: i64,
    pub(super) expiration_leeway: i64,
    pub(super) not_before_leeway: i64,
    #[serde(flatten)]
    pub(super) token: TokenParams,
}

impl JwtRole {
    pub(super) fn new(name: String) -> Self {
        Self {
            name,
            bound_audiences: Vec::new(),
            bound_subject: None,
            bound_claims: Map::new(),
            bound_claims_glob: false,
            user_claim: String::new(),
            claim_mappings: BTreeMap::new(),
            clock_skew_leeway: 60,
            expiration_leeway: 150,
            not_before_leeway: 150,
            token: TokenParams::default(),
        }
    }

    /// The warning for the fields of `data` a role write does not take.
    pub(super) fn unrecognized(data: &Map<String, Value>) -> Option<String> {
        let known: Vec<&str> = [
            "role_type",
            "bound_audiences",
            "bound_subject",
            "bound_claims",
            "bound_claims_type",
            "user_claim",
            "claim_mappings",
            "clock_skew_leeway",
            "expiration_leeway",
            "not_before_leeway",
        ]
        .into_iter()
        .chain(TokenParams::FIELDS.iter().copied())
        .collect();
        crate::params::unrecognized(data, &known)
    }

    pub(super) fn update(&mut self, data: &Map<String, Value>) -> Result<(), ApiError> {
        if let Some(kind) = optional_str(data, "role_type")? {
            if kind != "jwt" {
                return Err(ApiError::bad(format!(
                    "role_type: {kind:?} is not supported; only \"jwt\" (the interactive OIDC \
                     browser flow is not served)"
                )));
            }
        }
        if let Some(audiences) = optional_strings(data, "bound_audiences")? {
            self.bound_audiences = audiences;
        }
        if let Some(subject) = optional_str(data, "bound_subject")? {
            self.bound_subject = Some(subject.to_string()).filter(|s| !s.is_empty());
        }
        match data.get("bound_claims") {
            None | Some(Value::Null) => {}
            Some(Value::Object(claims)) => {
                for (name, expected) in claims {
                    let valid = match expected {
                        Value::String(_) => true,
                        Value::Array(items) => items.iter().all(Value::is_string),
                        _ => false,
                    };
                    if !valid {
                        return Err(ApiError::bad(format!(
                            "bound_claims: {name:?} must be a string or a list of strings"
                        )));
                    }
                }
                self.bound_claims = claims.clone();
            }
            Some(_) => return Err(ApiError::bad("bound_claims: expected an object")),
        }
        match optional_str(data, "bound_claims_type")? {
            None => {}
            Some("string") => self.bound_claims_glob = false,
            Some("glob") => self.bound_claims_glob = true,
            Some(other) => {
                return Err(ApiError::bad(format!(
                    "bound_claims_type: {other:?} is not one of \"string\" or \"glob\""
                )))
            }
        }
        if let Some(user_claim) = optional_str(data, "user_claim")? {
            self.user_claim = user_claim.trim().to_string();
        }
        if let Some(mappings) = optional_string_map(data, "claim_mappings")? {
            self.claim_mappings = mappings;
        }
        for (field, slot) in [
            ("clock_skew_leeway", &mut self.clock_skew_leeway),
            ("expiration_leeway", &mut self.expiration_leeway),
            ("not_before_leeway", &mut self.not_before_leeway),
        ] {
            if let Some(seconds) = optional_duration(data, field)? {
                *slot = seconds;
            }
        }
        self.token.update(data)?;
        if self.user_claim.is_empty() {
            return Err(ApiError::bad(
                "a user claim must be defined on the role (user_claim)",
            ));
        }
        Ok(())
    }

    /// What a token must satisfy, with the mount's issuer.
    pub(super) fn bounds(&self, bound_issuer: Option<String>) -> RoleBounds {
        RoleBounds {
            bound_issuer,
            bound_audiences: self.bound_audiences.clone(),
            bound_subject: self.bound_subject.clone(),
            bound_claims: self.bound_claims.clone(),
            bound_claims_type: if self.bound_claims_glob {
                ClaimMatch::Glob
            } else {
                ClaimMatch::String
            },
            user_claim: self.user_claim.clone(),
            claim_mappings: self.claim_mappings.clone(),
            clock_skew_leeway: self.clock_skew_leeway,
            expiration_leeway: self.expiration_leeway,
            not_before_leeway: self.not_before_leeway,
        }
    }

    pub(super) fn to_json(&self) -> Value {
        let mut out = Map::new();
        self.token.write_json(&mut out);
        let own = json!({
            "role_type": "jwt",
            "bound_audiences": self.bound_audiences,
            "bound_subject": self.bound_subject.clone().unwrap_or_default(),
            "bound_claims": if self.bound_claims.is_empty() { Value::Null } else { Value::Object(self.bound_claims.clone()) },
            "bound_claims_type": if self.bound_claims_glob { "glob" } else { "string" },
            "user_claim": self.user_claim,
            "claim_mappings": if self.claim_mappings.is_empty() { Value::Null } else { json!(self.claim_mappings) },
            "clock_skew_leeway": self.clock_skew_leeway,
            "expiration_leeway": self.expiration_leeway,
            "not_before_leeway": self.not_before_leeway,
        });
        if let Value::Object(own) = own {
            out.extend(own);
        }
        Value::Object(out)
    }
}
