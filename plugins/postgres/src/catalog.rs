//! Discovery from the catalogs: every login role (and the retired ones
//! asked for, which no longer have LOGIN) with its expiry,
//! attributes, memberships, table privileges and open sessions (read from
//! `pg_roles`, `pg_auth_members`, `pg_class` ACLs and `pg_stat_activity`,
//! never from statement history), and `ALTER ROLE ... [NO]LOGIN`.

use crate::pool::PgPool;
use crate::sql::{connection_error, describe, quote_ident, run_in_transaction};
use qm_plugin_database::{DriverError, LoginRole};
use std::collections::BTreeMap;

/// One row per login role and per named retired role (`pg_*` system
/// roles excluded).
pub const ROLES: &str = "\
SELECT r.rolname,
       CASE WHEN r.rolvaliduntil IS NULL OR r.rolvaliduntil = 'infinity' THEN NULL
            ELSE extract(epoch FROM r.rolvaliduntil)::bigint END,
       r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls,
       COALESCE((SELECT array_agg(g.rolname::text ORDER BY g.rolname)
                 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                 WHERE m.member = r.oid), '{}'),
       (SELECT count(*) FROM pg_stat_activity a WHERE a.usesysid = r.oid)::int,
       r.rolname = current_user,
       r.rolcanlogin
FROM pg_roles r
WHERE (r.rolcanlogin OR r.rolname = ANY($1::text[])) AND r.rolname !~ '^pg_'
ORDER BY r.rolname";

/// The table privileges granted to login roles and named retired roles,
/// one row per role and table.
pub const GRANTS: &str = "\
SELECT g.rolname, n.nspname || '.' || c.relname,
       string_agg(DISTINCT a.privilege_type, ',' ORDER BY a.privilege_type)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL aclexplode(c.relacl) a
JOIN pg_roles g ON g.oid = a.grantee
WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND (g.rolcanlogin OR g.rolname = ANY($1::text[]))
GROUP BY 1, 2
ORDER BY 1, 2";

const ATTRIBUTES: [&str; 5] = [
    "superuser",
    "createrole",
    "createdb",
    "replication",
    "bypassrls",
];

pub(crate) async fn login_roles(
    pool: &PgPool,
    retired: &[String],
    secrets: &[&str],
) -> Result<Vec<LoginRole>, DriverError> {
    let client = pool
        .get()
        .await
        .map_err(|e| connection_error(&e, secrets))?;
    let mut privileges: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in client
        .query(GRANTS, &[&retired])
        .await
        .map_err(|e| describe(&e, secrets))?
    {
        let (role, table, granted): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        privileges
            .entry(role)
            .or_default()
            .push(format!("{table}: {granted}"));
    }
    let rows = client
        .query(ROLES, &[&retired])
        .await
        .map_err(|e| describe(&e, secrets))?;
    Ok(rows
        .iter()
        .map(|row| {
            let name: String = row.get(0);
            let attributes = ATTRIBUTES
                .iter()
                .enumerate()
                .filter(|(i, _)| row.get::<_, bool>(i.saturating_add(2)))
                .map(|(_, a)| (*a).to_string())
                .collect();
            LoginRole {
                valid_until: row.get(1),
                attributes,
                member_of: row.get(7),
                privileges: privileges.remove(&name).unwrap_or_default(),
                connections: u32::try_from(row.get::<_, i32>(8)).unwrap_or(0),
                current_user: row.get(9),
                can_login: row.get(10),
                name,
            }
        })
        .collect())
}

/// `ALTER ROLE name LOGIN` or `NOLOGIN`; stopping also ends its sessions.
pub(crate) async fn set_login(
    pool: &PgPool,
    name: &str,
    login: bool,
    secrets: &[&str],
) -> Result<(), DriverError> {
    let ident = quote_ident(name);
    let sql = if login {
        format!("ALTER ROLE {ident} LOGIN;")
    } else {
        format!(
            "ALTER ROLE {ident} NOLOGIN;\n\
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = {} AND pid <> pg_backend_pid();",
            crate::sql::quote_literal(name)
        )
    };
    run_in_transaction(pool, &sql, secrets).await
}
