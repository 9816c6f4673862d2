//! The history of a URL: its records in log order, and `check`, which fetches a URL again and
//! records whether it changed.
//!
//! A check compares the fresh bytes with the latest record of the same URL:
//! - identical bytes: a `check` record (a signed, logged verification event) that reuses the
//!   stored document, so repeated checks of an unchanged page add events but no documents;
//! - different bytes, same readable text: a new capture record marked `bytes-changed` (the new
//!   bytes are kept and citable; the page only changed in noise such as nonces and timestamps);
//! - different text: a new capture record marked `changed`.

use crate::archive::{Archive, Draft};
use crate::capture::{self, CaptureOptions};
use crate::error::Result;
use crate::keys::SecretKey;
use crate::manifest::{Change, ChangeKind, Labels, Manifest, Method};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;

/// Every committed record's manifest, grouped by URL (requested and final), in log order. Built
/// by reading all manifests once, in parallel.
pub struct UrlIndex {
    by_url: HashMap<String, Vec<usize>>,
    pub manifests: Vec<Manifest>,
}

impl UrlIndex {
    pub fn build(archive: &Archive) -> Result<UrlIndex> {
        let size = archive.log_size()?;
        let leaves = archive.leaves(size)?;
        let manifests: Vec<Manifest> = leaves
            .par_iter()
            .map(|e| archive.manifest(&e.record_id))
            .collect::<Result<_>>()?;
        Ok(UrlIndex::from_manifests(manifests))
    }

    /// An index of these manifests only (in log order), for a caller that already knows which
    /// records can be of a URL (the web viewer keeps that map and reads only those).
    pub fn from_manifests(manifests: Vec<Manifest>) -> UrlIndex {
        let mut by_url: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, m) in manifests.iter().enumerate() {
            by_url.entry(m.requested_url.clone()).or_default().push(i);
            if m.final_url != m.requested_url {
                by_url.entry(m.final_url.clone()).or_default().push(i);
            }
        }
        UrlIndex { by_url, manifests }
    }

    /// Records of a URL, oldest first.
    pub fn records(&self, url: &str) -> Vec<&Manifest> {
        let key = normalize(url);
        self.by_url
            .get(&key)
            .map(|v| v.iter().map(|&i| &self.manifests[i]).collect())
            .unwrap_or_default()
    }

    pub fn latest(&self, url: &str) -> Option<&Manifest> {
        self.records(url).into_iter().last()
    }
}

fn normalize(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| url.to_string())
}

/// What a check found for one URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// No earlier record of this URL: captured for the first time.
    New,
    Unchanged,
    BytesChanged,
    Changed,
}

impl From<crate::manifest::ChangeKind> for Outcome {
    fn from(k: crate::manifest::ChangeKind) -> Self {
        match k {
            crate::manifest::ChangeKind::Unchanged => Outcome::Unchanged,
            crate::manifest::ChangeKind::BytesChanged => Outcome::BytesChanged,
            crate::manifest::ChangeKind::Changed => Outcome::Changed,
        }
    }
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::New => "new",
            Outcome::Unchanged => "unchanged",
            Outcome::BytesChanged => "bytes-changed",
            Outcome::Changed => "changed",
        }
    }
}

/// The URL a target names: a URL as is, or the requested URL of the record that a record ID (or
/// its document's hash) names. Anything with a scheme is a URL; anything else that reads as a
/// record ID or hash is one ([`crate::verify::parse_target`]); the rest is reported as a bad URL
/// when it looks like one (`example.org/terms`) and as a bad ID or hash otherwise.
pub fn target_url(archive: &Archive, target: &str) -> Result<String> {
    if !target.contains("://") {
        match crate::verify::parse_target(target) {
            Ok(_) => {
                let (_, ids) = crate::verify::lookup_in_archive(archive, target)?;
                // Records written before manifest version 3 may hold a URL with credentials; it
                // is refused (never fetched, never echoed) like a typed one.
                let url = archive.manifest(&ids[0])?.requested_url;
                return capture::parse_url(&url)
                    .map(|u| u.to_string())
                    .map_err(|e| {
                        let mut err = crate::error::Error::new(
                            e.kind,
                            format!("record {}: {}", ids[0], e.what),
                        );
                        err.hint = e.hint;
                        err
                    });
            }
            Err(e) if !target.contains(['.', '/']) || reads_as_record_id(target) => return Err(e),
            Err(_) => {}
        }
    }
    Ok(capture::parse_url(target)?.to_string())
}

/// Whether an input that failed to parse was meant as a record ID (a mistyped one, or one of the
/// wrong length), so its error is the ID's, not "invalid URL".
fn reads_as_record_id(input: &str) -> bool {
    let s = crate::record_id::trim_pasted(input);
    matches!(
        s.parse::<crate::record_id::RecordId>(),
        Err(crate::record_id::RecordIdError::CheckFailed)
    ) || crate::record_id::looks_like_record_id(s)
}

/// Compare a fresh fetch with the latest record and turn it into the draft to commit.
pub fn classify(mut draft: Draft, previous: Option<&Manifest>) -> (Draft, Outcome) {
    let Some(prev) = previous else {
        return (draft, Outcome::New);
    };
    let change = |kind| {
        Some(Change {
            previous: prev.record_id.clone(),
            kind,
        })
    };
    if draft.document.sha256 == prev.document.sha256 {
        // Same bytes: an event, not a new document. The staged copy is dropped (deleted).
        draft.staged = None;
        draft.method = Method::Check;
        draft.change = change(ChangeKind::Unchanged);
        return (draft, Outcome::Unchanged);
    }
    let same_text = matches!(
        (&draft.document.text_fingerprint, &prev.document.text_fingerprint),
        (Some(a), Some(b)) if a == b
    );
    if same_text {
        draft.change = change(ChangeKind::BytesChanged);
        (draft, Outcome::BytesChanged)
    } else {
        draft.change = change(ChangeKind::Changed);
        (draft, Outcome::Changed)
    }
}

/// Check many URLs in parallel, committing in groups like a batch capture.
pub fn check_many(
    archive: &Archive,
    key: &SecretKey,
    urls: &[String],
    labels: &Labels,
    opts: &CaptureOptions,
    jobs: usize,
    report: impl FnMut(capture::BatchItem<Outcome>),
) -> Result<()> {
    let index = UrlIndex::build(archive)?;
    let fetcher = capture::Fetcher::new(opts)?;
    capture::pipeline(
        archive,
        key,
        urls,
        jobs,
        |url, scratch| {
            let previous = index.latest(url);
            // Each label carries over from the previous record unless a new one is given.
            let before = previous.map(|p| p.labels.clone()).unwrap_or_default();
            let labels = Labels {
                entity: labels.entity.clone().or(before.entity),
                document: labels.document.clone().or(before.document),
                note: labels.note.clone().or(before.note),
            };
            let draft = fetcher.fetch(url, scratch, labels)?;
            Ok(classify(draft, previous))
        },
        report,
    )
}

#[derive(Debug, Clone, Serialize)]
pub struct Version {
    pub record_id: String,
    pub log_index: u64,
    pub captured_at: String,
    pub method: &'static str,
    pub sha256: String,
    pub text_fingerprint: Option<String>,
    /// New for the first record, else unchanged / bytes-changed / changed against the previous
    /// record of the URL (computed from hashes when the record itself does not say).
    pub change: Outcome,
}

#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub url: String,
    pub first_tracked: Option<String>,
    pub last_verified: Option<String>,
    pub versions_count: usize,
    pub changes_last_30_days: usize,
    pub versions: Vec<Version>,
}

pub fn history(index: &UrlIndex, url: &str, now: jiff::Timestamp) -> History {
    let records = index.records(url);
    let mut versions = Vec::with_capacity(records.len());
    let mut prev: Option<&Manifest> = None;
    for m in &records {
        let change = match (&m.change, prev) {
            (Some(c), _) => c.kind.into(),
            (None, None) => Outcome::New,
            (None, Some(p)) if p.document.sha256 == m.document.sha256 => Outcome::Unchanged,
            (None, Some(p))
                if m.document.text_fingerprint.is_some()
                    && m.document.text_fingerprint == p.document.text_fingerprint =>
            {
                Outcome::BytesChanged
            }
            (None, Some(_)) => Outcome::Changed,
        };
        versions.push(Version {
            record_id: m.record_id.clone(),
            log_index: m.log_index,
            captured_at: m.captured_at.clone(),
            method: m.method.as_str(),
            sha256: m.document.sha256.clone(),
            text_fingerprint: m.document.text_fingerprint.clone(),
            change,
        });
        prev = Some(m);
    }
    let month_ago = now - jiff::SignedDuration::from_hours(24 * 30);
    let changes_last_30_days = versions
        .iter()
        .filter(|v| v.change == Outcome::Changed)
        .filter(|v| {
            v.captured_at
                .parse::<jiff::Timestamp>()
                .is_ok_and(|t| t >= month_ago)
        })
        .count();
    History {
        url: normalize(url),
        first_tracked: versions.first().map(|v| v.captured_at.clone()),
        last_verified: versions.last().map(|v| v.captured_at.clone()),
        versions_count: versions
            .iter()
            .filter(|v| v.change != Outcome::Unchanged)
            .count(),
        changes_last_30_days,
        versions,
    }
}
