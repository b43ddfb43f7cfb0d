//! The AppRole auth method (Vault's `auth/approle` paths): a machine logs in
//! with a role ID (an identifier, like a username) and a secret ID (a
//! credential, handed to it once, usually wrapped), optionally bound to the
//! networks it may come from.

mod help;
mod role;
mod secret_ids;

use super::{cidr, AuthMethod, AuthReply, AuthRequest};
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::logical::{Operation, Response};
use crate::params::{optional_duration, optional_str, optional_strings, optional_u64};
use role::Role;
use secret_ids::{SecretIdEntry, Store};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

pub struct AppRole {
    store: Store,
    /// Serializes secret-ID use counting so a single-use ID logs in once.
    using: tokio::sync::Mutex<()>,
}

fn reply(response: Response) -> Result<AuthReply, ApiError> {
    Ok(AuthReply::Response(Box::new(response)))
}

fn required<'a>(data: &'a Map<String, Value>, field: &str) -> Result<&'a str, ApiError> {
    optional_str(data, field)?
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad(format!("missing {field}")))
}

/// The refusal for any unknown or used-up credential, as Vault words it.
fn invalid() -> ApiError {
    ApiError::bad("invalid role or secret ID")
}

impl AppRole {
    pub fn new(view: crate::barrier::StorageView) -> Self {
        Self {
            store: Store::new(view),
            using: tokio::sync::Mutex::new(()),
        }
    }

    async fn existing(&self, name: &str) -> Result<Role, ApiError> {
        self.store
            .role(name)
            .await?
            .ok_or_else(|| ApiError::bad(format!("role {name:?} does not exist")))
    }

    /// `role/NAME/<field>` (Vault's per-field endpoints): read the field,
    /// set it alone, or reset it to its default.
    async fn role_field(
        &self,
        role: Role,
        segment: &str,
        op: crate::logical::Operation,
        data: &Map<String, Value>,
    ) -> Result<AuthReply, ApiError> {
        use crate::logical::Operation::{Create, Delete, Read, Update};
        let field = role::field_of(segment).ok_or_else(|| no_route(segment))?;
        match op {
            Read => {
                let all = role.to_json();
                let mut out = Map::new();
                for name in field.read {
                    out.insert(
                        (*name).to_string(),
                        all.get(*name).cloned().unwrap_or(Value::Null),
                    );
                }
                reply(Response::data(out))
            }
            Create | Update if field.writable => {
                let value = field
                    .read
                    .iter()
                    .find_map(|name| data.get(*name))
                    .ok_or_else(|| ApiError::bad(format!("missing {}", field.write)))?;
                let mut one = Map::new();
                one.insert(field.write.to_string(), value.clone());
                self.write_role(role.name, &one).await
            }
            Delete if field.writable => {
                let mut one = Map::new();
                one.insert(field.write.to_string(), field.default.clone());
                self.write_role(role.name, &one).await
            }
            _ => Err(ApiError::UnsupportedOperation),
        }
    }

    async fn write_role(
        &self,
        name: String,
        data: &Map<String, Value>,
    ) -> Result<AuthReply, ApiError> {
        let existing = self.store.role(&name).await?;
        let old_role_id = existing.as_ref().map(|r| r.role_id.clone());
        let mut role = existing.unwrap_or_else(|| Role::new(name));
        if let Some(role_id) = optional_str(data, "role_id")?.filter(|r| !r.is_empty()) {
            role.role_id = role_id.to_string();
        }
        role.update(data)?;
        self.store.put_role(&role, old_role_id.as_deref()).await?;
        tracing::info!(role = %role.name, "approle role written");
        reply(Response::empty().warn(Role::unrecognized(data)))
    }

    async fn generate_secret_id(
        &self,
        role: &Role,
        req: &AuthRequest<'_>,
        custom: Option<&str>,
    ) -> Result<AuthReply, ApiError> {
        let data = req.data;
        let cidr_list = match optional_strings(data, "cidr_list")? {
            Some(list) => cidr::parse_list("cidr_list", &list)?,
            None => Vec::new(),
        };
        if !role.secret_id_bound_cidrs.is_empty()
            && !cidr::is_subset(&cidr_list, &role.secret_id_bound_cidrs)
        {
            return Err(ApiError::bad(
                "cidr_list: must be a subset of the role's secret_id_bound_cidrs",
            ));
        }
        let token_bound_cidrs = match optional_strings(data, "token_bound_cidrs")? {
            Some(list) => cidr::parse_list("token_bound_cidrs", &list)?,
            None => Vec::new(),
        };
        let ttl = match optional_duration(data, "ttl")? {
            Some(ttl) if role.secret_id_ttl > 0 && (ttl == 0 || ttl > role.secret_id_ttl) => {
                return Err(ApiError::bad(
                    "ttl: must not exceed the role's secret_id_ttl",
                ))
            }
            Some(ttl) if ttl > 0 => ttl,
            _ => role.secret_id_ttl,
        };
        let num_uses = match optional_u64(data, "num_uses")? {
            Some(uses) => {
                let uses = i64::try_from(uses).map_err(|_| ApiError::bad("num_uses: too large"))?;
                if role.secret_id_num_uses > 0 && (uses == 0 || uses > role.secret_id_num_uses) {
                    return Err(ApiError::bad(
                        "num_uses: must not exceed the role's secret_id_num_uses",
                    ));
                }
                uses
            }
            None => role.secret_id_num_uses,
        };
        let secret_id = zeroize::Zeroizing::new(match custom {
            Some(custom) => custom.to_string(),
            None => uuid::Uuid::new_v4().to_string(),
        });
        let hash = self.store.secret_id_hash(&secret_id).await?;
        if custom.is_some() && self.store.secret_id(&role.name, &hash).await?.is_some() {
            return Err(ApiError::bad("secret ID already registered"));
        }
        let entry = SecretIdEntry {
            accessor: uuid::Uuid::new_v4().to_string(),
            cidr_list,
            token_bound_cidrs,
            metadata: parse_metadata(data)?,
            creation_time: req.now,
            last_updated_time: req.now,
            expiration_time: (ttl > 0).then_some(req.now.saturating_add(ttl)),
            num_uses,
            ttl,
        };
        self.store.put_secret_id(&role.name, &hash, &entry).await?;
        reply(Response::json(json!({
            "secret_id": secret_id.as_str(),
            "secret_id_accessor": entry.accessor,
            "secret_id_ttl": ttl,
            "secret_id_num_uses": num_uses,
        })))
    }

    /// The entry behind a `secret_id` or `secret_id_accessor` parameter.
    async fn find_secret_id(
        &self,
        role: &Role,
        data: &Map<String, Value>,
        by_accessor: bool,
    ) -> Result<Option<(String, SecretIdEntry)>, ApiError> {
        let hash = if by_accessor {
            let accessor = required(data, "secret_id_accessor")?;
            match self.store.hash_of_accessor(&role.name, accessor).await? {
                Some(hash) => hash,
                None => return Ok(None),
            }
        } else {
            self.store
                .secret_id_hash(required(data, "secret_id")?)
                .await?
        };
        Ok(self
            .store
            .secret_id(&role.name, &hash)
            .await?
            .map(|entry| (hash, entry)))
    }

    async fn secret_id_action(
        &self,
        role: &Role,
        req: &AuthRequest<'_>,
        action: &str,
        by_accessor: bool,
    ) -> Result<AuthReply, ApiError> {
        let found = self.find_secret_id(role, req.data, by_accessor).await?;
        match action {
            "lookup" => {
                let (_, entry) = found.ok_or(ApiError::NotFound)?;
                reply(Response::json(secret_id_json(&entry)))
            }
            _ => {
                if let Some((hash, entry)) = found {
                    self.store
                        .delete_secret_id(&role.name, &hash, &entry.accessor)
                        .await?;
                }
                reply(Response::empty())
            }
        }
    }

    async fn login(&self, req: &AuthRequest<'_>) -> Result<AuthReply, ApiError> {
        let role_id = required(req.data, "role_id")?;
        let role = self.store.role_by_id(role_id).await?.ok_or_else(invalid)?;
        let addr = req.remote_addr;
        let unauthorized = |what: &str| {
            ApiError::bad(format!(
                "source address {:?} unauthorized through CIDR restrictions on the {what}",
                addr.map(|a| a.to_string()).unwrap_or_default()
            ))
        };
        if !cidr::allows(&role.secret_id_bound_cidrs, addr) {
            return Err(unauthorized("role"));
        }
        let mut metadata = BTreeMap::new();
        let mut token_bound_cidrs = role.token.token_bound_cidrs.clone();
        if role.bind_secret_id {
            let secret_id = required(req.data, "secret_id")?;
            let hash = self.store.secret_id_hash(secret_id).await?;
            let _using = self.using.lock().await;
            let entry = self
                .store
                .secret_id(&role.name, &hash)
                .await?
                .ok_or_else(invalid)?;
            if entry.expired(req.now) {
                self.store
                    .delete_secret_id(&role.name, &hash, &entry.accessor)
                    .await?;
                return Err(invalid());
            }
            if !cidr::allows(&entry.cidr_list, addr) {
                return Err(unauthorized("secret ID"));
            }
            match entry.num_uses {
                0 => {}
                1 => {
                    self.store
                        .delete_secret_id(&role.name, &hash, &entry.accessor)
                        .await?
                }
                left => {
                    let mut used = entry.clone();
                    used.num_uses = left.saturating_sub(1);
                    used.last_updated_time = req.now;
                    self.store.put_secret_id(&role.name, &hash, &used).await?;
                }
            }
            if !entry.token_bound_cidrs.is_empty() {
                token_bound_cidrs = entry.token_bound_cidrs.clone();
            }
            metadata = entry.metadata;
        }
        metadata.insert("role_name".into(), role.name.clone());
        let mut login = role.token.login(String::new());
        login.metadata = metadata;
        login.bound_cidrs = token_bound_cidrs;
        tracing::info!(role = %role.name, "approle login");
        Ok(AuthReply::Login(login))
    }
}

/// Secret-ID metadata: a JSON object, or a string holding one (Vault's form).
fn parse_metadata(data: &Map<String, Value>) -> Result<BTreeMap<String, String>, ApiError> {
    let parsed;
    let object = match data.get("metadata") {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::String(text)) if text.trim().is_empty() => return Ok(BTreeMap::new()),
        Some(Value::String(text)) => {
            parsed = serde_json::from_str::<Value>(text)
                .map_err(|_| ApiError::bad("metadata: expected a JSON object of strings"))?;
            &parsed
        }
        Some(other) => other,
    };
    match object {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(ApiError::bad("metadata: values must be strings")),
            })
            .collect(),
        _ => Err(ApiError::bad("metadata: expected a JSON object of strings")),
    }
}

fn secret_id_json(entry: &SecretIdEntry) -> Value {
    json!({
        "secret_id_accessor": entry.accessor,
        "cidr_list": entry.cidr_list,
        "token_bound_cidrs": entry.token_bound_cidrs,
        "metadata": entry.metadata,
        "creation_time": rfc3339(entry.creation_time),
        "last_updated_time": rfc3339(entry.last_updated_time),
        "expiration_time": entry.expiration_time.map_or("0001-01-01T00:00:00Z".to_string(), rfc3339),
        "secret_id_num_uses": entry.num_uses,
        "secret_id_ttl": entry.ttl,
    })
}

#[async_trait::async_trait]
impl AuthMethod for AppRole {
    fn help(&self) -> &'static qm_plugin_sdk::help::Help {
        &help::HELP
    }

    fn is_login_path(&self, path: &str) -> bool {
        path == "login"
    }

    async fn handle(&self, req: &AuthRequest<'_>) -> Result<AuthReply, ApiError> {
        use Operation::*;
        let path = req.path.trim_end_matches('/');
        let parts: Vec<&str> = path.split('/').collect();
        match (parts.as_slice(), req.operation) {
            (["login"], Create | Update) => self.login(req).await,
            (["role"], List) => reply(Response::keys(self.store.role_names().await?)?),
            (["tidy", "secret-id"], Create | Update) => {
                let removed = self.store.tidy(req.now).await?;
                reply(Response::json(json!({ "removed": removed })))
            }
            (["role", name], Read) => {
                let role = self.store.role(&role::normalize_name(name)?).await?;
                reply(Response::json(role.ok_or(ApiError::NotFound)?.to_json()))
            }
            (["role", name], Create | Update) => {
                self.write_role(role::normalize_name(name)?, req.data).await
            }
            (["role", name], Delete) => {
                if let Some(role) = self.store.role(&role::normalize_name(name)?).await? {
                    self.store.delete_role(&role).await?;
                }
                reply(Response::empty())
            }
            (["role", name, rest @ ..], op) if !rest.is_empty() => {
                let role = self.existing(&role::normalize_name(name)?).await?;
                match (rest, op) {
                    (["role-id"], Read) => {
                        reply(Response::json(json!({ "role_id": role.role_id })))
                    }
                    (["role-id"], Create | Update) => {
                        let mut data = Map::new();
                        data.insert("role_id".into(), json!(required(req.data, "role_id")?));
                        self.write_role(role.name, &data).await
                    }
                    (["secret-id"], Create | Update) => {
                        self.generate_secret_id(&role, req, None).await
                    }
                    (["custom-secret-id"], Create | Update) => {
                        let custom = required(req.data, "secret_id")?;
                        self.generate_secret_id(&role, req, Some(custom)).await
                    }
                    (["secret-id"], List) => {
                        reply(Response::keys(self.store.accessors(&role.name).await?)?)
                    }
                    (["secret-id", action @ ("lookup" | "destroy")], Create | Update) => {
                        self.secret_id_action(&role, req, action, false).await
                    }
                    (["secret-id", "destroy"], Delete) => {
                        self.secret_id_action(&role, req, "destroy", false).await
                    }
                    (["secret-id-accessor", action @ ("lookup" | "destroy")], Create | Update) => {
                        self.secret_id_action(&role, req, action, true).await
                    }
                    (["secret-id-accessor", "destroy"], Delete) => {
                        self.secret_id_action(&role, req, "destroy", true).await
                    }
                    ([segment], op) if role::field_of(segment).is_some() => {
                        self.role_field(role, segment, op, req.data).await
                    }
                    (
                        ["role-id" | "secret-id" | "custom-secret-id"]
                        | ["secret-id" | "secret-id-accessor", "lookup" | "destroy"],
                        _,
                    ) => Err(ApiError::UnsupportedOperation),
                    _ => Err(no_route(path)),
                }
            }
            (["login"] | ["role"] | ["role", _] | ["tidy", "secret-id"], _) => {
                Err(ApiError::UnsupportedOperation)
            }
            _ => Err(no_route(path)),
        }
    }
}

fn no_route(path: &str) -> ApiError {
    ApiError::NoHandler(format!("unsupported path: {path:?}"))
}
