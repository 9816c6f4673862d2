//! exhibit: a citation archive and provenance verifier.
//!
//! Capture a web page (or import a file), store its exact bytes content-addressed by SHA-256,
//! sign a manifest of what was captured, append it to a Merkle log, and let anyone re-check the
//! claim later, with this library or with `sha256sum`, `zstd` and `openssl` (docs/FORMAT.md).
//!
//! The pure cores (manifest encoding, record IDs, Merkle proofs, signed notes) are separate from
//! the I/O (store, archive, capture), so each is tested on its own.

// The layers, lowest first. Each folder's mod.rs says what it promises and may import; no
// module imports one above it.
pub mod error;
pub mod terminal;

pub mod archive;
pub mod capture;
pub mod core;
pub mod formats;
pub mod log;
pub mod ops;
pub mod serve;
pub mod text;
pub mod trust;
pub mod verify;

// The earlier flat paths, kept so that code written against them keeps compiling.
pub use crate::archive::store;
pub use crate::capture::policy as netpolicy;
pub use crate::core::{b64, fsutil, interrupt, keys, manifest, note, record_id};
pub use crate::formats::{bundle, cite, cite_check, zipread};
pub use crate::ops::history;
pub use crate::text::diff;
pub use crate::verify::audit;

pub use error::{Error, Kind, Result};
