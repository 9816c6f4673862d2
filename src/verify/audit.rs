//! Audit: re-check a whole archive and list every problem, never stopping at the first.
//!
//! Every file is accounted for. Each kind of file has a check that notices any changed byte:
//! `exhibit.json` must be in canonical form, `lock` empty, key files canonical PEM named by their
//! key ID, blobs carry a checksum of every stored byte and must decompress to their name,
//! manifests are signed, signature files are exactly one valid signature, `log/leaves` and
//! `log/hashes` must equal what the manifests recompute, and the checkpoint is signed. Anything
//! else is an unexpected file. Files in `tmp/` and a log tail beyond the checkpoint are the
//! remains of an interrupted write: warnings, cleaned up by the next writer. So are the files a
//! file manager leaves behind (`.DS_Store`, `Thumbs.db`): warnings, as long as they are regular
//! files.
//!
//! The report says exactly what was read: manifests, signatures and the log always in full,
//! documents all or a selection ([`Selection`]). A clean audit that left documents unread is "OK
//! for what was read", never "archive OK". With `--since` and `--state` it also proves the log
//! extends a checkpoint kept from before, which is the only thing that catches a rollback to an
//! older genuine state of the archive (anyone who can write the archive can do that, no key
//! needed).

use crate::archive::dir::EntryKind;
use crate::archive::local::LogFile;
use crate::archive::{self, Archive, ArchiveConfig};
use crate::core::digest::Sha256;
use crate::error::{Error, Result};
use crate::keys;
use crate::log::{merkle, LeafEntry, LEAF_LINE};
use crate::note::{self, Checkpoint};
use crate::record_id::RecordId;
use crate::trust::{Anchor, Trust, TrustKind};
use crate::verify::{self, LogState};
use rayon::prelude::*;
use serde::Serialize;
use sha2::Digest;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub severity: Severity,
    /// Path relative to the archive root.
    pub path: String,
    pub what: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    /// No errors. Says nothing about documents this run did not read: see `complete`.
    pub ok: bool,
    /// Everything was read: every document as well as every manifest, signature and the log.
    pub complete: bool,
    /// What was read and the verdict, in one line: the line the text output ends with.
    pub summary: String,
    pub archive: String,
    pub trust: TrustKind,
    /// IDs of the keys this run trusted: the pinned ones, or the archive's own.
    pub trusted_keys: Vec<String>,
    pub tree_size: u64,
    pub records: u64,
    pub documents: u64,
    /// Documents decompressed and hashed in this run (all of them unless sampled).
    pub documents_checked: u64,
    /// Documents whose content this run did not read (a sample or subset left them out).
    pub documents_not_read: u64,
    pub selection: String,
    /// With `--subset`: "N/M".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subset: Option<String>,
    /// With `--sample`: the percentage and the seed (given, or fresh for this run), so that
    /// `--sample P --seed S` repeats exactly this run's selection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_percent: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    pub document_bytes: u64,
    pub stored_bytes: u64,
    pub errors: usize,
    pub warnings: usize,
    /// The lowest log index at which the records and the log disagree: where a removed,
    /// reordered, altered or inserted record is.
    pub first_bad_leaf: Option<u64>,
    /// With `--since`: the tree size of the older checkpoint the log was proven to extend.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extends: Option<u64>,
    /// Whether the log was compared with a checkpoint kept from before (`--since`, `--state`):
    /// "extends" (every one given is extended), "failed", or "not checked" (neither given, or a
    /// first run with `--state`): then a rollback to an older genuine state would pass.
    pub history: &'static str,
    /// With `--state`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<StateReport>,
    /// For each document with an error (by path): the records that cite it, in log order.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub cited_by: BTreeMap<String, Vec<Citation>>,
    pub problems: Vec<Problem>,
    /// The checkpoint this audit verified, byte for byte: what `--state` keeps when it passes.
    #[serde(skip)]
    pub checkpoint_text: Option<String>,
}

/// A record that cites a document, as a document error names it.
#[derive(Debug, Clone, Serialize)]
pub struct Citation {
    pub record_id: String,
    pub url: String,
    /// When the document is a part of a browser capture (FORMAT.md 5.10): its role or URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part: Option<String>,
}

/// What `--state FILE` found and did.
#[derive(Debug, Clone, Serialize)]
pub struct StateReport {
    pub path: String,
    /// The tree size of the checkpoint the file held (from the last passing audit), or null on
    /// a first run.
    pub previous_tree_size: Option<u64>,
    /// Whether this run's checkpoint was written to the file (only when the audit passed).
    pub saved: bool,
}

fn records(n: u64) -> String {
    match n {
        1 => "1 record".into(),
        n => format!("{} records", group(n)),
    }
}

impl AuditReport {
    /// Problems found beside this audit (objects on a store that the archive does not account
    /// for): listed first, counted, and the verdict recomputed.
    pub fn add_problems(&mut self, extra: Vec<Problem>) {
        if extra.is_empty() {
            return;
        }
        let mut all = extra;
        all.append(&mut self.problems);
        self.errors = all.iter().filter(|p| p.severity == Severity::Error).count();
        self.warnings = all.len() - self.errors;
        self.ok = self.ok && self.errors == 0;
        self.problems = all;
        self.summary = self.summary_line();
    }

    /// The closing line: what was read, then the verdict. A clean audit that did not read every
    /// document says "OK for what was read" and how many it left out, never "archive OK".
    fn summary_line(&self) -> String {
        let docs = if self.documents == 0 {
            "documents: none stored".to_string()
        } else if self.complete {
            match self.documents {
                1 => "documents: the 1 document read".to_string(),
                n => format!("documents: all {} read", group(n)),
            }
        } else {
            format!(
                "documents: {} of {} read ({}), {} not read in this run",
                group(self.documents_checked),
                group(self.documents),
                self.selection,
                group(self.documents_not_read)
            )
        };
        let warnings = match self.warnings {
            0 => String::new(),
            1 => ", 1 warning".into(),
            n => format!(", {n} warnings"),
        };
        let verdict = if !self.ok {
            format!(
                "FAILED: {} error{}{warnings}",
                self.errors,
                if self.errors == 1 { "" } else { "s" }
            )
        } else if self.complete {
            format!("archive OK{warnings}")
        } else {
            format!("OK for what was read{warnings}")
        };
        let records = match self.records {
            1 => "the 1 record".to_string(),
            n => format!("all {} records", group(n)),
        };
        format!("audit: manifests, signatures and log: {records}; {docs}: {verdict}")
    }

    /// Lines that say what the run trusted and compared with, before the summary.
    pub fn context_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let ids = self.trusted_keys.join(", ");
        out.push(if self.trust == TrustKind::Pinned {
            format!("trust: pinned with --trusted-key: {ids}")
        } else {
            format!(
                "trust: the archive's own keys ({}): not pinned, so whoever can rewrite the whole archive could put in keys of their own (pin with --trusted-key)",
                if ids.is_empty() { "none" } else { &ids }
            )
        });
        if let Some(n) = self.extends {
            out.push(format!(
                "history: the log extends the --since checkpoint of {} (consistency proof verified)",
                records(n)
            ));
        }
        if let Some(st) = &self.state {
            match (st.previous_tree_size, self.history) {
                (None, _) => out.push(format!(
                    "history: {} holds no checkpoint yet (first run): the log was not compared with an earlier run",
                    st.path
                )),
                (Some(n), "failed") => out.push(format!(
                    "history: NOT verified against the checkpoint of {} kept in {} (see the errors above)",
                    records(n),
                    st.path
                )),
                (Some(n), _) => out.push(format!(
                    "history: the log extends the checkpoint of {} kept in {} by the last passing audit (consistency proof verified)",
                    records(n),
                    st.path
                )),
            }
        }
        if self.history == "not checked" && self.state.is_none() {
            out.push(
                "history: not compared with a checkpoint kept from before (no --state or --since): a rollback to an older genuine state would pass"
                    .into(),
            );
        }
        if let Some(seed) = &self.seed {
            out.push(format!(
                "sample seed: {seed} (repeat this selection with --seed {seed})"
            ));
        }
        out
    }

    /// After the summary: what `--state` did.
    pub fn state_line(&self) -> Option<String> {
        let st = self.state.as_ref()?;
        Some(if st.saved {
            format!(
                "state: saved the checkpoint of {} records to {}",
                group(self.tree_size),
                st.path
            )
        } else {
            format!("state: {} left unchanged (the audit did not pass)", st.path)
        })
    }
}

/// 9880 -> "9,880": counts a reader takes in at a glance.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Control characters of a string shown in a problem, escaped: a URL from a forged manifest
/// must not reach the terminal raw.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Which documents an audit decompresses and hashes. Manifests, signatures, the log and the
/// presence of every file are always checked in full (they are small); reading every document is
/// what costs, so large archives may spread it over several runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    All,
    /// Documents whose SHA-256(seed ‖ document hash), read as a number, falls in the first
    /// `percent` of the range: deterministic for a seed, a different sample for another seed.
    Sample {
        percent: f64,
        seed: String,
    },
    /// Documents whose hash, read as a number modulo `of`, is `part - 1`: runs 1..=of together
    /// check every document exactly once.
    Subset {
        part: u64,
        of: u64,
    },
}

impl Selection {
    pub fn includes(&self, sha256: &str) -> bool {
        let prefix = |h: &[u8]| u64::from_be_bytes(h[..8].try_into().expect("8 bytes"));
        match self {
            Selection::All => true,
            Selection::Sample { percent, .. } if *percent >= 100.0 => true,
            Selection::Sample { percent, seed } => {
                let mut h = sha2::Sha256::new();
                h.update(seed.as_bytes());
                h.update(b"\n");
                h.update(sha256.as_bytes());
                let x = prefix(&h.finalize()) as f64 / u64::MAX as f64;
                x < percent / 100.0
            }
            Selection::Subset { part, of } => {
                let raw = hex::decode(&sha256[..16]).unwrap_or_default();
                raw.len() == 8 && prefix(&raw) % of == part - 1
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Selection::All => "all documents".into(),
            Selection::Sample { percent, seed } => format!("{percent}% sample, seed {seed:?}"),
            Selection::Subset { part, of } => format!("subset {part}/{of}"),
        }
    }

    /// A seed for a `--sample` run that gives none: different for every run (the time, and
    /// randomness for two runs in one second), so that nightly samples add up to the whole
    /// archive instead of re-reading the same documents. The report prints it, and `--seed`
    /// repeats the run.
    pub fn fresh_seed() -> String {
        let mut random = [0u8; 4];
        // Without randomness the time alone still differs from one night to the next.
        let _ = getrandom::getrandom(&mut random);
        format!(
            "{}-{}",
            jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ"),
            hex::encode(random)
        )
    }
}

pub struct AuditOptions {
    pub jobs: usize,
    pub since: Option<Since>,
    /// `--state FILE`: the checkpoint of the last passing audit, which the log must extend.
    pub state: Option<StateFile>,
    pub selection: Selection,
}

/// An older checkpoint the log must extend (`audit --since FILE`, or the one `--state` keeps).
pub struct Since {
    pub path: String,
    pub text: String,
    pub tree_size: u64,
}

impl Since {
    /// Read an older checkpoint the user kept. A file that cannot be read or is not a checkpoint
    /// at all is a mistake on the command line (exit code 2), not a finding about the archive;
    /// whether it is trustworthy and extended by the log is what the audit then checks.
    pub fn read(path: &Path, option: &str) -> Result<Since> {
        let hint = "give the file saved by `exhibit checkpoint > FILE` or by a passing `exhibit audit --state FILE`";
        let bytes = std::fs::read(path).map_err(|e| {
            let mut err = Error::io(&format!("read the {option} checkpoint"), path, e);
            err.kind = crate::error::Kind::Usage;
            err
        })?;
        let parsed = std::str::from_utf8(&bytes)
            .map_err(|_| "not text".to_string())
            .and_then(|text| {
                let cp = note::parse_note(text)
                    .and_then(|n| Checkpoint::parse(&n.text))
                    .map_err(|e| e.to_string())?;
                Ok((text.to_string(), cp))
            });
        match parsed {
            Ok((text, cp)) => Ok(Since {
                path: path.display().to_string(),
                text,
                tree_size: cp.size,
            }),
            Err(why) => Err(Error::usage(format!(
                "{option} {}: not a signed checkpoint ({why})",
                path.display()
            ))
            .hint(hint)),
        }
    }
}

/// `audit --state FILE`: where the last passing audit left its checkpoint, and where this one
/// leaves its own if it passes.
pub struct StateFile {
    pub path: PathBuf,
    /// What the file held; `None` on the first run (no file yet).
    pub previous: Option<Since>,
}

impl StateFile {
    /// Open the state file before the audit runs, so that a wrong path fails at once (exit
    /// code 2) and not after a long audit that then cannot save its state.
    pub fn open(path: &Path) -> Result<StateFile> {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !dir.is_dir() {
            return Err(Error::usage(format!(
                "--state {}: directory {} does not exist",
                path.display(),
                dir.display()
            ))
            .hint(format!("create it first (mkdir -p {})", dir.display())));
        }
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StateFile {
                path: path.to_path_buf(),
                previous: None,
            }),
            Ok(m) if m.is_dir() => Err(Error::usage(format!(
                "--state {}: is a directory",
                path.display()
            ))
            .hint("give a file name, e.g. --state audit-state/checkpoint")),
            _ => Ok(StateFile {
                path: path.to_path_buf(),
                previous: Some(Since::read(path, "--state").map_err(|e| {
                    e.hint("restore the file the last passing audit wrote (deleting it makes the next run a first run, which cannot detect a rollback)")
                })?),
            }),
        }
    }
}

/// Keep the checkpoint a passing audit verified in its `--state` file, atomically (a scratch
/// file beside it, flushed, then renamed), so that a crash leaves the old state or the new one.
/// Does nothing when the audit did not pass: the next run must still compare with the last
/// checkpoint that did.
pub fn save_state(report: &mut AuditReport, state: &StateFile) -> Result<()> {
    let (true, Some(text), Some(st)) = (
        report.ok,
        report.checkpoint_text.as_ref(),
        report.state.as_mut(),
    ) else {
        return Ok(());
    };
    let dir = state
        .path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    crate::fsutil::write_atomic(dir, &state.path, text.as_bytes(), 0o644)?;
    st.saved = true;
    Ok(())
}

/// Progress counters the CLI may display while the audit runs.
#[derive(Default)]
pub struct Progress {
    pub done: AtomicU64,
    pub total: AtomicU64,
}

struct Found {
    config: bool,
    lock_len: Option<u64>,
    /// `keys/<name>`: the relative path and the file name.
    keys: Vec<(String, String)>,
    /// Stored documents: hash, relative path, stored size.
    documents: Vec<(String, String, u64)>,
    records: HashMap<RecordId, (bool, bool)>,
    log: HashSet<&'static str>,
    /// Packed layout: `packs/<aa>/<sha256>.pack`, with its relative path and size.
    packs: Vec<(Sha256, String, u64)>,
    /// Packed layout: the document entries of the packs the log names (filled by the packs
    /// phase), read by the documents phase like blob files.
    packed: Vec<PackedDocument>,
}

/// A stored document as the documents phase reads it: its SHA-256, path and stored size, and,
/// for a pack's document entry, the pack and the entry.
type DocumentItem<'a> = (
    &'a String,
    &'a String,
    &'a u64,
    Option<(&'a Sha256, &'a crate::core::pack::Entry)>,
);

/// A document entry of a pack, to be read and checked like a blob file.
struct PackedDocument {
    sha: String,
    path: String,
    len: u64,
    pack: Sha256,
    entry: crate::core::pack::Entry,
}

/// What the packs phase learnt for the phases after it: each committed leaf's pack, and which
/// documents each pack holds.
#[derive(Default)]
struct Packs {
    leaf_pack: Vec<Option<Sha256>>,
    /// Each pack's documents, stored in it or referred to from it.
    documents_in: HashMap<Sha256, HashSet<String>>,
    /// Reference entries: the pack, the document, the path that names the entry.
    references: Vec<(Sha256, String, String)>,
}

pub fn audit(
    archive: &Archive,
    anchor: &Anchor,
    opts: &AuditOptions,
    progress: &Progress,
) -> Result<AuditReport> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.max(1))
        .build()
        .map_err(|e| crate::error::Error::archive(format!("cannot start worker threads: {e}")))?;
    pool.install(|| run(archive, anchor, opts, progress))
}

/// The audit, phase by phase. Each phase adds what it finds to one list and none stops the
/// others, so a single run names every problem. A phase may rely on what the ones before it
/// established, and the report lists the problems of one path in the order they were found: the
/// order of the phases is part of the output.
fn run(
    archive: &Archive,
    anchor: &Anchor,
    opts: &AuditOptions,
    progress: &Progress,
) -> Result<AuditReport> {
    let mut audit = Audit {
        archive,
        anchor,
        opts,
        progress,
        problems: Vec::new(),
        checkpoint_origin: None,
        tail_not_interrupted: false,
        first_bad: None,
    };
    // The checkpoint is read before the files are listed. A writer adds a commit's files
    // before the checkpoint that commits them (FORMAT.md 10), so every file a checkpoint read
    // first commits is in the listing; listed the other way round, a commit landing between
    // the two would cite files the listing missed, and a live archive would audit as damaged.
    let loaded = LogState::load(archive, anchor);
    let mut found = audit.inventory()?;
    let mut log = audit.log_state(&found, loaded);
    audit.checkpoint_origin = log.checkpoint.as_ref().map(|c| c.origin.clone());
    audit.tail_not_interrupted = log.checkpoint.is_none();
    let size = tree_size(&log);
    let leaves = audit.read_leaves(size)?;
    if log.checkpoint.is_none() && !leaves.tail.entries.is_empty() {
        audit.error(
            "log/leaves",
            format!(
                "{} records, and the files they name, stand beyond a checkpoint that is missing or cannot be believed: without one nothing tells committed records from an interrupted write, so none of them was checked, and writers refuse the archive (restore log/checkpoint from a backup, then audit again)",
                leaves.tail.entries.len()
            ),
        );
    }
    // The packs phase and the reading of every document need nothing from the records: they
    // run alongside the record phase, so both cores stay busy from the first record to the
    // last document. The packs phase files its findings apart and they join the report where
    // they always stood, before anything the record phase finds.
    progress.total.store(
        leaves.committed.len() as u64 + found.documents.len() as u64,
        Ordering::Relaxed,
    );
    let mut packs_phase = audit.apart();
    let ((packs, reads), (outcomes, key_lines)) = rayon::join(
        || {
            let packs = packs_phase.check_packs(&mut found, &leaves, size);
            // The packs phase has found the packs' documents: the progress counts them too.
            progress
                .total
                .fetch_add(found.packed.len() as u64, Ordering::Relaxed);
            (packs, read_documents(archive, opts, progress, &found))
        },
        || audit.check_records(&mut log, &leaves.committed, size),
    );
    audit.take_findings(packs_phase);
    let ledger = audit.account_records(outcomes, &leaves.committed);
    audit.check_pack_documents(&found, &packs, &leaves.committed, &ledger.cited_by);
    audit.check_tail(&leaves.tail, &ledger.committed_ids, size);
    audit.check_key_events(&log, size, &key_lines);
    audit.check_tree(size, &ledger.leaf_hashes, &log);
    let history = audit.check_history(&log);
    audit.check_record_files(&found, &ledger.committed_ids, &leaves.tail.ids);
    let read = audit.check_documents(&found, reads, &ledger.referenced, &leaves.tail.documents);
    audit.check_cited_documents(&found, &ledger.cited_by);
    let cited_by = audit.name_citers(&ledger.cited_by);
    Ok(audit.report(
        &found,
        &log,
        leaves.committed.len() as u64,
        history,
        read,
        cited_by,
    ))
}

/// One audit run: what every phase reads, and the findings they all add to.
struct Audit<'a> {
    archive: &'a Archive,
    anchor: &'a Anchor,
    opts: &'a AuditOptions,
    progress: &'a Progress,
    problems: Vec<Problem>,
    /// The origin line of the checkpoint, once the log state phase has read it.
    checkpoint_origin: Option<String>,
    /// Set when what lies beyond the checkpoint cannot be an interrupted write's remains: there
    /// is no checkpoint to believe, or the tail's records were signed in several commits. No
    /// file is then called the remains of one, since a writer refuses to roll anything back.
    tail_not_interrupted: bool,
    /// The lowest leaf index any phase found wrong: where a removed, reordered, altered or
    /// inserted record is.
    first_bad: Option<u64>,
}

/// How many leaves the checkpoint commits; none without a checkpoint.
fn tree_size(log: &LogState) -> u64 {
    log.checkpoint.as_ref().map_or(0, |c| c.size)
}

/// The log's leaves as read: the committed ones (`None` where a line is not a well-formed
/// entry), and what an interrupted write left beyond the checkpoint.
struct Leaves {
    committed: Vec<Option<LeafEntry>>,
    tail: Tail,
}

/// The lines beyond the checkpoint, and what they name. What an interrupted write left is a
/// warning, not an extra file, only because the tail names it.
struct Tail {
    entries: Vec<LeafEntry>,
    ids: HashSet<RecordId>,
    /// The documents the tail's records cite, their parts included.
    documents: HashSet<String>,
}

impl Tail {
    fn new(archive: &Archive, entries: Vec<LeafEntry>) -> Tail {
        let ids: HashSet<RecordId> = entries.iter().map(|e| e.record_id).collect();
        // An interrupted commit places a browser record's file before its parts (FORMAT.md 10),
        // so the parts it may have left are named by a tail record still there.
        let parts: Vec<String> = entries
            .iter()
            .filter_map(|e| archive.load_record(&e.record_id).ok().flatten())
            .filter_map(|(bytes, _)| crate::manifest::Manifest::parse(&bytes).ok())
            .flat_map(|m| m.parts().into_iter().map(|p| p.sha256))
            .collect();
        let mut documents: HashSet<String> = entries.iter().map(|e| e.sha256.to_string()).collect();
        documents.extend(parts);
        Tail {
            entries,
            ids,
            documents,
        }
    }
}

/// What the committed records say, gathered in log order for the phases that check across
/// records.
struct Ledger {
    /// Each leaf's hash, `None` where the record's bytes are missing: what the tree is rebuilt
    /// from.
    leaf_hashes: Vec<Option<merkle::Hash>>,
    /// Every document a record cites (a browser capture's parts too), with the size the first
    /// record citing it gives.
    referenced: HashMap<String, u64>,
    /// For each document, the records that cite it, in log order.
    cited_by: HashMap<String, Vec<Citation>>,
    committed_ids: HashSet<RecordId>,
}

impl Ledger {
    /// A browser capture's parts are its documents too: referenced, checked and named.
    fn cite(&mut self, f: Facts) {
        for p in f.parts {
            self.cited_by
                .entry(p.sha256.clone())
                .or_default()
                .push(Citation {
                    record_id: f.record_id.clone(),
                    url: f.requested_url.clone(),
                    part: Some(p.name),
                });
            self.referenced.entry(p.sha256).or_insert(p.size);
        }
        let (sha, size) = (f.sha256, f.size);
        self.cited_by
            .entry(sha.clone())
            .or_default()
            .push(Citation {
                record_id: f.record_id,
                url: f.requested_url,
                part: None,
            });
        self.referenced.entry(sha).or_insert(size);
    }
}

/// What `--since` and `--state` showed about the log's past.
struct History {
    extends: Option<u64>,
    verdict: &'static str,
    state: Option<StateReport>,
}

/// What reading one stored document found: its size when its bytes are the ones its name
/// says, why not otherwise, `None` when this run's selection leaves its content to another run.
type DocumentRead = Option<std::result::Result<u64, String>>;

/// Every stored document, loose files first and then pack entries: the order of the documents
/// phase and of its findings.
fn document_items(found: &Found) -> Vec<DocumentItem<'_>> {
    found
        .documents
        .iter()
        .map(|(sha, path, len)| (sha, path, len, None))
        .chain(
            found
                .packed
                .iter()
                .map(|d| (&d.sha, &d.path, &d.len, Some((&d.pack, &d.entry)))),
        )
        .collect()
}

/// Decompress and hash every stored document in the selection, in parallel. Nothing here
/// depends on the records, so the audit runs it alongside the record phase and both cores stay
/// busy until the last record and document are read; what the records say of each document is
/// judged afterwards, in the documents phase.
fn read_documents(
    archive: &Archive,
    opts: &AuditOptions,
    progress: &Progress,
    found: &Found,
) -> Vec<DocumentRead> {
    document_items(found)
        .par_iter()
        .map_init(
            archive::local::ShardCache::default,
            |cache, (sha, _, _, at)| {
                let read = opts.selection.includes(sha).then(|| {
                    // `walk` keeps only names that are SHA-256 digests.
                    let digest =
                        Sha256::parse(sha).expect("a stored document's name is its SHA-256");
                    match at {
                        Some((pack, entry)) => {
                            archive.pack_document_in(cache, pack, entry, &mut std::io::sink())
                        }
                        None => archive.read_document_in(cache, &digest, &mut std::io::sink()),
                    }
                    .map(|c| c.size)
                    .map_err(|e| e.to_string())
                });
                progress.done.fetch_add(1, Ordering::Relaxed);
                read
            },
        )
        .collect()
}

/// How much of the documents' content this run read: the report must never claim more.
struct DocumentsRead {
    checked: u64,
    document_bytes: u64,
    stored_bytes: u64,
}

/// Why a record's change claim is wrong, if it is. A claim must point back to an earlier record
/// of the same URL and agree with the documents: "unchanged" cites the same bytes, a change
/// different ones. `earlier` gives the facts of a record ID earlier in the log (the last such).
/// A claim pointing at a committed record that could not be read is not judged: that record is
/// already an error, and it is earlier in the log.
fn change_claim_problem<'f>(
    f: &Facts,
    earlier: impl Fn(&str) -> Option<&'f Facts>,
    unreadable: &HashSet<String>,
) -> Option<String> {
    let c = f.change.as_ref()?;
    match earlier(&c.previous) {
        None if unreadable.contains(&c.previous) => None,
        None => Some(format!(
            "its previous record {} is not earlier in the log",
            c.previous
        )),
        Some(p) if p.requested_url != f.requested_url && p.final_url != f.requested_url => Some(
            format!("its previous record {} is of another URL", c.previous),
        ),
        Some(p) if (c.kind == crate::manifest::ChangeKind::Unchanged) != (p.sha256 == f.sha256) => {
            Some(format!(
                "it says {} but its document and {}'s disagree",
                c.kind.as_str(),
                c.previous
            ))
        }
        _ => None,
    }
}

impl<'a> Audit<'a> {
    fn error(&mut self, path: impl Into<String>, what: String) {
        self.problems.push(Problem {
            severity: Severity::Error,
            path: path.into(),
            what,
        })
    }

    fn warning(&mut self, path: impl Into<String>, what: String) {
        self.problems.push(Problem {
            severity: Severity::Warning,
            path: path.into(),
            what,
        })
    }

    /// A finding that is the remains of an interrupted write, and so only a warning, when a
    /// believed checkpoint says what is committed and the tail can be an interrupted write's (see
    /// `tail_not_interrupted`).
    fn tail_warning(&mut self, path: impl Into<String>, what: String) {
        if !self.tail_not_interrupted {
            self.warning(path, what);
        }
    }

    /// The same audit with no findings yet, for a phase that runs alongside others.
    fn apart(&self) -> Audit<'a> {
        Audit {
            archive: self.archive,
            anchor: self.anchor,
            opts: self.opts,
            progress: self.progress,
            problems: Vec::new(),
            checkpoint_origin: self.checkpoint_origin.clone(),
            tail_not_interrupted: self.tail_not_interrupted,
            first_bad: None,
        }
    }

    /// What a phase run [`Audit::apart`] found, after everything found before it.
    fn take_findings(&mut self, phase: Audit<'a>) {
        self.problems.extend(phase.problems);
        if let Some(i) = phase.first_bad {
            self.bad(i);
        }
    }

    /// Leaf `i` is wrong: the report names the lowest such leaf.
    fn bad(&mut self, i: u64) {
        self.first_bad = Some(self.first_bad.map_or(i, |f| f.min(i)));
    }

    /// A path as the report shows it: relative to the archive root.
    fn rel(&self, p: &Path) -> String {
        p.strip_prefix(self.archive.root())
            .unwrap_or(p)
            .display()
            .to_string()
    }

    /// Every file is accounted for before anything in it is believed: a byte no check reads is
    /// a byte anyone could change unnoticed. The walk sorts the files by kind and names every
    /// one that is not of the format; the small files whose every byte is fixed (the metadata,
    /// the lock, the key files) need nothing else and are checked at once.
    fn inventory(&mut self) -> Result<Found> {
        let archive = self.archive;
        let found = walk(archive, &mut self.problems)?;
        if found.config {
            check_config(archive, &mut self.problems);
        }
        if let Some(len) = found.lock_len {
            if len != 0 {
                self.error("lock", "the lock file must be empty".into());
            }
        }
        for (path, name) in &found.keys {
            if let Err(why) = check_key_file(archive, name) {
                self.error(path.clone(), why);
            }
        }
        Ok(found)
    }

    /// The signed checkpoint fixes how many leaves are committed, and so what every later phase
    /// calls committed and what the remains of an interrupted write. It must exist and verify,
    /// and its origin must be the archive's; where they disagree, the side a trusted key signed
    /// is believed.
    fn log_state(&mut self, found: &Found, loaded: LogState) -> LogState {
        let (archive, anchor) = (self.archive, self.anchor);
        let mut log = loaded;
        if let Some(cp) = log.checkpoint.clone() {
            if cp.origin != archive.config.origin {
                // One of the two files was altered. A checkpoint that a trusted key signed for
                // its own origin is authentic, so the metadata is the altered one.
                let own = LogState::load_for_origin(archive, anchor, &cp.origin);
                if own.problem.is_none() {
                    self.error(
                        archive::CONFIG_FILE,
                        format!(
                            "altered: origin {:?} differs from the signed checkpoint's {:?}",
                            archive.config.origin, cp.origin
                        ),
                    );
                    log = own;
                }
            }
        }
        if found.log.contains("checkpoint") {
            if let Some(p) = log.problem.clone() {
                self.error("log/checkpoint", p);
            }
        } else {
            // Every archive has one from its creation on (FORMAT.md 9.1, 9.5), so a missing one
            // is damage even when the log is empty: it would otherwise let anyone make every
            // record look like the remains of an interrupted write.
            self.error(
                "log/checkpoint",
                "missing: the log has no signed checkpoint".into(),
            );
        }
        log
    }

    /// `log/leaves` must hold every leaf the checkpoint commits, each well formed: a short or
    /// garbled log means records were removed. What lies beyond the checkpoint is read
    /// separately, as the tail an interrupted write may leave.
    fn read_leaves(&mut self, size: u64) -> Result<Leaves> {
        let archive = self.archive;
        let leaves_len = archive.log_len(LogFile::Leaves).unwrap_or(0);
        let mut committed: Vec<Option<LeafEntry>> = Vec::new();
        let mut tail: Vec<LeafEntry> = Vec::new();
        if leaves_len < size * LEAF_LINE {
            self.error(
                "log/leaves",
                format!(
                    "holds {} entries but the checkpoint covers {size}: records were removed from the log",
                    leaves_len / LEAF_LINE
                ),
            );
            self.bad(leaves_len / LEAF_LINE);
        }
        if size > 0 && leaves_len > 0 {
            let mut buf = vec![0u8; (leaves_len.min(size * LEAF_LINE)) as usize];
            let read = archive
                .local()
                .open_log(LogFile::Leaves)
                .map_err(|e| e.to_string())
                .and_then(|f| {
                    f.ok_or_else(|| "missing".to_string())?
                        .read_exact(&mut buf)
                        .map_err(|e| e.to_string())
                });
            if let Err(e) = read {
                self.error("log/leaves", format!("cannot read: {e}"));
            }
            for (i, line) in buf.chunks(LEAF_LINE as usize).enumerate() {
                let e = LeafEntry::parse(line);
                if e.is_none() {
                    self.error("log/leaves", format!("leaf {i}: not a well-formed entry"));
                    self.bad(i as u64);
                }
                committed.push(e);
            }
        }
        if leaves_len > size * LEAF_LINE {
            tail = archive.uncommitted_tail(size)?;
            let committed_ids: HashSet<RecordId> =
                committed.iter().flatten().map(|e| e.record_id).collect();
            let commits = archive.tail_commits(&tail, &committed_ids);
            if commits.len() > 1 {
                self.error(
                    "log/leaves",
                    format!(
                        "the {} records beyond the checkpoint were signed in {} commits ({}): an interrupted write leaves one, so log/checkpoint was replaced by an older one or lines were added; writers refuse to roll them back (restore log/checkpoint from a backup)",
                        tail.len(),
                        commits.len(),
                        commits.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                );
                self.tail_not_interrupted = true;
            }
            self.tail_warning(
                "log/leaves",
                format!(
                    "{} bytes beyond the checkpoint: an interrupted write, rolled back by the next writer",
                    leaves_len - size * LEAF_LINE
                ),
            );
        }
        Ok(Leaves {
            committed,
            tail: Tail::new(archive, tail),
        })
    }

    /// Every committed record is read and its signature checked, in parallel; each outcome is
    /// its leaf hash, the facts the checks across records need, and its own problems, in log
    /// order. Returns them with the `log/keys` lines the manifests themselves call for.
    ///
    /// Signatures are judged by the key records the manifests say there are, not by
    /// `log/keys`: if that file says otherwise (a line removed, say, to revive a compromised
    /// key), the book folded from it is wrong, so every record is judged again by the book of
    /// the recomputed key records and each leaf the true statuses reject is named (`log/keys`
    /// itself is reported by [`Audit::check_key_events`]).
    fn check_records(
        &self,
        log: &mut LogState,
        leaves: &[Option<LeafEntry>],
        size: u64,
    ) -> (Vec<RecordOutcome>, String) {
        let (archive, anchor, progress) = (self.archive, self.anchor, self.progress);
        // Records are read in shard order, so each worker opens a shard directory once for a run
        // of records instead of twice per record; the outcomes are put back in log order.
        let mut shard_order: Vec<(String, usize)> = leaves
            .iter()
            .enumerate()
            .map(|(i, e)| {
                (
                    e.as_ref().map(|e| e.record_id.shard()).unwrap_or_default(),
                    i,
                )
            })
            .collect();
        // A packed archive's records sit in log order in their packs: read them that way.
        if archive.layout() == archive::Layout::Loose {
            shard_order.sort_unstable();
        }
        let pass = |state: &LogState| -> Vec<RecordOutcome> {
            let mut outcomes: Vec<(usize, RecordOutcome)> = shard_order
                .par_iter()
                .map_init(archive::local::ShardCache::default, |cache, &(_, i)| {
                    let r = check_record(archive, state, i as u64, leaves[i].as_ref(), cache);
                    progress.done.fetch_add(1, Ordering::Relaxed);
                    (i, r)
                })
                .collect();
            outcomes.sort_unstable_by_key(|(i, _)| *i);
            outcomes.into_iter().map(|(_, r)| r).collect()
        };
        let mut outcomes = pass(log);
        let recomputed = recomputed_key_lines(&outcomes);
        let from_log_keys = log.trust.as_ref().map(|t| t.lines.clone()).ok();
        if from_log_keys.as_deref() != Some(recomputed.as_str()) {
            let source = Recomputed {
                archive,
                lines: recomputed.clone(),
            };
            if let Ok(t) = Trust::load(&source, anchor, size) {
                let mut state = log.clone();
                state.trust = Ok(t);
                outcomes = pass(&state);
                log.trust = state.trust;
            }
        }
        (outcomes, recomputed)
    }

    /// Each record's own problems join the report in log order, and what no single record can
    /// show is checked across them: a change claim must point back to an earlier record of the
    /// same URL and agree with the documents. What the records cite is gathered for the tree,
    /// tail and document phases.
    fn account_records(
        &mut self,
        outcomes: Vec<RecordOutcome>,
        leaves: &[Option<LeafEntry>],
    ) -> Ledger {
        let n = outcomes.len();
        let mut ledger = Ledger {
            leaf_hashes: Vec::with_capacity(n),
            referenced: HashMap::with_capacity(n),
            cited_by: HashMap::with_capacity(n),
            committed_ids: HashSet::with_capacity(n),
        };
        // Each readable record's facts in log order, and where each record ID's are: a copy of
        // three strings per record for the lookup, and freeing them, was a third of this serial
        // phase.
        let mut read: Vec<Facts> = Vec::with_capacity(n);
        let mut by_id: HashMap<String, usize> = HashMap::with_capacity(n);
        // Committed records whose manifest is missing or unreadable: already an error each, so a
        // change claim pointing at one is not also called "not earlier in the log" (it is).
        let mut unreadable: HashSet<String> = HashSet::new();
        for (i, (leaf, doc, mut probs)) in outcomes.into_iter().enumerate() {
            if !probs.is_empty() {
                self.bad(i as u64);
            }
            self.problems.append(&mut probs);
            ledger.leaf_hashes.push(leaf);
            if let Some(Some(e)) = leaves.get(i) {
                ledger.committed_ids.insert(e.record_id);
                if doc.is_none() {
                    unreadable.insert(e.record_id.to_string());
                }
            }
            let Some(f) = doc else {
                continue;
            };
            let earlier = |id: &str| by_id.get(id).map(|&k| &read[k]);
            if let Some(why) = change_claim_problem(&f, earlier, &unreadable) {
                self.bad(i as u64);
                let id: Option<RecordId> = f.record_id.parse().ok();
                let path = id
                    .map(|id| self.rel(&self.archive.record_paths(&id).0))
                    .unwrap_or_default();
                self.error(
                    path,
                    format!("leaf {i}: change record {}: {why}", f.record_id),
                );
            }
            by_id.insert(f.record_id.clone(), read.len());
            read.push(f);
        }
        for f in read {
            ledger.cite(f);
        }
        ledger
    }

    /// The packed layout (FORMAT.md 3.3). Every byte of every pack is read: its SHA-256 must be
    /// its name and its footer must account for every byte, so a changed byte anywhere is a
    /// changed manifest, signature or blob, which the record and document phases then name.
    /// `log/places` must give each committed leaf the pack holding that very record, every
    /// pack must be named by it (or be an interrupted write's), and every record must have the
    /// ID of its position, or be one a migration carried over (`log/legacy-ids`).
    fn check_packs(&mut self, found: &mut Found, leaves: &Leaves, size: u64) -> Packs {
        use crate::core::pack::{Footer, Key, Kind};
        let archive = self.archive;
        let mut packs = Packs::default();
        if archive.layout() != archive::Layout::Packed {
            return packs;
        }
        let read: Vec<(Sha256, String, std::result::Result<Footer, String>)> = found
            .packs
            .par_iter()
            .map(|(sha, rel, _)| {
                let footer = (|| {
                    let mut file = archive
                        .local()
                        .open_pack(sha)
                        .map_err(|e| e.to_string())?
                        .ok_or("vanished while audit ran")?;
                    let mut hasher = sha2::Sha256::new();
                    let len = std::io::copy(&mut file, &mut hasher).map_err(|e| e.to_string())?;
                    let actual = Sha256::from_bytes(hasher.finalize().into());
                    if actual != *sha {
                        return Err(format!(
                            "altered: its bytes have SHA-256 {actual}, not the one it is named by"
                        ));
                    }
                    Footer::read(&mut file, len).map_err(|e| format!("not a valid pack: {e}"))
                })();
                (*sha, rel.clone(), footer)
            })
            .collect();
        let mut footers: HashMap<Sha256, (String, Footer)> = HashMap::new();
        for (sha, rel, footer) in read {
            match footer {
                Ok(f) => {
                    footers.insert(sha, (rel, f));
                }
                Err(why) => self.error(rel, why),
            }
        }

        // log/places: one line per committed leaf, then perhaps an interrupted write's.
        let places = archive
            .local()
            .read_log(LogFile::Places)
            .ok()
            .flatten()
            .unwrap_or_default();
        let line = archive::PLACE_LINE as usize;
        let committed_len = size as usize * line;
        if places.len() < committed_len {
            self.error(
                "log/places",
                format!(
                    "holds {} lines but the checkpoint covers {size} records",
                    places.len() / line
                ),
            );
            self.bad((places.len() / line) as u64);
        }
        let mut tail_packs = HashSet::new();
        if places.len() > committed_len {
            for l in places[committed_len..].chunks_exact(line) {
                if let Some(p) = archive::parse_place(l) {
                    tail_packs.insert(p);
                }
            }
            self.tail_warning(
                "log/places",
                format!(
                    "{} bytes beyond the checkpoint: an interrupted write, rolled back by the next writer",
                    places.len() - committed_len
                ),
            );
        }
        let mut named = HashSet::new();
        let mut placed: HashSet<(Sha256, RecordId)> = HashSet::new();
        for (i, leaf) in leaves.committed.iter().enumerate() {
            let pack = places
                .get(i * line..(i + 1) * line)
                .and_then(archive::parse_place);
            packs.leaf_pack.push(pack);
            let (Some(leaf), Some(pack)) = (leaf, pack) else {
                if places.len() >= (i + 1) * line {
                    self.error(
                        "log/places",
                        format!("line {i}: not a pack's SHA-256 and LF"),
                    );
                    self.bad(i as u64);
                }
                continue;
            };
            named.insert(pack);
            placed.insert((pack, leaf.record_id));
            match footers.get(&pack) {
                Some((rel, f)) => {
                    if f.find(Kind::Manifest, &Key::Record(leaf.record_id))
                        .is_none()
                    {
                        self.error(
                            rel.clone(),
                            format!(
                                "leaf {i}: holds no record {}, which log/places says it does",
                                leaf.record_id
                            ),
                        );
                        self.bad(i as u64);
                    }
                }
                None => {
                    if !found.packs.iter().any(|(p, _, _)| *p == pack) {
                        self.error(
                            "log/places",
                            format!(
                                "line {i}: names pack {pack}, which is missing (record {})",
                                leaf.record_id
                            ),
                        );
                    }
                    self.bad(i as u64);
                }
            }
        }
        for (sha, rel, _) in &found.packs {
            if named.contains(sha) {
                continue;
            }
            if tail_packs.contains(sha) {
                self.tail_warning(
                    rel.clone(),
                    "pack of an interrupted write, not in the log; rolled back by the next writer"
                        .into(),
                );
            } else {
                self.error(
                    rel.clone(),
                    "extra pack: no line of log/places names it".into(),
                );
            }
        }
        for (pack, (rel, f)) in &footers {
            if !named.contains(pack) {
                continue;
            }
            for id in f.records() {
                if !placed.contains(&(*pack, id)) {
                    self.error(
                        rel.clone(),
                        format!("record {id} is in this pack, but no leaf placed here is"),
                    );
                }
            }
            // A reference must point at exactly a document entry of a pack the log names: its
            // bytes are then checked there, once.
            for e in f.entries.iter().filter(|e| e.kind == Kind::Reference) {
                let Key::Document(sha) = e.key else { continue };
                let path = format!("{rel}[r {sha}]");
                packs
                    .documents_in
                    .entry(*pack)
                    .or_default()
                    .insert(sha.to_string());
                packs
                    .references
                    .push((*pack, sha.to_string(), path.clone()));
                let target = archive.follow(pack, e);
                let ok = match &target {
                    Ok((to, d)) => {
                        named.contains(to)
                            && footers.get(to).is_some_and(|(_, tf)| {
                                tf.find(Kind::Document, &e.key)
                                    .is_some_and(|x| x.offset == d.offset && x.len == d.len)
                            })
                    }
                    Err(_) => false,
                };
                if !ok {
                    let why = match target {
                        Ok((to, _)) => format!(
                            "refers to document {sha} in pack {to}, which holds no such entry there (or is not in the log)"
                        ),
                        Err(e) => e.what,
                    };
                    self.error(path, why);
                }
            }
            for e in f.entries.iter().filter(|e| e.kind == Kind::Document) {
                if e.len >= archive::PACK_BLOBS_BELOW {
                    self.error(
                        self.rel(&archive.pack_document_path(pack, e)),
                        format!(
                            "a blob of {} bytes in a pack: blobs of {} bytes or more are files of their own (FORMAT.md 3.3)",
                            e.len,
                            archive::PACK_BLOBS_BELOW
                        ),
                    );
                }
            }
            let docs = packs.documents_in.entry(*pack).or_default();
            for e in f.entries.iter().filter(|e| e.kind == Kind::Document) {
                if let Key::Document(sha) = e.key {
                    docs.insert(sha.to_string());
                    found.packed.push(PackedDocument {
                        sha: sha.to_string(),
                        path: self.rel(&archive.pack_document_path(pack, e)),
                        len: e.len,
                        pack: *pack,
                        entry: *e,
                    });
                }
            }
        }
        // Read in the order the bytes lie, pack by pack: each worker keeps its pack open.
        found.packed.sort_by_key(|d| (d.pack, d.entry.offset));
        self.check_record_ids(found, leaves);
        packs
    }

    /// Records committed into a packed archive have the ID of their position; those a
    /// migration carried over are listed, once each and sorted, in `log/legacy-ids`.
    fn check_record_ids(&mut self, found: &Found, leaves: &Leaves) {
        let archive = self.archive;
        let mut legacy = 0u64;
        if found.log.contains("legacy-ids") {
            let bytes = archive
                .local()
                .read_log(LogFile::LegacyIds)
                .ok()
                .flatten()
                .unwrap_or_default();
            let line = archive::migrate::LEGACY_LINE as usize;
            let mut indexes = Vec::new();
            let mut previous: Option<RecordId> = None;
            let mut ok = bytes.len().is_multiple_of(line);
            for (k, l) in bytes.chunks(line).enumerate() {
                match archive::parse_legacy(l) {
                    Some((id, index)) if previous.is_none_or(|p| p < id) => {
                        let named = leaves
                            .committed
                            .get(index as usize)
                            .and_then(|e| e.as_ref())
                            .map(|e| e.record_id);
                        if named != Some(id) {
                            self.error(
                                "log/legacy-ids",
                                format!("line {k}: leaf {index} is not record {id}"),
                            );
                        }
                        indexes.push(index);
                        previous = Some(id);
                    }
                    _ => {
                        ok = false;
                        self.error(
                            "log/legacy-ids",
                            format!("line {k}: not a record ID and a log index, in ID order"),
                        );
                    }
                }
            }
            indexes.sort_unstable();
            legacy = indexes.len() as u64;
            if ok && indexes.iter().enumerate().any(|(k, i)| *i != k as u64) {
                self.error(
                    "log/legacy-ids",
                    "does not list exactly the first leaves of the log, once each".into(),
                );
            }
        }
        // Keyed by the origin the checkpoint signs: a damaged exhibit.json is named on its own
        // (the log state phase), not as every record having the wrong ID.
        let origin = self
            .checkpoint_origin
            .clone()
            .unwrap_or_else(|| archive.config.origin.clone());
        let ids = crate::record_id::IdMap::for_origin(&origin);
        for (i, leaf) in leaves.committed.iter().enumerate().skip(legacy as usize) {
            let Some(leaf) = leaf else { continue };
            let want = ids.id(i as u64);
            if leaf.record_id != want {
                self.error(
                    "log/leaves",
                    format!(
                        "leaf {i}: record {} does not have the ID of its position ({want}, FORMAT.md 3.3)",
                        leaf.record_id
                    ),
                );
                self.bad(i as u64);
            }
        }
    }

    /// In the packed layout a record's documents are blob files of their own or in the
    /// record's own pack (FORMAT.md 3.3): a reader of one record never searches other packs.
    fn check_pack_documents(
        &mut self,
        found: &Found,
        packs: &Packs,
        leaves: &[Option<LeafEntry>],
        cited_by: &HashMap<String, Vec<Citation>>,
    ) {
        if self.archive.layout() != archive::Layout::Packed {
            return;
        }
        let loose: HashSet<&str> = found.documents.iter().map(|(s, _, _)| s.as_str()).collect();
        let index: HashMap<String, usize> = leaves
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_ref().map(|e| (e.record_id.to_string(), i)))
            .collect();
        let mut cited_from: HashMap<Sha256, HashSet<&str>> = HashMap::new();
        let mut problems = Vec::new();
        for (sha, cites) in cited_by {
            for c in cites {
                let Some(&i) = index.get(&c.record_id) else {
                    continue;
                };
                let Some(Some(pack)) = packs.leaf_pack.get(i) else {
                    continue;
                };
                cited_from.entry(*pack).or_default().insert(sha.as_str());
                let in_pack = packs
                    .documents_in
                    .get(pack)
                    .is_some_and(|d| d.contains(sha));
                if !loose.contains(sha.as_str())
                    && !in_pack
                    && found.packed.iter().any(|d| d.sha == *sha)
                {
                    problems.push((
                        self.rel(&self.archive.pack_path(pack)),
                        format!(
                            "leaf {i}: record {} cites document {sha}, which is in another pack, not in its own or a blob file",
                            c.record_id
                        ),
                        i,
                    ));
                }
            }
        }
        // A stored copy no record cites at all is the documents phase's "extra document"; a
        // reference has no bytes that phase reads, so it is named here either way.
        let entries = found
            .packed
            .iter()
            .map(|d| (&d.pack, &d.sha, &d.path, false))
            .chain(
                packs
                    .references
                    .iter()
                    .map(|(p, s, path)| (p, s, path, true)),
            );
        let mut uncited = Vec::new();
        for (pack, sha, path, reference) in entries {
            let cited_here = cited_from
                .get(pack)
                .is_some_and(|s| s.contains(sha.as_str()));
            if !cited_here && (reference || cited_by.contains_key(sha)) {
                uncited.push(path.clone());
            }
        }
        for path in uncited {
            self.error(path, "no record of this pack cites this document".into());
        }
        for (path, what, i) in problems {
            self.error(path, what);
            self.bad(i as u64);
        }
    }

    /// An interrupted commit only ever appends fresh record IDs; a line beyond the checkpoint
    /// that names a committed record was put there by someone else. The next writer cuts the
    /// tail off without removing anything it names.
    fn check_tail(&mut self, tail: &Tail, committed_ids: &HashSet<RecordId>, size: u64) {
        for (k, e) in tail.entries.iter().enumerate() {
            if committed_ids.contains(&e.record_id) {
                self.error(
                    "log/leaves",
                    format!(
                        "line {} beyond the checkpoint names committed record {}: not an interrupted write but damage or tampering (the next writer removes the line, never the record)",
                        size + k as u64,
                        e.record_id
                    ),
                );
            }
        }
    }

    /// Nothing inside the archive can show a rollback to an older genuine state (anyone who can
    /// write the archive can make one, no key needed); a checkpoint kept outside it can. The log
    /// must extend each one given, with `--since` or kept by `--state`.
    fn check_history(&mut self, log: &LogState) -> History {
        let (archive, opts) = (self.archive, self.opts);
        let extended = |old: &Since| match &log.checkpoint {
            Some(cp) => verify::check_extends(archive, log, cp, &old.text).map(|o| o.size),
            None => Err(verify::NotExtended::NoCheckpoint),
        };
        let mut extends = None;
        let mut history_failed = false;
        if let Some(since) = &opts.since {
            match extended(since) {
                Ok(n) => extends = Some(n),
                Err(why) => {
                    history_failed = true;
                    self.error(since.path.clone(), why.to_string());
                }
            }
        }
        let mut state = None;
        if let Some(st) = &opts.state {
            if let Some(prev) = &st.previous {
                if let Err(why) = extended(prev) {
                    history_failed = true;
                    let why = if why.history_rewritten() {
                        format!(
                            "{why}: the log was rolled back or rewritten since the last passing audit, whose checkpoint this file keeps"
                        )
                    } else {
                        format!("the checkpoint kept by the last passing audit: {why}")
                    };
                    self.error(prev.path.clone(), why);
                }
            }
            state = Some(StateReport {
                path: st.path.display().to_string(),
                previous_tree_size: st.previous.as_ref().map(|p| p.tree_size),
                saved: false,
            });
        }
        let verdict = if history_failed {
            "failed"
        } else if extends.is_some()
            || state
                .as_ref()
                .is_some_and(|s| s.previous_tree_size.is_some())
        {
            "extends"
        } else {
            "not checked"
        };
        History {
            extends,
            verdict,
            state,
        }
    }

    /// A record file no committed leaf names is not evidence of anything: an error, unless the
    /// tail names it (the remains of an interrupted write).
    fn check_record_files(
        &mut self,
        found: &Found,
        committed_ids: &HashSet<RecordId>,
        tail_ids: &HashSet<RecordId>,
    ) {
        for (id, (json, sig)) in &found.records {
            if committed_ids.contains(id) {
                continue;
            }
            let (jp, sp) = self.archive.record_paths(id);
            for (present, p) in [(*json, jp), (*sig, sp)] {
                if !present {
                    continue;
                }
                if tail_ids.contains(id) {
                    self.tail_warning(
                        self.rel(&p),
                        "record of an interrupted write, not in the log; rolled back by the next writer".into(),
                    );
                } else {
                    self.error(self.rel(&p), "extra record: not in the log".into());
                }
            }
        }
    }

    /// Every stored document must be cited by a record, and those in this run's selection were
    /// read in full ([`read_documents`], alongside the record phase): every stored byte is
    /// checked and the content must be what its name and its records say. The counts say how
    /// much was read, so the report never claims more.
    fn check_documents(
        &mut self,
        found: &Found,
        reads: Vec<DocumentRead>,
        referenced: &HashMap<String, u64>,
        tail_docs: &HashSet<String>,
    ) -> DocumentsRead {
        let mut totals = DocumentsRead {
            checked: 0,
            document_bytes: 0,
            stored_bytes: 0,
        };
        for ((sha, path, len, _), read) in document_items(found).into_iter().zip(reads) {
            totals.stored_bytes += *len;
            let extra = || Problem {
                severity: Severity::Error,
                path: path.clone(),
                what: "extra document: no record refers to it".into(),
            };
            match read {
                // Not in this run's selection: its presence and references are checked here,
                // its content in another run.
                None => {
                    if !referenced.contains_key(sha) && !tail_docs.contains(sha.as_str()) {
                        self.problems.push(extra());
                    }
                }
                Some(Ok(size)) => {
                    totals.checked += 1;
                    totals.document_bytes += size;
                    match referenced.get(sha) {
                        Some(&said) if said != size => self.problems.push(Problem {
                            severity: Severity::Error,
                            path: path.clone(),
                            what: format!("document has {size} bytes, its records say {said}"),
                        }),
                        Some(_) => {}
                        None if tail_docs.contains(sha.as_str()) => self.tail_warning(
                            path.clone(),
                            "document of an interrupted write; rolled back by the next writer"
                                .into(),
                        ),
                        None => self.problems.push(extra()),
                    }
                }
                Some(Err(what)) => {
                    totals.checked += 1;
                    self.problems.push(Problem {
                        severity: Severity::Error,
                        path: path.clone(),
                        what,
                    });
                }
            }
        }
        totals
    }

    /// A document a record cites must be there, whatever the selection: a record whose
    /// document is gone proves nothing.
    fn check_cited_documents(&mut self, found: &Found, cited_by: &HashMap<String, Vec<Citation>>) {
        let present: HashSet<&str> = found
            .documents
            .iter()
            .map(|(s, _, _)| s.as_str())
            .chain(found.packed.iter().map(|d| d.sha.as_str()))
            .collect();
        for sha in cited_by.keys() {
            if !present.contains(sha.as_str()) {
                let path = Sha256::parse(sha).map_or_else(
                    || format!("documents/{}", sha.escape_debug()),
                    |d| self.rel(&self.archive.document_path(&d)),
                );
                self.error(path, "missing document".into());
            }
        }
    }

    /// Every error about a document names what cites it: that is what a reader must re-check.
    /// Returns, for each such document, every record that cites it (the text shows the first
    /// few).
    fn name_citers(
        &mut self,
        cited_by: &HashMap<String, Vec<Citation>>,
    ) -> BTreeMap<String, Vec<Citation>> {
        let mut cited_problems = BTreeMap::new();
        for p in self
            .problems
            .iter_mut()
            .filter(|p| p.severity == Severity::Error)
        {
            let sha = p
                .path
                .strip_prefix("documents/")
                .and_then(|r| r.split_once('/'))
                .and_then(|(_, name)| name.strip_suffix(".zst"))
                .or_else(|| {
                    // A pack's document entry: `packs/<aa>/<pack>.pack[d <sha256>]`.
                    p.path
                        .strip_prefix("packs/")
                        .and_then(|r| r.rsplit_once("[d "))
                        .and_then(|(_, sha)| sha.strip_suffix(']'))
                });
            let Some(cites) = sha.and_then(|sha| cited_by.get(sha)) else {
                continue;
            };
            const SHOWN: usize = 5;
            let mut named: Vec<String> = cites
                .iter()
                .take(SHOWN)
                .map(|c| match &c.part {
                    Some(part) => format!(
                        "{} ({}) as part {}",
                        c.record_id,
                        printable(&c.url),
                        printable(part)
                    ),
                    None => format!("{} ({})", c.record_id, printable(&c.url)),
                })
                .collect();
            if cites.len() > SHOWN {
                named.push(format!(
                    "and {} more (--json lists all)",
                    cites.len() - SHOWN
                ));
            }
            p.what = format!("{}; cited by {}", p.what, named.join(", "));
            cited_problems.insert(p.path.clone(), cites.clone());
        }
        cited_problems
    }

    /// The verdict, and exactly what was read. Errors come before warnings, each in path order
    /// (phases keep their own order within a path), so the same archive gives the same report.
    fn report(
        mut self,
        found: &Found,
        log: &LogState,
        records: u64,
        history: History,
        read: DocumentsRead,
        cited_by: BTreeMap<String, Vec<Citation>>,
    ) -> AuditReport {
        self.problems.sort_by(|a, b| {
            (a.severity != Severity::Error, &a.path).cmp(&(b.severity != Severity::Error, &b.path))
        });
        let problems = self.problems;
        let errors = problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count();
        let documents = found.documents.len() as u64 + found.packed.len() as u64;
        let (subset, sample_percent, seed) = match &self.opts.selection {
            Selection::All => (None, None, None),
            Selection::Subset { part, of } => (Some(format!("{part}/{of}")), None, None),
            Selection::Sample { percent, seed } => (None, Some(*percent), Some(seed.clone())),
        };
        let mut report = AuditReport {
            ok: errors == 0,
            complete: read.checked == documents,
            summary: String::new(),
            archive: self.archive.root().display().to_string(),
            trust: self.anchor.kind(),
            trusted_keys: match self.anchor {
                Anchor::Pinned(keys) => keys.iter().map(|k| k.id.clone()).collect(),
                _ => log
                    .book()
                    .map(|b| b.keys().map(|k| k.id.clone()).collect())
                    .unwrap_or_default(),
            },
            tree_size: tree_size(log),
            records,
            documents,
            documents_checked: read.checked,
            documents_not_read: documents - read.checked,
            selection: self.opts.selection.describe(),
            subset,
            sample_percent,
            seed,
            document_bytes: read.document_bytes,
            stored_bytes: read.stored_bytes,
            warnings: problems.len() - errors,
            errors,
            first_bad_leaf: self.first_bad,
            extends: history.extends,
            history: history.verdict,
            state: history.state,
            cited_by,
            problems,
            checkpoint_text: log.text.clone(),
        };
        report.summary = report.summary_line();
        report
    }
}

fn walk(archive: &Archive, problems: &mut Vec<Problem>) -> Result<Found> {
    let mut found = Found {
        config: false,
        lock_len: None,
        keys: Vec::new(),
        documents: Vec::new(),
        records: HashMap::new(),
        log: HashSet::new(),
        packs: Vec::new(),
        packed: Vec::new(),
    };
    let packed = archive.layout() == archive::Layout::Packed;
    let (items, errors) = archive.local().inventory();
    for (path, what) in errors {
        problems.push(Problem {
            severity: Severity::Error,
            path,
            what,
        });
    }
    for item in items {
        let rel = item.rel();
        let mut error = |what: String| {
            problems.push(Problem {
                severity: Severity::Error,
                path: rel.clone(),
                what,
            })
        };
        // Nothing exhibit writes is a link, a device or a file with a second name: each of
        // them could make a writer touch something outside the archive.
        match item.kind {
            EntryKind::Symlink => {
                error("symbolic link: exhibit never writes or follows links in an archive; remove it and restore what it replaced".into());
                continue;
            }
            EntryKind::Other(kind) => {
                error(format!("a {kind}, not a regular file; remove it"));
                continue;
            }
            EntryKind::File if item.nlink > 1 => {
                error(format!(
                    "has {} hard links: a file of the archive must have exactly one (a writer could change a file outside the archive through it)",
                    item.nlink
                ));
                continue;
            }
            _ => {}
        }
        let parts: Vec<&str> = item.parts.iter().map(String::as_str).collect();
        // A regular file a file manager left (links and devices of that name are errors above).
        if item.utf8 && parts.last().is_some_and(|n| archive::is_os_metadata(n)) {
            problems.push(Problem {
                severity: Severity::Warning,
                path: rel.clone(),
                what: "file-manager metadata (macOS Finder or Windows Explorer), not part of the archive: exhibit ignores it; safe to delete".into(),
            });
            continue;
        }
        let unexpected = |problems: &mut Vec<Problem>| {
            problems.push(Problem {
                severity: Severity::Error,
                path: rel.clone(),
                what: "unexpected file: not part of the archive format".into(),
            })
        };
        if !item.utf8 {
            unexpected(problems);
            continue;
        }
        // Which names are content is decided once, for audit and for `mirror` alike.
        use crate::archive::objects::{classify, ObjectKind};
        match (classify(&rel), parts.as_slice()) {
            (Some(ObjectKind::Config), _) => found.config = true,
            (Some(ObjectKind::Key), [_, name]) => found.keys.push((rel.clone(), name.to_string())),
            (Some(ObjectKind::Document), [_, _, name]) => {
                let sha = name
                    .strip_suffix(".zst")
                    .expect("classify checked the name");
                found
                    .documents
                    .push((sha.to_string(), rel.clone(), item.len))
            }
            (Some(ObjectKind::Pack), [_, _, name]) if packed => {
                let sha = name
                    .strip_suffix(".pack")
                    .and_then(Sha256::parse)
                    .expect("classify checked the name");
                found.packs.push((sha, rel.clone(), item.len));
            }
            (Some(ObjectKind::Record), [_, _, name]) if !packed => {
                let (stem, is_sig) = match name.strip_suffix(".json") {
                    Some(stem) => (stem, false),
                    None => (
                        name.strip_suffix(".sig")
                            .expect("classify checked the name"),
                        true,
                    ),
                };
                let id: RecordId = stem.parse().expect("classify checked the name");
                let e = found.records.entry(id).or_insert((false, false));
                if is_sig {
                    e.1 = true
                } else {
                    e.0 = true
                }
            }
            (Some(ObjectKind::Log | ObjectKind::Checkpoint), [_, name])
                if packed || !matches!(*name, "places" | "legacy-ids") =>
            {
                found.log.insert(match *name {
                    "leaves" => "leaves",
                    "hashes" => "hashes",
                    "keys" => "keys",
                    "places" => "places",
                    "legacy-ids" => "legacy-ids",
                    _ => "checkpoint",
                });
            }
            (Some(_), _) => unexpected(problems),
            (None, ["lock"]) => found.lock_len = Some(item.len),
            // Writers refuse to make a directory over it, so the archive cannot be written.
            (None, ["tmp"]) => error(
                "a file where the scratch directory tmp/ must be: writers refuse the archive; remove it (the next writer creates tmp/)".into(),
            ),
            (None, ["tmp", ..]) => problems.push(Problem {
                severity: Severity::Warning,
                path: rel.clone(),
                what:
                    "scratch file of an unfinished or interrupted write; removed by the next writer"
                        .into(),
            }),
            (None, _) => unexpected(problems),
        }
    }
    if !found.config {
        problems.push(Problem {
            severity: Severity::Error,
            path: archive::CONFIG_FILE.into(),
            what: "missing".into(),
        });
    }
    found.documents.sort();
    found.packs.sort();
    Ok(found)
}

fn check_config(archive: &Archive, problems: &mut Vec<Problem>) {
    let bytes = archive
        .local()
        .read_config()
        .ok()
        .flatten()
        .unwrap_or_default();
    let ok = serde_json::from_slice::<ArchiveConfig>(&bytes)
        .map(|c| c.to_bytes() == bytes && c == archive.config)
        .unwrap_or(false);
    if !ok {
        problems.push(Problem {
            severity: Severity::Error,
            path: archive::CONFIG_FILE.into(),
            what: "altered: not the canonical archive metadata".into(),
        });
    }
}

fn check_key_file(archive: &Archive, name: &str) -> Result<(), String> {
    let path = Path::new(name);
    let bytes = archive
        .local()
        .read_key_file(name)
        .map_err(|e| format!("cannot read: {e}"))?
        .ok_or("cannot read: it vanished")?;
    let text = String::from_utf8(bytes).map_err(|_| "not text".to_string())?;
    let key = keys::parse_public_pem(&text, path).map_err(|e| e.what)?;
    if keys::public_pem(&key) != text {
        return Err("altered: not the canonical PEM of the key it holds".into());
    }
    let id = keys::key_id(&key);
    if path.file_stem().and_then(|s| s.to_str()) != Some(id.as_str()) {
        return Err(format!(
            "altered: holds key {id}, not the key its name says"
        ));
    }
    Ok(())
}

/// What one record's check found: its leaf hash (if its bytes exist), the facts the
/// archive-wide checks need (if its manifest parsed), and its problems.
type RecordOutcome = (Option<merkle::Hash>, Option<Facts>, Vec<Problem>);

struct Facts {
    sha256: String,
    size: u64,
    record_id: String,
    /// For key records, the key they are about.
    key_about: Option<String>,
    requested_url: String,
    final_url: String,
    change: Option<crate::manifest::Change>,
    parts: Vec<crate::manifest::Part>,
}

fn check_record(
    archive: &Archive,
    trust: &LogState,
    index: u64,
    entry: Option<&LeafEntry>,
    cache: &mut archive::local::ShardCache,
) -> RecordOutcome {
    let mut problems = Vec::new();
    let Some(entry) = entry else {
        return (None, None, problems);
    };
    let (json_bytes, sig_bytes, json, sig) =
        archive.record_parts_at(cache, index, &entry.record_id);
    let rel = |p: &Path| {
        p.strip_prefix(archive.root())
            .unwrap_or(p)
            .display()
            .to_string()
    };
    let mut err = |path: &Path, what: String| {
        problems.push(Problem {
            severity: Severity::Error,
            path: rel(path),
            what: format!("leaf {index}: {what}"),
        })
    };
    let bytes = match json_bytes
        .and_then(|b| b.ok_or_else(|| crate::error::Error::archive("No such file or directory")))
    {
        Ok(b) => b,
        Err(e) => {
            err(
                &json,
                format!("missing or unreadable record {}: {e}", entry.record_id),
            );
            return (None, None, problems);
        }
    };
    let leaf = merkle::leaf_hash(&bytes);
    let signature = match sig_bytes
        .and_then(|b| b.ok_or_else(|| crate::error::Error::archive("No such file or directory")))
    {
        Ok(s) => s,
        Err(e) => {
            err(&sig, format!("missing or unreadable signature: {e}"));
            Vec::new()
        }
    };
    let (manifest, verdict) = verify::check_signed(&bytes, &signature, trust);
    let authentic = verdict.is_ok();
    if let Err(why) = verdict {
        if signature.len() != 64 {
            err(&sig, format!("{why} (record {})", entry.record_id));
        } else if matches!(
            why,
            verify::Unsigned::Rejected(crate::trust::Rejection::BadSignature(_))
        ) {
            // Either file may have changed; name both.
            let what = format!(
                "{why}: the manifest or its signature was altered (record {})",
                entry.record_id
            );
            err(&json, what.clone());
            err(&sig, what);
        } else if matches!(&why, verify::Unsigned::KeyRecords(f) if f.key_record == Some(index)) {
            // This is the key record the key records cannot be relied on for: either of its
            // files may be the one that changed.
            let what = format!("{why} (key record {})", entry.record_id);
            err(&json, what.clone());
            err(&sig, what);
        } else {
            err(&json, format!("{why} (record {})", entry.record_id));
        }
    }
    let Some(m) = manifest else {
        return (Some(leaf), None, problems);
    };
    // A manifest with a valid signature is authentic, so where it disagrees with its log line
    // the log is what changed; with a bad signature the manifest is already named above.
    let leaves = archive.local().log_path(LogFile::Leaves);
    let blame: &Path = if authentic { &leaves } else { &json };
    if m.record_id != entry.record_id.to_string() {
        err(
            blame,
            format!(
                "manifest names record {}, the log says {}",
                m.record_id, entry.record_id
            ),
        );
    }
    if m.log_index != index {
        err(
            blame,
            format!(
                "record {} says log index {}: records were removed, reordered or inserted",
                m.record_id, m.log_index
            ),
        );
    }
    if m.document.sha256 != entry.sha256 {
        err(
            blame,
            format!(
                "the log's document hash for record {} differs from its manifest's",
                m.record_id
            ),
        );
    }
    let parts = m.parts();
    (
        Some(leaf),
        Some(Facts {
            key_about: (m.method == crate::manifest::Method::Key).then(|| {
                m.requested_url
                    .strip_prefix(crate::trust::statement::URL_PREFIX)
                    .unwrap_or_default()
                    .to_string()
            }),
            sha256: m.document.sha256,
            size: m.document.size,
            record_id: m.record_id,
            requested_url: m.requested_url,
            final_url: m.final_url,
            parts,
            change: m.change,
        }),
        problems,
    )
}

/// The `log/keys` lines the committed manifests call for: one per key record, in log order.
fn recomputed_key_lines(results: &[RecordOutcome]) -> String {
    let mut out = String::new();
    for (i, (_, facts, _)) in results.iter().enumerate() {
        if let Some(f) = facts {
            if let Some(key) = &f.key_about {
                out.push_str(
                    &crate::trust::KeyEventLine {
                        index: i as u64,
                        record_id: f.record_id.clone(),
                        key: key.clone(),
                    }
                    .to_line(),
                );
            }
        }
    }
    out
}

/// The archive with `log/keys` replaced by the lines recomputed from the manifests.
struct Recomputed<'a> {
    archive: &'a Archive,
    lines: String,
}

impl crate::trust::Source for Recomputed<'_> {
    fn key_event_lines(&self, _size: u64) -> Result<String> {
        Ok(self.lines.clone())
    }
    fn key_record(
        &self,
        index: u64,
        id: &RecordId,
    ) -> Result<Option<crate::trust::KeyRecordBytes>> {
        self.archive.key_record(index, id)
    }
    fn stored_keys(&self) -> Result<Vec<crate::keys::PublicKey>> {
        crate::trust::Source::stored_keys(self.archive)
    }
}

impl Audit<'_> {
    /// `log/keys` must list exactly the committed key records (lines beyond the checkpoint are an
    /// interrupted write), every key record must count, and every key file must be a key the log
    /// introduced.
    fn check_key_events(&mut self, log: &LogState, size: u64, want: &str) {
        let (archive, anchor) = (self.archive, self.anchor);
        match archive.local().read_log(LogFile::Keys) {
            Ok(Some(b)) => {
                let text = String::from_utf8_lossy(&b).into_owned();
                let committed = crate::trust::statement::committed_lines(&text, size);
                if committed != want {
                    self.error(
                        "log/keys",
                        "does not list exactly the log's key records: a key record was removed, altered or added".into(),
                    );
                } else if committed.len() < text.len() {
                    self.tail_warning(
                        "log/keys",
                        "key records beyond the checkpoint: an interrupted write, rolled back by the next writer".into(),
                    );
                }
            }
            Ok(None) if !want.is_empty() => {
                self.error("log/keys", "missing, but the log has key records".into())
            }
            Ok(None) => {}
            Err(e) => self.error("log/keys", format!("unreadable: {e}")),
        }
        let trust = match &log.trust {
            Ok(trust) => trust,
            Err(why) => {
                self.error("log/keys", why.to_string());
                return;
            }
        };
        for r in &trust.book.rejected {
            let id: Option<RecordId> = r.record.parse().ok();
            let path = id
                .map(|id| {
                    archive
                        .record_paths(&id)
                        .0
                        .strip_prefix(archive.root())
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                })
                .unwrap_or_else(|| "log/keys".into());
            // Under a pinned key, a record by a key of the archive that the pinned keys never
            // added is simply not counted: the archive may have keys you do not pin.
            let foreign = matches!(
                r.problem,
                crate::trust::EventProblem::Signature(
                    crate::trust::Rejection::UnknownSigner { .. }
                )
            ) && matches!(anchor, Anchor::Pinned(_));
            let what = format!(
                "leaf {}: key record {} does not count: {}",
                r.index, r.record, r.problem
            );
            if foreign {
                self.warning(path, what);
            } else {
                self.error(path, what);
            }
        }
        // Key files: in an archive whose log introduces its keys, every file in keys/ must be a key
        // the archive's own book holds. (Under a pin the book is the pinned one; judge the files by
        // the archive's.)
        let own = match anchor {
            Anchor::Archive => Some(trust.clone()),
            _ => archive.trust(&Anchor::Archive).ok(),
        };
        if let Some(own) = own.filter(|t| t.founded) {
            let stored = archive.stored_keys_for_audit().unwrap_or_default();
            // A copy missing changes nothing exhibit verifies (the log holds every key), but
            // whoever checks a signature with openssl looks for it there (FORMAT.md 7.1).
            for k in own.book.keys() {
                if !stored.iter().any(|s| s.id == k.id) {
                    self.warning(
                        format!("keys/{}.pem", k.id),
                        format!(
                            "missing: the copy of key {} (which the log's key records add) is not in keys/; verification reads the key from the log, but a reader following FORMAT.md with openssl looks for this file (restore it from a backup; its key is in the statement of the key record that adds it)",
                            k.id
                        ),
                    );
                }
            }
            for k in stored {
                if own.book.get(&k.id).is_none() {
                    self.error(
                        format!("keys/{}.pem", k.id),
                        format!(
                            "key {} is not a key of this archive: no key record adds it (a key is added with `exhibit keys add`, signed by a key of the archive)",
                            k.id
                        ),
                    );
                }
            }
        }
    }

    /// The tree is rebuilt from the records themselves: the hashes stored in `log/hashes` must be
    /// the ones recomputed, and the root the one the checkpoint signs, which is what ties every
    /// record to the signature on the checkpoint.
    fn check_tree(&mut self, size: u64, leaf_hashes: &[Option<merkle::Hash>], log: &LogState) {
        let archive = self.archive;
        let want = merkle::stored_hash_count(size);
        let len = archive.log_len(LogFile::Hashes).unwrap_or(0);
        if len < want * 32 {
            self.error(
                "log/hashes",
                format!("holds {} hashes, the checkpoint needs {want}", len / 32),
            );
        } else if len > want * 32 {
            self.tail_warning(
                "log/hashes",
                "hashes beyond the checkpoint: an interrupted write, rolled back by the next writer"
                    .into(),
            );
        }
        if leaf_hashes.len() as u64 != size || leaf_hashes.iter().any(|h| h.is_none()) {
            // Problems above already name the missing leaves; a root without them means nothing.
            return;
        }
        let mut file = archive.open_hashes().ok().flatten().map(BufReader::new);
        let mut builder = merkle::TreeBuilder::new();
        let mut k = 0u64;
        let mut first_bad: Option<u64> = None;
        for (i, leaf) in leaf_hashes.iter().enumerate() {
            for h in builder.push(leaf.expect("checked above")) {
                let mut stored = [0u8; 32];
                let same = file
                    .as_mut()
                    .map(|f| f.read_exact(&mut stored).is_ok() && stored == h)
                    .unwrap_or(false);
                if !same && first_bad.is_none() {
                    first_bad = Some(i as u64);
                    self.error(
                        "log/hashes",
                        format!("stored hash {k} (leaf {i}) differs from the hash recomputed from the records"),
                    );
                }
                k += 1;
            }
        }
        if let Some(cp) = &log.checkpoint {
            if builder.root() != cp.root {
                self.error(
                    "log/checkpoint",
                    "the signed root does not match the records: a record was removed, reordered, altered or inserted"
                        .into(),
                );
            }
        }
        if let Some(i) = first_bad {
            self.bad(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Selection;

    fn facts(
        id: &str,
        url: &str,
        final_url: &str,
        sha: &str,
        change: Option<(&str, crate::manifest::ChangeKind)>,
    ) -> super::Facts {
        super::Facts {
            sha256: sha.into(),
            size: 1,
            record_id: id.into(),
            key_about: None,
            requested_url: url.into(),
            final_url: final_url.into(),
            change: change.map(|(previous, kind)| crate::manifest::Change {
                previous: previous.into(),
                kind,
            }),
            parts: Vec::new(),
        }
    }

    /// A change claim is judged against the earlier record it names: there at all, of the same
    /// URL (requested or redirected to), and agreeing with the documents.
    #[test]
    fn change_claims_are_judged_against_the_record_they_name() {
        use crate::manifest::ChangeKind::{BytesChanged, Changed, Unchanged};
        let earlier = [
            facts("A", "http://x/", "http://x/final", "aa", None),
            facts("B", "http://y/", "http://y/", "bb", None),
        ];
        let lookup = |id: &str| earlier.iter().find(|f| f.record_id == id);
        let unreadable: std::collections::HashSet<String> = ["U".to_string()].into();
        let judge = |url: &str, sha: &str, previous: &str, kind| {
            let f = facts("N", url, url, sha, Some((previous, kind)));
            super::change_claim_problem(&f, lookup, &unreadable)
        };
        let disagree = |kind| format!("it says {kind} but its document and A's disagree");
        let cases = [
            ("http://x/", "aa", "A", Unchanged, None),
            ("http://x/final", "cc", "A", Changed, None),
            ("http://x/", "cc", "A", BytesChanged, None),
            (
                "http://x/",
                "cc",
                "A",
                Unchanged,
                Some(disagree("unchanged")),
            ),
            ("http://x/", "aa", "A", Changed, Some(disagree("changed"))),
            (
                "http://x/",
                "bb",
                "B",
                Unchanged,
                Some("its previous record B is of another URL".into()),
            ),
            (
                "http://x/",
                "aa",
                "Z",
                Unchanged,
                Some("its previous record Z is not earlier in the log".into()),
            ),
            ("http://x/", "aa", "U", Unchanged, None),
        ];
        for (url, sha, previous, kind, want) in cases {
            assert_eq!(
                judge(url, sha, previous, kind),
                want,
                "{url} {sha} {previous} {kind:?}"
            );
        }
        let plain = facts("N", "http://x/", "http://x/", "aa", None);
        assert_eq!(
            super::change_claim_problem(&plain, lookup, &unreadable),
            None
        );
    }

    fn hashes(n: usize) -> Vec<String> {
        use sha2::Digest;
        (0..n)
            .map(|i| hex::encode(sha2::Sha256::digest(i.to_string())))
            .collect()
    }

    #[test]
    fn counts_are_grouped_in_thousands() {
        let cases = [
            (0, "0"),
            (7, "7"),
            (999, "999"),
            (1000, "1,000"),
            (9880, "9,880"),
            (123456, "123,456"),
            (1234567, "1,234,567"),
        ];
        for (n, want) in cases {
            assert_eq!(super::group(n), want);
        }
    }

    #[test]
    fn fresh_seeds_differ_and_name_their_time() {
        let (a, b) = (Selection::fresh_seed(), Selection::fresh_seed());
        assert_ne!(a, b);
        assert_eq!(a.len(), "20261123T031700Z-9f2c41d0".len(), "{a}");
        assert!(a.as_bytes()[8] == b'T' && a.as_bytes()[15] == b'Z', "{a}");
    }

    #[test]
    fn subsets_cover_every_document_exactly_once() {
        let hs = hashes(2000);
        for of in [1u64, 2, 7, 30] {
            for h in &hs {
                let n = (1..=of)
                    .filter(|&part| Selection::Subset { part, of }.includes(h))
                    .count();
                assert_eq!(n, 1, "{h} in {n} of {of} subsets");
            }
        }
    }

    #[test]
    fn samples_are_deterministic_and_about_the_right_size() {
        let hs = hashes(10_000);
        let pick = |p: f64, seed: &str| -> Vec<&String> {
            hs.iter()
                .filter(|h| {
                    Selection::Sample {
                        percent: p,
                        seed: seed.into(),
                    }
                    .includes(h)
                })
                .collect()
        };
        let a = pick(10.0, "2026-11-23");
        assert_eq!(a, pick(10.0, "2026-11-23"));
        assert!((800..1200).contains(&a.len()), "{}", a.len());
        assert_ne!(a, pick(10.0, "2026-11-24"));
        assert_eq!(pick(100.0, "x").len(), hs.len());
        assert_eq!(pick(0.0, "x").len(), 0);
    }
}
