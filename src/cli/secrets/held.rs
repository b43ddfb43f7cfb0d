//! The credentials `qm exec` (or `qm agent`) holds: the leases, the values
//! they put in the environment (and in `$QM_SECRETS_FILE`), and when each
//! needs attention next (renewal at two-thirds of its TTL, or replacement
//! when it cannot be renewed further).

use super::spec::{self, SecretSpec};
use crate::cli::client::Client;
use crate::cli::login::Session;
use nix::sys::signal::Signal;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::time::Instant;

/// How long a failed renewal or replacement waits before trying again.
const RETRY: Duration = Duration::from_secs(5);
/// "Never" for secrets without a lease.
const FAR: Duration = Duration::from_secs(365 * 24 * 3600);

struct Lease {
    spec: SecretSpec,
    lease_id: String,
    /// The TTL it was issued with; each renewal asks for as much again.
    ttl: i64,
    renewable: bool,
    /// Renewal was capped: next time, replace it.
    last: bool,
    due: Instant,
}

pub(crate) struct Held {
    pub(crate) session: Session,
    token_due: Option<Instant>,
    leases: Vec<Lease>,
    /// Leases replaced by newer ones; revoked at the end.
    retired: Vec<String>,
    vars: BTreeMap<String, String>,
    /// Variables computed from others (`--set NAME=TEMPLATE`).
    derived: Vec<(String, String)>,
    /// A private directory for `$QM_SECRETS_FILE` (`qm exec` only).
    dir: Option<PathBuf>,
}

fn two_thirds(seconds: i64) -> Duration {
    Duration::from_millis(u64::try_from(seconds.max(1)).unwrap_or(1) * 2000 / 3)
}

/// Sends `sig` to the command.
pub(crate) fn forward(child: &tokio::process::Child, sig: Signal) {
    if let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
    }
}

/// Writes `text` to `path` with mode 0600, atomically (through `staged`).
pub(crate) fn write_private(
    staged: &std::path::Path,
    path: &std::path::Path,
    text: &str,
) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(staged)?;
    file.write_all(text.as_bytes())?;
    std::fs::rename(staged, path)
}

/// A secret's value as a shell-quoted assignment.
fn assignment(name: &str, value: &str) -> String {
    format!("{name}='{}'\n", value.replace('\'', "'\\''"))
}

async fn issue(
    client: &Client,
    spec: &SecretSpec,
) -> Result<(Lease, Vec<(String, String)>), String> {
    // STS sessions with parameters are written; everything else is read.
    let method = if spec.path.split('/').nth(1) == Some("sts") {
        "PUT"
    } else {
        "GET"
    };
    let answer = client
        .call(method, &spec.path, None)
        .await
        .map_err(|e| format!("fetching {}: {e}", spec.path))?
        .ok_or_else(|| format!("fetching {}: nothing there", spec.path))?;
    let data = answer["data"]
        .as_object()
        .ok_or_else(|| format!("fetching {}: the answer has no data", spec.path))?;
    let vars = spec::resolve(spec, data)?;
    let lease_id = answer["lease_id"].as_str().unwrap_or_default().to_string();
    let ttl = answer["lease_duration"].as_i64().unwrap_or(0);
    let due = if lease_id.is_empty() || ttl <= 0 {
        Instant::now() + FAR
    } else {
        Instant::now() + two_thirds(ttl)
    };
    let lease = Lease {
        spec: spec.clone(),
        lease_id,
        ttl,
        renewable: answer["renewable"].as_bool().unwrap_or(false),
        last: false,
        due,
    };
    Ok((lease, vars))
}

impl Held {
    /// Fetches every secret; on any failure, gives back what was fetched.
    /// `secrets_file`: also keep the values in a private file for the command.
    pub(crate) async fn fetch(
        client: &Client,
        specs: Vec<SecretSpec>,
        session: Session,
        derived: Vec<(String, String)>,
        secrets_file: bool,
    ) -> Result<Self, String> {
        let dir = if secrets_file {
            use std::os::unix::fs::DirBuilderExt;
            let dir = std::env::temp_dir().join(format!("qm-exec-{}", uuid::Uuid::new_v4()));
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            Some(dir)
        } else {
            None
        };
        let token_due = (session.renewable && session.ttl > 0)
            .then(|| Instant::now() + two_thirds(session.ttl));
        let mut held = Self {
            session,
            token_due,
            leases: Vec::new(),
            retired: Vec::new(),
            vars: BTreeMap::new(),
            derived,
            dir,
        };
        for spec in &specs {
            match issue(client, spec).await {
                Ok((lease, vars)) => {
                    held.vars.extend(vars);
                    held.leases.push(lease);
                }
                Err(message) => {
                    held.release(client, true).await;
                    return Err(message);
                }
            }
        }
        if let Err(message) = held.derive() {
            held.release(client, true).await;
            return Err(message);
        }
        if let Err(e) = held.write_file() {
            held.release(client, true).await;
            return Err(format!("cannot write the secrets file: {e}"));
        }
        Ok(held)
    }

    /// Computes the derived variables from the fetched ones.
    fn derive(&mut self) -> Result<(), String> {
        for (name, template) in &self.derived {
            let value = super::template::render(template, &self.vars)?;
            self.vars.insert(name.clone(), value);
        }
        Ok(())
    }

    /// The current values, by variable name.
    pub(crate) fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }

    fn file(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join("secrets.env"))
    }

    fn write_file(&self) -> std::io::Result<()> {
        let (Some(dir), Some(file)) = (&self.dir, self.file()) else {
            return Ok(());
        };
        let text: String = self.vars.iter().map(|(k, v)| assignment(k, v)).collect();
        write_private(&dir.join("secrets.env.new"), &file, &text)
    }

    /// Starts the command with the secrets in its environment and without
    /// the `withheld` variables (exec's own credentials); on failure
    /// the exit code a shell would give (127 not found, 126 not runnable).
    pub(crate) fn spawn(
        &self,
        command: &[String],
        withheld: &[String],
    ) -> Result<tokio::process::Child, i32> {
        let (program, rest) = command.split_first().ok_or(127)?;
        let mut command = tokio::process::Command::new(program);
        command.args(rest);
        for name in withheld {
            command.env_remove(name);
        }
        command.envs(&self.vars);
        if let Some(file) = self.file() {
            command.env("QM_SECRETS_FILE", file);
        }
        command.spawn().map_err(|e| {
            eprintln!("qm exec: cannot run {program:?}: {e}");
            if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            }
        })
    }

    /// When something next needs attention.
    pub(crate) fn next_due(&self) -> Instant {
        self.leases
            .iter()
            .map(|l| l.due)
            .chain(self.token_due)
            .min()
            .unwrap_or_else(|| Instant::now() + FAR)
    }

    /// Renews or replaces what is due; true when values changed.
    pub(crate) async fn maintain(&mut self, client: &Client) -> bool {
        let now = Instant::now();
        if self.token_due.is_some_and(|due| due <= now) {
            self.token_due = Some(
                match client
                    .call("PUT", "auth/token/renew-self", Some(json!({})))
                    .await
                {
                    Ok(Some(answer)) => {
                        now + two_thirds(answer["auth"]["lease_duration"].as_i64().unwrap_or(0))
                    }
                    _ => {
                        eprintln!("qm exec: renewing the token failed; retrying");
                        now + RETRY
                    }
                },
            );
        }
        let mut changed = false;
        for index in 0..self.leases.len() {
            if self.leases[index].due > now {
                continue;
            }
            if self.leases[index].renewable
                && !self.leases[index].last
                && self.renew(client, index).await
            {
                continue;
            }
            match issue(client, &self.leases[index].spec).await {
                Ok((fresh, vars)) => {
                    let old = std::mem::replace(&mut self.leases[index], fresh);
                    self.retired.push(old.lease_id);
                    self.vars.extend(vars);
                    changed = true;
                }
                Err(message) => {
                    eprintln!("qm exec: replacing a credential failed ({message}); retrying");
                    self.leases[index].due = now + RETRY;
                }
            }
        }
        if changed {
            if let Err(message) = self.derive() {
                eprintln!("qm exec: {message}");
            }
            if let Err(e) = self.write_file() {
                eprintln!("qm exec: cannot write the secrets file: {e}");
            }
        }
        changed
    }

    /// Renews one lease; false when it must be replaced now.
    async fn renew(&mut self, client: &Client, index: usize) -> bool {
        let lease = &mut self.leases[index];
        let body = json!({ "lease_id": lease.lease_id, "increment": lease.ttl });
        let granted = match client.call("PUT", "sys/leases/renew", Some(body)).await {
            Ok(Some(answer)) => answer["lease_duration"].as_i64().unwrap_or(0),
            _ => return false,
        };
        if granted <= 1 {
            return false;
        }
        lease.last = granted < lease.ttl;
        lease.due = Instant::now() + two_thirds(granted);
        true
    }

    /// Gives everything back: revokes the leases (and a token this process
    /// logged in for) unless told not to; removes the secrets file.
    pub(crate) async fn release(&self, client: &Client, revoke: bool) {
        if revoke {
            let ids = self
                .leases
                .iter()
                .map(|l| l.lease_id.as_str())
                .chain(self.retired.iter().map(String::as_str))
                .filter(|id| !id.is_empty());
            for lease_id in ids {
                let body = json!({ "lease_id": lease_id, "sync": true });
                if let Err(e) = client.call("PUT", "sys/leases/revoke", Some(body)).await {
                    eprintln!("qm exec: revoking {lease_id} failed: {e}");
                }
            }
            if self.session.created {
                let _ = client
                    .call("PUT", "auth/token/revoke-self", Some(Value::Null))
                    .await;
            }
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
