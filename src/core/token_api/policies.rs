//! Which policies a new token gets, by Vault's rules for token creation
//! (`handleCreateCommon`), stricter where Vault's are unsafe: a role without
//! allowed policies never lets a non-root caller step outside its own
//! policies (Vault allows that when the role only lists disallowed ones), and
//! only a root caller ever makes a root token.

use super::roles::TokenRole;
use crate::auth::token::store::WRAPPING_POLICY;
use crate::error::ApiError;

/// Policies no token may be given by name.
const NON_ASSIGNABLE: &[&str] = &[WRAPPING_POLICY, "control-group"];

/// What the caller asked for, and who the caller is.
pub(super) struct PolicyRequest<'a> {
    /// The `policies` parameter as sent.
    pub(super) requested: &'a [String],
    pub(super) no_default_policy: bool,
    /// The caller's (the parent's) policies.
    pub(super) parent: &'a [String],
    pub(super) parent_is_root: bool,
    /// Root, or sudo on the request path.
    pub(super) sudo: bool,
    pub(super) role: Option<&'a TokenRole>,
}

/// Vault's `SanitizePolicies`: trimmed, lower-case, sorted, unique, with
/// `default` added when asked; a list holding `root` is just `root`.
pub(super) fn sanitize(policies: &[String], add_default: bool) -> Vec<String> {
    let mut out: Vec<String> = policies
        .iter()
        .map(|p| p.trim().to_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    if out.iter().any(|p| p == "root") {
        return vec!["root".into()];
    }
    if add_default {
        out.push("default".into());
    }
    out.sort();
    out.dedup();
    out
}

/// Whether `value` matches `pattern`, where `*` stands for any run of
/// characters (Vault's `StrListContainsGlob`).
pub(super) fn glob_matches(pattern: &str, value: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    let Some((last, middle)) = rest.split_last() else {
        return pattern == value;
    };
    let Some(mut remaining) = value.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match remaining.split_once(part) {
            Some((_, after)) => remaining = after,
            None => return false,
        }
    }
    remaining.ends_with(last)
}

fn in_list_or_glob(policy: &str, list: &[String], globs: &[String]) -> bool {
    list.iter().any(|p| p == policy) || globs.iter().any(|g| glob_matches(g, policy))
}

/// Every policy of `child` is one of `parent`'s.
fn is_subset(parent: &[String], child: &[String]) -> bool {
    child.iter().all(|p| parent.contains(p))
}

fn not_subset() -> ApiError {
    ApiError::bad("child policies must be subset of parent")
}

/// The new token's policies, or why the request is refused.
pub(super) fn decide(req: &PolicyRequest<'_>) -> Result<Vec<String>, ApiError> {
    let requested = sanitize(req.requested, false);
    let parent = sanitize(req.parent, false);
    let (policies, add_default) = match req.role {
        Some(role) if role.restricts_policies() => {
            (chosen_by_role(req, role, &requested, &parent)?, false)
        }
        // No policies asked for: the parent's, `default` only if it has it.
        _ if requested.is_empty() => (parent, false),
        role => requested_within_caller(req, role.is_some(), requested, &parent)?,
    };
    let mut policies = sanitize(&policies, add_default);
    if req.no_default_policy {
        policies.retain(|p| p != "default");
    }
    check_assignable(&policies, req.parent_is_root)?;
    Ok(policies)
}

/// Under a role that lists policies: the requested ones (else the role's
/// allowed ones, else the caller's), within the allowed ones when the role
/// lists any (else within the caller's unless root), never a disallowed one.
fn chosen_by_role(
    req: &PolicyRequest<'_>,
    role: &TokenRole,
    requested: &[String],
    parent: &[String],
) -> Result<Vec<String>, ApiError> {
    // Roles that list policies decide `default` themselves.
    let add_default = !req.no_default_policy
        && !in_list_or_glob(
            "default",
            &role.disallowed_policies,
            &role.disallowed_policies_glob,
        );
    let requested = if requested.is_empty() {
        Vec::new()
    } else {
        sanitize(requested, add_default)
    };
    let chosen = if !role.allowed_policies.is_empty() || !role.allowed_policies_glob.is_empty() {
        within_allowed(role, requested, add_default)?
    } else if requested.is_empty() {
        sanitize(parent, add_default)
    } else if !req.parent_is_root && !is_subset(&sanitize(parent, add_default), &requested) {
        // Vault lets this through; the caller's policies bound it here.
        return Err(not_subset());
    } else {
        requested
    };
    if let Some(banned) = chosen
        .iter()
        .find(|p| in_list_or_glob(p, &role.disallowed_policies, &role.disallowed_policies_glob))
    {
        return Err(ApiError::bad(format!(
            "token policy {banned:?} is disallowed by this role"
        )));
    }
    Ok(chosen)
}

/// The requested policies if the role allows each (plainly or by glob), or
/// the role's allowed ones when none were requested.
fn within_allowed(
    role: &TokenRole,
    requested: Vec<String>,
    add_default: bool,
) -> Result<Vec<String>, ApiError> {
    let allowed = sanitize(&role.allowed_policies, add_default);
    if requested.is_empty() {
        return Ok(allowed);
    }
    if let Some(outside) = requested
        .iter()
        .find(|p| !in_list_or_glob(p, &allowed, &role.allowed_policies_glob))
    {
        return Err(ApiError::bad(format!(
            "token policies must be subset of the role's allowed policies or glob policies: {outside:?} is not"
        )));
    }
    Ok(requested)
}

/// Requested policies without a listing role: a role that lists no
/// policies bounds them by the caller's unless root; without a role, root
/// or sudo may choose freely. With whether to add `default`.
fn requested_within_caller(
    req: &PolicyRequest<'_>,
    has_role: bool,
    requested: Vec<String>,
    parent: &[String],
) -> Result<(Vec<String>, bool), ApiError> {
    let free = if has_role {
        req.parent_is_root
    } else {
        req.sudo
    };
    if free {
        return Ok((requested, !req.no_default_policy));
    }
    if !is_subset(parent, &requested) {
        return Err(not_subset());
    }
    let add_default = !req.no_default_policy && parent.iter().any(|p| p == "default");
    Ok((requested, add_default))
}

/// Refuses internal policies, and `root` for a caller that is not root.
fn check_assignable(policies: &[String], parent_is_root: bool) -> Result<(), ApiError> {
    if let Some(internal) = policies
        .iter()
        .find(|p| NON_ASSIGNABLE.contains(&p.as_str()))
    {
        return Err(ApiError::bad(format!("cannot assign policy {internal:?}")));
    }
    if policies.iter().any(|p| p == "root") && !parent_is_root {
        return Err(ApiError::bad(
            "root tokens may not be created without parent token being root",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn request<'a>(
        requested: &'a [String],
        parent: &'a [String],
        role: Option<&'a TokenRole>,
    ) -> PolicyRequest<'a> {
        PolicyRequest {
            requested,
            no_default_policy: false,
            parent,
            parent_is_root: false,
            sudo: false,
            role,
        }
    }

    #[test]
    fn globs() {
        assert!(glob_matches("secret-*", "secret-reader"));
        assert!(glob_matches("*-admin", "kv-admin"));
        assert!(glob_matches("*", "anything"));
        assert!(glob_matches("a*b*c", "aXbYc"));
        assert!(!glob_matches("a*a", "a"));
        assert!(!glob_matches("secret-*", "other"));
        assert!(glob_matches("exact", "exact"));
        assert!(!glob_matches("exact", "exactly"));
    }

    #[test]
    fn without_a_role_only_a_subset_unless_sudo() {
        let parent = strings(&["default", "minter"]);
        let wanted = strings(&["Minter "]);
        assert_eq!(
            decide(&request(&wanted, &parent, None)).ok(),
            Some(strings(&["default", "minter"]))
        );
        let wanted = strings(&["admin"]);
        assert!(decide(&request(&wanted, &parent, None)).is_err());
        let mut sudo = request(&wanted, &parent, None);
        sudo.sudo = true;
        assert_eq!(decide(&sudo).ok(), Some(strings(&["admin", "default"])));
        let wanted = strings(&[" ROOT"]);
        let mut sudo = request(&wanted, &parent, None);
        sudo.sudo = true;
        assert!(decide(&sudo).is_err(), "only root makes root");
    }

    #[test]
    fn a_role_without_allowed_policies_bounds_by_the_caller() {
        let parent = strings(&["default", "minter"]);
        let open = TokenRole::new("open");
        let wanted = strings(&["admin"]);
        assert!(decide(&request(&wanted, &parent, Some(&open))).is_err());
        let mut deny_only = TokenRole::new("deny");
        deny_only.disallowed_policies = strings(&["other"]);
        assert!(decide(&request(&wanted, &parent, Some(&deny_only))).is_err());
        assert_eq!(
            decide(&request(&[], &parent, Some(&open))).ok(),
            Some(parent.clone())
        );
    }

    #[test]
    fn allowed_and_disallowed_hold() {
        let parent = strings(&["default"]);
        let mut role = TokenRole::new("r");
        role.allowed_policies = strings(&["app", "admin"]);
        role.disallowed_policies = strings(&["admin"]);
        assert!(decide(&request(&[], &parent, Some(&role))).is_err());
        let wanted = strings(&["app"]);
        assert_eq!(
            decide(&request(&wanted, &parent, Some(&role))).ok(),
            Some(strings(&["app", "default"]))
        );
        let wanted = strings(&["other"]);
        assert!(decide(&request(&wanted, &parent, Some(&role))).is_err());
        let mut root_role = TokenRole::new("root");
        root_role.allowed_policies = strings(&["root"]);
        assert!(decide(&request(&[], &parent, Some(&root_role))).is_err());
    }
}
