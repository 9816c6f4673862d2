use super::Global;
use anyhow::Result;

/// List the archive's trusted public keys (ID, PEM, signed-note verifier key)
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  exhibit keys\n  exhibit keys --json")]
pub struct Args {
    #[arg(long)]
    json: bool,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let archive = g.open()?;
    for k in archive.trusted_keys()? {
        let pem = exhibit::keys::public_pem(&k.key);
        let vkey = exhibit::note::verifier_key(&archive.config.origin, &k.key);
        if a.json {
            super::print_json(&serde_json::json!({
                "id": k.id, "algorithm": "ed25519", "public_key_pem": pem,
                "public_key_hex": hex::encode(k.key.as_bytes()),
                "verifier_key": vkey, "path": k.path.display().to_string(),
            }))?;
        } else {
            println!("{}  {}", k.id, k.path.display());
            println!("  verifier key: {vkey}");
            for line in pem.lines() {
                println!("  {line}");
            }
        }
    }
    Ok(0)
}
