//! The KV engines' `?help=1` text (`bao path-help secret/...`).

use qm_plugin_sdk::help::Op::{Delete, List, Read, Write};
use qm_plugin_sdk::help::{Help, Route};

pub(crate) const V2: Help = Help {
    synopsis: "The KV secrets engine, version 2: versioned key/value secrets.",
    routes: &[
        Route { pattern: "config", ops: &[Read, Write], synopsis: "The mount's max_versions, cas_required and delete_version_after." },
        Route { pattern: "data/PATH", ops: &[Read, Write, Delete], synopsis: "Write, read or delete the latest (or a given) version of a secret; options.cas for check-and-set." },
        Route { pattern: "metadata/PATH", ops: &[Read, Write, Delete, List], synopsis: "A secret's versions and settings; LIST the keys below a path; DELETE removes every version." },
        Route { pattern: "delete/PATH", ops: &[Write], synopsis: "Delete given versions of a secret (undelete brings them back)." },
        Route { pattern: "undelete/PATH", ops: &[Write], synopsis: "Bring deleted versions of a secret back." },
        Route { pattern: "destroy/PATH", ops: &[Write], synopsis: "Destroy given versions of a secret for good." },
    ],
};

pub(crate) const V1: Help = Help {
    synopsis: "The KV secrets engine, version 1: key/value secrets without versions.",
    routes: &[Route {
        pattern: "PATH",
        ops: &[Read, Write, Delete, List],
        synopsis: "Write (any JSON object), read, LIST or delete a secret.",
    }],
};
