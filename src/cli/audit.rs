use super::{esc, Global};
use anyhow::Result;
use exhibit::audit::{self, Progress, Severity};
use exhibit::verify::TrustRoot;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

/// Re-check the whole archive: every record, document, signature, log entry and file
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit audit\n  exhibit audit --subset $(( $(date +%u) ))/7                # daily CI: every document once a week\n  exhibit audit --sample 5 --seed $(date +%F)             # or a fresh 5% sample each day\n  exhibit audit --trusted-key keys/archive.pub --json     # in CI: pin the trust root\n  exhibit audit --since yesterday.checkpoint              # and prove history was only appended to\n\nLists every problem, then a summary. Exit 0 only if there is no error (warnings, such as the scratch files of an interrupted write, do not fail an audit)."
)]
pub struct Args {
    /// Worker threads [default: number of CPUs]
    #[arg(long)]
    jobs: Option<usize>,
    /// Trust only this public key (PEM); repeatable. Without it, the archive's own keys/ are trusted
    #[arg(long, value_name = "FILE")]
    trusted_key: Vec<PathBuf>,
    /// Also prove that the log extends this older checkpoint (append-only history), e.g. one
    /// saved by yesterday's CI run from `exhibit checkpoint`
    #[arg(long, value_name = "OLD_CHECKPOINT_FILE")]
    since: Option<PathBuf>,
    /// Decompress and hash only a deterministic PERCENT of the documents (all manifests,
    /// signatures, the log and every file's presence are still checked)
    #[arg(long, value_name = "PERCENT", conflicts_with = "subset")]
    sample: Option<f64>,
    /// Seed for --sample: the same seed picks the same documents (e.g. --seed $(date +%F))
    #[arg(long, default_value = "", requires = "sample")]
    seed: String,
    /// Check only part N of M of the documents: runs 1/M .. M/M together check every document once
    #[arg(long, value_name = "N/M")]
    subset: Option<String>,
    /// Print the report (every problem and the summary) as one JSON object
    #[arg(long)]
    json: bool,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let archive = exhibit::archive::Archive::open_for_audit(&g.archive)?;
    let trust = TrustRoot::for_audit(&archive, &a.trusted_key)?;
    let since = match &a.since {
        Some(path) => Some(audit::Since {
            path: path.display().to_string(),
            text: std::fs::read_to_string(path).map_err(|e| {
                let mut err = exhibit::Error::io("read old checkpoint", path, e);
                err.kind = exhibit::Kind::Usage;
                err
            })?,
        }),
        None => None,
    };
    let selection = match (a.sample, &a.subset) {
        (Some(p), _) if !(0.0..=100.0).contains(&p) => {
            return Err(
                exhibit::Error::usage(format!("--sample {p} is not a percentage"))
                    .hint("give a number from 0 to 100, e.g. --sample 5")
                    .into(),
            )
        }
        (Some(percent), _) => audit::Selection::Sample {
            percent,
            seed: a.seed.clone(),
        },
        (None, Some(s)) => {
            let parsed = s
                .split_once('/')
                .and_then(|(n, m)| {
                    Some((n.trim().parse::<u64>().ok()?, m.trim().parse::<u64>().ok()?))
                })
                .filter(|&(n, m)| m >= 1 && (1..=m).contains(&n));
            let Some((part, of)) = parsed else {
                return Err(exhibit::Error::usage(format!(
                    "--subset {} is not N/M with 1 <= N <= M",
                    exhibit::terminal::shown(s)
                ))
                .hint("e.g. --subset 3/7 (day 3 of a weekly cycle)")
                .into());
            };
            audit::Selection::Subset { part, of }
        }
        (None, None) => audit::Selection::All,
    };
    let opts = audit::AuditOptions {
        jobs: a.jobs.unwrap_or_else(super::default_jobs),
        since,
        selection,
    };
    let progress = Progress::default();
    let done = std::sync::atomic::AtomicBool::new(false);
    let bar = super::progress(0, "audit");
    let report = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                bar.set_length(progress.total.load(Ordering::Relaxed));
                bar.set_position(progress.done.load(Ordering::Relaxed));
                // Woken early by unpark when the audit ends, so a small audit does not wait.
                std::thread::park_timeout(std::time::Duration::from_millis(100));
            }
            bar.finish_and_clear();
        });
        let r = audit::audit(&archive, &trust, &opts, &progress);
        done.store(true, Ordering::Relaxed);
        watcher.thread().unpark();
        let _ = watcher.join();
        r
    })?;
    if a.json {
        super::print_json(&report)?;
    } else {
        for p in &report.problems {
            let label = match p.severity {
                Severity::Error => super::paint(false, "error:"),
                Severity::Warning => "warning:".to_string(),
            };
            println!("{label} {}: {}", esc(&p.path), esc(&p.what));
        }
        if let Some(i) = report.first_bad_leaf {
            println!("first bad leaf: {i}");
        }
        if let Some(n) = report.extends {
            println!(
                "history: the log extends the old checkpoint of {} (consistency proof verified)",
                super::count(n, "record", "records")
            );
        }
        println!(
            "audit: {}, {} ({} checked: {}; {}, {} stored), log size {}, trust {}: {}, {}: {}",
            super::count(report.records, "record", "records"),
            super::count(report.documents, "document", "documents"),
            report.documents_checked,
            esc(&report.selection),
            super::count(report.document_bytes, "byte", "bytes"),
            report.stored_bytes,
            report.tree_size,
            esc(report.trust),
            super::count(report.errors, "error", "errors"),
            super::count(report.warnings, "warning", "warnings"),
            if report.ok {
                super::paint(true, "archive OK")
            } else {
                super::paint(false, "archive FAILED")
            }
        );
    }
    Ok(if report.ok { 0 } else { 1 })
}
