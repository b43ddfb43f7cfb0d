//! AppRole's `?help=1` text (`bao path-help auth/approle/...`).

use qm_plugin_sdk::help::Op::{Delete, List, Read, Write};
use qm_plugin_sdk::help::{Help, Route};

pub(super) const HELP: Help = Help {
    synopsis: "The AppRole auth method: machines log in with a role ID and a secret ID.",
    routes: &[
        Route { pattern: "login", ops: &[Write], synopsis: "Log in with role_id and secret_id (no token needed)." },
        Route { pattern: "role", ops: &[List], synopsis: "List the roles." },
        Route { pattern: "role/NAME", ops: &[Read, Write, Delete], synopsis: "Manage a role: bind_secret_id, secret_id_bound_cidrs, secret_id_num_uses, secret_id_ttl and the token_* fields." },
        Route { pattern: "role/NAME/role-id", ops: &[Read, Write], synopsis: "Read or set the role's role ID." },
        Route { pattern: "role/NAME/secret-id", ops: &[Write, List], synopsis: "Generate a secret ID (metadata, cidr_list, token_bound_cidrs, ttl, num_uses); LIST the accessors." },
        Route { pattern: "role/NAME/custom-secret-id", ops: &[Write], synopsis: "Register a secret ID of your choosing." },
        Route { pattern: "role/NAME/secret-id/lookup", ops: &[Write], synopsis: "Look up a secret ID's properties." },
        Route { pattern: "role/NAME/secret-id/destroy", ops: &[Write], synopsis: "Destroy a secret ID." },
        Route { pattern: "role/NAME/secret-id-accessor/lookup", ops: &[Write], synopsis: "Look up a secret ID by its accessor." },
        Route { pattern: "role/NAME/secret-id-accessor/destroy", ops: &[Write], synopsis: "Destroy a secret ID by its accessor." },
        Route { pattern: "role/NAME/policies", ops: &[Read, Write, Delete], synopsis: "Read, set or reset the role's policies." },
        Route { pattern: "role/NAME/token-ttl", ops: &[Read, Write, Delete], synopsis: "Read, set or reset the role's token_ttl." },
        Route { pattern: "role/NAME/token-max-ttl", ops: &[Read, Write, Delete], synopsis: "Read, set or reset the role's token_max_ttl." },
        Route { pattern: "role/NAME/token-num-uses", ops: &[Read, Write, Delete], synopsis: "Read, set or reset the role's token_num_uses." },
        Route { pattern: "role/NAME/period", ops: &[Read, Write, Delete], synopsis: "Read, set or reset the role's period." },
        Route { pattern: "role/NAME/token-bound-cidrs", ops: &[Read, Write, Delete], synopsis: "Read, set or reset the role's token_bound_cidrs." },
        Route { pattern: "role/NAME/bind-secret-id", ops: &[Read, Write, Delete], synopsis: "Read, set or reset the role's bind_secret_id." },
        Route { pattern: "role/NAME/secret-id-ttl", ops: &[Read, Write, Delete], synopsis: "Read, set or reset the role's secret_id_ttl." },
        Route { pattern: "role/NAME/secret-id-num-uses", ops: &[Read, Write, Delete], synopsis: "Read, set or reset the role's secret_id_num_uses." },
        Route { pattern: "role/NAME/secret-id-bound-cidrs", ops: &[Read, Write, Delete], synopsis: "Read, set or reset the role's secret_id_bound_cidrs." },
        Route { pattern: "role/NAME/local-secret-ids", ops: &[Read], synopsis: "Read, set or reset the role's local_secret_ids." },
        Route { pattern: "tidy/secret-id", ops: &[Write], synopsis: "Remove expired secret IDs." },
    ],
};
