//! One page capture: a fresh browser context, every request paused and answered from the
//! caller's `Network`, a bounded wait for the page to settle, then the screenshot, the DOM and
//! the PDF. Everything after `Page.navigate` runs in one event loop on the caller's thread, so
//! requests keep being answered while the snapshots are taken (a print can need a font, a
//! taller viewport can load lazy images), and every wait is bounded by the page's deadline.

use super::cdp::{self, CallError, Event, Reply};
use super::*;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Mutex;
use std::thread;

/// Headers that describe the wire, not the decoded body the browser gets.
const WIRE_HEADERS: [&str; 5] = [
    "content-encoding",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
];
/// How long the loop sleeps at most before re-checking its clocks.
const TICK: Duration = Duration::from_millis(25);
/// How long cleanup waits for the browser to close a page's context.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(5);
/// Network requests remembered (for attributing browser-side failures), per page.
const MAX_TRACKED: usize = 10_000;
/// Events recorded per page (a page can open dialogs in a loop).
const MAX_EVENTS: usize = 1000;
/// PDF chunk read per `IO.read`.
const PDF_CHUNK: u64 = 4 << 20;

enum Msg {
    Cdp(Event),
    Fetched {
        seq: usize,
        result: std::thread::Result<std::result::Result<BrowserResponse, FetchFailure>>,
    },
    /// The browser's reply to our fulfil (`fulfilled`) or fail of request `seq`.
    Answered {
        seq: usize,
        fulfilled: Option<Inflight>,
        reply: Reply,
    },
    Reply {
        token: u64,
        reply: Reply,
    },
}

struct Job {
    seq: usize,
    request: BrowserRequest,
}

struct Inflight {
    session: String,
    request_id: String,
}

/// Cleanup of a page's context, run however the capture ends.
struct ContextGuard<'a> {
    conn: &'a cdp::Connection,
    context: String,
    session: Option<String>,
}

impl Drop for ContextGuard<'_> {
    fn drop(&mut self) {
        if let Some(s) = &self.session {
            self.conn.unroute(s);
        }
        let _ = self.conn.call(
            None,
            "Target.disposeBrowserContext",
            json!({ "browserContextId": self.context }),
            CLEANUP_TIMEOUT,
        );
    }
}

pub(super) fn capture(
    browser: &Browser,
    url: &str,
    network: Arc<dyn Network>,
    opts: &PageOptions,
) -> Result<PageCapture> {
    let parsed = crate::capture::parse_url(url)?;
    let limits = &opts.limits;
    if limits.snapshot_reserve >= limits.deadline {
        return Err(Error::usage(
            "the browser's snapshot reserve must be shorter than its deadline",
        ));
    }
    let t0 = Instant::now();
    let started_at = crate::manifest::now();
    let deadline = t0 + limits.deadline;
    let conn = &*browser.conn;
    let remaining = || deadline.saturating_duration_since(Instant::now());
    let setup = |session: Option<&str>, method: &str, params: Value| -> Result<Value> {
        conn.call(session, method, params, remaining())
            .map_err(|e| browser_error(method, &e))
    };

    let ctx = setup(
        None,
        "Target.createBrowserContext",
        json!({
            "disposeOnDetach": true,
            "proxyServer": browser.dead_port.proxy(),
            "proxyBypassList": "<-loopback>",
        }),
    )?;
    let context = str_field(&ctx, "browserContextId")?;
    let mut guard = ContextGuard {
        conn,
        context: context.clone(),
        session: None,
    };
    setup(
        None,
        "Browser.setDownloadBehavior",
        json!({ "behavior": "deny", "browserContextId": context, "eventsEnabled": true }),
    )?;
    let target = setup(
        None,
        "Target.createTarget",
        json!({ "url": "about:blank", "browserContextId": context }),
    )?;
    let target_id = str_field(&target, "targetId")?;
    let attached = setup(
        None,
        "Target.attachToTarget",
        json!({ "targetId": target_id, "flatten": true }),
    )?;
    let session = str_field(&attached, "sessionId")?;
    let (tx, rx) = mpsc::channel::<Msg>();
    {
        let tx = Mutex::new(tx.clone());
        conn.route(
            &session,
            Arc::new(move |ev| {
                let _ = tx
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .send(Msg::Cdp(ev));
            }),
        );
    }
    guard.session = Some(session.clone());
    let s = Some(session.as_str());
    setup(s, "Page.enable", json!({}))?;
    // Only for events (WebSockets, requests the browser blocked itself): bodies are never read
    // from here, so the browser keeps none.
    setup(
        s,
        "Network.enable",
        json!({ "maxTotalBufferSize": 0, "maxResourceBufferSize": 0 }),
    )?;
    setup(s, "Fetch.enable", fetch_patterns())?;
    setup(
        s,
        "Target.setAutoAttach",
        json!({ "autoAttach": true, "waitForDebuggerOnStart": true, "flatten": true }),
    )?;
    setup(
        s,
        "Emulation.setDeviceMetricsOverride",
        metrics(opts, opts.viewport_height),
    )?;
    let user_agent = match &opts.user_agent {
        Some(ua) => {
            setup(
                s,
                "Emulation.setUserAgentOverride",
                json!({ "userAgent": ua }),
            )?;
            ua.clone()
        }
        None => browser.info.user_agent.clone(),
    };

    // Fetch workers: the Network's calls block, so they run beside the loop.
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    for _ in 0..limits.parallel_fetches.max(1) {
        let jobs = Arc::clone(&job_rx);
        let net = Arc::clone(&network);
        let tx = tx.clone();
        thread::Builder::new()
            .name("exhibit-browser-fetch".into())
            .spawn(move || loop {
                let job = {
                    let rx = jobs.lock().unwrap_or_else(|e| e.into_inner());
                    rx.recv()
                };
                let Ok(job) = job else { return };
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    net.fetch(&job.request)
                }));
                if tx
                    .send(Msg::Fetched {
                        seq: job.seq,
                        result,
                    })
                    .is_err()
                {
                    return;
                }
            })
            .map_err(|e| Error::fetch(format!("cannot start a fetch worker: {e}")))?;
    }

    let mut run = Run {
        conn,
        tx,
        rx,
        jobs: Some(job_tx),
        session: session.clone(),
        main_frame: target_id.clone(),
        limits: limits.clone(),
        t0,
        deadline,
        exchanges: Vec::new(),
        inflight: HashMap::new(),
        events: Vec::new(),
        child_types: HashMap::new(),
        navigations: 0,
        bytes: 0,
        committed: false,
        loading: true,
        stopped_at: None,
        last_activity: Instant::now(),
        dcl: None,
        load: None,
        fatal: None,
        panic: None,
        net_urls: HashMap::new(),
        paused_net_ids: HashSet::new(),
        replies: HashMap::new(),
        next_token: 0,
        limit_noted: HashSet::new(),
    };

    let nav_start = ms(t0);
    let nav = run.send(s, "Page.navigate", json!({ "url": parsed.as_str() }));
    let outcome = run.page_phase(nav).and_then(|settle| {
        let settled = ms(t0);
        let snap = run.snapshot(opts, &target_id)?;
        Ok((settle, settled, snap))
    });
    run.finish();
    let panic = run.panic.take();
    drop(run);
    drop(guard);
    if let Some(p) = panic {
        std::panic::resume_unwind(p);
    }
    let (settle, settled_ms, snap) = outcome?;
    let Snapshot {
        title,
        final_url,
        dom,
        screenshot,
        pdf,
        exchanges,
        events,
        dcl,
        load,
    } = snap;
    Ok(PageCapture {
        requested_url: parsed.to_string(),
        final_url,
        title,
        exchanges,
        events,
        dom,
        screenshot,
        pdf,
        timings: Timings {
            started_at,
            navigation_start_ms: nav_start,
            dom_content_loaded_ms: dcl,
            load_ms: load,
            settled_ms,
            settle,
            total_ms: ms(t0),
        },
        provenance: Provenance {
            browser: browser.info.clone(),
            user_agent,
            viewport_width: opts.viewport_width,
            viewport_height: opts.viewport_height,
            device_scale_factor: opts.device_scale_factor,
            limits: limits.clone(),
        },
    })
}

fn fetch_patterns() -> Value {
    json!({ "patterns": [{ "urlPattern": "*", "requestStage": "Request" }] })
}

fn metrics(opts: &PageOptions, height: u32) -> Value {
    json!({
        "width": opts.viewport_width,
        "height": height,
        "deviceScaleFactor": opts.device_scale_factor,
        "mobile": false,
    })
}

fn ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

fn str_field(v: &Value, key: &str) -> Result<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| Error::fetch(format!("the browser's answer has no {key}")))
}

fn browser_error(method: &str, e: &CallError) -> Error {
    match e {
        CallError::Timeout => Error::fetch(format!(
            "the browser did not answer {method} before the page's deadline"
        ))
        .hint("the page may be too heavy; raise the deadline or capture it without the browser"),
        CallError::Closed(why) => {
            Error::fetch(format!("the browser stopped during the capture ({why})"))
                .hint("check free memory; the browser is restarted for the next page")
        }
        CallError::Remote(r) => Error::fetch(format!(
            "the browser refused {method}: {}",
            clip(&r.message, 300)
        )),
    }
}

struct Snapshot {
    title: String,
    final_url: String,
    dom: String,
    screenshot: Screenshot,
    pdf: Vec<u8>,
    exchanges: Vec<Exchange>,
    events: Vec<PageEvent>,
    dcl: Option<u64>,
    load: Option<u64>,
}

struct Run<'a> {
    conn: &'a cdp::Connection,
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    jobs: Option<Sender<Job>>,
    session: String,
    main_frame: String,
    limits: Limits,
    t0: Instant,
    deadline: Instant,
    exchanges: Vec<Exchange>,
    inflight: HashMap<usize, Inflight>,
    events: Vec<PageEvent>,
    /// Target type of every auto-attached session (iframe, worker, service_worker, ...).
    child_types: HashMap<String, String>,
    navigations: usize,
    bytes: u64,
    /// The main frame has committed a document.
    committed: bool,
    /// The main frame is loading (between frameStartedLoading and frameStoppedLoading).
    loading: bool,
    stopped_at: Option<Instant>,
    last_activity: Instant,
    dcl: Option<u64>,
    load: Option<u64>,
    fatal: Option<Error>,
    panic: Option<Box<dyn Any + Send>>,
    net_urls: HashMap<String, String>,
    paused_net_ids: HashSet<String>,
    replies: HashMap<u64, Reply>,
    next_token: u64,
    limit_noted: HashSet<&'static str>,
}

impl Run<'_> {
    fn now_ms(&self) -> u64 {
        ms(self.t0)
    }

    /// Sends a command whose reply comes back through the loop as a token.
    fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> u64 {
        let token = self.next_token;
        self.next_token += 1;
        let tx = Mutex::new(self.tx.clone());
        self.conn.call_then(session, method, params, move |reply| {
            let _ = tx
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .send(Msg::Reply { token, reply });
        });
        token
    }

    /// Sends a command and keeps serving the page until its reply comes (or the deadline).
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Result<Value> {
        let token = self.send(session, method, params);
        loop {
            if let Some(reply) = self.replies.remove(&token) {
                return reply.map_err(|e| browser_error(method, &e));
            }
            if let Some(e) = self.fatal.take() {
                return Err(e);
            }
            if self.panic.is_some() {
                return Err(Error::fetch("the network panicked"));
            }
            if Instant::now() >= self.deadline {
                return Err(browser_error(method, &CallError::Timeout));
            }
            self.pump(self.deadline);
        }
    }

    /// Handles messages until `until` or for one tick, whichever is first.
    fn pump(&mut self, until: Instant) {
        let wait = until
            .saturating_duration_since(Instant::now())
            .min(TICK)
            .max(Duration::from_millis(1));
        match self.rx.recv_timeout(wait) {
            Ok(msg) => {
                self.handle(msg);
                // Drain what is already queued before looking at the clocks again.
                while let Ok(msg) = self.rx.try_recv() {
                    self.handle(msg);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                self.fatal
                    .get_or_insert_with(|| Error::fetch("the browser connection ended"));
            }
        }
        if !self.conn.is_open() && self.fatal.is_none() {
            self.fatal = Some(browser_error(
                "the capture",
                &CallError::Closed("the browser exited".into()),
            ));
        }
    }

    /// Waits for the document, its load and a quiet network, within the limits.
    fn page_phase(&mut self, nav: u64) -> Result<Settle> {
        let page_deadline = self.deadline - self.limits.snapshot_reserve;
        loop {
            if let Some(reply) = self.replies.remove(&nav) {
                match reply {
                    Ok(v) => {
                        if let Some(err) = v.get("errorText").and_then(Value::as_str) {
                            if !err.is_empty() {
                                return Err(self.load_failed(err));
                            }
                        }
                    }
                    Err(e) => return Err(browser_error("Page.navigate", &e)),
                }
            }
            if let Some(e) = self.fatal.take() {
                return Err(e);
            }
            if self.panic.is_some() {
                return Err(Error::fetch("the network panicked"));
            }
            let now = Instant::now();
            if now >= page_deadline {
                if !self.committed {
                    return Err(Error::fetch(format!(
                        "the page did not load within {} s",
                        (self.limits.deadline - self.limits.snapshot_reserve).as_secs()
                    ))
                    .hint("the server may be too slow; raise the deadline"));
                }
                return Ok(Settle::Deadline);
            }
            if self.committed
                && !self.loading
                && self.inflight.is_empty()
                && now.duration_since(self.last_activity) >= self.limits.settle_quiet
            {
                return Ok(Settle::Quiet);
            }
            if let Some(stopped) = self.stopped_at {
                if !self.loading && now.duration_since(stopped) >= self.limits.settle_max {
                    return Ok(Settle::SettleCap);
                }
            }
            self.pump(page_deadline);
        }
    }

    /// Why the main document did not load, from the browser's error and our record of it.
    fn load_failed(&self, browser_err: &str) -> Error {
        let ours = self
            .exchanges
            .iter()
            .rev()
            .find(|e| e.main_frame_navigation)
            .and_then(|e| match &e.outcome {
                Outcome::Failed(f) => Some(format!("{}: {}", e.url, f.message)),
                _ => None,
            });
        let what = match ours {
            Some(o) => o,
            None => browser_err.to_string(),
        };
        Error::fetch(format!("the page could not be loaded: {what}"))
            .hint("check the URL and that the server answers")
    }

    fn snapshot(&mut self, opts: &PageOptions, target_id: &str) -> Result<Snapshot> {
        let s = self.session.clone();
        let s = Some(s.as_str());
        let m = self.call(s, "Page.getLayoutMetrics", json!({}))?;
        let content_h = m
            .pointer("/cssContentSize/height")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        let page_height = if content_h.is_finite() && content_h > 0.0 {
            content_h.ceil().min(u32::MAX as f64) as u32
        } else {
            0
        };
        let cap = self.limits.max_screenshot_height.max(1);
        let height = page_height.max(opts.viewport_height).min(cap);
        // The page is drawn beyond the viewport without resizing it, so what is sized to the
        // window (100vh heroes, fixed headers) looks as a reader's 1280x800 window shows it.
        let shot = self.call(
            s,
            "Page.captureScreenshot",
            json!({
                "format": "png",
                "fromSurface": true,
                "captureBeyondViewport": true,
                // Still lossless PNG; encoding a 16384 px page takes a third less time.
                "optimizeForSpeed": true,
                "clip": {
                    "x": 0, "y": 0,
                    "width": opts.viewport_width, "height": height,
                    "scale": 1,
                },
            }),
        )?;
        let png = decode_b64(&shot, "data", "screenshot")?;

        let doc = self.call(s, "DOM.getDocument", json!({ "depth": 0 }))?;
        let root = doc
            .pointer("/root/nodeId")
            .and_then(Value::as_i64)
            .ok_or_else(|| Error::fetch("the browser's DOM has no root"))?;
        let html = self.call(s, "DOM.getOuterHTML", json!({ "nodeId": root }))?;
        let dom = str_field(&html, "outerHTML")?;
        if dom.len() > self.limits.max_dom_bytes {
            return Err(Error::fetch(format!(
                "the rendered DOM is {} bytes, over the cap of {}",
                dom.len(),
                self.limits.max_dom_bytes
            )));
        }
        let info = self.call(
            None,
            "Target.getTargetInfo",
            json!({ "targetId": target_id }),
        )?;
        // The target's title falls back to the URL when the document has none; the
        // document's own is what a reader saw in the tab.
        let t = self.call(
            s,
            "Runtime.evaluate",
            json!({ "expression": "document.title", "returnByValue": true }),
        )?;
        let title = clip(
            t.pointer("/result/value")
                .and_then(Value::as_str)
                .unwrap_or(""),
            4096,
        );
        let final_url = info
            .pointer("/targetInfo/url")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();

        let pdf = self.print_pdf()?;
        Ok(Snapshot {
            title,
            final_url,
            dom,
            screenshot: Screenshot {
                png,
                width: opts.viewport_width,
                height,
                page_height,
                truncated: page_height > cap,
            },
            pdf,
            exchanges: std::mem::take(&mut self.exchanges),
            events: std::mem::take(&mut self.events),
            dcl: self.dcl,
            load: self.load,
        })
    }

    fn print_pdf(&mut self) -> Result<Vec<u8>> {
        let s = self.session.clone();
        let s = Some(s.as_str());
        let printed = self.call(
            s,
            "Page.printToPDF",
            json!({
                "printBackground": true,
                "transferMode": "ReturnAsStream",
                "pageRanges": format!("1-{}", self.limits.max_pdf_pages.max(1)),
            }),
        )?;
        let stream = str_field(&printed, "stream")?;
        let mut pdf = Vec::new();
        let result = loop {
            // Streams belong to the session that opened them.
            let chunk =
                match self.call(s, "IO.read", json!({ "handle": stream, "size": PDF_CHUNK })) {
                    Ok(c) => c,
                    Err(e) => break Err(e),
                };
            let data = chunk.get("data").and_then(Value::as_str).unwrap_or("");
            let bytes = if chunk.get("base64Encoded").and_then(Value::as_bool) == Some(true) {
                match base64::engine::general_purpose::STANDARD.decode(data) {
                    Ok(b) => b,
                    Err(_) => break Err(Error::fetch("the browser sent a malformed PDF chunk")),
                }
            } else {
                data.as_bytes().to_vec()
            };
            pdf.extend_from_slice(&bytes);
            if pdf.len() as u64 > self.limits.max_pdf_bytes {
                break Err(Error::fetch(format!(
                    "the PDF print is over the cap of {} bytes",
                    self.limits.max_pdf_bytes
                )));
            }
            if chunk.get("eof").and_then(Value::as_bool) == Some(true) {
                break Ok(());
            }
        };
        let _ = self.send(s, "IO.close", json!({ "handle": stream }));
        result.map(|()| pdf)
    }

    /// Ends the capture: requests still pending are failed in the browser and recorded.
    fn finish(&mut self) {
        self.jobs.take();
        let now = self.now_ms();
        let mut pending: Vec<usize> = self.inflight.keys().copied().collect();
        pending.sort();
        for seq in pending {
            if let Some(f) = self.inflight.remove(&seq) {
                let failure = FetchFailure::new(
                    FailureKind::StillPending,
                    "still pending when the capture ended",
                );
                self.conn.call_then(
                    Some(&f.session),
                    "Fetch.failRequest",
                    json!({ "requestId": f.request_id, "errorReason": "Aborted" }),
                    |_| {},
                );
                if let Some(e) = self.exchanges.get_mut(seq) {
                    e.outcome = Outcome::Failed(failure);
                    e.duration_ms = now.saturating_sub(e.started_ms);
                }
            }
        }
    }

    fn event(&mut self, kind: EventKind, url: &str, detail: &str) {
        if self.events.len() < MAX_EVENTS {
            let at_ms = self.now_ms();
            self.events.push(PageEvent {
                kind,
                url: safe_url(url),
                detail: clip(detail, 1024),
                at_ms,
            });
        }
    }

    fn limit_reached(&mut self, which: &'static str) {
        if self.limit_noted.insert(which) {
            self.event(EventKind::LimitReached, "", which);
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Cdp(ev) => self.on_event(ev),
            Msg::Fetched { seq, result } => self.on_fetched(seq, result),
            Msg::Answered {
                seq,
                fulfilled,
                reply,
            } => {
                if let Err(CallError::Remote(r)) = reply {
                    if let Some(e) = self.exchanges.get_mut(seq) {
                        e.browser_error = Some(clip(&r.message, 300));
                    }
                    // A refused response leaves the request paused: fail it, or the page waits
                    // for it forever.
                    if let Some(f) = fulfilled {
                        self.conn.call_then(
                            Some(&f.session),
                            "Fetch.failRequest",
                            json!({ "requestId": f.request_id, "errorReason": "Failed" }),
                            |_| {},
                        );
                    }
                }
            }
            Msg::Reply { token, reply } => {
                self.replies.insert(token, reply);
            }
        }
    }

    fn on_event(&mut self, ev: Event) {
        let session = ev.session.clone().unwrap_or_default();
        let is_page = session == self.session;
        let p = &ev.params;
        let text = |ptr: &str| p.pointer(ptr).and_then(Value::as_str).unwrap_or("");
        match ev.method.as_str() {
            "Fetch.requestPaused" => self.on_paused(&session, p),
            "Page.frameStartedLoading" if is_page && text("/frameId") == self.main_frame => {
                self.loading = true;
            }
            "Page.frameStoppedLoading" if is_page && text("/frameId") == self.main_frame => {
                self.loading = false;
                self.stopped_at.get_or_insert_with(Instant::now);
                self.last_activity = Instant::now();
            }
            "Page.frameNavigated" if is_page && p.pointer("/frame/parentId").is_none() => {
                self.committed = true;
            }
            "Page.domContentEventFired" if is_page => self.dcl = Some(self.now_ms()),
            "Page.loadEventFired" if is_page => self.load = Some(self.now_ms()),
            "Page.javascriptDialogOpening" => {
                let detail = format!("{}: {}", text("/type"), text("/message"));
                let url = text("/url").to_string();
                self.event(EventKind::Dialog, &url, &detail);
                self.conn.call_then(
                    Some(&session),
                    "Page.handleJavaScriptDialog",
                    json!({ "accept": false }),
                    |_| {},
                );
            }
            "Page.windowOpen" => {
                let url = text("/url").to_string();
                self.event(EventKind::Popup, &url, "window not opened");
            }
            "Page.downloadWillBegin" | "Browser.downloadWillBegin" => {
                let (url, name) = (text("/url").to_string(), text("/suggestedFilename"));
                self.event(EventKind::Download, &url, &format!("denied: {name}"));
            }
            "Network.webSocketCreated" => {
                let url = text("/url").to_string();
                self.event(EventKind::WebSocket, &url, "blocked");
            }
            "Network.requestWillBeSent" if self.net_urls.len() < MAX_TRACKED => {
                let id = text("/requestId").to_string();
                let url = text("/request/url").to_string();
                self.net_urls.insert(id, url);
            }
            "Network.loadingFailed" => {
                let id = text("/requestId");
                if !self.paused_net_ids.contains(id) && text("/type") != "WebSocket" {
                    let url = self.net_urls.get(id).cloned().unwrap_or_default();
                    let detail = match (text("/errorText"), text("/blockedReason")) {
                        (e, "") => e.to_string(),
                        ("", r) => format!("blocked ({r})"),
                        (e, r) => format!("{e} ({r})"),
                    };
                    self.event(EventKind::BrowserBlocked, &url, &detail);
                }
            }
            "Target.attachedToTarget" => self.on_attached(p),
            "Inspector.targetCrashed" if is_page => {
                self.fatal.get_or_insert_with(|| {
                    Error::fetch("the page crashed the browser's renderer (out of memory?)")
                        .hint("the page may be too large to render; capture it without the browser")
                });
            }
            "Inspector.detached" if is_page => {
                self.fatal.get_or_insert_with(|| {
                    Error::fetch(format!("the browser closed the page ({})", text("/reason")))
                });
            }
            _ => {}
        }
    }

    fn on_attached(&mut self, p: &Value) {
        let Some(child) = p.get("sessionId").and_then(Value::as_str) else {
            return;
        };
        let kind = p
            .pointer("/targetInfo/type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let url = p
            .pointer("/targetInfo/url")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        // A new frame or worker is about to fetch: the page is not quiet yet.
        self.last_activity = Instant::now();
        if self.child_types.len() < MAX_TRACKED {
            self.child_types.insert(child.to_string(), kind.clone());
        }
        let c = Some(child);
        if kind == "service_worker" {
            self.event(
                EventKind::ServiceWorker,
                &url,
                "blocked: its script is not fetched",
            );
        }
        // Every child (iframe in another process, worker, service worker) is intercepted like
        // the page before it may run; the commands are sent in order on one pipe.
        self.conn
            .call_then(c, "Fetch.enable", fetch_patterns(), |_| {});
        if kind == "iframe" {
            self.conn.call_then(c, "Page.enable", json!({}), |_| {});
        }
        self.conn.call_then(
            c,
            "Network.enable",
            json!({ "maxTotalBufferSize": 0, "maxResourceBufferSize": 0 }),
            |_| {},
        );
        self.conn.call_then(
            c,
            "Target.setAutoAttach",
            json!({ "autoAttach": true, "waitForDebuggerOnStart": true, "flatten": true }),
            |_| {},
        );
        self.conn
            .call_then(c, "Runtime.runIfWaitingForDebugger", json!({}), |_| {});
    }

    fn fail(&mut self, seq: usize, session: &str, request_id: &str, failure: FetchFailure) {
        let reason = failure.kind.error_reason();
        let tx = Mutex::new(self.tx.clone());
        self.conn.call_then(
            Some(session),
            "Fetch.failRequest",
            json!({ "requestId": request_id, "errorReason": reason }),
            move |reply| {
                let _ = tx
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .send(Msg::Answered {
                        seq,
                        fulfilled: None,
                        reply,
                    });
            },
        );
        let now = self.now_ms();
        if let Some(e) = self.exchanges.get_mut(seq) {
            e.outcome = Outcome::Failed(failure);
            e.duration_ms = now.saturating_sub(e.started_ms);
        }
    }

    fn on_paused(&mut self, session: &str, p: &Value) {
        self.last_activity = Instant::now();
        let text = |ptr: &str| p.pointer(ptr).and_then(Value::as_str).unwrap_or("");
        let request_id = text("/requestId").to_string();
        if request_id.is_empty() {
            return;
        }
        if let Some(n) = p.get("networkId").and_then(Value::as_str) {
            if self.paused_net_ids.len() < MAX_TRACKED {
                self.paused_net_ids.insert(n.to_string());
            }
        }
        let raw_url = text("/request/url");
        let fragment = text("/request/urlFragment");
        let method = clip(text("/request/method"), 64);
        let resource_type = clip(text("/resourceType"), 64);
        let is_nav = session == self.session
            && resource_type == "Document"
            && text("/frameId") == self.main_frame;
        let mut headers: Vec<(String, String)> = p
            .pointer("/request/headers")
            .and_then(Value::as_object)
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        headers.sort_by_key(|h| h.0.to_ascii_lowercase());
        let body = post_body(p);
        let parsed = url::Url::parse(&format!("{raw_url}{fragment}"));
        let shown = match &parsed {
            Ok(u) => crate::capture::without_userinfo(u).to_string(),
            Err(_) => safe_url(raw_url),
        };
        let seq = self.exchanges.len();
        self.exchanges.push(Exchange {
            seq,
            url: shown.clone(),
            method: method.clone(),
            resource_type: resource_type.clone(),
            main_frame_navigation: is_nav,
            request_headers: headers.clone(),
            request_body_sha256: body.as_ref().map(|b| hex::encode(Sha256::digest(b))),
            started_ms: self.now_ms(),
            duration_ms: 0,
            outcome: Outcome::Failed(FetchFailure::new(FailureKind::StillPending, "pending")),
            browser_error: None,
        });

        let refuse = |kind, msg: String| Some(FetchFailure::new(kind, msg));
        let child_type = self.child_types.get(session).map(String::as_str);
        let refusal = match &parsed {
            Err(_) => refuse(FailureKind::Blocked, "not a valid URL".into()),
            Ok(u) if !matches!(u.scheme(), "http" | "https") => refuse(
                FailureKind::Blocked,
                format!("the {} scheme is not fetched", u.scheme()),
            ),
            Ok(u) if !u.username().is_empty() || u.password().is_some() => refuse(
                FailureKind::Blocked,
                "a URL with a user name or password is not fetched".into(),
            ),
            Ok(_) if child_type == Some("service_worker") => {
                refuse(FailureKind::Blocked, "service workers are blocked".into())
            }
            Ok(_) => None,
        };
        if let Some(f) = refusal {
            return self.fail(seq, session, &request_id, f);
        }
        if is_nav {
            self.navigations += 1;
            if self.navigations > self.limits.max_navigations {
                self.limit_reached("navigations");
                let n = self.limits.max_navigations;
                self.fatal.get_or_insert_with(|| {
                    Error::fetch(format!(
                        "the page navigated more than {n} times (a redirect loop?); nothing was captured"
                    ))
                    .hint("open the page in a browser to see where it keeps redirecting")
                });
                let f = FetchFailure::new(
                    FailureKind::LimitReached,
                    format!("more than {n} navigations"),
                );
                return self.fail(seq, session, &request_id, f);
            }
        }
        let answered = self.exchanges.len() - 1;
        if answered >= self.limits.max_resources {
            self.limit_reached("resources");
            let f = FetchFailure::new(
                FailureKind::LimitReached,
                format!("more than {} requests", self.limits.max_resources),
            );
            return self.fail(seq, session, &request_id, f);
        }
        if self.bytes >= self.limits.max_total_bytes {
            self.limit_reached("bytes");
            let f = FetchFailure::new(
                FailureKind::LimitReached,
                format!(
                    "the page's {} bytes are used up",
                    self.limits.max_total_bytes
                ),
            );
            return self.fail(seq, session, &request_id, f);
        }
        let request = BrowserRequest {
            url: shown,
            method,
            headers,
            body,
            resource_type,
            deadline: self.deadline,
            max_body_bytes: self.limits.max_total_bytes - self.bytes,
        };
        self.inflight.insert(
            seq,
            Inflight {
                session: session.to_string(),
                request_id,
            },
        );
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(Job { seq, request });
        }
    }

    fn on_fetched(
        &mut self,
        seq: usize,
        result: std::thread::Result<std::result::Result<BrowserResponse, FetchFailure>>,
    ) {
        self.last_activity = Instant::now();
        // Already given up on (still pending at the end): the answer is not wanted.
        let Some(flight) = self.inflight.remove(&seq) else {
            return;
        };
        let result = match result {
            Ok(r) => r,
            Err(panic) => {
                self.panic.get_or_insert(panic);
                return;
            }
        };
        let response = match result {
            Ok(r) => r,
            Err(f) => return self.fail(seq, &flight.session, &flight.request_id, f),
        };
        if !(200..=599).contains(&response.status) {
            let f = FetchFailure::new(
                FailureKind::Other,
                format!("status {} cannot be given to the browser", response.status),
            );
            return self.fail(seq, &flight.session, &flight.request_id, f);
        }
        let size = response.body.len() as u64;
        if self.bytes + size > self.limits.max_total_bytes {
            self.limit_reached("bytes");
            let f = FetchFailure::new(
                FailureKind::LimitReached,
                format!(
                    "a body of {size} bytes would pass the page's {} bytes",
                    self.limits.max_total_bytes
                ),
            );
            return self.fail(seq, &flight.session, &flight.request_id, f);
        }
        if let Some((name, _)) = response
            .headers
            .iter()
            .find(|(n, v)| !is_token(n) || v.iter().any(|b| matches!(b, 0 | b'\r' | b'\n')))
        {
            // Headers reach the browser NUL-separated: one with a NUL, CR or LF in it could add
            // a header that is not in the record.
            let f = FetchFailure::new(
                FailureKind::Other,
                format!("malformed response header {:?}", clip(name, 100)),
            );
            return self.fail(seq, &flight.session, &flight.request_id, f);
        }
        self.bytes += size;
        let sha256 = hex::encode(Sha256::digest(&response.body));
        let mut wire = Vec::new();
        for (name, value) in &response.headers {
            if WIRE_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                continue;
            }
            wire.extend_from_slice(name.as_bytes());
            wire.extend_from_slice(b": ");
            wire.extend_from_slice(value);
            wire.push(0);
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        let tx = Mutex::new(self.tx.clone());
        let again = Inflight {
            session: flight.session.clone(),
            request_id: flight.request_id.clone(),
        };
        self.conn.call_then(
            Some(&flight.session),
            "Fetch.fulfillRequest",
            json!({
                "requestId": flight.request_id,
                "responseCode": response.status,
                "binaryResponseHeaders": b64.encode(&wire),
                "body": b64.encode(&response.body),
            }),
            move |reply| {
                let _ = tx
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .send(Msg::Answered {
                        seq,
                        fulfilled: Some(again),
                        reply,
                    });
            },
        );
        let now = self.now_ms();
        if let Some(e) = self.exchanges.get_mut(seq) {
            e.outcome = Outcome::Response {
                status: response.status,
                headers: response.headers,
                body_size: size,
                sha256,
            };
            e.duration_ms = now.saturating_sub(e.started_ms);
        }
    }
}

/// An HTTP header name (RFC 9110 token).
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A URL as it may be recorded: without user name and password, bounded.
fn safe_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(u) => clip(crate::capture::without_userinfo(&u).as_str(), 2048),
        Err(_) => clip(&crate::capture::mask_userinfo(raw), 2048),
    }
}

/// The request body: `postDataEntries` (exact bytes, base64) when present, else `postData`.
fn post_body(p: &Value) -> Option<Vec<u8>> {
    if let Some(entries) = p
        .pointer("/request/postDataEntries")
        .and_then(Value::as_array)
    {
        let mut body = Vec::new();
        for e in entries {
            if let Some(b) = e.get("bytes").and_then(Value::as_str) {
                body.extend(
                    base64::engine::general_purpose::STANDARD
                        .decode(b)
                        .unwrap_or_default(),
                );
            }
        }
        return Some(body);
    }
    p.pointer("/request/postData")
        .and_then(Value::as_str)
        .map(|s| s.as_bytes().to_vec())
}

fn decode_b64(v: &Value, key: &str, what: &str) -> Result<Vec<u8>> {
    let data = str_field(v, key)?;
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| Error::fetch(format!("the browser sent a malformed {what}")))
}
