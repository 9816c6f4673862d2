use super::{count, esc, Global};
use anyhow::Result;
use exhibit::archive::location::Location;
use exhibit::ops::mirror::{self, Progress};

/// Copy an archive between a local directory and S3-compatible object storage, verifying every object
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit mirror ./archive s3://my-bucket/exhibit      # back up to object storage\n  exhibit mirror s3://my-bucket/exhibit ./restored     # and back\n  exhibit mirror s3://my-bucket/a s3://other-bucket/a --json\n\nCopies exactly the archive's files (not its lock or scratch files), reads each one back from DST and compares its SHA-256 with SRC's, and checks that every document decompresses to the hash it is named by. DST's log/checkpoint is written last, so an interrupted mirror leaves DST with no checkpoint or its old one; running it again copies only what is missing or different. A DST whose checkpoint is newer than SRC's, or from another log, is refused. A local SRC is read under its writers' lock: captures into it wait until the mirror is done.\n\nObject storage is configured by the standard AWS_* variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL; AWS_ALLOW_HTTP=true for plain http on a network you trust). Credentials are never printed.\n\nExit codes: 0 mirrored; 1 a SRC object does not match its name, or SRC's log does not match its checkpoint; 2 DST refused (newer, another archive, not an archive); 7 storage errors."
)]
pub struct Args {
    /// The archive to copy: a directory, file:///path or s3://BUCKET/PREFIX
    #[arg(value_name = "SRC", value_parser = exhibit::archive::location::parse)]
    source: Location,
    /// Where to copy it (created if missing): a directory, file:///path or s3://BUCKET/PREFIX
    #[arg(value_name = "DST", value_parser = exhibit::archive::location::parse)]
    destination: Location,
    /// One line of JSON: what was copied and skipped
    #[arg(long)]
    json: bool,
}

pub fn run(_g: &Global, a: Args) -> Result<i32> {
    let bar = super::progress(0, "mirror");
    let report = mirror::mirror(&a.source, &a.destination, &mut |p| match p {
        Progress::Listed(n) => bar.set_length(n),
        Progress::Object => bar.inc(1),
    });
    bar.finish_and_clear();
    let report = report.map_err(exhibit::Error::from)?;
    if a.json {
        super::print_json(&report)?;
    } else {
        println!(
            "mirrored {} to {}: {} ({} copied, {} already there), checkpoint of tree size {}",
            esc(&report.source),
            esc(&report.destination),
            count(report.objects, "object", "objects"),
            report.copied,
            report.skipped,
            report.tree_size
        );
    }
    Ok(0)
}
