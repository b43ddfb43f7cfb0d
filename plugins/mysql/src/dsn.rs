//! `connection_url` as Vault's MySQL plugin takes it (Go's DSN,
//! `{{username}}:{{password}}@tcp(127.0.0.1:3306)/db`) or as a URL
//! (`mysql://user:pass@127.0.0.1:3306/db`), into where to connect and as
//! whom. `{{username}}` and `{{password}}` (or an empty user or password)
//! take the config's `username` and `password`, never spliced into text,
//! so no quoting of either is needed. Query parameters are ignored.

use qm_plugin_database::ConnectionConfig;

const DEFAULT_PORT: u16 = 3306;

/// Where to connect, and as whom. No `Debug`: it holds the password.
pub(crate) struct Target {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) user: String,
    pub(crate) password: String,
    pub(crate) db: Option<String>,
}

/// Parses the config's URL. Errors never quote the URL (it may hold a
/// password).
pub(crate) fn parse(config: &ConnectionConfig<'_>) -> Result<Target, String> {
    let url = config.connection_url.trim();
    let (is_url, rest) = match url.strip_prefix("mysql://") {
        Some(rest) => (true, rest),
        None => (false, url),
    };
    let rest = rest.split_once('?').map_or(rest, |(before, _)| before);
    let (credentials, address) = rest.rsplit_once('@').unwrap_or(("", rest));
    let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
    let decode = |text: &str| -> Result<String, String> {
        if !is_url {
            return Ok(text.to_string());
        }
        percent_encoding::percent_decode_str(text)
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| "connection_url: the user or password is not valid UTF-8".to_string())
    };
    let user = fill(decode(user)?, "{{username}}", config.username);
    let password = fill(decode(password)?, "{{password}}", config.password);
    let (host_port, db) = if is_url {
        address.split_once('/').unwrap_or((address, ""))
    } else {
        go_address(address)?
    };
    let (host, port) = host_and_port(host_port)?;
    Ok(Target {
        host,
        port,
        user,
        password,
        db: (!db.is_empty()).then(|| db.to_string()),
    })
}

/// The config's value for a template (or for an empty field).
fn fill(field: String, template: &str, value: &str) -> String {
    if field.is_empty() || field == template {
        value.to_string()
    } else {
        field
    }
}

/// Go's `tcp(host:port)/db` or `/db` (the default address).
fn go_address(address: &str) -> Result<(&str, &str), String> {
    let (net, db) = address.rsplit_once('/').ok_or_else(|| {
        "connection_url: expected user:password@tcp(host:port)/database or mysql://...".to_string()
    })?;
    if net.is_empty() {
        return Ok(("", db));
    }
    let inner = net
        .strip_prefix("tcp(")
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| "connection_url: only tcp(host:port) addresses are supported".to_string())?;
    Ok((inner, db))
}

/// `host`, `host:port`, `[v6]:port`; an empty host is 127.0.0.1.
fn host_and_port(text: &str) -> Result<(String, u16), String> {
    let bad_port = || "connection_url: the port is not a number".to_string();
    let (host, port) = if let Some(v6) = text.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| "connection_url: unclosed [ in the host".to_string())?;
        (host, after.strip_prefix(':'))
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    let port = match port {
        None | Some("") => DEFAULT_PORT,
        Some(p) => p.parse().map_err(|_| bad_port())?,
    };
    let host = if host.is_empty() { "127.0.0.1" } else { host };
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> ConnectionConfig<'_> {
        ConnectionConfig {
            plugin_name: "mysql-database-plugin",
            connection_url: url,
            username: "vault",
            password: "p@ss:w/rd",
            max_open_connections: 4,
            max_idle_connections: 4,
            max_connection_lifetime: None,
        }
    }

    #[test]
    fn go_dsns_with_templates_take_the_config_credentials() {
        let t = parse(&config("{{username}}:{{password}}@tcp(db.local:3307)/app")).unwrap();
        assert_eq!((t.host.as_str(), t.port), ("db.local", 3307));
        assert_eq!(
            (t.user.as_str(), t.password.as_str()),
            ("vault", "p@ss:w/rd")
        );
        assert_eq!(t.db.as_deref(), Some("app"));
        let t = parse(&config("root:x@y@tcp(127.0.0.1)/?tls=false")).unwrap();
        assert_eq!((t.user.as_str(), t.password.as_str()), ("root", "x@y"));
        assert_eq!((t.port, t.db), (3306, None));
        let t = parse(&config("/")).unwrap();
        assert_eq!((t.host.as_str(), t.user.as_str()), ("127.0.0.1", "vault"));
    }

    #[test]
    fn urls_are_percent_decoded_and_bad_ones_quote_nothing() {
        let t = parse(&config("mysql://root:a%40b@[::1]:3310/")).unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 3310));
        assert_eq!((t.user.as_str(), t.password.as_str()), ("root", "a@b"));
        let t = parse(&config("mysql://127.0.0.1")).unwrap();
        assert_eq!((t.user.as_str(), t.port), ("vault", 3306));
        for bad in [
            "root:hunter22@unix(/tmp/s)/db",
            "root:hunter22@tcp(h:x)/",
            "nope",
        ] {
            let error = parse(&config(bad)).err().unwrap();
            assert!(!error.contains("hunter22"), "{error}");
        }
    }
}
