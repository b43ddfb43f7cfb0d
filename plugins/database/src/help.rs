//! The database engine's `?help=1` text (`bao path-help database/...`).

use qm_plugin_sdk::help::Op::{Delete, List, Read, Write};
use qm_plugin_sdk::help::{Help, Route};

pub(crate) const HELP: Help = Help {
    synopsis: "The database secrets engine creates a database user for each lease \
(Postgres, MySQL/MariaDB) and drops it when the lease ends; static roles rotate \
the password of an existing user.",
    routes: &[
        Route { pattern: "config", ops: &[List], synopsis: "List the configured connections." },
        Route { pattern: "config/NAME", ops: &[Read, Write, Delete], synopsis: "Configure a connection: plugin_name, connection_url, username, password (never readable), allowed_roles, max_open_connections, max_idle_connections, max_connection_lifetime, username_template, password_policy, verify_connection." },
        Route { pattern: "reset/NAME", ops: &[Write], synopsis: "Close and rebuild the connection pool of a connection." },
        Route { pattern: "rotate-root/NAME", ops: &[Write], synopsis: "Rotate the broker's own database password; the new one is never readable." },
        Route { pattern: "roles", ops: &[List], synopsis: "List the roles." },
        Route { pattern: "roles/NAME", ops: &[Read, Write, Delete], synopsis: "Manage a role: db_name, creation_statements, revocation_statements, renew_statements, rollback_statements, default_ttl, max_ttl, max_active_leases." },
        Route { pattern: "creds/NAME", ops: &[Read], synopsis: "Create a database user from the role NAME, with a lease." },
        Route { pattern: "static-roles", ops: &[List], synopsis: "List the static roles." },
        Route { pattern: "static-roles/NAME", ops: &[Read, Write, Delete], synopsis: "Manage a static role: db_name, username, rotation_period, rotation_statements." },
        Route { pattern: "static-creds/NAME", ops: &[Read], synopsis: "Read the current password of a static role's user." },
        Route { pattern: "rotate-role/NAME", ops: &[Write], synopsis: "Rotate a static role's password now." },
        Route { pattern: "reconcile/NAME", ops: &[Read, Write], synopsis: "Users this mount recorded whose lease has ended; fix=true drops them." },
        Route { pattern: "discover/NAME", ops: &[Read, Write], synopsis: "Login roles this mount did not create (read); retire one: action=nologin|login|drop, dry run unless dry_run=false." },
    ],
};
