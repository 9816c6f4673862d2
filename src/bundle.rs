//! Evidence bundles: one zip file that carries everything needed to check some records on a
//! machine that has never seen the archive, ideally without exhibit.
//!
//! Members (all stored uncompressed, fixed timestamps and order, so the same records and
//! checkpoint always give byte-identical bundles):
//! ```text
//! SHA256SUMS            `sha256sum -c` list of every member below
//! SHA256SUMS.sig        raw Ed25519 signature over SHA256SUMS by the archive key
//! exhibit-bundle.json   machine-readable index
//! CITATION.txt VERIFY.txt verify.py
//! checkpoint.txt        the log's signed checkpoint (C2SP signed note)
//! keys/<id>.pem         public keys (SPKI PEM) and keys/<id>.ed25519 (the 32 raw bytes)
//! records/<ID>/manifest.json manifest.sig proof.json <readable name>.<ext>
//! ```
//! Reading a bundle never writes anything: members are hashed as they stream out of the zip,
//! with limits on names, counts and sizes, so hostile bundles (path traversal, bombs, duplicate
//! names, truncation) get a clear error.

use crate::archive::Archive;
use crate::cite::{Citation, Format};
use crate::error::{Error, IoContext, Kind, Result};
use crate::keys::{self, PublicKey, SecretKey};
use crate::log::merkle;
use crate::manifest::Manifest;
use crate::note::{self, Checkpoint};
use crate::record_id::RecordId;
use crate::store::DigestWriter;
use crate::verify::{Check, RecordReport, TrustRoot};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

pub const FORMAT: &str = "exhibit-bundle/1";
const MAX_ENTRIES: usize = 100_000;
/// Records per bundle: each is four members, plus the fixed ones, within MAX_ENTRIES.
const MAX_RECORDS: usize = 20_000;
/// Members other than documents are read into memory: manifests, proofs, the index, the
/// citation text. Their sizes grow with the number of records, hence a generous bound per
/// member and a total one.
const MAX_SMALL_MEMBER: u64 = 64 << 20;
const MAX_SMALL_TOTAL: u64 = 512 << 20;
const MAX_DOCUMENT: u64 = 16 << 30;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Index {
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

/// Export records into one bundle at `out` (written to a scratch file, then renamed: never
/// half-written). `key` signs the member list; it must be a key the archive trusts.
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
    let signer = key.verifying_key();
    let signer_id = keys::key_id(&signer);
    let trusted = archive.trusted_keys()?;
    if !trusted.iter().any(|k| k.id == signer_id) {
        return Err(Error::key(format!(
            "signing key {signer_id} is not trusted by this archive"
        ))
        .hint("export with the archive's key (--key), or trust this key with `exhibit init`"));
    }

    struct Item {
        manifest: Manifest,
        bytes: Vec<u8>,
        sig: Vec<u8>,
        proof: Proof,
        doc_name: String,
    }
    // A bundle vouches for what it carries: refuse records that do not verify here (bad
    // signature, key retired or compromised), and a signing key that may no longer sign.
    let archive_trust = crate::verify::TrustRoot::from_archive(archive)?;
    if let Some(status) = archive_trust
        .statuses
        .get(&signer_id)
        .and_then(|v| v.first())
    {
        return Err(crate::keystatus::not_usable(&signer_id, status));
    }
    let mut items: Vec<Item> = Vec::new();
    let mut key_ids = vec![signer_id.clone()];
    for id in &ids {
        let (bytes, sig) = archive
            .load_record(id)?
            .ok_or_else(|| crate::archive::no_such_record(id, archive.root()))?;
        let (_, verdict) = crate::verify::check_signed(&bytes, &sig, &archive_trust);
        if let Err(why) = verdict {
            return Err(Error::verification(format!(
                "record {id} does not verify in this archive ({why}); it is not exported"
            ))
            .hint("run `exhibit verify` on it; export only records that verify"));
        }
        let m = Manifest::parse(&bytes)?;
        if m.log_index >= cp.size {
            return Err(Error::verification(format!(
                "record {id} is not covered by the log's checkpoint"
            ))
            .hint("run `exhibit audit`"));
        }
        let path = archive.inclusion_proof(m.log_index, cp.size)?;
        let leaf = merkle::leaf_hash(&bytes);
        merkle::check_inclusion(&path, cp.size, &cp.root, m.log_index, &leaf).map_err(|e| {
            Error::verification(format!("record {id} is not proven in the log: {e}"))
                .hint("run `exhibit audit`")
        })?;
        if !key_ids.contains(&m.signer) {
            key_ids.push(m.signer.clone());
        }
        let proof = Proof {
            record_id: m.record_id.clone(),
            leaf_index: m.log_index,
            tree_size: cp.size,
            leaf_hash: hex::encode(leaf),
            audit_path: path.iter().map(hex::encode).collect(),
            root_hash: hex::encode(cp.root),
        };
        let doc_name = readable_name(&m);
        items.push(Item {
            manifest: m,
            bytes,
            sig,
            proof,
            doc_name,
        });
    }
    // Log order, whatever order the records were named in, so the same set of records always
    // gives the same bundle.
    items.sort_by_key(|it| it.manifest.log_index);
    // The checkpoint may be signed by any trusted key; include the ones that signed it.
    let mut checkpoint_signer: Option<String> = None;
    let note_keys: Vec<(String, PublicKey)> =
        trusted.iter().map(|k| (cp.origin.clone(), k.key)).collect();
    if let Ok(n) = note::verify_note(&cp_text, &note_keys) {
        for s in n.signatures {
            if let Some(k) = trusted
                .iter()
                .find(|k| note::key_hash(&cp.origin, &k.key) == s.key_hash)
            {
                checkpoint_signer.get_or_insert_with(|| k.id.clone());
                if !key_ids.contains(&k.id) {
                    key_ids.push(k.id.clone());
                }
            }
        }
    }
    key_ids.sort();

    let mut index = Index {
        format: FORMAT.into(),
        origin: cp.origin.clone(),
        tree_size: cp.size,
        root_hash: hex::encode(cp.root),
        checkpoint: "checkpoint.txt".into(),
        keys: Vec::new(),
        records: Vec::new(),
    };
    let mut key_files = Vec::new();
    for id in &key_ids {
        let k = trusted.iter().find(|k| &k.id == id).ok_or_else(|| {
            Error::key(format!(
                "the archive does not hold public key {id}, which signed an exported record"
            ))
            .hint("run `exhibit audit`")
        })?;
        let (pem, raw) = (format!("keys/{id}.pem"), format!("keys/{id}.ed25519"));
        index.keys.push(IndexKey {
            id: id.clone(),
            pem: pem.clone(),
            raw: raw.clone(),
        });
        key_files.push((pem, keys::public_pem(&k.key).into_bytes()));
        key_files.push((raw, k.key.as_bytes().to_vec()));
    }
    for it in &items {
        let dir = format!("records/{}", it.manifest.record_id);
        index.records.push(IndexRecord {
            record_id: it.manifest.record_id.clone(),
            sha256: it.manifest.document.sha256.clone(),
            size: it.manifest.document.size,
            url: it.manifest.requested_url.clone(),
            captured_at: it.manifest.captured_at.clone(),
            document: format!("{dir}/{}", it.doc_name),
            manifest: format!("{dir}/manifest.json"),
            signature: format!("{dir}/manifest.sig"),
            proof: format!("{dir}/proof.json"),
        });
    }
    let mut index_bytes = serde_json::to_vec_pretty(&index).expect("index serializes");
    index_bytes.push(b'\n');
    let citation: String = items
        .iter()
        .map(|it| Citation::new(&it.manifest).render(Format::Text))
        .collect::<Vec<_>>()
        .join("\n");
    let verify_txt = verify_text(
        &index,
        &signer_id,
        checkpoint_signer.as_deref().unwrap_or(&signer_id),
    );

    let out_dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".exhibit-bundle-")
        .tempfile_in(out_dir)
        .ctx("create a scratch file in", out_dir)?;
    let mut w = Writer {
        zip: zip::ZipWriter::new(io::BufWriter::new(tmp.reopen().ctx("open", tmp.path())?)),
    };
    // SHA256SUMS and its signature come first in the zip but are computed last, so the members
    // are written to the zip in a second pass over the same, fixed order.
    let mut plan: Vec<(String, Vec<u8>)> = vec![
        ("exhibit-bundle.json".into(), index_bytes),
        ("CITATION.txt".into(), citation.into_bytes()),
        ("VERIFY.txt".into(), verify_txt.into_bytes()),
        ("verify.py".into(), VERIFY_PY.as_bytes().to_vec()),
        ("checkpoint.txt".into(), cp_text.into_bytes()),
    ];
    plan.extend(key_files);
    let mut doc_sums = Vec::new();
    for it in &items {
        let dir = format!("records/{}", it.manifest.record_id);
        plan.push((format!("{dir}/manifest.json"), it.bytes.clone()));
        plan.push((format!("{dir}/manifest.sig"), it.sig.clone()));
        let mut proof = serde_json::to_vec_pretty(&it.proof).expect("proof serializes");
        proof.push(b'\n');
        plan.push((format!("{dir}/proof.json"), proof));
        doc_sums.push((
            format!("{dir}/{}", it.doc_name),
            it.manifest.document.sha256.clone(),
        ));
    }
    let mut sums: Vec<(String, String)> = plan
        .iter()
        .map(|(n, b)| (n.clone(), hex::encode(sha2::Sha256::digest(b))))
        .chain(doc_sums.iter().cloned())
        .collect();
    sums.sort();
    let sums_text: String = sums.iter().map(|(n, h)| format!("{h}  {n}\n")).collect();
    let sums_sig = keys::sign(key, sums_text.as_bytes());
    w.add("SHA256SUMS", sums_text.as_bytes())?;
    w.add("SHA256SUMS.sig", &sums_sig)?;
    for (name, bytes) in &plan {
        w.add(name, bytes)?;
    }
    for (it, (name, _)) in items.iter().zip(&doc_sums) {
        w.zip
            .start_file(
                name.as_str(),
                Writer::<io::BufWriter<File>>::options(it.manifest.document.size >= 1 << 32),
            )
            .map_err(|e| Error::archive(format!("cannot write bundle member {name}: {e}")))?;
        archive.read_document(&it.manifest.document.sha256, &mut w.zip)?;
    }
    let mut inner = w
        .zip
        .finish()
        .map_err(|e| Error::archive(format!("cannot finish the bundle: {e}")))?;
    inner.flush().ctx("write", tmp.path())?;
    inner.get_ref().sync_all().ctx("flush", tmp.path())?;
    drop(inner);
    tmp.persist(out)
        .map_err(|e| e.error)
        .ctx("move the bundle to", out)?;
    let (sha, bytes) = crate::verify::sha256_file(out)?;
    Ok(ExportSummary {
        path: out.display().to_string(),
        records: items.len(),
        bytes,
        sha256: sha,
    })
}

fn verify_text(index: &Index, sums_signer: &str, checkpoint_signer: &str) -> String {
    let mut s = String::new();
    s.push_str("How to verify this evidence bundle without exhibit\n");
    s.push_str("===================================================\n\n");
    s.push_str(&format!(
        "This bundle holds {} record(s) of the exhibit archive with log origin \"{}\".\n",
        index.records.len(),
        index.origin
    ));
    s.push_str("You need unzip, sha256sum, openssl (3.x) and, for step 4, python3 with the\n");
    s.push_str("`cryptography` package. Unzip the bundle into an empty directory and run each\n");
    s.push_str("line that starts with \"$ \" there, in order; every one must succeed (exit 0).\n");
    s.push_str("The format is described in exhibit's docs/FORMAT.md.\n\n");
    s.push_str(&format!(
        "Check the public key(s) against one you obtained independently (a filing, the\n\
         archive's website): key {sums_signer} is keys/{sums_signer}.pem. A key ID is the first 16 hex\n\
         digits of the SHA-256 of the 32 raw key bytes (keys/<id>.ed25519):\n\n"
    ));
    for k in &index.keys {
        s.push_str(&format!(
            "$ test \"$(sha256sum < {} | cut -c1-16)\" = {}\n",
            k.raw, k.id
        ));
    }
    s.push_str("\n1. Every file of the bundle is intact, and the list of files is signed:\n\n");
    s.push_str("$ sha256sum --strict -c SHA256SUMS\n");
    s.push_str(&format!(
        "$ openssl pkeyutl -verify -pubin -inkey keys/{sums_signer}.pem -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig\n"
    ));
    s.push_str(
        "\n2. Each record's manifest is signed, and names its document's SHA-256 and size:\n\n",
    );
    for r in &index.records {
        s.push_str(&format!("# {} ({})\n", r.record_id, r.url));
        s.push_str(&format!(
            "$ openssl pkeyutl -verify -pubin -inkey keys/$(grep -o '\"signer\":\"[0-9a-f]*\"' {} | cut -d'\"' -f4).pem -rawin -in {} -sigfile {}\n",
            r.manifest, r.manifest, r.signature
        ));
        s.push_str(&format!(
            "$ grep -q '\"document\":{{\"sha256\":\"{}\",\"size\":{}' {}\n",
            r.sha256, r.size, r.manifest
        ));
        s.push_str(&format!(
            "$ echo '{}  {}' | sha256sum --strict -c\n",
            r.sha256, r.document
        ));
    }
    s.push_str(
        "\n3. The log checkpoint is signed (its signed text is everything before the blank line;\n",
    );
    s.push_str(
        "   the signature is the last 64 bytes of the base64 on the line starting with \"—\"):\n\n",
    );
    s.push_str("$ sed '/^$/,$d' checkpoint.txt > checkpoint.body\n");
    s.push_str("$ grep '^— ' checkpoint.txt | tail -n 1 | cut -d' ' -f3 | base64 -d | tail -c 64 > checkpoint.sig\n");
    s.push_str(&format!(
        "$ openssl pkeyutl -verify -pubin -inkey keys/{checkpoint_signer}.pem -rawin -in checkpoint.body -sigfile checkpoint.sig\n"
    ));
    s.push_str("\n4. Each record is in the signed log (RFC 9162 inclusion proof against the checkpoint's\n");
    s.push_str(
        "   root hash); verify.py also repeats steps 1 to 3 with Python's cryptography:\n\n",
    );
    s.push_str("$ python3 verify.py\n");
    s
}

/// The bundle's own verifier: a few dozen lines of Python with `cryptography`, no exhibit.
pub const VERIFY_PY: &str = r#"# Verify an exhibit evidence bundle: python3 verify.py (in the unzipped bundle directory).
import base64, hashlib, json, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

def sha(b): return hashlib.sha256(b).digest()
def node(l, r): return sha(b"\x01" + l + r)
def read(p): return open(p, "rb").read()
idx = json.loads(read("exhibit-bundle.json"))
keys = {k["id"]: load_pem_public_key(read(k["pem"])) for k in idx["keys"]}
for kid, k in keys.items():
    assert sha(k.public_bytes_raw())[:8].hex() == kid, "key id " + kid
sums = read("SHA256SUMS")
assert any(k.verify(read("SHA256SUMS.sig"), sums) is None for k in keys.values()), "member list"
for line in sums.decode().splitlines():
    h, name = line.split("  ", 1)
    assert sha(read(name)).hex() == h, "altered file " + name
text, sigs = read("checkpoint.txt").decode().split("\n\n", 1)
text += "\n"
origin, size, root = text.splitlines()[0], int(text.splitlines()[1]), base64.b64decode(text.splitlines()[2])
line = [l for l in sigs.splitlines() if l.startswith("\u2014 ")][-1]
sig = base64.b64decode(line.split(" ")[2])
keys[[i for i, k in keys.items() if sha(origin.encode() + b"\n\x01" + k.public_bytes_raw())[:4] == sig[:4]][0]].verify(sig[4:], text.encode())
for r in idx["records"]:
    m, p = read(r["manifest"]), json.loads(read(r["proof"]))
    man = json.loads(m)
    keys[man["signer"]].verify(read(r["signature"]), m)
    doc = read(r["document"])
    assert sha(doc).hex() == man["document"]["sha256"] and len(doc) == man["document"]["size"], r["record_id"]
    fn, sn, h = man["log_index"], size - 1, sha(b"\x00" + m)
    for x in map(bytes.fromhex, p["audit_path"]):
        if fn & 1 or fn == sn:
            h = node(x, h)
            while fn & 1 == 0 and fn != 0: fn >>= 1; sn >>= 1
        else:
            h = node(h, x)
        fn >>= 1; sn >>= 1
    assert sn == 0 and h == root, "inclusion " + r["record_id"]
    print("OK", r["record_id"], man["document"]["sha256"], man["final_url"])
print("all", len(idx["records"]), "record(s) verified against checkpoint of", size, "records of", origin)
"#;

/// What `exhibit verify BUNDLE.zip` found.
#[derive(Debug, Clone, Serialize)]
pub struct BundleReport {
    pub ok: bool,
    pub bundle: String,
    /// "pinned": signatures are by a key given with --trusted-key; "self-consistent": by the key
    /// the bundle carries, which says nothing about who that is.
    pub trust: &'static str,
    pub origin: Option<String>,
    pub problems: Vec<String>,
    pub records: Vec<RecordReport>,
}

/// Bundle-level failures, before any record can be looked at: one clear line each.
fn bad_bundle(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::new(
        Kind::Verification,
        format!("{} is not a valid evidence bundle: {why}", path.display()),
    )
    .hint("ask the sender for the bundle again; nothing was written")
}

/// A member name we accept: relative, forward slashes, no `..`, no control characters.
pub(crate) fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('/')
        && !name.contains('\\')
        && !name.contains(':')
        && !name.chars().any(|c| c.is_control())
        && name
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

pub fn verify_bundle(path: &Path, pinned: Option<&TrustRoot>) -> Result<BundleReport> {
    let file = File::open(path).map_err(|e| {
        let mut err = Error::io("open bundle", path, e);
        err.kind = Kind::Usage;
        err
    })?;
    let mut zip = zip::ZipArchive::new(io::BufReader::new(file)).map_err(|e| {
        bad_bundle(
            path,
            format!("not a readable zip ({e}); it may be truncated"),
        )
    })?;
    // The zip reader indexes members by name, so a duplicated name would silently shadow the
    // other; the end record's own count tells.
    let declared = central_directory_entries(path).map_err(|e| bad_bundle(path, e))?;
    if declared != zip.len() as u64 {
        return Err(bad_bundle(
            path,
            format!(
                "{declared} members declared but {} distinct names: a member name appears twice",
                zip.len()
            ),
        ));
    }
    if zip.len() > MAX_ENTRIES {
        return Err(bad_bundle(
            path,
            format!("{} members, more than {MAX_ENTRIES}", zip.len()),
        ));
    }
    // Names first: reject anything unsafe or duplicated before reading any content.
    let mut names = Vec::with_capacity(zip.len());
    let mut seen = HashSet::new();
    for i in 0..zip.len() {
        let f = zip
            .by_index_raw(i)
            .map_err(|e| bad_bundle(path, format!("member {i}: {e}")))?;
        let name = f
            .name()
            .map_err(|e| bad_bundle(path, format!("member {i}: {e}")))?
            .to_string();
        let checked = if f.is_dir() {
            name.trim_end_matches('/')
        } else {
            name.as_str()
        };
        if !safe_name(checked) || f.enclosed_name().is_none() {
            return Err(bad_bundle(
                path,
                format!("unsafe member name {name:?} (absolute or leaving the bundle)"),
            ));
        }
        if !seen.insert(name.clone()) {
            return Err(bad_bundle(path, format!("member {name:?} appears twice")));
        }
        if f.is_dir() {
            continue;
        }
        names.push((i, name));
    }

    let mut small: HashMap<String, Vec<u8>> = HashMap::new();
    let mut small_total = 0u64;
    let mut hashes: BTreeMap<String, (String, u64)> = BTreeMap::new();
    for (i, name) in &names {
        let is_doc = name.starts_with("records/")
            && !name.ends_with("/manifest.json")
            && !name.ends_with("/manifest.sig")
            && !name.ends_with("/proof.json");
        let limit = if is_doc {
            MAX_DOCUMENT
        } else {
            MAX_SMALL_MEMBER
        };
        let mut f = zip
            .by_index(*i)
            .map_err(|e| bad_bundle(path, format!("{name}: {e}")))?;
        if f.size() > limit {
            return Err(bad_bundle(
                path,
                format!(
                    "{name} declares {} bytes, more than the limit of {limit}",
                    f.size()
                ),
            ));
        }
        let declared = f.size();
        let mut keep = Vec::new();
        let mut null = io::sink();
        let target: &mut dyn Write = if is_doc { &mut null } else { &mut keep };
        let mut sink = DigestWriter::new(target);
        // Read at most one byte past the declared size: a bomb that lies about its size stops
        // there, and a short or corrupt member (CRC) errors out.
        if let Err(e) = io::copy(&mut (&mut f).take(declared + 1), &mut sink) {
            return Err(bad_bundle(path, format!("{name}: {e}")));
        }
        if sink.count != declared {
            return Err(bad_bundle(
                path,
                format!(
                    "{name}: content size {} differs from the declared {declared}",
                    sink.count
                ),
            ));
        }
        let count = sink.count;
        let sha = hex::encode(sink.hasher.finalize());
        if !is_doc {
            small_total += count;
            if small_total > MAX_SMALL_TOTAL {
                return Err(bad_bundle(
                    path,
                    format!("its metadata members exceed {MAX_SMALL_TOTAL} bytes in all"),
                ));
            }
            small.insert(name.clone(), keep);
        }
        hashes.insert(name.clone(), (sha, count));
    }

    let mut problems = Vec::new();
    let get = |name: &str| small.get(name).map(|v| v.as_slice());
    // 1. The member list covers every member and each hash holds.
    let sums = get("SHA256SUMS").ok_or_else(|| bad_bundle(path, "SHA256SUMS is missing"))?;
    let sums_text =
        std::str::from_utf8(sums).map_err(|_| bad_bundle(path, "SHA256SUMS is not text"))?;
    let mut listed = HashSet::new();
    for line in sums_text.lines() {
        let Some((h, name)) = line.split_once("  ") else {
            problems.push(format!("SHA256SUMS: malformed line {line:?}"));
            continue;
        };
        listed.insert(name.to_string());
        match hashes.get(name) {
            None => problems.push(format!(
                "{name}: listed in SHA256SUMS but missing from the bundle"
            )),
            Some((actual, _)) if actual != h => problems.push(format!(
                "{name}: altered (SHA-256 does not match SHA256SUMS)"
            )),
            _ => {}
        }
    }
    for name in hashes.keys() {
        if name != "SHA256SUMS" && name != "SHA256SUMS.sig" && !listed.contains(name) {
            problems.push(format!("{name}: extra file not listed in SHA256SUMS"));
        }
    }

    // 2. Keys the bundle carries, and the trust root.
    let index: Option<Index> =
        get("exhibit-bundle.json").and_then(|b| serde_json::from_slice(b).ok());
    let Some(index) = index.filter(|i| i.format == FORMAT) else {
        problems.push(format!(
            "exhibit-bundle.json: missing, malformed, or not format {FORMAT}"
        ));
        return Ok(finish(path, pinned, None, problems, Vec::new()));
    };
    let mut carried = Vec::new();
    for k in &index.keys {
        let parsed = get(&k.pem)
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(|t| keys::parse_public_pem(t, Path::new(&k.pem)).ok());
        match parsed {
            Some(key)
                if keys::key_id(&key) == k.id && get(&k.raw) == Some(key.as_bytes().as_slice()) =>
            {
                carried.push(crate::archive::TrustedKey {
                    id: k.id.clone(),
                    key,
                    path: k.pem.clone().into(),
                })
            }
            _ => problems.push(format!(
                "{}: not the public key {} the index names",
                k.pem, k.id
            )),
        }
    }
    let trust = match pinned {
        Some(t) => t.clone(),
        None => TrustRoot {
            keys: carried.clone(),
            pinned: false,
            statuses: Default::default(),
        },
    };
    let sums_sig = get("SHA256SUMS.sig").unwrap_or_default();
    if !trust
        .keys
        .iter()
        .any(|k| keys::verify(&k.key, sums, sums_sig))
    {
        problems.push(format!(
            "SHA256SUMS.sig: not a valid signature of the member list by {}",
            if trust.pinned {
                "a pinned trusted key"
            } else {
                "a key in the bundle"
            }
        ));
    }

    // 3. The checkpoint.
    let cp_text = get(&index.checkpoint)
        .and_then(|b| std::str::from_utf8(b).ok())
        .unwrap_or("");
    let checkpoint = note::parse_note(cp_text).and_then(|n| Checkpoint::parse(&n.text));
    let cp = match checkpoint {
        Ok(cp) => {
            let keys: Vec<(String, PublicKey)> = trust
                .keys
                .iter()
                .map(|k| (cp.origin.clone(), k.key))
                .collect();
            let mut good = true;
            if let Err(e) = note::verify_note(cp_text, &keys) {
                problems.push(format!("checkpoint.txt: signature: {e}"));
                good = false;
            }
            if cp.origin != index.origin
                || cp.size != index.tree_size
                || hex::encode(cp.root) != index.root_hash
            {
                problems.push(
                    "exhibit-bundle.json: origin, tree size or root differ from the checkpoint"
                        .into(),
                );
            }
            // Proofs against an unsigned root prove nothing.
            good.then_some(cp)
        }
        Err(e) => {
            problems.push(format!("checkpoint.txt: {e}"));
            None
        }
    };

    // 4. Each record.
    let mut reports = Vec::new();
    for r in &index.records {
        reports.push(check_record(r, &small, &hashes, &trust, cp.as_ref()));
    }
    Ok(finish(
        path,
        pinned,
        Some(index.origin.clone()),
        problems,
        reports,
    ))
}

fn finish(
    path: &Path,
    pinned: Option<&TrustRoot>,
    origin: Option<String>,
    problems: Vec<String>,
    records: Vec<RecordReport>,
) -> BundleReport {
    BundleReport {
        ok: problems.is_empty() && !records.is_empty() && records.iter().all(|r| r.ok),
        bundle: path.display().to_string(),
        trust: if pinned.is_some() {
            "pinned"
        } else {
            "self-consistent"
        },
        origin,
        problems,
        records,
    }
}

fn check_record(
    r: &IndexRecord,
    small: &HashMap<String, Vec<u8>>,
    hashes: &BTreeMap<String, (String, u64)>,
    trust: &TrustRoot,
    cp: Option<&Checkpoint>,
) -> RecordReport {
    let mut report = RecordReport {
        record_id: r.record_id.clone(),
        ok: false,
        sha256: Some(r.sha256.clone()),
        url: Some(r.url.clone()),
        captured_at: Some(r.captured_at.clone()),
        signer: None,
        trust: if trust.pinned {
            "pinned"
        } else {
            "self-consistent"
        },
        checks: Vec::new(),
    };
    let mut push = |check: &'static str, ok: bool, detail: String| {
        report.checks.push(Check { check, ok, detail })
    };
    let bytes = small.get(&r.manifest).cloned().unwrap_or_default();
    let sig = small.get(&r.signature).cloned().unwrap_or_default();
    let (manifest, verdict) = crate::verify::check_signed(&bytes, &sig, trust);
    match &verdict {
        Ok(()) => push("signature", true, "valid Ed25519 signature".into()),
        Err(why) => push("signature", false, why.clone()),
    }
    let Some(m) = manifest else {
        return report;
    };
    let names_itself =
        m.record_id == r.record_id && m.document.sha256 == r.sha256 && m.document.size == r.size;
    push(
        "record_id",
        names_itself,
        if names_itself {
            "index and manifest agree".into()
        } else {
            "the index disagrees with the manifest".into()
        },
    );
    match hashes.get(&r.document) {
        Some((sha, size)) if *sha == m.document.sha256 && *size == m.document.size => push(
            "document",
            true,
            format!("{} has SHA-256 {sha} and {size} bytes as cited", r.document),
        ),
        Some((sha, size)) => push(
            "document",
            false,
            format!(
                "{} has SHA-256 {sha} and {size} bytes, the manifest says {} and {}",
                r.document, m.document.sha256, m.document.size
            ),
        ),
        None => push("document", false, format!("{} is missing", r.document)),
    }
    let proof: Option<Proof> = small
        .get(&r.proof)
        .and_then(|b| serde_json::from_slice(b).ok());
    let (ok, detail) = match (proof, cp) {
        (Some(p), Some(cp)) => {
            let path: Option<Vec<merkle::Hash>> = p
                .audit_path
                .iter()
                .map(|h| {
                    hex::decode(h)
                        .ok()
                        .and_then(|v| <[u8; 32]>::try_from(v).ok())
                })
                .collect();
            let leaf = merkle::leaf_hash(&bytes);
            match path {
                Some(path)
                    if p.leaf_index == m.log_index
                        && p.tree_size == cp.size
                        && merkle::check_inclusion(
                            &path,
                            cp.size,
                            &cp.root,
                            m.log_index,
                            &leaf,
                        )
                        .is_ok() =>
                {
                    (
                        true,
                        format!(
                            "leaf {} of {}, inclusion proof verified against the signed checkpoint",
                            m.log_index, cp.size
                        ),
                    )
                }
                _ => (
                    false,
                    format!(
                        "{}: the inclusion proof does not verify against the checkpoint",
                        r.proof
                    ),
                ),
            }
        }
        (None, _) => (false, format!("{}: missing or malformed", r.proof)),
        (_, None) => (false, "no valid checkpoint in the bundle".into()),
    };
    push("log", ok, detail);
    report.signer = Some(m.signer.clone());
    report.captured_at = Some(m.captured_at.clone());
    report.url = Some(m.final_url.clone());
    report.ok = report.checks.iter().all(|c| c.ok);
    report
}

/// The number of central-directory entries the zip's end record declares (zip64 aware).
pub(crate) fn central_directory_entries(path: &Path) -> std::result::Result<u64, String> {
    use std::io::{Seek, SeekFrom};
    let mut f = File::open(path).map_err(|e| e.to_string())?;
    let len = f.metadata().map_err(|e| e.to_string())?.len();
    let tail_len = len.min(22 + 65_535 + 20);
    let mut tail = vec![0u8; tail_len as usize];
    f.seek(SeekFrom::Start(len - tail_len))
        .map_err(|e| e.to_string())?;
    f.read_exact(&mut tail).map_err(|e| e.to_string())?;
    let eocd = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| tail[i..i + 4] == *b"PK\x05\x06")
        .ok_or("no end of central directory record; the file may be truncated")?;
    let total = u16::from_le_bytes([tail[eocd + 10], tail[eocd + 11]]) as u64;
    if total != 0xFFFF {
        return Ok(total);
    }
    // Zip64: the locator just before the end record gives the zip64 end record's offset.
    let loc = eocd
        .checked_sub(20)
        .filter(|&l| tail[l..l + 4] == *b"PK\x06\x07")
        .ok_or("bad zip64 locator")?;
    let off = u64::from_le_bytes(tail[loc + 8..loc + 16].try_into().expect("8 bytes"));
    let mut rec = [0u8; 40];
    f.seek(SeekFrom::Start(off)).map_err(|e| e.to_string())?;
    f.read_exact(&mut rec).map_err(|e| e.to_string())?;
    if rec[..4] != *b"PK\x06\x06" {
        return Err("bad zip64 end record".into());
    }
    Ok(u64::from_le_bytes(rec[32..40].try_into().expect("8 bytes")))
}
