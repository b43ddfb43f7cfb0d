//! An AppRole role: what a login through it must present (a role ID, a
//! secret ID unless unbound, a source network) and the token it gets.

use crate::auth::cidr;
use crate::auth::token_params::TokenParams;
use crate::error::ApiError;
use crate::params::{optional_bool, optional_duration, optional_strings, optional_u64};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Role {
    pub(super) name: String,
    pub(super) role_id: String,
    pub(super) bind_secret_id: bool,
    pub(super) secret_id_bound_cidrs: Vec<String>,
    /// Uses each new secret ID gets; 0 is unlimited.
    pub(super) secret_id_num_uses: i64,
    /// Seconds each new secret ID lives; 0 never expires.
    pub(super) secret_id_ttl: i64,
    #[serde(flatten)]
    pub(super) token: TokenParams,
}

/// A role name from the path. Vault folds role names to lower case; we
/// refuse other spellings, so the name the ACL checked is the role served.
pub(super) fn normalize_name(name: &str) -> Result<String, ApiError> {
    crate::policy::path::stored_name("role", name, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@')
    })
    .map_err(ApiError::BadRequest)
}

impl Role {
    pub(super) fn new(name: String) -> Self {
        Self {
            name,
            role_id: uuid::Uuid::new_v4().to_string(),
            bind_secret_id: true,
            secret_id_bound_cidrs: Vec::new(),
            secret_id_num_uses: 0,
            secret_id_ttl: 0,
            token: TokenParams::default(),
        }
    }

    /// The warning for the fields of `data` a role write does not take.
    pub(super) fn unrecognized(data: &Map<String, Value>) -> Option<String> {
        let known: Vec<&str> = [
            "role_id",
            "bind_secret_id",
            "secret_id_bound_cidrs",
            "bound_cidr_list",
            "secret_id_num_uses",
            "secret_id_ttl",
        ]
        .into_iter()
        .chain(TokenParams::FIELDS.iter().copied())
        .collect();
        crate::params::unrecognized(data, &known)
    }

    /// Applies the fields present in `data`.
    pub(super) fn update(&mut self, data: &Map<String, Value>) -> Result<(), ApiError> {
        if let Some(bind) = optional_bool(data, "bind_secret_id")? {
            self.bind_secret_id = bind;
        }
        let cidrs = optional_strings(data, "secret_id_bound_cidrs")?
            .or(optional_strings(data, "bound_cidr_list")?);
        if let Some(cidrs) = cidrs {
            self.secret_id_bound_cidrs = cidr::parse_list("secret_id_bound_cidrs", &cidrs)?;
        }
        if let Some(uses) = optional_u64(data, "secret_id_num_uses")? {
            self.secret_id_num_uses =
                i64::try_from(uses).map_err(|_| ApiError::bad("secret_id_num_uses: too large"))?;
        }
        if let Some(ttl) = optional_duration(data, "secret_id_ttl")? {
            self.secret_id_ttl = ttl;
        }
        self.token.update(data)?;
        if !self.bind_secret_id
            && self.secret_id_bound_cidrs.is_empty()
            && self.token.token_bound_cidrs.is_empty()
        {
            return Err(ApiError::bad(
                "at least one constraint should be enabled on the role: bind_secret_id, \
                 secret_id_bound_cidrs or token_bound_cidrs",
            ));
        }
        Ok(())
    }

    pub(super) fn to_json(&self) -> Value {
        let mut out = Map::new();
        self.token.write_json(&mut out);
        let own = json!({
            "bind_secret_id": self.bind_secret_id,
            "secret_id_bound_cidrs": self.secret_id_bound_cidrs,
            "secret_id_num_uses": self.secret_id_num_uses,
            "secret_id_ttl": self.secret_id_ttl,
            "local_secret_ids": false,
        });
        if let Value::Object(own) = own {
            out.extend(own);
        }
        Value::Object(out)
    }
}

/// One of Vault's per-field role endpoints (`role/NAME/token-ttl`, ...):
/// the fields a read answers, the field a write sets, its default (what a
/// delete restores), and whether it can be written at all.
pub(super) struct RoleField {
    pub(super) read: &'static [&'static str],
    pub(super) write: &'static str,
    pub(super) default: Value,
    pub(super) writable: bool,
}

/// The per-field endpoint named by a path segment.
pub(super) fn field_of(segment: &str) -> Option<RoleField> {
    let field = |read: &'static [&'static str], default: Value| RoleField {
        read,
        write: read.first().copied().unwrap_or_default(),
        default,
        writable: true,
    };
    Some(match segment {
        "policies" => field(&["token_policies", "policies"], json!([])),
        "bind-secret-id" => field(&["bind_secret_id"], json!(true)),
        "secret-id-bound-cidrs" => field(&["secret_id_bound_cidrs"], json!([])),
        "token-bound-cidrs" => field(&["token_bound_cidrs"], json!([])),
        "secret-id-num-uses" => field(&["secret_id_num_uses"], json!(0)),
        "secret-id-ttl" => field(&["secret_id_ttl"], json!(0)),
        "period" => field(&["token_period", "period"], json!(0)),
        "token-num-uses" => field(&["token_num_uses"], json!(0)),
        "token-ttl" => field(&["token_ttl"], json!(0)),
        "token-max-ttl" => field(&["token_max_ttl"], json!(0)),
        "local-secret-ids" => RoleField {
            writable: false,
            ..field(&["local_secret_ids"], json!(false))
        },
        _ => return None,
    })
}
