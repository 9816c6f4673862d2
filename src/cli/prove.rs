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
    let p = exhibit::verify::inclusion_proof(&archive, &id, &text, &cp)?;
    if a.json {
        super::print_json(&p)?;
    } else {
        println!(
            "record {} is leaf {} of {}",
            super::esc(&p.record_id),
            p.leaf_index,
            p.tree_size
        );
        println!("leaf hash: {}", p.leaf_hash);
        println!("audit path:");
        for h in &p.audit_path {
            println!("  {h}");
        }
        print!("{}", super::esc_lines(&text));
    }
    Ok(0)
}
