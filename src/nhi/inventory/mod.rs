//! The identity inventory: one record per identity with its owner, what it
//! can reach, when it was created, last used and ends, its active leases,
//! and a risk score (0-100) whose every point has a reason:
//!
//! | reason | `[nhi.risk_weights]` key | default points |
//! |---|---|---|
//! | no owner | `no_owner` | 25 |
//! | owner offboarded | `owner_offboarded` | 30 |
//! | a policy grants `*` paths, `sudo`, or is `root` | `broad_policy` | 25 |
//! | a token that never expires | `never_expires` | 20 |
//! | a token with more than 30 days left | `long_ttl` | 10 |
//! | unused for 30 days or more (or never used, 30 days after creation) | `unused` | 15 |
//! | more than 100 active leases | `many_leases` | 10 |
//! | a static user not rotated within its period | `rotation_overdue` | 20 |
//! | an AppRole whose secret IDs work from any network | `unbound_secret_ids` | 10 |
//! | an AWS role whose policy allows `*` actions | `aws_wildcard` | 20 |
//! | a role whose database connection is gone | `backend_gone` | 10 |
//! | policies allow writes, but 10+ requests since start were all reads | `unused_write` | 10 |
//! | a lease whose token is gone | `token_gone` | 30 |
//!
//! Orphaned: the owner was offboarded, or a role's backend connection is
//! gone (`db_name` names no config).
//!
//! Identities come in source order (mounts in table order, each one's
//! roles by name, then tokens by accessor), and a listing stops reading as
//! soon as its page is full, so the first page costs the same with 100 or
//! 100,000 identities. Active leases are counted up to 10,000.

use super::paths::{self, APPROLE, AWS_ROLE, DB_ROLE, JWT_ROLE, LEASE, STATIC_DB_USER, TOKEN};
use crate::auth::token::store::TokenStore;
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::lease::LeaseStore;
use crate::logical::MountEntry;
use crate::policy::Capabilities;
use crate::policy::PolicyStore;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};

const DAY: i64 = 86_400;
const STALE_AFTER: i64 = 30 * DAY;
const MANY_LEASES: usize = 100;
const ROTATION_SLACK: i64 = 30;
/// Requests seen before "only reads" says something.
const ENOUGH_REQUESTS: u64 = 10;
/// Lease counts stop here (a role with a million leases is not re-counted
/// on every listing).
const COUNT_LEASES_UP_TO: usize = 10_000;

/// A listing: which identities to keep, and how many are wanted.
pub struct Scan<'f> {
    pub keep: &'f (dyn Fn(&Identity) -> bool + Sync),
    /// Stop after this many kept identities; `None` reads everything.
    pub want: Option<usize>,
    /// Also read the leases (each an identity; there are many).
    pub leases: bool,
}

impl Scan<'_> {
    fn full(&self, found: &[Identity]) -> bool {
        self.want.is_some_and(|want| found.len() >= want)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Identity {
    pub id: String,
    pub identity_type: &'static str,
    pub name: String,
    pub mount: String,
    pub owner: String,
    pub purpose: String,
    pub environment: String,
    pub labels: BTreeMap<String, String>,
    pub creation_date: Option<String>,
    pub last_accessed: Option<String>,
    pub permissions: Vec<String>,
    pub active_leases: usize,
    pub expiration: Option<String>,
    pub risk_score: u32,
    pub risk_reasons: Vec<String>,
    pub disabled: Option<String>,
    pub orphaned: bool,
    #[serde(skip)]
    pub last_used_unix: Option<i64>,
    #[serde(skip)]
    pub expire_unix: Option<i64>,
}

/// The mounted backends as the inventory reads them: which are mounted, and
/// a LIST or a read on one, on the broker's own behalf (the core serves it).
#[async_trait::async_trait]
pub trait Backends: Sync {
    fn mounts(&self) -> Vec<MountEntry>;
    async fn list(&self, mount: &MountEntry, path: &str) -> Result<Vec<String>, ApiError>;
    /// `None` when nothing is stored at `path`.
    async fn read(
        &self,
        mount: &MountEntry,
        path: &str,
    ) -> Result<Option<Map<String, Value>>, ApiError>;
}

/// Everything a listing reads.
pub struct Sources<'a> {
    pub backends: &'a dyn Backends,
    pub nhi: &'a super::NhiStore,
    pub tokens: &'a TokenStore,
    pub leases: &'a LeaseStore,
    pub policies: &'a PolicyStore,
    pub now: i64,
    pub weights: &'a super::RiskWeights,
}

/// Facts gathered once per listing.
struct Context<'a> {
    src: &'a Sources<'a>,
    now: i64,
    offboarded: HashMap<String, bool>,
    policy_rules: HashMap<String, Vec<(String, Capabilities)>>,
    weights: &'a super::RiskWeights,
}

impl Context<'_> {
    async fn owner_gone(&mut self, owner: &str) -> Result<bool, ApiError> {
        if let Some(gone) = self.offboarded.get(owner) {
            return Ok(*gone);
        }
        let gone = self.src.nhi.offboarded(owner).await?.is_some();
        self.offboarded.insert(owner.to_string(), gone);
        Ok(gone)
    }

    /// Whether the workload's policies allow writes it never made.
    fn unused_writes(&self, id: &str, permissions: &[String]) -> Option<(u32, String)> {
        let (seen, writes) = self.src.nhi.drift.usage(id)?;
        let allows_writes = permissions.iter().any(|line| {
            let caps = line.rsplit(": ").next().unwrap_or_default();
            caps.split(',')
                .any(|c| matches!(c, "create" | "update" | "delete" | "patch" | "root"))
        });
        (allows_writes && seen >= ENOUGH_REQUESTS && writes == 0).then(|| {
            (
                self.weights.unused_write,
                format!(
                    "its policies allow writes, but its {seen} requests since start were all reads"
                ),
            )
        })
    }

    /// "path: capabilities" lines for policies, and whether any is broad.
    async fn policy_permissions(
        &mut self,
        names: &[String],
    ) -> Result<(Vec<String>, Option<String>), ApiError> {
        let mut lines = Vec::new();
        let mut broad = None;
        for name in names {
            if name == "root" {
                broad = Some("holds the root policy".to_string());
                lines.push("*: root".into());
                continue;
            }
            if !self.policy_rules.contains_key(name) {
                let rules = match self.src.policies.get(name).await? {
                    Some(policy) => policy
                        .rules
                        .iter()
                        .map(|r| (r.pattern.clone(), r.capabilities))
                        .collect(),
                    None => Vec::new(),
                };
                self.policy_rules.insert(name.clone(), rules);
            }
            for (pattern, caps) in self.policy_rules.get(name).into_iter().flatten() {
                lines.push(format!("{pattern}: {}", caps.names().join(",")));
                if broad.is_none() && (pattern == "*" || caps.contains(Capabilities::SUDO)) {
                    broad = Some(format!(
                        "policy {name:?} grants {pattern:?} ({})",
                        caps.names().join(",")
                    ));
                }
            }
        }
        Ok((lines, broad))
    }
}

fn strings(config: &Map<String, Value>, field: &str) -> Vec<String> {
    match config.get(field) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn parse_time(text: &str) -> Option<i64> {
    humantime::parse_rfc3339(text)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_secs()).ok())
}

/// The identities `scan` keeps, in source order; the flag says whether
/// every identity was read (so a count of them is the total).
pub async fn collect(
    src: &Sources<'_>,
    scan: &Scan<'_>,
) -> Result<(Vec<Identity>, bool), ApiError> {
    let mut ctx = Context {
        src,
        now: src.now,
        offboarded: HashMap::new(),
        policy_rules: HashMap::new(),
        weights: src.weights,
    };
    let mut out = Vec::new();
    for mount in src.backends.mounts() {
        for (list, kind) in paths::role_collections(&mount.kind) {
            for name in src.backends.list(&mount, list).await? {
                if scan.full(&out) {
                    return Ok((out, false));
                }
                let config = src
                    .backends
                    .read(&mount, &format!("{list}{name}"))
                    .await?
                    .unwrap_or_default();
                let identity = role_identity(&mut ctx, &mount, list, kind, &name, &config).await?;
                if (scan.keep)(&identity) {
                    out.push(identity);
                }
            }
        }
    }
    // Accessors are read in growing chunks, so a first page reads few.
    let mut chunk: usize = 256;
    let mut seen: usize = 0;
    loop {
        let accessors = src
            .tokens
            .accessors_limited(seen.saturating_add(chunk))
            .await?;
        let done = accessors.len() < seen.saturating_add(chunk);
        for accessor in accessors.iter().skip(seen) {
            if scan.full(&out) {
                return Ok((out, false));
            }
            if let Some(entry) = src.tokens.lookup_accessor(accessor).await? {
                if entry.is_wrapping() {
                    continue;
                }
                let identity = token_identity(&mut ctx, &entry).await?;
                if (scan.keep)(&identity) {
                    out.push(identity);
                }
            }
        }
        if done {
            break;
        }
        seen = accessors.len();
        chunk = chunk.saturating_mul(4);
    }
    if !scan.leases {
        return Ok((out, true));
    }
    let (mut chunk, mut seen): (usize, usize) = (256, 0);
    loop {
        let ids = src.leases.ids_limited(seen.saturating_add(chunk)).await?;
        let done = ids.len() < seen.saturating_add(chunk);
        for lease_id in ids.iter().skip(seen) {
            if scan.full(&out) {
                return Ok((out, false));
            }
            // A token's own lease is the token, listed already.
            let record = src.leases.get(lease_id).await?;
            if let Some(record) = record.filter(|r| r.kind == crate::lease::LeaseKind::Secret) {
                let identity = lease_identity(&mut ctx, &record).await?;
                if (scan.keep)(&identity) {
                    out.push(identity);
                }
            }
        }
        if done {
            return Ok((out, true));
        }
        seen = ids.len();
        chunk = chunk.saturating_mul(4);
    }
}

/// A lease as an identity: owned by its role's owner (or its token's),
/// orphaned when the token that took it is gone.
async fn lease_identity(
    ctx: &mut Context<'_>,
    record: &crate::lease::LeaseRecord,
) -> Result<Identity, ApiError> {
    let mut reasons = Vec::new();
    let mut orphaned = false;
    let mut meta = super::IdentityMeta::default();
    let mut permissions = Vec::new();
    if let Some(role) = paths::role_of_lease(&record.lease_id) {
        meta = ctx.src.nhi.meta(&role).await?.unwrap_or_default();
        permissions.push(format!("a credential of {role}"));
    }
    if let Some(hash) = &record.token_hash {
        match ctx.src.tokens.lookup_hash(hash).await? {
            Some(token) if meta.owner.is_empty() => {
                meta.owner = token.meta.get("owner").cloned().unwrap_or_default();
            }
            Some(_) => {}
            None => {
                orphaned = true;
                reasons.push((
                    ctx.weights.token_gone,
                    "the token that took it is gone".to_string(),
                ));
            }
        }
    }
    meta.disabled = None;
    finish(
        ctx,
        Record {
            id: record.lease_id.clone(),
            kind: LEASE,
            name: record
                .lease_id
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string(),
            mount: record.mount.clone(),
            meta,
            created: Some(record.issued_at),
            last_used: None,
            permissions,
            active_leases: 0,
            expire: Some(record.expire_at),
            reasons,
            orphaned,
        },
    )
    .await
}

async fn role_identity(
    ctx: &mut Context<'_>,
    mount: &MountEntry,
    list: &str,
    kind: &'static str,
    name: &str,
    config: &Map<String, Value>,
) -> Result<Identity, ApiError> {
    let id = format!("{}{list}{name}", mount.path);
    let meta = ctx.src.nhi.meta(&id).await?.unwrap_or_default();
    let mut reasons: Vec<(u32, String)> = Vec::new();
    let mut permissions = Vec::new();
    let mut orphaned = false;
    match kind {
        DB_ROLE => {
            permissions = strings(config, "creation_statements")
                .into_iter()
                .filter(|s| s.to_uppercase().contains("GRANT"))
                .collect();
            if permissions.is_empty() {
                permissions.push("login only".into());
            }
            let db = config
                .get("db_name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if ctx
                .src
                .backends
                .read(mount, &format!("config/{db}"))
                .await?
                .is_none()
            {
                orphaned = true;
                reasons.push((
                    ctx.weights.backend_gone,
                    format!("its database connection {db:?} is gone"),
                ));
            }
        }
        STATIC_DB_USER => {
            let user = config
                .get("username")
                .and_then(Value::as_str)
                .unwrap_or_default();
            permissions.push(format!("the password of existing user {user:?}"));
            let period = config
                .get("rotation_period")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let last = config
                .get("last_vault_rotation")
                .and_then(Value::as_str)
                .and_then(parse_time);
            if let Some(last) = last.filter(|_| period > 0) {
                // The plugin rotates from a 30 s periodic task: allow for it.
                if ctx.now > last.saturating_add(period).saturating_add(ROTATION_SLACK) {
                    reasons.push((
                        ctx.weights.rotation_overdue,
                        format!(
                            "not rotated for {} s (period {period} s)",
                            ctx.now.saturating_sub(last)
                        ),
                    ));
                }
            }
        }
        AWS_ROLE => {
            permissions.extend(
                strings(config, "role_arns")
                    .into_iter()
                    .map(|a| format!("assume {a}")),
            );
            permissions.extend(
                strings(config, "policy_arns")
                    .into_iter()
                    .map(|a| format!("policy {a}")),
            );
            let document = config
                .get("policy_document")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !document.is_empty() {
                permissions.push(format!("inline policy: {document}"));
            }
            let compact: String = document.chars().filter(|c| !c.is_whitespace()).collect();
            if compact.contains("\"Action\":\"*\"")
                || compact.contains("\"*\"]")
                || compact.contains("[\"*\"")
            {
                reasons.push((
                    ctx.weights.aws_wildcard,
                    "its policy allows \"*\" actions".into(),
                ));
            }
        }
        APPROLE | JWT_ROLE => {
            let (lines, broad) = ctx
                .policy_permissions(&strings(config, "token_policies"))
                .await?;
            permissions = lines;
            if let Some(broad) = broad {
                reasons.push((ctx.weights.broad_policy, broad));
            }
            reasons.extend(ctx.unused_writes(&id, &permissions));
            let unbound = config.get("bind_secret_id").and_then(Value::as_bool) == Some(true)
                && strings(config, "secret_id_bound_cidrs").is_empty()
                && strings(config, "token_bound_cidrs").is_empty();
            if kind == APPROLE && unbound {
                reasons.push((
                    ctx.weights.unbound_secret_ids,
                    "its secret IDs work from any network (no CIDR bounds)".into(),
                ));
            }
        }
        _ => {}
    }
    let mut active_leases = 0;
    for prefix in paths::lease_prefixes(&id, kind) {
        let count = ctx
            .src
            .leases
            .count_with_prefix(&prefix, COUNT_LEASES_UP_TO)
            .await?;
        active_leases = count.saturating_add(active_leases);
    }
    let last_used = ctx.src.nhi.last_used(&id).await?;
    let created = (meta.created > 0).then_some(meta.created);
    finish(
        ctx,
        Record {
            id,
            kind,
            name: name.to_string(),
            mount: mount.path.clone(),
            meta,
            created,
            last_used,
            permissions,
            active_leases,
            expire: None,
            reasons,
            orphaned,
        },
    )
    .await
}

async fn token_identity(
    ctx: &mut Context<'_>,
    entry: &crate::auth::token::store::TokenEntry,
) -> Result<Identity, ApiError> {
    let id = format!("auth/token/accessors/{}", entry.accessor);
    let field = |key: &str| entry.meta.get(key).cloned().unwrap_or_default();
    let meta = super::IdentityMeta {
        owner: field("owner"),
        purpose: field("purpose"),
        environment: field("environment"),
        created: entry.creation_time,
        ..super::IdentityMeta::default()
    };
    let mut reasons = Vec::new();
    let (permissions, broad) = ctx.policy_permissions(&entry.policies).await?;
    if let Some(broad) = broad {
        reasons.push((ctx.weights.broad_policy, broad));
    }
    reasons.extend(ctx.unused_writes(&id, &permissions));
    match entry.expire_time {
        None => reasons.push((ctx.weights.never_expires, "never expires".to_string())),
        Some(expire) if expire.saturating_sub(ctx.now) > STALE_AFTER => {
            reasons.push((
                ctx.weights.long_ttl,
                format!("{} days left", expire.saturating_sub(ctx.now) / DAY),
            ));
        }
        Some(_) => {}
    }
    let active_leases = ctx.src.leases.of_token(&entry.id_hash).await?.len();
    let last_used = ctx.src.nhi.last_used(&id).await?;
    finish(
        ctx,
        Record {
            id,
            kind: TOKEN,
            name: entry.display_name.clone(),
            mount: "auth/token/".into(),
            meta,
            created: Some(entry.creation_time),
            last_used,
            permissions,
            active_leases,
            expire: entry.expire_time,
            reasons,
            orphaned: false,
        },
    )
    .await
}

/// What the two kinds of identity share before scoring.
struct Record {
    id: String,
    kind: &'static str,
    name: String,
    mount: String,
    meta: super::IdentityMeta,
    created: Option<i64>,
    last_used: Option<i64>,
    permissions: Vec<String>,
    active_leases: usize,
    expire: Option<i64>,
    reasons: Vec<(u32, String)>,
    orphaned: bool,
}

async fn finish(ctx: &mut Context<'_>, mut r: Record) -> Result<Identity, ApiError> {
    if r.meta.owner.is_empty() {
        r.reasons.push((ctx.weights.no_owner, "no owner".into()));
    } else if ctx.owner_gone(&r.meta.owner).await? {
        r.reasons.push((
            ctx.weights.owner_offboarded,
            format!("owner {:?} was offboarded", r.meta.owner),
        ));
        r.orphaned = true;
    }
    match r.last_used.or(r.created) {
        Some(since) if ctx.now.saturating_sub(since) >= STALE_AFTER => {
            let what = if r.last_used.is_some() {
                "unused"
            } else {
                "never used"
            };
            r.reasons.push((
                ctx.weights.unused,
                format!("{what} for {} days", ctx.now.saturating_sub(since) / DAY),
            ));
        }
        _ => {}
    }
    if r.active_leases > MANY_LEASES {
        r.reasons.push((
            ctx.weights.many_leases,
            format!("{} active leases", r.active_leases),
        ));
    }
    let score = r
        .reasons
        .iter()
        .map(|(points, _)| points)
        .sum::<u32>()
        .min(100);
    Ok(Identity {
        id: r.id,
        identity_type: r.kind,
        name: r.name,
        mount: r.mount,
        owner: r.meta.owner,
        purpose: r.meta.purpose,
        environment: r.meta.environment,
        labels: r.meta.labels,
        creation_date: r.created.map(rfc3339),
        last_accessed: r.last_used.map(rfc3339),
        permissions: r.permissions,
        active_leases: r.active_leases,
        expiration: r.expire.map(rfc3339),
        risk_score: score,
        risk_reasons: r
            .reasons
            .into_iter()
            .map(|(points, why)| format!("+{points}: {why}"))
            .collect(),
        disabled: r.meta.disabled,
        orphaned: r.orphaned,
        last_used_unix: r.last_used,
        expire_unix: r.expire,
    })
}
