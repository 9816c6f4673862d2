use super::{esc, Global};
use anyhow::Result;
use exhibit::trust::Anchor;
use exhibit::verify::{self, LogState};
use std::path::PathBuf;

/// Re-check records: document present with the cited SHA-256, trusted signature, in the signed log
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit verify EX-7K2M-9QDR-T4VW\n  exhibit verify exhibit-A.zip --trusted-key archive.pub     # an evidence bundle, no archive needed\n  exhibit verify --file downloaded.html 0be9e4add991830b     # is this file the cited one?\n  exhibit verify 0be9e4add991830b              # a hash prefix copied from a filing\n  exhibit verify --citation cited.txt          # a citation as pasted: its ID, hash, URL, time together\n  echo 'EX-7K2M-9QDR-T4VW sha256:0be9e4…' | exhibit verify --citation -\n  exhibit verify EX-7K2M-9QDR-T4VW --trusted-key archive.pub --json\n\nExit 0 only if every target verifies; otherwise the code of the first target that did not. A bundle that passes every check without --trusted-key is only self-consistent (anyone can make one with a key of their own): exit 9, never \"verified\"."
)]
pub struct Args {
    /// Record IDs, SHA-256 hashes, unique hash prefixes (8+ hex digits), or evidence bundles (.zip)
    #[arg(required_unless_present = "citation")]
    targets: Vec<String>,
    /// Check a citation as a whole (a file, or - for standard input): the one record it names
    /// must verify, it must state that record's SHA-256 (whole or 8+ digits), and every hash,
    /// URL, time and date it states must be that record's
    #[arg(long, value_name = "FILE", conflicts_with_all = ["file", "targets"])]
    citation: Option<PathBuf>,
    /// Check whether this file is the cited document: give the file here and the cited SHA-256
    /// (or prefix) as the target
    #[arg(long, value_name = "PATH")]
    file: Option<PathBuf>,
    /// Trust only this public key (PEM); repeatable. Default: the archive's keys/, or for a
    /// bundle the keys it carries (self-consistent only, exit 9)
    #[arg(long, value_name = "FILE")]
    trusted_key: Vec<PathBuf>,
    /// One JSON object with every record's checks (or every bundle's report)
    #[arg(long)]
    json: bool,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    if let Some(citation) = &a.citation {
        return verify_citation(g, citation, &a);
    }
    if let Some(file) = &a.file {
        return verify_file(g, file, &a);
    }
    if a.targets.iter().all(|t| is_package(t)) {
        // A bundle named by a URL with credentials would be echoed in its "cannot open" line.
        for t in &a.targets {
            exhibit::capture::refuse_userinfo(t)?;
        }
        return verify_bundles(&a);
    }
    let archive = g.open()?;
    let anchor = Anchor::from_flags(&a.trusted_key)?;
    let log = LogState::load(&archive, &anchor);
    for n in &log.notes {
        eprintln!("note: {}", super::esc(n));
    }
    if a.json {
        let (code, v) = verify::verify_json(&archive, &log, &a.targets)?;
        super::print_json(&v)?;
        return Ok(code);
    }
    let mut code = 0;
    for t in &a.targets {
        let ids = match verify::lookup_checked(&archive, &log, t) {
            Ok((_, ids)) => ids,
            Err(e) => {
                eprintln!("error: {}", super::lib_error_line(&e));
                if code == 0 {
                    code = e.kind.exit_code();
                }
                continue;
            }
        };
        for id in ids {
            let r = verify::verify_record(&archive, &log, &id)?;
            if !r.ok && code == 0 {
                code = 1;
            }
            print_report(&r);
        }
    }
    Ok(code)
}

/// What a verified record says about its origin, in words that claim no more than the record
/// does: an imported record's URL and time are the importer's statement, not something exhibit
/// saw, and a redirected capture names the URL asked for (the one citations give) and where
/// it led.
fn provenance(r: &verify::RecordReport) -> String {
    let when = exhibit::cite::human_time(r.captured_at.as_deref().unwrap_or(""));
    let url = r.url.as_deref().unwrap_or("");
    let url = match r.requested_url.as_deref() {
        Some(asked) if asked != url => format!("{} (redirected to {})", esc(asked), esc(url)),
        _ => esc(url).into_owned(),
    };
    match r.method {
        Some(m @ ("import" | "import-warc")) => format!(
            "{m}ed, stating {} and {url} (the importer's claims, not seen by exhibit)",
            esc(&when)
        ),
        Some("check") => format!("checked {}, {url}", esc(&when)),
        Some("key") => format!("key record of {}", esc(&when)),
        _ => format!("captured {}, {url}", esc(&when)),
    }
}

fn print_report(r: &verify::RecordReport) {
    if r.ok {
        println!(
            "{} {} verified: SHA-256 {}, {}",
            super::paint(true, "✓"),
            esc(&r.record_id),
            esc(r.sha256.as_deref().unwrap_or("")),
            provenance(r)
        );
    } else {
        println!(
            "{} {} FAILED verification",
            super::paint(false, "✗"),
            esc(&r.record_id)
        );
        for c in &r.checks {
            let mark = if c.ok {
                super::paint(true, "ok  ")
            } else {
                super::paint(false, "FAIL")
            };
            println!("  {mark} {:<10} {}", c.check, esc(&c.detail));
        }
    }
}

/// `exhibit verify BUNDLE.zip` without --trusted-key when every check passed: the bundle is
/// intact and agrees with itself, but anyone could have made it with a key of their own.
pub const EXIT_SELF_CONSISTENT: i32 = 9;

fn verify_bundles(a: &Args) -> Result<i32> {
    let pinned = if a.trusted_key.is_empty() {
        None
    } else {
        Some(Anchor::pinned(&a.trusted_key)?)
    };
    let mut code = 0;
    let mut all = Vec::new();
    for t in &a.targets {
        let report = match verify_package(t, pinned.as_ref()) {
            Ok(r) => r,
            Err(e) => {
                if !a.json {
                    eprintln!("error: {}", super::lib_error_line(&e));
                }
                if code == 0 || code == EXIT_SELF_CONSISTENT {
                    code = e.kind.exit_code();
                }
                all.push(exhibit::bundle::BundleReport::refused(
                    t,
                    pinned.is_some(),
                    e.to_string(),
                ));
                continue;
            }
        };
        let this = match (report.ok, pinned.is_some()) {
            (true, true) => 0,
            (true, false) => EXIT_SELF_CONSISTENT,
            (false, _) => 1,
        };
        if code == 0 || (code == EXIT_SELF_CONSISTENT && this != 0) {
            code = this;
        }
        if !a.json {
            print_bundle(t, &report);
        }
        all.push(report);
    }
    if a.json {
        super::print_json(&serde_json::json!({"ok": code == 0, "bundles": all}))?;
    }
    Ok(code)
}

fn print_bundle(t: &str, report: &exhibit::bundle::BundleReport) {
    let pinned = report.trust == exhibit::trust::TrustKind::Pinned;
    // A WARC or WACZ export is reported in the same words, named as what it is.
    let what = if t.to_ascii_lowercase().ends_with(".zip") {
        "bundle"
    } else {
        "export"
    };
    let t = &*esc(t);
    for p in &report.problems {
        println!("{} {t}: {}", super::paint(false, "✗"), esc(p));
    }
    for r in &report.records {
        if r.ok && !pinned {
            // Never a ✓ "verified" when nobody said whose key this is.
            println!(
                "- {} self-consistent (signer not established): SHA-256 {}, {}",
                esc(&r.record_id),
                esc(r.sha256.as_deref().unwrap_or("")),
                provenance(r)
            );
        } else {
            print_report(r);
        }
    }
    let keys = |ids: &[String]| {
        if ids.is_empty() {
            "none".to_string()
        } else {
            ids.join(", ")
        }
    };
    let signers: Vec<String> = {
        let mut v: Vec<String> = report
            .records
            .iter()
            .filter_map(|r| r.signer.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let who = format!(
        "sealed by key {}; checkpoint signed by key {}; records signed by key {}",
        report.sealed_by.as_deref().unwrap_or("none"),
        keys(&report.checkpoint_signed_by),
        keys(&signers)
    );
    if report.ok && pinned {
        println!(
            "{} {t}: {what} verified: {} record(s); {who}, all pinned",
            super::paint(true, "✓"),
            report.records.len()
        );
    } else if report.ok {
        println!(
            "- {t}: self-consistent; signer not established (pin a key with --trusted-key KEY.pub). \
             Anyone can make a self-consistent {what} with a key of their own: {who}, all keys \
             the {what} carries; compare their IDs with the key ID the publisher gives"
        );
    } else {
        let why = report
            .problems
            .first()
            .cloned()
            .or_else(|| {
                report.records.iter().find_map(|r| {
                    r.first_failure()
                        .map(|c| format!("{}: {}: {}", r.record_id, c.check, c.detail))
                })
            })
            .unwrap_or_else(|| "it holds no record".into());
        let against = if pinned {
            format!("pinned key(s) {}", keys(&report.trusted_keys))
        } else {
            "the keys it carries".into()
        };
        println!(
            "{} {t}: {what} FAILED verification against {against}: {} ({who})",
            super::paint(false, "✗"),
            esc(&why)
        );
    }
}

fn is_package(t: &str) -> bool {
    let t = t.to_ascii_lowercase();
    [".zip", ".warc", ".warc.gz", ".wacz"]
        .iter()
        .any(|e| t.ends_with(e))
}

fn verify_package(
    t: &str,
    pinned: Option<&Anchor>,
) -> exhibit::Result<exhibit::bundle::BundleReport> {
    let path = std::path::Path::new(t);
    let lower = t.to_ascii_lowercase();
    if lower.ends_with(".wacz") {
        exhibit::formats::wacz::verify(path, pinned)
    } else if lower.ends_with(".warc") || lower.ends_with(".warc.gz") {
        let file = std::fs::File::open(path).map_err(|e| {
            let mut err = exhibit::Error::io("open", path, e);
            err.kind = exhibit::Kind::Usage;
            err
        })?;
        exhibit::formats::export::verify_warc(std::io::BufReader::new(file), t, pinned)
    } else {
        exhibit::bundle::verify_bundle(path, pinned)
    }
}

/// "Is this file the cited one?": hash the file, compare with the cited hash or prefix, and name
/// the archive's records of that document when there is an archive.
fn verify_file(g: &Global, file: &std::path::Path, a: &Args) -> Result<i32> {
    let [cited] = a.targets.as_slice() else {
        return Err(
            exhibit::Error::usage("--file takes exactly one cited SHA-256 (or prefix)")
                .hint("exhibit verify --file PATH 0be9e4add991830b")
                .into(),
        );
    };
    let (want, is_prefix) = match verify::parse_target(cited)? {
        verify::Target::Sha256(h) => (h, false),
        verify::Target::Prefix(h) => (h, true),
        verify::Target::Record(id) => {
            // The record's cited hash counts only if the record itself verifies.
            let archive = g.open()?;
            let (_, ids) = verify::lookup(&archive, cited)?;
            let report =
                super::verify_for_display(&archive, &a.trusted_key, &ids[0], &mut std::io::sink())?;
            if !report.ok {
                return Err(super::not_verified(
                    &report,
                    "so its cited SHA-256 cannot be compared",
                )
                .into());
            }
            (archive.manifest(&id)?.document.sha256, false)
        }
    };
    let (sha, size) = verify::sha256_file(file)?;
    let archive = exhibit::archive::Archive::open(&g.archive).ok();
    // A prefix of 8 hex digits is 32 bits: a forger finds a file that shares it in minutes. When
    // the archive holds the documents the prefix names, the file is held to their whole
    // SHA-256, so the archive's knowledge is never thrown away for the cited digits.
    // The documents with the prefix are read from log/leaves, an index no signature covers, so
    // it is held to the signed log first: what the file is compared with, and "no archive here
    // holds a document with them", are then the signed log's.
    let archived: Vec<String> = match (&archive, is_prefix) {
        (Some(archive), true) => {
            // Both ways: a line edited to another hash would otherwise make the file be held
            // to a hash no signature covers (a forged file matching, the genuine one not).
            let log = LogState::load(archive, &Anchor::from_flags(&a.trusted_key)?);
            verify::check_index(archive, &log)?;
            verify::documents_with_prefix(archive, &want)?
        }
        _ => Vec::new(),
    };
    let matches = if !archived.is_empty() {
        archived.contains(&sha)
    } else if is_prefix {
        sha.starts_with(&want)
    } else {
        sha == want
    };
    // Records are named only when they verify: a record whose signature fails says nothing.
    let (records, failing): (
        Vec<exhibit::record_id::RecordId>,
        Vec<exhibit::record_id::RecordId>,
    ) = archive
        .as_ref()
        .and_then(|archive| {
            let ids = verify::resolve(archive, &verify::Target::Sha256(sha.clone())).ok()?;
            Some(ids.into_iter().partition(|id| {
                super::verify_for_display(archive, &a.trusted_key, id, &mut std::io::sink())
                    .is_ok_and(|r| r.ok)
            }))
        })
        .unwrap_or_default();
    let records: Vec<String> = records.iter().map(|i| i.to_string()).collect();
    let failing: Vec<String> = failing.iter().map(|i| i.to_string()).collect();
    // A prefix is named as the digits that were cited, never as if the whole hash had been.
    let cited_as = if is_prefix {
        format!("the cited prefix {want}… ({} hex digits)", want.len())
    } else {
        format!("the cited SHA-256 {want}")
    };
    let shown_file = esc(&file.display().to_string()).into_owned();
    if a.json {
        super::print_json(&serde_json::json!({
            "ok": matches, "file": file.display().to_string(), "sha256": sha, "size": size,
            "cited": want, "cited_is_prefix": is_prefix, "archived_sha256": archived,
            "records": records, "records_not_verified": failing,
        }))?;
    } else if matches {
        println!(
            "{} {shown_file} matches {} {sha} ({}){}",
            super::paint(true, "✓"),
            if is_prefix {
                format!("{cited_as}; its SHA-256 is")
            } else {
                "the cited SHA-256:".to_string()
            },
            super::count(size, "byte", "bytes"),
            if records.is_empty() {
                String::new()
            } else {
                format!("; archive records: {}", records.join(", "))
            }
        );
        if is_prefix && archived.is_empty() {
            println!(
                "  only those {} hex digits were compared (no archive here holds a document with them): a forged file can share a short prefix, so compare the whole SHA-256 where you can",
                want.len()
            );
        }
        if !failing.is_empty() {
            println!(
                "  {} records of this document that do NOT verify: {} (run `exhibit verify ID`)",
                super::paint(false, "✗"),
                failing.join(", ")
            );
        }
    } else if is_prefix && sha.starts_with(&want) {
        println!(
            "{} {shown_file} does NOT match {cited_as}: it shares those digits, but its SHA-256 is {sha} and the archive's document{} with that prefix {} {}",
            super::paint(false, "✗"),
            if archived.len() == 1 { "" } else { "s" },
            if archived.len() == 1 { "is" } else { "are" },
            archived.join(", "),
        );
    } else {
        println!(
            "{} {shown_file} does NOT match {cited_as}: its SHA-256 is {sha}",
            super::paint(false, "✗"),
        );
    }
    Ok(if matches { 0 } else { 1 })
}

/// The largest citation read: a citation is a paragraph or a certificate, not a document.
const MAX_CITATION: u64 = 1 << 20;

fn read_citation(path: &std::path::Path) -> exhibit::Result<String> {
    use std::io::Read;
    let shown = || esc(&path.display().to_string()).into_owned();
    let mut bytes = Vec::new();
    let read = if path.as_os_str() == "-" {
        std::io::stdin()
            .take(MAX_CITATION + 1)
            .read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_CITATION + 1).read_to_end(&mut bytes))
    };
    read.map_err(|e| {
        exhibit::Error::usage(format!("cannot read the citation {}: {e}", shown()))
            .hint("give a text file holding the citation, or - to read it from standard input")
    })?;
    if bytes.len() as u64 > MAX_CITATION {
        return Err(exhibit::Error::usage(format!(
            "the citation {} is over {MAX_CITATION} bytes",
            shown()
        ))
        .hint("give only the citation (exhibit cite prints one), not the document around it"));
    }
    String::from_utf8(bytes).map_err(|_| {
        exhibit::Error::usage(format!("the citation {} is not UTF-8 text", shown()))
            .hint("save the citation as plain UTF-8 text")
    })
}

/// A citation checked as a pair at least: the record it names verifies, and what it states of
/// that record (SHA-256, URL, capture time) is what the record's own citations state.
fn verify_citation(g: &Global, path: &std::path::Path, a: &Args) -> Result<i32> {
    let text = read_citation(path)?;
    let stated = exhibit::cite_check::stated(&text);
    let id = match (stated.record_ids.as_slice(), stated.bad_record_ids.as_slice()) {
        ([one], _) => one.clone(),
        ([], []) => {
            return Err(exhibit::Error::usage(
                "the citation names no exhibit record ID (EX-XXXX-XXXX-XXXX)",
            )
            .hint("a citation from `exhibit cite` names its record; check that the whole citation was copied")
            .into())
        }
        ([], bad) => {
            return Err(exhibit::Error::usage(format!(
                "the citation's record ID {} is not a record ID: its check character fails",
                esc(&bad[0])
            ))
            .hint("the ID was mistyped or altered; compare it with the citation's source")
            .into())
        }
        (many, _) => {
            return Err(exhibit::Error::usage(format!(
                "the citation names {} records ({}); check one citation at a time",
                many.len(),
                many.join(", ")
            ))
            .hint("give a file that holds a single citation")
            .into())
        }
    };
    let archive = g.open()?;
    let anchor = Anchor::from_flags(&a.trusted_key)?;
    let log = LogState::load(&archive, &anchor);
    for n in &log.notes {
        eprintln!("note: {}", super::esc(n));
    }
    let (_, ids) = verify::lookup_checked(&archive, &log, &id)?;
    let report = verify::verify_record(&archive, &log, &ids[0])?;
    // The facts are read again once the record is known: its title and labels are masked out
    // (a page's words are not facts of the record).
    let (stated, disagree) = if report.ok {
        let m = archive.manifest(&ids[0])?;
        let document = exhibit::core::digest::Sha256::checked(&m.document.sha256)?;
        let at = archive.packed_location(&ids[0], &document)?;
        exhibit::cite_check::disagreements(&text, &m, at)
    } else {
        (stated, Vec::new())
    };
    let ok = report.ok && disagree.is_empty();
    if a.json {
        super::print_json(&serde_json::json!({
            "ok": ok, "record": report, "stated": stated, "disagreements": disagree,
        }))?;
        return Ok(if ok { 0 } else { 1 });
    }
    if !report.ok {
        // What the citation states cannot be compared with a record that does not verify.
        print_report(&report);
        return Ok(1);
    }
    if !disagree.is_empty() {
        println!(
            "{} the citation does NOT match record {}, which itself verifies:",
            super::paint(false, "✗"),
            esc(&report.record_id)
        );
        for d in &disagree {
            println!("  {}", esc(d));
        }
        return Ok(1);
    }
    let mut checked = vec!["record ID".to_string()];
    for (n, what) in [
        (stated.sha256.len() + stated.prefixes.len(), "SHA-256"),
        (stated.urls.len(), "URL"),
        (stated.times.len(), "time"),
        (stated.dates.len(), "date"),
    ] {
        if n > 0 {
            checked.push(what.to_string());
        }
    }
    println!(
        "{} the citation matches record {} ({}), which verifies: SHA-256 {}, {}",
        super::paint(true, "✓"),
        esc(&report.record_id),
        checked.join(", "),
        esc(report.sha256.as_deref().unwrap_or("")),
        provenance(&report)
    );
    Ok(0)
}
