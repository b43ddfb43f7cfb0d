//! Session names STS accepts (`[\w+=,.@-]`, at most 64 characters; 32 for
//! federated users), traceable to the caller and the lease in CloudTrail.

pub(crate) const MAX_SESSION_NAME: usize = 64;
const MAX_FEDERATION_NAME: usize = 32;

/// Characters STS accepts in session names: `[\w+=,.@-]`.
pub(crate) fn session_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn cut(text: String, max: usize) -> String {
    text.chars().take(max).collect()
}

/// Whether a caller's `role_session_name` is one STS accepts.
pub(crate) fn valid_session_name(name: &str) -> bool {
    (2..=MAX_SESSION_NAME).contains(&name.len()) && session_safe(name) == name
}

/// The default session name: the caller's display name and the lease's own
/// id, so CloudTrail leads back to the identity and the lease.
pub(crate) fn default_session_name(display_name: &str, lease_id: &str) -> String {
    let lease = lease_id.rsplit('/').next().unwrap_or(lease_id);
    let display = cut(session_safe(display_name), 32);
    cut(format!("qm-{display}-{lease}"), MAX_SESSION_NAME)
}

/// The federated user's name: the caller's display name.
pub(crate) fn federation_name(display_name: &str) -> String {
    cut(
        session_safe(&format!("qm-{display_name}")),
        MAX_FEDERATION_NAME,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_are_traceable_and_fit_sts() {
        let name =
            default_session_name("token-jenkins deploy/prod", "aws/creds/deploy/AbCdEf123456");
        assert_eq!(name, "qm-token-jenkins-deploy-prod-AbCdEf123456");
        let long =
            default_session_name(&"x".repeat(100), &format!("aws/creds/r/{}", "y".repeat(40)));
        assert_eq!(long.chars().count(), 64);
        assert_eq!(session_safe("a b/c"), "a-b-c");
    }
}
