//! `{{NAME}}` placeholders, filled from the variables of fetched secrets:
//! `qm agent`'s templates and `qm exec --set NAME=TEMPLATE`.

use std::collections::BTreeMap;

/// Replaces each `{{NAME}}` by its value; unknown names are errors.
pub(crate) fn render(template: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or("a template has \"{{\" without \"}}\"")?;
        let name = after[..end].trim();
        let value = vars
            .get(name)
            .ok_or_else(|| format!("a template uses {{{{{name}}}}}, which no secret fills"))?;
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_unknown_names_refused() {
        let vars = BTreeMap::from([
            ("U".to_string(), "v-a".to_string()),
            ("P".to_string(), "p'w".to_string()),
        ]);
        assert_eq!(
            render("postgres://{{U}}:{{ P }}@db/app", &vars).unwrap(),
            "postgres://v-a:p'w@db/app"
        );
        assert!(render("{{NOPE}}", &vars).unwrap_err().contains("NOPE"));
        assert!(render("{{U", &vars).is_err());
    }
}
