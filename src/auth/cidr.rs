//! CIDR bounds: lists of networks a secret ID or a token may be used from.

use crate::error::ApiError;
use ipnet::IpNet;
use std::net::IpAddr;

/// Parses a list of CIDR blocks (a bare address counts as a single host).
pub fn parse_list(field: &str, items: &[String]) -> Result<Vec<String>, ApiError> {
    items
        .iter()
        .map(|item| parse(item).map(|net| net.to_string()))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            ApiError::bad(format!(
                "{field}: invalid CIDR block; expected entries such as 10.0.0.0/8 or 127.0.0.1/32"
            ))
        })
}

fn parse(item: &str) -> Option<IpNet> {
    let item = item.trim();
    item.parse::<IpNet>()
        .ok()
        .or_else(|| item.parse::<IpAddr>().ok().map(IpNet::from))
}

/// Whether `addr` is inside one of `bounds`; an empty list allows any address.
pub fn allows(bounds: &[String], addr: Option<IpAddr>) -> bool {
    if bounds.is_empty() {
        return true;
    }
    let Some(addr) = addr else {
        return false;
    };
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    };
    bounds
        .iter()
        .filter_map(|b| parse(b))
        .any(|net| net.contains(&addr))
}

/// Whether every network in `inner` lies inside one of `outer`.
pub fn is_subset(inner: &[String], outer: &[String]) -> bool {
    let outer: Vec<IpNet> = outer.iter().filter_map(|b| parse(b)).collect();
    inner
        .iter()
        .filter_map(|b| parse(b))
        .all(|net| outer.iter().any(|o| o.contains(&net)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        let bounds = parse_list("cidr_list", &["127.0.0.1".into(), "10.0.0.0/8".into()]).unwrap();
        assert_eq!(bounds, vec!["127.0.0.1/32", "10.0.0.0/8"]);
        assert!(allows(&bounds, Some("10.2.3.4".parse().unwrap())));
        assert!(allows(&bounds, Some("::ffff:127.0.0.1".parse().unwrap())));
        assert!(!allows(&bounds, Some("192.168.1.1".parse().unwrap())));
        assert!(!allows(&bounds, None));
        assert!(allows(&[], None));
        assert!(parse_list("cidr_list", &["10.0.0.0/33".into()]).is_err());
        assert!(is_subset(&["10.1.0.0/16".into()], &bounds));
        assert!(!is_subset(&["11.0.0.0/16".into()], &bounds));
    }
}
