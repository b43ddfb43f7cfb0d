//! AppRole storage: roles, the role-ID index, and secret IDs. Role IDs and
//! secret IDs appear in keys only as HMAC-SHA256 under a per-mount salt, and
//! secret IDs are never stored at all: what is stored is keyed by their hash.
//!
//! Keys: `salt`, `role/<name>`, `role_id/<hmac>` → name,
//! `secret_id/<name>/<hmac>` → entry, `accessor/<name>/<accessor>` → hmac.

use super::role::Role;
use crate::barrier::{StorageView, Write};
use crate::error::ApiError;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// A stored secret ID (without the secret ID).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SecretIdEntry {
    pub(super) accessor: String,
    pub(super) cidr_list: Vec<String>,
    pub(super) token_bound_cidrs: Vec<String>,
    pub(super) metadata: BTreeMap<String, String>,
    pub(super) creation_time: i64,
    pub(super) last_updated_time: i64,
    /// Unix seconds; `None` never expires.
    pub(super) expiration_time: Option<i64>,
    /// Uses left; 0 is unlimited.
    pub(super) num_uses: i64,
    pub(super) ttl: i64,
}

impl SecretIdEntry {
    pub(super) fn expired(&self, now: i64) -> bool {
        self.expiration_time.is_some_and(|t| t <= now)
    }
}

pub(super) struct Store {
    view: StorageView,
    salt: tokio::sync::OnceCell<Zeroizing<Vec<u8>>>,
}

impl Store {
    pub(super) fn new(view: StorageView) -> Self {
        Self {
            view,
            salt: tokio::sync::OnceCell::new(),
        }
    }

    async fn salt(&self) -> Result<&[u8], ApiError> {
        let salt = self
            .salt
            .get_or_try_init(|| async {
                let salt = match self.view.get_json::<String>("salt").await? {
                    Some(hex_salt) => hex::decode(hex_salt)
                        .map_err(|_| ApiError::Internal("approle salt is corrupt".into()))?,
                    None => {
                        let salt: [u8; 32] = rand::random();
                        self.view.put_json("salt", &hex::encode(salt)).await?;
                        salt.to_vec()
                    }
                };
                Ok::<_, ApiError>(Zeroizing::new(salt))
            })
            .await?;
        Ok(salt)
    }

    async fn hash(&self, value: &str) -> Result<String, ApiError> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.salt().await?)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(value.as_bytes());
        Ok(hex::encode(mac.finalize().into_bytes()))
    }

    pub(super) async fn role(&self, name: &str) -> Result<Option<Role>, ApiError> {
        Ok(self.view.get_json(&format!("role/{name}")).await?)
    }

    pub(super) async fn role_names(&self) -> Result<Vec<String>, ApiError> {
        Ok(self.view.list("role/").await?)
    }

    /// Stores a role and keeps the role-ID index in step with it.
    pub(super) async fn put_role(
        &self,
        role: &Role,
        old_role_id: Option<&str>,
    ) -> Result<(), ApiError> {
        let new_index = format!("role_id/{}", self.hash(&role.role_id).await?);
        if let Some(owner) = self.view.get_json::<String>(&new_index).await? {
            if owner != role.name {
                return Err(ApiError::bad("role_id is already in use by another role"));
            }
        }
        let mut writes = vec![
            Write::json(format!("role/{}", role.name), role),
            Write::json(new_index, &role.name),
        ];
        if let Some(old) = old_role_id.filter(|old| *old != role.role_id) {
            writes.push(Write::Delete(format!("role_id/{}", self.hash(old).await?)));
        }
        self.view.write(writes).await?;
        Ok(())
    }

    /// Deletes a role with its role-ID index entry and all its secret IDs.
    pub(super) async fn delete_role(&self, role: &Role) -> Result<(), ApiError> {
        let mut writes = vec![
            Write::Delete(format!("role/{}", role.name)),
            Write::Delete(format!("role_id/{}", self.hash(&role.role_id).await?)),
        ];
        for prefix in [
            format!("secret_id/{}/", role.name),
            format!("accessor/{}/", role.name),
        ] {
            for key in self.view.keys(&prefix).await? {
                writes.push(Write::Delete(key));
            }
        }
        self.view.write(writes).await?;
        Ok(())
    }

    pub(super) async fn role_by_id(&self, role_id: &str) -> Result<Option<Role>, ApiError> {
        let index = format!("role_id/{}", self.hash(role_id).await?);
        match self.view.get_json::<String>(&index).await? {
            Some(name) => self.role(&name).await,
            None => Ok(None),
        }
    }

    pub(super) async fn secret_id_hash(&self, secret_id: &str) -> Result<String, ApiError> {
        self.hash(secret_id).await
    }

    pub(super) async fn secret_id(
        &self,
        role: &str,
        hash: &str,
    ) -> Result<Option<SecretIdEntry>, ApiError> {
        Ok(self
            .view
            .get_json(&format!("secret_id/{role}/{hash}"))
            .await?)
    }

    pub(super) async fn put_secret_id(
        &self,
        role: &str,
        hash: &str,
        entry: &SecretIdEntry,
    ) -> Result<(), ApiError> {
        if self.secret_id(role, hash).await?.is_none()
            && self
                .view
                .get_json::<String>(&format!("accessor/{role}/{}", entry.accessor))
                .await?
                .is_some()
        {
            return Err(ApiError::Internal("secret ID accessor collision".into()));
        }
        self.view
            .write(vec![
                Write::json(format!("secret_id/{role}/{hash}"), entry),
                Write::json(format!("accessor/{role}/{}", entry.accessor), &hash),
            ])
            .await?;
        Ok(())
    }

    pub(super) async fn delete_secret_id(
        &self,
        role: &str,
        hash: &str,
        accessor: &str,
    ) -> Result<(), ApiError> {
        self.view
            .write(vec![
                Write::Delete(format!("secret_id/{role}/{hash}")),
                Write::Delete(format!("accessor/{role}/{accessor}")),
            ])
            .await?;
        Ok(())
    }

    /// The secret-ID hash an accessor stands for.
    pub(super) async fn hash_of_accessor(
        &self,
        role: &str,
        accessor: &str,
    ) -> Result<Option<String>, ApiError> {
        if accessor.is_empty() || accessor.contains('/') {
            return Ok(None);
        }
        Ok(self
            .view
            .get_json(&format!("accessor/{role}/{accessor}"))
            .await?)
    }

    pub(super) async fn accessors(&self, role: &str) -> Result<Vec<String>, ApiError> {
        Ok(self.view.list(&format!("accessor/{role}/")).await?)
    }

    /// Deletes every expired secret ID; returns how many.
    pub(super) async fn tidy(&self, now: i64) -> Result<usize, ApiError> {
        let mut removed: usize = 0;
        for role in self.role_names().await? {
            for key in self.view.keys(&format!("secret_id/{role}/")).await? {
                let Some(entry) = self.view.get_json::<SecretIdEntry>(&key).await? else {
                    continue;
                };
                if entry.expired(now) {
                    let hash = key.rsplit('/').next().unwrap_or_default();
                    self.delete_secret_id(&role, hash, &entry.accessor).await?;
                    removed = removed.saturating_add(1);
                }
            }
        }
        Ok(removed)
    }
}
