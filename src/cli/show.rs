use super::Global;
use anyhow::Result;

/// Show a record's manifest: what was captured, when, from where, with which hash
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit show EX-7K2M-9QDR-T4VW\n  exhibit show 0be9e4add991830b --json"
)]
pub struct Args {
    /// Record ID, or SHA-256 (or unique prefix) of its document
    record: String,
    /// Print the manifest as JSON
    #[arg(long)]
    json: bool,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let archive = g.open()?;
    let id = super::resolve_one(&archive, &a.record)?;
    let m = archive.manifest(&id)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&m)?);
        return Ok(0);
    }
    println!("Record ID:    {}", m.record_id);
    println!("Method:       {}", m.method.as_str());
    println!("URL:          {}", m.requested_url);
    if m.final_url != m.requested_url {
        println!("Final URL:    {}", m.final_url);
    }
    println!(
        "Captured:     {}",
        exhibit::cite::human_time(&m.captured_at)
    );
    println!("SHA-256:      {}", m.document.sha256);
    println!("Size:         {} bytes", m.document.size);
    if let Some(t) = &m.document.content_type {
        println!("Content-Type: {t}");
    }
    if let Some(t) = &m.document.title {
        println!("Title:        {t}");
    }
    if let Some(e) = &m.labels.entity {
        println!("Entity:       {e}");
    }
    if let Some(d) = &m.labels.document {
        println!("Document:     {d}");
    }
    if let Some(n) = &m.labels.note {
        println!("Note:         {n}");
    }
    if let Some(h) = &m.http {
        for hop in &h.redirects {
            println!(
                "Redirect:     {} {} -> {}",
                hop.response.status, hop.request.url, hop.location
            );
        }
        println!(
            "Status:       {} {} {}",
            h.response.version, h.response.status, h.response.reason
        );
        if let (Some(enc), Some(p)) = (&h.content_encoding, &h.payload) {
            println!(
                "Encoding:     {enc} ({} bytes on the wire, SHA-256 {})",
                p.size, p.sha256
            );
        }
        if let Some(addr) = &h.remote_addr {
            println!("Server:       {addr}");
        }
        if let Some(p) = &h.proxy {
            println!("Via proxy:    {p}");
        }
        if !h.redacted_headers.is_empty() {
            println!("Redacted:     {}", h.redacted_headers.join(", "));
        }
    }
    println!("Log index:    {}", m.log_index);
    println!(
        "Signed by:    {} at {}",
        m.signer,
        exhibit::cite::human_time(&m.signed_at)
    );
    Ok(0)
}
