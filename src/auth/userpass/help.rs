//! Userpass's `?help=1` text (`bao path-help auth/userpass/...`).

use qm_plugin_sdk::help::{Help, Route};

pub(super) const HELP: Help = Help {
    synopsis: "The userpass auth method: people log in with a username and a password.",
    routes: &[
        Route { pattern: "login/NAME", synopsis: "Log in as NAME with password (no token needed)." },
        Route { pattern: "users", synopsis: "List the users." },
        Route { pattern: "users/NAME", synopsis: "Manage a user: password (stored as an argon2id hash, never readable) and the token_* fields." },
        Route { pattern: "users/NAME/password", synopsis: "Change a user's password." },
        Route { pattern: "users/NAME/policies", synopsis: "Change a user's token_policies." },
    ],
};
