//! Key rotation: retiring a key, or marking it compromised from a time on.
//!
//! A status change is a record like any other (method `key`): its document is a small JSON
//! statement, it is signed, appended to the log and covered by the checkpoint, so removing or
//! altering it breaks the log like removing any record would. `log/keys` lists the log indexes
//! of these records, so verifying one record reads the key events, never the whole log; audit
//! recomputes that list from the log and insists they agree.
//!
//! Rules (applied by `TrustRoot`, whether the trust root is the archive's or pinned, since a
//! status can only take trust away):
//! - a retired key's earlier signatures keep verifying; anything it signs after the retirement
//!   record fails;
//! - a compromised key's signatures fail when made at or after `since`, or when appended to the
//!   log after the compromise record whatever time they claim (no backdating); earlier ones keep
//!   verifying;
//! - a key cannot be marked compromised by itself.

use crate::error::{Error, Result};
use crate::manifest::{Manifest, Method};
use serde::{Deserialize, Serialize};

pub const FORMAT: &str = "exhibit-key-status/1";
pub const URL_PREFIX: &str = "exhibit:key/";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusKind {
    Retired,
    Compromised,
}

/// The document of a key record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    pub format: String,
    pub key: String,
    pub status: StatusKind,
    pub since: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Statement {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).expect("statement serializes");
        v.push(b'\n');
        v
    }

    pub fn parse(bytes: &[u8]) -> Result<Statement, String> {
        let s: Statement =
            serde_json::from_slice(bytes).map_err(|e| format!("malformed key statement: {e}"))?;
        if s.format != FORMAT {
            return Err(format!(
                "key statement format {:?} is not {FORMAT:?}",
                s.format
            ));
        }
        if !crate::manifest::is_canonical_time(&s.since) {
            return Err(format!(
                "key statement time {:?} is not a UTC time of the form YYYY-MM-DDTHH:MM:SSZ",
                s.since
            ));
        }
        // One statement, one byte form, as for manifests (FORMAT.md 5.6, 7.1.1).
        if s.to_bytes() != bytes {
            return Err("key statement is not in canonical form".into());
        }
        Ok(s)
    }
}

/// Every status a key has been given, in log order. All of them apply: a retirement recorded
/// after a compromise does not make the compromised signatures good again.
pub type KeyStatuses = std::collections::HashMap<String, Vec<KeyStatus>>;

/// The first reason, if any, that `statuses` reject a record signed by its key.
pub fn rejects(statuses: Option<&Vec<KeyStatus>>, m: &Manifest) -> Result<(), String> {
    statuses.into_iter().flatten().try_for_each(|s| s.allows(m))
}

/// One status a key was given by one key record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStatus {
    pub kind: StatusKind,
    pub since: jiff::Timestamp,
    pub event_index: u64,
    pub event_record: String,
}

impl KeyStatus {
    /// Whether a record signed by this key still counts, and if not, why.
    pub fn allows(&self, m: &Manifest) -> Result<(), String> {
        if m.log_index == self.event_index {
            return Ok(()); // the status record itself
        }
        match self.kind {
            StatusKind::Retired if m.log_index > self.event_index => Err(format!(
                "signed by key {} after it was retired (record {} at log index {})",
                m.signer, self.event_record, self.event_index
            )),
            StatusKind::Compromised => {
                let signed = m.signed_at.parse::<jiff::Timestamp>().ok();
                if m.log_index > self.event_index || signed.is_none_or(|t| t >= self.since) {
                    Err(format!(
                        "signed by key {}, which is compromised since {} (record {})",
                        m.signer,
                        crate::manifest::format_time(self.since),
                        self.event_record
                    ))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// Whether a checkpoint of `size` leaves signed by this key counts: a retired key's
    /// checkpoints up to its retirement do, a compromised key's never do.
    pub fn allows_checkpoint(&self, size: u64) -> bool {
        self.kind == StatusKind::Retired && size <= self.event_index + 1
    }
}

/// One line of `log/keys`: `<leaf index> <record ID> <key ID>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEvent {
    pub index: u64,
    pub record_id: String,
    pub key: String,
}

impl KeyEvent {
    pub fn to_line(&self) -> String {
        format!("{} {} {}\n", self.index, self.record_id, self.key)
    }

    pub fn parse_file(text: &str) -> Result<Vec<KeyEvent>, String> {
        text.lines()
            .map(|l| {
                let mut parts = l.split(' ');
                let (Some(i), Some(r), Some(k), None) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    return Err(format!("malformed line {l:?}"));
                };
                let index = i.parse().map_err(|_| format!("malformed index in {l:?}"))?;
                Ok(KeyEvent {
                    index,
                    record_id: r.to_string(),
                    key: k.to_string(),
                })
            })
            .collect()
    }
}

/// The lines of `log/keys` that belong to a log of `size` records: complete lines (a torn last
/// line is the remains of an interrupted append) whose index is below `size`. Lines that do not
/// parse are kept, so that audit reports them instead of a rollback silently dropping them.
pub fn committed_lines(text: &str, size: u64) -> String {
    text.split_inclusive('\n')
        .filter(|l| {
            l.ends_with('\n')
                && l.split(' ')
                    .next()
                    .and_then(|i| i.parse::<u64>().ok())
                    .is_none_or(|i| i < size)
        })
        .collect()
}

/// Check a key record's manifest against its statement.
pub fn check_record(m: &Manifest, statement: &Statement) -> Result<(), String> {
    if m.method != Method::Key || m.requested_url != format!("{URL_PREFIX}{}", statement.key) {
        return Err("a key statement must be the document of a key record for that key".into());
    }
    if statement.status == StatusKind::Compromised && m.signer == statement.key {
        return Err(format!(
            "key {} cannot mark itself compromised",
            statement.key
        ));
    }
    Ok(())
}

pub fn not_usable(id: &str, status: &KeyStatus) -> Error {
    let what = match status.kind {
        StatusKind::Retired => "retired",
        StatusKind::Compromised => "marked compromised",
    };
    Error::key(format!("signing key {id} was {what} (record {})", status.event_record))
        .hint("sign with another trusted key: `exhibit keygen --out NEW.key`, then `exhibit --key NEW.key init`")
}

/// Record a key status change as a signed, logged key record, signed by `signer`.
pub fn record_status(
    archive: &crate::archive::Archive,
    signer: &crate::keys::SecretKey,
    key_id: &str,
    kind: StatusKind,
    since: Option<&str>,
    reason: Option<String>,
) -> Result<Manifest> {
    use std::io::Write;
    let trust = crate::verify::TrustRoot::from_archive(archive)?;
    if trust.get(key_id).is_none() {
        return Err(
            Error::usage(format!("key {key_id} is not one of this archive's keys"))
                .hint("`exhibit keys` lists them"),
        );
    }
    let signer_id = crate::keys::key_id(&signer.verifying_key());
    if kind == StatusKind::Compromised && signer_id == key_id {
        return Err(Error::key(format!("key {key_id} cannot mark itself compromised"))
            .hint("sign with another trusted key (--key); create one with `exhibit keygen` and trust it with `exhibit init`"));
    }
    let current = trust
        .statuses
        .get(key_id)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let compromised = current.iter().any(|s| s.kind == StatusKind::Compromised);
    if compromised || (kind == StatusKind::Retired && !current.is_empty()) {
        return Err(Error::usage(format!(
            "key {key_id} is already {}",
            if compromised {
                "marked compromised"
            } else {
                "retired"
            }
        ))
        .hint("nothing to do"));
    }
    let since = match since {
        Some(t) => t.parse::<jiff::Timestamp>().map_err(|e| {
            Error::usage(format!("--since {t:?} is not an RFC 3339 time: {e}"))
                .hint("write it like 2026-11-01T00:00:00Z")
        })?,
        None => jiff::Timestamp::now(),
    };
    let statement = Statement {
        format: FORMAT.into(),
        key: key_id.to_string(),
        status: kind,
        since: crate::manifest::format_time(since),
        reason: reason.clone(),
    };
    let scratch = archive.scratch()?;
    let mut w = crate::store::DocumentWriter::create(scratch.dir(), u64::MAX)?;
    w.write_all(&statement.to_bytes())
        .map_err(|e| Error::archive(format!("cannot stage the key statement: {e}")))?;
    let staged = w.finish()?;
    let url = format!("{URL_PREFIX}{key_id}");
    let draft = crate::archive::Draft {
        method: Method::Key,
        requested_url: url.clone(),
        final_url: url,
        captured_at: crate::manifest::now(),
        document: crate::manifest::DocumentFacts {
            sha256: staged.sha256.clone(),
            size: staged.size,
            content_type: Some("application/json".into()),
            title: None,
            text_fingerprint: None,
        },
        http: None,
        warc: None,
        labels: crate::manifest::Labels {
            note: reason,
            ..Default::default()
        },
        change: None,
        staged: Some(staged),
    };
    let mut done = archive.commit(signer, &scratch, vec![draft])?;
    Ok(done.remove(0).manifest)
}
