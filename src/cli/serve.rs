use super::Global;
use anyhow::Result;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Serve a read-only web viewer of the archive: record pages verified live, URL histories, a JSON API
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  exhibit serve                                  # http://127.0.0.1:8080/\n  exhibit serve --bind 127.0.0.1:9000 --trusted-key archive.pub\n\nEvery record page verifies the record (signature, document bytes, inclusion in the current signed checkpoint) when it is served. Archived documents are served on a second port (default: the next one), a separate origin with scripts blocked. The server never writes to the archive and holds no signing key. Binding to anything but a loopback address makes the archive readable by everyone who can reach it: there is no login. Requests are answered only when their Host header is localhost, 127.0.0.1, [::1] or the bound address (any address when bound to 0.0.0.0 or ::), or a name given with --allow-host, with the listener's own port; any other host gets 421 Misdirected Request, so a web page cannot reach the viewer by DNS rebinding."
)]
pub struct Args {
    /// Address of the viewer
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    bind: SocketAddr,
    /// Address of the archived documents (a separate origin) [default: the viewer's address, next port]
    #[arg(long, value_name = "ADDR:PORT")]
    documents_bind: Option<SocketAddr>,
    /// Trust only this public key (PEM); repeatable. Default: the archive's founding key
    #[arg(long, value_name = "FILE")]
    trusted_key: Vec<PathBuf>,
    /// Open connections at most (both ports together)
    #[arg(long, default_value_t = 512, value_name = "N")]
    max_connections: usize,
    /// Seconds a client has to send a request's head
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    header_timeout: u64,
    /// Print one line per request on stderr
    #[arg(long)]
    access_log: bool,
    /// Documents larger than this (bytes) are verified in full once per checkpoint change
    /// instead of on every visit; the record page says when
    #[arg(long, default_value_t = 64 << 20, value_name = "BYTES")]
    reverify_above: u64,
    /// Also answer requests for this host name (the name the server is reached by); repeatable.
    /// Default: only localhost, 127.0.0.1, [::1] and the bound address, on the serving port
    #[arg(long, value_name = "NAME")]
    allow_host: Vec<String>,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let archive = g.open()?;
    let anchor = exhibit::trust::Anchor::from_flags(&a.trusted_key)?;
    for h in &a.allow_host {
        // Compared with the name of each request's Host header, which carries no port here.
        if exhibit::serve::host_of(h).as_deref() != Some(h.to_ascii_lowercase().as_str()) {
            return Err(exhibit::Error::usage(format!(
                "--allow-host {} is not a plain host name (no port, no scheme)",
                exhibit::terminal::shown(h)
            ))
            .hint("give the name alone, e.g. --allow-host archive.example.org; it is accepted with the serving port")
            .into());
        }
    }
    for addr in std::iter::once(a.bind).chain(a.documents_bind) {
        if !addr.ip().is_loopback() {
            eprintln!(
                "warning: listening on {addr}, not a loopback address: anyone who can reach it can read the whole archive (there is no login)"
            );
        }
    }
    let opts = exhibit::serve::Options {
        bind: a.bind,
        documents_bind: a.documents_bind,
        anchor,
        max_connections: a.max_connections,
        header_timeout: std::time::Duration::from_secs(a.header_timeout.max(1)),
        access_log: a.access_log,
        reverify_above: a.reverify_above,
        allowed_hosts: a.allow_host,
    };
    exhibit::serve::run(archive, opts, |b| {
        // Scripts (and the tests) read the first line for the address.
        println!(
            "exhibit serve: viewer at http://{}/ (archived documents at http://{}/)",
            b.viewer, b.documents
        );
        use std::io::Write;
        let _ = std::io::stdout().flush();
    })?;
    Ok(0)
}
