//! Artefacts exhibit writes for others and reads from them: evidence bundles (zip), the strict
//! zip reader, citations. Each format is specified in docs/FORMAT.md and read strictly.
//!
//! May import: core, log, trust, archive (to export), verify (reports). Not capture or the CLI.

pub mod bundle;
pub mod cite;
pub mod zipread;
