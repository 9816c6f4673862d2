use super::Global;
use anyhow::Result;
use std::path::PathBuf;

/// Export records as one self-contained evidence bundle (zip), a WARC or a WACZ
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit export EX-7K2M-9QDR-T4VW --out exhibit-A.zip\n  exhibit verify exhibit-A.zip --trusted-key archive.pub      # on any machine\n  exhibit export EX-7K2M-9QDR-T4VW --format warc --out exhibit-A.warc.gz   # for web-archive tools\n  exhibit export EX-7K2M-9QDR-T4VW --format wacz --out exhibit-A.wacz      # ReplayWeb.page, pywb\n\nThe bundle holds each document, its manifest, signature and inclusion proof, the checkpoint,\nthe public keys, CITATION.txt and VERIFY.txt (the commands to check it all with sha256sum, unzip\nand openssl, no exhibit needed). The member list SHA256SUMS is signed with --key. A WARC (WARC\n1.1, one gzip member per record) holds each exchange as request and response records with the\ndocument byte for byte, and the manifests, signatures, proofs, checkpoint and keys as metadata\nrecords; a WACZ (1.1.1) packs that WARC with its CDXJ index, a page list and the same provenance\nfiles. `exhibit verify FILE.warc.gz` / `FILE.wacz` checks them. Exporting the same records against\nthe same checkpoint always gives a byte-identical file."
)]
pub struct Args {
    /// Record IDs, or SHA-256 (or unique prefix) of their documents
    #[arg(required = true)]
    records: Vec<String>,
    /// The file to write (.zip, .warc.gz or .wacz)
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// zip: an exhibit evidence bundle; warc: WARC 1.1 (gzip per record); wacz: WACZ 1.1.1
    #[arg(long, value_enum, default_value = "zip")]
    format: Format,
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Zip,
    Warc,
    Wacz,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let archive = g.open()?;
    let mut ids = Vec::new();
    for r in &a.records {
        let target = exhibit::verify::parse_target(r)?;
        ids.extend(exhibit::verify::resolve(&archive, &target)?);
    }
    if let Format::Warc | Format::Wacz = a.format {
        // Nothing is signed anew: the WARC carries the records' own signatures.
        let summary = match a.format {
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
            "{}  {} record(s), {} bytes, SHA-256 {}",
            summary.path, summary.records, summary.bytes, summary.sha256
        );
    }
    Ok(0)
}
