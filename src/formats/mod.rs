//! Artefacts exhibit writes for others and reads from them: evidence bundles (zip) with the
//! strict zip reader, citations, and the formats of the web-archiving world: WARC 1.1 (ISO
//! 28500) with one gzip member per record, CDXJ indexes keyed by SURT, and WACZ 1.1.1 packages.
//! Each is specified in docs/FORMAT.md and read strictly. The mapping between exhibit's records
//! and WARC/WACZ (section 15) lives in [`export`] and [`import`]; the WARC, CDXJ and WACZ modules
//! themselves know nothing of exhibit.
//!
//! May import: core, log, trust, archive (to export and import), verify (reports). Not capture
//! or the CLI.

pub mod bundle;
pub mod cdxj;
pub mod cite;
pub mod cite_check;
pub mod export;
pub mod import;
pub mod surt;
pub mod wacz;
pub mod warc;
pub mod zipread;
