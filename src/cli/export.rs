use super::Global;
use anyhow::Result;
use std::path::PathBuf;

/// Export records as one self-contained evidence bundle (zip), a WARC or a WACZ
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit export EX-7K2M-9QDR-T4VW --out exhibit-A.zip\n  exhibit verify exhibit-A.zip --trusted-key archive.pub      # on any machine\n  exhibit export EX-7K2M-9QDR-T4VW --out exhibit-A.warc.gz   # WARC, for web-archive tools\n  exhibit export EX-7K2M-9QDR-T4VW --out exhibit-A.wacz      # WACZ: ReplayWeb.page, pywb\n\nThe bundle holds each document, its manifest, signature and inclusion proof, the checkpoint, the key records of the log, the public keys that signed (for convenience: a verifier pins the publisher's key instead), CITATION.txt and VERIFY.txt (how to check it all with unzip, sha256sum and openssl: the procedure of docs/FORMAT.md section 13.11). The member list SHA256SUMS is sealed with --key. A WARC (WARC 1.1, one gzip member per record) holds each exchange as request and response records with the document byte for byte, and the manifests, signatures, proofs, checkpoint and keys as metadata records; a WACZ (1.1.1) packs that WARC with its CDXJ index, a page list and the same provenance files. `exhibit verify FILE.warc.gz` / `FILE.wacz` checks them. Exporting the same records against the same checkpoint always gives a byte-identical file."
)]
pub struct Args {
    /// Record IDs, or SHA-256 (or unique prefix) of their documents
    #[arg(required = true)]
    records: Vec<String>,
    /// The file to write (.zip, .warc.gz or .wacz); its name sets the format unless --format does
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// zip: an exhibit evidence bundle; warc: WARC 1.1 (gzip per record); wacz: WACZ 1.1.1
    /// [default: from the --out name (.zip, .warc.gz or .warc, .wacz), else zip]
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Print the file's path, format, size, SHA-256 and records as one JSON object
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
enum Format {
    Zip,
    Warc,
    Wacz,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Zip => "zip",
            Format::Warc => "warc",
            Format::Wacz => "wacz",
        }
    }
}

/// The format a file name announces, if any. A file named `x.warc.gz` that holds a zip is
/// worse than an error: it fails only later, at `exhibit verify` or in someone else's tool.
fn format_of_name(out: &std::path::Path) -> Option<Format> {
    let name = out.file_name()?.to_string_lossy().to_ascii_lowercase();
    [
        (".warc.gz", Format::Warc),
        (".warc", Format::Warc),
        (".wacz", Format::Wacz),
        (".zip", Format::Zip),
    ]
    .into_iter()
    .find(|(ext, _)| name.ends_with(ext))
    .map(|(_, f)| f)
}

/// --format if given, else what the --out name says, else a bundle; a --format that the name
/// contradicts is refused before anything is written.
fn chosen_format(format: Option<Format>, out: &std::path::Path) -> Result<Format> {
    match (format, format_of_name(out)) {
        (Some(f), Some(named)) if f != named => Err(exhibit::Error::usage(format!(
            "--format {} conflicts with --out {}, whose name says {}",
            f.name(),
            super::esc(&out.display().to_string()),
            named.name()
        ))
        .hint("name the file for the format you want, or leave out --format")
        .into()),
        (Some(f), _) => Ok(f),
        (None, named) => Ok(named.unwrap_or(Format::Zip)),
    }
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let format = chosen_format(a.format, &a.out)?;
    let archive = g.open()?;
    let mut ids = Vec::new();
    for r in &a.records {
        ids.extend(exhibit::verify::lookup_in_archive(&archive, r)?.1);
    }
    if let Format::Warc | Format::Wacz = format {
        // Nothing is signed anew: the WARC carries the records' own signatures.
        let summary = match format {
            Format::Warc => exhibit::formats::export::export_warc(&archive, &ids, &a.out)?,
            _ => exhibit::formats::export::export_wacz(&archive, &ids, &a.out)?,
        };
        if a.json {
            super::print_json(&summary)?;
        } else {
            println!(
                "{}  {} record(s) as {} WARC records, {} bytes, SHA-256 {}",
                summary.path, summary.records, summary.warc_records, summary.bytes, summary.sha256
            );
        }
        return Ok(0);
    }
    let key = exhibit::keys::load(&g.key_path())?;
    let summary = exhibit::bundle::export(&archive, &key, &ids, &a.out)?;
    if a.json {
        super::print_json(&summary)?;
    } else {
        println!(
            "{}  {}, {}, SHA-256 {}",
            super::esc(&summary.path),
            super::count(summary.records, "record", "records"),
            super::count(summary.bytes, "byte", "bytes"),
            summary.sha256
        );
    }
    Ok(0)
}
