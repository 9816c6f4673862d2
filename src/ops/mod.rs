//! Operations: one file per thing a user asks exhibit to do that changes an archive, each
//! returning what it did for the command line (or a server) to present. Nothing here prints.
//!
//! May import: archive, trust, capture, verify, formats and the pure cores. Not the CLI.

pub mod history;
pub mod keys;
pub mod mirror;
