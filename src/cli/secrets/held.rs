//! The credentials `qm exec` (or `qm agent`) holds: the token, the leases,
//! the values they put in the environment (and in `$QM_SECRETS_FILE`), and
//! when each needs attention next.
//!
//! Renewals come at about two-thirds of a TTL, drawn from 60-67% so a fleet
//! started together does not renew in lockstep; failures are retried with
//! a jittered backoff (1 s doubling to 60 s). A lease that can no longer be
//! renewed is replaced. A token this process logged in for is logged in
//! again when it can no longer be renewed (its max TTL is near, or a renewal
//! failed): every lease is issued again under the new token, and the old
//! token is revoked with the leases it held, as Vault Agent re-authenticates.

use super::spec::{self, SecretSpec};
use crate::cli::client::Client;
use crate::cli::login::{login, Session};
use nix::sys::signal::Signal;
use rand::Rng;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::time::Instant;
use zeroize::Zeroizing;

/// The longest wait before retrying a failed renewal or replacement.
const MAX_RETRY: Duration = Duration::from_secs(60);
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
    /// Failed attempts since the last success (for the backoff).
    failures: u32,
}

/// When the token needs renewing (or replacing).
struct TokenLife {
    due: Instant,
    /// The TTL it was issued with; each renewal asks for as much again.
    ttl: i64,
    /// It cannot be renewed further: next time, log in again.
    last: bool,
    failures: u32,
}

impl TokenLife {
    /// `None` for a token that never expires.
    fn of(session: &Session) -> Option<Self> {
        (session.ttl > 0).then(|| Self {
            due: Instant::now() + renew_after(session.ttl),
            ttl: session.ttl,
            last: !session.renewable,
            failures: 0,
        })
    }
}

/// What a round of maintenance changed.
#[derive(Default)]
pub(crate) struct Changes {
    /// Secret values were replaced (templates and commands must follow).
    pub(crate) values: bool,
    /// The token was replaced by a new login (a token sink must follow).
    pub(crate) token: bool,
}

pub(crate) struct Held {
    pub(crate) session: Session,
    token_life: Option<TokenLife>,
    leases: Vec<Lease>,
    /// Leases replaced by newer ones; revoked at the end.
    retired: Vec<String>,
    vars: BTreeMap<String, String>,
    /// Variables computed from others (`--set NAME=TEMPLATE`).
    derived: Vec<(String, String)>,
    /// A private directory for `$QM_SECRETS_FILE` (`qm exec` only).
    dir: Option<PathBuf>,
}

/// When to renew something issued for `seconds`: 60-67% of it, at random.
fn renew_after(seconds: i64) -> Duration {
    let millis = u64::try_from(seconds.max(1)).unwrap_or(1) * 1000;
    Duration::from_millis(millis * rand::thread_rng().gen_range(600..=667) / 1000)
}

/// How long to wait after `failures` failed attempts: 1 s doubling to 60 s,
/// each drawn from the upper half so retries spread out.
fn retry_after(failures: u32) -> Duration {
    let ceiling = Duration::from_secs(1u64 << failures.min(6)).min(MAX_RETRY);
    ceiling.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
}

/// Revokes the client's token, and with it the leases it was issued.
async fn revoke_self(client: &Client) {
    if let Err(e) = client
        .call("PUT", "auth/token/revoke-self", Some(Value::Null))
        .await
    {
        eprintln!("qm exec: revoking a token failed: {e}");
    }
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
        Instant::now() + renew_after(ttl)
    };
    let lease = Lease {
        spec: spec.clone(),
        lease_id,
        ttl,
        renewable: answer["renewable"].as_bool().unwrap_or(false),
        last: false,
        due,
        failures: 0,
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
        let mut held = Self {
            token_life: TokenLife::of(&session),
            session,
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
            .chain(self.token_life.as_ref().map(|t| t.due))
            .min()
            .unwrap_or_else(|| Instant::now() + FAR)
    }

    /// Renews or replaces what is due.
    pub(crate) async fn maintain(&mut self, client: &mut Client) -> Changes {
        let now = Instant::now();
        let mut changes = Changes::default();
        if self.token_life.as_ref().is_some_and(|t| t.due <= now) && !self.renew_token(client).await
        {
            changes = self.relogin(client).await;
        }
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
                    changes.values = true;
                }
                Err(message) => {
                    let lease = &mut self.leases[index];
                    lease.failures += 1;
                    lease.due = now + retry_after(lease.failures);
                    eprintln!("qm exec: replacing a credential failed ({message}); retrying");
                }
            }
        }
        if changes.values {
            if let Err(message) = self.derive() {
                eprintln!("qm exec: {message}");
            }
            if let Err(e) = self.write_file() {
                eprintln!("qm exec: cannot write the secrets file: {e}");
            }
        }
        changes
    }

    /// Renews the token; false when it must be replaced by a new login.
    async fn renew_token(&mut self, client: &Client) -> bool {
        let Some(life) = self.token_life.as_mut() else {
            return true;
        };
        let now = Instant::now();
        if !life.last {
            let body = json!({ "increment": life.ttl });
            match client
                .call("PUT", "auth/token/renew-self", Some(body))
                .await
            {
                Ok(Some(answer)) => {
                    let granted = answer["auth"]["lease_duration"].as_i64().unwrap_or(0);
                    life.failures = 0;
                    life.last = granted < life.ttl;
                    life.due = now + renew_after(granted);
                    return true;
                }
                Ok(None) | Err(_) => life.last = true,
            }
        }
        if self.session.login.is_some() {
            return false;
        }
        // A token from outside cannot be replaced: keep trying to renew it.
        life.failures += 1;
        life.last = false;
        life.due = now + retry_after(life.failures);
        eprintln!("qm exec: the token can no longer be renewed and was not obtained by a login");
        true
    }

    /// Logs in again and issues every secret under the new token; then
    /// revokes the old token (and with it the leases it held). On failure
    /// the old token and leases stay, and the login is retried later.
    async fn relogin(&mut self, client: &mut Client) -> Changes {
        let (Some(args), Some(old_token)) = (
            self.session.login.clone(),
            client.token().map(|t| Zeroizing::new(t.to_string())),
        ) else {
            return Changes::default();
        };
        let fresh = async {
            let session = login(client, &args).await?;
            let mut leases = Vec::new();
            let mut vars = BTreeMap::new();
            for lease in &self.leases {
                match issue(client, &lease.spec).await {
                    Ok((lease, values)) => {
                        leases.push(lease);
                        vars.extend(values);
                    }
                    Err(message) => {
                        // The new token goes, and with it what it was issued.
                        revoke_self(client).await;
                        return Err(message);
                    }
                }
            }
            Ok((session, leases, vars))
        };
        match fresh.await {
            Ok((session, leases, vars)) => {
                let new_token = client.token().map(|t| Zeroizing::new(t.to_string()));
                client.set_token(old_token);
                revoke_self(client).await;
                if let Some(token) = new_token {
                    client.set_token(token);
                }
                self.token_life = TokenLife::of(&session);
                self.session = session;
                self.leases = leases;
                self.retired.clear();
                self.vars.extend(vars);
                eprintln!("qm exec: logged in again; every credential was issued anew");
                Changes {
                    values: !self.leases.is_empty(),
                    token: true,
                }
            }
            Err(message) => {
                client.set_token(old_token);
                if let Some(life) = self.token_life.as_mut() {
                    life.failures += 1;
                    life.due = Instant::now() + retry_after(life.failures);
                }
                eprintln!("qm exec: logging in again failed ({message}); retrying");
                Changes::default()
            }
        }
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
        lease.failures = 0;
        lease.last = granted < lease.ttl;
        lease.due = Instant::now() + renew_after(granted);
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
            if self.session.login.is_some() {
                revoke_self(client).await;
            }
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewals_come_at_60_to_67_percent_and_spread_out() {
        let draws: Vec<Duration> = (0..200).map(|_| renew_after(3600)).collect();
        for draw in &draws {
            assert!(
                *draw >= Duration::from_secs(2160) && *draw <= Duration::from_millis(2_401_200),
                "{draw:?}"
            );
        }
        let distinct: std::collections::BTreeSet<_> = draws.iter().collect();
        assert!(distinct.len() > 50, "jittered: {} distinct", distinct.len());
        assert!(renew_after(0) > Duration::ZERO);
    }

    #[test]
    fn retries_back_off_to_a_minute() {
        for failures in 0..100 {
            let wait = retry_after(failures);
            let ceiling = Duration::from_secs(1u64 << failures.min(6)).min(MAX_RETRY);
            assert!(
                wait >= ceiling / 2 && wait <= ceiling,
                "{failures}: {wait:?}"
            );
        }
        assert!(retry_after(1) < Duration::from_secs(3));
        assert!(retry_after(30) >= Duration::from_secs(30));
    }
}
