//! The AWS engine's `?help=1` text (`bao path-help aws/...`).

use qm_plugin_sdk::help::Op::{Delete, List, Read, Write};
use qm_plugin_sdk::help::{Help, Route};

pub(crate) const HELP: Help = Help {
    synopsis: "The AWS secrets engine issues temporary AWS sessions through STS \
(assumed roles, federation tokens, session tokens), each with a lease.",
    routes: &[
        Route { pattern: "config/root", ops: &[Read, Write], synopsis: "Configure the root credentials: access_key, secret_key (never readable), region, sts_endpoint, iam_endpoint, max_retries." },
        Route { pattern: "config/rotate-root", ops: &[Write], synopsis: "Replace the root access key through IAM; the old one is deleted." },
        Route { pattern: "config/lease", ops: &[Read, Write], synopsis: "The default lease and lease_max of issued sessions." },
        Route { pattern: "roles", ops: &[List], synopsis: "List the roles." },
        Route { pattern: "roles/NAME", ops: &[Read, Write, Delete], synopsis: "Manage a role: credential_type, role_arns, policy_document, policy_arns, default_sts_ttl, max_sts_ttl, session_tags, external_id." },
        Route { pattern: "roles/NAME/revoke-sessions", ops: &[Write], synopsis: "End every session of the role issued so far and revoke its leases." },
        Route { pattern: "creds/NAME", ops: &[Read, Write], synopsis: "Issue a session from the role NAME (ttl, role_arn, role_session_name)." },
        Route { pattern: "sts/NAME", ops: &[Read, Write], synopsis: "Issue a session from the role NAME (ttl, role_arn, role_session_name)." },
        Route { pattern: "discover", ops: &[Read, Write], synopsis: "The account's IAM users, access keys (age, last use) and risky roles, for discovery (read); retire an access key: access_key_id, action=deactivate|activate|delete, dry run unless dry_run=false." },
    ],
};
