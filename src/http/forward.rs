//! Request forwarding: a standby hands every request it cannot answer
//! itself to the active node, unchanged (method, path, query, headers,
//! body), and relays the answer, so a client pointed at any node of a
//! cluster just works.
//!
//! The client's address travels in `X-Forwarded-For`, which the active node
//! believes only when the request also carries `X-Qm-Forwarded`: a
//! timestamp and an HMAC-SHA256 over it, the method, the path with its
//! query, and that address, keyed with the cluster's forwarding key (kept
//! in the barrier, so only unsealed nodes of this cluster have it). Audit
//! lines and CIDR-bound tokens thus see the real client, and no client can
//! claim another address by sending the header itself.

use crate::core::ha::Role;
use crate::core::Core;
use crate::error::ApiError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The header that proves a request was forwarded by a node of the cluster.
const FORWARDED: &str = "x-qm-forwarded";

/// How old a forwarded request's signature may be, in seconds.
const MAX_AGE: i64 = 60;

/// How long a standby keeps trying while the active node changes (its old
/// address refuses connections until a standby has taken over).
const FAILOVER_WAIT: Duration = Duration::from_secs(5);

/// Headers that belong to one connection, not to the request.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "content-length",
    "x-forwarded-for",
    FORWARDED,
];

/// Paths a standby answers itself: its own seal state and health.
fn served_locally(path: &str) -> bool {
    matches!(
        path,
        "sys/health" | "sys/leader" | "sys/seal-status" | "sys/unseal" | "sys/init"
    )
}

/// The HTTP client standbys forward with.
pub(super) struct Forwarder {
    client: reqwest::Client,
}

impl Forwarder {
    /// Trusts the system roots and, for clusters with their own CA, every
    /// certificate of this node's own chain (as the listener loaded it: the
    /// file is not read again, so a file changed after start-up waits for
    /// SIGHUP like the listener).
    pub(super) fn new(
        own_chain: &[rustls::pki_types::CertificateDer<'_>],
    ) -> std::io::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(64);
        for der in own_chain {
            let cert = reqwest::Certificate::from_der(der)
                .map_err(|e| std::io::Error::other(format!("the listener's certificate: {e}")))?;
            builder = builder.add_root_certificate(cert);
        }
        let client = builder
            .build()
            .map_err(|e| std::io::Error::other(format!("the forwarding client: {e}")))?;
        Ok(Self { client })
    }
}

fn signature(key: &[u8], ts: i64, method: &str, path: &str, client: &str) -> Option<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(format!("{ts}\n{method}\n{path}\n{client}").as_bytes());
    Some(hex::encode(mac.finalize().into_bytes()))
}

fn path_and_query(http: &HttpRequest) -> String {
    http.uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| http.path().to_string())
}

/// The client's address: the peer's, or, on a request forwarded by a node
/// of this cluster, the one it signed. A forwarding header that does not
/// verify is refused.
pub(super) fn client_addr(http: &HttpRequest, core: &Core) -> Result<Option<IpAddr>, ApiError> {
    let peer = http.peer_addr().map(|a| a.ip());
    let Some(proof) = http.headers().get(FORWARDED) else {
        return Ok(peer);
    };
    let refused = || ApiError::bad("invalid X-Qm-Forwarded header: not forwarded by this cluster");
    let key = core
        .ha()
        .and_then(|ha| ha.forwarding_key())
        .ok_or_else(refused)?;
    let proof = proof.to_str().map_err(|_| refused())?;
    let (ts, mac) = proof.split_once(' ').ok_or_else(refused)?;
    let ts: i64 = ts.parse().map_err(|_| refused())?;
    if core.clock.now_unix().abs_diff(ts) > MAX_AGE.unsigned_abs() {
        return Err(refused());
    }
    let client = http
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let expected = signature(
        &key,
        ts,
        http.method().as_str(),
        &path_and_query(http),
        client,
    )
    .ok_or_else(refused)?;
    if !constant_time_eq(expected.as_bytes(), mac.as_bytes()) {
        return Err(refused());
    }
    client.parse().map(Some).map_err(|_| refused())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Forwards the request when this node is a standby that knows the active
/// node; `None`: answer it here (active, single, a local path, or no
/// active node to forward to, which the core answers with a 503).
pub(super) async fn forwarded(
    http: &HttpRequest,
    body: &[u8],
    core: &Core,
    forwarder: &Forwarder,
) -> Option<HttpResponse> {
    let path = http.path().strip_prefix("/v1/")?;
    if served_locally(path) || http.headers().contains_key(FORWARDED) {
        return None;
    }
    let key = core.ha()?.forwarding_key()?;
    let deadline = Instant::now().checked_add(FAILOVER_WAIT)?;
    loop {
        let Role::Standby(Some(active)) = core.role() else {
            return None;
        };
        let now = core.clock.now_unix();
        match send(http, body, &active, &key, now, forwarder).await {
            Ok(response) => return Some(response),
            Err(e) if e.is_connect() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if let Some(ha) = core.ha() {
                    ha.refresh_leader();
                }
            }
            Err(e) => {
                tracing::warn!(active = %active, error = %e, "forwarding to the active node failed");
                let error = ApiError::Standby(format!(
                    "this node is a standby and could not reach the active node at {active}"
                ));
                return Some(
                    HttpResponse::build(StatusCode::SERVICE_UNAVAILABLE)
                        .json(serde_json::json!({ "errors": error.messages() })),
                );
            }
        }
    }
}

async fn send(
    http: &HttpRequest,
    body: &[u8],
    active: &str,
    key: &[u8],
    ts: i64,
    forwarder: &Forwarder,
) -> Result<HttpResponse, reqwest::Error> {
    let target = path_and_query(http);
    let url = format!("{}{target}", active.trim_end_matches('/'));
    let method = reqwest::Method::from_bytes(http.method().as_str().as_bytes())
        .unwrap_or(reqwest::Method::GET);
    let client = http
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let mut request = forwarder.client.request(method, url);
    for (name, value) in http.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            request = request.header(name.as_str(), value.as_bytes());
        }
    }
    if let Some(mac) = signature(key, ts, http.method().as_str(), &target, &client) {
        request = request
            .header("x-forwarded-for", client)
            .header(FORWARDED, format!("{ts} {mac}"));
    }
    let answer = request.body(body.to_vec()).send().await?;
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = HttpResponse::build(status);
    for (name, value) in answer.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            response.insert_header((name.as_str(), value.as_bytes()));
        }
    }
    let bytes = answer.bytes().await?;
    Ok(response.body(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_binds_every_field() {
        let key = [7u8; 32];
        let base = signature(&key, 100, "GET", "/v1/a", "10.0.0.1").expect("mac");
        assert_ne!(
            base,
            signature(&key, 101, "GET", "/v1/a", "10.0.0.1").expect("mac")
        );
        assert_ne!(
            base,
            signature(&key, 100, "PUT", "/v1/a", "10.0.0.1").expect("mac")
        );
        assert_ne!(
            base,
            signature(&key, 100, "GET", "/v1/b", "10.0.0.1").expect("mac")
        );
        assert_ne!(
            base,
            signature(&key, 100, "GET", "/v1/a", "10.0.0.2").expect("mac")
        );
        assert_ne!(
            base,
            signature(&[8u8; 32], 100, "GET", "/v1/a", "10.0.0.1").expect("mac")
        );
        assert!(constant_time_eq(base.as_bytes(), base.as_bytes()));
        assert!(!constant_time_eq(base.as_bytes(), b"short"));
    }

    #[test]
    fn only_the_nodes_own_state_is_served_locally() {
        assert!(served_locally("sys/health"));
        assert!(served_locally("sys/unseal"));
        assert!(!served_locally("sys/mounts"));
        assert!(!served_locally("database/creds/app"));
        assert!(!served_locally("sys/ha-status"));
    }
}
