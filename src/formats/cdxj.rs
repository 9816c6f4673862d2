//! CDXJ index lines as `cdxj-indexer` (webrecorder, the indexer of py-wacz) writes them, so an
//! index exhibit writes is the one that tool computes over the same WARC:
//!
//! ```text
//! <SURT key> <14-digit timestamp> {"url": ..., "mime": ..., "status": ..., "digest": ..., "length": ..., "offset": ..., "filename": ...}
//! ```
//!
//! The JSON is Python's `json.dumps` default spelling (`", "` and `": "` separators, non-ASCII
//! escaped as `\uXXXX`); absent fields are left out; lines sort by their bytes.

/// One index entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub url: String,
    /// WARC-Date, `YYYY-MM-DDThh:mm:ssZ`.
    pub date: String,
    pub mime: Option<String>,
    pub status: Option<u16>,
    pub digest: Option<String>,
    pub length: u64,
    pub offset: u64,
    pub filename: String,
}

/// The media type as the indexer shortens it: up to the first `;` or white space.
pub fn short_mime(content_type: &str) -> Option<String> {
    let m = content_type
        .split(|c: char| c == ';' || c.is_whitespace())
        .next()
        .unwrap_or("")
        .trim();
    (!m.is_empty()).then(|| m.to_string())
}

/// `20260521050728` from `2026-05-21T05:07:28Z`.
pub fn timestamp(date: &str) -> String {
    date.bytes()
        .filter(u8::is_ascii_digit)
        .take(14)
        .map(char::from)
        .collect()
}

impl Entry {
    pub fn line(&self) -> String {
        let mut fields: Vec<(&str, String)> = vec![("url", self.url.clone())];
        if let Some(m) = &self.mime {
            fields.push(("mime", m.clone()));
        }
        if let Some(s) = self.status {
            fields.push(("status", s.to_string()));
        }
        if let Some(d) = &self.digest {
            fields.push(("digest", d.clone()));
        }
        fields.push(("length", self.length.to_string()));
        fields.push(("offset", self.offset.to_string()));
        fields.push(("filename", self.filename.clone()));
        let json: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{}: {}", py_json(k), py_json(v)))
            .collect();
        format!(
            "{} {} {{{}}}\n",
            super::surt::surt(&self.url),
            timestamp(&self.date),
            json.join(", ")
        )
    }
}

/// A JSON string as Python's `json.dumps` writes it by default (`ensure_ascii=True`).
pub fn py_json(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Sorted index text: every line, sorted by bytes, duplicates removed.
pub fn sorted(mut lines: Vec<String>) -> String {
    lines.sort();
    lines.dedup();
    lines.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_as_cdxj_indexer_writes_them() {
        let e = Entry {
            url: "http://127.0.0.1:8080/a?b=1".into(),
            date: "2026-05-21T05:07:28Z".into(),
            mime: short_mime("text/html; charset=utf-8"),
            status: Some(200),
            digest: Some("sha256:ab".into()),
            length: 100,
            offset: 0,
            filename: "data.warc.gz".into(),
        };
        assert_eq!(
            e.line(),
            "1,0,0,127:8080)/a?b=1 20260521050728 {\"url\": \"http://127.0.0.1:8080/a?b=1\", \"mime\": \"text/html\", \"status\": \"200\", \"digest\": \"sha256:ab\", \"length\": \"100\", \"offset\": \"0\", \"filename\": \"data.warc.gz\"}\n"
        );
        assert_eq!(
            py_json("é\u{1F600}\u{7f}\u{1}/"),
            "\"\\u00e9\\ud83d\\ude00\\u007f\\u0001/\""
        );
    }
}
