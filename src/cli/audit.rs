use super::{esc, Global};
use anyhow::Result;
use exhibit::audit::{self, Progress, Severity};
use std::path::PathBuf;
use std::sync::atomic::Ordering;

/// Re-check the whole archive: every record, document, signature, log entry and file
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit audit\n  exhibit audit --trusted-key archive.pub --state audit-state/checkpoint --subset $(date +%u)/7\n                                          # nightly CI (docs/CI.md): pinned key, rollback check,\n                                          # every document read once a week\n  exhibit audit --sample 5                # a fresh 5% sample; the seed is printed\n  exhibit audit --sample 5 --seed S       # repeat the sample of the run that printed seed S\n  exhibit audit --since filed.checkpoint  # prove the log extends a checkpoint you kept\n\nLists every problem, then what was read and the verdict: \"archive OK\" only when every document was read, \"OK for what was read\" after --subset or --sample. Exit 0 only if there is no error (warnings, such as the scratch files of an interrupted write or a .DS_Store, do not fail an audit). Anyone who can write the archive can roll it back to an older genuine state, no key needed: only a checkpoint kept outside the archive (--state, --since) catches that.\n\nExit codes: 0 no error; 1 an error (altered, missing, extra, rolled back); 2 a bad option, or a --since or --state file that is not a signed checkpoint; 7 no archive to audit (no readable exhibit.json at --archive: a missing, unreadable or replaced exhibit.json is reported this way), or an I/O error."
)]
pub struct Args {
    /// Worker threads [default: number of CPUs]
    #[arg(long)]
    jobs: Option<usize>,
    /// Trust only this public key (PEM); repeatable. Without it, the archive's own keys/ are trusted
    #[arg(long, value_name = "FILE")]
    trusted_key: Vec<PathBuf>,
    /// Also prove that the log extends this older checkpoint (append-only history), e.g. one
    /// saved with `exhibit checkpoint > FILE` when a record was cited
    #[arg(long, value_name = "OLD_CHECKPOINT_FILE")]
    since: Option<PathBuf>,
    /// Keep the last checkpoint seen in FILE: the log must extend the one there (if the file
    /// exists), and a passing audit replaces it with the current one (never a failing one).
    /// Catches a rollback to an older genuine state of the archive
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Decompress and hash only about PERCENT of the documents, a fresh selection each run (all
    /// manifests, signatures, the log and every file's presence are still checked)
    #[arg(long, value_name = "PERCENT", conflicts_with = "subset")]
    sample: Option<f64>,
    /// Seed for --sample: the same seed picks the same documents. Default: a new seed per run,
    /// printed, so that any run can be repeated
    #[arg(long, requires = "sample")]
    seed: Option<String>,
    /// Check only part N of M of the documents: runs 1/M .. M/M together check every document once
    #[arg(long, value_name = "N/M")]
    subset: Option<String>,
    /// One line of JSON: the same facts as fields (docs/FORMAT.md section 11)
    #[arg(long)]
    json: bool,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    // On object storage: a fresh copy of everything the checkpoint names, each object checked
    // as it is read, then the same audit; plus whatever else is on the store.
    let jobs = a.jobs.unwrap_or_else(super::default_jobs);
    let mut fresh = None;
    let mut store_problems = Vec::new();
    let archive = match &g.remote {
        Some(remote) => {
            let root = exhibit::archive::remote::cache_root();
            exhibit::fsutil::create_dir_all(&root)?;
            let dir = exhibit::interrupt::temp_dir_in(&root, "audit-")
                .map_err(|e| exhibit::Error::io("create a directory in", &root, e))?;
            let copy = remote.with_replica_at(dir.path().join("archive"));
            let (archive, head, damaged) = match copy.open_for_audit(jobs) {
                Ok(opened) => opened,
                // The log cannot be read back to the checkpoint: nothing after it can be
                // judged, and that is the audit's verdict.
                Err(e) if e.kind == exhibit::error::Kind::Verification => {
                    // The damaged object when the error is about one, else the log as a whole.
                    let object = e
                        .source
                        .as_ref()
                        .and_then(|s| s.downcast_ref::<exhibit::archive::remote::AboutObject>())
                        .map_or("log", |o| o.0.as_str());
                    return Ok(unreadable_log(&remote.describe(), object, &e.what, a.json));
                }
                Err(e) => return Err(e.into()),
            };
            for p in damaged
                .into_iter()
                .chain(copy.audit_objects(&archive, &head)?)
            {
                store_problems.push(audit::Problem {
                    severity: if p.error {
                        Severity::Error
                    } else {
                        Severity::Warning
                    },
                    path: p.name,
                    what: p.what,
                });
            }
            fresh = Some(dir);
            archive
        }
        None => exhibit::archive::Archive::open_for_audit(&g.archive)?,
    };
    let anchor = exhibit::trust::Anchor::from_flags(&a.trusted_key)?;
    // Both files are read, and checked to be checkpoints, before the audit starts.
    let since = match &a.since {
        Some(path) => Some(audit::Since::read(path, "--since")?),
        None => None,
    };
    let state = match &a.state {
        Some(path) => Some(audit::StateFile::open(path)?),
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
            seed: a.seed.clone().unwrap_or_else(audit::Selection::fresh_seed),
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
        jobs,
        since,
        state,
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
        let r = audit::audit(&archive, &anchor, &opts, &progress);
        done.store(true, Ordering::Relaxed);
        watcher.thread().unpark();
        let _ = watcher.join();
        r
    })?;
    let mut report = report;
    report.add_problems(store_problems);
    if let Some(remote) = &g.remote {
        report.archive = remote.describe();
    }
    drop(fresh);
    // Saved before printing, so that the report says whether it was; an audit that failed
    // leaves the file as it was.
    let saved = match &opts.state {
        Some(st) => audit::save_state(&mut report, st),
        None => Ok(()),
    };
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
        for line in report.context_lines() {
            println!("{}", esc(&line));
        }
        let summary = match (report.ok, report.complete) {
            (true, true) => super::paint(true, &esc(&report.summary)),
            (true, false) => esc(&report.summary).into_owned(),
            (false, _) => super::paint(false, &esc(&report.summary)),
        };
        println!("{summary}");
        if saved.is_ok() {
            if let Some(line) = report.state_line() {
                println!("{}", esc(&line));
            }
        }
    }
    saved?;
    Ok(if report.ok { 0 } else { 1 })
}

/// The verdict on an archive whose log cannot be read back from the store: one error.
fn unreadable_log(archive: &str, object: &str, why: &str, json: bool) -> i32 {
    let summary = format!("{archive}: FAILED: 1 error (the log could not be read back)");
    if json {
        let v = serde_json::json!({
            "ok": false,
            "complete": false,
            "archive": archive,
            "errors": 1,
            "warnings": 0,
            "summary": summary,
            "problems": [{"severity": "error", "path": object, "what": why}],
        });
        println!("{v}");
    } else {
        println!("{} {}", super::paint(false, "error:"), esc(why));
        println!("{}", super::paint(false, &esc(&summary)));
    }
    1
}
