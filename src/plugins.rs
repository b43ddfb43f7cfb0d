//! The secrets plugins this server hosts, registered explicitly by mount type.
//! The `database` engine gets every database driver; a config's
//! `plugin_name` picks one.

use qm_plugin_sdk::SecretsEngine;
use std::sync::Arc;

/// A new instance of the plugin serving mounts of type `kind`, if any.
pub fn build(kind: &str) -> Option<Arc<dyn SecretsEngine>> {
    match kind {
        "database" => Some(Arc::new(qm_plugin_database::DatabaseEngine::new(vec![
            Arc::new(qm_plugin_postgres::PostgresDriver),
            Arc::new(qm_plugin_mysql::MysqlDriver),
        ]))),
        "aws" => Some(Arc::new(qm_plugin_aws_sts::AwsStsEngine::new())),
        _ => None,
    }
}
