//! Userpass's `?help=1` text (`bao path-help auth/userpass/...`).

use qm_plugin_sdk::help::Op::{Delete, List, Read, Write};
use qm_plugin_sdk::help::{Help, Route};

pub(super) const HELP: Help = Help {
    synopsis: "The userpass auth method: people log in with a username and a password.",
    routes: &[
        Route { pattern: "login/NAME", ops: &[Write], synopsis: "Log in as NAME with password (no token needed)." },
        Route { pattern: "users", ops: &[List], synopsis: "List the users." },
        Route { pattern: "users/NAME", ops: &[Read, Write, Delete], synopsis: "Manage a user: password (stored as an argon2id hash, never readable) and the token_* fields." },
        Route { pattern: "users/NAME/password", ops: &[Write], synopsis: "Change a user's password." },
        Route { pattern: "users/NAME/policies", ops: &[Write], synopsis: "Change a user's token_policies." },
    ],
};
