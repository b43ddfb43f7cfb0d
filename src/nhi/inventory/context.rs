//! The facts a listing gathers once and shares between identities: which
//! owners were offboarded, each policy's rules, and the risk weights.

use super::Sources;
use crate::error::ApiError;
use crate::nhi::RiskWeights;
use crate::policy::Capabilities;
use std::collections::HashMap;

/// Requests seen before "only reads" says something.
const ENOUGH_REQUESTS: u64 = 10;

/// Facts gathered once per listing.
pub(super) struct Context<'a> {
    pub(super) src: &'a Sources<'a>,
    pub(super) now: i64,
    offboarded: HashMap<String, bool>,
    policy_rules: HashMap<String, Vec<(String, Capabilities)>>,
    pub(super) weights: &'a RiskWeights,
}

impl<'a> Context<'a> {
    pub(super) fn new(src: &'a Sources<'a>) -> Self {
        Self {
            src,
            now: src.now,
            offboarded: HashMap::new(),
            policy_rules: HashMap::new(),
            weights: src.weights,
        }
    }

    pub(super) async fn owner_gone(&mut self, owner: &str) -> Result<bool, ApiError> {
        if let Some(gone) = self.offboarded.get(owner) {
            return Ok(*gone);
        }
        let gone = self.src.nhi.offboarded(owner).await?.is_some();
        self.offboarded.insert(owner.to_string(), gone);
        Ok(gone)
    }

    /// Whether the workload's policies allow writes it never made.
    pub(super) fn unused_writes(&self, id: &str, permissions: &[String]) -> Option<(u32, String)> {
        let (seen, writes) = self.src.nhi.drift.usage(id)?;
        let allows_writes = permissions.iter().any(|line| {
            let caps = line.rsplit(": ").next().unwrap_or_default();
            caps.split(',')
                .any(|c| matches!(c, "create" | "update" | "delete" | "patch" | "root"))
        });
        (allows_writes && seen >= ENOUGH_REQUESTS && writes == 0).then(|| {
            (
                self.weights.unused_write,
                format!(
                    "its policies allow writes, but its {seen} requests since start were all reads"
                ),
            )
        })
    }

    /// "path: capabilities" lines for policies, and whether any is broad.
    pub(super) async fn policy_permissions(
        &mut self,
        names: &[String],
    ) -> Result<(Vec<String>, Option<String>), ApiError> {
        let mut lines = Vec::new();
        let mut broad = None;
        for name in names {
            if name == "root" {
                broad = Some("holds the root policy".to_string());
                lines.push("*: root".into());
                continue;
            }
            if !self.policy_rules.contains_key(name) {
                let rules = match self.src.policies.get(name).await? {
                    Some(policy) => policy
                        .rules
                        .iter()
                        .map(|r| (r.pattern.clone(), r.capabilities))
                        .collect(),
                    None => Vec::new(),
                };
                self.policy_rules.insert(name.clone(), rules);
            }
            for (pattern, caps) in self.policy_rules.get(name).into_iter().flatten() {
                lines.push(format!("{pattern}: {}", caps.names().join(",")));
                if broad.is_none() && (pattern == "*" || caps.contains(Capabilities::SUDO)) {
                    broad = Some(format!(
                        "policy {name:?} grants {pattern:?} ({})",
                        caps.names().join(",")
                    ));
                }
            }
        }
        Ok((lines, broad))
    }
}
