use super::{esc, Global};
use anyhow::Result;
use std::path::PathBuf;

/// Show a record's manifest: what was captured, when, from where, with which hash
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit show EX-7K2M-9QDR-T4VW\n  exhibit show 0be9e4add991830b --json\n\nThe record is verified first (signature, document, log). If it verifies, the first line says so. If not, the first lines say \"NOT VERIFIED: <check>: <why>\", the fields that follow are only what the record claims, and the command exits 1. --json adds a \"verification\" object (ok and each check) to the manifest."
)]
pub struct Args {
    /// Record ID, or SHA-256 (or unique prefix) of its document
    record: String,
    /// Print the manifest as JSON, with a "verification" object
    #[arg(long)]
    json: bool,
    /// Trust only this public key (PEM); repeatable. Default: the archive's keys/
    #[arg(long, value_name = "FILE")]
    trusted_key: Vec<PathBuf>,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let archive = g.open()?;
    let id = super::resolve_one(&archive, &a.record)?;
    let report = super::verify_for_display(&archive, &a.trusted_key, &id, &mut std::io::sink())?;
    // A manifest that does not even parse has nothing to show: the error says why.
    let m = match archive.manifest(&id) {
        Ok(m) => m,
        Err(_) if !report.ok => {
            return Err(super::not_verified(&report, "and its manifest cannot be read").into())
        }
        Err(e) => return Err(e.into()),
    };
    let code = if report.ok { 0 } else { 1 };
    if a.json {
        let v = exhibit::verify::record_json(Some(&m), &m.record_id, &report);
        println!(
            "{}",
            exhibit::terminal::escape_json(&serde_json::to_string_pretty(&v)?)
        );
    } else {
        if report.ok {
            let parts = m.parts().len();
            println!(
                "Verified:     yes (signed by {} key {}; document {}present as cited; in the signed log)",
                if report.trust == exhibit::trust::TrustKind::Pinned {
                    "the pinned"
                } else {
                    "the archive's trusted"
                },
                esc(report.signer.as_deref().unwrap_or("")),
                if parts > 0 {
                    format!("and its {parts} parts ")
                } else {
                    String::new()
                }
            );
        } else {
            for c in report.checks.iter().filter(|c| !c.ok) {
                println!("NOT VERIFIED: {}: {}", c.check, esc(&c.detail));
            }
            println!("(what follows is only what the record claims; it is not proven)");
        }
        print_fields(&m);
    }
    if !report.ok {
        eprintln!(
            "error: {}",
            super::lib_error_line(&super::not_verified(
                &report,
                "so what it claims is not proven"
            ))
        );
    }
    Ok(code)
}

fn print_fields(m: &exhibit::manifest::Manifest) {
    println!("Record ID:    {}", esc(&m.record_id));
    println!("Method:       {}", m.method.as_str());
    println!("URL:          {}", esc(&m.requested_url));
    if m.final_url != m.requested_url {
        println!("Final URL:    {}", esc(&m.final_url));
    }
    println!(
        "Captured:     {}",
        esc(&exhibit::cite::human_time(&m.captured_at))
    );
    println!("SHA-256:      {}", esc(&m.document.sha256));
    println!(
        "Size:         {}",
        super::count(m.document.size, "byte", "bytes")
    );
    if let Some(t) = &m.document.content_type {
        println!("Content-Type: {}", esc(t));
    }
    if let Some(t) = &m.document.title {
        println!("Title:        {}", esc(t));
    }
    if let Some(e) = &m.labels.entity {
        println!("Entity:       {}", esc(e));
    }
    if let Some(d) = &m.labels.document {
        println!("Document:     {}", esc(d));
    }
    if let Some(n) = &m.labels.note {
        println!("Note:         {}", esc(n));
    }
    if let Some(c) = &m.change {
        println!(
            "Change:       {} since {}",
            c.kind.as_str(),
            esc(&c.previous)
        );
    }
    if let Some(h) = &m.http {
        for hop in &h.redirects {
            println!(
                "Redirect:     {} {} -> {}",
                hop.response.status,
                esc(&hop.request.url),
                esc(&hop.location)
            );
        }
        println!(
            "Status:       {} {} {}",
            esc(&h.response.version),
            h.response.status,
            esc(&h.response.reason)
        );
        if let (Some(enc), Some(p)) = (&h.content_encoding, &h.payload) {
            println!(
                "Encoding:     {} ({} on the wire, SHA-256 {})",
                esc(enc),
                super::count(p.size, "byte", "bytes"),
                esc(&p.sha256)
            );
        }
        if let Some(addr) = &h.remote_addr {
            println!("Server:       {}", esc(addr));
        }
        if let Some(p) = &h.proxy {
            println!("Via proxy:    {p}");
        }
        if !h.redacted_headers.is_empty() {
            println!("Redacted:     {}", h.redacted_headers.join(", "));
        }
    }
    if let Some(b) = &m.browser {
        print_browser(m, b);
    }
    println!("Log index:    {}", m.log_index);
    println!(
        "Signed by:    {} at {}",
        esc(&m.signer),
        esc(&exhibit::cite::human_time(&m.signed_at))
    );
}

fn print_browser(m: &exhibit::manifest::Manifest, b: &exhibit::manifest::BrowserFacts) {
    let sw = &b.software;
    println!(
        "Browser:      {} {} ({}x{}, sandbox {})",
        esc(&sw.name),
        esc(&sw.version),
        b.viewport.width,
        b.viewport.height,
        if sw.sandbox { "on" } else { "off" }
    );
    if !b.title.is_empty() {
        println!("Page title:   {}", esc(&b.title));
    }
    if b.final_url != m.final_url {
        println!("Page URL:     {}", esc(&b.final_url));
    }
    let failed = b.exchanges.iter().filter(|e| e.failed).count();
    println!("Exchanges:    {} ({failed} failed)", b.exchanges.len());
    for e in &b.exchanges {
        let outcome = match (&e.response, &e.error) {
            (_, Some(err)) => format!("FAILED {}: {}", esc(&err.kind), esc(&err.message)),
            (Some(r), None) if e.failed => format!("FAILED {}", r.status),
            (Some(r), None) => r.status.to_string(),
            (None, None) => "FAILED".into(),
        };
        let body = e
            .response
            .as_ref()
            .map(|r| {
                format!(
                    "  {}  {}",
                    esc(&r.body.sha256),
                    super::count(r.body.size, "byte", "bytes")
                )
            })
            .unwrap_or_default();
        println!(
            "  {} {} {}  {outcome}{body}",
            esc(&e.method),
            esc(&e.url),
            esc(&e.resource_type)
        );
    }
    for a in &b.attachments {
        println!(
            "Part:         {:<10}  {}  {}  {}",
            esc(&a.role),
            esc(&a.sha256),
            super::count(a.size, "byte", "bytes"),
            esc(&a.media_type)
        );
    }
    for ev in &b.events {
        println!(
            "Event:        {} {} {}",
            esc(&ev.kind),
            esc(&ev.url),
            esc(&ev.detail)
        );
    }
}
