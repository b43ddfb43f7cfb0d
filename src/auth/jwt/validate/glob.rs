//! The glob patterns of `bound_claims_type = "glob"`: `*` matches any run of
//! characters, including none; there is no other special character.

/// `*` matches any run of characters; everything else is literal.
pub(super) fn glob_match(pattern: &str, value: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = value.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => {
                rest = rest
                    .get(at.saturating_add(part.len())..)
                    .unwrap_or_default()
            }
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn glob_matching() {
        for (pattern, value) in [
            ("*", ""),
            ("a*", "a"),
            ("*b", "ab"),
            ("a*b*c", "aXbYc"),
            ("a*a", "aa"),
            ("x", "x"),
        ] {
            assert!(glob_match(pattern, value), "{pattern} ~ {value}");
        }
        for (pattern, value) in [
            ("a*", "b"),
            ("*b", "ba"),
            ("ab*b", "ab"),
            ("a*b*c", "acb"),
            ("x", "xy"),
            ("a.c", "abc"),
        ] {
            assert!(!glob_match(pattern, value), "{pattern} !~ {value}");
        }
    }
}
