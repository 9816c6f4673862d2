//! Formats of the web-archiving world that exhibit writes and reads: WARC 1.1 (ISO 28500) with
//! one gzip member per record, CDXJ indexes keyed by SURT, and WACZ 1.1.1 packages. The mapping
//! between exhibit's records and these formats (docs/FORMAT.md section 15) lives in [`export`]
//! and [`import`]; the formats themselves know nothing of exhibit.

pub mod cdxj;
pub mod export;
pub mod import;
pub mod surt;
pub mod wacz;
pub mod warc;
