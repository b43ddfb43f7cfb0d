//! `sys/metrics`: Prometheus text with `format=prometheus`; otherwise a JSON
//! summary (what `qm status` shows). With the listener's
//! `unauthenticated_metrics_access` it needs no token, and a sealed node
//! answers what it has (the seal gauge, request counts, process metrics).

use crate::core::ctx::Ctx;
use crate::core::{Active, Core};
use crate::error::ApiError;
use crate::logical::Response;
use crate::metrics::Counts;
use crate::params::optional_str;
use serde_json::json;

async fn counts(core: &Core, active: &Active) -> Result<Counts, ApiError> {
    if let Some(counts) = core.metrics.fresh_counts() {
        return Ok(counts);
    }
    let started = std::time::Instant::now();
    let (retrying, irrevocable) = active.leases.ledger().failing_counts().await?;
    let counts = Counts {
        by_path: active.leases.ledger().counts_by_path().await?,
        retrying,
        irrevocable,
    };
    core.metrics.remember(&counts, started.elapsed());
    Ok(counts)
}

/// Without a token (the listener allows it): as an authenticated scrape
/// while unsealed, the sealed subset otherwise.
pub(super) async fn unauthenticated(
    core: &Core,
    data: &serde_json::Map<String, serde_json::Value>,
) -> Result<Response, ApiError> {
    let Ok(active) = core.active() else {
        return match format(data)? {
            Format::Prometheus => Ok(text(core.metrics.render_sealed())),
            Format::Json => Ok(Response::json(json!({ "sealed": true }))),
        };
    };
    answer(core, &active, data).await
}

pub(super) async fn handle(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    answer(ctx.core, ctx.active, &ctx.req.data).await
}

enum Format {
    Prometheus,
    Json,
}

fn format(data: &serde_json::Map<String, serde_json::Value>) -> Result<Format, ApiError> {
    match optional_str(data, "format")? {
        Some("prometheus") => Ok(Format::Prometheus),
        None | Some("" | "json") => Ok(Format::Json),
        Some(other) => Err(ApiError::bad(format!(
            "format: {other:?} is not supported; use \"prometheus\" or \"json\""
        ))),
    }
}

fn text(text: String) -> Response {
    Response {
        text: Some(text),
        ..Response::default()
    }
}

async fn answer(
    core: &Core,
    active: &Active,
    data: &serde_json::Map<String, serde_json::Value>,
) -> Result<Response, ApiError> {
    let format = format(data)?;
    let counts = counts(core, active).await?;
    let audit_devices = active.audit.list().len();
    match format {
        Format::Prometheus => {
            let mount_of = |path: &str| {
                active
                    .mounts
                    .route(path)
                    .map(|(mounted, _)| mounted.entry.path)
                    .unwrap_or_default()
            };
            Ok(text(core.metrics.render(counts, mount_of, audit_devices)))
        }
        Format::Json => {
            let (tokens, leases): (Vec<_>, Vec<_>) = counts
                .by_path
                .iter()
                .partition(|(path, _)| path.starts_with("auth/"));
            let total = |items: &[&(String, usize)]| items.iter().map(|(_, n)| n).sum::<usize>();
            Ok(Response::json(json!({
                "leases_active": total(&leases),
                "leases_by_path": leases.iter().map(|(p, n)| (p.clone(), json!(n))).collect::<serde_json::Map<_, _>>(),
                "tokens_active": total(&tokens),
                "leases_revocation_retrying": counts.retrying,
                "leases_irrevocable": counts.irrevocable,
                "audit_devices": audit_devices,
            })))
        }
    }
}
