//! Which request paths name an identity, and which use one: a role write
//! or read (`database/roles/app`), and the paths that mint credentials
//! through a role (`database/creds/app` uses `database/roles/app`).

use crate::logical::MountEntry;

/// The kinds of identity the inventory knows.
pub const DB_ROLE: &str = "db_role";
pub const STATIC_DB_USER: &str = "static_db_user";
pub const AWS_ROLE: &str = "aws_role";
pub const APPROLE: &str = "approle";
pub const JWT_ROLE: &str = "jwt_role";
pub const TOKEN: &str = "token";
/// Discovered identities (found outside the broker).
pub const POSTGRES_ROLE: &str = "postgres_role";
pub const FILE_SECRET: &str = "file_secret";
pub const IAM_USER: &str = "iam_user";
pub const IAM_ACCESS_KEY: &str = "iam_access_key";
pub const IAM_ROLE: &str = "iam_role";
/// Leases are listed only when asked for (`kind=lease`): there are many.
pub const LEASE: &str = "lease";

/// The role collections of each backend type: (list path, identity type).
pub fn role_collections(kind: &str) -> &'static [(&'static str, &'static str)] {
    match kind {
        "database" => &[("roles/", DB_ROLE), ("static-roles/", STATIC_DB_USER)],
        "aws" => &[("roles/", AWS_ROLE)],
        "approle" => &[("role/", APPROLE)],
        "jwt" | "oidc" => &[("role/", JWT_ROLE)],
        _ => &[],
    }
}

/// The identity a path names (`database/roles/app`), with its type.
pub fn identity_at(mount: &MountEntry, relative: &str) -> Option<(String, &'static str)> {
    let relative = relative.trim_end_matches('/');
    let (collection, name) = relative.rsplit_once('/')?;
    if name.is_empty() || collection.contains('/') {
        return None;
    }
    role_collections(&mount.kind)
        .iter()
        .find(|(list, _)| list.trim_end_matches('/') == collection)
        .map(|(_, kind)| (format!("{}{relative}", mount.path), *kind))
}

/// The role identity a credential-minting path uses.
pub fn role_used(mount: &MountEntry, relative: &str) -> Option<String> {
    let (verb, name) = relative.trim_end_matches('/').split_once('/')?;
    let collection = match (mount.kind.as_str(), verb) {
        ("database", "creds") => "roles",
        ("database", "static-creds") => "static-roles",
        ("aws", "creds" | "sts") => "roles",
        _ => return None,
    };
    (!name.is_empty() && !name.contains('/')).then(|| format!("{}{collection}/{name}", mount.path))
}

/// The role identity a lease was minted through (`database/creds/app/ID`
/// came from `database/roles/app`), if it came from a role.
pub fn role_of_lease(lease_id: &str) -> Option<String> {
    let (minted, _) = lease_id.rsplit_once('/')?;
    let (mount_and_verb, name) = minted.rsplit_once('/')?;
    let (mount, verb) = mount_and_verb.rsplit_once('/')?;
    let collection = match verb {
        "creds" | "sts" => "roles",
        _ => return None,
    };
    Some(format!("{mount}/{collection}/{name}"))
}

/// The lease prefixes of credentials minted through a role identity.
pub fn lease_prefixes(identity: &str, kind: &str) -> Vec<String> {
    let Some((mount, name)) = identity.rsplit_once("/roles/") else {
        return Vec::new();
    };
    match kind {
        DB_ROLE => vec![format!("{mount}/creds/{name}/")],
        AWS_ROLE => vec![
            format!("{mount}/creds/{name}/"),
            format!("{mount}/sts/{name}/"),
        ],
        _ => Vec::new(),
    }
}

/// The auth role a login's token metadata names.
pub fn login_role(
    mount: &MountEntry,
    metadata: &std::collections::BTreeMap<String, String>,
) -> Option<String> {
    let key = match mount.kind.as_str() {
        "approle" => "role_name",
        "jwt" | "oidc" => "role",
        _ => return None,
    };
    metadata
        .get(key)
        .map(|role| format!("{}role/{role}", mount.path))
}
