//! Evidence bundles: one zip file that carries everything needed to check some records on a
//! machine that has never seen the archive, ideally without exhibit (docs/FORMAT.md section 13).
//!
//! Members of an `exhibit-bundle/3` (all stored uncompressed, fixed timestamps and order, so the
//! same records and checkpoint always give byte-identical bundles):
//! ```text
//! SHA256SUMS            `sha256sum -c` list of every member below
//! SHA256SUMS.sig        raw Ed25519 signature over SHA256SUMS by the exporting key (the seal)
//! exhibit-bundle.json   machine-readable index, every value of it derived from signed data
//! CITATION.txt VERIFY.txt
//! checkpoint.txt        the log's signed checkpoint (C2SP signed note)
//! keys/<id>.pem         public keys that signed, for convenience only: never a trust root
//! keylog.txt            the log's key-record index (log/keys) the checkpoint commits to
//! keylog/<ID>/manifest.json manifest.sig statement.json   each key record of the log
//! records/<ID>/manifest.json manifest.sig proof.json <readable name>.<ext>
//! ```
//! The key records let a verifier who pins one key follow what that key signed: a key it added
//! (a rotation) becomes trusted, a key it retired stops counting (trust/ decides).
//! `exhibit-bundle/2` bundles (the same without key records, so only the pinned keys count) and
//! `exhibit-bundle/1` bundles (which also carried `verify.py` and `keys/<id>.ed25519`, and listed
//! the keys in the index) are still read and verified.
//!
//! Reading a bundle never writes anything. The zip is parsed once, strictly (zipread.rs), so
//! every reader sees the same members; members are hashed as they stream out, with limits on
//! sizes, so hostile bundles get one clear error line.

use crate::archive::Archive;
use crate::cite::{Citation, Format};
use crate::core::digest::Sha256;
use crate::error::{Error, IoContext, Kind, Result};
use crate::keys::{self, PublicKey, SecretKey};
use crate::log::merkle;
use crate::manifest::Manifest;
use crate::note::{self, Checkpoint};
use crate::record_id::RecordId;
use crate::store::DigestWriter;
use crate::trust::{Anchor, Trust, TrustKind};
use crate::verify::RecordReport;
use crate::zipread;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

/// The format exhibit writes: version 2 plus the log's key records (`keylog.txt`, `keylog/`),
/// so a verifier who pinned one key can follow what that key signed (FORMAT.md section 13).
pub const FORMAT: &str = "exhibit-bundle/3";
/// Earlier formats, still read and verified.
pub const FORMAT_V2: &str = "exhibit-bundle/2";
pub const FORMAT_V1: &str = "exhibit-bundle/1";
/// Records per bundle: each is four members, plus the fixed ones, within zipread::MAX_ENTRIES.
const MAX_RECORDS: usize = 20_000;
/// Members other than documents are read into memory: manifests, proofs, the index, the
/// citation text. Their sizes grow with the number of records, hence a generous bound per
/// member and a total one.
const MAX_SMALL_MEMBER: u64 = 64 << 20;
const MAX_SMALL_TOTAL: u64 = 512 << 20;
const MAX_DOCUMENT: u64 = 16 << 30;

/// The third-party procedure, the same in every bundle and byte for byte in docs/FORMAT.md
/// section 13.11 (a test holds them together), so a reader can check it against a copy they
/// obtained independently.
pub const VERIFY_TXT: &str = include_str!("bundle_verify.txt");
/// The procedure every `exhibit-bundle/2` carries (FORMAT.md section 13.12), kept so those
/// bundles keep verifying.
const VERIFY_TXT_V2: &str = include_str!("bundle_verify_v2.txt");

/// `exhibit-bundle.json` of an `exhibit-bundle/2` or `/3`. Every value is derived from the signed
/// checkpoint, the signed manifests and the member names, so a verifier rebuilds it and
/// compares bytes: nothing in it can state what the signed data does not.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Index {
    pub format: String,
    pub origin: String,
    pub tree_size: u64,
    pub root_hash: String,
    pub checkpoint: String,
    pub records: Vec<IndexRecord>,
}

/// `exhibit-bundle.json` of an `exhibit-bundle/1`: also lists the carried keys.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IndexV1 {
    pub format: String,
    pub origin: String,
    pub tree_size: u64,
    pub root_hash: String,
    pub checkpoint: String,
    pub keys: Vec<IndexKey>,
    pub records: Vec<IndexRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IndexKey {
    pub id: String,
    pub pem: String,
    pub raw: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IndexRecord {
    pub record_id: String,
    pub sha256: String,
    pub size: u64,
    pub url: String,
    pub captured_at: String,
    pub document: String,
    pub manifest: String,
    pub signature: String,
    pub proof: String,
}

impl IndexRecord {
    /// What the index says of a record, derived from its manifest and its document's name.
    fn of(m: &Manifest, doc_name: &str) -> IndexRecord {
        let dir = format!("records/{}", m.record_id);
        IndexRecord {
            record_id: m.record_id.clone(),
            sha256: m.document.sha256.clone(),
            size: m.document.size,
            url: m.requested_url.clone(),
            captured_at: m.captured_at.clone(),
            document: format!("{dir}/{doc_name}"),
            manifest: format!("{dir}/manifest.json"),
            signature: format!("{dir}/manifest.sig"),
            proof: format!("{dir}/proof.json"),
        }
    }
}

impl Index {
    /// The index of a version-2 or version-3 bundle holding these records (in log order) under this
    /// checkpoint.
    fn of(cp: &Checkpoint, records: &[(&Manifest, &str)], format: &str) -> Index {
        Index {
            format: format.into(),
            origin: cp.origin.clone(),
            tree_size: cp.size,
            root_hash: hex::encode(cp.root),
            checkpoint: "checkpoint.txt".into(),
            records: records
                .iter()
                .map(|(m, doc)| IndexRecord::of(m, doc))
                .collect(),
        }
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("index serializes");
        v.push(b'\n');
        v
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Proof {
    pub record_id: String,
    pub leaf_index: u64,
    pub tree_size: u64,
    pub leaf_hash: String,
    pub audit_path: Vec<String>,
    pub root_hash: String,
}

impl Proof {
    /// `proof.json` as exhibit writes it: pretty-printed, then one newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut proof = serde_json::to_vec_pretty(self).expect("proof serializes");
        proof.push(b'\n');
        proof
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportSummary {
    pub path: String,
    pub records: usize,
    pub bytes: u64,
    pub sha256: String,
}

fn extension(content_type: Option<&str>, url: &str) -> &'static str {
    let t = content_type.unwrap_or("").to_ascii_lowercase();
    let by_type = [
        ("html", "html"),
        ("pdf", "pdf"),
        ("json", "json"),
        ("image/svg", "svg"),
        ("xml", "xml"),
        ("text/plain", "txt"),
        ("text/markdown", "md"),
        ("text/csv", "csv"),
        ("image/png", "png"),
        ("image/jpeg", "jpg"),
        ("image/gif", "gif"),
        ("image/webp", "webp"),
    ];
    if let Some((_, ext)) = by_type.iter().find(|(k, _)| t.contains(k)) {
        return ext;
    }
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    for ext in [
        "html", "htm", "pdf", "txt", "json", "xml", "csv", "md", "png", "jpg", "gif", "svg",
    ] {
        if path.ends_with(&format!(".{ext}")) {
            return by_type
                .iter()
                .map(|(_, e)| *e)
                .find(|e| *e == ext)
                .unwrap_or("html");
        }
    }
    "bin"
}

/// A file name a person recognises: the document's title, made safe for every file system.
fn readable_name(m: &Manifest) -> String {
    let mut slug = String::new();
    for c in m.display_title().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 60 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    // Never one of the record's own member names.
    let slug = match slug {
        "" => "document",
        "manifest" | "proof" => "document",
        s => s,
    };
    format!(
        "{slug}.{}",
        extension(m.document.content_type.as_deref(), &m.final_url)
    )
}

struct Writer<W: Write + io::Seek> {
    zip: zip::ZipWriter<W>,
}

impl<W: Write + io::Seek> Writer<W> {
    fn options(large: bool) -> zip::write::SimpleFileOptions {
        zip::write::SimpleFileOptions::DEFAULT
            .compression_method(zip::CompressionMethod::Stored)
            .last_modified_time(zip::DateTime::DEFAULT)
            .unix_permissions(0o644)
            .large_file(large)
    }

    fn add(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        self.zip
            .start_file(name, Self::options(false))
            .map_err(|e| Error::archive(format!("cannot write bundle member {name}: {e}")))?;
        self.zip
            .write_all(bytes)
            .map_err(|e| Error::archive(format!("cannot write bundle member {name}: {e}")))
    }
}

/// Export only what verifies in the archive (signature, documents, inclusion in the signed log):
/// one exhibit never vouches for what it would not verify itself.
pub(crate) fn refuse_unverified(
    archive: &Archive,
    log: &crate::verify::LogState,
    id: &RecordId,
) -> Result<()> {
    let r = crate::verify::verify_record(archive, log, id)?;
    match r.first_failure() {
        None => Ok(()),
        Some(c) => Err(Error::verification(format!(
            "record {id} does not verify in this archive ({}: {}); it is not exported",
            c.check, c.detail
        ))
        .hint("run `exhibit verify` on it; export only records that verify")),
    }
}

/// Export records into one bundle at `out` (written to a scratch file, then renamed: never
/// half-written). `key` seals the member list; it must be a key the archive trusts.
pub fn export(
    archive: &Archive,
    key: &SecretKey,
    ids: &[RecordId],
    out: &Path,
) -> Result<ExportSummary> {
    let mut seen = HashSet::new();
    let ids: Vec<RecordId> = ids.iter().copied().filter(|i| seen.insert(*i)).collect();
    if ids.len() > MAX_RECORDS {
        return Err(Error::usage(format!(
            "{} records in one bundle, more than the limit of {MAX_RECORDS}",
            ids.len()
        ))
        .hint("split the export into several bundles"));
    }
    let (cp_text, cp) = archive.checkpoint()?.ok_or_else(|| {
        Error::not_found("the archive has no records, so nothing to export")
            .hint("capture something first")
    })?;
    let signer_id = keys::key_id(&key.verifying_key());
    // A bundle vouches for what it carries: refuse records that do not verify here (bad
    // signature, key retired or compromised), a checkpoint no usable key signed, and a sealing
    // key that may no longer sign.
    let log = crate::verify::LogState::for_export(archive)?;
    let book = log.book().expect("checked by for_export");
    book.may_sign(&signer_id)
        .map_err(|why| crate::trust::not_usable(&signer_id, &why))?;
    let trust = log.trust.as_ref().expect("checked by for_export");
    let items = verified_items(archive, &log, &ids, &cp)?;
    let carried = export_keys(trust, &items, &signer_id, &cp_text, &cp)?;
    let members = export_members(&items, trust, &carried, &cp, cp_text);

    let out_dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = crate::core::interrupt::temp_file_in(out_dir, ".exhibit-bundle-")
        .ctx("create a scratch file in", out_dir)?;
    let mut w = Writer {
        zip: zip::ZipWriter::new(io::BufWriter::new(tmp.reopen().ctx("open", tmp.path())?)),
    };
    // SHA256SUMS and its signature come first in the zip but are computed last, so the members
    // are written to the zip in a second pass over the same, fixed order.
    let sums_text = members.sums();
    let sums_sig = keys::sign(key, sums_text.as_bytes());
    w.add("SHA256SUMS", sums_text.as_bytes())?;
    w.add("SHA256SUMS.sig", &sums_sig)?;
    for (name, bytes) in &members.small {
        w.add(name, bytes)?;
    }
    // Documents, then parts (a browser capture's bodies and views, TLS certificates), streamed
    // from the store.
    for (name, sha, size) in members.documents.iter().chain(&members.parts) {
        w.zip
            .start_file(
                name.as_str(),
                Writer::<io::BufWriter<File>>::options(*size >= 1 << 32),
            )
            .map_err(|e| Error::archive(format!("cannot write bundle member {name}: {e}")))?;
        archive.read_document(&Sha256::checked(sha)?, &mut w.zip)?;
    }
    let mut inner = w
        .zip
        .finish()
        .map_err(|e| Error::archive(format!("cannot finish the bundle: {e}")))?;
    inner.flush().ctx("write", tmp.path())?;
    inner.get_ref().sync_all().ctx("flush", tmp.path())?;
    drop(inner);
    tmp.persist(out).ctx("move the bundle to", out)?;
    let (sha, bytes) = crate::verify::sha256_file(out)?;
    Ok(ExportSummary {
        path: out.display().to_string(),
        records: items.len(),
        bytes,
        sha256: sha,
    })
}

/// A record on its way into a bundle or a WARC export.
pub(crate) struct ExportItem {
    pub manifest: Manifest,
    pub bytes: Vec<u8>,
    pub sig: Vec<u8>,
    pub proof: Proof,
    /// The document's member name in a bundle.
    pub doc_name: String,
}

/// The records, each verified here first (the one judgement of a record), with their proofs
/// against the checkpoint, in log order whatever order they were named in: the same set of
/// records always gives the same bundle, and a verifier can rebuild the index.
pub(crate) fn verified_items(
    archive: &Archive,
    log: &crate::verify::LogState,
    ids: &[RecordId],
    cp: &Checkpoint,
) -> Result<Vec<ExportItem>> {
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        refuse_unverified(archive, log, id)?;
        let (bytes, sig) = archive
            .load_record(id)?
            .ok_or_else(|| crate::archive::no_such_record(id, archive.root()))?;
        let m = Manifest::parse(&bytes)?;
        let path = archive.inclusion_proof(m.log_index, cp.size)?;
        let proof = Proof {
            record_id: m.record_id.clone(),
            leaf_index: m.log_index,
            tree_size: cp.size,
            leaf_hash: hex::encode(merkle::leaf_hash(&bytes)),
            audit_path: path.iter().map(hex::encode).collect(),
            root_hash: hex::encode(cp.root),
        };
        items.push(ExportItem {
            doc_name: readable_name(&m),
            manifest: m,
            bytes,
            sig,
            proof,
        });
    }
    items.sort_by_key(|it| it.manifest.log_index);
    Ok(items)
}

/// The keys a bundle carries, sorted by ID: the sealing key, every record's and key record's
/// signer, and the keys whose signature on the checkpoint verifies.
fn export_keys(
    trust: &Trust,
    items: &[ExportItem],
    signer_id: &str,
    cp_text: &str,
    cp: &Checkpoint,
) -> Result<Vec<(String, PublicKey)>> {
    let book = &trust.book;
    let mut key_ids: BTreeSet<String> = BTreeSet::from([signer_id.to_string()]);
    key_ids.extend(items.iter().map(|it| it.manifest.signer.clone()));
    key_ids.extend(trust.events.iter().map(|ev| ev.manifest.signer.clone()));
    let trusted_pairs: Vec<(String, PublicKey)> =
        book.keys().map(|k| (k.id.clone(), *k.key())).collect();
    key_ids.extend(note::signed_by(cp_text, &cp.origin, &trusted_pairs));
    key_ids
        .into_iter()
        .map(|id| {
            let k = book.get(&id).ok_or_else(|| {
                Error::key(format!(
                    "the archive does not hold public key {id}, which signed an exported record"
                ))
                .hint("run `exhibit audit`")
            })?;
            Ok((id, *k.key()))
        })
        .collect()
}

/// A bundle's members, in the order they are written after SHA256SUMS and its signature.
struct ExportMembers {
    /// Members held in memory: the index, texts, checkpoint, keys, key records, records.
    small: Vec<(String, Vec<u8>)>,
    /// Documents and parts, streamed from the store: name, SHA-256, size.
    documents: Vec<(String, String, u64)>,
    parts: Vec<(String, String, u64)>,
}

impl ExportMembers {
    /// SHA256SUMS: every member's SHA-256, sorted by name.
    fn sums(&self) -> String {
        let mut sums: Vec<(String, String)> = self
            .small
            .iter()
            .map(|(n, b)| (n.clone(), hex::encode(sha2::Sha256::digest(b))))
            .chain(
                self.documents
                    .iter()
                    .chain(&self.parts)
                    .map(|(n, h, _)| (n.clone(), h.clone())),
            )
            .collect();
        sums.sort();
        sums.iter().map(|(n, h)| format!("{h}  {n}\n")).collect()
    }
}

/// What goes into the bundle (FORMAT.md 13): the index, citation, procedure, checkpoint and
/// carried keys; the key records of the log (the index the checkpoint commits to, and each key
/// record, so that a verifier pinned to one key can follow a rotation it signed); each record's
/// manifest, signature, proof, document and parts.
fn export_members(
    items: &[ExportItem],
    trust: &Trust,
    carried: &[(String, PublicKey)],
    cp: &Checkpoint,
    cp_text: String,
) -> ExportMembers {
    let listed: Vec<(&Manifest, &str)> = items
        .iter()
        .map(|it| (&it.manifest, it.doc_name.as_str()))
        .collect();
    let manifests: Vec<&Manifest> = items.iter().map(|it| &it.manifest).collect();
    let mut small: Vec<(String, Vec<u8>)> = vec![
        (
            "exhibit-bundle.json".into(),
            Index::of(cp, &listed, FORMAT).to_bytes(),
        ),
        (
            "CITATION.txt".into(),
            citation_text(&manifests, carried).into_bytes(),
        ),
        ("VERIFY.txt".into(), VERIFY_TXT.as_bytes().to_vec()),
        ("checkpoint.txt".into(), cp_text.into_bytes()),
    ];
    for (id, k) in carried {
        small.push((format!("keys/{id}.pem"), keys::public_pem(k).into_bytes()));
    }
    if !trust.lines.is_empty() {
        small.push((KEYLOG.into(), trust.lines.clone().into_bytes()));
    }
    for ev in &trust.events {
        let id = &ev.manifest.record_id;
        small.push((format!("keylog/{id}/manifest.json"), ev.bytes.clone()));
        small.push((format!("keylog/{id}/manifest.sig"), ev.signature.clone()));
        small.push((
            format!("keylog/{id}/statement.json"),
            ev.statement.to_bytes(),
        ));
    }
    let mut documents = Vec::new();
    let mut parts = Vec::new();
    for it in items {
        let dir = format!("records/{}", it.manifest.record_id);
        small.push((format!("{dir}/manifest.json"), it.bytes.clone()));
        small.push((format!("{dir}/manifest.sig"), it.sig.clone()));
        small.push((format!("{dir}/proof.json"), it.proof.to_bytes()));
        documents.push((
            format!("{dir}/{}", it.doc_name),
            it.manifest.document.sha256.clone(),
            it.manifest.document.size,
        ));
        for p in it.manifest.parts() {
            parts.push((format!("{dir}/parts/{}", p.sha256), p.sha256, p.size));
        }
    }
    ExportMembers {
        small,
        documents,
        parts,
    }
}

/// The full SHA-256 of a key's 32 raw bytes: its ID is the first 16 hex digits of this.
pub fn fingerprint(key: &PublicKey) -> String {
    hex::encode(sha2::Sha256::digest(key.as_bytes()))
}

/// CITATION.txt: each record's citation, with the command that works for whoever receives the
/// bundle, and where the key to pin comes from.
fn citation_text(manifests: &[&Manifest], keys: &[(String, PublicKey)]) -> String {
    let pins: String = keys
        .iter()
        .map(|(id, _)| format!(" --trusted-key {id}.pub"))
        .collect();
    let mut s: Vec<String> = manifests
        .iter()
        .map(|m| {
            let mut c = Citation::new(m);
            c.verify = format!(
                "exhibit verify BUNDLE.zip{pins} (BUNDLE.zip: this bundle; each .pub: the \
                 publisher's public key with that key ID, obtained from the publisher, see below)"
            );
            c.render(Format::Text)
        })
        .collect();
    let mut how = String::from(
        "How to verify this bundle\n\
         =========================\n\
         Whoever receives this bundle checks it with exhibit (no archive needed):\n\n",
    );
    how.push_str(&format!("  exhibit verify BUNDLE.zip{pins}\n\n"));
    how.push_str(
        "BUNDLE.zip is this file. Each KEY.pub is a public key of the publisher of the filing\n\
         (whoever cites these records), obtained from them, not from this bundle: anyone can\n\
         make a bundle that carries keys of their own. The bundle was signed with these keys:\n\n",
    );
    for (id, k) in keys {
        how.push_str(&format!(
            "  key ID {id}, SHA-256 fingerprint {}\n",
            fingerprint(k)
        ));
    }
    how.push_str(
        "\nThe fingerprint is the SHA-256 of the key's 32 raw bytes; check a key file with\n\
         \x20 openssl pkey -pubin -in KEY.pub -outform DER | tail -c 32 | sha256sum\n\
         Exit code 0 means verified against the pinned keys. Without --trusted-key, exhibit only\n\
         says whether the bundle is self-consistent (exit code 9): that proves nothing about who\n\
         signed it. Without exhibit: VERIFY.txt, the same as section 13.11 of exhibit's\n\
         docs/FORMAT.md.\n",
    );
    s.push(how);
    s.join("\n")
}

/// What `exhibit verify BUNDLE.zip` found.
#[derive(Debug, Clone, Serialize)]
pub struct BundleReport {
    /// No check failed. Who signed is established only when `trust` is "pinned" as well.
    pub ok: bool,
    pub bundle: String,
    /// `exhibit-bundle/2` or `exhibit-bundle/1`, once the index says which.
    pub format: Option<String>,
    /// "pinned": signatures count only by keys given with --trusted-key; "self-consistent": by
    /// the keys the bundle carries, which says nothing about who holds them.
    pub trust: TrustKind,
    /// Key IDs of the keys whose signatures counted.
    pub trusted_keys: Vec<String>,
    /// The key that sealed SHA256SUMS, if a trusted or carried key did.
    pub sealed_by: Option<String>,
    /// The keys, trusted or carried, whose signature on the checkpoint verifies.
    pub checkpoint_signed_by: Vec<String>,
    pub origin: Option<String>,
    pub tree_size: Option<u64>,
    pub problems: Vec<String>,
    pub records: Vec<RecordReport>,
}

impl BundleReport {
    fn new(path: &Path, pinned: bool) -> BundleReport {
        BundleReport {
            ok: false,
            bundle: path.display().to_string(),
            format: None,
            trust: trust_name(pinned),
            trusted_keys: Vec::new(),
            sealed_by: None,
            checkpoint_signed_by: Vec::new(),
            origin: None,
            tree_size: None,
            problems: Vec::new(),
            records: Vec::new(),
        }
    }

    /// The report of a file that could not be read as a bundle at all.
    pub fn refused(bundle: &str, pinned: bool, why: String) -> BundleReport {
        let mut r = BundleReport::new(Path::new(bundle), pinned);
        r.problems.push(why);
        r
    }

    fn finish(mut self) -> BundleReport {
        self.ok = self.problems.is_empty()
            && !self.records.is_empty()
            && self.records.iter().all(|r| r.ok);
        self
    }
}

fn trust_name(pinned: bool) -> TrustKind {
    if pinned {
        TrustKind::Pinned
    } else {
        TrustKind::SelfConsistent
    }
}

/// Bundle-level failures, before any record can be looked at: one clear line each.
fn bad_bundle(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::new(
        Kind::Verification,
        format!("{} is not a valid evidence bundle: {why}", path.display()),
    )
    .hint("ask the sender for the bundle again; nothing was written")
}

const SUMS: &str = "SHA256SUMS";
const SUMS_SIG: &str = "SHA256SUMS.sig";
const INDEX: &str = "exhibit-bundle.json";
const CHECKPOINT: &str = "checkpoint.txt";
const KEYLOG: &str = "keylog.txt";

/// A document is any member below `records/` other than a record's three fixed members.
fn is_document(name: &str) -> bool {
    name.starts_with("records/")
        && !name.ends_with("/manifest.json")
        && !name.ends_with("/manifest.sig")
        && !name.ends_with("/proof.json")
}

/// Every member's SHA-256 and size, and the content of all but documents.
struct Members {
    small: HashMap<String, Vec<u8>>,
    hashes: BTreeMap<String, (String, u64)>,
}

impl Members {
    fn get(&self, name: &str) -> Option<&[u8]> {
        self.small.get(name).map(Vec::as_slice)
    }
}

fn read_members<R: Read + io::Seek>(
    path: &Path,
    r: &mut R,
    zip: &zipread::ZipIndex,
) -> Result<Members> {
    let mut small = HashMap::new();
    let mut hashes = BTreeMap::new();
    let mut small_total = 0u64;
    for e in &zip.entries {
        let fail = |err: io::Error| bad_bundle(path, format!("{}: {err}", e.name));
        if e.is_dir {
            // Read anyway: no byte of the file goes unchecked.
            zipread::read_entry(r, e).map_err(fail)?;
            continue;
        }
        let is_doc = is_document(&e.name);
        let limit = if is_doc {
            MAX_DOCUMENT
        } else {
            MAX_SMALL_MEMBER
        };
        // Declared sizes are checked before reading; the reader stops one byte past them, so
        // a bomb that lies about its size goes no further.
        if e.size > limit {
            return Err(bad_bundle(
                path,
                format!(
                    "{} declares {} bytes, more than the limit of {limit}",
                    e.name, e.size
                ),
            ));
        }
        if !is_doc {
            small_total += e.size;
            if small_total > MAX_SMALL_TOTAL {
                return Err(bad_bundle(
                    path,
                    format!("its metadata members exceed {MAX_SMALL_TOTAL} bytes in all"),
                ));
            }
        }
        let mut keep = Vec::new();
        let mut null = io::sink();
        let target: &mut dyn Write = if is_doc { &mut null } else { &mut keep };
        let mut sink = DigestWriter::new(target);
        let mut reader = zipread::open_entry(r, e).map_err(fail)?;
        io::copy(&mut reader, &mut sink).map_err(fail)?;
        let sha = hex::encode(sink.hasher.finalize());
        hashes.insert(e.name.clone(), (sha, e.size));
        if !is_doc {
            small.insert(e.name.clone(), keep);
        }
    }
    Ok(Members { small, hashes })
}

/// The members a record directory holds.
#[derive(Default)]
struct RecordMembers {
    manifest: bool,
    signature: bool,
    proof: bool,
    documents: Vec<String>,
    /// Version 3: `parts/<sha256>` members, the record's parts carried with it.
    parts: BTreeSet<String>,
}

/// Which member is which; anything the format does not define is a problem.
struct Layout {
    key_pems: BTreeSet<String>,
    key_raws: BTreeSet<String>,
    /// Key records carried under keylog/<ID>/, each with its three members.
    key_records: BTreeMap<String, BTreeSet<String>>,
    records: BTreeMap<String, RecordMembers>,
    /// A version-3 bundle: key records and parts may travel in it.
    v3: bool,
}

fn is_key_id(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_canonical_record_id(s: &str) -> bool {
    s.parse::<RecordId>().is_ok_and(|id| id.to_string() == s)
}

fn layout(members: &Members, format: &str, problems: &mut Vec<String>) -> Layout {
    let v1 = format == FORMAT_V1;
    // Key records travel only in version 3.
    let keylog = format == FORMAT;
    let mut fixed = vec![
        SUMS,
        SUMS_SIG,
        INDEX,
        "CITATION.txt",
        "VERIFY.txt",
        CHECKPOINT,
    ];
    if v1 {
        fixed.push("verify.py");
    }
    let mut l = Layout {
        key_pems: BTreeSet::new(),
        key_raws: BTreeSet::new(),
        key_records: BTreeMap::new(),
        records: BTreeMap::new(),
        v3: keylog,
    };
    for name in members.hashes.keys() {
        if fixed.contains(&name.as_str()) {
            continue;
        }
        if let Some(rest) = name.strip_prefix("keys/") {
            if let Some(id) = rest.strip_suffix(".pem").filter(|id| is_key_id(id)) {
                l.key_pems.insert(id.to_string());
                continue;
            }
            if let Some(id) = rest
                .strip_suffix(".ed25519")
                .filter(|id| v1 && is_key_id(id))
            {
                l.key_raws.insert(id.to_string());
                continue;
            }
        }
        if keylog && name == KEYLOG {
            continue;
        }
        if let Some((id, file)) = name
            .strip_prefix("keylog/")
            .and_then(|r| r.split_once('/'))
            .filter(|_| keylog)
        {
            if is_canonical_record_id(id)
                && matches!(file, "manifest.json" | "manifest.sig" | "statement.json")
            {
                l.key_records
                    .entry(id.to_string())
                    .or_default()
                    .insert(file.to_string());
                continue;
            }
        }
        if let Some((id, file)) = name
            .strip_prefix("records/")
            .and_then(|r| r.split_once('/'))
        {
            if let Some(sha) = file
                .strip_prefix("parts/")
                .filter(|h| keylog && crate::manifest::is_sha256_hex(h))
                .filter(|_| is_canonical_record_id(id))
            {
                l.records
                    .entry(id.to_string())
                    .or_default()
                    .parts
                    .insert(sha.to_string());
                continue;
            }
            if is_canonical_record_id(id) && !file.contains('/') {
                let r = l.records.entry(id.to_string()).or_default();
                match file {
                    "manifest.json" => r.manifest = true,
                    "manifest.sig" => r.signature = true,
                    "proof.json" => r.proof = true,
                    doc => r.documents.push(doc.to_string()),
                }
                continue;
            }
        }
        problems.push(format!("{name}: not a member an {format} bundle has"));
    }
    for f in ["CITATION.txt", "VERIFY.txt", SUMS_SIG] {
        if !members.hashes.contains_key(f) {
            problems.push(format!("{f}: missing"));
        }
    }
    if v1 && !members.hashes.contains_key("verify.py") {
        problems.push("verify.py: missing".into());
    }
    for (id, r) in &l.records {
        for (present, what) in [
            (r.manifest, "manifest.json"),
            (r.signature, "manifest.sig"),
            (r.proof, "proof.json"),
        ] {
            if !present {
                problems.push(format!("records/{id}/{what}: missing"));
            }
        }
        if r.documents.len() != 1 {
            problems.push(format!(
                "records/{id}/: holds {} documents, not one",
                r.documents.len()
            ));
        }
    }
    for (id, files) in &l.key_records {
        for f in ["manifest.json", "manifest.sig", "statement.json"] {
            if !files.contains(f) {
                problems.push(format!("keylog/{id}/{f}: missing"));
            }
        }
    }
    if l.records.is_empty() {
        problems.push("the bundle holds no record".into());
    }
    l
}

/// The bundle as a source of key records for trust/: `keylog.txt` and `keylog/<ID>/`.
struct BundleSource<'a> {
    members: &'a Members,
    carried: &'a [NamedKey],
}

impl crate::trust::Source for BundleSource<'_> {
    fn key_event_lines(&self, _size: u64) -> Result<String> {
        let bytes = self.members.get(KEYLOG).unwrap_or_default();
        String::from_utf8(bytes.to_vec())
            .map_err(|_| Error::verification(format!("{KEYLOG} is not UTF-8 text")))
    }

    fn key_record(
        &self,
        _index: u64,
        id: &RecordId,
    ) -> Result<Option<crate::trust::KeyRecordBytes>> {
        let get = |f: &str| {
            self.members
                .get(&format!("keylog/{id}/{f}"))
                .map(<[u8]>::to_vec)
        };
        let (Some(m), Some(sig), Some(st)) = (
            get("manifest.json"),
            get("manifest.sig"),
            get("statement.json"),
        ) else {
            return Ok(None);
        };
        // The statement must be the document the signed manifest cites.
        let cited = Manifest::parse(&m)?;
        if hex::encode(sha2::Sha256::digest(&st)) != cited.document.sha256 {
            return Err(Error::verification(format!(
                "keylog/{id}/statement.json is not the document its manifest cites"
            )));
        }
        Ok(Some(crate::trust::KeyRecordBytes {
            manifest: m,
            signature: sig,
            document: st,
        }))
    }

    fn stored_keys(&self) -> Result<Vec<PublicKey>> {
        Ok(self.carried.iter().map(|(_, k)| *k).collect())
    }
}

/// The keys the bundle carries, each checked to be what its name says (never a trust root by
/// itself: anyone can put keys in a bundle).
/// A key and its key ID.
type NamedKey = (String, PublicKey);

/// Returns the keys that are what they say, and every key found (by its real ID), which only
/// serves to name who signed what.
fn carried_keys(
    l: &Layout,
    members: &Members,
    v1: bool,
    problems: &mut Vec<String>,
) -> (Vec<NamedKey>, Vec<NamedKey>) {
    let mut carried = Vec::new();
    let mut found = Vec::new();
    for id in &l.key_pems {
        let name = format!("keys/{id}.pem");
        let text = members
            .get(&name)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("");
        let parsed = keys::parse_public_pem(text, Path::new(&name));
        if let Ok(key) = &parsed {
            found.push((keys::key_id(key), *key));
        }
        match parsed {
            Ok(key) if keys::key_id(&key) != *id => problems.push(format!(
                "{name}: holds key {}, not key {id}",
                keys::key_id(&key)
            )),
            Ok(key) if text != keys::public_pem(&key) => {
                problems.push(format!("{name}: not in the canonical PEM form (section 7)"))
            }
            Ok(key) => {
                if v1 {
                    let raw = format!("keys/{id}.ed25519");
                    if members.get(&raw) != Some(key.as_bytes().as_slice()) {
                        problems.push(format!("{raw}: not the 32 raw bytes of key {id}"));
                        continue;
                    }
                }
                carried.push((id.clone(), key));
            }
            Err(_) => problems.push(format!("{name}: not an Ed25519 public key in PEM form")),
        }
    }
    for id in l.key_raws.difference(&l.key_pems) {
        problems.push(format!("keys/{id}.ed25519: has no keys/{id}.pem"));
    }
    (carried, found)
}

/// The checkpoint, and whether the trust root signed it.
enum CpState {
    Missing,
    Malformed,
    /// Parsed, but no key of the trust root signed it (or a trusted key's line fails).
    Untrusted(Checkpoint, String),
    Trusted(Checkpoint),
}

impl CpState {
    fn parsed(&self) -> Option<&Checkpoint> {
        match self {
            CpState::Untrusted(cp, _) | CpState::Trusted(cp) => Some(cp),
            _ => None,
        }
    }

    /// Why the inclusion proofs cannot count, if they cannot.
    fn log_failure(&self) -> Option<String> {
        match self {
            CpState::Missing => {
                Some("the bundle has no checkpoint.txt, so no inclusion proof can count".into())
            }
            CpState::Malformed => {
                Some("checkpoint.txt is malformed, so no inclusion proof can count".into())
            }
            CpState::Untrusted(_, why) => Some(format!(
                "the checkpoint cannot be relied on ({why}), so no inclusion proof can count"
            )),
            CpState::Trusted(_) => None,
        }
    }
}

fn describe_trust(trust: &Trust) -> String {
    let ids: Vec<String> = trust.book.keys().map(|k| k.id.clone()).collect();
    if trust.kind == crate::trust::TrustKind::Pinned {
        format!(
            "a pinned key or a key the pinned keys added (these: {})",
            ids.join(", ")
        )
    } else {
        "a key the bundle carries".into()
    }
}

/// Parse the checkpoint (or say why it cannot be).
fn parse_checkpoint(
    text: Option<&[u8]>,
    report: &mut BundleReport,
) -> Option<(String, Checkpoint)> {
    let Some(bytes) = text else {
        report.problems.push(format!("{CHECKPOINT}: missing"));
        return None;
    };
    let parsed = std::str::from_utf8(bytes)
        .map_err(|_| "not UTF-8".to_string())
        .and_then(|t| {
            note::parse_note(t)
                .and_then(|n| Checkpoint::parse(&n.text))
                .map(|cp| (t.to_string(), cp))
                .map_err(|e| e.to_string())
        });
    match parsed {
        Ok(p) => {
            report.origin = Some(p.1.origin.clone());
            report.tree_size = Some(p.1.size);
            Some(p)
        }
        Err(e) => {
            report
                .problems
                .push(format!("{CHECKPOINT}: malformed: {e}"));
            None
        }
    }
}

fn check_checkpoint(
    parsed: Option<&(String, Checkpoint)>,
    missing: bool,
    trust: &Trust,
    known: &[(String, PublicKey)],
    report: &mut BundleReport,
) -> CpState {
    let Some((text, cp)) = parsed else {
        return if missing {
            CpState::Missing
        } else {
            CpState::Malformed
        };
    };
    // Which keys, trusted or only carried, actually signed it: said in every failure.
    report.checkpoint_signed_by = note::signed_by(text, &cp.origin, known);
    match trust.check_checkpoint(text, cp, &cp.origin) {
        Ok(()) => CpState::Trusted(cp.clone()),
        Err(e) => {
            let others: Vec<&String> = report
                .checkpoint_signed_by
                .iter()
                .filter(|id| trust.book.get(id).is_none())
                .collect();
            let why = match (&e, others.as_slice()) {
                (crate::trust::CheckpointProblem::Signature { .. }, [_, ..]) => format!(
                    "signed by key {}, which is not {}",
                    others
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    describe_trust(trust)
                ),
                (crate::trust::CheckpointProblem::Signature { .. }, []) => format!(
                    "no valid signature by {}, nor by any key the bundle carries",
                    describe_trust(trust)
                ),
                (e, _) => e.to_string(),
            };
            report.problems.push(format!("{CHECKPOINT}: {why}"));
            CpState::Untrusted(cp.clone(), why)
        }
    }
}

pub fn verify_bundle(path: &Path, pinned: Option<&Anchor>) -> Result<BundleReport> {
    let file = File::open(path).map_err(|e| {
        let mut err = Error::io("open bundle", path, e);
        err.kind = Kind::Usage;
        err
    })?;
    let mut r = io::BufReader::with_capacity(1 << 18, file);
    // One strict parse of the zip; everything below reads through it.
    let zip = zipread::read_index(&mut r).map_err(|e| bad_bundle(path, e))?;
    let members = read_members(path, &mut r, &zip)?;
    let mut report = BundleReport::new(path, pinned.is_some());

    // Steps as numbered in FORMAT.md 13.8; 1, the zip, is done.
    // 2. The member list: exactly the members, each hash holding.
    let sums = check_member_list(path, &members, &mut report.problems)?;

    // 3. The index says which version this is.
    let index_bytes = members.get(INDEX);
    let format = index_bytes
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        .and_then(|v| v.get("format")?.as_str().map(String::from));
    let (version, verify_txt) = match format.as_deref() {
        Some(FORMAT) => (FORMAT, Some(VERIFY_TXT)),
        Some(FORMAT_V2) => (FORMAT_V2, Some(VERIFY_TXT_V2)),
        Some(FORMAT_V1) => (FORMAT_V1, None),
        _ => {
            report.problems.push(format!(
                "{INDEX}: missing, malformed, or of a format other than {FORMAT}, {FORMAT_V2} or {FORMAT_V1}"
            ));
            return Ok(report.finish());
        }
    };
    let v1 = version == FORMAT_V1;
    report.format = format;
    let index_bytes = index_bytes.unwrap_or_default();

    // 4, 5. Every member is one the format defines; the carried keys are what they say.
    let l = layout(&members, version, &mut report.problems);
    let (carried, found) = carried_keys(&l, &members, v1, &mut report.problems);
    // Instructions are not informational enough to be left to whoever sealed the bundle: from
    // version 2 on, VERIFY.txt is the published procedure of its version, byte for byte.
    if let Some(want) = verify_txt {
        if members
            .get("VERIFY.txt")
            .is_some_and(|t| t != want.as_bytes())
        {
            report.problems.push(format!(
                "VERIFY.txt: not the procedure of {version} (FORMAT.md section 13.11 or 13.12), byte for byte"
            ));
        }
    }

    // The trust root: the pinned keys, or else the carried ones (13.9), each with the key
    // records the bundle carries folded over it (a rotation the pinned key signed is followed).
    let cp_parsed = parse_checkpoint(members.get(CHECKPOINT), &mut report);
    let anchor = pinned.cloned().unwrap_or(Anchor::SelfConsistent);
    let source = BundleSource {
        members: &members,
        carried: &carried,
    };
    let size = cp_parsed.as_ref().map_or(0, |(_, cp)| cp.size);
    let trust = bundle_trust(&source, &anchor, size, &l, &mut report.problems)?;
    report.trusted_keys = trust.book.keys().map(|k| k.id.clone()).collect();
    let mut known: Vec<(String, PublicKey)> = trust
        .book
        .keys()
        .map(|k| (k.id.clone(), *k.key()))
        .collect();
    for (id, k) in &found {
        if !known.iter().any(|(i, _)| i == id) {
            known.push((id.clone(), *k));
        }
    }

    // 6. The seal.
    if let Some(sig) = members.get(SUMS_SIG) {
        report.sealed_by = check_seal(sums, sig, &known, &trust, size, &mut report.problems);
    }

    // 7. The checkpoint.
    let cp = check_checkpoint(
        cp_parsed.as_ref(),
        members.get(CHECKPOINT).is_none(),
        &trust,
        &known,
        &mut report,
    );

    // 8. Each record, in log order.
    let log = crate::verify::LogState {
        kind: trust.kind,
        checkpoint: cp.parsed().cloned(),
        text: None,
        problem: cp.log_failure(),
        notes: Vec::new(),
        trust: Ok(trust.clone()),
    };
    let all = BundleRecords {
        members: &members,
        layout: &l,
        known: &known,
    };
    let mut checked: Vec<(RecordReport, Option<(Manifest, String)>)> = l
        .records
        .keys()
        .map(|id| check_record(id, &all, &log))
        .collect::<Result<_>>()?;
    checked.sort_by_key(|(_, m)| m.as_ref().map_or(u64::MAX, |(m, _)| m.log_index));
    let all_parsed = checked.iter().all(|(_, m)| m.is_some());
    let expected: Vec<(Manifest, String)> = checked.iter().filter_map(|(_, m)| m.clone()).collect();
    report.records = checked.into_iter().map(|(r, _)| r).collect();

    // 5, end.
    check_keys_used(&mut report, &trust, &l.key_pems);

    // 9. Every value of the index agrees with the signed data it is derived from.
    check_index(
        index_bytes,
        version,
        cp.parsed(),
        &expected,
        all_parsed,
        &l,
        &mut report.problems,
    );
    Ok(report.finish())
}

/// Step 5, at the end: the carried keys are exactly the keys that signed something in the
/// bundle: none missing, none that only looks as if it had a part.
fn check_keys_used(report: &mut BundleReport, trust: &Trust, carried: &BTreeSet<String>) {
    let mut used: BTreeSet<String> = report
        .records
        .iter()
        .filter_map(|r| r.signer.clone())
        .collect();
    used.extend(report.sealed_by.clone());
    used.extend(trust.events.iter().map(|e| e.manifest.signer.clone()));
    used.extend(report.checkpoint_signed_by.iter().cloned());
    for id in used.difference(carried) {
        report.problems.push(format!(
            "keys/{id}.pem: missing, although key {id} signed in the bundle"
        ));
    }
    for id in carried.difference(&used) {
        report.problems.push(format!(
            "keys/{id}.pem: carried, but the key signed nothing in the bundle"
        ));
    }
}

/// Step 6: which key sealed the member list, and whether its seal counts (a key whose
/// checkpoints of the bundle's tree size count).
fn check_seal(
    sums: &[u8],
    sig: &[u8],
    known: &[(String, PublicKey)],
    trust: &Trust,
    size: u64,
    problems: &mut Vec<String>,
) -> Option<String> {
    let sealed_by = known
        .iter()
        .find(|(_, k)| keys::verify(k, sums, sig))
        .map(|(id, _)| id.clone());
    match &sealed_by {
        Some(id) if trust.book.checkpoint_keys(size).iter().any(|k| &k.id == id) => {}
        Some(id) => problems.push(format!(
            "{SUMS_SIG}: sealed by key {id}, which is not {}",
            describe_trust(trust)
        )),
        None => problems.push(format!(
            "{SUMS_SIG}: not a valid signature of the member list by {}, nor by any key \
             the bundle carries",
            describe_trust(trust)
        )),
    }
    sealed_by
}

/// The key book of a bundle: its key records folded over the anchor's keys. Key records that
/// cannot be relied on, or do not count, or are not listed, are problems; without them the book
/// holds the anchor's keys alone.
fn bundle_trust(
    source: &BundleSource,
    anchor: &Anchor,
    size: u64,
    l: &Layout,
    problems: &mut Vec<String>,
) -> Result<Trust> {
    let trust = match Trust::load(source, anchor, size) {
        Ok(t) => t,
        Err(e) => {
            problems.push(format!("the key records cannot be relied on: {}", e.what));
            let empty = BundleSource {
                members: &Members {
                    small: HashMap::new(),
                    hashes: BTreeMap::new(),
                },
                carried: source.carried,
            };
            Trust::load(&empty, anchor, 0)?
        }
    };
    for r in &trust.book.rejected {
        problems.push(format!(
            "keylog/{}: the key record at log index {} does not count: {}",
            r.record, r.index, r.problem
        ));
    }
    for id in l.key_records.keys() {
        if !trust.events.iter().any(|e| &e.manifest.record_id == id) {
            problems.push(format!("keylog/{id}/: not listed in {KEYLOG}"));
        }
    }
    Ok(trust)
}

/// Step 2 (FORMAT.md 13.8): SHA256SUMS lists exactly the members, each with its SHA-256.
/// Returns its bytes (what the seal signs).
fn check_member_list<'m>(
    path: &Path,
    members: &'m Members,
    problems: &mut Vec<String>,
) -> Result<&'m [u8]> {
    let sums = members
        .get(SUMS)
        .ok_or_else(|| bad_bundle(path, "SHA256SUMS is missing"))?;
    let sums_text =
        std::str::from_utf8(sums).map_err(|_| bad_bundle(path, "SHA256SUMS is not text"))?;
    let listed = parse_sums(sums_text, problems);
    for (name, h) in &listed {
        match members.hashes.get(name) {
            None => problems.push(format!(
                "{name}: listed in SHA256SUMS but missing from the bundle"
            )),
            Some((actual, _)) if actual != h => problems.push(format!(
                "{name}: altered (SHA-256 does not match SHA256SUMS)"
            )),
            _ => {}
        }
    }
    for name in members.hashes.keys() {
        if name != SUMS && name != SUMS_SIG && !listed.contains_key(name) {
            problems.push(format!("{name}: extra file not listed in SHA256SUMS"));
        }
    }
    Ok(sums)
}

/// SHA256SUMS lines: `<64 hex>  <name>`, each name safe and listed once.
fn parse_sums(text: &str, problems: &mut Vec<String>) -> BTreeMap<String, String> {
    let mut listed = BTreeMap::new();
    if !text.is_empty() && !text.ends_with('\n') {
        problems.push(format!("{SUMS}: the last line does not end with a newline"));
    }
    for line in text.lines() {
        let parsed = line
            .split_once("  ")
            .filter(|(h, name)| Sha256::parse(h).is_some() && zipread::safe_name(name));
        match parsed {
            None => problems.push(format!("{SUMS}: malformed line {line:?}")),
            Some((h, name)) => {
                if listed.insert(name.to_string(), h.to_string()).is_some() {
                    problems.push(format!("{SUMS}: lists {name} twice"));
                }
            }
        }
    }
    listed
}

/// A bundle as a record source: manifests, signatures and proofs from the record's members,
/// documents by the hashes of their members.
struct BundleRecords<'a> {
    members: &'a Members,
    layout: &'a Layout,
    known: &'a [(String, PublicKey)],
}

impl BundleRecords<'_> {
    fn record(&self, id: &str) -> Option<(Vec<u8>, Vec<u8>)> {
        let dir = format!("records/{id}");
        let get = |f: &str| {
            self.members
                .get(&format!("{dir}/{f}"))
                .unwrap_or_default()
                .to_vec()
        };
        Some((get("manifest.json"), get("manifest.sig")))
    }

    /// Name the key that did make a failed signature, when the bundle carries it.
    fn signature_hint(&self, m: &Manifest, bytes: &[u8], sig: &[u8]) -> Option<String> {
        self.known
            .iter()
            .find(|(_, k)| keys::verify(k, bytes, sig))
            .map(|(id, _)| id)
            .filter(|id| m.signer != **id)
            .map(|id| format!("it is a signature by key {id}"))
    }
}

/// One record of a bundle: its documents and proof are members of its own directory.
struct BundleRecord<'a> {
    all: &'a BundleRecords<'a>,
    id: &'a str,
}

impl crate::verify::record::RecordSource for BundleRecord<'_> {
    fn record(&self, id: &str) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        Ok(self.all.record(id))
    }

    fn carries_parts(&self) -> bool {
        self.all.layout.v3
    }

    fn document(
        &self,
        sha256: &str,
        _out: &mut dyn Write,
    ) -> Result<crate::verify::record::DocumentFound> {
        let dir = format!("records/{}", self.id);
        let rm = self.all.layout.records.get(self.id);
        let cited = self
            .all
            .record(self.id)
            .and_then(|(b, _)| Manifest::parse(&b).ok())
            .map(|m| m.document.sha256);
        if cited.is_some_and(|c| c != sha256) {
            // A part: carried as parts/<its SHA-256>, and its bytes must have that hash.
            let name = format!("{dir}/parts/{sha256}");
            return Ok(match self.all.members.hashes.get(&name) {
                Some((sha, size)) => Ok((sha.clone(), *size)),
                None => Err(format!("{name} is missing")),
            });
        }
        Ok(match rm.map(|r| r.documents.as_slice()) {
            Some([one]) => {
                let name = format!("{dir}/{one}");
                match self.all.members.hashes.get(&name) {
                    Some((sha, size)) => Ok((sha.clone(), *size)),
                    None => Err(format!("{name} is missing")),
                }
            }
            Some([]) | None => Err(format!("{dir}/ holds no document")),
            Some(_) => Err(format!(
                "{dir}/ holds several documents (looking for {sha256})"
            )),
        })
    }

    fn inclusion_proof(
        &self,
        m: &Manifest,
        bytes: &[u8],
        cp: &Checkpoint,
    ) -> std::result::Result<Vec<merkle::Hash>, String> {
        let proof_name = format!("records/{}/proof.json", self.id);
        let raw = self.all.members.get(&proof_name);
        let p: Proof = raw
            .and_then(|b| serde_json::from_slice(b).ok())
            .ok_or_else(|| format!("{proof_name}: missing or malformed"))?;
        let leaf = merkle::leaf_hash(bytes);
        let mut wrong = Vec::new();
        for (differs, field) in [
            (p.record_id != m.record_id, "record_id"),
            (p.leaf_index != m.log_index, "leaf_index"),
            (p.tree_size != cp.size, "tree_size"),
            (p.leaf_hash != hex::encode(leaf), "leaf_hash"),
            (p.root_hash != hex::encode(cp.root), "root_hash"),
        ] {
            if differs {
                wrong.push(field);
            }
        }
        if !wrong.is_empty() {
            return Err(format!(
                "{proof_name}: {} differ from the manifest and the checkpoint",
                wrong.join(", ")
            ));
        }
        if raw != Some(p.to_bytes().as_slice()) {
            return Err(format!(
                "{proof_name}: not in its one canonical form (section 13.4)"
            ));
        }
        p.audit_path
            .iter()
            .map(|h| {
                crate::core::b64::hex32(h).ok_or_else(|| {
                    format!(
                        "{proof_name}: the inclusion proof does not lead to the checkpoint's root"
                    )
                })
            })
            .collect()
    }

    fn signature_hint(&self, m: &Manifest, bytes: &[u8], sig: &[u8]) -> Option<String> {
        self.all.signature_hint(m, bytes, sig)
    }
}

fn check_record(
    id: &str,
    all: &BundleRecords,
    log: &crate::verify::LogState,
) -> Result<(RecordReport, Option<(Manifest, String)>)> {
    let source = BundleRecord { all, id };
    let report = crate::verify::record::check_record(&source, log, id, &mut io::sink())?
        .expect("a bundle record always has members to check");
    let dir = format!("records/{id}");
    let m = all
        .members
        .get(&format!("{dir}/manifest.json"))
        .and_then(|b| Manifest::parse(b).ok());
    let doc = match all.layout.records.get(id).map(|r| r.documents.as_slice()) {
        Some([one]) => Some(one.clone()),
        _ => None,
    };
    let mut report = report;
    // No part the record does not cite: a bundle carries nothing unexplained.
    if let (Some(m), Some(r)) = (&m, all.layout.records.get(id)) {
        let cited: BTreeSet<String> = m.parts().into_iter().map(|p| p.sha256).collect();
        for extra in r.parts.difference(&cited) {
            report.ok = false;
            report.checks.push(crate::verify::Check {
                check: crate::verify::CheckName::Parts,
                ok: false,
                detail: format!("{dir}/parts/{extra}: not a part this record cites"),
            });
        }
    }
    Ok((report, m.zip(doc)))
}

/// The index against what it is derived from: the checkpoint, the manifests, the members.
fn check_index(
    bytes: &[u8],
    version: &str,
    cp: Option<&Checkpoint>,
    expected: &[(Manifest, String)],
    all_parsed: bool,
    l: &Layout,
    problems: &mut Vec<String>,
) {
    let before = problems.len();
    let v1 = version == FORMAT_V1;
    let (origin, tree_size, root_hash, checkpoint, records, keys) = if v1 {
        match serde_json::from_slice::<IndexV1>(bytes) {
            Ok(i) => (
                i.origin,
                i.tree_size,
                i.root_hash,
                i.checkpoint,
                i.records,
                Some(i.keys),
            ),
            Err(e) => return problems.push(format!("{INDEX}: malformed: {e}")),
        }
    } else {
        match serde_json::from_slice::<Index>(bytes) {
            Ok(i) => (
                i.origin,
                i.tree_size,
                i.root_hash,
                i.checkpoint,
                i.records,
                None,
            ),
            Err(e) => return problems.push(format!("{INDEX}: malformed: {e}")),
        }
    };
    if let Some(cp) = cp {
        for (field, said, signed) in [
            ("origin", format!("{origin:?}"), format!("{:?}", cp.origin)),
            ("tree_size", tree_size.to_string(), cp.size.to_string()),
            (
                "root_hash",
                format!("{root_hash:?}"),
                format!("{:?}", hex::encode(cp.root)),
            ),
        ] {
            if said != signed {
                problems.push(format!(
                    "{INDEX}: {field} {said} differs from the checkpoint's {signed}"
                ));
            }
        }
    }
    if checkpoint != CHECKPOINT {
        problems.push(format!(
            "{INDEX}: checkpoint is {checkpoint:?}, not {CHECKPOINT:?}"
        ));
    }
    let mut by_id: HashMap<&str, &IndexRecord> = HashMap::new();
    for r in &records {
        if by_id.insert(r.record_id.as_str(), r).is_some() {
            problems.push(format!("{INDEX}: lists record {:?} twice", r.record_id));
        }
    }
    for r in &records {
        if !l.records.contains_key(&r.record_id) {
            problems.push(format!(
                "{INDEX}: lists record {:?}, which the bundle does not hold",
                r.record_id
            ));
        }
    }
    for (m, doc) in expected {
        let Some(said) = by_id.get(m.record_id.as_str()) else {
            problems.push(format!(
                "{INDEX}: does not list record {}, which the bundle holds",
                m.record_id
            ));
            continue;
        };
        let want = IndexRecord::of(m, doc);
        for (field, a, b) in [
            ("sha256", said.sha256.clone(), want.sha256.clone()),
            ("size", said.size.to_string(), want.size.to_string()),
            ("url", said.url.clone(), want.url.clone()),
            (
                "captured_at",
                said.captured_at.clone(),
                want.captured_at.clone(),
            ),
            ("document", said.document.clone(), want.document.clone()),
            ("manifest", said.manifest.clone(), want.manifest.clone()),
            ("signature", said.signature.clone(), want.signature.clone()),
            ("proof", said.proof.clone(), want.proof.clone()),
        ] {
            if a != b {
                problems.push(format!(
                    "{INDEX}: record {}: {field} {a:?} differs from {b:?}, what the signed \
                     manifest and the bundle say",
                    m.record_id
                ));
            }
        }
    }
    if let Some(keys) = keys {
        let mut ids = BTreeSet::new();
        for k in &keys {
            if !ids.insert(k.id.clone()) {
                problems.push(format!("{INDEX}: lists key {:?} twice", k.id));
            }
            if k.pem != format!("keys/{}.pem", k.id) || k.raw != format!("keys/{}.ed25519", k.id) {
                problems.push(format!(
                    "{INDEX}: key {:?}: member names are not its own",
                    k.id
                ));
            }
        }
        if ids != l.key_pems {
            problems.push(format!(
                "{INDEX}: its keys are not the keys the bundle carries"
            ));
        }
    } else if problems.len() == before && all_parsed {
        // Version 2 has one byte form: in log order, as serde_json writes it.
        if let Some(cp) = cp {
            let listed: Vec<(&Manifest, &str)> =
                expected.iter().map(|(m, d)| (m, d.as_str())).collect();
            if Index::of(cp, &listed, version).to_bytes() != bytes {
                problems.push(format!(
                    "{INDEX}: not in its one canonical form (records in log order, section 13.3)"
                ));
            }
        }
    }
}
