//! A listing: the sources walked in order (mounts in table order with each
//! one's roles by name, then tokens by accessor, then discovered
//! identities, then leases if asked for),
//! stopping as soon as the page is full. Filtered by owner, it reads only
//! that owner's roles and tokens, through the owner indexes (roles by
//! identity, then tokens by accessor).

use super::context::Context;
use super::discovered::discovered_identity;
use super::leases::lease_identity;
use super::roles::role_identity;
use super::tokens::token_identity;
use super::{Identity, Scan, Sources};
use crate::error::ApiError;
use crate::lease::LeaseKind;
use crate::logical::MountEntry;
use crate::nhi::paths;

/// Accessors and lease ids are read in chunks growing from this size, so a
/// first page reads few.
const FIRST_CHUNK: usize = 256;

/// The identities `scan` keeps, in source order; the flag says whether
/// every identity was read (so a count of them is the total).
pub async fn collect(
    src: &Sources<'_>,
    scan: &Scan<'_>,
) -> Result<(Vec<Identity>, bool), ApiError> {
    let mut ctx = Context::new(src);
    let mut out = Vec::new();
    let complete = match scan.owner {
        Some(owner) if !scan.leases => {
            collect_owned_roles(&mut ctx, scan, owner, &mut out).await?
                && collect_owned_tokens(&mut ctx, scan, owner, &mut out).await?
        }
        _ => {
            collect_roles(&mut ctx, scan, &mut out).await?
                && collect_tokens(&mut ctx, scan, &mut out).await?
                && collect_discovered(&mut ctx, scan, &mut out).await?
                && (!scan.leases || collect_leases(&mut ctx, scan, &mut out).await?)
        }
    };
    Ok((out, complete))
}

/// Every role and token identity's risk score (no lease), read without
/// keeping the identities.
pub async fn scores(src: &Sources<'_>) -> Result<Vec<(String, u32)>, ApiError> {
    let scores = std::sync::Mutex::new(Vec::new());
    let keep = |identity: &Identity| {
        if let Ok(mut scores) = scores.lock() {
            scores.push((identity.id.clone(), identity.risk_score));
        }
        false
    };
    let scan = Scan {
        keep: &keep,
        want: None,
        leases: false,
        owner: None,
    };
    collect(src, &scan).await?;
    Ok(scores.into_inner().unwrap_or_default())
}

/// One role, token or discovered identity by its id; None when it is
/// gone (or names none).
pub async fn one(src: &Sources<'_>, id: &str) -> Result<Option<Identity>, ApiError> {
    let mut ctx = Context::new(src);
    if id.starts_with(crate::discover::ID_PREFIX) {
        return match src.discovered.get(id).await? {
            Some(record) => discovered_identity(&mut ctx, id, &record).await,
            None => Ok(None),
        };
    }
    if let Some(accessor) = id.strip_prefix("auth/token/accessors/") {
        return match src.tokens.lookup_accessor(accessor).await? {
            Some(entry) if !entry.is_wrapping() => {
                Ok(Some(token_identity(&mut ctx, &entry).await?))
            }
            _ => Ok(None),
        };
    }
    let mounts = src.backends.mounts();
    let Some((mount, list, kind, name)) = role_at(&mounts, id) else {
        return Ok(None);
    };
    match src.backends.read(mount, &format!("{list}{name}")).await? {
        Some(config) => Ok(Some(
            role_identity(&mut ctx, mount, list, kind, name, &config).await?,
        )),
        None => Ok(None),
    }
}

/// Adds the roles the owner index names for `owner`; false when the page
/// filled first.
async fn collect_owned_roles(
    ctx: &mut Context<'_>,
    scan: &Scan<'_>,
    owner: &str,
    out: &mut Vec<Identity>,
) -> Result<bool, ApiError> {
    let backends = ctx.src.backends;
    let mounts = backends.mounts();
    for id in ctx.src.nhi.owned_roles(owner).await? {
        if scan.full(out) {
            return Ok(false);
        }
        if id.starts_with(crate::discover::ID_PREFIX) {
            if let Some(record) = ctx.src.discovered.get(&id).await? {
                if let Some(identity) = discovered_identity(ctx, &id, &record).await? {
                    if (scan.keep)(&identity) {
                        out.push(identity);
                    }
                }
            }
            continue;
        }
        let Some((mount, list, kind, name)) = role_at(&mounts, &id) else {
            continue;
        };
        // A role deleted behind the broker's back is not listed.
        let Some(config) = backends.read(mount, &format!("{list}{name}")).await? else {
            continue;
        };
        let identity = role_identity(ctx, mount, list, kind, name, &config).await?;
        if (scan.keep)(&identity) {
            out.push(identity);
        }
    }
    Ok(true)
}

/// The mount, collection, kind and name of a role identity's id.
fn role_at<'m>(
    mounts: &'m [MountEntry],
    id: &'m str,
) -> Option<(&'m MountEntry, &'static str, &'static str, &'m str)> {
    let mount = mounts.iter().find(|m| id.starts_with(&m.path))?;
    let rest = id.strip_prefix(&mount.path)?;
    paths::role_collections(&mount.kind)
        .iter()
        .find_map(|(list, kind)| {
            let name = rest.strip_prefix(list)?;
            (!name.is_empty() && !name.contains('/')).then_some((mount, *list, *kind, name))
        })
}

/// Adds the tokens the owner index names for `owner`; false when the page
/// filled first.
async fn collect_owned_tokens(
    ctx: &mut Context<'_>,
    scan: &Scan<'_>,
    owner: &str,
    out: &mut Vec<Identity>,
) -> Result<bool, ApiError> {
    let tokens = ctx.src.tokens;
    for accessor in tokens.accessors_of_owner(owner).await? {
        if scan.full(out) {
            return Ok(false);
        }
        if let Some(entry) = tokens.lookup_accessor(&accessor).await? {
            if entry.is_wrapping() {
                continue;
            }
            let identity = token_identity(ctx, &entry).await?;
            if (scan.keep)(&identity) {
                out.push(identity);
            }
        }
    }
    Ok(true)
}

/// Adds the roles of every mount; false when the page filled first.
async fn collect_roles(
    ctx: &mut Context<'_>,
    scan: &Scan<'_>,
    out: &mut Vec<Identity>,
) -> Result<bool, ApiError> {
    let backends = ctx.src.backends;
    for mount in backends.mounts() {
        for (list, kind) in paths::role_collections(&mount.kind) {
            for name in backends.list(&mount, list).await? {
                if scan.full(out) {
                    return Ok(false);
                }
                let config = backends
                    .read(&mount, &format!("{list}{name}"))
                    .await?
                    .unwrap_or_default();
                let identity = role_identity(ctx, &mount, list, kind, &name, &config).await?;
                if (scan.keep)(&identity) {
                    out.push(identity);
                }
            }
        }
    }
    Ok(true)
}

/// Adds the tokens (not response-wrapping ones) by accessor; false when
/// the page filled first.
async fn collect_tokens(
    ctx: &mut Context<'_>,
    scan: &Scan<'_>,
    out: &mut Vec<Identity>,
) -> Result<bool, ApiError> {
    let tokens = ctx.src.tokens;
    let (mut chunk, mut seen) = (FIRST_CHUNK, 0_usize);
    loop {
        let accessors = tokens.accessors_limited(seen.saturating_add(chunk)).await?;
        let done = accessors.len() < seen.saturating_add(chunk);
        for accessor in accessors.iter().skip(seen) {
            if scan.full(out) {
                return Ok(false);
            }
            if let Some(entry) = tokens.lookup_accessor(accessor).await? {
                if entry.is_wrapping() {
                    continue;
                }
                let identity = token_identity(ctx, &entry).await?;
                if (scan.keep)(&identity) {
                    out.push(identity);
                }
            }
        }
        if done {
            return Ok(true);
        }
        seen = accessors.len();
        chunk = chunk.saturating_mul(4);
    }
}

/// Adds the discovered identities (by source and name); false when the
/// page filled first.
async fn collect_discovered(
    ctx: &mut Context<'_>,
    scan: &Scan<'_>,
    out: &mut Vec<Identity>,
) -> Result<bool, ApiError> {
    let store = ctx.src.discovered;
    for id in store.ids().await? {
        if scan.full(out) {
            return Ok(false);
        }
        let Some(record) = store.get(&id).await? else {
            continue;
        };
        if let Some(identity) = discovered_identity(ctx, &id, &record).await? {
            if (scan.keep)(&identity) {
                out.push(identity);
            }
        }
    }
    Ok(true)
}

/// Adds the leases of secrets; false when the page filled first.
async fn collect_leases(
    ctx: &mut Context<'_>,
    scan: &Scan<'_>,
    out: &mut Vec<Identity>,
) -> Result<bool, ApiError> {
    let leases = ctx.src.leases;
    let (mut chunk, mut seen) = (FIRST_CHUNK, 0_usize);
    loop {
        let ids = leases.ids_limited(seen.saturating_add(chunk)).await?;
        let done = ids.len() < seen.saturating_add(chunk);
        for lease_id in ids.iter().skip(seen) {
            if scan.full(out) {
                return Ok(false);
            }
            // A token's own lease is the token, listed already.
            let record = leases.get(lease_id).await?;
            if let Some(record) = record.filter(|r| r.kind == LeaseKind::Secret) {
                let identity = lease_identity(ctx, &record).await?;
                if (scan.keep)(&identity) {
                    out.push(identity);
                }
            }
        }
        if done {
            return Ok(true);
        }
        seen = ids.len();
        chunk = chunk.saturating_mul(4);
    }
}
