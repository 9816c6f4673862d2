//! The `exhibit` command: parses arguments, calls the library, prints. Exit codes are the
//! contract documented in README.md and in `exhibit --help`.

mod cli;

use clap::Parser;
use std::io::Write;

fn main() {
    // Like other Unix filters, die quietly when the reader of our output goes away
    // (`exhibit list | head`), instead of panicking on a failed print.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = cli::Cli::parse();
    let code = match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            let code = match err.downcast_ref::<exhibit::Error>() {
                Some(e) => e.kind.exit_code(),
                None => exhibit::Kind::Archive.exit_code(),
            };
            let _ = writeln!(std::io::stderr(), "error: {err}");
            code
        }
    };
    let _ = std::io::stdout().flush();
    std::process::exit(code);
}
