//! The one rule that turns a role's TTLs into a lease's, within the mount's
//! limits. The core applies it to every plan it leases; a plugin that must
//! know the final TTL before the core leases it (to record when its user
//! expires) calls the same function, so the two can never disagree.

/// A lease's TTL and max TTL, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseTtls {
    pub ttl: i64,
    pub max_ttl: i64,
}

/// `ttl` and `max_ttl` as a role or plan asks them (0: not set) clamped to
/// the mount's: max is the role's, never above the mount's; TTL is the
/// role's or else the mount's default, never above that max.
pub fn lease_ttls(ttl: i64, max_ttl: i64, mount_default_ttl: i64, mount_max_ttl: i64) -> LeaseTtls {
    let max_ttl = if max_ttl > 0 {
        max_ttl.min(mount_max_ttl)
    } else {
        mount_max_ttl
    };
    let ttl = if ttl > 0 { ttl } else { mount_default_ttl }.min(max_ttl);
    LeaseTtls { ttl, max_ttl }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_asks_within_the_mount() {
        let t = |ttl, max| lease_ttls(ttl, max, 3600, 86_400);
        assert_eq!(
            t(0, 0),
            LeaseTtls {
                ttl: 3600,
                max_ttl: 86_400
            }
        );
        assert_eq!(
            t(60, 0),
            LeaseTtls {
                ttl: 60,
                max_ttl: 86_400
            }
        );
        assert_eq!(
            t(0, 600),
            LeaseTtls {
                ttl: 600,
                max_ttl: 600
            }
        );
        assert_eq!(
            t(900, 600),
            LeaseTtls {
                ttl: 600,
                max_ttl: 600
            }
        );
        assert_eq!(
            t(200_000, 0),
            LeaseTtls {
                ttl: 86_400,
                max_ttl: 86_400
            }
        );
        assert_eq!(
            t(0, 200_000),
            LeaseTtls {
                ttl: 3600,
                max_ttl: 86_400
            }
        );
    }
}
