//! The pure core: the byte formats everything else signs, logs and checks. Manifests, record
//! IDs, Ed25519 keys and signatures, signed notes (checkpoints), canonical base64.
//!
//! Promise: no I/O beyond reading and writing key files the caller names; every parser of
//! untrusted bytes here is strict (one accepted byte form) and fuzzed.
//! May import: error. Nothing else of the crate.

pub mod b64;
pub mod digest;
pub mod fsutil;
pub mod interrupt;
pub mod keys;
pub mod manifest;
pub mod note;
pub mod pack;
pub mod record_id;
