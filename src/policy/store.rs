//! Stored ACL policies, cached in memory after first use. `root` is built in
//! and immutable; `default` is created at initialization and can be edited
//! but not deleted.

use super::{Policy, DEFAULT_POLICY};
use crate::barrier::StorageView;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

#[derive(Serialize, Deserialize)]
struct StoredPolicy {
    name: String,
    text: String,
}

pub struct PolicyStore {
    view: StorageView,
    // A std lock: held for a map lookup or insert, never across an await.
    cache: RwLock<HashMap<String, Arc<Policy>>>,
}

/// What can go wrong in the policy store.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A name or a text the client sent is refused (a 400).
    #[error("{0}")]
    Invalid(String),
    /// A stored policy no longer parses (not a client's fault).
    #[error("stored policy {0:?}: {1}")]
    Corrupt(String, String),
    #[error(transparent)]
    Barrier(#[from] crate::barrier::BarrierError),
}

/// Policy names from a path. Vault folds them to lower case; we refuse
/// other spellings instead, so the name the ACL checked is the one written.
pub fn normalize_name(name: &str) -> Result<String, PolicyError> {
    super::path::stored_name("policy", name, |c| {
        !c.is_control() && !c.is_whitespace() && !matches!(c, '/' | '\\' | '*' | '+')
    })
    .map_err(PolicyError::Invalid)
}

/// Names no policy write or delete may use: `root` is built in, and
/// `response-wrapping` is the (empty) policy of every wrapping token, so a
/// policy stored under it would apply to all of them.
const RESERVED: [&str; 2] = ["root", crate::auth::token::store::WRAPPING_POLICY];

impl PolicyStore {
    pub fn new(view: StorageView) -> Self {
        Self {
            view,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// Writes the built-in `default` policy if it is not stored yet.
    pub async fn ensure_default(&self) -> Result<(), PolicyError> {
        if self.get("default").await?.is_none() {
            self.put("default", DEFAULT_POLICY).await?;
        }
        Ok(())
    }

    pub async fn get(&self, name: &str) -> Result<Option<Arc<Policy>>, PolicyError> {
        if RESERVED.contains(&name) {
            return Ok(Some(Arc::new(Policy {
                name: name.into(),
                text: String::new(),
                rules: Vec::new(),
            })));
        }
        if let Some(hit) = self.cache.read().ok().and_then(|c| c.get(name).cloned()) {
            return Ok(Some(hit));
        }
        let Some(stored) = self.view.get_json::<StoredPolicy>(name).await? else {
            return Ok(None);
        };
        let policy = Arc::new(
            Policy::parse(&stored.name, &stored.text)
                .map_err(|e| PolicyError::Corrupt(name.to_string(), e))?,
        );
        if let Ok(mut cache) = self.cache.write() {
            cache.insert(name.to_string(), Arc::clone(&policy));
        }
        Ok(Some(policy))
    }

    /// Parses and stores a policy.
    pub async fn put(&self, name: &str, text: &str) -> Result<(), PolicyError> {
        if RESERVED.contains(&name) {
            return Err(PolicyError::Invalid(format!(
                "cannot update {name:?} policy: the name is reserved"
            )));
        }
        let policy = Policy::parse(name, text).map_err(PolicyError::Invalid)?;
        self.view
            .put_json(
                name,
                &StoredPolicy {
                    name: name.into(),
                    text: text.into(),
                },
            )
            .await?;
        if let Ok(mut cache) = self.cache.write() {
            cache.insert(name.to_string(), Arc::new(policy));
        }
        Ok(())
    }

    pub async fn delete(&self, name: &str) -> Result<(), PolicyError> {
        if RESERVED.contains(&name) || name == "default" {
            return Err(PolicyError::Invalid(format!(
                "cannot delete {name:?} policy"
            )));
        }
        self.view.delete(name).await?;
        if let Ok(mut cache) = self.cache.write() {
            cache.remove(name);
        }
        Ok(())
    }

    /// All policy names, with `root`.
    pub async fn names(&self) -> Result<Vec<String>, PolicyError> {
        let mut names = self.view.list("").await?;
        names.push("root".into());
        names.sort();
        Ok(names)
    }

    /// The named policies that exist; unknown names are skipped, as Vault does.
    pub async fn resolve(&self, names: &[String]) -> Result<Vec<Arc<Policy>>, PolicyError> {
        let mut policies = Vec::with_capacity(names.len());
        for name in names {
            if let Some(policy) = self.get(name).await? {
                policies.push(policy);
            }
        }
        Ok(policies)
    }
}
