//! Turns an auth method's [`Login`] into a token: the method decided who
//! the caller is; the core applies the mount's TTL limits, adds the default
//! policy, and records the method's metadata on the token so every lease it
//! takes is traceable to the workload.

use super::mounts::Mounted;
use super::{Active, Core};
use crate::auth::token::store::NewToken;
use crate::auth::token_params::{normalize_policies, refuse_root};
use crate::auth::Login;
use crate::error::ApiError;
use crate::logical::Response;

impl Core {
    pub(crate) async fn issue_login(
        &self,
        active: &Active,
        mounted: &Mounted,
        login: Login,
        path: &str,
    ) -> Result<Response, ApiError> {
        if let Some(role) = crate::nhi::paths::login_role(&mounted.entry, &login.metadata) {
            if let Some(why) = active.nhi.disabled(&role).await? {
                return Err(ApiError::Forbidden(format!("{role} is disabled: {why}")));
            }
            active.nhi.touch(&role, self.clock.now_unix());
        }
        let (default_ttl, mount_max) =
            crate::lease::mount_ttls(&mounted.entry.config, self.limits());
        let max_ttl = match login.max_ttl {
            0 => mount_max,
            role_max => role_max.min(mount_max),
        };
        let ttl = match login.ttl {
            0 => default_ttl,
            role_ttl => role_ttl,
        }
        .min(max_ttl);
        // A periodic token is renewed by its period forever, so the period
        // is what the mount's max bounds; the role's explicit max TTL stays.
        let period = login.period.min(mount_max);
        let explicit_max_ttl = match (period, login.explicit_max_ttl) {
            (0, _) => max_ttl,
            (_, 0) => 0,
            (_, explicit) => explicit.min(mount_max),
        };
        // Roles stored before root was refused at write time are caught here.
        let mut policies = normalize_policies(&login.policies);
        refuse_root(&policies)?;
        if !login.no_default_policy && !policies.iter().any(|p| p == "default") {
            policies.push("default".into());
            policies.sort();
        }
        let mount_name = mounted
            .entry
            .path
            .trim_start_matches("auth/")
            .trim_end_matches('/')
            .replace('/', "-");
        let display_name = match login.display_name.as_str() {
            "" => mount_name,
            user => format!("{mount_name}-{user}"),
        };
        let spec = NewToken {
            parent_hash: None,
            policies,
            meta: login.metadata,
            display_name,
            num_uses: login.num_uses,
            ttl,
            explicit_max_ttl,
            period,
            renewable: true,
            path: path.to_string(),
            role: None,
            id: None,
            bound_cidrs: login.bound_cidrs,
        };
        let (token, entry) = active
            .tokens
            .create_for_mount(spec, &mounted.entry.accessor)
            .await?;
        active.leases.track_token(&entry).await?;
        tracing::info!(accessor = %entry.accessor, path, "login token issued");
        Ok(Response {
            // The TTL as issued, not less a second that ticked since.
            auth: Some(crate::auth::token::auth_block(
                &token,
                &entry,
                entry.creation_time,
            )),
            ..Response::default()
        })
    }
}
