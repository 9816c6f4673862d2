//! The `exhibit` command: parses arguments, calls the library, prints. Exit codes are the
//! contract documented in README.md and in `exhibit --help`.

mod cli;

use clap::error::ErrorKind;
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
    // Ctrl-C, SIGTERM and SIGHUP remove the temporary files and staging directories a command
    // was building, then end the process by the same signal (src/core/interrupt.rs).
    exhibit::interrupt::install();
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        // Help and version are our own text; clap prints them (and exits 0, or 2 for a bare
        // `exhibit`).
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            e.exit()
        }
        // A usage error repeats what was typed: escaped and capped like every other message.
        Err(e) => {
            let _ = write!(
                std::io::stderr(),
                "{}",
                cli::usage_error_text(&e.render().to_string())
            );
            std::process::exit(e.exit_code());
        }
    };
    let code = match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            let code = match err.downcast_ref::<exhibit::Error>() {
                Some(e) => e.kind.exit_code(),
                None => exhibit::Kind::Archive.exit_code(),
            };
            let _ = writeln!(std::io::stderr(), "error: {}", cli::error_line(&err));
            code
        }
    };
    let _ = std::io::stdout().flush();
    std::process::exit(code);
}
