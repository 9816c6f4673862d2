//! Citations: the facts a filing quotes, shaped like a "Citation Record" block, plus how a
//! reader re-checks them.

use crate::manifest::Manifest;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Markdown,
    Json,
}

#[derive(Debug, Clone, Serialize)]
pub struct Citation {
    pub entity: Option<String>,
    pub document: String,
    pub record_id: String,
    /// "2026-05-21 05:07:28 UTC"
    pub captured: String,
    pub captured_at: String,
    pub sha256: String,
    pub url: String,
    pub final_url: String,
    pub method: &'static str,
    pub signer: String,
    pub verify: String,
}

impl Citation {
    pub fn new(m: &Manifest) -> Citation {
        Citation {
            entity: m.labels.entity.clone(),
            document: m.display_title().to_string(),
            record_id: m.record_id.clone(),
            captured: human_time(&m.captured_at),
            captured_at: m.captured_at.clone(),
            sha256: m.document.sha256.clone(),
            url: m.requested_url.clone(),
            final_url: m.final_url.clone(),
            method: m.method.as_str(),
            signer: m.signer.clone(),
            verify: format!(
                "exhibit verify {} (or without exhibit: sha256sum of the document must print {})",
                m.record_id, m.document.sha256
            ),
        }
    }

    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Json => {
                let mut s = serde_json::to_string_pretty(self).expect("citation serializes");
                s.push('\n');
                s
            }
            Format::Text => self.lines("", ""),
            Format::Markdown => {
                let mut s = String::from("**Citation Record**\n\n");
                s.push_str(&self.lines("- **", "**"));
                s
            }
        }
    }

    fn lines(&self, pre: &str, post: &str) -> String {
        let mut s = String::new();
        if pre.is_empty() {
            s.push_str("Citation Record\n");
        }
        let mut line = |k: &str, v: &str| s.push_str(&format!("{pre}{k}:{post} {v}\n"));
        if let Some(e) = &self.entity {
            line("Entity", e);
        }
        line("Document", &self.document);
        line("Record ID", &self.record_id);
        line("Captured", &self.captured);
        line("SHA-256", &self.sha256);
        line("URL", &self.url);
        if self.final_url != self.url {
            line("Final URL", &self.final_url);
        }
        if self.method == "import" {
            line("Method", "imported (not fetched by exhibit)");
        }
        line("Signed by", &format!("Ed25519 key {}", self.signer));
        line("Verify", &self.verify);
        s
    }
}

/// "2026-05-21T05:07:28Z" -> "2026-05-21 05:07:28 UTC", the form citations print.
pub fn human_time(rfc3339: &str) -> String {
    match rfc3339.parse::<jiff::Timestamp>() {
        Ok(t) => t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
        Err(_) => rfc3339.to_string(),
    }
}
