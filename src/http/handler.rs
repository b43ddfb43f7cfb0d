//! One handler for every `/v1/...` request: method and query to an
//! operation, headers to a token, body to data; then the core's answer to
//! Vault's wire shape. Each request gets a tracing span with its id, path,
//! operation, status and duration, and never its body or token.

use crate::core::Core;
use crate::error::ApiError;
use crate::logical::{Operation, Request, Response};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde_json::{json, Map, Value};
use std::time::Instant;
use tracing::Instrument;
use zeroize::Zeroizing;

/// The largest request body accepted, in bytes.
pub(super) struct BodyLimit(pub(super) usize);

/// The paths whose body is a snapshot file, not JSON.
const SNAPSHOT_UPLOADS: [&str; 3] = [
    "/v1/sys/storage/snapshot",
    "/v1/sys/storage/raft/snapshot",
    "/v1/sys/storage/raft/snapshot-force",
];

/// The largest snapshot upload, in bytes (read only once the token was
/// checked: see `handle`).
const SNAPSHOT_LIMIT: usize = 4 << 30;

fn is_snapshot_upload(http: &HttpRequest) -> bool {
    matches!(http.method().as_str(), "POST" | "PUT") && SNAPSHOT_UPLOADS.contains(&http.path())
}

pub(super) async fn handle(
    http: HttpRequest,
    mut payload: web::Payload,
    core: web::Data<Core>,
    limit: web::Data<BodyLimit>,
    forwarder: web::Data<super::forward::Forwarder>,
) -> HttpResponse {
    let request_id = uuid::Uuid::new_v4().to_string();
    let span = tracing::info_span!(
        "request",
        id = %request_id,
        method = %http.method(),
        path = %http.path(),
        operation = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    async move {
        let started = Instant::now();
        // A snapshot can be larger than any other body: its token is
        // checked before the body is read, so only a caller allowed to
        // restore can make the server hold that much. (A standby, which
        // only forwards, keeps the usual limit.)
        let standby = matches!(core.role(), crate::core::ha::Role::Standby(_));
        let limit = if is_snapshot_upload(&http) && !standby {
            let token = request_token(&http);
            let path = http.path().trim_start_matches("/v1/");
            if let Err(e) = core.preauthorize(Operation::Update, path, token).await {
                return render(Err(e), &request_id);
            }
            SNAPSHOT_LIMIT
        } else {
            limit.0
        };
        let body = read_body(&mut payload, limit).await;
        if let Ok(body) = &body {
            if let Some(response) = super::forward::forwarded(&http, body, &core, &forwarder).await
            {
                tracing::Span::current().record("status", response.status().as_u16());
                tracing::info!(
                    elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                    "request forwarded to the active node"
                );
                return response;
            }
        }
        let outcome = match body {
            Ok(body) => match build_request(&http, &body, request_id.clone(), &core) {
                Ok(req) => {
                    tracing::Span::current()
                        .record("operation", tracing::field::debug(req.operation));
                    core.handle(req).await
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        let response = render(outcome, &request_id);
        let status = response.status().as_u16();
        tracing::Span::current().record("status", status);
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        if status >= 500 {
            tracing::warn!(elapsed_ms, "request failed");
        } else {
            tracing::info!(elapsed_ms, "request done");
        }
        response
    }
    .instrument(span)
    .await
}

async fn read_body(payload: &mut web::Payload, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad(format!("failed to read request body: {e}")))?;
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(ApiError::PayloadTooLarge(format!(
                "request body too large: the limit is {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn build_request(
    http: &HttpRequest,
    body: &[u8],
    id: String,
    core: &Core,
) -> Result<Request, ApiError> {
    let raw_path = http.path();
    let path = raw_path.strip_prefix("/v1/").ok_or_else(|| {
        ApiError::NoHandler(format!(
            "unsupported path {raw_path:?}: API paths start with /v1/"
        ))
    })?;
    let path = crate::policy::path::decode(path).map_err(ApiError::BadRequest)?;
    let query = parse_query(http.query_string());
    // Vault's rule: a non-empty `help` asks for help, whatever the method.
    let help = query
        .get("help")
        .is_some_and(|v| v.as_str().is_none_or(|s| !s.is_empty()));
    let wants_list = query
        .get("list")
        .is_some_and(|v| v.as_str() == Some("true") || v.as_str() == Some("1"));
    let operation = match http.method().as_str() {
        _ if help => Operation::Read,
        // HEAD reads nothing back, so it must not run a read that creates
        // something (a lease, a credential): only health checks answer it.
        "HEAD" if path == "sys/health" => Operation::Read,
        "HEAD" => return Err(ApiError::UnsupportedOperation),
        "GET" if wants_list => Operation::List,
        "GET" => Operation::Read,
        "LIST" => Operation::List,
        "POST" | "PUT" => Operation::Update,
        "DELETE" => Operation::Delete,
        "PATCH" => Operation::Patch,
        _ => return Err(ApiError::UnsupportedOperation),
    };
    let upload = is_snapshot_upload(http).then(|| body.to_vec());
    let mut data = match operation {
        _ if help => Map::new(),
        Operation::Update | Operation::Patch if upload.is_none() => parse_json_body(body)?,
        _ => Map::new(),
    };
    if !help && !matches!(operation, Operation::Update | Operation::Patch) {
        for (key, value) in query {
            if key != "list" {
                data.insert(key, value);
            }
        }
    }
    let token = request_token(http);
    let wrap_ttl = match header(http, "x-vault-wrap-ttl") {
        Some(ttl) => crate::duration::field_seconds(
            Some(&Value::String(ttl.to_string())),
            "X-Vault-Wrap-TTL",
        )
        .map_err(ApiError::BadRequest)?
        .filter(|ttl| *ttl > 0),
        None => None,
    };
    Ok(Request {
        id,
        operation,
        path,
        data,
        token,
        remote_addr: super::forward::client_addr(http, core)?,
        wrap_ttl,
        upload,
        help,
    })
}

/// `X-Vault-Token`, or `Authorization: Bearer`.
fn request_token(http: &HttpRequest) -> Option<Zeroizing<String>> {
    header(http, "x-vault-token").or_else(|| {
        header(http, "authorization").and_then(|h| {
            h.strip_prefix("Bearer ")
                .map(|t| Zeroizing::new(t.trim().to_string()))
        })
    })
}

fn header(http: &HttpRequest, name: &str) -> Option<Zeroizing<String>> {
    http.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| Zeroizing::new(v.to_string()))
}

/// An empty body is `{}`; anything else must be a JSON object.
fn parse_json_body(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(_) => Err(ApiError::bad("request body must be a JSON object")),
        Err(e) => Err(ApiError::bad(format!(
            "failed to parse JSON input: {} at line {} column {}",
            match e.classify() {
                serde_json::error::Category::Eof => "unexpected end of input",
                serde_json::error::Category::Syntax => "syntax error",
                serde_json::error::Category::Data => "invalid data",
                serde_json::error::Category::Io => "read error",
            },
            e.line(),
            e.column()
        ))),
    }
}

fn parse_query(query: &str) -> Map<String, Value> {
    web::Query::<Vec<(String, String)>>::from_query(query)
        .map(|pairs| {
            pairs
                .into_inner()
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect()
        })
        .unwrap_or_default()
}

fn render(outcome: Result<Response, ApiError>, request_id: &str) -> HttpResponse {
    match outcome {
        Ok(response) => render_ok(response, request_id),
        Err(error) => {
            if error.status() >= 500 {
                tracing::warn!(error = %error, "request error");
            }
            let status =
                StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            HttpResponse::build(status).json(json!({ "errors": error.messages() }))
        }
    }
}

fn render_ok(response: Response, request_id: &str) -> HttpResponse {
    let status = |default: u16| {
        StatusCode::from_u16(response.status.unwrap_or(default)).unwrap_or(StatusCode::OK)
    };
    if let Some(text) = response.text {
        return HttpResponse::build(status(200))
            .content_type("text/plain; version=0.0.4")
            .body(text);
    }
    if let Some(raw) = &response.raw {
        return HttpResponse::build(status(200)).json(raw);
    }
    if let Some((content_type, bytes)) = response.bytes {
        return HttpResponse::build(status(200))
            .content_type(content_type)
            .insert_header(("Content-Disposition", "attachment"))
            .body(bytes);
    }
    if response.is_bodiless() {
        return HttpResponse::build(status(204)).finish();
    }
    let (lease_id, lease_duration, renewable) = response.lease_fields();
    let mut body = json!({
        "request_id": request_id,
        "lease_id": lease_id,
        "renewable": renewable,
        "lease_duration": lease_duration,
        "data": response.data,
        "wrap_info": response.wrap_info,
        "warnings": if response.warnings.is_empty() { Value::Null } else { json!(response.warnings) },
        "auth": response.auth,
    });
    if let (true, Some(data), Some(top)) = (
        response.data_at_top_level,
        response.data.as_ref(),
        body.as_object_mut(),
    ) {
        for (key, value) in data {
            top.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    HttpResponse::build(status(200)).json(body)
}
