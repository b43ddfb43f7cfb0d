//! The CLI's HTTP client: address and token from flags or the environment
//! (`QM_ADDR`/`QM_TOKEN`, then `VAULT_ADDR`/`VAULT_TOKEN`, then
//! `~/.vault-token`), TLS as Vault's CLI takes it (`VAULT_CACERT`,
//! `VAULT_CAPATH`, `VAULT_CLIENT_CERT`, `VAULT_CLIENT_KEY`,
//! `VAULT_SKIP_VERIFY`, `VAULT_TLS_SERVER_NAME`, each also as `QM_` and
//! `BAO_`), and API errors
//! printed the way the Vault CLI does.

use super::ClientArgs;
use reqwest::Method;
use serde_json::Value;
use zeroize::Zeroizing;

pub(crate) struct Client {
    /// The HTTP client, or why it could not be set up (a CA file that does
    /// not parse): every call then fails with that message.
    http: Result<reqwest::Client, String>,
    address: String,
    token: Option<Zeroizing<String>>,
    /// How answers are printed (`-format`).
    pub(crate) format: super::output::Format,
}

/// A failed call, with the message the user sees.
pub(crate) struct CallError {
    pub(crate) message: String,
    pub(crate) exit_code: i32,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn env_first(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
}

/// `NAME` as `QM_NAME`, `VAULT_NAME` or `BAO_NAME`, in that order.
fn tls_env(name: &str) -> Option<String> {
    env_first(&[
        &format!("QM_{name}"),
        &format!("VAULT_{name}"),
        &format!("BAO_{name}"),
    ])
}

fn read(path: &str, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("Error reading {what} {path}: {e}"))
}

/// The CA certificates of a PEM file, or of every file in a directory.
fn ca_certificates(path: &str, directory: bool) -> Result<Vec<reqwest::Certificate>, String> {
    let files: Vec<String> = if directory {
        let mut files: Vec<String> = std::fs::read_dir(path)
            .map_err(|e| format!("Error reading CA directory {path}: {e}"))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .map(|p| p.display().to_string())
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_string()]
    };
    let mut certificates = Vec::new();
    for file in files {
        let pem = read(&file, "CA certificate")?;
        let found = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("Error loading CA certificate {file}: {e}"))?;
        if found.is_empty() && !directory {
            return Err(format!(
                "Error loading CA certificate {file}: no PEM certificate in it"
            ));
        }
        certificates.extend(found);
    }
    Ok(certificates)
}

/// The HTTP client the TLS variables ask for, and the address to call
/// (changed only by `VAULT_TLS_SERVER_NAME`).
fn http_client(address: &str) -> Result<(reqwest::Client, String), String> {
    let insecure = tls_env("SKIP_VERIFY").is_some_and(|v| v == "1" || v == "true");
    let mut builder = reqwest::Client::builder().danger_accept_invalid_certs(insecure);
    let cas = match (tls_env("CACERT"), tls_env("CAPATH")) {
        (Some(file), _) => ca_certificates(&file, false)?,
        (None, Some(dir)) => ca_certificates(&dir, true)?,
        (None, None) => Vec::new(),
    };
    for ca in cas {
        builder = builder.add_root_certificate(ca);
    }
    match (tls_env("CLIENT_CERT"), tls_env("CLIENT_KEY")) {
        (Some(cert), Some(key)) => {
            let mut pem = read(&cert, "client certificate")?;
            pem.push(b'\n');
            pem.extend(zeroize::Zeroizing::new(read(&key, "client key")?).iter());
            let pem = zeroize::Zeroizing::new(pem);
            let identity = reqwest::Identity::from_pem(&pem)
                .map_err(|e| format!("Error loading the client certificate {cert} and key: {e}"))?;
            builder = builder.identity(identity);
        }
        (None, None) => {}
        _ => {
            return Err(
                "VAULT_CLIENT_CERT and VAULT_CLIENT_KEY go together: set both or neither".into(),
            )
        }
    }
    let (builder, address) = match tls_env("TLS_SERVER_NAME") {
        Some(name) => with_server_name(builder, address, &name)?,
        None => (builder, address.to_string()),
    };
    let client = builder
        .build()
        .map_err(|e| format!("Error setting up the HTTP client: {e}"))?;
    Ok((client, address))
}

/// `VAULT_TLS_SERVER_NAME`: the name sent in SNI and checked against the
/// server's certificate, while connecting to `address`'s host. Done by
/// addressing the server by that name and resolving the name to the
/// address's host, so rustls checks it as any other name. Returns the
/// address to use and the builder.
fn with_server_name(
    builder: reqwest::ClientBuilder,
    address: &str,
    name: &str,
) -> Result<(reqwest::ClientBuilder, String), String> {
    let url = reqwest::Url::parse(address)
        .map_err(|e| format!("Error parsing the address {address}: {e}"))?;
    if url.scheme() != "https" {
        return Ok((builder, address.to_string()));
    }
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return Err(format!("Error parsing the address {address}: no host"));
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<std::net::SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .map_err(|e| format!("Error resolving {host}: {e}"))?
        .collect();
    let mut renamed = url.clone();
    renamed
        .set_host(Some(name))
        .map_err(|e| format!("VAULT_TLS_SERVER_NAME {name:?}: {e}"))?;
    Ok((
        builder.resolve_to_addrs(name, &addrs),
        renamed.as_str().trim_end_matches('/').to_string(),
    ))
}

fn setup_error(message: &str) -> CallError {
    CallError {
        message: message.to_string(),
        exit_code: super::EXIT_LOCAL_ERROR,
    }
}

impl Client {
    pub(crate) fn new(args: &ClientArgs) -> Self {
        let address = args
            .address
            .clone()
            .or_else(|| env_first(&["QM_ADDR", "VAULT_ADDR", "BAO_ADDR"]))
            .unwrap_or_else(|| "http://127.0.0.1:8200".into());
        let token = env_first(&["QM_TOKEN", "VAULT_TOKEN", "BAO_TOKEN"])
            .or_else(|| {
                let home = std::env::var("HOME").ok()?;
                std::fs::read_to_string(format!("{home}/.vault-token"))
                    .ok()
                    .map(|t| t.trim().to_string())
            })
            .map(Zeroizing::new);
        let address = address.trim_end_matches('/');
        let (http, address) = match http_client(address) {
            Ok((http, called)) => (Ok(http), called),
            Err(e) => (Err(e), address.to_string()),
        };
        Self {
            http,
            address,
            token,
            format: args.format,
        }
    }

    /// Whether answers print as JSON or YAML rather than tables.
    pub(crate) fn structured(&self) -> bool {
        self.format != super::output::Format::Table
    }

    /// Uses `token` from now on (after a login).
    pub(crate) fn set_token(&mut self, token: Zeroizing<String>) {
        self.token = Some(token);
    }

    /// The token in use, for a token sink.
    pub(crate) fn token(&self) -> Option<&str> {
        self.token.as_ref().map(|t| t.as_str())
    }

    /// Whether a token is configured.
    pub(crate) fn has_token(&self) -> bool {
        self.token.as_ref().is_some_and(|t| !t.is_empty())
    }

    /// GETs `/v1/PATH` whose answer is plain text (exports, metrics).
    pub(crate) async fn text(&self, path: &str) -> Result<String, CallError> {
        let url = format!("{}/v1/{}", self.address, path.trim_start_matches('/'));
        let http = self.http.as_ref().map_err(|e| setup_error(e))?;
        let mut request = http.get(&url);
        if let Some(token) = &self.token {
            request = request.header("X-Vault-Token", token.as_str());
        }
        let failed = |e: String| CallError {
            message: format!("Error making API request to {url}: {e}"),
            exit_code: super::EXIT_API_ERROR,
        };
        let response = request.send().await.map_err(|e| failed(e.to_string()))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| failed(e.to_string()))?;
        if status.is_success() {
            Ok(text)
        } else {
            Err(failed(format!("status {status}: {text}")))
        }
    }

    /// Calls `/v1/PATH`. `Ok(None)` for 204 and for 404 without a body.
    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Option<Value>, CallError> {
        let url = format!("{}/v1/{}", self.address, path.trim_start_matches('/'));
        let method = Method::from_bytes(method.as_bytes()).map_err(|e| CallError {
            message: format!("invalid method: {e}"),
            exit_code: super::EXIT_LOCAL_ERROR,
        })?;
        let http = self.http.as_ref().map_err(|e| setup_error(e))?;
        let mut request = http.request(method.clone(), &url);
        if let Some(token) = &self.token {
            request = request.header("X-Vault-Token", token.as_str());
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| CallError {
            message: format!("Error making API request to {url}: {e}"),
            exit_code: super::EXIT_API_ERROR,
        })?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let parsed: Option<Value> = serde_json::from_str(&text).ok();
        if (200..300).contains(&status) {
            return Ok(parsed);
        }
        if status == 404 && error_messages(parsed.as_ref()).is_empty() {
            return Ok(None);
        }
        Err(api_error(&method, &url, status, &text))
    }

    /// A call whose request or answer body is a file (a snapshot): sends
    /// `body` as-is and returns the answer's bytes.
    pub(crate) async fn bytes(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, CallError> {
        let url = format!("{}/v1/{}", self.address, path.trim_start_matches('/'));
        let http = self.http.as_ref().map_err(|e| setup_error(e))?;
        let mut request = http.request(method.clone(), &url);
        if let Some(token) = &self.token {
            request = request.header("X-Vault-Token", token.as_str());
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.map_err(|e| CallError {
            message: format!("Error making API request to {url}: {e}"),
            exit_code: super::EXIT_API_ERROR,
        })?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| CallError {
            message: format!("Error reading the answer from {url}: {e}"),
            exit_code: super::EXIT_API_ERROR,
        })?;
        if (200..300).contains(&status) {
            return Ok(bytes.to_vec());
        }
        Err(api_error(
            &method,
            &url,
            status,
            &String::from_utf8_lossy(&bytes),
        ))
    }
}

/// The `errors` of a Vault error body.
fn error_messages(parsed: Option<&Value>) -> Vec<String> {
    parsed
        .and_then(|v| v.get("errors"))
        .and_then(|e| e.as_array())
        .map(|list| {
            list.iter()
                .filter_map(|m| m.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// An API error as Vault's CLI prints it.
fn api_error(method: &Method, url: &str, status: u16, text: &str) -> CallError {
    let errors = error_messages(serde_json::from_str::<Value>(text).ok().as_ref());
    let listed = if errors.is_empty() {
        text.to_string()
    } else {
        errors
            .iter()
            .map(|e| format!("* {e}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    CallError {
        message: format!(
            "Error making API request.\n\nURL: {method} {url}\nCode: {status}. Errors:\n\n{listed}"
        ),
        exit_code: super::EXIT_API_ERROR,
    }
}
