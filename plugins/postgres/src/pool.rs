//! A bounded deadpool for one config, built from its connection string
//! (with libpq's TLS parameters, through `qm-pg-connect`) and credentials,
//! with the config's idle bound and connection lifetime. Errors never
//! contain the password.

use deadpool_postgres::{
    HookError, Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod,
};
use qm_pg_connect::ConnectionUrl;
use qm_plugin_database::statements::sanitize;
use qm_plugin_database::{ConnectionConfig, DriverError};
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The config's connection string with `{{username}}` and `{{password}}`
/// filled in.
pub(crate) fn connection_url(config: &ConnectionConfig<'_>) -> ConnectionUrl {
    ConnectionUrl::from_template(
        config.connection_url,
        &[
            ("{{username}}", config.username),
            ("{{password}}", config.password),
        ],
    )
}

/// A config's pool: deadpool keeps every connection it opened, so the
/// idle bound is kept here, when a connection comes back.
pub(crate) struct PgPool {
    pool: Pool,
    max_idle: usize,
}

/// A connection taken from a [`PgPool`]: back to the pool when dropped,
/// or closed if the pool already holds its idle bound.
pub(crate) struct Pooled<'a> {
    object: Option<Object>,
    pool: &'a PgPool,
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Object;

    fn deref(&self) -> &Object {
        match &self.object {
            Some(object) => object,
            None => unreachable!("the connection is only taken when dropped"),
        }
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(object) = self.object.take() {
            // `available`: the idle connections, not counting this one.
            if self.pool.pool.status().available >= self.pool.max_idle {
                drop(Object::take(object));
            }
        }
    }
}

impl PgPool {
    pub(crate) async fn get(&self) -> Result<Pooled<'_>, PoolError> {
        Ok(Pooled {
            object: Some(self.pool.get().await?),
            pool: self,
        })
    }

    pub(crate) fn close(&self) {
        self.pool.close();
    }
}

/// Builds the pool (connecting lazily) for `url`, from [`connection_url`];
/// `secrets` are scrubbed from its errors.
pub(crate) fn build(
    config: &ConnectionConfig<'_>,
    url: &ConnectionUrl,
    secrets: &[&str],
) -> Result<PgPool, DriverError> {
    let invalid = |e: String| {
        DriverError::Statement(sanitize(
            &url.scrub(&format!("connection_url: {e}")),
            secrets,
        ))
    };
    let settings = url.parse().map_err(invalid)?;
    let connector = settings.tls.connector().map_err(invalid)?;
    let mut pg = settings.config;
    if !config.connection_url.contains("{{username}}") && !config.username.is_empty() {
        pg.user(config.username);
    }
    if !config.connection_url.contains("{{password}}") && !config.password.is_empty() {
        pg.password(config.password);
    }
    pg.connect_timeout(CONNECT_TIMEOUT);
    pg.application_name("quartermaster");
    let manager = Manager::from_config(
        pg,
        connector,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let max_size = usize::try_from(config.max_open_connections.max(1)).unwrap_or(4);
    let mut builder = Pool::builder(manager).max_size(max_size);
    if let Some(lifetime) = config.max_connection_lifetime {
        // A connection past its lifetime is not handed out again: the pool
        // drops it and opens a new one.
        builder = builder.pre_recycle(deadpool_postgres::Hook::sync_fn(move |_, metrics| {
            if metrics.age() >= lifetime {
                Err(HookError::Message("past max_connection_lifetime".into()))
            } else {
                Ok(())
            }
        }));
    }
    let pool = builder
        .build()
        .map_err(|e| DriverError::Statement(format!("cannot build the connection pool: {e}")))?;
    Ok(PgPool {
        pool,
        max_idle: usize::try_from(config.max_idle_connections.max(1)).unwrap_or(max_size),
    })
}
