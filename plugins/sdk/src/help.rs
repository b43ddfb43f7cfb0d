//! What a backend answers to `?help=1` (`bao path-help PATH`): a synopsis
//! of the backend and of each of its routes, rendered as Vault renders
//! help text. Static text only: help never runs a handler, so asking for
//! help on `database/creds/app` mints nothing.

/// One route of a backend, below its mount.
pub struct Route {
    /// Segments separated by `/`; `NAME` stands for one segment, `PATH` for
    /// the rest of the path (one segment or more).
    pub pattern: &'static str,
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
                synopsis: "Issue credentials.",
            },
            Route {
                pattern: "roles",
                synopsis: "List roles.",
            },
            Route {
                pattern: "data/PATH",
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
}
