//! Trust, decided in one place: which keys count, for which records and checkpoints.
//!
//! Promise: given where trust is anchored (keys pinned by the verifier, or the archive itself)
//! and the log's key records, this module answers "does this signature count?" for manifests
//! and checkpoints, and "may this key sign now?" for writers. It reads key records through the
//! [`Source`] interface (an archive, an evidence bundle) and never writes.
//!
//! May import: keys, manifest, note, record_id, b64, error. Must not import the archive,
//! verification or any command: they ask, this answers.
//!
//! Where the keys come from (docs/FORMAT.md section 7):
//! - pinned: only the verifier's own keys are roots; the log's key records can add keys only
//!   when a root (or a key a root added) signed them, so a rotation the pinned key signed is
//!   followed, and nothing anyone else wrote into the archive counts;
//! - the archive's: an archive whose first record adds its own signing key (every archive made
//!   since key records could add keys) has that key as its one root; an older archive's roots
//!   are the public keys in its `keys/` directory.
//!
//! The checkpoint commits to the exact bytes of `log/keys` (an extension line), so a key record
//! cannot be left out of what a verifier reads without the checkpoint's signature failing.

pub mod book;
pub mod statement;

pub use book::{Book, EventProblem, Introduced, KeyEntry, RejectedEvent, Rejection};
pub use statement::{KeyEventLine, Statement, StatusKind};

use crate::error::{Error, Kind, Result};
use crate::keys::{self, PublicKey};
use crate::manifest::Manifest;
use crate::note::{self, Checkpoint};
use crate::record_id::RecordId;
use std::path::{Path, PathBuf};

/// A key record's manifest bytes, signature and document (the key statement).
#[derive(Debug, Clone)]
pub struct KeyRecordBytes {
    pub manifest: Vec<u8>,
    pub signature: Vec<u8>,
    pub document: Vec<u8>,
}

/// Read access to what trust needs from an archive or a bundle.
pub trait Source {
    /// The committed bytes of `log/keys` for a log of `size` records (empty if none).
    fn key_event_lines(&self, size: u64) -> Result<String>;
    /// The manifest bytes, signature and document bytes (the document checked against the hash
    /// the manifest cites) of the record `log/keys` places at `index`. `None` if it is missing.
    fn key_record(&self, index: u64, id: &RecordId) -> Result<Option<KeyRecordBytes>>;
    /// Public keys kept beside the log (an archive's `keys/`): the roots of an archive whose log
    /// does not add its own keys.
    fn stored_keys(&self) -> Result<Vec<PublicKey>>;
}

/// A key pinned by the verifier.
#[derive(Debug, Clone)]
pub struct PinnedKey {
    pub id: String,
    pub key: PublicKey,
    pub path: PathBuf,
}

/// Where trust is anchored.
#[derive(Debug, Clone)]
pub enum Anchor {
    /// Only these keys, and keys they added through the log.
    Pinned(Vec<PinnedKey>),
    /// The archive's own founding key (or, for older archives, its stored keys).
    Archive,
    /// The keys the artefact under test carries (a bundle without a pinned key): it can only be
    /// self-consistent.
    SelfConsistent,
}

impl Anchor {
    pub fn pinned(paths: &[impl AsRef<Path>]) -> Result<Anchor> {
        let keys = paths
            .iter()
            .map(|p| {
                let key = keys::read_public(p.as_ref())?;
                Ok(PinnedKey {
                    id: keys::key_id(&key),
                    key,
                    path: p.as_ref().to_path_buf(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Anchor::Pinned(keys))
    }

    /// `--trusted-key` given: pin; otherwise trust the archive.
    pub fn from_flags(paths: &[impl AsRef<Path>]) -> Result<Anchor> {
        if paths.is_empty() {
            Ok(Anchor::Archive)
        } else {
            Anchor::pinned(paths)
        }
    }

    pub fn kind(&self) -> TrustKind {
        match self {
            Anchor::Pinned(_) => TrustKind::Pinned,
            Anchor::Archive => TrustKind::Archive,
            Anchor::SelfConsistent => TrustKind::SelfConsistent,
        }
    }
}

/// What a verdict rests on, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrustKind {
    /// Keys pinned by the verifier.
    Pinned,
    /// The archive's own keys: an archive you hold yourself.
    Archive,
    /// The artefact's own keys: consistent, but who signed is not established.
    SelfConsistent,
}

impl TrustKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TrustKind::Pinned => "pinned",
            TrustKind::Archive => "archive",
            TrustKind::SelfConsistent => "self-consistent",
        }
    }
}

/// A key record as loaded from the source.
#[derive(Debug, Clone)]
pub struct LoadedEvent {
    pub line: KeyEventLine,
    pub manifest: Manifest,
    pub bytes: Vec<u8>,
    pub signature: Vec<u8>,
    pub statement: Statement,
}

impl LoadedEvent {
    fn event(&self) -> book::Event<'_> {
        book::Event {
            index: self.line.index,
            manifest: &self.manifest,
            bytes: &self.bytes,
            signature: &self.signature,
            statement: &self.statement,
        }
    }
}

/// Why the key records cannot be read as a whole: verification cannot rely on them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error("log/keys is malformed: {0}")]
    MalformedIndex(String),
    #[error("key record at log index {index} ({record}) cannot be read: {why}")]
    BadEvent {
        index: u64,
        record: String,
        why: String,
    },
}

impl From<TrustError> for Error {
    fn from(e: TrustError) -> Self {
        let mut err = Error::new(Kind::Verification, e.to_string())
            .hint("run `exhibit audit` to find what is damaged");
        // Kept whole, so that a report can say which key record is at fault.
        err.source = Some(Box::new(e));
        err
    }
}

impl TrustError {
    /// The log index of the key record at fault, when one is.
    pub fn key_record(&self) -> Option<u64> {
        match self {
            TrustError::BadEvent { index, .. } => Some(*index),
            _ => None,
        }
    }
}

/// The answer to "which keys count?" for one log.
#[derive(Debug, Clone)]
pub struct Trust {
    pub kind: TrustKind,
    pub book: Book,
    /// The committed `log/keys` bytes the book was folded from.
    pub lines: String,
    pub events: Vec<LoadedEvent>,
    /// The archive's first record adds its own key (else its roots are its stored keys).
    pub founded: bool,
    /// The keys the book was folded from.
    pub roots: Vec<PublicKey>,
}

/// A key record about to be committed, signed provisionally, for [`Trust::would_count`].
pub struct Prospective {
    pub manifest: Manifest,
    pub bytes: Vec<u8>,
    pub signature: Vec<u8>,
    pub statement: Statement,
}

/// How a checkpoint's key-record commitment compares with `log/keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Commitment {
    /// The checkpoint commits to exactly these key records.
    Holds,
    /// Key records exist but the checkpoint (written by an exhibit before key records were
    /// committed to) says nothing about them.
    Absent,
    /// The checkpoint commits to other key records: one was removed, altered or added.
    Broken(String),
}

impl Trust {
    /// Load the key records of a log of `size` records and fold them.
    pub fn load(source: &dyn Source, anchor: &Anchor, size: u64) -> Result<Trust> {
        let lines = source.key_event_lines(size)?;
        let parsed = KeyEventLine::parse_file(&lines).map_err(TrustError::MalformedIndex)?;
        let mut events = Vec::with_capacity(parsed.len());
        for line in parsed {
            let bad = |why: String| TrustError::BadEvent {
                index: line.index,
                record: line.record_id.clone(),
                why,
            };
            let id: RecordId = line
                .record_id
                .parse()
                .map_err(|_| bad("malformed record ID".into()))?;
            let KeyRecordBytes {
                manifest: bytes,
                signature,
                document: doc,
            } = source
                .key_record(line.index, &id)?
                .ok_or_else(|| bad("the record is missing".into()))?;
            let manifest = Manifest::parse(&bytes).map_err(|e| bad(e.what))?;
            if manifest.log_index != line.index || manifest.record_id != line.record_id {
                return Err(bad("log/keys places it at another log index".into()).into());
            }
            let statement = Statement::parse(&doc).map_err(bad)?;
            if statement.key != line.key {
                return Err(bad("log/keys names another key".into()).into());
            }
            events.push(LoadedEvent {
                line,
                manifest,
                bytes,
                signature,
                statement,
            });
        }
        let founder = events.first().and_then(|e| {
            (e.line.index == 0
                && e.statement.status == StatusKind::Added
                && e.manifest.signer == e.statement.key)
                .then(|| e.statement.public_key())
                .flatten()
        });
        let (roots, kind) = match anchor {
            Anchor::Pinned(keys) => (keys.iter().map(|k| k.key).collect(), TrustKind::Pinned),
            Anchor::Archive | Anchor::SelfConsistent => match founder {
                Some(k) => (vec![k], anchor.kind()),
                None => (source.stored_keys()?, anchor.kind()),
            },
        };
        let book = book::fold(
            &roots,
            kind == TrustKind::Pinned,
            &events.iter().map(LoadedEvent::event).collect::<Vec<_>>(),
        );
        // A key record that a key which counts signed, but whose signature or statement is
        // broken, is damage, not a record to pass over: passing over a compromise record would
        // revive the key it withdrew. (Records by keys that do not count are passed over: they
        // cannot add or remove trust.)
        if let Some(r) = book.rejected.iter().find(|r| {
            matches!(
                r.problem,
                EventProblem::Malformed(_)
                    | EventProblem::Signature(Rejection::BadSignature(_))
                    | EventProblem::Signature(Rejection::SignatureLength(_))
            )
        }) {
            return Err(TrustError::BadEvent {
                index: r.index,
                record: r.record.clone(),
                why: r.problem.to_string(),
            }
            .into());
        }
        Ok(Trust {
            kind,
            book,
            lines,
            events,
            founded: founder.is_some(),
            roots,
        })
    }

    /// Would these key records, appended after the log, count, and leave every key record
    /// that counts now counting? A compromise whose `since` reaches back before its own
    /// signer's addition voids that addition, and with it the compromise record itself: the
    /// command would report success while the log said the opposite. Writers ask first.
    pub fn would_count(&self, new: &[Prospective]) -> std::result::Result<(), String> {
        let mut evs: Vec<book::Event> = self.events.iter().map(LoadedEvent::event).collect();
        evs.extend(new.iter().map(|p| book::Event {
            index: p.manifest.log_index,
            manifest: &p.manifest,
            bytes: &p.bytes,
            signature: &p.signature,
            statement: &p.statement,
        }));
        let after = book::fold(&self.roots, self.kind == TrustKind::Pinned, &evs);
        if let Some(r) = after
            .rejected
            .iter()
            .find(|r| new.iter().any(|p| p.manifest.log_index == r.index))
        {
            return Err(format!("the new key record would not count: {}", r.problem));
        }
        if let Some(r) = after
            .rejected
            .iter()
            .find(|r| self.book.counted.contains(&r.index))
        {
            return Err(format!(
                "it would void key record {} (log index {}): {}",
                r.record, r.index, r.problem
            ));
        }
        Ok(())
    }

    /// Does the checkpoint commit to the key records the book was folded from?
    pub fn commitment(&self, cp: &Checkpoint) -> Commitment {
        let want = statement::commitment_line(&self.lines);
        let found: Vec<&String> = cp
            .extensions
            .iter()
            .filter(|l| l.starts_with(statement::COMMITMENT_PREFIX))
            .collect();
        match (want, found.as_slice()) {
            (None, []) => Commitment::Holds,
            (Some(w), [f]) if &w == *f => Commitment::Holds,
            (Some(_), []) if !self.founded => Commitment::Absent,
            (Some(_), []) => Commitment::Broken(
                "the checkpoint commits to no key records, but log/keys lists some".into(),
            ),
            (_, [_]) => Commitment::Broken(
                "log/keys is not what the checkpoint commits to: a key record was removed, altered or added".into(),
            ),
            _ => Commitment::Broken("the checkpoint has more than one key-record line".into()),
        }
    }

    /// A checkpoint counts when it is for `origin`, a key whose checkpoints of its size count
    /// signed it, and it commits to the key records the book was folded from.
    pub fn check_checkpoint(
        &self,
        text: &str,
        cp: &Checkpoint,
        origin: &str,
    ) -> std::result::Result<(), CheckpointProblem> {
        self.check_checkpoint_signature(text, cp, origin)?;
        match self.commitment(cp) {
            Commitment::Broken(why) => Err(CheckpointProblem::KeyRecords(why)),
            _ => Ok(()),
        }
    }

    /// The first two thirds of [`check_checkpoint`](Trust::check_checkpoint): the origin, and a
    /// signature by a key whose checkpoints of that size count. Alone, for an older checkpoint
    /// (`audit --since`), whose key-record line commits to a prefix of today's key records.
    pub fn check_checkpoint_signature(
        &self,
        text: &str,
        cp: &Checkpoint,
        origin: &str,
    ) -> std::result::Result<(), CheckpointProblem> {
        if cp.origin != origin {
            return Err(CheckpointProblem::Origin {
                found: cp.origin.clone(),
                want: origin.into(),
            });
        }
        let keys: Vec<(String, PublicKey)> = self
            .book
            .checkpoint_keys(cp.size)
            .iter()
            .map(|e| (origin.to_string(), *e.key()))
            .collect();
        if let Err(e) = note::verify_note(text, &keys) {
            return Err(CheckpointProblem::Signature {
                why: e.to_string(),
                signed_by: self.signers_of(text, origin),
                pinned: self.kind == TrustKind::Pinned,
            });
        }
        Ok(())
    }

    /// The key IDs (of this book) whose signature lines the note carries, for messages: "the
    /// checkpoint is signed by key X, which ...".
    pub fn signers_of(&self, text: &str, origin: &str) -> Vec<String> {
        let Ok(n) = note::parse_note(text) else {
            return Vec::new();
        };
        n.signatures
            .iter()
            .filter(|s| s.name == origin)
            .map(|s| {
                self.book
                    .keys()
                    .find(|e| note::key_hash(origin, e.key()) == s.key_hash)
                    .map(|e| e.id.clone())
                    .unwrap_or_else(|| format!("with key hash {:08x}", s.key_hash))
            })
            .collect()
    }

    /// Whether the manifest's signature counts.
    pub fn check(&self, m: &Manifest, bytes: &[u8], sig: &[u8]) -> Result<(), Rejection> {
        self.book.check(m, bytes, sig)
    }
}

/// Why a checkpoint does not count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointProblem {
    #[error("checkpoint origin {found:?} is not this archive's origin {want:?}")]
    Origin { found: String, want: String },
    #[error("checkpoint signature: {why}{}", signed_note(signed_by, *pinned))]
    Signature {
        why: String,
        signed_by: Vec<String>,
        pinned: bool,
    },
    #[error("{0}")]
    KeyRecords(String),
}

fn signed_note(by: &[String], pinned: bool) -> String {
    let whose = if pinned {
        "the pinned keys"
    } else {
        "this archive"
    };
    match by {
        [] => String::new(),
        keys => format!(
            " (it is signed by key {}, whose checkpoint of this size does not count for {whose})",
            keys.join(", key ")
        ),
    }
}

/// The error for a writer whose key may not sign.
pub fn not_usable(id: &str, why: &Rejection) -> Error {
    match why {
        Rejection::Retired {
            rotated_to: Some(new),
            record,
            ..
        } => Error::key(format!(
            "signing key {id} was rotated to key {new} (record {record}); it signs nothing new"
        ))
        .hint(format!(
            "sign with the new key {new}: `exhibit keys rotate` installs it as the default key, or pass it with --key"
        )),
        Rejection::Retired { record, .. } => Error::key(format!(
            "signing key {id} was retired (record {record}); it signs nothing new"
        ))
        .hint("sign with another key of the archive (--key); `exhibit keys` lists them"),
        Rejection::Compromised { record, since, .. } => Error::key(format!(
            "signing key {id} was marked compromised since {since} (record {record}); it signs nothing new"
        ))
        .hint("sign with another key of the archive (--key); `exhibit keys` lists them"),
        Rejection::UnknownSigner { .. } => Error::key(format!(
            "signing key {id} is not a key of this archive"
        ))
        .hint("sign with the archive's key (--key), or have a key of the archive add it: `exhibit --key TRUSTED.key keys add NEW.key.pub`"),
        other => Error::key(format!("signing key {id} cannot sign: {other}"))
            .hint("`exhibit keys` lists the archive's keys"),
    }
}
