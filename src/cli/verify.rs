use super::Global;
use anyhow::Result;
use exhibit::verify::{self, LogState, TrustRoot};
use std::path::PathBuf;

/// Re-check records: document present with the cited SHA-256, trusted signature, in the signed log
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit verify EX-7K2M-9QDR-T4VW\n  exhibit verify exhibit-A.zip --trusted-key archive.pub     # an evidence bundle, no archive needed\n  exhibit verify --file downloaded.html 0be9e4add991830b     # is this file the cited one?\n  exhibit verify 0be9e4add991830b              # a hash prefix copied from a filing\n  exhibit verify EX-7K2M-9QDR-T4VW --trusted-key archive.pub --json\n\nExit 0 only if every target verifies; otherwise the code of the first target that did not."
)]
pub struct Args {
    /// Record IDs, SHA-256 hashes, unique hash prefixes (8+ hex digits), or evidence bundles (.zip)
    #[arg(required = true)]
    targets: Vec<String>,
    /// Check whether this file is the cited document: give the file here and the cited SHA-256
    /// (or prefix) as the target
    #[arg(long, value_name = "PATH")]
    file: Option<PathBuf>,
    /// Trust only this public key (PEM); repeatable. Default: the archive's keys/
    #[arg(long, value_name = "FILE")]
    trusted_key: Vec<PathBuf>,
    #[arg(long)]
    json: bool,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    if let Some(file) = &a.file {
        return verify_file(g, file, &a);
    }
    if a.targets.iter().all(|t| is_package(t)) {
        return verify_bundles(&a);
    }
    let archive = g.open()?;
    let trust = TrustRoot::for_archive(&archive, &a.trusted_key)?;
    let log = LogState::load(&archive, &trust);
    let mut code = 0;
    let mut reports = Vec::new();
    let mut errors = Vec::new();
    for t in &a.targets {
        let ids = match verify::parse_target(t)
            .and_then(|target| verify::resolve(&archive, &target))
        {
            Ok(ids) => ids,
            Err(e) => {
                if !a.json {
                    eprintln!("error: {e}");
                }
                errors.push(serde_json::json!({"target": t, "error": e.to_string(), "exit_code": e.kind.exit_code()}));
                if code == 0 {
                    code = e.kind.exit_code();
                }
                continue;
            }
        };
        for id in ids {
            let r = verify::verify_record(&archive, &trust, &log, &id)?;
            if !r.ok && code == 0 {
                code = 1;
            }
            if !a.json {
                print_report(&r);
            }
            reports.push(r);
        }
    }
    if a.json {
        super::print_json(
            &serde_json::json!({"ok": code == 0, "records": reports, "errors": errors}),
        )?;
    }
    Ok(code)
}

fn print_report(r: &verify::RecordReport) {
    if r.ok {
        println!(
            "{} {} verified: SHA-256 {}, captured {}, {}",
            super::paint(true, "✓"),
            r.record_id,
            r.sha256.as_deref().unwrap_or(""),
            exhibit::cite::human_time(r.captured_at.as_deref().unwrap_or("")),
            r.url.as_deref().unwrap_or("")
        );
    } else {
        println!(
            "{} {} FAILED verification",
            super::paint(false, "✗"),
            r.record_id
        );
        for c in &r.checks {
            let mark = if c.ok {
                super::paint(true, "ok  ")
            } else {
                super::paint(false, "FAIL")
            };
            println!("  {mark} {:<10} {}", c.check, c.detail);
        }
    }
}

fn verify_bundles(a: &Args) -> Result<i32> {
    let pinned = if a.trusted_key.is_empty() {
        None
    } else {
        Some(TrustRoot::pinned(&a.trusted_key)?)
    };
    let mut code = 0;
    let mut all = Vec::new();
    for t in &a.targets {
        let report = match verify_package(t, pinned.as_ref()) {
            Ok(r) => r,
            Err(e) => {
                if !a.json {
                    eprintln!("error: {e}");
                }
                if code == 0 {
                    code = e.kind.exit_code();
                }
                all.push(exhibit::bundle::BundleReport {
                    ok: false,
                    bundle: t.clone(),
                    trust: if pinned.is_some() {
                        "pinned"
                    } else {
                        "self-consistent"
                    },
                    origin: None,
                    problems: vec![e.to_string()],
                    records: Vec::new(),
                });
                continue;
            }
        };
        if !report.ok && code == 0 {
            code = 1;
        }
        if !a.json {
            for p in &report.problems {
                println!("{} {t}: {p}", super::paint(false, "✗"));
            }
            for r in &report.records {
                print_report(r);
            }
            // A WARC or WACZ export is reported in the same words as a bundle, named as what it is.
            let what = if t.to_ascii_lowercase().ends_with(".zip") {
                "bundle"
            } else {
                "export"
            };
            let trust = if report.trust == "pinned" {
                "signatures are by the pinned trusted key".to_string()
            } else {
                format!("signatures are by the key inside the {what}: the {what} is self-consistent, but who holds that key is not established (pass --trusted-key to pin it)")
            };
            println!(
                "{} {t}: {} ({trust})",
                super::paint(report.ok, if report.ok { "✓" } else { "✗" }),
                if report.ok {
                    format!("{what} verified")
                } else {
                    format!("{what} FAILED verification")
                }
            );
        }
        all.push(report);
    }
    if a.json {
        super::print_json(&serde_json::json!({"ok": code == 0, "bundles": all}))?;
    }
    Ok(code)
}

/// Targets read as files rather than looked up in an archive: evidence bundles, and WARC or
/// WACZ exports.
fn is_package(t: &str) -> bool {
    let t = t.to_ascii_lowercase();
    [".zip", ".warc", ".warc.gz", ".wacz"]
        .iter()
        .any(|e| t.ends_with(e))
}

fn verify_package(
    t: &str,
    pinned: Option<&TrustRoot>,
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
            let archive = g.open()?;
            (archive.manifest(&id)?.document.sha256, false)
        }
    };
    let (sha, size) = verify::sha256_file(file)?;
    let matches = if is_prefix {
        sha.starts_with(&want)
    } else {
        sha == want
    };
    let records: Vec<String> = exhibit::archive::Archive::open(&g.archive)
        .ok()
        .and_then(|archive| verify::resolve(&archive, &verify::Target::Sha256(sha.clone())).ok())
        .map(|ids| ids.iter().map(|i| i.to_string()).collect())
        .unwrap_or_default();
    if a.json {
        super::print_json(&serde_json::json!({
            "ok": matches, "file": file.display().to_string(), "sha256": sha, "size": size,
            "cited": want, "records": records,
        }))?;
    } else if matches {
        println!(
            "{} {} matches the cited SHA-256: {sha} ({size} bytes){}",
            super::paint(true, "✓"),
            file.display(),
            if records.is_empty() {
                String::new()
            } else {
                format!("; archive records: {}", records.join(", "))
            }
        );
    } else {
        println!(
            "{} {} does NOT match: its SHA-256 is {sha}, the cited one is {want}{}",
            super::paint(false, "✗"),
            file.display(),
            if is_prefix { "…" } else { "" }
        );
    }
    Ok(if matches { 0 } else { 1 })
}
