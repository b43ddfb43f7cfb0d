//! The signing keys a JWT mount trusts: parsed from its config, or fetched
//! from a JWKS URL (directly or through OIDC discovery) and cached.

use super::config::JwtConfig;
use super::validate::KeySet;
use crate::error::ApiError;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long fetched keys are used before they are fetched again.
const FRESH_FOR: Duration = Duration::from_secs(300);
/// A failed login refetches keys at most this often (key rotation).
const REFETCH_AFTER: Duration = Duration::from_secs(10);
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
pub(super) struct KeyCache {
    // A std lock: held to clone an Arc, never across an await.
    fetched: RwLock<Option<(Arc<KeySet>, Instant)>>,
}

impl KeyCache {
    /// The keys for `config`; `reload` ignores the cache.
    pub(super) async fn load(
        &self,
        config: &JwtConfig,
        reload: bool,
    ) -> Result<Arc<KeySet>, ApiError> {
        if let Some(keys) = config.static_keys()? {
            return Ok(Arc::new(keys));
        }
        if !reload {
            if let Some((keys, at)) = self.cached() {
                if at.elapsed() < FRESH_FOR {
                    return Ok(keys);
                }
            }
        }
        self.fetch(config).await
    }

    /// Fetches again when the cached keys are older than a few seconds;
    /// `None` when there is nothing newer to try.
    pub(super) async fn refresh_if_stale(
        &self,
        config: &JwtConfig,
    ) -> Result<Option<Arc<KeySet>>, ApiError> {
        match self.cached() {
            Some((_, at)) if at.elapsed() >= REFETCH_AFTER => self.fetch(config).await.map(Some),
            _ => Ok(None),
        }
    }

    fn cached(&self) -> Option<(Arc<KeySet>, Instant)> {
        self.fetched.read().ok().and_then(|c| c.clone())
    }

    async fn fetch(&self, config: &JwtConfig) -> Result<Arc<KeySet>, ApiError> {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|e| ApiError::Internal(format!("HTTP client: {e}")))?;
        let jwks_url = match (&config.jwks_url, &config.oidc_discovery_url) {
            (Some(url), _) => url.clone(),
            (None, Some(issuer)) => discover_jwks_url(&client, issuer).await?,
            (None, None) => return Err(ApiError::bad("no keys configured")),
        };
        let document = get_text(&client, &jwks_url).await?;
        let keys = Arc::new(
            KeySet::from_jwks(&document)
                .map_err(|e| ApiError::bad(format!("JWKS at {jwks_url}: {e}")))?,
        );
        if let Ok(mut slot) = self.fetched.write() {
            *slot = Some((Arc::clone(&keys), Instant::now()));
        }
        Ok(keys)
    }
}

async fn get_text(client: &reqwest::Client, url: &str) -> Result<String, ApiError> {
    let fail = |e: String| ApiError::BadGateway(format!("fetching {url}: {e}"));
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    if !response.status().is_success() {
        return Err(fail(format!("status {}", response.status())));
    }
    response.text().await.map_err(|e| fail(e.to_string()))
}

async fn discover_jwks_url(client: &reqwest::Client, issuer: &str) -> Result<String, ApiError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let document: serde_json::Value = serde_json::from_str(&get_text(client, &url).await?)
        .map_err(|_| ApiError::BadGateway(format!("{url}: not a JSON document")))?;
    document
        .get("jwks_uri")
        .and_then(serde_json::Value::as_str)
        .map(String::from)
        .ok_or_else(|| ApiError::BadGateway(format!("{url}: no jwks_uri")))
}
