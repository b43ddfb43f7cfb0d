//! The secrets plugins this server hosts, registered explicitly by mount type.

use qm_plugin_sdk::SecretsEngine;
use std::sync::Arc;

/// A new instance of the plugin serving mounts of type `kind`, if any.
pub fn build(kind: &str) -> Option<Arc<dyn SecretsEngine>> {
    match kind {
        "database" => Some(Arc::new(qm_plugin_postgres::PostgresEngine::new())),
        "aws" => Some(Arc::new(qm_plugin_aws_sts::AwsStsEngine::new())),
        _ => None,
    }
}
