//! `qm audit verify FILE`: checks an audit log's hash chain offline.

use super::{EXIT_API_ERROR, EXIT_LOCAL_ERROR, EXIT_OK};
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Check that no line of an audit log was altered, removed or inserted
    /// (exit code 2 and the first broken line if one was).
    Verify { file: PathBuf },
}

pub(crate) fn run(command: AuditCommand) -> i32 {
    let AuditCommand::Verify { file } = command;
    let reader = match std::fs::File::open(&file) {
        Ok(f) => std::io::BufReader::new(f),
        Err(e) => {
            eprintln!("Error opening {}: {e}", file.display());
            return EXIT_LOCAL_ERROR;
        }
    };
    match crate::audit::verify::verify(reader) {
        Ok(Ok(lines)) => {
            println!("{}: {lines} lines, chain intact", file.display());
            EXIT_OK
        }
        Ok(Err(broken)) => {
            eprintln!("{}: {broken}", file.display());
            EXIT_API_ERROR
        }
        Err(e) => {
            eprintln!("Error reading {}: {e}", file.display());
            EXIT_LOCAL_ERROR
        }
    }
}
