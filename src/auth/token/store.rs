//! Token storage. Tokens are never stored in plaintext: the store keys each
//! entry by HMAC-SHA256(token) under a per-installation salt. Every token has
//! an accessor (a handle that can look up or revoke it without being it), and
//! every child token is indexed under its parent so revocation takes the
//! whole tree.
//!
//! Keys: `id/<hash>` entry, `accessor/<accessor>` → hash,
//! `parent/<parent hash>/<child hash>` → "". A login token also records the
//! auth mount it came through, by the mount's accessor (unique to one
//! enabling of the mount, unlike its path): `login-mount/<hash>` → accessor
//! and `mount-tokens/<accessor>/<hash>` → "", so disabling the mount finds
//! every token it issued, with a TTL or without. `owner/<owner>/<accessor>`
//! indexes tokens by `meta.owner` (see `owners`). Each token's cubbyhole
//! lives under `cubbyhole/<hash>/` and goes with the token (`cubbyhole`).

use crate::barrier::{StorageView, Write};
use crate::clock::Clock;
use hmac::{Hmac, Mac};
use rand::distributions::{Alphanumeric, DistString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::sync::Arc;
use zeroize::Zeroizing;

const SALT_KEY: &str = "salt";

/// The only policy of a response-wrapping token: it grants nothing; the
/// token opens its wrapped response once, through `sys/wrapping/unwrap`.
pub const WRAPPING_POLICY: &str = "response-wrapping";

/// A stored token. It holds the token's hash, never the token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenEntry {
    pub id_hash: String,
    pub accessor: String,
    pub parent_hash: Option<String>,
    pub policies: Vec<String>,
    pub meta: BTreeMap<String, String>,
    pub display_name: String,
    /// Uses left; 0 means unlimited; negative means used up (the token is
    /// revoked once its last request is served, and refused meanwhile).
    pub num_uses: i64,
    pub creation_time: i64,
    pub creation_ttl: i64,
    pub explicit_max_ttl: i64,
    pub period: i64,
    /// Unix seconds; `None` never expires (root tokens).
    pub expire_time: Option<i64>,
    pub renewable: bool,
    pub path: String,
    #[serde(default)]
    pub role: Option<String>,
    /// Networks the token may be used from; empty allows any.
    #[serde(default)]
    pub bound_cidrs: Vec<String>,
}

impl TokenEntry {
    pub fn is_root(&self) -> bool {
        self.policies.iter().any(|p| p == "root")
    }

    pub fn is_wrapping(&self) -> bool {
        self.policies.len() == 1 && self.policies.first().is_some_and(|p| p == WRAPPING_POLICY)
    }

    pub fn ttl_remaining(&self, now: i64) -> i64 {
        self.expire_time.map_or(0, |t| t.saturating_sub(now).max(0))
    }
}

/// What can go wrong in the token store.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("a token with this id already exists")]
    Exists,
    #[error("invalid lease ID: lease is not renewable")]
    NotRenewable,
    /// Stored state that cannot be read back (not a client's fault).
    #[error("{0}")]
    Corrupt(&'static str),
    #[error(transparent)]
    Barrier(#[from] crate::barrier::BarrierError),
}

/// What counting a use found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uses {
    Allowed,
    /// This use is the last: serve it, then revoke the token.
    Last,
    /// No use left.
    Exhausted,
}

/// What a new token should be.
pub struct NewToken {
    pub parent_hash: Option<String>,
    pub policies: Vec<String>,
    pub meta: BTreeMap<String, String>,
    pub display_name: String,
    pub num_uses: i64,
    pub ttl: i64,
    pub explicit_max_ttl: i64,
    pub period: i64,
    pub renewable: bool,
    pub path: String,
    pub role: Option<String>,
    /// A caller-chosen token id (dev mode root token, `id` parameter).
    pub id: Option<String>,
    pub bound_cidrs: Vec<String>,
}

pub struct TokenStore {
    view: StorageView,
    salt: Zeroizing<Vec<u8>>,
    clock: Arc<dyn Clock>,
    /// Serializes the read-decrement-write of limited-use tokens, so two
    /// concurrent requests never spend the same use.
    uses: tokio::sync::Mutex<()>,
}

fn login_mount_key(id_hash: &str) -> String {
    format!("login-mount/{id_hash}")
}

fn mount_index_key(mount_accessor: &str, id_hash: &str) -> String {
    format!("mount-tokens/{mount_accessor}/{id_hash}")
}

/// The length of a token id this store makes: `hvs.` and 24 random
/// characters, as Vault's. Generate-root's OTP has this length.
pub const TOKEN_LEN: usize = 4 + TOKEN_RANDOM_LEN;
const TOKEN_RANDOM_LEN: usize = 24;

fn random_string(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rngs::OsRng, len)
}

impl TokenStore {
    /// Opens the store, creating its salt the first time.
    pub async fn open(view: StorageView, clock: Arc<dyn Clock>) -> Result<Self, TokenError> {
        let salt = match view.get_json::<String>(SALT_KEY).await? {
            Some(hex_salt) => {
                hex::decode(hex_salt).map_err(|_| TokenError::Corrupt("token salt is corrupt"))?
            }
            None => {
                let salt: [u8; 32] = rand::random();
                view.put_json(SALT_KEY, &hex::encode(salt)).await?;
                salt.to_vec()
            }
        };
        let store = Self {
            view: view.clone(),
            salt: Zeroizing::new(salt),
            clock,
            uses: tokio::sync::Mutex::new(()),
        };
        super::owners::index_once(&store, &view).await?;
        Ok(store)
    }

    pub fn now(&self) -> i64 {
        self.clock.now_unix()
    }

    /// The store's storage view (for the cubbyholes kept beside tokens).
    pub(super) fn view(&self) -> &StorageView {
        &self.view
    }

    /// The storage hash of a token.
    pub fn hash(&self, token: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.salt)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(token.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Creates a token; returns the token (shown once) and its entry.
    pub async fn create(
        &self,
        spec: NewToken,
    ) -> Result<(Zeroizing<String>, TokenEntry), TokenError> {
        self.create_with(spec, None).await
    }

    /// Creates a login token issued through the auth mount with this
    /// accessor, and records the mount with it.
    pub async fn create_for_mount(
        &self,
        spec: NewToken,
        mount_accessor: &str,
    ) -> Result<(Zeroizing<String>, TokenEntry), TokenError> {
        if mount_accessor.is_empty() || mount_accessor.contains('/') {
            return Err(TokenError::Corrupt("invalid mount accessor"));
        }
        self.create_with(spec, Some(mount_accessor)).await
    }

    async fn create_with(
        &self,
        spec: NewToken,
        mount_accessor: Option<&str>,
    ) -> Result<(Zeroizing<String>, TokenEntry), TokenError> {
        let token = Zeroizing::new(
            spec.id
                .clone()
                .unwrap_or_else(|| format!("hvs.{}", random_string(TOKEN_RANDOM_LEN))),
        );
        let id_hash = self.hash(&token);
        if self
            .view
            .get_json::<TokenEntry>(&format!("id/{id_hash}"))
            .await?
            .is_some()
        {
            return Err(TokenError::Exists);
        }
        let now = self.now();
        let ttl = if spec.period > 0 {
            spec.period
        } else {
            spec.ttl
        };
        let ttl = if spec.explicit_max_ttl > 0 && (ttl == 0 || ttl > spec.explicit_max_ttl) {
            spec.explicit_max_ttl
        } else {
            ttl
        };
        let entry = TokenEntry {
            id_hash: id_hash.clone(),
            accessor: random_string(24),
            parent_hash: spec.parent_hash,
            policies: spec.policies,
            meta: spec.meta,
            display_name: spec.display_name,
            num_uses: spec.num_uses,
            creation_time: now,
            creation_ttl: ttl,
            explicit_max_ttl: spec.explicit_max_ttl,
            period: spec.period,
            expire_time: (ttl > 0).then_some(now.saturating_add(ttl)),
            renewable: spec.renewable && ttl > 0,
            path: spec.path,
            role: spec.role,
            bound_cidrs: spec.bound_cidrs,
        };
        let mut writes = vec![
            Write::json(format!("id/{id_hash}"), &entry),
            Write::json(format!("accessor/{}", entry.accessor), &id_hash),
        ];
        if let Some(parent) = &entry.parent_hash {
            writes.push(Write::json(format!("parent/{parent}/{id_hash}"), &""));
        }
        if let Some(key) = super::owners::owner_key(&entry) {
            writes.push(Write::json(key, &""));
        }
        if let Some(accessor) = mount_accessor {
            writes.push(Write::json(login_mount_key(&id_hash), &accessor));
            writes.push(Write::json(mount_index_key(accessor, &id_hash), &""));
        }
        self.view.write(writes).await?;
        Ok((token, entry))
    }

    /// The live entry for a token hash; expired tokens count as absent.
    pub async fn lookup_hash(&self, id_hash: &str) -> Result<Option<TokenEntry>, TokenError> {
        let entry = self
            .view
            .get_json::<TokenEntry>(&format!("id/{id_hash}"))
            .await?;
        Ok(entry.filter(|e| e.expire_time.is_none_or(|t| t > self.now())))
    }

    pub async fn lookup(&self, token: &str) -> Result<Option<TokenEntry>, TokenError> {
        self.lookup_hash(&self.hash(token)).await
    }

    pub async fn lookup_accessor(&self, accessor: &str) -> Result<Option<TokenEntry>, TokenError> {
        if accessor.is_empty() || accessor.contains('/') {
            return Ok(None);
        }
        match self
            .view
            .get_json::<String>(&format!("accessor/{accessor}"))
            .await?
        {
            Some(hash) => self.lookup_hash(&hash).await,
            None => Ok(None),
        }
    }

    /// Counts one use of a limited-use token, atomically and durably before
    /// the request is served. The last use marks the token used up (refused
    /// by every later request) and asks the caller to revoke it.
    pub async fn use_once(&self, entry: &TokenEntry) -> Result<Uses, TokenError> {
        if entry.num_uses == 0 {
            return Ok(Uses::Allowed);
        }
        let _counting = self.uses.lock().await;
        let Some(mut current) = self.lookup_hash(&entry.id_hash).await? else {
            return Ok(Uses::Exhausted);
        };
        if current.num_uses < 0 {
            return Ok(Uses::Exhausted);
        }
        if current.num_uses == 0 {
            return Ok(Uses::Allowed);
        }
        let outcome = if current.num_uses <= 1 {
            current.num_uses = -1;
            Uses::Last
        } else {
            current.num_uses = current.num_uses.saturating_sub(1);
            Uses::Allowed
        };
        self.view
            .put_json(&format!("id/{}", current.id_hash), &current)
            .await?;
        Ok(outcome)
    }

    /// Extends a token's life by `increment` seconds (or its original TTL),
    /// capped by its explicit max TTL and `max_ttl` (counted from creation);
    /// a periodic token gets its period, at most `max_ttl`. Returns the
    /// renewed entry.
    pub async fn renew(
        &self,
        entry: &TokenEntry,
        increment: Option<i64>,
        max_ttl: i64,
    ) -> Result<TokenEntry, TokenError> {
        if entry.expire_time.is_none() {
            return Ok(entry.clone());
        }
        if !entry.renewable {
            return Err(TokenError::NotRenewable);
        }
        let now = self.now();
        // A periodic token gets its period again, never more than `max_ttl`.
        let mut ttl = if entry.period > 0 {
            match max_ttl {
                0 => entry.period,
                max => entry.period.min(max),
            }
        } else {
            increment.filter(|i| *i > 0).unwrap_or(entry.creation_ttl)
        };
        let mut limit = None;
        if entry.explicit_max_ttl > 0 {
            limit = Some(entry.creation_time.saturating_add(entry.explicit_max_ttl));
        }
        if entry.period == 0 && max_ttl > 0 {
            let system_limit = entry.creation_time.saturating_add(max_ttl);
            limit = Some(limit.map_or(system_limit, |l: i64| l.min(system_limit)));
        }
        if let Some(limit) = limit {
            ttl = ttl.min(limit.saturating_sub(now).max(0));
        }
        let mut renewed = entry.clone();
        renewed.expire_time = Some(now.saturating_add(ttl));
        self.view
            .put_json(&format!("id/{}", renewed.id_hash), &renewed)
            .await?;
        Ok(renewed)
    }

    /// A token and every token created under it, children before parents,
    /// so an interrupted revocation never leaves a child whose parent is gone.
    pub async fn tree(&self, id_hash: &str) -> Result<Vec<String>, TokenError> {
        let mut pending = vec![id_hash.to_string()];
        let mut order = Vec::new();
        while let Some(hash) = pending.pop() {
            for child in self.view.list(&format!("parent/{hash}/")).await? {
                pending.push(child);
            }
            order.push(hash);
        }
        order.reverse();
        Ok(order)
    }

    /// Revokes a token and makes its children orphans.
    pub async fn revoke_orphan(&self, id_hash: &str) -> Result<(), TokenError> {
        for child in self.view.list(&format!("parent/{id_hash}/")).await? {
            if let Some(mut entry) = self
                .view
                .get_json::<TokenEntry>(&format!("id/{child}"))
                .await?
            {
                entry.parent_hash = None;
                self.view
                    .write(vec![
                        Write::json(format!("id/{child}"), &entry),
                        Write::Delete(format!("parent/{id_hash}/{child}")),
                    ])
                    .await?;
            }
        }
        self.delete(id_hash).await
    }

    /// Deletes one token entry and its index entries (not its children).
    pub async fn delete(&self, id_hash: &str) -> Result<(), TokenError> {
        let writes = self.deletion(id_hash).await?;
        Ok(self.view.write(writes).await?)
    }

    /// Like [`TokenStore::delete`], durable with the caller's next sync.
    pub async fn delete_relaxed(&self, id_hash: &str) -> Result<(), TokenError> {
        let writes = self.deletion(id_hash).await?;
        Ok(self.view.write_relaxed_async(writes).await?)
    }

    /// A token's deletion: its entry, its index entries and its cubbyhole.
    async fn deletion(&self, id_hash: &str) -> Result<Vec<Write>, TokenError> {
        let mut writes = self.cubbyhole_deletion(id_hash).await?;
        let Some(entry) = self
            .view
            .get_json::<TokenEntry>(&format!("id/{id_hash}"))
            .await?
        else {
            return Ok(writes);
        };
        writes.push(Write::Delete(format!("id/{id_hash}")));
        writes.push(Write::Delete(format!("accessor/{}", entry.accessor)));
        if let Some(parent) = &entry.parent_hash {
            writes.push(Write::Delete(format!("parent/{parent}/{id_hash}")));
        }
        if let Some(key) = super::owners::owner_key(&entry) {
            writes.push(Write::Delete(key));
        }
        if entry.is_wrapping() {
            writes.push(Write::Delete(format!("wrapped/{id_hash}")));
        }
        if let Some(accessor) = self.login_mount_of(&entry).await? {
            writes.push(Write::Delete(login_mount_key(id_hash)));
            writes.push(Write::Delete(mount_index_key(&accessor, id_hash)));
        }
        Ok(writes)
    }

    /// The accessor of the auth mount a login token came through. Tokens of
    /// the token store itself never have one, and are not looked up.
    pub async fn login_mount_of(&self, entry: &TokenEntry) -> Result<Option<String>, TokenError> {
        if entry.path.starts_with("auth/token/") {
            return Ok(None);
        }
        Ok(self
            .view
            .get_json::<String>(&login_mount_key(&entry.id_hash))
            .await?)
    }

    /// The hashes of the tokens recorded as issued through the auth mount
    /// with this accessor.
    pub async fn issued_through(&self, mount_accessor: &str) -> Result<Vec<String>, TokenError> {
        if mount_accessor.is_empty() || mount_accessor.contains('/') {
            return Ok(Vec::new());
        }
        Ok(self
            .view
            .list(&format!("mount-tokens/{mount_accessor}/"))
            .await?)
    }

    /// Drops what is left of a mount's index (entries of tokens already gone).
    pub async fn forget_mount(&self, mount_accessor: &str) -> Result<(), TokenError> {
        let hashes = self.issued_through(mount_accessor).await?;
        for chunk in hashes.chunks(1000) {
            let deletes = chunk
                .iter()
                .flat_map(|hash| {
                    [
                        Write::Delete(mount_index_key(mount_accessor, hash)),
                        Write::Delete(login_mount_key(hash)),
                    ]
                })
                .collect();
            self.view.write(deletes).await?;
        }
        Ok(())
    }

    /// Tokens whose creation path lies under `mount_path` (an auth mount's
    /// `auth/NAME/`), for tokens issued before mounts were recorded. Reads
    /// every token entry: for disabling a mount only.
    pub async fn created_under(&self, mount_path: &str) -> Result<Vec<String>, TokenError> {
        if !mount_path.starts_with("auth/") || mount_path.starts_with("auth/token/") {
            return Ok(Vec::new());
        }
        let mut found = Vec::new();
        for hash in self.view.list("id/").await? {
            let entry = self
                .view
                .get_json::<TokenEntry>(&format!("id/{hash}"))
                .await?;
            if entry.is_some_and(|e| e.path.starts_with(mount_path)) {
                found.push(hash);
            }
        }
        Ok(found)
    }

    /// Stores the response a wrapping token stands for; it goes with the token.
    pub async fn put_wrapped(
        &self,
        id_hash: &str,
        response: &serde_json::Value,
    ) -> Result<(), TokenError> {
        Ok(self
            .view
            .put_json(&format!("wrapped/{id_hash}"), response)
            .await?)
    }

    /// The response a wrapping token stands for.
    pub async fn wrapped(&self, id_hash: &str) -> Result<Option<serde_json::Value>, TokenError> {
        Ok(self.view.get_json(&format!("wrapped/{id_hash}")).await?)
    }

    /// Drops index entries whose token is gone (left by a crash between
    /// ordered writes, or by earlier versions): accessors without their
    /// token, parent entries of a child that no longer exists, and owner
    /// entries of a token that is gone.
    /// Returns how many went (`auth/token/tidy`).
    pub async fn tidy(&self) -> Result<usize, TokenError> {
        let mut stale = Vec::new();
        for key in self.view.keys("accessor/").await? {
            let hash: Option<String> = self.view.get_json(&key).await?;
            let alive = match hash {
                Some(hash) => self.lookup_hash(&hash).await?.is_some(),
                None => false,
            };
            if !alive {
                stale.push(key);
            }
        }
        for key in self.view.keys("parent/").await? {
            let child = key.rsplit('/').next().unwrap_or_default();
            if self.lookup_hash(child).await?.is_none() {
                stale.push(key);
            }
        }
        for key in self.view.keys("owner/").await? {
            let accessor = key.rsplit('/').next().unwrap_or_default();
            if self.lookup_accessor(accessor).await?.is_none() {
                stale.push(key);
            }
        }
        let removed = stale.len();
        for chunk in stale.chunks(1000) {
            let deletes = chunk.iter().map(|k| Write::Delete(k.clone())).collect();
            self.view.write(deletes).await?;
        }
        Ok(removed)
    }

    /// The first `limit` accessors, in order.
    pub async fn accessors_limited(&self, limit: usize) -> Result<Vec<String>, TokenError> {
        let keys = self.view.keys_limited("accessor/", limit).await?;
        Ok(keys
            .into_iter()
            .filter_map(|k| k.strip_prefix("accessor/").map(String::from))
            .collect())
    }

    /// Every accessor, for `auth/token/accessors`.
    pub async fn accessors(&self) -> Result<Vec<String>, TokenError> {
        Ok(self.view.list("accessor/").await?)
    }
}
