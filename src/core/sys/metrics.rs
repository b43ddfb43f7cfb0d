//! `sys/metrics`: Prometheus text with `format=prometheus`; otherwise a JSON
//! summary (what `qm status` shows).

use crate::core::ctx::Ctx;
use crate::error::ApiError;
use crate::logical::Response;
use crate::metrics::Counts;
use crate::params::optional_str;
use serde_json::json;

async fn counts(ctx: &Ctx<'_>) -> Result<Counts, ApiError> {
    if let Some(counts) = ctx.core.metrics.fresh_counts() {
        return Ok(counts);
    }
    let started = std::time::Instant::now();
    let (retrying, irrevocable) = ctx.active.leases.ledger().failing_counts().await?;
    let counts = Counts {
        by_path: ctx.active.leases.ledger().counts_by_path().await?,
        retrying,
        irrevocable,
    };
    ctx.core.metrics.remember(&counts, started.elapsed());
    Ok(counts)
}

pub(super) async fn handle(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    let counts = counts(ctx).await?;
    let audit_devices = ctx.active.audit.list().len();
    match optional_str(&ctx.req.data, "format")? {
        Some("prometheus") => {
            let mount_of = |path: &str| {
                ctx.active
                    .mounts
                    .route(path)
                    .map(|(mounted, _)| mounted.entry.path)
                    .unwrap_or_default()
            };
            let text = ctx.core.metrics.render(counts, mount_of, audit_devices);
            Ok(Response {
                text: Some(text),
                ..Response::default()
            })
        }
        None | Some("" | "json") => {
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
        Some(other) => Err(ApiError::bad(format!(
            "format: {other:?} is not supported; use \"prometheus\" or \"json\""
        ))),
    }
}
