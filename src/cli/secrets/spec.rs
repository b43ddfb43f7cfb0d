//! Which secrets `qm exec` and `qm agent` fetch and which environment variables they
//! fill: `--env NAME=PATH#FIELD`, `--env NAME1,NAME2=PATH` (fields in the
//! engine's order: username, password for database credentials; access key,
//! secret key, session token for AWS), `--aws PATH`, or a TOML file:
//!
//! ```toml
//! [[secret]]
//! path = "database/creds/app-ro"
//! env = { PGUSER = "username", PGPASSWORD = "password" }
//! ```

use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One variable filled from a secret: a named field, or the next field in
/// the engine's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Binding {
    pub(crate) env: String,
    pub(crate) field: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SecretSpec {
    pub(crate) path: String,
    pub(crate) bindings: Vec<Binding>,
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    secret: Vec<FileSecret>,
}

#[derive(Deserialize)]
struct FileSecret {
    path: String,
    env: BTreeMap<String, String>,
}

fn valid_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn add(specs: &mut Vec<SecretSpec>, path: &str, binding: Binding) -> Result<(), String> {
    if !valid_env_name(&binding.env) {
        return Err(format!("{:?} is not a valid variable name", binding.env));
    }
    let path = path.trim().trim_matches('/');
    if path.is_empty() {
        return Err(format!("no secret path for {}", binding.env));
    }
    match specs.iter_mut().find(|s| s.path == path) {
        Some(spec) => spec.bindings.push(binding),
        None => specs.push(SecretSpec {
            path: path.to_string(),
            bindings: vec![binding],
        }),
    }
    Ok(())
}

/// Parses `--env` flags, `--aws` paths and an optional TOML file.
pub(crate) fn parse(
    env_flags: &[String],
    aws_paths: &[String],
    file: Option<&str>,
) -> Result<Vec<SecretSpec>, String> {
    let mut specs = Vec::new();
    for flag in env_flags {
        let (names, target) = flag.split_once('=').ok_or_else(|| {
            format!("--env {flag:?}: expected NAME=PATH#FIELD or NAME1,NAME2=PATH")
        })?;
        let (path, field) = match target.split_once('#') {
            Some((path, field)) => (path, Some(field.to_string())),
            None => (target, None),
        };
        let names: Vec<&str> = names.split(',').map(str::trim).collect();
        if field.is_some() && names.len() > 1 {
            return Err(format!("--env {flag:?}: one variable per #FIELD"));
        }
        for name in names {
            add(
                &mut specs,
                path,
                Binding {
                    env: name.into(),
                    field: field.clone(),
                },
            )?;
        }
    }
    for path in aws_paths {
        for (env, field) in [
            ("AWS_ACCESS_KEY_ID", "access_key"),
            ("AWS_SECRET_ACCESS_KEY", "secret_key"),
            ("AWS_SESSION_TOKEN", "security_token"),
        ] {
            add(
                &mut specs,
                path,
                Binding {
                    env: env.into(),
                    field: Some(field.into()),
                },
            )?;
        }
    }
    if let Some(text) = file {
        let parsed: File = toml::from_str(text).map_err(|e| format!("the secrets file: {e}"))?;
        for secret in parsed.secret {
            for (env, field) in secret.env {
                add(
                    &mut specs,
                    &secret.path,
                    Binding {
                        env,
                        field: Some(field),
                    },
                )?;
            }
        }
    }
    if specs.is_empty() {
        return Err(
            "nothing to fetch: give --env NAME=PATH#FIELD, --aws PATH or --secrets FILE".into(),
        );
    }
    Ok(specs)
}

/// The fields a secret's positional variables take, in order.
fn field_order(data: &Map<String, Value>) -> Option<&'static [&'static str]> {
    if data.contains_key("username") && data.contains_key("password") {
        Some(&["username", "password"])
    } else if data.contains_key("access_key") {
        Some(&["access_key", "secret_key", "security_token"])
    } else {
        None
    }
}

/// The values of a fetched secret's variables. KV v2 answers are unwrapped
/// to their `data.data`.
pub(crate) fn resolve(
    spec: &SecretSpec,
    data: &Map<String, Value>,
) -> Result<Vec<(String, String)>, String> {
    let data = match (data.get("data"), data.get("metadata")) {
        (Some(Value::Object(inner)), Some(Value::Object(_))) => inner,
        _ => data,
    };
    let order = field_order(data);
    let mut next = 0;
    spec.bindings
        .iter()
        .map(|binding| {
            let field = match &binding.field {
                Some(field) => field.as_str(),
                None => {
                    let field = order.and_then(|o| o.get(next)).ok_or_else(|| {
                        format!(
                            "{}: name the field, as {}={}#FIELD",
                            spec.path, binding.env, spec.path
                        )
                    })?;
                    next += 1;
                    field
                }
            };
            let value = match data.get(field) {
                Some(Value::String(text)) => text.clone(),
                Some(Value::Null) | None => {
                    return Err(format!("{}: the secret has no field {field:?}", spec.path))
                }
                Some(other) => other.to_string(),
            };
            Ok((binding.env.clone(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flags_group_by_path_and_fields_resolve() {
        let specs = parse(
            &[
                "PGUSER,PGPASSWORD=database/creds/app".into(),
                "TOKEN=secret/data/x#token".into(),
            ],
            &["aws/creds/deploy".into()],
            Some("[[secret]]\npath = \"secret/data/x\"\nenv = { OTHER = \"other\" }\n"),
        )
        .unwrap();
        assert_eq!(specs.len(), 3);
        let db = json!({"username": "v-a", "password": "p"});
        let vars = resolve(&specs[0], db.as_object().unwrap()).unwrap();
        assert_eq!(
            vars,
            vec![
                ("PGUSER".into(), "v-a".into()),
                ("PGPASSWORD".into(), "p".into())
            ]
        );
        let kv = json!({"data": {"token": "t", "other": 4}, "metadata": {}});
        let vars = resolve(&specs[1], kv.as_object().unwrap()).unwrap();
        assert_eq!(
            vars,
            vec![("TOKEN".into(), "t".into()), ("OTHER".into(), "4".into())]
        );
        assert!(resolve(&specs[1], json!({}).as_object().unwrap()).is_err());
        assert!(parse(&["1BAD=x#y".into()], &[], None).is_err());
        assert!(parse(&[], &[], None).is_err());
    }
}
