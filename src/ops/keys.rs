//! Changing which keys sign for an archive: every change is a key record in the log, signed by a
//! key the archive already trusts (docs/FORMAT.md 7.1), so the log alone says who may sign.

use crate::archive::{key_draft, Archive};
use crate::error::{Error, Result};
use crate::keys::{self, PublicKey, SecretKey};
use crate::manifest::{self, Manifest};
use crate::trust::{Anchor, Prospective, Statement, StatusKind, Trust};

/// Refuse a key change whose records would not count once appended, or would void key records
/// that count now (FORMAT.md 7.1.2): checked before anything is written, with the records
/// signed provisionally at the log indexes they would get.
fn check_prospective(
    archive: &Archive,
    trust: &Trust,
    signer: &SecretKey,
    statements: &[&Statement],
) -> Result<()> {
    let size = archive.checkpoint()?.map_or(0, |(_, cp)| cp.size);
    let signed_at = manifest::now();
    let signer_id = keys::key_id(&signer.verifying_key());
    let prospective: Vec<Prospective> = statements
        .iter()
        .enumerate()
        .map(|(i, st)| {
            let doc = st.to_bytes();
            let url = format!("{}{}", crate::trust::statement::URL_PREFIX, st.key);
            let m = Manifest {
                format: manifest::format_for(manifest::Method::Key, false).into(),
                record_id: crate::record_id::RecordId::random().to_string(),
                log_index: size + i as u64,
                method: manifest::Method::Key,
                requested_url: url.clone(),
                final_url: url,
                captured_at: st.since.clone(),
                signed_at: signed_at.clone(),
                document: manifest::DocumentFacts {
                    sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&doc)),
                    size: doc.len() as u64,
                    content_type: Some("application/json".into()),
                    title: None,
                    text_fingerprint: None,
                },
                http: None,
                warc: None,
                browser: None,
                labels: Default::default(),
                change: None,
                tool: manifest::Tool::this(),
                signer: signer_id.clone(),
            };
            let bytes = m.to_bytes();
            let signature = keys::sign(signer, &bytes).to_vec();
            Prospective {
                manifest: m,
                bytes,
                signature,
                statement: (*st).clone(),
            }
        })
        .collect();
    trust.would_count(&prospective).map_err(|why| {
        Error::key(format!("refusing the key change: {why}; nothing was written")).hint(
            "for a compromise, give --since no earlier than the signing key's own addition, or sign with a key added before that time",
        )
    })
}

/// Add `new` as a key of the archive, signed by `signer` (a key of the archive that may sign).
pub fn add(
    archive: &Archive,
    signer: &SecretKey,
    new: &PublicKey,
    reason: Option<String>,
) -> Result<Manifest> {
    let trust = archive.trust(&Anchor::Archive)?;
    let id = keys::key_id(new);
    if trust.book.get(&id).is_some() {
        return Err(
            Error::usage(format!("key {id} is already a key of this archive"))
                .hint("nothing to do; `exhibit keys` lists the keys"),
        );
    }
    let st = Statement::added(new, &manifest::now(), reason);
    check_prospective(archive, &trust, signer, &[&st])?;
    let scratch = archive.scratch()?;
    let draft = key_draft(&scratch, &st)?;
    let mut done = archive.commit(signer, &scratch, vec![draft])?;
    store_key_copy(archive, new);
    Ok(done.remove(0).manifest)
}

/// The copy in `keys/` of a key the log now adds, for readers who check signatures with openssl
/// (FORMAT.md 7.1). Written only after the commit: written before, a change that failed (its
/// signer refused, another rotation first) or was killed left a key file no key record adds,
/// which audit rightly calls an error, forever. Missing, it is a warning that says how to
/// restore it; trust comes from the log either way, so a failure here fails nothing.
fn store_key_copy(archive: &Archive, key: &PublicKey) {
    let _ = archive.store_public_key(key);
}

/// Retire a key or mark it compromised, signed by `signer`.
pub fn set_status(
    archive: &Archive,
    signer: &SecretKey,
    key_id: &str,
    kind: StatusKind,
    since: Option<&str>,
    reason: Option<String>,
) -> Result<Manifest> {
    let trust = archive.trust(&Anchor::Archive)?;
    let Some(entry) = trust.book.get(key_id) else {
        return Err(
            Error::usage(format!("key {key_id} is not one of this archive's keys"))
                .hint("`exhibit keys` lists them"),
        );
    };
    let signer_id = keys::key_id(&signer.verifying_key());
    if kind == StatusKind::Compromised && signer_id == key_id {
        return Err(Error::key(format!("key {key_id} cannot mark itself compromised"))
            .hint("sign with another key of the archive (--key); add one first with `exhibit keys add`"));
    }
    let compromised = entry
        .statuses
        .iter()
        .any(|s| s.kind == StatusKind::Compromised);
    if compromised || (kind == StatusKind::Retired && !entry.statuses.is_empty()) {
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
    let st = Statement::status(key_id, kind, &manifest::format_time(since), reason);
    check_prospective(archive, &trust, signer, &[&st])?;
    let scratch = archive.scratch()?;
    let draft = key_draft(&scratch, &st)?;
    let mut done = archive.commit(signer, &scratch, vec![draft])?;
    Ok(done.remove(0).manifest)
}

/// Hand over from `old` to `new` in one commit signed by `old`: `new` is added, then `old` is
/// retired. A verifier who pins `old` follows the hand-over, because `old` signed it.
pub fn rotate(
    archive: &Archive,
    old: &SecretKey,
    new: &SecretKey,
    reason: Option<String>,
) -> Result<(Manifest, Manifest)> {
    let trust = archive.trust(&Anchor::Archive)?;
    let old_id = keys::key_id(&old.verifying_key());
    trust
        .book
        .may_sign(&old_id)
        .map_err(|why| crate::trust::not_usable(&old_id, &why))?;
    let now = manifest::now();
    let why =
        reason.unwrap_or_else(|| format!("rotated to key {}", keys::key_id(&new.verifying_key())));
    let added = Statement::added(&new.verifying_key(), &now, Some(why.clone()));
    let retired = Statement::status(&old_id, StatusKind::Retired, &now, Some(why));
    check_prospective(archive, &trust, old, &[&added, &retired])?;
    let scratch = archive.scratch()?;
    let drafts = vec![key_draft(&scratch, &added)?, key_draft(&scratch, &retired)?];
    let mut done = archive.commit(old, &scratch, drafts)?;
    store_key_copy(archive, &new.verifying_key());
    let retired = done.remove(1).manifest;
    let added = done.remove(0).manifest;
    Ok((added, retired))
}
