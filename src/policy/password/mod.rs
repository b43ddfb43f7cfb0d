//! Password policies (`sys/policies/password/NAME`): named rules for
//! generated passwords that database configs refer to by name
//! (`password_policy`). Stored as their text under
//! `sys/password_policy/NAME` (barrier-encrypted) and parsed on each use:
//! they are read when a password is generated, not on every request, so
//! there is no cache to keep coherent. Names follow the ACL policies'
//! rules ([`super::normalize_name`]).

mod language;

use super::PolicyError;
use crate::barrier::{Barrier, StorageView};
use qm_plugin_sdk::password::PasswordPolicy;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Where the policies are kept in the core's storage.
const PREFIX: &str = "sys/password_policy/";

/// What is stored per policy, as Vault stores it: the text.
#[derive(Serialize, Deserialize)]
struct StoredPolicy {
    policy: String,
}

/// The stored password policies.
pub struct PasswordPolicies {
    view: StorageView,
}

impl PasswordPolicies {
    pub fn new(barrier: Arc<Barrier>) -> Self {
        Self {
            view: StorageView::new(barrier, PREFIX),
        }
    }

    /// The text of policy `name` as written.
    pub async fn text(&self, name: &str) -> Result<Option<String>, PolicyError> {
        let name = super::normalize_name(name)?;
        Ok(self
            .view
            .get_json::<StoredPolicy>(&name)
            .await?
            .map(|stored| stored.policy))
    }

    /// Policy `name`, parsed.
    pub async fn get(&self, name: &str) -> Result<Option<PasswordPolicy>, PolicyError> {
        let Some(text) = self.text(name).await? else {
            return Ok(None);
        };
        language::parse(&text)
            .map(Some)
            .map_err(|e| PolicyError::Corrupt(name.to_string(), e))
    }

    /// Checks and stores a policy's text.
    pub async fn put(&self, name: &str, text: &str) -> Result<(), PolicyError> {
        let name = super::normalize_name(name)?;
        language::parse(text)
            .map_err(|e| PolicyError::Invalid(format!("invalid password policy: {e}")))?;
        let stored = StoredPolicy {
            policy: text.to_string(),
        };
        Ok(self.view.put_json(&name, &stored).await?)
    }

    pub async fn delete(&self, name: &str) -> Result<(), PolicyError> {
        let name = super::normalize_name(name)?;
        Ok(self.view.delete(&name).await?)
    }

    /// Every policy's name, sorted.
    pub async fn names(&self) -> Result<Vec<String>, PolicyError> {
        let mut names = self.view.list("").await?;
        names.sort();
        Ok(names)
    }
}
