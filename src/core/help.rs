//! The core's route tables (system, token store, cubbyhole) and the table
//! of any mount. They answer `?help=1` on any path (what `bao path-help
//! PATH` asks), after authentication and an ACL check, never by running the
//! path's handler, and make the OpenAPI document (`sys/openapi.rs`).

use super::mounts::{Backend, Mounted};
use crate::error::ApiError;
use crate::logical::Response;
use qm_plugin_sdk::help::Op::{Delete, List, Read, Write};
use qm_plugin_sdk::help::{Help, Route};
use serde_json::json;

/// The route table of the backend behind a mount.
pub(crate) fn table(mounted: &Mounted) -> &'static Help {
    match &mounted.backend {
        Backend::System => &SYSTEM,
        Backend::Token => &TOKEN,
        Backend::Cubbyhole => &CUBBYHOLE,
        Backend::Engine(engine) => engine.help(),
        Backend::Plugin(plugin) => plugin.help(),
        Backend::Auth(method) => method.help(),
    }
}

/// The help answer for `path`, served by `mounted` at `relative`.
pub(super) fn answer(mounted: &Mounted, relative: &str, path: &str) -> Result<Response, ApiError> {
    let text = table(mounted).text(relative).ok_or_else(|| {
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
        Route { pattern: "init", ops: &[Read, Write], synopsis: "Initialize the store: secret_shares, secret_threshold (no token needed)." },
        Route { pattern: "seal-status", ops: &[Read], synopsis: "Whether the store is sealed, and the unseal progress (no token needed)." },
        Route { pattern: "unseal", ops: &[Write], synopsis: "Give one unseal key share (no token needed)." },
        Route { pattern: "seal", ops: &[Write], synopsis: "Seal the store (sudo)." },
        Route { pattern: "health", ops: &[Read], synopsis: "Health: 200 active, 429 standby, 503 sealed (no token needed)." },
        Route { pattern: "leader", ops: &[Read], synopsis: "Which node is active (no token needed)." },
        Route { pattern: "ha-status", ops: &[Read], synopsis: "The nodes of the cluster." },
        Route { pattern: "step-down", ops: &[Write], synopsis: "Hand the active role to a standby (sudo)." },
        Route { pattern: "rotate", ops: &[Write], synopsis: "Add a new key term to the keyring (sudo)." },
        Route { pattern: "rotate/keyring", ops: &[Write], synopsis: "Add a new key term to the keyring (sudo)." },
        Route { pattern: "key-status", ops: &[Read], synopsis: "The current key term." },
        Route { pattern: "rekey/init", ops: &[Read, Write, Delete], synopsis: "Start, read or cancel a rekey: secret_shares, secret_threshold." },
        Route { pattern: "rekey/update", ops: &[Write], synopsis: "Give one key share to the rekey." },
        Route { pattern: "rekey/verify", ops: &[Read, Write, Delete], synopsis: "Verify the new shares of a rekey." },
        Route { pattern: "rekey-recovery-key/init", ops: &[Read, Write, Delete], synopsis: "Start, read or cancel a recovery key rekey." },
        Route { pattern: "rekey-recovery-key/update", ops: &[Write], synopsis: "Give one recovery key share." },
        Route { pattern: "rekey-recovery-key/verify", ops: &[Read, Write, Delete], synopsis: "Verify the new recovery shares." },
        Route { pattern: "generate-root/attempt", ops: &[Read, Write, Delete], synopsis: "Start, read or cancel a root token generation (no token needed)." },
        Route { pattern: "generate-root/update", ops: &[Write], synopsis: "Give one key share to the generation (no token needed)." },
        Route { pattern: "generate-root-token/attempt", ops: &[Read, Write, Delete], synopsis: "The same, for a holder of sudo." },
        Route { pattern: "generate-root-token/update", ops: &[Write], synopsis: "The same, for a holder of sudo." },
        Route { pattern: "storage/verify", ops: &[Read], synopsis: "Try to open every encrypted entry of the store; list each that does not (sudo)." },
        Route { pattern: "storage/snapshot", ops: &[Read, Write], synopsis: "GET saves a snapshot of the store, POST restores one (sudo)." },
        Route { pattern: "storage/raft/snapshot", ops: &[Read, Write], synopsis: "Vault's snapshot path: GET saves, POST restores (sudo)." },
        Route { pattern: "storage/raft/snapshot-force", ops: &[Write], synopsis: "Restore a snapshot whatever its store (sudo; same checks as a restore here)." },
        Route { pattern: "mounts", ops: &[Read], synopsis: "List the secrets engines." },
        Route { pattern: "mounts/PATH", ops: &[Read, Write, Delete], synopsis: "Enable (type, description, config, options), read, disable or (PATH/tune) tune a secrets engine." },
        Route { pattern: "auth", ops: &[Read], synopsis: "List the auth methods." },
        Route { pattern: "auth/PATH", ops: &[Read, Write, Delete], synopsis: "Enable, read, disable or (PATH/tune) tune an auth method (sudo)." },
        Route { pattern: "remount", ops: &[Write], synopsis: "Move a mount: from, to (sudo)." },
        Route { pattern: "remount/status/NAME", ops: &[Read], synopsis: "The status of a move." },
        Route { pattern: "internal/specs/openapi", ops: &[Read], synopsis: "The OpenAPI 3 document of the mounts the token can reach, made from these route tables." },
        Route { pattern: "internal/ui/mounts", ops: &[Read], synopsis: "The mounts the token can use part of." },
        Route { pattern: "internal/ui/mounts/PATH", ops: &[Read], synopsis: "The mount that serves PATH, if the token can use part of it." },
        Route { pattern: "policies/acl", ops: &[List], synopsis: "List the ACL policies." },
        Route { pattern: "policies/acl/NAME", ops: &[Read, Write, Delete], synopsis: "Write (policy: HCL or JSON), read or delete an ACL policy." },
        Route { pattern: "policy", ops: &[Read], synopsis: "List the ACL policies (the legacy path)." },
        Route { pattern: "policy/NAME", ops: &[Read, Write, Delete], synopsis: "Write (rules or policy), read or delete an ACL policy (the legacy path)." },
        Route { pattern: "policies/password", ops: &[List], synopsis: "List the password policies." },
        Route { pattern: "policies/password/NAME", ops: &[Read, Write, Delete], synopsis: "Write (policy: HCL, JSON or base64), read or delete a password policy: length and charset rules." },
        Route { pattern: "policies/password/NAME/generate", ops: &[Read], synopsis: "Generate a password from a password policy." },
        Route { pattern: "capabilities-self", ops: &[Write], synopsis: "The calling token's capabilities on paths." },
        Route { pattern: "capabilities", ops: &[Write], synopsis: "A token's capabilities on paths." },
        Route { pattern: "capabilities-accessor", ops: &[Write], synopsis: "The capabilities on paths of the token with an accessor." },
        Route { pattern: "leases", ops: &[Read], synopsis: "GET ?type=irrevocable: the irrevocable leases with their last error (limit: a count or none) (sudo)." },
        Route { pattern: "leases/count", ops: &[Read], synopsis: "GET ?type=irrevocable: how many leases are irrevocable, per mount (sudo)." },
        Route { pattern: "leases/lookup", ops: &[Write, List], synopsis: "Look up a lease (lease_id); LIST leases/lookup/PREFIX (sudo)." },
        Route { pattern: "leases/lookup/PATH", ops: &[List], synopsis: "LIST the leases below a prefix (sudo)." },
        Route { pattern: "leases/renew", ops: &[Write], synopsis: "Renew a lease: lease_id, increment." },
        Route { pattern: "leases/renew/PATH", ops: &[Write], synopsis: "Renew the lease named in the path." },
        Route { pattern: "leases/revoke", ops: &[Write], synopsis: "Revoke one lease by its exact id (sync=false answers 202 with a job)." },
        Route { pattern: "leases/revoke/PATH", ops: &[Write], synopsis: "Revoke the lease named in the path." },
        Route { pattern: "leases/revoke-prefix/PATH", ops: &[Write], synopsis: "Revoke every lease below a prefix (sudo)." },
        Route { pattern: "leases/revoke-force/PATH", ops: &[Write], synopsis: "Forget every lease below a prefix, whatever the backend says (sudo)." },
        Route { pattern: "leases/tidy", ops: &[Write], synopsis: "Remove leftover lease index entries and retry every failing revocation (a background job)." },
        Route { pattern: "audit", ops: &[Read], synopsis: "List the audit devices (sudo)." },
        Route { pattern: "audit/NAME", ops: &[Write, Delete], synopsis: "Enable (type=file, options.file_path) or disable an audit device (sudo)." },
        Route { pattern: "audit-hash/NAME", ops: &[Write], synopsis: "The HMAC a value has in a device's log: input." },
        Route { pattern: "audit-chain/NAME", ops: &[Read], synopsis: "A device's chain key and head, for qm audit verify (sudo)." },
        Route { pattern: "wrapping/wrap", ops: &[Write], synopsis: "Wrap any data in a single-use token." },
        Route { pattern: "wrapping/unwrap", ops: &[Write], synopsis: "Unwrap a wrapping token." },
        Route { pattern: "wrapping/lookup", ops: &[Write], synopsis: "Look up a wrapping token's properties." },
        Route { pattern: "wrapping/rewrap", ops: &[Write], synopsis: "Move wrapped data to a new wrapping token." },
        Route { pattern: "metrics", ops: &[Read], synopsis: "Metrics: format=prometheus, or a JSON summary." },
        Route { pattern: "nhi/identities", ops: &[Read], synopsis: "The identity inventory, with owners, risk and last use (filters, sort, format=json|jsonl|csv)." },
        Route { pattern: "nhi/identities/PATH", ops: &[Read], synopsis: "One identity of the inventory." },
        Route { pattern: "nhi/owners/NAME/offboard", ops: &[Write], synopsis: "Revoke an owner's tokens and leases and disable or hand over their roles (dry_run, reassign_to)." },
        Route { pattern: "nhi/revoke", ops: &[Write], synopsis: "Revoke tokens and role leases by owner, kind, environment, labels (dry_run)." },
        Route { pattern: "nhi/alerts", ops: &[Read], synopsis: "Drift alerts, each with the baseline it broke; acknowledged=true|false filters." },
        Route { pattern: "nhi/alerts/ID/ack", ops: &[Write], synopsis: "Acknowledge a drift alert (records who and when; idempotent)." },
        Route { pattern: "nhi/drift/config", ops: &[Read, Write], synopsis: "Drift detection settings." },
        Route { pattern: "nhi/jobs/NAME", ops: &[Read], synopsis: "The progress of a background revocation." },
        Route { pattern: "discover/scan", ops: &[Write], synopsis: "Scan a database's login roles for identities the broker did not create (source=MOUNT/config/NAME; a background job)." },
        Route { pattern: "discover/jobs/NAME", ops: &[Read], synopsis: "The progress of a discovery scan." },
        Route { pattern: "discover/schedules", ops: &[List], synopsis: "The names of the scheduled discovery scans." },
        Route { pattern: "discover/schedules/NAME", ops: &[Read, Write, Delete], synopsis: "A source rescanned every interval (source, interval: 10s to 366d; first run within a second)." },
        Route { pattern: "discover/files", ops: &[Write], synopsis: "Find hard-coded credentials in a tarball of files (name, archive: base64 tar or tar.gz, rules)." },
        Route { pattern: "discover/identities/PATH", ops: &[Read, Write], synopsis: "One discovered identity (read), or its owner, purpose, environment, labels (write)." },
        Route { pattern: "discover/adopt", ops: &[Write], synopsis: "Turn a discovered login role into a static role the broker rotates (id, name, rotation_period; dry run unless dry_run=false)." },
        Route { pattern: "nhi/lease-count/PATH", ops: &[Read], synopsis: "How many leases a revoke-prefix of PATH would revoke (a preview)." },
    ],
};

const TOKEN: Help = Help {
    synopsis: "The token store: every token, its policies, TTL, children and accessor.",
    routes: &[
        Route { pattern: "create", ops: &[Write], synopsis: "Create a child token: policies, ttl, explicit_max_ttl, num_uses, no_parent, display_name, meta, period." },
        Route { pattern: "create-orphan", ops: &[Write], synopsis: "Create a token without a parent." },
        Route { pattern: "create/NAME", ops: &[Write], synopsis: "Create a token from the token role NAME." },
        Route { pattern: "lookup", ops: &[Write], synopsis: "Look up a token (token)." },
        Route { pattern: "lookup-self", ops: &[Read, Write], synopsis: "Look up the calling token." },
        Route { pattern: "lookup-accessor", ops: &[Write], synopsis: "Look up the token with an accessor." },
        Route { pattern: "renew", ops: &[Write], synopsis: "Renew a token (token, increment)." },
        Route { pattern: "renew-self", ops: &[Write], synopsis: "Renew the calling token." },
        Route { pattern: "renew-accessor", ops: &[Write], synopsis: "Renew the token with an accessor." },
        Route { pattern: "revoke", ops: &[Write], synopsis: "Revoke a token and its children." },
        Route { pattern: "revoke-self", ops: &[Write], synopsis: "Revoke the calling token and its children." },
        Route { pattern: "revoke-accessor", ops: &[Write], synopsis: "Revoke the token with an accessor." },
        Route { pattern: "revoke-orphan", ops: &[Write], synopsis: "Revoke a token and orphan its children (sudo)." },
        Route { pattern: "roles", ops: &[List], synopsis: "List the token roles." },
        Route { pattern: "roles/NAME", ops: &[Read, Write, Delete], synopsis: "Manage a token role: allowed_policies, disallowed_policies (and _glob), orphan, renewable, token_period, token_explicit_max_ttl, token_bound_cidrs." },
        Route { pattern: "accessors", ops: &[List], synopsis: "LIST the accessors of every token (sudo)." },
        Route { pattern: "tidy", ops: &[Write], synopsis: "Drop accessor and parent entries whose token is gone." },
    ],
};

const CUBBYHOLE: Help = Help {
    synopsis: "The cubbyhole: each token's private key/value space, deleted with the token.",
    routes: &[Route {
        pattern: "PATH",
        ops: &[Read, Write, Delete, List],
        synopsis: "Write, read, LIST or delete a secret in the calling token's cubbyhole.",
    }],
};
