//! `?help=1` on any path (what `bao path-help PATH` asks): the help text of
//! the backend that serves the path, from its static route table. The
//! pipeline answers it after authentication and an ACL check, never by
//! running the path's handler.

use super::mounts::{Backend, Mounted};
use crate::error::ApiError;
use crate::logical::Response;
use qm_plugin_sdk::help::{Help, Route};
use serde_json::json;

/// The help answer for `path`, served by `mounted` at `relative`.
pub(super) fn answer(mounted: &Mounted, relative: &str, path: &str) -> Result<Response, ApiError> {
    let help = match &mounted.backend {
        Backend::System => &SYSTEM,
        Backend::Token => &TOKEN,
        Backend::Cubbyhole => &CUBBYHOLE,
        Backend::Engine(engine) => engine.help(),
        Backend::Plugin(plugin) => plugin.help(),
        Backend::Auth(method) => method.help(),
    };
    let text = help.text(relative).ok_or_else(|| {
        ApiError::NoHandler(format!(
            "no help for \"{path}\": no route of the mount matches"
        ))
    })?;
    Ok(Response::raw(json!({ "help": text, "see_also": null })))
}

const SYSTEM: Help = Help {
    synopsis: "The system backend: seal and keys, mounts, policies, leases, audit, wrapping, \
the identity inventory (sys/nhi) and the cluster.",
    routes: &[
        Route { pattern: "init", synopsis: "Initialize the store: secret_shares, secret_threshold (no token needed)." },
        Route { pattern: "seal-status", synopsis: "Whether the store is sealed, and the unseal progress (no token needed)." },
        Route { pattern: "unseal", synopsis: "Give one unseal key share (no token needed)." },
        Route { pattern: "seal", synopsis: "Seal the store (sudo)." },
        Route { pattern: "health", synopsis: "Health: 200 active, 429 standby, 503 sealed (no token needed)." },
        Route { pattern: "leader", synopsis: "Which node is active (no token needed)." },
        Route { pattern: "ha-status", synopsis: "The nodes of the cluster." },
        Route { pattern: "step-down", synopsis: "Hand the active role to a standby (sudo)." },
        Route { pattern: "rotate", synopsis: "Add a new key term to the keyring (sudo)." },
        Route { pattern: "rotate/keyring", synopsis: "Add a new key term to the keyring (sudo)." },
        Route { pattern: "key-status", synopsis: "The current key term." },
        Route { pattern: "rekey/PATH", synopsis: "New unseal keys from a threshold of the current ones: init, update, verify." },
        Route { pattern: "rekey-recovery-key/PATH", synopsis: "New recovery keys from a threshold of the current ones." },
        Route { pattern: "generate-root/PATH", synopsis: "A new root token from a threshold of key shares: attempt, update." },
        Route { pattern: "generate-root-token/PATH", synopsis: "The same, for a holder of sudo." },
        Route { pattern: "storage/snapshot", synopsis: "GET saves a snapshot of the store, POST restores one (sudo)." },
        Route { pattern: "storage/raft/PATH", synopsis: "Vault's snapshot paths: snapshot, snapshot-force (sudo)." },
        Route { pattern: "mounts", synopsis: "List the secrets engines." },
        Route { pattern: "mounts/PATH", synopsis: "Enable (type, description, config, options), read, disable or (PATH/tune) tune a secrets engine." },
        Route { pattern: "auth", synopsis: "List the auth methods." },
        Route { pattern: "auth/PATH", synopsis: "Enable, read, disable or (PATH/tune) tune an auth method (sudo)." },
        Route { pattern: "remount", synopsis: "Move a mount: from, to (sudo)." },
        Route { pattern: "remount/status/NAME", synopsis: "The status of a move." },
        Route { pattern: "internal/ui/mounts", synopsis: "The mounts the token can use part of." },
        Route { pattern: "internal/ui/mounts/PATH", synopsis: "The mount that serves PATH, if the token can use part of it." },
        Route { pattern: "policies/acl", synopsis: "List the ACL policies." },
        Route { pattern: "policies/acl/NAME", synopsis: "Write (policy: HCL or JSON), read or delete an ACL policy." },
        Route { pattern: "policy", synopsis: "List the ACL policies (the legacy path)." },
        Route { pattern: "policy/NAME", synopsis: "Write (rules or policy), read or delete an ACL policy (the legacy path)." },
        Route { pattern: "policies/password", synopsis: "List the password policies." },
        Route { pattern: "policies/password/NAME", synopsis: "Write (policy: HCL, JSON or base64), read or delete a password policy: length and charset rules." },
        Route { pattern: "policies/password/NAME/generate", synopsis: "Generate a password from a password policy." },
        Route { pattern: "capabilities-self", synopsis: "The calling token's capabilities on paths." },
        Route { pattern: "capabilities", synopsis: "A token's capabilities on paths." },
        Route { pattern: "capabilities-accessor", synopsis: "The capabilities on paths of the token with an accessor." },
        Route { pattern: "leases", synopsis: "GET ?type=irrevocable: the irrevocable leases with their last error (limit: a count or none) (sudo)." },
        Route { pattern: "leases/count", synopsis: "GET ?type=irrevocable: how many leases are irrevocable, per mount (sudo)." },
        Route { pattern: "leases/lookup", synopsis: "Look up a lease (lease_id); LIST leases/lookup/PREFIX (sudo)." },
        Route { pattern: "leases/lookup/PATH", synopsis: "LIST the leases below a prefix (sudo)." },
        Route { pattern: "leases/renew", synopsis: "Renew a lease: lease_id, increment." },
        Route { pattern: "leases/renew/PATH", synopsis: "Renew the lease named in the path." },
        Route { pattern: "leases/revoke", synopsis: "Revoke one lease by its exact id (sync=false answers 202 with a job)." },
        Route { pattern: "leases/revoke/PATH", synopsis: "Revoke the lease named in the path." },
        Route { pattern: "leases/revoke-prefix/PATH", synopsis: "Revoke every lease below a prefix (sudo)." },
        Route { pattern: "leases/revoke-force/PATH", synopsis: "Forget every lease below a prefix, whatever the backend says (sudo)." },
        Route { pattern: "leases/tidy", synopsis: "Remove leftover lease index entries and retry every failing revocation (a background job)." },
        Route { pattern: "audit", synopsis: "List the audit devices (sudo)." },
        Route { pattern: "audit/NAME", synopsis: "Enable (type=file, options.file_path) or disable an audit device (sudo)." },
        Route { pattern: "audit-hash/NAME", synopsis: "The HMAC a value has in a device's log: input." },
        Route { pattern: "audit-chain/NAME", synopsis: "A device's chain key and head, for qm audit verify (sudo)." },
        Route { pattern: "wrapping/wrap", synopsis: "Wrap any data in a single-use token." },
        Route { pattern: "wrapping/unwrap", synopsis: "Unwrap a wrapping token." },
        Route { pattern: "wrapping/lookup", synopsis: "Look up a wrapping token's properties." },
        Route { pattern: "wrapping/rewrap", synopsis: "Move wrapped data to a new wrapping token." },
        Route { pattern: "metrics", synopsis: "Metrics: format=prometheus, or a JSON summary." },
        Route { pattern: "nhi/identities", synopsis: "The identity inventory, with owners, risk and last use (filters, sort, format=json|jsonl|csv)." },
        Route { pattern: "nhi/identities/PATH", synopsis: "One identity of the inventory." },
        Route { pattern: "nhi/owners/NAME/offboard", synopsis: "Revoke an owner's tokens and leases and disable or hand over their roles (dry_run, reassign_to)." },
        Route { pattern: "nhi/revoke", synopsis: "Revoke tokens and role leases by owner, kind, environment, labels (dry_run)." },
        Route { pattern: "nhi/alerts", synopsis: "Drift alerts." },
        Route { pattern: "nhi/drift/config", synopsis: "Drift detection settings." },
        Route { pattern: "nhi/jobs/NAME", synopsis: "The progress of a background revocation." },
    ],
};

const TOKEN: Help = Help {
    synopsis: "The token store: every token, its policies, TTL, children and accessor.",
    routes: &[
        Route { pattern: "create", synopsis: "Create a child token: policies, ttl, explicit_max_ttl, num_uses, no_parent, display_name, meta, period." },
        Route { pattern: "create-orphan", synopsis: "Create a token without a parent." },
        Route { pattern: "create/NAME", synopsis: "Create a token from the token role NAME." },
        Route { pattern: "lookup", synopsis: "Look up a token (token)." },
        Route { pattern: "lookup-self", synopsis: "Look up the calling token." },
        Route { pattern: "lookup-accessor", synopsis: "Look up the token with an accessor." },
        Route { pattern: "renew", synopsis: "Renew a token (token, increment)." },
        Route { pattern: "renew-self", synopsis: "Renew the calling token." },
        Route { pattern: "renew-accessor", synopsis: "Renew the token with an accessor." },
        Route { pattern: "revoke", synopsis: "Revoke a token and its children." },
        Route { pattern: "revoke-self", synopsis: "Revoke the calling token and its children." },
        Route { pattern: "revoke-accessor", synopsis: "Revoke the token with an accessor." },
        Route { pattern: "revoke-orphan", synopsis: "Revoke a token and orphan its children (sudo)." },
        Route { pattern: "roles", synopsis: "List the token roles." },
        Route { pattern: "roles/NAME", synopsis: "Manage a token role: allowed_policies, disallowed_policies (and _glob), orphan, renewable, token_period, token_explicit_max_ttl, token_bound_cidrs." },
        Route { pattern: "accessors", synopsis: "LIST the accessors of every token (sudo)." },
        Route { pattern: "tidy", synopsis: "Drop accessor and parent entries whose token is gone." },
    ],
};

const CUBBYHOLE: Help = Help {
    synopsis: "The cubbyhole: each token's private key/value space, deleted with the token.",
    routes: &[Route {
        pattern: "PATH",
        synopsis: "Write, read, LIST or delete a secret in the calling token's cubbyhole.",
    }],
};
