//! exhibit: a citation archive and provenance verifier.
//!
//! Capture a web page (or import a file), store its exact bytes content-addressed by SHA-256,
//! sign a manifest of what was captured, append it to a Merkle log, and let anyone re-check the
//! claim later, with this library or with `sha256sum`, `zstd` and `openssl` (docs/FORMAT.md).
//!
//! The pure cores (manifest encoding, record IDs, Merkle proofs, signed notes) are separate from
//! the I/O (store, archive, capture), so each is tested on its own.

pub mod archive;
pub mod audit;
pub mod b64;
pub mod bundle;
pub mod capture;
pub mod cite;
pub mod diff;
pub mod error;
pub mod formats;
pub mod fsutil;
pub mod history;
pub mod keys;
pub mod keystatus;
pub mod log;
pub mod manifest;
pub mod netpolicy;
pub mod note;
pub mod record_id;
pub mod store;
pub mod text;
pub mod verify;

pub use error::{Error, Kind, Result};
