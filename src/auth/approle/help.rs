//! AppRole's `?help=1` text (`bao path-help auth/approle/...`).

use qm_plugin_sdk::help::{Help, Route};

pub(super) const HELP: Help = Help {
    synopsis: "The AppRole auth method: machines log in with a role ID and a secret ID.",
    routes: &[
        Route { pattern: "login", synopsis: "Log in with role_id and secret_id (no token needed)." },
        Route { pattern: "role", synopsis: "List the roles." },
        Route { pattern: "role/NAME", synopsis: "Manage a role: bind_secret_id, secret_id_bound_cidrs, secret_id_num_uses, secret_id_ttl and the token_* fields." },
        Route { pattern: "role/NAME/role-id", synopsis: "Read or set the role's role ID." },
        Route { pattern: "role/NAME/secret-id", synopsis: "Generate a secret ID (metadata, cidr_list, token_bound_cidrs, ttl, num_uses); LIST the accessors." },
        Route { pattern: "role/NAME/custom-secret-id", synopsis: "Register a secret ID of your choosing." },
        Route { pattern: "role/NAME/secret-id/lookup", synopsis: "Look up a secret ID's properties." },
        Route { pattern: "role/NAME/secret-id/destroy", synopsis: "Destroy a secret ID." },
        Route { pattern: "role/NAME/secret-id-accessor/lookup", synopsis: "Look up a secret ID by its accessor." },
        Route { pattern: "role/NAME/secret-id-accessor/destroy", synopsis: "Destroy a secret ID by its accessor." },
        Route { pattern: "role/NAME/NAME", synopsis: "Read, set or reset one field of the role (policies, token-ttl, token-max-ttl, token-num-uses, period, token-bound-cidrs, bind-secret-id, secret-id-ttl, secret-id-num-uses, secret-id-bound-cidrs, local-secret-ids)." },
        Route { pattern: "tidy/secret-id", synopsis: "Remove expired secret IDs." },
    ],
};
