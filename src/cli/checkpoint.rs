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
        publish(&archive, dir)?;
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
/// never sees a checkpoint whose tiles are not there yet. Only a checkpoint that verifies, over
/// stored hashes that give its root, is published, and never one that would roll back or fork
/// the checkpoint DIR already publishes.
fn publish(archive: &exhibit::archive::Archive, dir: &Path) -> Result<()> {
    let log = exhibit::verify::LogState::for_export(archive)?;
    let (Some(cp), Some(text)) = (&log.checkpoint, &log.text) else {
        return Err(super::latest_checkpoint(archive)
            .err()
            .unwrap_or_else(|| anyhow::anyhow!("the archive's checkpoint could not be read")));
    };
    archive.check_stored_hashes(cp.size, &cp.root)?;
    real_dir(dir, true)?;
    let published = dir.join("checkpoint");
    if let Ok(old) = std::fs::read_to_string(&published) {
        refuse_rollback(archive, cp, &old, &published)?;
    }
    // A scratch directory of this run's own, removed at the end and if it is interrupted.
    let scratch_dir = exhibit::interrupt::temp_dir_in(dir, ".exhibit-scratch-").map_err(|e| {
        anyhow::anyhow!(
            "cannot create a scratch directory in {}: {e}",
            super::esc(&dir.display().to_string())
        )
    })?;
    let scratch = scratch_dir.path().to_path_buf();
    let all = tiles::tiles_for(cp.size);
    let mut written = 0usize;
    for tile in &all {
        // Every width of the rightmost tile of a level, not only the current one: a client
        // holding an older checkpoint asks for the partial tile of its own tree size (C2SP
        // tlog-tiles: partial tiles are served for every size a checkpoint was made at).
        let widths = if u64::from(tile.width) < tiles::WIDTH {
            1..=tile.width
        } else {
            tile.width..=tile.width
        };
        for width in widths {
            let t = tiles::Tile { width, ..*tile };
            let path = dir.join(t.path());
            let parent = path.parent().expect("a tile path has a parent");
            real_dirs_under(dir, parent)?;
            if t.width as u64 == tiles::WIDTH || width < tile.width {
                // Full tiles and narrower partial ones never change once written right.
                if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
                    let want = archive.tile(&t, cp.size)?.expect("within the tree");
                    if std::fs::read(&path).is_ok_and(|have| have == want) {
                        continue;
                    }
                }
            }
            let bytes = archive
                .tile(&t, cp.size)?
                .expect("tiles_for lists only tiles the tree holds");
            exhibit::fsutil::write_atomic(&scratch, &path, &bytes, 0o644)?;
            written += 1;
        }
    }
    exhibit::fsutil::write_atomic(&scratch, &published, text.as_bytes(), 0o644)?;
    drop(scratch_dir);
    eprintln!(
        "exhibit: published the checkpoint (tree size {}) in {} ({} tile files written)",
        cp.size,
        super::esc(&dir.display().to_string()),
        written
    );
    Ok(())
}

/// A checkpoint already published in DIR may only be followed by one of the same log that
/// contains it: same origin, a tree at least as large, and its root in this archive's tree.
fn refuse_rollback(
    archive: &exhibit::archive::Archive,
    cp: &exhibit::note::Checkpoint,
    old_text: &str,
    path: &Path,
) -> Result<()> {
    let shown = super::esc(&path.display().to_string()).into_owned();
    let refuse = |why: String| -> anyhow::Error {
        exhibit::Error::usage(format!("{shown}: {why}; nothing was published"))
            .hint("publish into a new directory, or remove the old checkpoint if you mean to replace that log")
            .into()
    };
    let old = exhibit::note::parse_note(old_text)
        .and_then(|n| exhibit::note::Checkpoint::parse(&n.text))
        .map_err(|e| refuse(format!("is not a checkpoint ({e})")))?;
    if old.origin != cp.origin {
        return Err(refuse(format!(
            "publishes another log (origin {})",
            super::esc(&old.origin)
        )));
    }
    if old.size > cp.size {
        return Err(refuse(format!(
            "publishes a larger tree ({} leaves) than this archive's checkpoint ({})",
            old.size, cp.size
        )));
    }
    if old.size > 0 && archive.tree_root(old.size)? != old.root {
        return Err(refuse(format!(
            "its tree of {} leaves is not the first {} leaves of this archive's log",
            old.size, old.size
        )));
    }
    Ok(())
}

/// `path` is a directory and not a link to one (created if `create`): tiles are written only
/// where DIR says, never through a link planted inside it.
fn real_dir(path: &Path, create: bool) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(exhibit::Error::usage(format!(
            "{} is a link or a file, not a directory; the checkpoint was not published",
            super::esc(&path.display().to_string())
        ))
        .hint("publish into a directory that holds only directories of its own, no links")
        .into()),
        Err(e) if create && e.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir(path)
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot create {}: {e}",
                    super::esc(&path.display().to_string())
                )
            }),
        Err(e) => Err(anyhow::anyhow!(
            "cannot read {}: {e}",
            super::esc(&path.display().to_string())
        )),
    }
}

/// Every directory from `root` (exclusive) down to `leaf`, each a real directory.
fn real_dirs_under(root: &Path, leaf: &Path) -> Result<()> {
    let rel = leaf.strip_prefix(root).expect("tile paths are under DIR");
    let mut at = root.to_path_buf();
    for part in rel.components() {
        at.push(part);
        real_dir(&at, true)?;
    }
    Ok(())
}
