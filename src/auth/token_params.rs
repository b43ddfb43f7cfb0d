//! The `token_*` fields every auth method's roles share (Vault's
//! tokenutil): which policies, TTLs, use counts and networks the tokens
//! issued through the role get.

use super::{cidr, Login};
use crate::error::ApiError;
use crate::params::{optional_bool, optional_duration, optional_strings, optional_u64};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Why a role (or a login) that names `root` is refused: no auth method
/// mints root tokens (Vault refuses this at login; we refuse it at role
/// write time too).
pub const NO_ROOT: &str = "auth methods cannot create root tokens";

/// Policy names as Vault compares them: trimmed, lower-case, sorted, unique.
pub fn normalize_policies(policies: &[String]) -> Vec<String> {
    let mut policies: Vec<String> = policies
        .iter()
        .map(|p| p.trim().to_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    policies.sort();
    policies.dedup();
    policies
}

/// Refuses a policy list that holds `root` (compare after
/// [`normalize_policies`]).
pub fn refuse_root(policies: &[String]) -> Result<(), ApiError> {
    if policies.iter().any(|p| p == "root") {
        return Err(ApiError::bad(NO_ROOT));
    }
    Ok(())
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TokenParams {
    pub token_policies: Vec<String>,
    pub token_ttl: i64,
    pub token_max_ttl: i64,
    pub token_explicit_max_ttl: i64,
    pub token_period: i64,
    pub token_num_uses: i64,
    pub token_bound_cidrs: Vec<String>,
    pub token_no_default_policy: bool,
}

impl TokenParams {
    /// The body fields [`TokenParams::update`] reads, legacy names included.
    pub const FIELDS: &'static [&'static str] = &[
        "token_policies",
        "policies",
        "token_bound_cidrs",
        "bound_cidrs",
        "token_ttl",
        "ttl",
        "token_max_ttl",
        "max_ttl",
        "token_explicit_max_ttl",
        "token_period",
        "period",
        "token_num_uses",
        "token_no_default_policy",
        "token_type",
    ];

    /// Applies the fields present in `data` (and their legacy names:
    /// `policies`, `ttl`, `max_ttl`, `period`, `bound_cidrs`).
    pub fn update(&mut self, data: &Map<String, Value>) -> Result<(), ApiError> {
        let first = |a: &str, b: &str| -> Result<Option<Vec<String>>, ApiError> {
            Ok(optional_strings(data, a)?.or(optional_strings(data, b)?))
        };
        if let Some(policies) = first("token_policies", "policies")? {
            let policies = normalize_policies(&policies);
            refuse_root(&policies)?;
            self.token_policies = policies;
        }
        if let Some(cidrs) = first("token_bound_cidrs", "bound_cidrs")? {
            self.token_bound_cidrs = cidr::parse_list("token_bound_cidrs", &cidrs)?;
        }
        let duration = |a: &str, b: &str| -> Result<Option<i64>, ApiError> {
            Ok(optional_duration(data, a)?.or(optional_duration(data, b)?))
        };
        if let Some(ttl) = duration("token_ttl", "ttl")? {
            self.token_ttl = ttl;
        }
        if let Some(max) = duration("token_max_ttl", "max_ttl")? {
            self.token_max_ttl = max;
        }
        if let Some(max) = duration("token_explicit_max_ttl", "token_explicit_max_ttl")? {
            self.token_explicit_max_ttl = max;
        }
        if let Some(period) = duration("token_period", "period")? {
            self.token_period = period;
        }
        if let Some(uses) = optional_u64(data, "token_num_uses")? {
            self.token_num_uses =
                i64::try_from(uses).map_err(|_| ApiError::bad("token_num_uses: too large"))?;
        }
        if let Some(no_default) = optional_bool(data, "token_no_default_policy")? {
            self.token_no_default_policy = no_default;
        }
        if let Some(kind) = crate::params::optional_str(data, "token_type")? {
            if !matches!(kind, "" | "default" | "service" | "default-service") {
                return Err(ApiError::bad(format!(
                    "token_type: {kind:?} tokens are not supported; use \"service\""
                )));
            }
        }
        if self.token_max_ttl > 0 && self.token_ttl > self.token_max_ttl {
            return Err(ApiError::bad(
                "token_ttl: must not be greater than token_max_ttl",
            ));
        }
        Ok(())
    }

    /// Adds the fields to a role's read-out, under Vault's names.
    pub fn write_json(&self, out: &mut Map<String, Value>) {
        let fields = json!({
            "token_policies": self.token_policies,
            "policies": self.token_policies,
            "token_ttl": self.token_ttl,
            "token_max_ttl": self.token_max_ttl,
            "token_explicit_max_ttl": self.token_explicit_max_ttl,
            "token_period": self.token_period,
            "period": self.token_period,
            "token_num_uses": self.token_num_uses,
            "token_bound_cidrs": self.token_bound_cidrs,
            "token_no_default_policy": self.token_no_default_policy,
            "token_type": "default",
        });
        if let Value::Object(fields) = fields {
            out.extend(fields);
        }
    }

    /// The login these parameters describe.
    pub fn login(&self, display_name: String) -> Login {
        let max_ttl = match (self.token_max_ttl, self.token_explicit_max_ttl) {
            (0, explicit) => explicit,
            (max, 0) => max,
            (max, explicit) => max.min(explicit),
        };
        Login {
            policies: self.token_policies.clone(),
            no_default_policy: self.token_no_default_policy,
            display_name,
            ttl: self.token_ttl,
            max_ttl,
            explicit_max_ttl: self.token_explicit_max_ttl,
            period: self.token_period,
            num_uses: self.token_num_uses,
            bound_cidrs: self.token_bound_cidrs.clone(),
            ..Login::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn write(data: Value) -> Result<TokenParams, ApiError> {
        let mut params = TokenParams::default();
        let Value::Object(data) = data else {
            return Err(ApiError::bad("not an object"));
        };
        params.update(&data)?;
        Ok(params)
    }

    #[test]
    fn root_is_refused_in_any_spelling() {
        for data in [
            json!({"token_policies": "root"}),
            json!({"token_policies": [" ROOT"]}),
            json!({"policies": "default, Root"}),
        ] {
            assert!(write(data).is_err());
        }
        let params = write(json!({"token_policies": [" App ", "default"]}));
        assert_eq!(
            params.map(|p| p.token_policies).unwrap_or_default(),
            vec!["app".to_string(), "default".to_string()]
        );
    }

    #[test]
    fn normalized_lists_are_checked() {
        let listed = normalize_policies(&[" ROOT ".into(), "app".into()]);
        assert!(refuse_root(&listed).is_err());
        assert!(refuse_root(&normalize_policies(&["app".into()])).is_ok());
    }
}
