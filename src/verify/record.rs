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

use super::{Check, CheckName, LogState, RecordReport};
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
        requested_url: None,
        captured_at: None,
        method: None,
        signer: None,
        trust: log.kind,
        checks: Vec::new(),
    };
    let push = |r: &mut RecordReport, check, ok, detail: String| {
        r.checks.push(Check { check, ok, detail });
    };
    // 1. The signature.
    let m = match Manifest::parse(&bytes) {
        Ok(m) => m,
        Err(e) => {
            push(&mut report, CheckName::Signature, false, e.to_string());
            return Ok(Some(report));
        }
    };
    match &log.trust {
        Err(why) => push(
            &mut report,
            CheckName::Signature,
            false,
            format!("the key records cannot be relied on: {why}"),
        ),
        Ok(t) => match t.check(&m, &bytes, &signature) {
            Ok(()) => push(
                &mut report,
                CheckName::Signature,
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
                push(&mut report, CheckName::Signature, false, why)
            }
        },
    }
    report.sha256 = Some(m.document.sha256.clone());
    report.url = Some(m.final_url.clone());
    report.requested_url = Some(m.requested_url.clone());
    report.captured_at = Some(m.captured_at.clone());
    report.method = Some(m.method.as_str());
    report.signer = Some(m.signer.clone());
    // 2. The manifest names this record.
    let names_itself = m.record_id == id;
    push(
        &mut report,
        CheckName::RecordId,
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
            CheckName::Document,
            true,
            format!("present, SHA-256 {sha} and {size} bytes as cited"),
        ),
        Ok((sha, size)) if sha == m.document.sha256 => push(
            &mut report,
            CheckName::Document,
            false,
            format!(
                "document has {size} bytes, the manifest says {}",
                m.document.size
            ),
        ),
        Ok((sha, size)) => push(
            &mut report,
            CheckName::Document,
            false,
            format!(
                "the document has SHA-256 {sha} and {size} bytes, the manifest says {} and {}",
                m.document.sha256, m.document.size
            ),
        ),
        Err(why) => push(&mut report, CheckName::Document, false, why),
    }
    // 3b. Every part of a browser capture, each named in what fails.
    let parts = m.parts();
    if !parts.is_empty() && !source.carries_parts() {
        push(
            &mut report,
            CheckName::Parts,
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
                CheckName::Part,
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
                CheckName::Parts,
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
    push(&mut report, CheckName::Log, ok, detail);
    report.ok = report.checks.iter().all(|c| c.ok);
    Ok(Some(report))
}

#[cfg(test)]
mod tests {
    //! The record check over a source held in memory: a log of import records signed by a
    //! pinned key, with the bytes of any one part replaceable.
    use super::*;
    use crate::keys::{self, PublicKey, SecretKey};
    use crate::manifest::{self, Method};
    use crate::record_id::RecordId;
    use crate::trust::{Anchor, KeyRecordBytes, PinnedKey, Trust, TrustKind};
    use proptest::prelude::*;
    use sha2::Digest;
    use std::collections::HashMap;

    struct Log {
        key: SecretKey,
        ids: Vec<String>,
        records: HashMap<String, (Vec<u8>, Vec<u8>)>,
        documents: HashMap<String, Vec<u8>>,
        leaves: Vec<Hash>,
        /// Replaces the proof of every record, if set.
        proof: Option<Vec<Hash>>,
    }

    fn sha(bytes: &[u8]) -> String {
        hex::encode(sha2::Sha256::digest(bytes))
    }

    fn sign_record(key: &SecretKey, index: u64, id: &str, doc: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let m = Manifest::for_test(
            Method::Import,
            id.to_string(),
            index,
            format!("https://example.com/doc/{index}"),
            &manifest::now(),
            (sha(doc), doc.len() as u64),
            keys::key_id(&key.verifying_key()),
        );
        let bytes = m.to_bytes();
        let sig = keys::sign(key, &bytes).to_vec();
        (bytes, sig)
    }

    fn log_of(n: u64) -> Log {
        let key = keys::generate().unwrap();
        let mut log = Log {
            key,
            ids: Vec::new(),
            records: HashMap::new(),
            documents: HashMap::new(),
            leaves: Vec::new(),
            proof: None,
        };
        for i in 0..n {
            let id = RecordId::random().to_string();
            let doc = format!("document {i}\n").into_bytes();
            let (bytes, sig) = sign_record(&log.key, i, &id, &doc);
            log.leaves.push(merkle::leaf_hash(&bytes));
            log.documents.insert(sha(&doc), doc);
            log.records.insert(id.clone(), (bytes, sig));
            log.ids.push(id);
        }
        log
    }

    impl crate::trust::Source for Log {
        fn key_event_lines(&self, _size: u64) -> Result<String> {
            Ok(String::new())
        }
        fn key_record(&self, _index: u64, _id: &RecordId) -> Result<Option<KeyRecordBytes>> {
            Ok(None)
        }
        fn stored_keys(&self) -> Result<Vec<PublicKey>> {
            Ok(Vec::new())
        }
    }

    impl RecordSource for Log {
        fn record(&self, id: &str) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
            Ok(self.records.get(id).cloned())
        }
        fn document(&self, sha256: &str, out: &mut dyn Write) -> Result<DocumentFound> {
            Ok(match self.documents.get(sha256) {
                Some(doc) => {
                    out.write_all(doc).unwrap();
                    Ok((sha(doc), doc.len() as u64))
                }
                None => Err(format!("no document {sha256}")),
            })
        }
        fn inclusion_proof(
            &self,
            m: &Manifest,
            _bytes: &[u8],
            cp: &Checkpoint,
        ) -> std::result::Result<Vec<Hash>, String> {
            if let Some(p) = &self.proof {
                return Ok(p.clone());
            }
            let mut stored = Vec::new();
            let mut tree = merkle::TreeBuilder::new();
            for leaf in &self.leaves[..cp.size as usize] {
                stored.extend(tree.push(*leaf));
            }
            merkle::prove_inclusion(cp.size, m.log_index.min(cp.size - 1), &stored)
                .map_err(|e| e.to_string())
        }
    }

    /// The log state a verifier pinning `pinned` reads: the checkpoint of the first `size`
    /// leaves (its signature is trust/'s concern, tested there).
    fn state(log: &Log, pinned: &SecretKey, size: u64) -> LogState {
        let key = pinned.verifying_key();
        let anchor = Anchor::Pinned(vec![PinnedKey {
            id: keys::key_id(&key),
            key,
            path: "pinned.pub".into(),
        }]);
        let trust = Trust::load(log, &anchor, size).unwrap();
        LogState {
            kind: anchor.kind(),
            checkpoint: Some(Checkpoint {
                origin: "test.example/log".into(),
                size,
                root: merkle::root_from_leaves(&log.leaves[..size as usize]),
                extensions: Vec::new(),
            }),
            text: None,
            trust: Ok(trust),
            problem: None,
            notes: Vec::new(),
        }
    }

    fn check(log: &Log, st: &LogState, id: &str) -> RecordReport {
        let mut out = Vec::new();
        let r = check_record(log, st, id, &mut out)
            .unwrap()
            .expect("record present");
        if r.ok {
            let m = Manifest::parse(&log.records[id].0).unwrap();
            assert_eq!(
                out, log.documents[&m.document.sha256],
                "the document went to out"
            );
        }
        r
    }

    fn failed(r: &RecordReport) -> Vec<CheckName> {
        r.checks.iter().filter(|c| !c.ok).map(|c| c.check).collect()
    }

    #[test]
    fn every_genuine_record_verifies() {
        let log = log_of(7);
        let st = state(&log, &log.key, 7);
        for id in &log.ids {
            let r = check(&log, &st, id);
            assert!(r.ok, "{r:?}");
            assert_eq!(r.trust, TrustKind::Pinned);
            let names: Vec<_> = r.checks.iter().map(|c| c.check).collect();
            assert_eq!(
                names,
                [
                    CheckName::Signature,
                    CheckName::RecordId,
                    CheckName::Document,
                    CheckName::Log
                ]
            );
        }
        let mut out = Vec::new();
        assert!(check_record(&log, &st, "EX-NONE", &mut out)
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_key_not_pinned_fails_the_signature_only() {
        let log = log_of(3);
        let other = keys::generate().unwrap();
        let st = state(&log, &other, 3);
        let r = check(&log, &st, &log.ids[1]);
        assert_eq!(failed(&r), [CheckName::Signature], "{r:?}");
    }

    #[test]
    fn a_record_filed_under_another_id_fails_record_id() {
        let mut log = log_of(3);
        let moved = log.records[&log.ids[0]].clone();
        let elsewhere = RecordId::random().to_string();
        log.records.insert(elsewhere.clone(), moved);
        let st = state(&log, &log.key, 3);
        let r = check(&log, &st, &elsewhere);
        assert_eq!(failed(&r), [CheckName::RecordId], "{r:?}");
    }

    #[test]
    fn other_or_missing_document_bytes_fail_the_document() {
        let mut log = log_of(3);
        let m = Manifest::parse(&log.records[&log.ids[2]].0).unwrap();
        let st = state(&log, &log.key, 3);
        log.documents
            .insert(m.document.sha256.clone(), b"document 9\n".to_vec());
        let r = check(&log, &st, &log.ids[2]);
        assert_eq!(failed(&r), [CheckName::Document], "{r:?}");
        assert!(r.checks[2].detail.contains("the manifest says"), "{r:?}");
        log.documents.remove(&m.document.sha256);
        let r = check(&log, &st, &log.ids[2]);
        assert_eq!(failed(&r), [CheckName::Document], "{r:?}");
    }

    #[test]
    fn a_checkpoint_that_does_not_cover_the_record_fails_the_log() {
        let log = log_of(5);
        let st = state(&log, &log.key, 3);
        let r = check(&log, &st, &log.ids[4]);
        assert_eq!(failed(&r), [CheckName::Log], "{r:?}");
        assert!(r.checks[3].detail.contains("not covered"), "{r:?}");
        // A checkpoint that does not count fails every record's log check, with its reason.
        let mut st = state(&log, &log.key, 5);
        st.problem = Some("the checkpoint's signature does not verify".into());
        let r = check(&log, &st, &log.ids[0]);
        assert_eq!(failed(&r), [CheckName::Log], "{r:?}");
        // Key records that cannot be relied on fail the signature, whoever signed.
        let mut st = state(&log, &log.key, 5);
        st.trust = Err(crate::verify::TrustFailure {
            what: "log/keys is malformed".into(),
            key_record: None,
        });
        let r = check(&log, &st, &log.ids[0]);
        assert_eq!(failed(&r), [CheckName::Signature], "{r:?}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Any byte of a record's manifest, signature, document or proof changed: the record
        /// does not verify, and the check that fails is the one that reads that byte.
        #[test]
        fn any_changed_byte_fails_its_check(
            n in 1u64..12,
            pick in any::<prop::sample::Index>(),
            what in 0u8..4,
            at in any::<prop::sample::Index>(),
            mask in 1u8..=255,
        ) {
            let mut log = log_of(n);
            let index = pick.index(n as usize);
            let id = log.ids[index].clone();
            let st = state(&log, &log.key, n);
            let expect = match what {
                0 => {
                    let bytes = &mut log.records.get_mut(&id).unwrap().0;
                    let i = at.index(bytes.len());
                    bytes[i] ^= mask;
                    // The leaf changes with the manifest, so the log check may fail too.
                    CheckName::Signature
                }
                1 => {
                    let sig = &mut log.records.get_mut(&id).unwrap().1;
                    let i = at.index(sig.len());
                    sig[i] ^= mask;
                    CheckName::Signature
                }
                2 => {
                    let m = Manifest::parse(&log.records[&id].0).unwrap();
                    let doc = log.documents.get_mut(&m.document.sha256).unwrap();
                    let i = at.index(doc.len());
                    doc[i] ^= mask;
                    CheckName::Document
                }
                _ => {
                    let m = Manifest::parse(&log.records[&id].0).unwrap();
                    let cp = st.checkpoint.as_ref().unwrap();
                    let mut proof = log.inclusion_proof(&m, &[], cp).unwrap();
                    if proof.is_empty() {
                        // A tree of one leaf has no proof to change: its root is the leaf.
                        proof.push([0; 32]);
                    } else {
                        let flat = at.index(proof.len() * 32);
                        proof[flat / 32][flat % 32] ^= mask;
                    }
                    log.proof = Some(proof);
                    CheckName::Log
                }
            };
            let r = check(&log, &st, &id);
            prop_assert!(!r.ok, "{:?}", r);
            prop_assert!(failed(&r).contains(&expect), "{:?}", r);
            prop_assert!(!failed(&r).contains(&CheckName::RecordId) || what == 0, "{:?}", r);
        }
    }
}
