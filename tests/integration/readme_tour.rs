//! The README's five-minute tour, run as printed: every `$ ` command of its
//! `text` blocks in order, in one shell state (exports and `$?` carry over),
//! against a dev server. Each command must succeed, or fail where the README
//! prints an error; its `Success!` lines and the keys of its tables must be
//! what the README shows. Values that differ per run (tokens, lease ids,
//! secret IDs) are learned from each answer and replaced in the commands
//! after it. A block after a `<!-- tour: skip (why) -->` line is not run.

use super::common::{pg_url, TestServer};
use std::path::Path;
use std::process::Command;

/// One `$ ` command and the lines the README prints after it.
struct Step {
    command: String,
    printed: Vec<String>,
}

/// The tour's commands, from its heading to the next `##`-level section.
fn tour_steps(readme: &str) -> (Vec<Step>, usize) {
    let start = readme.find("## A five-minute tour").expect("the tour");
    let end = readme
        .find("### Running it for real")
        .expect("the tour's end");
    let mut steps: Vec<Step> = Vec::new();
    let (mut in_block, mut skip_next, mut skipping) = (false, false, false);
    let mut skipped = 0;
    let mut continued = false;
    for line in readme[start..end].lines() {
        if line.starts_with("<!-- tour: skip") {
            skip_next = true;
            continue;
        }
        if !in_block {
            if line.starts_with("```") {
                in_block = true;
                skipping = skip_next || line != "```text";
                skipped += usize::from(skip_next);
                skip_next = false;
            }
            continue;
        }
        if line == "```" {
            in_block = false;
            continue;
        }
        if skipping {
            continue;
        }
        if continued {
            let step = steps.last_mut().expect("a command to continue");
            step.command.push('\n');
            step.command.push_str(line);
            continued = line.ends_with('\\');
        } else if let Some(command) = line.strip_prefix("$ ") {
            steps.push(Step {
                command: command.to_string(),
                printed: Vec::new(),
            });
            continued = command.ends_with('\\');
        } else if let Some(step) = steps.last_mut() {
            step.printed.push(line.to_string());
        }
    }
    (steps, skipped)
}

/// `KEY   VALUE` rows below a `---   -----` line (qm's and bao's tables),
/// and the lines below a `----` line (a key listing) keyed `#0`, `#1`, ...
fn rows(lines: &[String]) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let mut listing = None;
    for line in lines {
        let trimmed = line.trim();
        if trimmed.starts_with("---") {
            listing = Some(!trimmed.contains(' '));
            continue;
        }
        if trimmed.is_empty() {
            listing = None;
            continue;
        }
        match listing {
            Some(true) => rows.push((format!("#{}", rows.len()), trimmed.to_string())),
            Some(false) => {
                let (key, value) = trimmed.split_once("  ").unwrap_or((trimmed, ""));
                rows.push((key.trim().to_string(), value.trim().to_string()));
            }
            None => {}
        }
    }
    rows
}

/// Whether the README shows this command failing.
fn printed_failure(printed: &[String]) -> bool {
    printed
        .first()
        .is_some_and(|l| l.contains("Error") || l.contains("failed"))
}

/// Runs `command` in the tour's shell state; (exit code, stdout + stderr).
fn run(dir: &Path, command: &str, env: &[(String, String)]) -> (i32, String) {
    let state = dir.join("state.sh");
    let rc = dir.join("rc");
    let script = format!(
        "set -a; . '{state}' 2>/dev/null; set +a; (exit \"$(cat '{rc}' 2>/dev/null || echo 0)\")\n{command}\nrc=$?; echo $rc > '{rc}'; export -p > '{state}'; exit $rc",
        state = state.display(),
        rc = rc.display(),
    );
    let output = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run bash");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_tour_runs_as_printed() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let (steps, skipped) = tour_steps(&readme);
    assert!(
        steps.len() >= 25,
        "only {} tour commands found",
        steps.len()
    );

    let server = TestServer::dev();
    let dir = server.dir.path().join("tour");
    std::fs::create_dir_all(&dir).expect("tour dir");
    // The tour's group role, made fresh (a rerun finds the last one).
    let pg = super::common::pg().await;
    pg.batch_execute(
        "DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'app_reader') THEN \
         EXECUTE 'DROP OWNED BY app_reader'; DROP ROLE app_reader; END IF; END $$",
    )
    .await
    .expect("drop app_reader");
    let pg_authority = pg_url()
        .split_once('@')
        .and_then(|(_, rest)| rest.split('/').next().map(String::from))
        .expect("host:port in the test Postgres URL");
    let (pg_host, pg_port) = pg_authority
        .split_once(':')
        .unwrap_or((&pg_authority, "5432"));
    let qm_dir = Path::new(env!("CARGO_BIN_EXE_qm"))
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let bao_dir = super::common::bao_binary()
        .parent()
        .expect("bao dir")
        .to_path_buf();
    let env = vec![
        (
            "PATH".to_string(),
            format!(
                "{}:{}:/usr/local/bin:/usr/bin:/bin",
                qm_dir.display(),
                bao_dir.display()
            ),
        ),
        ("HOME".to_string(), dir.display().to_string()),
        ("PGHOST".to_string(), pg_host.to_string()),
        ("PGPORT".to_string(), pg_port.to_string()),
    ];
    // What the README's printed values stand for here.
    let mut substitutions: Vec<(String, String)> = vec![
        ("http://127.0.0.1:8200".into(), server.addr.clone()),
        ("127.0.0.1:5432".into(), pg_authority.clone()),
        ("TOKEN=root".into(), format!("TOKEN={}", server.root_token)),
        ("<root>".into(), server.root_token.clone()),
        ("/var/log/qm/".into(), format!("{}/", dir.display())),
    ];
    let mut failures = Vec::new();
    for step in &steps {
        let mut command = step.command.clone();
        for (printed, actual) in &substitutions {
            command = command.replace(printed.as_str(), actual);
        }
        if let Some(file) = command.strip_prefix("cat ").filter(|f| !f.contains(' ')) {
            std::fs::write(dir.join(file), step.printed.join("\n") + "\n").expect("tour file");
        }
        let (code, output) = run(&dir, &command, &env);
        let lines: Vec<String> = output.lines().map(String::from).collect();
        let expect_failure = printed_failure(&step.printed);
        if (code != 0) != expect_failure {
            failures.push(format!(
                "$ {command}\nexit {code}, README shows {}:\n{output}",
                if expect_failure {
                    "a failure"
                } else {
                    "success"
                }
            ));
            continue;
        }
        for line in step.printed.iter().filter(|l| l.starts_with("Success!")) {
            if !output.contains(line.as_str()) {
                failures.push(format!("$ {command}\nmissing {line:?}:\n{output}"));
            }
        }
        let actual_rows = rows(&lines);
        // `...` stands for rows the README leaves out.
        let printed_rows = rows(&step.printed);
        for (index, (key, value)) in printed_rows
            .iter()
            .enumerate()
            .filter(|(_, (k, _))| k != "...")
        {
            let found = if key.starts_with('#') {
                actual_rows.get(index).map(|(_, v)| v.clone())
            } else {
                actual_rows
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.clone())
            };
            match found {
                None if key.starts_with('#') => {}
                None => failures.push(format!("$ {command}\nno {key:?} in:\n{output}")),
                Some(actual) if actual != *value && value.len() >= 8 && !value.contains(' ') => {
                    substitutions.push((value.clone(), actual));
                }
                Some(_) => {}
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} tour commands went otherwise than printed ({skipped} blocks skipped):\n\n{}",
        failures.len(),
        steps.len(),
        failures.join("\n\n")
    );
}
