use super::Global;
use anyhow::Result;
use exhibit::verify::{self, LogState, TrustRoot};
use std::path::PathBuf;

/// Re-check records: document present with the cited SHA-256, trusted signature, in the signed log
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit verify EX-7K2M-9QDR-T4VW\n  exhibit verify 0be9e4add991830b              # a hash prefix copied from a filing\n  exhibit verify EX-7K2M-9QDR-T4VW --trusted-key archive.pub --json\n\nExit 0 only if every target verifies; otherwise the code of the first target that did not."
)]
pub struct Args {
    /// Record IDs, SHA-256 hashes, or unique hash prefixes (8+ hex digits)
    #[arg(required = true)]
    targets: Vec<String>,
    /// Trust only this public key (PEM); repeatable. Default: the archive's keys/
    #[arg(long, value_name = "FILE")]
    trusted_key: Vec<PathBuf>,
    #[arg(long)]
    json: bool,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
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
