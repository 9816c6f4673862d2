//! HTTP/1.x message heads inside WARC records: parsed (bounded, strict about what a header line
//! is) when read, rebuilt from exhibit's manifests when written.

use std::io::{self, BufRead, Read};

/// A request or response head: its exact bytes and its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpHead {
    /// The bytes as recorded, the terminating empty line included (when there was one).
    pub raw: Vec<u8>,
    pub first_line: Vec<u8>,
    /// Header fields in order, names as written.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// RFC 9110 `token`.
pub fn is_token(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl HttpHead {
    /// Parse a head read by [`read_head`]. Lines end in CRLF or LF (RFC 9112 lets recipients
    /// accept a bare LF); a header line is `token ":" value`; obsolete line folding and any
    /// other line are refused.
    pub fn parse(raw: Vec<u8>) -> Result<HttpHead, String> {
        let mut lines = raw
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let first_line = lines.next().unwrap_or_default().to_vec();
        if first_line.is_empty() {
            return Err("the HTTP message has no start line".into());
        }
        if first_line.iter().any(|&b| b == b'\r' || b == 0) {
            return Err("the HTTP start line holds a CR or NUL".into());
        }
        let mut headers = Vec::new();
        for line in lines {
            if line.is_empty() {
                break;
            }
            if line[0] == b' ' || line[0] == b'\t' {
                return Err("an HTTP header line is folded (obsolete line folding)".into());
            }
            let colon = line
                .iter()
                .position(|&b| b == b':')
                .ok_or("an HTTP header line has no colon")?;
            let name = &line[..colon];
            if !is_token(name) {
                return Err(format!(
                    "HTTP header name {:?} is not a token",
                    String::from_utf8_lossy(name)
                ));
            }
            let value = trim(&line[colon + 1..]);
            if value.iter().any(|&b| b == b'\r' || b == 0) {
                return Err(format!(
                    "HTTP header {:?} holds a CR or NUL",
                    String::from_utf8_lossy(name)
                ));
            }
            headers.push((
                String::from_utf8(name.to_vec()).expect("tokens are ASCII"),
                value.to_vec(),
            ));
        }
        Ok(HttpHead {
            raw,
            first_line,
            headers,
        })
    }

    /// The status code of a response head (`HTTP/1.1 200 OK`).
    pub fn status(&self) -> Option<u16> {
        let line = std::str::from_utf8(&self.first_line).ok()?;
        let mut parts = line.splitn(3, ' ');
        let version = parts.next()?;
        if !version.starts_with("HTTP/") {
            return None;
        }
        let code = parts.next()?;
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        code.parse().ok()
    }

    /// The first value of a header, by case-insensitive name.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    pub fn get_text(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(|v| String::from_utf8_lossy(v).trim().to_string())
    }

    /// Whether the body is sent with chunked transfer coding (the last coding is `chunked`).
    pub fn is_chunked(&self) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
            .filter_map(|(_, v)| {
                String::from_utf8_lossy(v)
                    .rsplit(',')
                    .next()
                    .map(|s| s.trim().to_ascii_lowercase())
            })
            .next_back()
            .is_some_and(|c| c == "chunked")
    }
}

fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// Read a head up to and including its empty line, at most `max` bytes. A head that the record
/// ends before its empty line is returned as it is (some writers leave the empty line out of
/// bodiless records). `Ok(Err(why))` is a head over the limit.
pub fn read_head(r: &mut impl BufRead, max: usize) -> io::Result<Result<Vec<u8>, String>> {
    let mut raw = Vec::new();
    loop {
        let before = raw.len();
        let mut limited = Read::take(&mut *r, (max + 1 - raw.len()) as u64);
        let n = limited.read_until(b'\n', &mut raw)?;
        if raw.len() > max {
            return Ok(Err(format!("HTTP header block longer than {max} bytes")));
        }
        if n == 0 {
            return Ok(Ok(raw));
        }
        let line = &raw[before..];
        if line == b"\r\n" || line == b"\n" {
            return Ok(Ok(raw));
        }
        if !line.ends_with(b"\n") {
            // The block ended inside this line.
            return Ok(Ok(raw));
        }
    }
}

/// The standard reason phrase exhibit records for a status (RFC 9110), for rebuilt heads.
pub fn default_reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        410 => "Gone",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_heads() {
        let h = HttpHead::parse(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-A:  b \r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_vec(),
        )
        .unwrap();
        assert_eq!(h.status(), Some(200));
        assert_eq!(h.get("content-type"), Some(&b"text/html"[..]));
        assert_eq!(h.get("x-a"), Some(&b"b"[..]));
        assert!(h.is_chunked());
        assert_eq!(h.headers[0].0, "Content-Type");
        for bad in [
            &b"HTTP/1.1 200 OK\r\nNo colon\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
            b"\r\n",
        ] {
            assert!(
                HttpHead::parse(bad.to_vec()).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn reads_bounded_heads() {
        let mut r = io::Cursor::new(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody".to_vec());
        let head = read_head(&mut r, 100).unwrap().unwrap();
        assert_eq!(head, b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n");
        let mut rest = Vec::new();
        io::Read::read_to_end(&mut r, &mut rest).unwrap();
        assert_eq!(rest, b"body");
        let mut r = io::Cursor::new(vec![b'a'; 1000]);
        assert!(read_head(&mut r, 100).unwrap().is_err());
    }
}
