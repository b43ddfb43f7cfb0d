//! The CLI's HTTP client: address and token from flags or the environment
//! (`QM_ADDR`/`QM_TOKEN`, then `VAULT_ADDR`/`VAULT_TOKEN`, then
//! `~/.vault-token`), and API errors printed the way the Vault CLI does.

use super::ClientArgs;
use reqwest::Method;
use serde_json::Value;
use zeroize::Zeroizing;

pub(crate) struct Client {
    http: reqwest::Client,
    address: String,
    token: Option<Zeroizing<String>>,
    pub(crate) json: bool,
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
        let insecure = env_first(&["QM_SKIP_VERIFY", "VAULT_SKIP_VERIFY"])
            .is_some_and(|v| v == "1" || v == "true");
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(insecure)
            .build()
            .unwrap_or_default();
        Self {
            http,
            address: address.trim_end_matches('/').to_string(),
            token,
            json: args.format == "json",
        }
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
        let mut request = self.http.get(&url);
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
        let mut request = self.http.request(method.clone(), &url);
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
        let mut request = self.http.request(method.clone(), &url);
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
