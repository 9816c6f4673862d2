//! The one judgement of a record, whatever holds it: an archive, an evidence bundle, a WARC or
//! WACZ export. A record verifies when
//! 1. its manifest parses and its signature counts (the key book of trust/ says so);
//! 2. the manifest names the record it is filed as;
//! 3. every document it cites (the document, and for a browser capture every part and resource)
//!    is present with the SHA-256 and size the manifest states;
//! 4. it is leaf `log_index` of the log: an inclusion proof leads from its leaf hash to the root
//!    of a checkpoint that counts (a key whose checkpoints of that size count signed it, and it
//!    commits to the key records the book was folded from).
//!
//! Only where the bytes come from differs, and that is the [`RecordSource`].

use super::{Check, LogState, RecordReport};
use crate::error::Result;
use crate::log::merkle::{self, Hash};
use crate::manifest::Manifest;
use crate::note::Checkpoint;
use std::io::Write;

/// What a document check found: its real SHA-256 and size, or why it could not be read.
pub type DocumentFound = std::result::Result<(String, u64), String>;

/// Where a record's bytes come from.
pub trait RecordSource {
    /// The manifest bytes and signature filed under `id` (`None` if there is no such record).
    fn record(&self, id: &str) -> Result<Option<(Vec<u8>, Vec<u8>)>>;
    /// The SHA-256 and size of the document stored for `sha256`, streaming its bytes to `out`.
    /// An `Err` that is not about the record (a full disk while copying) is returned as
    /// `Ok(Err(..))` only when it describes the stored document.
    fn document(&self, sha256: &str, out: &mut dyn Write) -> Result<DocumentFound>;
    /// The inclusion proof of the manifest's leaf in the checkpoint's tree, or why there is none
    /// that can be used.
    fn inclusion_proof(
        &self,
        m: &Manifest,
        bytes: &[u8],
        cp: &Checkpoint,
    ) -> std::result::Result<Vec<Hash>, String>;
    /// Whether this source holds a browser record's parts (FORMAT.md 5.10) besides its
    /// document. A source that carries only the document (a bundle, a WARC export) says no,
    /// and the parts are reported as not carried instead of being looked up as the document.
    fn carries_parts(&self) -> bool {
        false
    }
    /// A source-specific word on a failed signature (say, which carried key did sign).
    fn signature_hint(&self, _m: &Manifest, _bytes: &[u8], _sig: &[u8]) -> Option<String> {
        None
    }
}

/// The RFC 9162 check of an inclusion proof against a checkpoint: the one proof check.
pub fn check_inclusion(
    proof: &[Hash],
    cp: &Checkpoint,
    index: u64,
    leaf: &Hash,
) -> std::result::Result<(), String> {
    if index >= cp.size {
        return Err(format!(
            "log index {index} is not covered by the checkpoint (tree size {})",
            cp.size
        ));
    }
    merkle::check_inclusion(proof, cp.size, &cp.root, index, leaf)
        .map_err(|e| format!("inclusion proof against the checkpoint failed: {e}"))
}

/// Check record `id` from `source` against the log state `log` (checkpoint and key book).
/// The main document's bytes go to `out` as they are checked; they count only if the report
/// says the record verifies.
pub fn check_record(
    source: &dyn RecordSource,
    log: &LogState,
    id: &str,
    out: &mut dyn Write,
) -> Result<Option<RecordReport>> {
    let Some((bytes, signature)) = source.record(id)? else {
        return Ok(None);
    };
    let mut report = RecordReport {
        record_id: id.to_string(),
        ok: false,
        sha256: None,
        url: None,
        captured_at: None,
        signer: None,
        trust: log.kind.as_str(),
        checks: Vec::new(),
    };
    let push = |r: &mut RecordReport, check, ok, detail: String| {
        r.checks.push(Check { check, ok, detail });
    };
    // 1. The signature.
    let m = match Manifest::parse(&bytes) {
        Ok(m) => m,
        Err(e) => {
            push(&mut report, "signature", false, e.to_string());
            return Ok(Some(report));
        }
    };
    match &log.trust {
        Err(why) => push(
            &mut report,
            "signature",
            false,
            format!("the key records cannot be relied on: {why}"),
        ),
        Ok(t) => match t.check(&m, &bytes, &signature) {
            Ok(()) => push(
                &mut report,
                "signature",
                true,
                format!(
                    "valid Ed25519 signature by {} key {}",
                    match log.kind {
                        crate::trust::TrustKind::Pinned => "pinned (or pinned-key-added)",
                        crate::trust::TrustKind::Archive => "trusted",
                        crate::trust::TrustKind::SelfConsistent => "carried",
                    },
                    m.signer
                ),
            ),
            Err(why) => {
                let why = match source.signature_hint(&m, &bytes, &signature) {
                    Some(h) => format!("{why}; {h}"),
                    None => why.to_string(),
                };
                push(&mut report, "signature", false, why)
            }
        },
    }
    report.sha256 = Some(m.document.sha256.clone());
    report.url = Some(m.final_url.clone());
    report.captured_at = Some(m.captured_at.clone());
    report.signer = Some(m.signer.clone());
    // 2. The manifest names this record.
    let names_itself = m.record_id == id;
    push(
        &mut report,
        "record_id",
        names_itself,
        if names_itself {
            "manifest names this record".into()
        } else {
            format!("manifest names record {}, not {id}", m.record_id)
        },
    );
    // 3. Every document it cites.
    match source.document(&m.document.sha256, out)? {
        Ok((sha, size)) if sha == m.document.sha256 && size == m.document.size => push(
            &mut report,
            "document",
            true,
            format!("present, SHA-256 {sha} and {size} bytes as cited"),
        ),
        Ok((sha, size)) if sha == m.document.sha256 => push(
            &mut report,
            "document",
            false,
            format!(
                "document has {size} bytes, the manifest says {}",
                m.document.size
            ),
        ),
        Ok((sha, size)) => push(
            &mut report,
            "document",
            false,
            format!(
                "the document has SHA-256 {sha} and {size} bytes, the manifest says {} and {}",
                m.document.sha256, m.document.size
            ),
        ),
        Err(why) => push(&mut report, "document", false, why),
    }
    // 3b. Every part of a browser capture, each named in what fails.
    let parts = m.parts();
    if !parts.is_empty() && !source.carries_parts() {
        push(
            &mut report,
            "parts",
            true,
            format!(
                "{} parts of this browser capture are not carried here; only the document was checked",
                parts.len()
            ),
        );
    } else if !parts.is_empty() {
        let mut bad = 0;
        for p in &parts {
            let why = match source.document(&p.sha256, &mut std::io::sink())? {
                Ok((sha, size)) if sha == p.sha256 && size == p.size => continue,
                Ok((sha, size)) if sha == p.sha256 => {
                    format!("has {size} bytes, the manifest says {}", p.size)
                }
                Ok((sha, size)) => format!(
                    "has SHA-256 {sha} and {size} bytes, the manifest says {} and {}",
                    p.sha256, p.size
                ),
                Err(why) => why,
            };
            bad += 1;
            push(
                &mut report,
                "part",
                false,
                format!(
                    "part {} ({}): {why}",
                    crate::terminal::shown(&p.name),
                    p.sha256
                ),
            );
        }
        if bad == 0 {
            push(
                &mut report,
                "parts",
                true,
                format!(
                    "all {} parts present with the SHA-256 and size the manifest states",
                    parts.len()
                ),
            );
        }
    }
    // 4. The log.
    let (ok, detail) = match (&log.checkpoint, &log.problem) {
        (_, Some(p)) => (false, p.clone()),
        (None, None) => (false, "no checkpoint".into()),
        (Some(cp), None) => {
            let leaf = merkle::leaf_hash(&bytes);
            match source
                .inclusion_proof(&m, &bytes, cp)
                .and_then(|proof| check_inclusion(&proof, cp, m.log_index, &leaf))
            {
                Ok(()) => (
                    true,
                    format!(
                        "leaf {} of {}, inclusion proof verified against the signed checkpoint",
                        m.log_index, cp.size
                    ),
                ),
                Err(why) => (false, why),
            }
        }
    };
    push(&mut report, "log", ok, detail);
    report.ok = report.checks.iter().all(|c| c.ok);
    Ok(Some(report))
}
