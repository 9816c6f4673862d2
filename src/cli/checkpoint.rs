use super::Global;
use anyhow::Result;
use base64::Engine;
use exhibit::log::tiles;
use std::path::{Path, PathBuf};

/// Print the log's latest signed checkpoint (C2SP tlog-checkpoint signed note), verbatim
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit checkpoint > today.checkpoint     # keep it; tomorrow: exhibit audit --since today.checkpoint\n  exhibit checkpoint --json\n  exhibit checkpoint --tiles site/log       # publish: site/log/checkpoint and site/log/tile/...\n\nThe note verifies with any signed-note implementation, using the verifier key from `exhibit keys`.\n\nWith --tiles, any static web server publishes the log as C2SP tlog-tiles (FORMAT.md 9.9): a tlog client then proves inclusion and consistency against the checkpoint without exhibit."
)]
pub struct Args {
    /// Print origin, tree size, root hash and the note itself as one JSON object
    #[arg(long)]
    json: bool,
    /// Also write the checkpoint and the log's C2SP tlog tiles into DIR (DIR/checkpoint,
    /// DIR/tile/<L>/<N>[.p/<W>]), for any static web server to publish
    #[arg(long, value_name = "DIR")]
    tiles: Option<PathBuf>,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let archive = g.open()?;
    let (text, cp) = super::latest_checkpoint(&archive)?;
    if let Some(dir) = &a.tiles {
        publish(&archive, &text, &cp, dir)?;
    }
    if a.json {
        super::print_json(&serde_json::json!({
            "origin": cp.origin,
            "tree_size": cp.size,
            "root_hash": hex::encode(cp.root),
            "root_hash_base64": base64::engine::general_purpose::STANDARD.encode(cp.root),
            "checkpoint": text,
        }))?;
    } else {
        // Verbatim unless a byte in it could drive the terminal (only a damaged or forged
        // checkpoint has one).
        print!("{}", super::esc_lines(&text));
    }
    Ok(0)
}

/// Tiles first, the checkpoint last (each file by atomic rename), so a reader of the directory
/// never sees a checkpoint whose tiles are not there yet. Only a log whose stored hashes give
/// the checkpoint's root is published.
fn publish(
    archive: &exhibit::archive::Archive,
    text: &str,
    cp: &exhibit::note::Checkpoint,
    dir: &Path,
) -> Result<()> {
    archive.check_stored_hashes(cp.size, &cp.root)?;
    let scratch = dir.join(".exhibit-scratch");
    std::fs::create_dir_all(&scratch)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", scratch.display()))?;
    let all = tiles::tiles_for(cp.size);
    for tile in &all {
        let bytes = archive
            .tile(tile, cp.size)?
            .expect("tiles_for lists only tiles the tree holds");
        let path = dir.join(tile.path());
        let parent = path.parent().expect("a tile path has a parent");
        std::fs::create_dir_all(parent)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", parent.display()))?;
        exhibit::fsutil::write_atomic(&scratch, &path, &bytes, 0o644)?;
    }
    exhibit::fsutil::write_atomic(&scratch, &dir.join("checkpoint"), text.as_bytes(), 0o644)?;
    let _ = std::fs::remove_dir(&scratch);
    eprintln!(
        "exhibit: published the checkpoint (tree size {}) and {} tiles in {}",
        cp.size,
        all.len(),
        super::esc(&dir.display().to_string())
    );
    Ok(())
}
