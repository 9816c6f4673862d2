//! Argument parsing and the pieces every command shares. Commands live one per module.

mod audit;
mod capture;
mod cat;
mod check;
mod checkpoint;
mod cite;
mod diff;
mod export;
mod history;
mod import;
mod init;
mod keygen;
mod keys;
mod list;
mod migrate;
mod mirror;
mod prove;
mod serve;
mod show;
mod verify;

use anyhow::Result;
use clap::{Parser, Subcommand};
use exhibit::archive::location::Location;
use exhibit::archive::Archive;
use exhibit::record_id::RecordId;
use exhibit::verify::Target;
use exhibit::Error;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Shown after `exhibit --help`; the same table is in README.md.
pub const ROOT_AFTER_HELP: &str = "\
Examples:
  exhibit capture https://example.org/terms --entity Example --document \"Terms of Service\"
  exhibit verify EX-7K2M-9QDR-T4VW
  exhibit verify 0be9e4add991830b
  exhibit audit --trusted-key archive-key.pub
  exhibit cite EX-7K2M-9QDR-T4VW --format markdown

Exit codes:
  0  success: captured, verified, audit clean
  1  verification failed: altered, missing or extra bytes, bad or untrusted signature
     (also cat, cite, show or diff of a record that does not verify); a WARC
     or WACZ that import refuses (bad digest, truncated, malformed) or verify rejects
  2  usage error or invalid input (bad URL, a URL with user:password@, a URL to fetch over
     65,534 characters, mistyped record ID, unreadable input file)
  3  no such record or document in the archive
  4  ambiguous hash prefix: matches more than one document
  5  fetch failed (connection, timeout, truncated or oversize body, HTTP error status) or
     refused: a private or local address without --allow-private, a redirect with credentials
  6  key problem: missing, malformed, readable by others, or not trusted
  7  archive problem: missing, unreadable, locked or I/O error
  8  exhibit check: at least one page changed (none failed)
  9  exhibit verify BUNDLE.zip without --trusted-key: the bundle is intact and self-consistent,
     but who signed it is not established (pin the publisher's key with --trusted-key)

Record IDs: case-insensitive; the EX prefix and hyphens are optional; dashes, no-break spaces, \
quotes and a trailing period from a pasted citation are ignored. A valid ID is always a record \
ID; 12 hex digits that fail its check are a mistyped ID, so a 12-digit hash prefix is written \
sha256:PREFIX.";

#[derive(Parser)]
#[command(
    name = "exhibit",
    version,
    about = "Citation archive and provenance verifier: capture web pages, sign what was captured, verify it anywhere",
    long_about = "exhibit captures a web page (or imports a file), stores its exact bytes compressed and \
addressed by SHA-256, signs a manifest of what was captured, appends it to a Merkle log, and re-checks \
any of it later. docs/FORMAT.md explains how to check a record with sha256sum, zstd and openssl alone.",
    after_help = ROOT_AFTER_HELP,
)]
pub struct Cli {
    /// The archive: a directory (a path, or file:///path) or S3-compatible storage
    /// (s3://BUCKET/PREFIX, configured by the AWS_* variables; commands work on a local copy in
    /// EXHIBIT_CACHE, default ~/.cache/exhibit)
    #[arg(
        long,
        global = true,
        env = "EXHIBIT_ARCHIVE",
        default_value = "archive",
        value_name = "DIR|s3://BUCKET/PREFIX",
        value_parser = exhibit::archive::location::parse
    )]
    pub archive: Location,
    /// Signing key (PKCS#8 PEM, mode 0600) [default: ~/.config/exhibit/signing.key]
    #[arg(long, global = true, env = "EXHIBIT_KEY", value_name = "FILE")]
    pub key: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    Keygen(keygen::Args),
    Init(init::Args),
    Capture(capture::Args),
    Import(import::Args),
    Show(show::Args),
    Cat(cat::Args),
    List(list::Args),
    Keys(keys::Args),
    Verify(verify::Args),
    Audit(audit::Args),
    Cite(cite::Args),
    Check(check::Args),
    History(history::Args),
    Diff(diff::Args),
    Export(export::Args),
    Checkpoint(checkpoint::Args),
    Mirror(mirror::Args),
    Migrate(migrate::Args),
    Prove(prove::Args),
    Serve(serve::Args),
}

pub fn run(cli: Cli) -> Result<i32> {
    let (archive, remote) = match cli.archive {
        Location::Local(path) => (path, None),
        // Keygen never opens an archive, and mirror names its own two (either may be s3://),
        // so where --archive points does not matter to them.
        Location::S3(_) if matches!(cli.command, Command::Keygen(_) | Command::Mirror(_)) => {
            (PathBuf::new(), None)
        }
        Location::S3(s3) if matches!(cli.command, Command::Migrate(_)) => {
            return Err(exhibit::Error::usage(format!(
                "migrate works on a local archive, not on object storage ({s3})"
            ))
            .hint("mirror it to a local directory, migrate that, and mirror the result to a new prefix")
            .into())
        }
        // Every other command works on a local replica kept in step with the store
        // (archive/remote.rs); commits go to the store.
        Location::S3(s3) => {
            let remote = std::sync::Arc::new(exhibit::archive::remote::Remote::open(&s3)?);
            (remote.replica().to_path_buf(), Some(remote))
        }
    };
    let g = Global {
        archive,
        remote,
        key: cli.key,
    };
    match cli.command {
        Command::Keygen(a) => keygen::run(&g, a),
        Command::Init(a) => init::run(&g, a),
        Command::Capture(a) => capture::run(&g, a),
        Command::Import(a) => import::run(&g, a),
        Command::Show(a) => show::run(&g, a),
        Command::Cat(a) => cat::run(&g, a),
        Command::List(a) => list::run(&g, a),
        Command::Keys(a) => keys::run(&g, a),
        Command::Verify(a) => verify::run(&g, a),
        Command::Audit(a) => audit::run(&g, a),
        Command::Cite(a) => cite::run(&g, a),
        Command::Check(a) => check::run(&g, a),
        Command::History(a) => history::run(&g, a),
        Command::Diff(a) => diff::run(&g, a),
        Command::Export(a) => export::run(&g, a),
        Command::Checkpoint(a) => checkpoint::run(&g, a),
        Command::Mirror(a) => mirror::run(&g, a),
        Command::Migrate(a) => migrate::run(&g, a),
        Command::Prove(a) => prove::run(&g, a),
        Command::Serve(a) => serve::run(&g, a),
    }
}

pub struct Global {
    /// The archive's directory: for an s3:// archive, its local replica.
    pub archive: PathBuf,
    /// Set for an archive on object storage.
    pub remote: Option<std::sync::Arc<exhibit::archive::remote::Remote>>,
    pub key: Option<PathBuf>,
}

impl Global {
    pub fn key_path(&self) -> PathBuf {
        self.key
            .clone()
            .unwrap_or_else(exhibit::keys::default_key_path)
    }

    pub fn open(&self) -> Result<Archive> {
        if let Some(remote) = &self.remote {
            return Ok(remote.open_archive(default_jobs())?);
        }
        if !Archive::exists(&self.archive) {
            return Err(no_archive_here(&self.archive).into());
        }
        Ok(Archive::open(&self.archive)?)
    }

    /// Open the archive for writing. Only `init` (or `--init` on capture and import) creates an
    /// archive: a command run from the wrong folder must not quietly start a second archive and
    /// sign into it.
    pub fn open_for_writing(&self, init: bool) -> Result<(Archive, exhibit::keys::SecretKey)> {
        let key_path = self.key_path();
        if let Some(remote) = &self.remote {
            if remote.has_archive()? {
                let key = exhibit::keys::load(&key_path)?;
                return Ok((self.open()?, key));
            }
            if !init {
                return Err(exhibit::Error::not_found(format!(
                    "no exhibit archive at {}",
                    remote.describe()
                ))
                .hint("create one with `exhibit --archive s3://BUCKET/PREFIX init`, or add --init")
                .into());
            }
            let key = load_or_create_key(&key_path)?;
            let (archive, created) = remote.init(None, &key, exhibit::archive::Layout::DEFAULT)?;
            if created {
                eprintln!(
                    "note: created a new archive at {} (origin {}), signed with key {} from {}",
                    esc(&remote.describe()),
                    esc(&archive.config.origin),
                    exhibit::keys::key_id(&key.verifying_key()),
                    esc(&key_path.display().to_string())
                );
            }
            return Ok((archive, key));
        }
        if Archive::exists(&self.archive) {
            let key = exhibit::keys::load(&key_path)?;
            return Ok((self.open()?, key));
        }
        if !init {
            return Err(no_archive_here(&self.archive).into());
        }
        let key = load_or_create_key(&key_path)?;
        let (archive, created) = Archive::init(&self.archive, None, &key)?;
        if created {
            eprintln!(
                "note: created a new archive at {} (origin {}), signed with key {} from {}",
                esc(&self.archive.display().to_string()),
                esc(&archive.config.origin),
                exhibit::keys::key_id(&key.verifying_key()),
                esc(&key_path.display().to_string())
            );
        }
        Ok((archive, key))
    }
}

/// "No archive here", naming the absolute place exhibit looked and how it chose it.
pub fn no_archive_here(dir: &Path) -> Error {
    let shown = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let why = if std::env::var_os("EXHIBIT_ARCHIVE").is_some() {
        "from EXHIBIT_ARCHIVE or --archive"
    } else {
        "the default ./archive, or --archive"
    };
    Error::new(
        exhibit::Kind::Archive,
        format!("no exhibit archive at {} ({why})", shown.display()),
    )
    .hint("create one there with `exhibit init` (or add --init), or point --archive / EXHIBIT_ARCHIVE at your archive")
}

pub fn load_or_create_key(path: &Path) -> Result<exhibit::keys::SecretKey> {
    let (key, created) = exhibit::keys::load_or_create(path)?;
    if created {
        eprintln!(
            "note: created signing key {} at {} (public key: {}); back it up, it cannot be recovered",
            exhibit::keys::key_id(&key.verifying_key()),
            esc(&path.display().to_string()),
            esc(&exhibit::keys::public_path(path).display().to_string())
        );
    }
    Ok(key)
}

/// A record named by ID, or by the hash of its document. A document cited by several records
/// (recaptured, or verified again by `check`) stands for the first of them, the original
/// capture; a note says which others there are.
pub fn resolve_one(archive: &Archive, input: &str) -> Result<RecordId> {
    let (target, ids) = exhibit::verify::lookup_in_archive(archive, input)?;
    if let (Target::Record(id), _) = (&target, ids.as_slice()) {
        return Ok(*id);
    }
    // resolve() returns records of exactly one document, in log order.
    if ids.len() > 1 {
        const SHOWN: usize = 10;
        let others = ids[1..]
            .iter()
            .take(SHOWN)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let more = ids.len().saturating_sub(1 + SHOWN);
        eprintln!(
            "note: {} cite this document; using the first, {} (others: {others}{})",
            count(ids.len(), "record", "records"),
            ids[0],
            if more > 0 {
                format!(" and {more} more; `exhibit list` shows them")
            } else {
                String::new()
            }
        );
    }
    Ok(ids[0])
}

/// A record checked before anything of it is shown: signature by a trusted key (the archive's,
/// or `--trusted-key`), document present with the cited hash and size, proven in the signed log.
/// The document's bytes go to `out` on the way; they count only if the report says `ok`.
pub fn verify_for_display(
    archive: &Archive,
    trusted_keys: &[PathBuf],
    id: &RecordId,
    out: &mut dyn std::io::Write,
) -> Result<exhibit::verify::RecordReport> {
    let anchor = exhibit::trust::Anchor::from_flags(trusted_keys)?;
    let log = exhibit::verify::LogState::load(archive, &anchor);
    Ok(exhibit::verify::verify_record_to(archive, &log, id, out)?)
}

/// The failed checks of a report, one phrase: "signature: signature does not verify under key
/// 52ef…; document: document … is missing from the store".
pub fn failed_checks(report: &exhibit::verify::RecordReport) -> String {
    report.failed_checks()
}

/// The error of a command that will not present a record that does not verify (exit 1).
pub fn not_verified(report: &exhibit::verify::RecordReport, refusal: &str) -> Error {
    Error::verification(format!(
        "record {} does NOT verify, {refusal}: {}",
        report.record_id,
        failed_checks(report)
    ))
    .hint(format!(
        "`exhibit verify {}` lists every check and `exhibit audit` checks the whole archive; \
         restore the archive from a backup if it was altered",
        report.record_id
    ))
}

/// `--json` or `--format FORMAT` on a command that has both (`--json` is the same as `--format
/// json`; any other format with it is a usage error).
pub fn json_or_format<F: PartialEq + clap::ValueEnum>(
    json: bool,
    format: Option<F>,
    json_format: F,
    default: F,
) -> Result<F> {
    match (json, format) {
        (false, f) => Ok(f.unwrap_or(default)),
        (true, None) => Ok(json_format),
        (true, Some(f)) if f == json_format => Ok(f),
        (true, Some(f)) => Err(Error::usage(format!(
            "--json conflicts with --format {}",
            f.to_possible_value()
                .map(|v| v.get_name().to_string())
                .unwrap_or_default()
        ))
        .hint("--json is the same as --format json; give one of them")
        .into()),
    }
}

/// One value on one line of terminal output: control characters, bidi overrides and invisible
/// characters escaped (see `exhibit::terminal`). Every string that comes from a manifest, a
/// bundle, a server or the user goes through this (or `esc_lines`) before it is printed.
pub fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    exhibit::terminal::escape(s)
}

/// Multi-line text for the terminal: newlines and tabs kept, every other control escaped.
pub fn esc_lines(s: &str) -> std::borrow::Cow<'_, str> {
    exhibit::terminal::escape_lines(s)
}

/// A count and its noun: "1 error", "2 errors".
pub fn count(n: impl TryInto<u64>, singular: &str, plural: &str) -> String {
    exhibit::terminal::count(n.try_into().unwrap_or(u64::MAX), singular, plural)
}

/// An error message longer than this is cut (with its length): whatever a message repeats from
/// its input, a server or a file, it stays one readable line. The cut takes the middle, so the
/// cause at the end of a message that repeats a long URL is kept.
const ERROR_LIMIT: usize = 1000;

/// The text of an error line after "error: ": escaped for the terminal, its parts capped.
pub fn error_line(err: &anyhow::Error) -> String {
    use exhibit::terminal::{cap_middle, escape};
    match err.downcast_ref::<Error>() {
        Some(e) => lib_error_line(e),
        None => escape(&cap_middle(&err.to_string(), ERROR_LIMIT)).into_owned(),
    }
}

/// clap's multi-line usage error, each line escaped and capped like [`error_line`].
pub fn usage_error_text(text: &str) -> String {
    use exhibit::terminal::{cap, escape};
    let mut out = String::with_capacity(text.len().min(8 * ERROR_LIMIT));
    for line in text.lines() {
        out.push_str(&escape(&cap(line, ERROR_LIMIT)));
        out.push('\n');
    }
    out
}

/// [`error_line`] of a library error.
pub fn lib_error_line(e: &Error) -> String {
    use exhibit::terminal::{cap, cap_middle, escape};
    let what = escape(&cap_middle(&e.what, ERROR_LIMIT)).into_owned();
    match &e.hint {
        Some(h) => format!("{what} (hint: {})", escape(&cap(h, ERROR_LIMIT))),
        None => what,
    }
}

/// How many failed inputs a batch summary names; `--json` lists every one.
const SUMMARY_NAMES: usize = 3;

/// "2 failed: https://a, https://b" or "4997 failed: https://a, https://b, https://c and 4994
/// more (every failure is an error line above; --json gives each as a JSON line)". `failures`
/// must be in input order.
pub fn failure_summary(failures: &[(usize, String, Error)]) -> String {
    let names = failures
        .iter()
        .take(SUMMARY_NAMES)
        .map(|f| esc(&exhibit::terminal::cap(&f.1, exhibit::terminal::ECHO_LIMIT)).into_owned())
        .collect::<Vec<_>>()
        .join(", ");
    let more = failures.len().saturating_sub(SUMMARY_NAMES);
    if more == 0 {
        format!("{} failed: {names}", failures.len())
    } else {
        format!(
            "{} failed: {names} and {more} more (each failure has its error line above; --json gives one JSON line per URL)",
            failures.len()
        )
    }
}

/// The output lines of one item of a batch.
#[derive(Default)]
pub struct Lines {
    pub out: Vec<String>,
    pub err: Vec<String>,
}

/// Prints the items of a batch as they finish, or in input order with `--ordered` (an item
/// waits until every earlier one is printed).
pub struct Emitter {
    ordered: bool,
    next: usize,
    waiting: std::collections::BTreeMap<usize, Lines>,
    bar: indicatif::ProgressBar,
}

impl Emitter {
    pub fn new(ordered: bool, bar: indicatif::ProgressBar) -> Emitter {
        Emitter {
            ordered,
            next: 0,
            waiting: Default::default(),
            bar,
        }
    }

    pub fn emit(&mut self, index: usize, lines: Lines) {
        self.bar.inc(1);
        if !self.ordered {
            self.print(lines);
            return;
        }
        self.waiting.insert(index, lines);
        while let Some(l) = self.waiting.remove(&self.next) {
            self.print(l);
            self.next += 1;
        }
    }

    fn print(&self, l: Lines) {
        self.bar.suspend(|| {
            for o in &l.out {
                println!("{o}");
            }
            for e in &l.err {
                eprintln!("{e}");
            }
        });
    }

    /// Prints whatever still waits (nothing, when every index was emitted) and clears the bar.
    pub fn finish(mut self) {
        for l in std::mem::take(&mut self.waiting).into_values() {
            self.print(l);
        }
        self.bar.finish_and_clear();
    }
}

/// Colour and symbols only on a terminal, and never when NO_COLOR is set (no-color.org).
pub fn color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

pub fn paint(ok: bool, text: &str) -> String {
    if color() {
        format!("\x1b[{}m{text}\x1b[0m", if ok { "32" } else { "31" })
    } else {
        text.to_string()
    }
}

/// A progress bar on stderr when it is a terminal; hidden otherwise (CI logs, pipes).
pub fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta}",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    bar.set_prefix(what.to_string());
    bar
}

/// One JSON value on one line, safe for a terminal (C1 controls, bidi overrides and invisible
/// characters as \u escapes; the parsed value is unchanged).
pub fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", json_line(v)?);
    Ok(())
}

pub fn json_line(v: &impl serde::Serialize) -> Result<String> {
    Ok(exhibit::terminal::escape_json(&serde_json::to_string(v)?).into_owned())
}

/// A record's shared `--json` fields ([`RecordSummary`](exhibit::manifest::RecordSummary)), as
/// a value each command adds its own fields to.
pub fn summary_json(m: &exhibit::manifest::Manifest) -> serde_json::Value {
    serde_json::to_value(m.summary()).expect("a record summary always serializes")
}

pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// The archive's latest checkpoint, or the error that says there is none.
pub fn latest_checkpoint(archive: &Archive) -> Result<(String, exhibit::note::Checkpoint)> {
    archive.checkpoint()?.ok_or_else(|| {
        Error::not_found(format!(
            "the archive at {} has no records yet, so no checkpoint",
            archive.root().display()
        ))
        .hint("capture or import a document first")
        .into()
    })
}
