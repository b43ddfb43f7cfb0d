//! The `qm` binary: parse arguments and dispatch; nothing else.

fn main() {
    std::process::exit(quartermaster::cli::run());
}
