//! A backend's route table: each route's pattern, operations and synopsis.
//! It answers `?help=1` (`bao path-help PATH`), rendered as Vault renders
//! help text, and makes the backend's part of the OpenAPI document
//! (`sys/internal/specs/openapi`). Static text only: help never runs a
//! handler, so asking for help on `database/creds/app` mints nothing.

use serde_json::{json, Map, Value};

/// An operation a route serves, as the API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// GET.
    Read,
    /// LIST, or GET with `?list=true`.
    List,
    /// POST or PUT.
    Write,
    /// DELETE.
    Delete,
}

/// One route of a backend, below its mount.
pub struct Route {
    /// Segments separated by `/`; `NAME` stands for one segment, `PATH` for
    /// the rest of the path (one segment or more).
    pub pattern: &'static str,
    pub ops: &'static [Op],
    pub synopsis: &'static str,
}

/// A backend's help: what it is, and its routes in the order they match.
pub struct Help {
    pub synopsis: &'static str,
    pub routes: &'static [Route],
}

/// Vault's words above a backend's list of paths.
const PATHS_PREAMBLE: &str = "The following paths are supported by this backend. To view help for
any of the paths below, use the help command with any route matching
the path pattern. Note that depending on the policy of your auth token,
you may or may not be able to access certain paths.";

impl Help {
    /// The text for `relative` (the path below the mount, no leading `/`):
    /// the backend's overview at its root, the first matching route's
    /// text below it, `None` where no route matches.
    pub fn text(&self, relative: &str) -> Option<String> {
        let relative = relative.trim_matches('/');
        if relative.is_empty() {
            let mut text = format!(
                "## DESCRIPTION\n\n{}\n\n## PATHS\n\n{PATHS_PREAMBLE}\n",
                self.synopsis
            );
            for route in self.routes {
                text.push_str(&format!(
                    "\n    {}\n        {}\n",
                    route.pattern, route.synopsis
                ));
            }
            return Some(text);
        }
        let route = self.routes.iter().find(|r| matches(r.pattern, relative))?;
        Some(format!(
            "Request:        {relative}\nMatching Route: {}\n\n{}\n",
            route.pattern, route.synopsis
        ))
    }
}

impl Help {
    /// The backend's OpenAPI 3 path items under `mount` (`secret/`): one
    /// per route (LIST at the route's path with a trailing `/` and
    /// `list=true`), `NAME` and `PATH` as path parameters.
    pub fn openapi_paths(&self, mount: &str) -> Map<String, Value> {
        let mut paths = Map::new();
        for route in self.routes {
            let (template, parameters) = path_template(mount, route.pattern);
            let operation = |method: &str, extra: Option<(&str, Value)>| {
                let mut operation = Map::new();
                operation.insert("summary".into(), json!(route.synopsis));
                operation.insert(
                    "operationId".into(),
                    json!(format!(
                        "{method}-{}",
                        template.trim_matches('/').replace(['/', '{', '}'], "-")
                    )),
                );
                operation.insert(
                    "responses".into(),
                    json!({ "200": { "description": "OK" }, "204": { "description": "empty body" } }),
                );
                operation.extend(extra.map(|(k, v)| (k.to_string(), v)));
                Value::Object(operation)
            };
            let mut item = Map::new();
            item.insert("description".into(), json!(route.synopsis));
            item.insert("parameters".into(), json!(parameters));
            let mut listing = item.clone();
            for op in route.ops {
                match op {
                    Op::Read => {
                        item.insert("get".into(), operation("read", None));
                    }
                    Op::Delete => {
                        item.insert("delete".into(), operation("delete", None));
                    }
                    Op::Write => {
                        let body = json!({
                            "content": { "application/json": { "schema": { "type": "object" } } }
                        });
                        item.insert(
                            "post".into(),
                            operation("write", Some(("requestBody", body))),
                        );
                    }
                    Op::List => {
                        let list = json!([{
                            "name": "list", "in": "query", "required": true,
                            "schema": { "type": "string", "enum": ["true"] }
                        }]);
                        listing.insert("get".into(), operation("list", Some(("parameters", list))));
                    }
                }
            }
            if listing.contains_key("get") {
                paths.insert(format!("{template}/"), Value::Object(listing));
            }
            if item.len() > 2 {
                paths.insert(template, Value::Object(item));
            }
        }
        paths
    }
}

/// `/{mount}{pattern}` with `NAME` and `PATH` as `{name}`, `{name2}`, ...
/// and `{path}`, and their parameter objects.
fn path_template(mount: &str, pattern: &str) -> (String, Vec<Value>) {
    let mut template = format!("/{}", mount.trim_end_matches('/'));
    let mut parameters = Vec::new();
    for part in pattern.split('/') {
        let name = match part {
            "NAME" => match parameters.len() {
                0 => "name".to_string(),
                n => format!("name{}", n.saturating_add(1)),
            },
            "PATH" => "path".to_string(),
            literal => {
                template.push('/');
                template.push_str(literal);
                continue;
            }
        };
        template.push_str(&format!("/{{{name}}}"));
        parameters.push(json!({
            "name": name, "in": "path", "required": true,
            "schema": { "type": "string" }
        }));
    }
    (template, parameters)
}

fn matches(pattern: &str, path: &str) -> bool {
    let mut segments = path.split('/');
    for part in pattern.split('/') {
        match (part, segments.next()) {
            ("PATH", Some(_)) => return true,
            ("NAME", Some(_)) => {}
            (literal, Some(segment)) if literal == segment => {}
            _ => return false,
        }
    }
    segments.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELP: Help = Help {
        synopsis: "A test backend.",
        routes: &[
            Route {
                pattern: "creds/NAME",
                ops: &[Op::Read],
                synopsis: "Issue credentials.",
            },
            Route {
                pattern: "roles",
                ops: &[Op::List],
                synopsis: "List roles.",
            },
            Route {
                pattern: "data/PATH",
                ops: &[Op::Read, Op::Write, Op::Delete],
                synopsis: "A secret.",
            },
        ],
    };

    #[test]
    fn routes_match_by_segment() {
        let text = HELP.text("creds/app").unwrap();
        assert!(text.contains("Matching Route: creds/NAME"), "{text}");
        assert!(text.contains("Issue credentials."));
        assert!(HELP.text("creds/app/x").is_none());
        assert!(HELP.text("creds").is_none());
        assert!(HELP.text("roles").unwrap().contains("List roles."));
        assert!(HELP.text("roles/").unwrap().contains("List roles."));
        assert!(HELP.text("data/a/b/c").unwrap().contains("data/PATH"));
        assert!(HELP.text("data").is_none());
        assert!(HELP.text("nothing").is_none());
    }

    #[test]
    fn the_root_lists_every_route() {
        let text = HELP.text("").unwrap();
        assert!(
            text.starts_with("## DESCRIPTION\n\nA test backend."),
            "{text}"
        );
        for route in HELP.routes {
            assert!(text.contains(route.pattern) && text.contains(route.synopsis));
        }
    }

    #[test]
    fn openapi_paths_follow_the_routes() {
        let paths = HELP.openapi_paths("db/");
        assert!(paths["/db/creds/{name}"]["get"].is_object());
        assert!(paths["/db/creds/{name}"].get("post").is_none());
        assert_eq!(paths["/db/creds/{name}"]["parameters"][0]["name"], "name");
        assert!(paths["/db/roles/"]["get"]["parameters"][0]["name"] == "list");
        assert!(
            paths.get("/db/roles").is_none(),
            "a list-only route has no plain path"
        );
        let data = &paths["/db/data/{path}"];
        assert!(
            data["get"].is_object()
                && data["post"]["requestBody"].is_object()
                && data["delete"].is_object()
        );
        let (template, parameters) = path_template("auth/approle", "role/NAME/secret-id/NAME");
        assert_eq!(template, "/auth/approle/role/{name}/secret-id/{name2}");
        assert_eq!(parameters.len(), 2);
    }
}
