//! SURT keys ("Sort-friendly URI Reordering Transform") as the web-archiving tools compute
//! them: the Internet Archive's `surt` package (used by pywb, warcio's and cdxj-indexer's
//! indexes), default options: Google's then the Internet Archive's canonicalization, host
//! reversed and comma-joined, no scheme. `https://www.Example.org/a/?b=2&a=1` becomes
//! `org,example)/a?a=1&b=2`.
//!
//! Two rules of that package are left out: stripping ASP.NET session IDs from paths and
//! `jsessionid`-style session IDs from queries, and converting non-ASCII host names with IDNA
//! (exhibit's URLs are WHATWG-normalized, so their hosts are already ASCII). A URL those rules
//! would change gets a different key here; an index stays sorted and usable either way.

/// The SURT key of a URL.
pub fn surt(url: &str) -> String {
    if url.is_empty() {
        return "-".into();
    }
    if url.starts_with("filedesc") {
        return url.into();
    }
    let Some(mut u) = Parsed::parse(url.as_bytes()) else {
        // The Python package raises, and the indexers then use the URL as it is.
        return url.into();
    };
    google(&mut u);
    ia(&mut u);
    String::from_utf8_lossy(&u.render()).into_owned()
}

#[derive(Debug)]
struct Parsed {
    scheme: Vec<u8>,
    host: Option<Vec<u8>>,
    port: Option<u32>,
    path: Option<Vec<u8>>,
    query: Option<Vec<u8>>,
}

fn is_scheme_start(url: &[u8]) -> bool {
    let Some(colon) = url.iter().position(|&b| b == b':') else {
        return false;
    };
    colon > 0
        && url[0].is_ascii_alphabetic()
        && url[1..colon]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

impl Parsed {
    fn parse(url: &[u8]) -> Option<Parsed> {
        // Python's bytes.strip(), then CR, LF and TAB removed anywhere.
        let trimmed: &[u8] = {
            let ws = |b: &u8| b" \t\n\r\x0b\x0c".contains(b);
            let s = url.iter().position(|b| !ws(b)).unwrap_or(url.len());
            let e = url.iter().rposition(|b| !ws(b)).map_or(s, |e| e + 1);
            &url[s..e]
        };
        let mut u: Vec<u8> = trimmed
            .iter()
            .copied()
            .filter(|b| !b"\n\r\t".contains(b))
            .collect();
        if u.is_empty() {
            return None;
        }
        if !is_scheme_start(&u) {
            u.splice(0..0, b"http://".iter().copied());
        }
        // "http://https://x" and repeats of the same: keep the last protocol.
        loop {
            let lower = u.to_ascii_lowercase();
            let first = if lower.starts_with(b"https://") {
                8
            } else if lower.starts_with(b"http://") {
                7
            } else {
                0
            };
            let rest = &lower[first..];
            if first > 0 && (rest.starts_with(b"http://") || rest.starts_with(b"https://")) {
                u.drain(..first);
            } else {
                break;
            }
        }
        // ^(([a-zA-Z][a-zA-Z0-9+.-]*):)?((//([^/?#]*))?([^?#]*)(\?([^#]*))?)?(#(.*))?$
        let colon = u.iter().position(|&b| b == b':')?;
        let scheme = u[..colon].to_vec();
        let mut rest = &u[colon + 1..];
        let mut netloc: &[u8] = b"";
        if rest.starts_with(b"//") {
            let end = rest[2..]
                .iter()
                .position(|b| b"/?#".contains(b))
                .map_or(rest.len(), |p| p + 2);
            netloc = &rest[2..end];
            rest = &rest[end..];
        }
        let rest = match rest.iter().position(|&b| b == b'#') {
            Some(p) => &rest[..p],
            None => rest,
        };
        let (path, query) = match rest.iter().position(|&b| b == b'?') {
            Some(p) => (&rest[..p], Some(&rest[p + 1..])),
            None => (rest, None),
        };
        let netloc = netloc.strip_suffix(b":").unwrap_or(netloc);
        // urllib's hostname and port.
        let hostinfo = match netloc.iter().rposition(|&b| b == b'@') {
            Some(p) => &netloc[p + 1..],
            None => netloc,
        };
        let (host, port): (&[u8], Option<&[u8]>) = if hostinfo.starts_with(b"[") {
            let close = hostinfo.iter().position(|&b| b == b']');
            match close {
                Some(c) => {
                    let after = &hostinfo[c + 1..];
                    (&hostinfo[1..c], after.strip_prefix(b":"))
                }
                None => (&hostinfo[1..], None),
            }
        } else {
            match hostinfo.iter().position(|&b| b == b':') {
                Some(p) => (&hostinfo[..p], Some(&hostinfo[p + 1..])),
                None => (hostinfo, None),
            }
        };
        let port = match port {
            None | Some(b"") => None,
            Some(p) if p.iter().all(u8::is_ascii_digit) => {
                let v: u32 = std::str::from_utf8(p).ok()?.parse().ok()?;
                if v > 65535 {
                    return None;
                }
                (v != 0).then_some(v)
            }
            Some(_) => return None,
        };
        let mut host = (!host.is_empty()).then(|| host.to_ascii_lowercase());
        let mut path = (!path.is_empty()).then(|| path.to_vec());
        if scheme.starts_with(b"http") && host.is_none() {
            if let Some(p) = &path {
                let stripped: Vec<u8> = p.iter().copied().skip_while(|&b| b == b'/').collect();
                let (h, rest) = match stripped.iter().position(|&b| b == b'/') {
                    Some(i) => (stripped[..i].to_vec(), stripped[i + 1..].to_vec()),
                    None => (stripped.clone(), Vec::new()),
                };
                host = Some(h);
                path = Some([b"/".as_slice(), &rest].concat());
            }
        }
        Some(Parsed {
            scheme,
            host,
            port,
            path,
            query: query.filter(|q| !q.is_empty()).map(<[u8]>::to_vec),
        })
    }

    fn render(&self) -> Vec<u8> {
        let host = self.host.as_ref().filter(|h| !h.is_empty()).map(|h| {
            let mut parts: Vec<&[u8]> = h.split(|&b| b == b'.').collect();
            parts.reverse();
            parts.join(&b","[..])
        });
        let mut s = Vec::new();
        match &host {
            None => {
                s.extend_from_slice(&self.scheme);
                s.push(b':');
            }
            Some(h) => {
                s.extend_from_slice(h);
                if let Some(p) = self.port {
                    s.extend_from_slice(format!(":{p}").as_bytes());
                }
                s.push(b')');
            }
        }
        match &self.path {
            Some(p) if !p.is_empty() => s.extend_from_slice(p),
            _ if self.query.is_some() => s.push(b'/'),
            _ => {}
        }
        if let Some(q) = &self.query {
            s.push(b'?');
            s.extend_from_slice(q);
        }
        s
    }
}

fn unquote(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' && i + 2 < input.len() {
            let h = |c: u8| (c as char).to_digit(16);
            if let (Some(a), Some(b)) = (h(input[i + 1]), h(input[i + 2])) {
                out.push((a * 16 + b) as u8);
                i += 3;
                continue;
            }
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

fn unescape_repeatedly(mut input: Vec<u8>) -> Vec<u8> {
    loop {
        let un = unquote(&input);
        if un == input {
            return input;
        }
        input = un;
    }
}

/// Python's `quote_from_bytes` with the package's safe set: everything outside printable
/// ASCII, and `#`, `%` and space, becomes `%XX`.
fn escape_once(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    for &b in input {
        let safe = b.is_ascii_alphanumeric() || b"_.-~!\"$&'()*+,/:;<=>?@[\\]^`{|}".contains(&b);
        if safe {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out
}

fn normalize_path(path: Option<&[u8]>) -> Vec<u8> {
    let Some(path) = path.filter(|p| !p.is_empty()) else {
        return b"/".to_vec();
    };
    let mut kept: Vec<&[u8]> = Vec::new();
    for p in path.split(|&b| b == b'/').skip(1) {
        match p {
            b"." => {}
            b".." => {
                if kept.pop().is_none() {
                    kept.push(p);
                }
            }
            _ => kept.push(p),
        }
    }
    let mut out = b"/".to_vec();
    if let Some((last, init)) = kept.split_last() {
        for p in init {
            if !p.is_empty() {
                out.extend_from_slice(p);
                out.push(b'/');
            }
        }
        out.extend_from_slice(last);
    }
    out
}

/// inet_aton's reading of a host made of numbers (`127.1`, `0x7f.0.0.1`, `2130706433`).
fn ip_formats(host: &[u8]) -> Option<Vec<u8>> {
    if host.is_empty() {
        return None;
    }
    if host.iter().all(u8::is_ascii_digit) {
        let s = std::str::from_utf8(host).ok()?;
        // Python masks a huge number to its low 32 bits.
        let v = s.bytes().fold(0u32, |acc, d| {
            acc.wrapping_mul(10).wrapping_add((d - b'0') as u32)
        });
        return Some(std::net::Ipv4Addr::from(v).to_string().into_bytes());
    }
    let text = std::str::from_utf8(host).ok()?;
    let parts: Vec<&str> = text.split('.').collect();
    let decimal = parts[0].starts_with(|c: char| ('1'..='9').contains(&c))
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let octal = parts[0].starts_with('0')
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| (b'0'..=b'7').contains(&b)));
    if parts.len() > 4 || !(decimal || octal) {
        return None;
    }
    let num = |p: &str| -> Option<u64> {
        if p.len() > 1 && p.starts_with('0') {
            u64::from_str_radix(&p[1..], 8).ok()
        } else {
            p.parse().ok()
        }
    };
    let vals: Vec<u64> = parts.iter().map(|p| num(p)).collect::<Option<_>>()?;
    let (init, last) = vals.split_at(vals.len() - 1);
    let mut v: u64 = 0;
    for (i, x) in init.iter().enumerate() {
        if *x > 255 {
            return None;
        }
        v |= x << (24 - 8 * i);
    }
    let room = 32 - 8 * init.len() as u32;
    if room < 64 && last[0] >= (1u64 << room) {
        return None;
    }
    v |= last[0];
    Some(std::net::Ipv4Addr::from(v as u32).to_string().into_bytes())
}

fn google(u: &mut Parsed) {
    if let Some(q) = u.query.take() {
        u.query = Some(escape_once(&unescape_repeatedly(q)));
    }
    if let Some(h) = u.host.take() {
        let mut host = unescape_repeatedly(h);
        while let Some(p) = host.windows(2).position(|w| w == b"..") {
            host.remove(p);
        }
        let s = host.iter().position(|&b| b != b'.').unwrap_or(host.len());
        let e = host.iter().rposition(|&b| b != b'.').map_or(s, |e| e + 1);
        let host = host[s..e].to_vec();
        u.host = Some(match ip_formats(&host) {
            Some(ip) => ip,
            None => escape_once(&host.to_ascii_lowercase()),
        });
    }
    let path = u.path.take().map(unescape_repeatedly);
    let path = if u.host.is_some() {
        Some(normalize_path(path.as_deref()))
    } else {
        path
    };
    u.path = path.map(|p| escape_once(&p));
}

fn ia(u: &mut Parsed) {
    if let Some(h) = &mut u.host {
        *h = h.to_ascii_lowercase();
        // www, www2, ... prefixes.
        if h.starts_with(b"www") {
            let digits = h[3..].iter().take_while(|b| b.is_ascii_digit()).count();
            if h.get(3 + digits) == Some(&b'.') {
                h.drain(..4 + digits);
            }
        }
    }
    let default = match u.scheme.to_ascii_lowercase().as_slice() {
        b"http" => Some(80),
        b"https" => Some(443),
        _ => None,
    };
    if u.port.is_some() && u.port == default {
        u.port = None;
    }
    if let Some(p) = &mut u.path {
        *p = p.to_ascii_lowercase();
        if p.len() > 1 && p.ends_with(b"/") {
            p.pop();
        }
    }
    if let Some(q) = u.query.take() {
        let q = q.to_ascii_lowercase();
        let mut args: Vec<(&[u8], Option<&[u8]>)> = q
            .split(|&b| b == b'&')
            .map(|a| match a.iter().position(|&b| b == b'=') {
                Some(p) => (&a[..p], Some(&a[p + 1..])),
                None => (a, None),
            })
            .collect();
        if q.len() > 1 {
            args.sort();
        }
        let joined: Vec<u8> = if q.len() > 1 {
            args.iter()
                .map(|(k, v)| match v {
                    Some(v) => [*k, b"=", *v].concat(),
                    None => k.to_vec(),
                })
                .collect::<Vec<_>>()
                .join(&b"&"[..])
        } else {
            q.clone()
        };
        u.query = (!joined.is_empty()).then_some(joined);
    }
}

#[cfg(test)]
mod tests {
    use super::surt;

    /// Keys printed by the Python `surt` package 0.3.1 (`surt.surt(url)`).
    #[test]
    fn agrees_with_the_python_package() {
        for (url, key) in [
            (
                "http://127.0.0.1:8080/a/B?z=1&a=2",
                "1,0,0,127:8080)/a/b?a=2&z=1",
            ),
            ("https://www.Example.org/", "org,example)/"),
            ("http://example.org", "org,example)/"),
            ("http://example.org/a%20b?q=%41", "org,example)/a%20b?q=a"),
            ("http://[::1]:80/x", "::1)/x"),
            ("http://www2.example.org/a/", "org,example)/a"),
            ("http://example.org/?", "org,example)/"),
            ("http://example.org/a/./b/../c", "org,example)/a/c"),
            (
                "http://example.org/%7Euser/caf%C3%A9?x=%e9",
                "org,example)/~user/caf%c3%a9?x=%e9",
            ),
            (
                "urn:exhibit:EX-ABCD-EFGH-JKLM/manifest.json",
                "urn:exhibit:ex-abcd-efgh-jklm/manifest.json",
            ),
            (
                "urn:exhibit:EX-AB%41/x?Z=1&a=2",
                "urn:exhibit:ex-aba/x?a=2&z=1",
            ),
        ] {
            assert_eq!(surt(url), key, "{url}");
        }
    }
}
