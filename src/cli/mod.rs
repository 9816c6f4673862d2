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
mod prove;
mod show;
mod verify;

use anyhow::Result;
use clap::{Parser, Subcommand};
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
  1  verification failed: altered, missing or extra bytes, bad or untrusted signature; a WARC
     or WACZ that import refuses (bad digest, truncated, malformed) or verify rejects
  2  usage error or invalid input (bad URL, a URL with user:password@, mistyped record ID,
     unreadable input file)
  3  no such record or document in the archive
  4  ambiguous hash prefix: matches more than one document
  5  fetch failed (connection, timeout, truncated or oversize body, HTTP error status) or
     refused: a private or local address without --allow-private, a redirect with credentials
  6  key problem: missing, malformed, readable by others, or not trusted
  7  archive problem: missing, unreadable, locked or I/O error
  8  exhibit check: at least one page changed (none failed)";

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
    /// Archive directory
    #[arg(
        long,
        global = true,
        env = "EXHIBIT_ARCHIVE",
        default_value = "archive",
        value_name = "DIR"
    )]
    pub archive: PathBuf,
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
    Prove(prove::Args),
}

pub fn run(cli: Cli) -> Result<i32> {
    let g = Global {
        archive: cli.archive,
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
        Command::Prove(a) => prove::run(&g, a),
    }
}

pub struct Global {
    pub archive: PathBuf,
    pub key: Option<PathBuf>,
}

impl Global {
    pub fn key_path(&self) -> PathBuf {
        self.key
            .clone()
            .unwrap_or_else(exhibit::keys::default_key_path)
    }

    pub fn open(&self) -> Result<Archive> {
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
        if Archive::exists(&self.archive) {
            let key = exhibit::keys::load(&key_path)?;
            return Ok((self.open()?, key));
        }
        if !init {
            return Err(no_archive_here(&self.archive).into());
        }
        let key = load_or_create_key(&key_path)?;
        let (archive, created, _) = Archive::init(&self.archive, None, &key)?;
        if created {
            eprintln!(
                "note: created a new archive at {} (origin {}), signed with key {} from {}",
                self.archive.display(),
                archive.config.origin,
                exhibit::keys::key_id(&key.verifying_key()),
                key_path.display()
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
            path.display(),
            exhibit::keys::public_path(path).display()
        );
    }
    Ok(key)
}

/// A record named by ID, or by the hash of its document. A document cited by several records
/// (recaptured, or verified again by `check`) stands for the first of them, the original
/// capture; a note says which others there are.
pub fn resolve_one(archive: &Archive, input: &str) -> Result<RecordId> {
    let target = exhibit::verify::parse_target(input)?;
    let ids = exhibit::verify::resolve(archive, &target)?;
    if let (Target::Record(id), _) = (&target, ids.as_slice()) {
        return Ok(*id);
    }
    // resolve() returns records of exactly one document, in log order.
    if ids.len() > 1 {
        eprintln!(
            "note: {} records cite this document; using the first, {} (others: {})",
            ids.len(),
            ids[0],
            ids[1..]
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(ids[0])
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

pub fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string(v)?);
    Ok(())
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
