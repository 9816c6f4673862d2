//! WACZ 1.1.1 packages (Webrecorder's "Web Archive Collection Zipped"): a zip whose members
//! are all stored, never deflated, so a replay tool can read any record by range:
//!
//! ```text
//! archive/data.warc.gz          the WARC (one gzip member per record)
//! indexes/index.cdx             CDXJ index of it, sorted by SURT key
//! pages/pages.jsonl             one line per page: url, ts, title
//! exhibit/checkpoint.txt        exhibit's provenance, in a folder of its own: the log
//! exhibit/<key id>.pem          checkpoint, the public keys, and per record its manifest,
//! exhibit/<ID>.manifest.json    signature and inclusion proof (also inside the WARC as
//! exhibit/<ID>.manifest.sig     metadata records)
//! exhibit/<ID>.proof.json
//! datapackage.json              every member above with its sha256 and size
//! datapackage-digest.json       the sha256 of datapackage.json
//! ```
//!
//! WACZ's own signature (`signedData`, authsign) takes ECDSA keys with a domain certificate;
//! exhibit's Ed25519 signatures travel as the listed files above instead.

use super::export::{Capture, Provenance, Written, WACZ_WARC};
use crate::error::{Error, IoContext, Kind, Result};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

pub const WACZ_VERSION: &str = "1.1.1";
/// Members other than WARCs are read into memory, up to this size each.
const MAX_SMALL: u64 = 64 << 20;
const MAX_MEMBERS: usize = 100_000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Resource {
    pub name: String,
    pub path: String,
    pub hash: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DataPackage {
    pub profile: String,
    pub resources: Vec<Resource>,
    pub wacz_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(
        rename = "mainPageUrl",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub main_page_url: Option<String>,
    #[serde(
        rename = "mainPageDate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub main_page_date: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DigestFile {
    pub path: String,
    pub hash: String,
}

fn sha(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)))
}

/// The page list: a header line, then one line per record whose document has an http(s) URL.
pub fn pages(captures: &[Capture]) -> Vec<u8> {
    let mut out =
        b"{\"format\":\"json-pages-1.0\",\"id\":\"pages\",\"title\":\"All Pages\"}\n".to_vec();
    for c in captures {
        // The page is the record's final URL when an exchange or resource carries it (a browser
        // capture has many exchanges; the page is the top-level document), else the last
        // document-bearing exchange, else the first resource.
        let final_url = &c.manifest.final_url;
        let url = c
            .exchanges
            .iter()
            .map(|x| &x.target_uri)
            .chain(c.resources.iter().map(|r| &r.target_uri))
            .find(|u| *u == final_url)
            .cloned()
            .or_else(|| {
                c.exchanges
                    .iter()
                    .rev()
                    .find(|x| matches!(x.body, super::export::Body::Document { .. }))
                    .map(|x| x.target_uri.clone())
            })
            .or_else(|| c.resources.first().map(|r| r.target_uri.clone()));
        let Some(url) = url.filter(|u| u.starts_with("http://") || u.starts_with("https://"))
        else {
            continue;
        };
        let line = serde_json::json!({
            "id": c.manifest.record_id,
            "url": url,
            "ts": c.manifest.captured_at,
            "title": c.manifest.display_title(),
        });
        out.extend_from_slice(serde_json::to_string(&line).expect("json").as_bytes());
        out.push(b'\n');
    }
    out
}

/// The files of the `exhibit/` folder, in order.
pub fn exhibit_files(p: &Provenance, captures: &[Capture]) -> Vec<(String, Vec<u8>)> {
    let mut v = vec![(
        "exhibit/checkpoint.txt".to_string(),
        p.checkpoint_text.clone().into_bytes(),
    )];
    for (id, pem) in &p.keys {
        v.push((format!("exhibit/{id}.pem"), pem.clone().into_bytes()));
    }
    if !p.keylog.is_empty() {
        v.push(("exhibit/keylog.txt".into(), p.keylog.clone().into_bytes()));
    }
    for (id, r) in &p.key_records {
        v.push((
            format!("exhibit/keylog-{id}.manifest.json"),
            r.manifest.clone(),
        ));
        v.push((
            format!("exhibit/keylog-{id}.manifest.sig"),
            r.signature.clone(),
        ));
        v.push((
            format!("exhibit/keylog-{id}.statement.json"),
            r.document.clone(),
        ));
    }
    for c in captures {
        let id = &c.manifest.record_id;
        v.push((
            format!("exhibit/{id}.manifest.json"),
            c.manifest_bytes.clone(),
        ));
        v.push((format!("exhibit/{id}.manifest.sig"), c.signature.clone()));
        v.push((format!("exhibit/{id}.proof.json"), c.proof.clone()));
    }
    v
}

/// A datapackage resource name: lower-case, from the path (frictionless requires
/// `^[a-z0-9._-]+$`-like names; WACZ tools use the file name).
fn resource_name(path: &str) -> String {
    let base = match path.strip_prefix("exhibit/") {
        Some(rest) => format!("exhibit-{}", rest.replace('/', "-")),
        None => path.rsplit('/').next().unwrap_or(path).to_string(),
    };
    base.to_ascii_lowercase()
}

fn options(large: bool) -> zip::write::SimpleFileOptions {
    zip::write::SimpleFileOptions::DEFAULT
        .compression_method(zip::CompressionMethod::Stored)
        .last_modified_time(zip::DateTime::DEFAULT)
        .unix_permissions(0o644)
        .large_file(large)
}

/// The members of a WACZ other than its WARC, in order, then `datapackage.json` and
/// `datapackage-digest.json`.
pub type SmallMembers = (Vec<(String, Vec<u8>)>, Vec<u8>, Vec<u8>);

/// Everything but the WARC, given the written WARC's index entries: the small members in
/// order, and the datapackage files.
pub fn small_members(p: &Provenance, captures: &[Capture], written: &Written) -> SmallMembers {
    let index = super::cdxj::sorted(written.entries.iter().map(|e| e.line()).collect());
    let mut small = vec![
        ("indexes/index.cdx".to_string(), index.into_bytes()),
        ("pages/pages.jsonl".to_string(), pages(captures)),
    ];
    small.extend(exhibit_files(p, captures));
    let mut resources = vec![Resource {
        name: WACZ_WARC.into(),
        path: format!("archive/{WACZ_WARC}"),
        hash: format!("sha256:{}", written.sha256),
        bytes: written.bytes,
    }];
    for (path, bytes) in &small {
        resources.push(Resource {
            name: resource_name(path),
            path: path.clone(),
            hash: sha(bytes),
            bytes: bytes.len() as u64,
        });
    }
    let main = captures.first();
    let created = super::export::export_date(captures);
    let dp = DataPackage {
        profile: "data-package".into(),
        resources,
        wacz_version: WACZ_VERSION.into(),
        software: Some(p.software.clone()),
        created: Some(created),
        title: Some(format!(
            "exhibit records from {} ({} record(s))",
            p.origin,
            captures.len()
        )),
        main_page_url: main.map(|c| c.manifest.final_url.clone()),
        main_page_date: main.map(|c| c.manifest.captured_at.clone()),
    };
    let mut dp_bytes = serde_json::to_vec_pretty(&dp).expect("datapackage serializes");
    dp_bytes.push(b'\n');
    let digest = DigestFile {
        path: "datapackage.json".into(),
        hash: sha(&dp_bytes),
    };
    let mut digest_bytes = serde_json::to_vec_pretty(&digest).expect("digest serializes");
    digest_bytes.push(b'\n');
    (small, dp_bytes, digest_bytes)
}

/// Write the WACZ into `out`.
pub fn write(
    p: &Provenance,
    captures: &[Capture],
    warc: &Path,
    written: &Written,
    out: File,
) -> Result<()> {
    let err = |e: zip::result::ZipError| Error::archive(format!("cannot write the WACZ: {e}"));
    let ioerr = |e: io::Error| Error::archive(format!("cannot write the WACZ: {e}"));
    let (small, dp, digest) = small_members(p, captures, written);
    let mut zip = zip::ZipWriter::new(io::BufWriter::with_capacity(256 * 1024, out));
    zip.start_file(
        format!("archive/{WACZ_WARC}"),
        options(written.bytes >= 1 << 32),
    )
    .map_err(err)?;
    let mut f = File::open(warc).ctx("open", warc)?;
    io::copy(&mut f, &mut zip).map_err(ioerr)?;
    for (name, bytes) in small.iter().chain(
        [
            ("datapackage.json".to_string(), dp),
            ("datapackage-digest.json".to_string(), digest),
        ]
        .iter(),
    ) {
        zip.start_file(name.as_str(), options(false)).map_err(err)?;
        zip.write_all(bytes).map_err(ioerr)?;
    }
    let mut inner = zip.finish().map_err(err)?;
    inner.flush().map_err(ioerr)?;
    let file = inner.into_inner().map_err(|e| ioerr(e.into_error()))?;
    file.sync_all().map_err(ioerr)?;
    Ok(())
}

/// A WACZ opened for reading: its member list checked for safety, its datapackage parsed.
pub struct Opened {
    pub zip: zip::ZipArchive<io::BufReader<File>>,
    pub datapackage: DataPackage,
    pub datapackage_bytes: Vec<u8>,
    /// (index, name, stored?) of every file member.
    pub members: Vec<(usize, String, bool)>,
    pub problems: Vec<String>,
}

fn bad(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::new(
        Kind::Verification,
        format!("{} is not a valid WACZ: {why}", path.display()),
    )
    .hint("ask for the file again; nothing was stored")
}

/// Open a WACZ and check its structure: safe, unique member names; `datapackage.json` present
/// and parseable, `wacz_version` 1.1.1 (1.1.0 and 1.0.0 read too); `datapackage-digest.json`,
/// when present, names its hash. Member hashes are checked as members are read
/// ([`check_member`]).
pub fn open(path: &Path) -> Result<Opened> {
    let file = File::open(path).map_err(|e| {
        let mut err = Error::io("open", path, e);
        err.kind = Kind::Usage;
        err
    })?;
    let mut zip = zip::ZipArchive::new(io::BufReader::new(file)).map_err(|e| {
        bad(
            path,
            format!("not a readable zip ({e}); it may be truncated"),
        )
    })?;
    let declared =
        crate::formats::zipread::central_directory_entries(path).map_err(|e| bad(path, e))?;
    if declared != zip.len() as u64 {
        return Err(bad(path, "a member name appears twice"));
    }
    if zip.len() > MAX_MEMBERS {
        return Err(bad(path, format!("more than {MAX_MEMBERS} members")));
    }
    let mut members = Vec::new();
    let mut seen = HashSet::new();
    for i in 0..zip.len() {
        let f = zip
            .by_index_raw(i)
            .map_err(|e| bad(path, format!("member {i}: {e}")))?;
        let name = f
            .name()
            .map_err(|e| bad(path, format!("member {i}: {e}")))?
            .to_string();
        let checked = if f.is_dir() {
            name.trim_end_matches('/')
        } else {
            name.as_str()
        };
        if !crate::formats::zipread::safe_name(checked) || f.enclosed_name().is_none() {
            return Err(bad(path, format!("unsafe member name {name:?}")));
        }
        if !seen.insert(name.clone()) {
            return Err(bad(path, format!("member {name:?} appears twice")));
        }
        if !f.is_dir() {
            members.push((i, name, f.compression() == zip::CompressionMethod::Stored));
        }
    }
    let read_small =
        |zip: &mut zip::ZipArchive<io::BufReader<File>>, name: &str| -> Result<Option<Vec<u8>>> {
            let Ok(mut f) = zip.by_name(name) else {
                return Ok(None);
            };
            if f.size() > MAX_SMALL {
                return Err(bad(
                    path,
                    format!("{name} is larger than {MAX_SMALL} bytes"),
                ));
            }
            let mut v = Vec::new();
            (&mut f)
                .take(MAX_SMALL + 1)
                .read_to_end(&mut v)
                .map_err(|e| bad(path, format!("{name}: {e}")))?;
            Ok(Some(v))
        };
    let dp_bytes = read_small(&mut zip, "datapackage.json")?
        .ok_or_else(|| bad(path, "datapackage.json is missing"))?;
    let datapackage: DataPackage = serde_json::from_slice(&dp_bytes)
        .map_err(|e| bad(path, format!("datapackage.json: {e}")))?;
    if !["1.1.1", "1.1.0", "1.0.0"].contains(&datapackage.wacz_version.as_str()) {
        return Err(bad(
            path,
            format!(
                "wacz_version {:?} is not one this exhibit reads",
                datapackage.wacz_version
            ),
        ));
    }
    let mut problems = Vec::new();
    if let Some(d) = read_small(&mut zip, "datapackage-digest.json")? {
        let d: Option<DigestFile> = serde_json::from_slice(&d).ok();
        if d.is_none_or(|d| d.path != "datapackage.json" || d.hash != sha(&dp_bytes)) {
            problems.push(
                "datapackage-digest.json does not hold the hash of datapackage.json".to_string(),
            );
        }
    }
    let names: HashSet<&str> = members.iter().map(|(_, n, _)| n.as_str()).collect();
    let mut listed = HashSet::new();
    for r in &datapackage.resources {
        if !names.contains(r.path.as_str()) {
            problems.push(format!(
                "{}: listed in datapackage.json but missing",
                r.path
            ));
        }
        if !listed.insert(r.path.as_str()) {
            problems.push(format!("{}: listed twice in datapackage.json", r.path));
        }
    }
    for (_, n, _) in &members {
        if n != "datapackage.json" && n != "datapackage-digest.json" && !listed.contains(n.as_str())
        {
            problems.push(format!("{n}: a member datapackage.json does not list"));
        }
    }
    Ok(Opened {
        zip,
        datapackage,
        datapackage_bytes: dp_bytes,
        members,
        problems,
    })
}

/// Reads a member while hashing it.
pub struct Hashing<R: Read> {
    pub inner: R,
    pub hasher: sha2::Sha256,
    pub count: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

impl Opened {
    pub fn resource(&self, path: &str) -> Option<&Resource> {
        self.datapackage.resources.iter().find(|r| r.path == path)
    }

    /// Whether a hash and size match the datapackage's listing of `path`.
    pub fn listed_as(&self, path: &str, sha256_hex: &str, bytes: u64) -> bool {
        self.resource(path).is_some_and(|r| {
            r.hash.eq_ignore_ascii_case(&format!("sha256:{sha256_hex}")) && r.bytes == bytes
        })
    }

    /// Read a small member whole, checked against the datapackage.
    pub fn read_small(&mut self, path: &str) -> Result<Option<Vec<u8>>, String> {
        let Ok(f) = self.zip.by_name(path) else {
            return Ok(None);
        };
        if f.size() > MAX_SMALL {
            return Err(format!("{path} is larger than {MAX_SMALL} bytes"));
        }
        let mut v = Vec::new();
        f.take(MAX_SMALL + 1)
            .read_to_end(&mut v)
            .map_err(|e| format!("{path}: {e}"))?;
        let h = hex::encode(sha2::Sha256::digest(&v));
        if !self.listed_as(path, &h, v.len() as u64) {
            return Err(format!(
                "{path}: its SHA-256 or size is not the one datapackage.json lists"
            ));
        }
        Ok(Some(v))
    }

    /// Hash every member other than `skip` and compare with the datapackage.
    pub fn check_members(&mut self, skip: &HashSet<String>) -> Vec<String> {
        let mut problems = Vec::new();
        let members = self.members.clone();
        for (i, name, _) in members {
            if skip.contains(&name)
                || name == "datapackage.json"
                || name == "datapackage-digest.json"
            {
                continue;
            }
            let hashed = match self.zip.by_index(i) {
                Err(e) => Err(e.to_string()),
                Ok(f) => {
                    let mut h = Hashing {
                        inner: f,
                        hasher: sha2::Sha256::new(),
                        count: 0,
                    };
                    match io::copy(&mut h, &mut io::sink()) {
                        Err(e) => Err(e.to_string()),
                        Ok(_) => Ok((hex::encode(h.hasher.clone().finalize()), h.count)),
                    }
                }
            };
            let (hex, count) = match hashed {
                Ok(x) => x,
                Err(e) => {
                    problems.push(format!("{name}: {e}"));
                    continue;
                }
            };
            if !self.listed_as(&name, &hex, count) {
                problems.push(format!(
                    "{name}: its SHA-256 or size is not the one datapackage.json lists"
                ));
            }
        }
        problems
    }
}

/// Check a WACZ that `exhibit export --format wacz` wrote: the package (member hashes, every
/// member stored), its WARC as [`super::export::verify_warc`] checks it, and that the index,
/// the page list and the `exhibit/` folder are exactly what exhibit writes for that WARC.
pub fn verify(
    path: &Path,
    pinned: Option<&crate::trust::Anchor>,
) -> Result<crate::bundle::BundleReport> {
    let mut o = open(path)?;
    let mut problems = std::mem::take(&mut o.problems);
    for (_, name, stored) in &o.members {
        if !stored {
            problems.push(format!(
                "{name} is compressed in the zip; WACZ members are stored"
            ));
        }
    }
    let warc_path = format!("archive/{WACZ_WARC}");
    let (v, hex, count) = {
        let f = o
            .zip
            .by_name(&warc_path)
            .map_err(|_| bad(path, format!("{warc_path} is missing")))?;
        let mut h = Hashing {
            inner: f,
            hasher: sha2::Sha256::new(),
            count: 0,
        };
        let v = super::export::verify_warc_parts(
            &mut h,
            &format!("{}:{warc_path}", path.display()),
            pinned,
        )?;
        io::copy(&mut h, &mut io::sink()).map_err(|e| bad(path, e))?;
        (v, hex::encode(h.hasher.clone().finalize()), h.count)
    };
    if !o.listed_as(&warc_path, &hex, count) {
        problems.push(format!(
            "{warc_path}: its SHA-256 or size is not the one datapackage.json lists"
        ));
    }
    let mut report = v.report;
    let written = Written {
        entries: v.entries,
        bytes: count,
        sha256: hex,
    };
    let (small, dp, digest) = small_members(&v.provenance, &v.captures, &written);
    if dp != o.datapackage_bytes {
        problems.push("datapackage.json is not what exhibit writes for this WARC".into());
    }
    let mut skip: HashSet<String> = HashSet::new();
    skip.insert(warc_path.clone());
    let mut expected = small;
    expected.push(("datapackage-digest.json".into(), digest));
    for (name, want) in &expected[..expected.len() - 1] {
        skip.insert(name.clone());
        match o.read_small(name) {
            Ok(Some(got)) if &got == want => {}
            Ok(Some(_)) => {
                problems.push(format!("{name} is not what exhibit writes for this WARC"))
            }
            Ok(None) => problems.push(format!("{name} is missing")),
            Err(e) => problems.push(e),
        }
    }
    // datapackage-digest.json is not itself listed: compare it directly.
    if let Some(i) = o
        .members
        .iter()
        .find(|m| m.1 == "datapackage-digest.json")
        .map(|m| m.0)
    {
        let mut got = Vec::new();
        if let Ok(f) = o.zip.by_index(i) {
            let _ = f.take(MAX_SMALL).read_to_end(&mut got);
        }
        if got != expected.last().expect("pushed").1 {
            problems.push("datapackage-digest.json is not what exhibit writes".into());
        }
    }
    problems.extend(o.check_members(&skip));
    for (_, name, _) in &o.members {
        if !skip.contains(name) && name != "datapackage.json" && name != "datapackage-digest.json" {
            problems.push(format!("{name}: a member exhibit does not write"));
        }
    }
    report.bundle = path.display().to_string();
    report.ok = report.ok && problems.is_empty();
    report.problems.extend(problems);
    Ok(report)
}
