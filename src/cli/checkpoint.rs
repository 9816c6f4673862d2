use super::Global;
use anyhow::Result;
use base64::Engine;

/// Print the log's latest signed checkpoint (C2SP tlog-checkpoint signed note), verbatim
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit checkpoint > today.checkpoint     # keep it; tomorrow: exhibit audit --since today.checkpoint\n  exhibit checkpoint --json\n\nThe note verifies with any signed-note implementation, using the verifier key from `exhibit keys`."
)]
pub struct Args {
    /// Print origin, tree size, root hash and the note itself as one JSON object
    #[arg(long)]
    json: bool,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let archive = g.open()?;
    let (text, cp) = super::latest_checkpoint(&archive)?;
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
