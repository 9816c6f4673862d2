//! Verification of records: the answer to "is this cited record what it claims to be?".
//!
//! A record verifies when (1) its manifest is well formed and names itself, (2) its signature is
//! valid under a trusted key, (3) its document is present and has the cited SHA-256 and size,
//! and (4) it is leaf `log_index` of the archive's log, proven by an inclusion proof against a
//! checkpoint signed by a trusted key.

pub mod audit;
pub mod record;

use crate::archive::Archive;
use crate::core::digest::Sha256;
use crate::error::{Error, Kind, Result};
use crate::log::merkle;
use crate::manifest::Manifest;
use crate::note::{self, Checkpoint};
use crate::record_id::{self, RecordId};
use crate::trust::{Anchor, Commitment, Trust, TrustKind};
use serde::Serialize;
use std::fs::File;
use std::path::Path;

/// What the user asked to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Record(RecordId),
    Sha256(String),
    Prefix(String),
}

pub const MIN_PREFIX: usize = 8;

/// What a record ID, hash or prefix typed (or pasted) by a user names.
///
/// The rules, in order, so that one input never means two things:
/// 1. Quotes, brackets, spaces and a trailing period or ellipsis around the value are ignored,
///    and any dash or space inside an ID counts as a hyphen (IDs pasted from a word processor).
/// 2. `sha256:HEX` is always a hash or hash prefix.
/// 3. A valid record ID (its check character matches) is always a record ID, with or without
///    the `EX` prefix and hyphens, even when all its symbols happen to be hex digits.
/// 4. Twelve ID symbols (or `EX` and twelve) whose check character does not match are a
///    mistyped ID and are rejected, never looked up as a hash prefix: a typo must not resolve to
///    another record. A 12-digit hash prefix is therefore written `sha256:…` (or with more
///    digits).
/// 5. Otherwise 8 to 63 hex digits are a hash prefix, 64 a whole SHA-256.
pub fn parse_target(input: &str) -> Result<Target> {
    // A URL pasted with its user name and password is refused as capture refuses it; every
    // echo below goes through the capture's masking, so no reading of the input shows one.
    crate::capture::refuse_userinfo(input)?;
    let shown = |input: &str| crate::terminal::shown(&crate::capture::shown_target(input));
    let s = record_id::trim_pasted(input);
    let explicit_hash = s
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("sha256:"))
        .map(|_| &s[7..]);
    if explicit_hash.is_none() {
        match s.parse::<RecordId>() {
            Ok(id) => return Ok(Target::Record(id)),
            Err(e @ record_id::RecordIdError::CheckFailed) => {
                let all_hex = compact_hex(s).is_some();
                return Err(Error::usage(format!(
                    "{} is not a valid record ID: {e}",
                    shown(input)
                ))
                .hint(if all_hex {
                    format!(
                        "copy the ID again from the citation; if it is the start of a SHA-256, \
                         write sha256:{} or give more hex digits",
                        crate::terminal::cap(s, 64)
                    )
                } else {
                    "copy the ID again from the citation; IDs look like EX-7K2M-9QDR-T4VW".into()
                }));
            }
            Err(e) if record_id::looks_like_record_id(s) => {
                return Err(Error::usage(format!(
                    "{} is not a valid record ID: {e}",
                    shown(input)
                ))
                .hint("copy the ID again from the citation; IDs look like EX-7K2M-9QDR-T4VW"));
            }
            Err(_) => {}
        }
    }
    if let Some(hex) = compact_hex(explicit_hash.unwrap_or(s)) {
        if hex.len() == 64 {
            return Ok(Target::Sha256(hex));
        }
        if (MIN_PREFIX..64).contains(&hex.len()) {
            return Ok(Target::Prefix(hex));
        }
        if hex.len() < MIN_PREFIX {
            return Err(Error::usage(format!(
                "hash prefix {} is too short ({} hex digits)",
                shown(input),
                hex.len()
            ))
            .hint("give at least 8 hex digits of the SHA-256, or the whole hash"));
        }
    }
    Err(Error::usage(format!(
        "{} is neither a record ID nor a SHA-256 (or prefix)",
        shown(input)
    ))
    .hint("give a record ID like EX-7K2M-9QDR-T4VW or at least 8 hex digits of a SHA-256"))
}

/// The hex digits of a pasted hash, lower-cased, without the spaces and invisible characters a
/// line break in a document leaves; `None` if anything else is in it.
fn compact_hex(s: &str) -> Option<String> {
    let hex: String = s
        .chars()
        .filter(|&c| {
            !(c.is_whitespace()
                || matches!(
                    c,
                    '\u{00AD}' | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}'
                ))
        })
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (!hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some(hex)
}

/// [`parse_target`] then [`resolve`]: the records an input names. When a record ID made only of
/// hex digits is not in the archive, the hint says how to ask for a hash prefix instead.
pub fn lookup(archive: &Archive, input: &str) -> Result<(Target, Vec<RecordId>)> {
    lookup_at(archive, input, None)
}

/// [`lookup`] within the first `size` leaves of the log (a reader that holds one checkpoint
/// must not resolve a hash to a record a later commit added); `None` is the current size.
pub fn lookup_at(
    archive: &Archive,
    input: &str,
    size: Option<u64>,
) -> Result<(Target, Vec<RecordId>)> {
    let target = parse_target(input)?;
    match resolve_at(archive, &target, size) {
        Ok(ids) => Ok((target, ids)),
        Err(mut e) => {
            let s = record_id::trim_pasted(input);
            if let (Target::Record(_), Some(hex)) = (&target, compact_hex(s)) {
                e.hint = Some(format!(
                    "{}; if {hex} is the start of a SHA-256, not a record ID, write sha256:{hex}",
                    e.hint.as_deref().unwrap_or("check the ID and --archive")
                ));
            }
            Err(e)
        }
    }
}

/// [`lookup_at`] within the checkpoint `log` trusts, where "nothing matches" a hash is backed by
/// the signed log: `log/leaves`, the index a hash lookup reads, is a file anyone with the
/// archive can edit, and a line altered to hide a document must not become "the archive holds
/// no such document" (a claim a reader may repeat in a filing). So before a hash or prefix is
/// called absent, [`check_index`] holds every committed line to the signed tree; an index that
/// disagrees is damage (exit 1), not absence.
pub fn lookup_checked(
    archive: &Archive,
    log: &LogState,
    input: &str,
) -> Result<(Target, Vec<RecordId>)> {
    let size = log.checkpoint.as_ref().map(|c| c.size);
    match lookup_at(archive, input, size) {
        Err(e) if e.kind == Kind::NotFound => match parse_target(input) {
            Ok(Target::Sha256(_) | Target::Prefix(_)) => {
                let n = check_index(archive, log)?;
                Err(Error::new(
                    Kind::NotFound,
                    format!(
                        "{}; all {n} committed records were read and agree with the signed log",
                        e.what
                    ),
                )
                .hint("check the hash and --archive; a document not in this archive cannot be verified here"))
            }
            _ => Err(e),
        },
        other => other,
    }
}

/// [`lookup`] whose "nothing matches" is backed by the signed log as in [`lookup_checked`],
/// under the archive's own keys: for the commands that name a record by its document's hash and
/// verify what they find afterwards (`show`, `cite`, `cat`, `prove`, `export`, `history`). The
/// log is read only when the index finds nothing.
pub fn lookup_in_archive(archive: &Archive, input: &str) -> Result<(Target, Vec<RecordId>)> {
    match lookup(archive, input) {
        Err(e) if e.kind == Kind::NotFound => {
            lookup_checked(archive, &LogState::load(archive, &Anchor::Archive), input)
        }
        other => other,
    }
}

/// Holds `log/leaves`, the unsigned index of which record cites which document, to the signed
/// log: each committed line names a record whose manifest states that record and document, and
/// the manifests, as leaves, hash to the root of the checkpoint `log` trusts. Returns the
/// number of committed records. Reads every committed manifest, so callers use it only to back
/// an absence, never on the way to a record.
pub fn check_index(archive: &Archive, log: &LogState) -> Result<u64> {
    let cp = match (&log.checkpoint, &log.problem) {
        (Some(cp), None) => cp,
        (_, Some(why)) => {
            return Err(Error::verification(format!(
                "the archive's signed log cannot be relied on ({why}), so no lookup in it can show that a document is absent"
            ))
            .hint("run `exhibit audit`"))
        }
        (None, None) => {
            return Err(Error::verification(
                "the archive has no log checkpoint, so no lookup in it can show that a document is absent",
            )
            .hint("run `exhibit audit`"))
        }
    };
    // The viewer may be asked for absent hashes again and again: a check that passed is not
    // repeated while the checkpoint and log/leaves are the ones it passed on (a file's change
    // time cannot be set back by its writer).
    let key = index_key(archive, cp);
    if key.is_some() && *CHECKED_INDEX.lock().unwrap_or_else(|e| e.into_inner()) == key {
        return Ok(cp.size);
    }
    let damaged = |i: u64, what: String| {
        Error::verification(format!(
            "the archive's index log/leaves disagrees with its signed log at leaf {i}: {what}; the archive was altered or damaged, so a lookup by hash cannot be trusted"
        ))
        .hint("run `exhibit audit` to see what is wrong, and restore the archive from a backup")
    };
    let mut tree = merkle::TreeBuilder::new();
    const CHUNK: u64 = 4096;
    let mut start = 0;
    while start < cp.size {
        let end = (start + CHUNK).min(cp.size);
        let lines = archive.read_leaves(start, end)?;
        if lines.len() as u64 != end - start {
            return Err(damaged(
                start + lines.len() as u64,
                format!(
                    "it has fewer lines than the {} the checkpoint covers",
                    cp.size
                ),
            ));
        }
        // Reading and parsing the manifests is the work; both cores share it, and the leaf
        // hashes join the tree in order.
        use rayon::prelude::*;
        let hashes: Vec<Result<merkle::Hash>> = lines
            .par_iter()
            .enumerate()
            .map(|(k, line)| {
                let i = start + k as u64;
                let Some((bytes, _)) = archive.load_record(&line.record_id)? else {
                    return Err(damaged(
                        i,
                        format!("record {} has no manifest", line.record_id),
                    ));
                };
                let m = Manifest::parse(&bytes).map_err(|e| {
                    damaged(
                        i,
                        format!("the manifest of {} does not parse ({e})", line.record_id),
                    )
                })?;
                if m.record_id != line.record_id.to_string() || m.document.sha256 != line.sha256 {
                    return Err(damaged(
                        i,
                        format!(
                            "the line names {} and document {}, its manifest {} and {}",
                            line.record_id, line.sha256, m.record_id, m.document.sha256
                        ),
                    ));
                }
                Ok(merkle::leaf_hash(&bytes))
            })
            .collect();
        for h in hashes {
            tree.push(h?);
        }
        start = end;
    }
    if tree.root() != cp.root {
        return Err(Error::verification(format!(
            "the archive's {} committed manifests do not hash to the root of its signed checkpoint: the archive was altered or damaged, so a lookup by hash cannot be trusted",
            cp.size
        ))
        .hint("run `exhibit audit` to see what is wrong, and restore the archive from a backup"));
    }
    *CHECKED_INDEX.lock().unwrap_or_else(|e| e.into_inner()) = key;
    Ok(cp.size)
}

type IndexKey = (std::path::PathBuf, u64, [u8; 32], u64, i64, i64);

static CHECKED_INDEX: std::sync::Mutex<Option<IndexKey>> = std::sync::Mutex::new(None);

fn index_key(archive: &Archive, cp: &Checkpoint) -> Option<IndexKey> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(archive.root().join("log").join("leaves")).ok()?;
    Some((
        archive.root().to_path_buf(),
        cp.size,
        cp.root,
        meta.len(),
        meta.ctime(),
        meta.ctime_nsec(),
    ))
}

/// The records a target names. Errors distinguish "nothing matches" from "more than one
/// document matches" so a user knows whether to check the value or type more of it.
pub fn resolve(archive: &Archive, target: &Target) -> Result<Vec<RecordId>> {
    resolve_at(archive, target, None)
}

/// The SHA-256 of every document the committed log cites whose hash begins with `prefix`, in
/// log order, each once.
pub fn documents_with_prefix(archive: &Archive, prefix: &str) -> Result<Vec<String>> {
    let mut docs: Vec<String> = Vec::new();
    for e in archive.leaves(archive.log_size()?)? {
        let sha = e.sha256.to_string();
        if sha.starts_with(prefix) && !docs.contains(&sha) {
            docs.push(sha);
        }
    }
    Ok(docs)
}

/// [`resolve`] within the first `size` leaves of the log (`None`: the current checkpoint's).
pub fn resolve_at(archive: &Archive, target: &Target, size: Option<u64>) -> Result<Vec<RecordId>> {
    match target {
        Target::Record(id) => {
            if archive.record_exists(id)? {
                return Ok(vec![*id]);
            }
            // A record the signed log commits to, whose files are gone, is damage, not a typo:
            // "no such record" would send the reader looking for a mistake of their own.
            let size = match size {
                Some(s) => s,
                None => archive.log_size()?,
            };
            let leaves = archive.leaves(size).unwrap_or_default();
            if let Some(i) = leaves.iter().position(|e| e.record_id == *id) {
                return Err(Error::verification(format!(
                    "record {id} is in the signed log (leaf {i}) but its files are missing from the archive at {}: the archive was altered or damaged",
                    archive.root().display()
                ))
                .hint("run `exhibit audit` to see everything that is missing, and restore the archive from a backup"));
            }
            Err(crate::archive::no_such_record(id, archive.root()))
        }
        Target::Sha256(h) | Target::Prefix(h) => {
            let size = match size {
                Some(s) => s,
                None => archive.log_size()?,
            };
            let mut docs: Vec<String> = Vec::new();
            let mut ids = Vec::new();
            for e in archive.leaves(size)? {
                let sha = e.sha256.to_string();
                if sha.starts_with(h.as_str()) {
                    if !docs.contains(&sha) {
                        docs.push(sha);
                    }
                    ids.push(e.record_id);
                }
            }
            match docs.len() {
                0 => Err(Error::new(
                    Kind::NotFound,
                    format!("no record in the archive at {} has a document with SHA-256 {h}{}",
                        archive.root().display(),
                        if h.len() < 64 { "…" } else { "" }),
                )
                .hint("check the hash and --archive; a document not in this archive cannot be verified here (this lookup reads log/leaves, an index no signature covers: if the archive may have been altered, `exhibit audit` checks it)")),
                1 => Ok(ids),
                n => Err(Error::new(
                    Kind::Ambiguous,
                    format!(
                        "hash prefix {h} matches {n} documents: {}",
                        docs.iter().map(|d| &d[..16]).collect::<Vec<_>>().join(", ")
                    ),
                )
                .hint("give more hex digits of the SHA-256")),
            }
        }
    }
}

/// Which part of a record a check is about (`check_record`'s steps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckName {
    /// The manifest parses and its signature counts.
    Signature,
    /// The manifest names the record it is filed as.
    RecordId,
    /// The document has the SHA-256 and size the manifest states.
    Document,
    /// A browser capture's parts, all together.
    Parts,
    /// One part of a browser capture that failed.
    Part,
    /// The record is the log's leaf it claims, under a checkpoint that counts.
    Log,
}

impl CheckName {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckName::Signature => "signature",
            CheckName::RecordId => "record_id",
            CheckName::Document => "document",
            CheckName::Parts => "parts",
            CheckName::Part => "part",
            CheckName::Log => "log",
        }
    }
}

impl std::fmt::Display for CheckName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: CheckName,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecordReport {
    pub record_id: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The URL the record's document came from (after redirects): its `final_url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The URL asked for, which citations name; the same as `url` unless redirected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub captured_at: Option<String>,
    /// How the record came to be (`capture`, `check`, `import`, `import-warc`, `key`). For an
    /// import, URL and time are what the importer stated, not what exhibit saw.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    pub trust: TrustKind,
    pub checks: Vec<Check>,
}

/// `exhibit verify --json` of record targets: every record each target names, checked against
/// one log state, and the targets that name none. The exit code is the CLI's (0 all verify, 1 a
/// record failed, else the first lookup error's); the web viewer's API returns the same value.
pub fn verify_json(
    archive: &Archive,
    log: &LogState,
    targets: &[String],
) -> Result<(i32, serde_json::Value)> {
    let mut code = 0;
    let mut reports = Vec::new();
    let mut errors = Vec::new();
    for t in targets {
        let ids = match lookup_checked(archive, log, t) {
            Ok((_, ids)) => ids,
            Err(e) => {
                errors.push(serde_json::json!({"target": crate::capture::shown_target(t), "error": e.to_string(), "exit_code": e.kind.exit_code()}));
                if code == 0 {
                    code = e.kind.exit_code();
                }
                continue;
            }
        };
        for id in ids {
            let r = verify_record(archive, log, &id)?;
            if !r.ok && code == 0 {
                code = 1;
            }
            reports.push(r);
        }
    }
    Ok((
        code,
        serde_json::json!({"ok": code == 0, "records": reports, "errors": errors}),
    ))
}

/// A record's inclusion proof against a checkpoint, checked before it is handed out: what
/// `exhibit prove --json` prints and the viewer's `/api/proof/ID` returns.
#[derive(Debug, Clone, Serialize)]
// Fields in alphabetical order: the JSON `prove` printed before this type existed.
pub struct InclusionProof {
    pub audit_path: Vec<String>,
    pub checkpoint: String,
    pub leaf_hash: String,
    pub leaf_index: u64,
    pub record_id: String,
    pub root_hash: String,
    pub tree_size: u64,
}

pub fn inclusion_proof(
    archive: &Archive,
    id: &RecordId,
    text: &str,
    cp: &Checkpoint,
) -> Result<InclusionProof> {
    let (bytes, _) = archive
        .load_record(id)?
        .ok_or_else(|| crate::archive::no_such_record(id, archive.root()))?;
    let m = Manifest::parse(&bytes)?;
    if m.log_index >= cp.size {
        return Err(Error::verification(format!(
            "record {id} has log index {} beyond the checkpoint's {} records",
            m.log_index, cp.size
        ))
        .hint("run `exhibit audit`"));
    }
    let proof = archive.inclusion_proof(m.log_index, cp.size)?;
    let leaf = merkle::leaf_hash(&bytes);
    record::check_inclusion(&proof, cp, m.log_index, &leaf).map_err(|e| {
        Error::verification(format!("record {id} is not proven in the log: {e}"))
            .hint("run `exhibit audit`")
    })?;
    Ok(InclusionProof {
        audit_path: proof.iter().map(hex::encode).collect(),
        checkpoint: text.to_string(),
        leaf_hash: hex::encode(leaf),
        leaf_index: m.log_index,
        record_id: m.record_id,
        root_hash: hex::encode(cp.root),
        tree_size: cp.size,
    })
}

impl RecordReport {
    pub fn first_failure(&self) -> Option<&Check> {
        self.checks.iter().find(|c| !c.ok)
    }

    /// The failed checks, one phrase: "signature: signature does not verify under key 52ef…;
    /// document: document … is missing from the store".
    pub fn failed_checks(&self) -> String {
        self.checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("{}: {}", c.check, c.detail))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Why the key records cannot be relied on: the words, and the key record at fault when one is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustFailure {
    pub what: String,
    /// The log index of the key record that cannot be read or does not verify.
    pub key_record: Option<u64>,
}

impl TrustFailure {
    fn new(what: impl Into<String>) -> TrustFailure {
        TrustFailure {
            what: what.into(),
            key_record: None,
        }
    }
}

impl From<Error> for TrustFailure {
    fn from(e: Error) -> TrustFailure {
        let key_record = e
            .source
            .as_ref()
            .and_then(|s| s.downcast_ref::<crate::trust::TrustError>())
            .and_then(crate::trust::TrustError::key_record);
        TrustFailure {
            what: e.what,
            key_record,
        }
    }
}

impl std::fmt::Display for TrustFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.what)
    }
}

/// What every record check of one run shares: the signed checkpoint and the key book, both
/// checked once.
#[derive(Clone)]
pub struct LogState {
    pub kind: TrustKind,
    pub checkpoint: Option<Checkpoint>,
    pub text: Option<String>,
    /// The key book, or why the key records cannot be relied on.
    pub trust: std::result::Result<Trust, TrustFailure>,
    /// Why the checkpoint cannot be relied on, if it cannot.
    pub problem: Option<String>,
    /// Things worth saying that do not fail verification.
    pub notes: Vec<String>,
}

impl LogState {
    pub fn load(archive: &Archive, anchor: &Anchor) -> LogState {
        Self::load_for_origin(archive, anchor, &archive.config.origin)
    }

    pub fn load_for_origin(archive: &Archive, anchor: &Anchor, origin: &str) -> LogState {
        let mut st = LogState {
            kind: anchor.kind(),
            checkpoint: None,
            text: None,
            trust: Err(TrustFailure::new("the archive has no log checkpoint")),
            problem: Some("the archive has no log checkpoint".into()),
            notes: Vec::new(),
        };
        let (text, cp) = match archive.checkpoint() {
            Ok(Some(x)) => x,
            Ok(None) => return st,
            Err(e) => {
                st.problem = Some(e.to_string());
                st.trust = Err(TrustFailure::new(e.to_string()));
                return st;
            }
        };
        st.trust = Trust::load(archive, anchor, cp.size).map_err(TrustFailure::from);
        st.problem = match &st.trust {
            Err(why) => Some(why.to_string()),
            Ok(trust) => {
                st.notes.extend(unpinned_warnings(trust));
                if trust.commitment(&cp) == Commitment::Absent {
                    st.notes.push("the checkpoint does not commit to log/keys (it was written by an older exhibit); the next write commits it".into());
                }
                trust
                    .check_checkpoint(&text, &cp, origin)
                    .err()
                    .map(|e| e.to_string())
            }
        };
        st.checkpoint = Some(cp);
        st.text = Some(text);
        st
    }

    /// The archive's own log state for an export: an exporter vouches for what it writes, so an
    /// archive whose key records or checkpoint cannot be relied on exports nothing.
    pub fn for_export(archive: &Archive) -> Result<LogState> {
        let st = LogState::load(archive, &Anchor::Archive);
        if let Err(why) = &st.trust {
            return Err(Error::verification(format!(
                "the archive's key records cannot be relied on ({why}); nothing is exported"
            ))
            .hint("run `exhibit audit`"));
        }
        if let Some(why) = &st.problem {
            return Err(Error::verification(format!(
                "the archive's checkpoint does not verify ({why}); nothing is exported"
            ))
            .hint("run `exhibit audit`"));
        }
        Ok(st)
    }

    /// The key book, when the key records could be read.
    pub fn book(&self) -> Option<&crate::trust::Book> {
        self.trust.as_ref().ok().map(|t| &t.book)
    }
}

/// Key records that say a trusted key is retired or compromised but do not count because a key
/// outside the book signed them: a verifier who pinned only some keys should still hear of them.
fn unpinned_warnings(trust: &Trust) -> Vec<String> {
    use crate::trust::{EventProblem, Rejection, StatusKind};
    trust
        .book
        .rejected
        .iter()
        .filter(|r| {
            matches!(
                r.problem,
                EventProblem::Signature(Rejection::UnknownSigner { .. })
            )
        })
        .filter_map(|r| {
            let ev = trust.events.iter().find(|e| e.line.index == r.index)?;
            let st = &ev.statement;
            (st.status != StatusKind::Added && trust.book.get(&st.key).is_some()).then(|| {
                format!(
                    "key record {} (log index {}), signed by key {}, which you did not pin, says key {} is {} since {}; it does not count for this verification",
                    r.record,
                    r.index,
                    ev.manifest.signer,
                    st.key,
                    st.status.as_str(),
                    st.since
                )
            })
        })
        .collect()
}

/// Why a signed manifest does not count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsigned {
    /// The bytes are not a valid manifest.
    #[error("{0}")]
    Malformed(String),
    /// The key book could not be folded, so no signature can count.
    #[error("the archive's key records cannot be relied on: {0}")]
    KeyRecords(TrustFailure),
    /// The key book's verdict on this signature.
    #[error(transparent)]
    Rejected(#[from] crate::trust::Rejection),
}

/// Check a manifest's bytes and signature. Returns the parsed manifest whenever it parses (a
/// record with a bad signature still says what it claims), and whether the signature counts.
pub fn check_signed(
    bytes: &[u8],
    signature: &[u8],
    log: &LogState,
) -> (Option<Manifest>, Result<(), Unsigned>) {
    let m = match Manifest::parse(bytes) {
        Ok(m) => m,
        Err(e) => return (None, Err(Unsigned::Malformed(e.to_string()))),
    };
    let verdict = match &log.trust {
        Err(why) => Err(Unsigned::KeyRecords(why.clone())),
        Ok(t) => t.check(&m, bytes, signature).map_err(Unsigned::from),
    };
    (Some(m), verdict)
}

/// Why the log does not extend an older checkpoint ([`check_extends`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotExtended {
    #[error("the old checkpoint is malformed: {0}")]
    Malformed(String),
    /// The key book could not be folded, so no checkpoint can be judged.
    #[error("{0}")]
    KeyRecords(String),
    /// Not this archive's, or no key whose checkpoints of its size count signed it.
    #[error("the old checkpoint is not trustworthy: {0}")]
    Untrusted(crate::trust::CheckpointProblem),
    #[error(
        "the log has {now} records but the old checkpoint already had {old}: history was rewritten"
    )]
    Shrunk { now: u64, old: u64 },
    /// The stored hashes cannot give the consistency proof.
    #[error("{0}")]
    Proof(String),
    #[error("the log of {now} records does not extend the old checkpoint of {old} records: history was rewritten")]
    Diverged { now: u64, old: u64 },
    #[error("the key records of the first {old} records are not those the old checkpoint committed to: a key record was removed, altered or added since (history was rewritten)")]
    KeyRecordsRewritten { old: u64 },
    /// There is no checkpoint of the archive's that counts to compare with.
    #[error("the archive has no valid checkpoint to compare with")]
    NoCheckpoint,
}

impl NotExtended {
    /// A trustworthy older checkpoint that the log contradicts: a rollback or a rewrite, not an
    /// unreadable or untrusted file.
    pub fn history_rewritten(&self) -> bool {
        matches!(
            self,
            NotExtended::Shrunk { .. }
                | NotExtended::Diverged { .. }
                | NotExtended::KeyRecordsRewritten { .. }
        )
    }
}

pub fn verify_record(archive: &Archive, log: &LogState, id: &RecordId) -> Result<RecordReport> {
    verify_record_to(archive, log, id, &mut std::io::sink())
}

/// [`verify_record`], writing the document's bytes to `out` while they are checked, so a caller
/// that presents the document (`exhibit cat`, `diff`) reads it once and uses it only when the
/// report says the record verifies. The bytes in `out` are unverified until then.
pub fn verify_record_to(
    archive: &Archive,
    log: &LogState,
    id: &RecordId,
    out: &mut dyn std::io::Write,
) -> Result<RecordReport> {
    record::check_record(archive, log, &id.to_string(), out)?
        .ok_or_else(|| crate::archive::no_such_record(id, archive.root()))
}

/// An archive as a record source: records and documents from its files, proofs from its
/// stored hashes, after checking that the log's line for the leaf names this record.
impl record::RecordSource for Archive {
    fn record(&self, id: &str) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let Ok(id) = id.parse::<RecordId>() else {
            return Ok(None);
        };
        self.load_record(&id)
    }

    fn document(
        &self,
        sha256: &str,
        out: &mut dyn std::io::Write,
    ) -> Result<record::DocumentFound> {
        let Some(digest) = Sha256::parse(sha256) else {
            return Ok(Err(format!("{sha256:?} is not a SHA-256 digest")));
        };
        match self.read_document(&digest, out) {
            Ok(c) => Ok(Ok((c.sha256.to_string(), c.size))),
            // Writing the copy failed (a full temporary disk): not a fact about the record.
            Err(crate::store::BlobError::Output(e)) => {
                Err(Error::archive(format!("cannot write the document: {e}"))
                    .hint("check the free space of the temporary directory (TMPDIR)"))
            }
            Err(e) => Ok(Err(e.to_string())),
        }
    }

    fn carries_parts(&self) -> bool {
        true
    }

    fn inclusion_proof(
        &self,
        m: &Manifest,
        _bytes: &[u8],
        cp: &Checkpoint,
    ) -> std::result::Result<Vec<merkle::Hash>, String> {
        if m.log_index >= cp.size {
            return Err(format!(
                "log index {} is not covered by the checkpoint (tree size {})",
                m.log_index, cp.size
            ));
        }
        match self.leaf(m.log_index) {
            Ok(e) if e.record_id.to_string() == m.record_id && e.sha256 == m.document.sha256 => {}
            Ok(e) => {
                return Err(format!(
                    "log leaf {} is record {} / {}, not this record",
                    m.log_index,
                    e.record_id,
                    &e.sha256.to_string()[..16]
                ))
            }
            Err(e) => return Err(e.to_string()),
        }
        self.inclusion_proof(m.log_index, cp.size)
            .map_err(|e| format!("cannot build the inclusion proof: {e}"))
    }
}

/// Hash a local file, for "is this file the cited one?".
pub fn sha256_file(path: &Path) -> Result<(String, u64)> {
    use sha2::Digest;
    let mut f = File::open(path).map_err(|e| {
        let mut err = Error::io("open", path, e);
        err.kind = Kind::Usage;
        err
    })?;
    let mut w = crate::store::DigestWriter::new(std::io::sink());
    std::io::copy(&mut f, &mut w).map_err(|e| Error::io("read", path, e))?;
    Ok((hex::encode(w.hasher.finalize()), w.count))
}

pub fn short(h: &str) -> &str {
    &h[..h.len().min(16)]
}

/// Check that the archive's log extends an older checkpoint (append-only history): the old
/// checkpoint must be signed by a trusted key for this archive's origin, and a consistency proof
/// from its tree to the current signed tree must verify.
pub fn check_extends(
    archive: &Archive,
    log: &LogState,
    current: &Checkpoint,
    old_text: &str,
) -> Result<Checkpoint, NotExtended> {
    let old = note::parse_note(old_text)
        .and_then(|n| Checkpoint::parse(&n.text))
        .map_err(|e| NotExtended::Malformed(e.to_string()))?;
    let trust = log
        .trust
        .as_ref()
        .map_err(|e| NotExtended::KeyRecords(e.to_string()))?;
    // The old checkpoint is judged by the current book: it counts if its signer's checkpoints
    // of that size count. Its key-record line committed to a prefix of today's log/keys, which
    // is checked below, after the consistency proof that covers the records themselves.
    trust
        .check_checkpoint_signature(old_text, &old, &archive.config.origin)
        .map_err(NotExtended::Untrusted)?;
    if old.size > current.size {
        return Err(NotExtended::Shrunk {
            now: current.size,
            old: old.size,
        });
    }
    let proof = archive
        .consistency_proof(old.size, current.size)
        .map_err(|e| NotExtended::Proof(e.to_string()))?;
    merkle::check_consistency(&proof, current.size, &current.root, old.size, &old.root).map_err(
        |_| NotExtended::Diverged {
            now: current.size,
            old: old.size,
        },
    )?;
    // The tree extends; so must the list of key records. A holder of a key that was later
    // marked compromised can sign a checkpoint over the same tree whose key-record line leaves
    // the compromise out: the kept checkpoint's line shows what the list was.
    let kept: Vec<&String> = old
        .extensions
        .iter()
        .filter(|l| l.starts_with(crate::trust::statement::COMMITMENT_PREFIX))
        .collect();
    if let [kept] = kept.as_slice() {
        let now = crate::trust::statement::committed_lines(&trust.lines, old.size);
        if crate::trust::statement::commitment_line(&now).as_ref() != Some(*kept) {
            return Err(NotExtended::KeyRecordsRewritten { old: old.size });
        }
    }
    Ok(old)
}

/// A record as `exhibit show --json` prints it and the viewer's `/api/records/ID` serves it:
/// the manifest's fields and a `verification` object (ok, trust, checks).
pub fn record_json(m: Option<&Manifest>, id: &str, report: &RecordReport) -> serde_json::Value {
    let mut v = m
        .and_then(|m| serde_json::to_value(m).ok())
        .unwrap_or_else(|| serde_json::json!({ "record_id": id }));
    v["verification"] = serde_json::json!({
        "ok": report.ok, "trust": report.trust, "checks": report.checks,
    });
    v
}
