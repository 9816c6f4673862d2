use super::Global;
use anyhow::Result;
use std::io::{Seek, Write};
use std::path::PathBuf;

/// Documents up to this size are held in memory while they are checked; larger ones in an
/// unnamed temporary file (TMPDIR).
const IN_MEMORY: usize = 16 * 1024 * 1024;

/// Write a record's exact document bytes to stdout, only after the record verifies
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit cat EX-7K2M-9QDR-T4VW > page.html\n  exhibit cat EX-7K2M-9QDR-T4VW | sha256sum     # prints the cited hash\n  exhibit cat EX-7K2M-9QDR-T4VW --part screenshot > page.png   # a browser capture's screenshot (or pdf, dom, a URL)\n\nThe record is verified first (signature, document hash and size, every part of a browser capture, log), holding the document aside meanwhile (in memory, or an unnamed temporary file for large documents). Nothing reaches stdout unless it verifies; otherwise the command exits 1 with the failed checks."
)]
pub struct Args {
    /// Record ID, or SHA-256 (or unique prefix) of the document
    record: String,
    /// Trust only this public key (PEM); repeatable. Default: the archive's keys/
    #[arg(long, value_name = "FILE")]
    trusted_key: Vec<PathBuf>,
    /// Of a browser capture, write this part instead: screenshot, pdf, dom, or the URL of an
    /// exchange (its response body)
    #[arg(long, value_name = "PART")]
    part: Option<String>,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let archive = g.open()?;
    let id = super::resolve_one(&archive, &a.record)?;
    // Verify first, into a spool: bytes that fail the check must never reach stdout, where a
    // pipe would already have passed them on before the error.
    let mut spool = tempfile::spooled_tempfile(IN_MEMORY);
    let report = super::verify_for_display(&archive, &a.trusted_key, &id, &mut spool)?;
    if !report.ok {
        return Err(super::not_verified(&report, "so its document is not written").into());
    }
    let mut spool = match &a.part {
        None => spool,
        Some(name) => {
            let m = archive.manifest(&id)?;
            let sha = part_sha256(&m, name)?;
            // The record verified, parts included (check_record), so this blob is the part.
            let mut part = tempfile::spooled_tempfile(IN_MEMORY);
            archive
                .read_document(&exhibit::core::digest::Sha256::checked(&sha)?, &mut part)
                .map_err(exhibit::Error::from)?;
            part
        }
    };
    spool.rewind()?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, stdout.lock());
    std::io::copy(&mut spool, &mut out)?;
    out.flush()?;
    Ok(0)
}

/// The SHA-256 of the part `name` of a record: of a browser capture, an attachment role or the
/// URL of an exchange that got a response (the first, when several did); of any capture over
/// TLS, a certificate `tls:<url>#<n>` (0 is the leaf).
fn part_sha256(m: &exhibit::manifest::Manifest, name: &str) -> Result<String> {
    let parts = m.parts();
    if parts.is_empty() {
        return Err(exhibit::Error::usage(format!(
            "record {} has no parts (it is neither a browser capture nor a capture over TLS)",
            m.record_id
        ))
        .hint("drop --part to write its document")
        .into());
    }
    let found = m
        .browser
        .as_ref()
        .and_then(|b| {
            b.attachments
                .iter()
                .find(|a| a.role == name)
                .map(|a| a.sha256.clone())
                .or_else(|| {
                    b.exchanges
                        .iter()
                        .filter(|e| e.url == name)
                        .find_map(|e| e.response.as_ref().map(|r| r.body.sha256.clone()))
                })
        })
        .or_else(|| {
            parts
                .iter()
                .find(|p| p.name == name)
                .map(|p| p.sha256.clone())
        });
    found.ok_or_else(|| {
        exhibit::Error::usage(format!(
            "record {} has no part {}",
            m.record_id,
            exhibit::terminal::shown(name)
        ))
        .hint("give screenshot, pdf, dom, the URL of an exchange with a response, or tls:URL#N; `exhibit show ID` lists them")
        .into()
    })
}
