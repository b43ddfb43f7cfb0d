//! `qm read|write|list|delete PATH`: any API path.

use super::client::{CallError, Client};
use super::{output, ClientArgs, EXIT_API_ERROR, EXIT_LOCAL_ERROR, EXIT_OK};
use serde_json::{Map, Value};

pub(crate) fn fail(e: CallError) -> i32 {
    eprintln!("{e}");
    e.exit_code
}

/// Prints a response: JSON as-is, or its data (or auth) as a table.
pub(crate) fn print_response(client: &Client, body: &Value) {
    if client.structured() {
        output::structured(client.format, body);
        return;
    }
    if let Some(auth) = body.get("auth").filter(|a| !a.is_null()) {
        output::auth(auth);
        return;
    }
    for warning in body
        .get("warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        eprintln!("WARNING! {}", output::cell(warning));
    }
    let mut rows: Vec<(String, String)> = Vec::new();
    if let Some(lease_id) = body
        .get("lease_id")
        .and_then(Value::as_str)
        .filter(|l| !l.is_empty())
    {
        let duration = body
            .get("lease_duration")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        rows.push(("lease_id".into(), lease_id.to_string()));
        rows.push(("lease_duration".into(), format!("{duration}s")));
        rows.push((
            "lease_renewable".into(),
            body.get("renewable").map(output::cell).unwrap_or_default(),
        ));
    }
    match body.get("data") {
        Some(Value::Object(data)) => {
            let mut fields: Vec<(String, String)> = data
                .iter()
                .map(|(k, v)| (k.clone(), output::cell(v)))
                .collect();
            fields.sort();
            rows.extend(fields);
        }
        // An envelope with nothing but warnings: they are printed already.
        _ if rows.is_empty() && body.get("request_id").is_some() => return,
        _ if rows.is_empty() => {
            if let Value::Object(raw) = body {
                output::map_table(raw);
            }
            return;
        }
        _ => {}
    }
    output::table(&rows);
}

/// `-field=NAME`: one field of an answer, bare, as the Vault CLI prints it:
/// the field of `data`, else of `auth` (`token` is its `client_token`).
fn print_field(body: &Value, field: &str) -> i32 {
    let auth_name = match field {
        "token" => "client_token",
        "token_accessor" => "accessor",
        "token_duration" => "lease_duration",
        "token_renewable" => "renewable",
        "token_policies" => "policies",
        other => other,
    };
    let value = body
        .get("data")
        .and_then(|d| d.get(field))
        .or_else(|| {
            body.get("auth")
                .filter(|a| !a.is_null())
                .and_then(|a| a.get(auth_name))
        })
        .or_else(|| body.get(field).filter(|_| field.starts_with("lease_")));
    print_found(value, field)
}

/// Prints a `-field` value found, or says it is not there (exit 1).
pub(crate) fn print_found(value: Option<&Value>, field: &str) -> i32 {
    match value {
        Some(value) => {
            println!("{}", output::cell(value));
            EXIT_OK
        }
        None => {
            eprintln!("Field {field:?} not present in secret");
            EXIT_LOCAL_ERROR
        }
    }
}

/// Prints an answer, or only `field` of it.
pub(crate) fn print_answer(client: &Client, body: &Value, field: Option<&str>) -> i32 {
    match field {
        Some(field) => print_field(body, field),
        None => {
            print_response(client, body);
            EXIT_OK
        }
    }
}

/// Parses `key=value` pairs, `@file.json`, or `-` (JSON on stdin).
pub(crate) fn parse_pairs(pairs: &[String]) -> Result<Map<String, Value>, String> {
    let mut data = Map::new();
    for pair in pairs {
        if pair == "-" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .map_err(|e| e.to_string())?;
            merge_json(&mut data, &text, "stdin")?;
        } else if let Some(file) = pair.strip_prefix('@') {
            let text = std::fs::read_to_string(file).map_err(|e| format!("reading {file}: {e}"))?;
            merge_json(&mut data, &text, file)?;
        } else {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?} is not key=value"))?;
            let value = match value.strip_prefix('@') {
                Some(file) => {
                    std::fs::read_to_string(file).map_err(|e| format!("reading {file}: {e}"))?
                }
                None => value.to_string(),
            };
            data.insert(key.to_string(), Value::String(value));
        }
    }
    Ok(data)
}

fn merge_json(data: &mut Map<String, Value>, text: &str, source: &str) -> Result<(), String> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => {
            data.extend(map);
            Ok(())
        }
        _ => Err(format!("{source}: expected a JSON object")),
    }
}

pub(crate) async fn read(path: &str, field: Option<&str>, args: &ClientArgs) -> i32 {
    let client = Client::new(args);
    match client.call("GET", path, None).await {
        Ok(Some(body)) => print_answer(&client, &body, field),
        Ok(None) => {
            eprintln!("No value found at {path}");
            EXIT_API_ERROR
        }
        Err(e) => fail(e),
    }
}

pub(crate) async fn write(
    path: &str,
    pairs: &[String],
    field: Option<&str>,
    args: &ClientArgs,
) -> i32 {
    let client = Client::new(args);
    let data = match parse_pairs(pairs) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("Error: {e}");
            return EXIT_LOCAL_ERROR;
        }
    };
    match client.call("PUT", path, Some(Value::Object(data))).await {
        Ok(Some(body)) => print_answer(&client, &body, field),
        Ok(None) => {
            println!("Success! Data written to: {path}");
            EXIT_OK
        }
        Err(e) => fail(e),
    }
}

pub(crate) async fn list(path: &str, args: &ClientArgs) -> i32 {
    let client = Client::new(args);
    match client.call("LIST", path, None).await {
        Ok(Some(body)) if client.structured() => {
            output::structured(client.format, &body);
            EXIT_OK
        }
        Ok(Some(body)) => {
            let keys = body
                .pointer("/data/keys")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            output::keys(&keys);
            EXIT_OK
        }
        Ok(None) => {
            eprintln!("No value found at {path}");
            EXIT_API_ERROR
        }
        Err(e) => fail(e),
    }
}

pub(crate) async fn delete(path: &str, args: &ClientArgs) -> i32 {
    let client = Client::new(args);
    match client.call("DELETE", path, None).await {
        Ok(_) => {
            println!("Success! Data deleted (if it existed) at: {path}");
            EXIT_OK
        }
        Err(e) => fail(e),
    }
}

/// `qm path-help PATH`: the server's help text for the path, as
/// `vault path-help` prints it (`-format=json` prints the whole answer).
pub(crate) async fn path_help(path: &str, args: &ClientArgs) -> i32 {
    let client = Client::new(args);
    // `?` and `#` in the path are its own, not a query or a fragment.
    let escaped = path
        .replace('%', "%25")
        .replace('?', "%3F")
        .replace('#', "%23");
    match client.call("GET", &format!("{escaped}?help=1"), None).await {
        Ok(Some(body)) if client.structured() => {
            output::structured(client.format, &body);
            EXIT_OK
        }
        Ok(Some(body)) => {
            print!("{}", body["help"].as_str().unwrap_or_default());
            EXIT_OK
        }
        Ok(None) => {
            eprintln!("Error: no help for {path}");
            EXIT_API_ERROR
        }
        Err(e) => fail(e),
    }
}

/// `qm unwrap [TOKEN]`: the wrapped response; with no argument the current
/// token is the wrapping token, as with Vault's CLI.
pub(crate) async fn unwrap(token: Option<&str>, field: Option<&str>, args: &ClientArgs) -> i32 {
    let client = Client::new(args);
    let body = token.map(|t| serde_json::json!({ "token": t }));
    match client.call("PUT", "sys/wrapping/unwrap", body).await {
        Ok(Some(body)) => print_answer(&client, &body, field),
        Ok(None) => {
            eprintln!("Error: the wrapping token answered nothing");
            EXIT_API_ERROR
        }
        Err(e) => fail(e),
    }
}
