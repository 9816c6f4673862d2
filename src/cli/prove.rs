use super::Global;
use anyhow::Result;
use exhibit::log::merkle;
use exhibit::Error;

/// Print a record's inclusion proof, or a consistency proof, against the latest checkpoint
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit prove EX-7K2M-9QDR-T4VW --json\n  exhibit prove --consistency 1000 --json     # the log of today extends the tree of 1000 records\n\nProofs are RFC 9162 (RFC 6962) audit paths: anyone can check them with the checkpoint's root."
)]
pub struct Args {
    /// Record ID, or SHA-256 (or unique prefix) of its document
    #[arg(
        required_unless_present = "consistency",
        conflicts_with = "consistency"
    )]
    record: Option<String>,
    /// Prove the current tree extends the tree of this many records
    #[arg(long, value_name = "OLD_SIZE")]
    consistency: Option<u64>,
    /// Print the proof, the roots and the checkpoint as one JSON object
    #[arg(long)]
    json: bool,
}

fn hexes(v: &[merkle::Hash]) -> Vec<String> {
    v.iter().map(hex::encode).collect()
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let archive = g.open()?;
    let (text, cp) = super::latest_checkpoint(&archive)?;
    if let Some(old) = a.consistency {
        if old > cp.size {
            return Err(Error::usage(format!(
                "the log has only {}, fewer than {old}",
                super::count(cp.size, "record", "records")
            ))
            .hint("give the tree size of an older checkpoint")
            .into());
        }
        let proof = archive.consistency_proof(old, cp.size)?;
        let old_root = archive.tree_root(old)?;
        if a.json {
            super::print_json(&serde_json::json!({
                "old_size": old, "old_root": hex::encode(old_root),
                "tree_size": cp.size, "root_hash": hex::encode(cp.root),
                "consistency_path": hexes(&proof), "checkpoint": text,
            }))?;
        } else {
            println!(
                "consistency of tree {old} (root {}) with tree {}",
                hex::encode(old_root),
                cp.size
            );
            for h in hexes(&proof) {
                println!("  {h}");
            }
            print!("{}", super::esc_lines(&text));
        }
        return Ok(0);
    }
    let id = super::resolve_one(&archive, a.record.as_deref().unwrap_or_default())?;
    let (bytes, _) = archive
        .load_record(&id)?
        .ok_or_else(|| exhibit::archive::no_such_record(&id, archive.root()))?;
    let m = exhibit::manifest::Manifest::parse(&bytes)?;
    if m.log_index >= cp.size {
        return Err(Error::verification(format!(
            "record {id} has log index {} beyond the checkpoint's {} records",
            m.log_index, cp.size
        ))
        .hint("run `exhibit audit`")
        .into());
    }
    let proof = archive.inclusion_proof(m.log_index, cp.size)?;
    let leaf = merkle::leaf_hash(&bytes);
    exhibit::verify::record::check_inclusion(&proof, &cp, m.log_index, &leaf).map_err(|e| {
        Error::verification(format!("record {id} is not proven in the log: {e}"))
            .hint("run `exhibit audit`")
    })?;
    if a.json {
        super::print_json(&serde_json::json!({
            "record_id": m.record_id, "leaf_index": m.log_index, "tree_size": cp.size,
            "leaf_hash": hex::encode(leaf), "audit_path": hexes(&proof),
            "root_hash": hex::encode(cp.root), "checkpoint": text,
        }))?;
    } else {
        println!(
            "record {} is leaf {} of {}",
            super::esc(&m.record_id),
            m.log_index,
            cp.size
        );
        println!("leaf hash: {}", hex::encode(leaf));
        println!("audit path:");
        for h in hexes(&proof) {
            println!("  {h}");
        }
        print!("{}", super::esc_lines(&text));
    }
    Ok(0)
}
