//! A small Chrome DevTools Protocol client over `--remote-debugging-pipe`.
//!
//! Chromium reads commands from its fd 3 and writes replies and events to its fd 4, each message
//! one JSON object followed by a NUL byte: no port, no HTTP, no websocket. Everything Chromium
//! writes is untrusted input (it relays strings chosen by the pages it renders, and a bug or a
//! compromised browser can write anything), so the two parsers here, [`Framer`] (bytes to
//! frames) and [`Message::parse`] (a frame to a message), bound every size, never panic and are
//! fuzzed (fuzz/fuzz_targets/cdp_message.rs) and property-tested.
//!
//! [`Connection`] multiplexes one pipe between many callers: commands are numbered, a reader
//! thread hands each reply to the caller waiting for that number and each event to the handler
//! registered for its session (flat sessions: `sessionId` on the message). Writes go through a
//! writer thread, so a browser that stops reading can never block a caller past its timeout.

use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

/// Largest message accepted from the browser. The largest legitimate ones carry a base64 PNG
/// screenshot (bounded by the screenshot height cap) or a DOM serialization (bounded by the DOM
/// cap); PDF bytes are read in chunks. A longer frame ends the connection.
pub const MAX_MESSAGE: usize = 256 << 20;

/// Splits the byte stream from the browser into NUL-terminated frames.
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    /// How much of `buf` is known to hold no NUL (so each byte is scanned once).
    scanned: usize,
    max: usize,
}

/// A frame longer than the framer's limit: the stream cannot be resynchronised safely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameTooLong {
    pub limit: usize,
}

impl std::fmt::Display for FrameTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a DevTools message longer than {} bytes", self.limit)
    }
}

impl Framer {
    pub fn new(max: usize) -> Framer {
        Framer {
            buf: Vec::new(),
            scanned: 0,
            max,
        }
    }

    /// Appends `data`; every complete frame (without its NUL) goes to `out`, in order.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), FrameTooLong> {
        self.buf.extend_from_slice(data);
        let mut start = 0;
        loop {
            let from = self.scanned.max(start);
            match self.buf[from..].iter().position(|&b| b == 0) {
                Some(i) => {
                    let end = from + i;
                    if end - start > self.max {
                        return Err(FrameTooLong { limit: self.max });
                    }
                    out.push(self.buf[start..end].to_vec());
                    start = end + 1;
                    self.scanned = start;
                }
                None => {
                    self.buf.drain(..start);
                    self.scanned = self.buf.len();
                    if self.buf.len() > self.max {
                        return Err(FrameTooLong { limit: self.max });
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Bytes of an unfinished frame held back.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// One message from the browser.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// The reply to command `id`.
    Reply {
        id: u64,
        result: Result<Value, RemoteError>,
    },
    /// An event, on the browser session (`session` is `None`) or a target's flat session.
    Event(Event),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub method: String,
    pub params: Value,
    pub session: Option<String>,
}

/// An error reply: the browser refused or failed the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteError {
    pub code: i64,
    pub message: String,
}

/// Why a frame is not a DevTools message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadMessage(pub String);

impl std::fmt::Display for BadMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed DevTools message: {}", self.0)
    }
}

/// Longest method name or session ID accepted (real ones are under 100 bytes).
const MAX_NAME: usize = 256;
/// Longest error message kept from an error reply.
const MAX_ERROR_TEXT: usize = 1024;

impl Message {
    /// Parses one frame: a JSON object that is either a reply (`id` and exactly one of `result`
    /// or `error`) or an event (`method`, optional `params` object, optional `sessionId`).
    /// Anything else is refused; nothing here panics or allocates beyond the frame's size.
    pub fn parse(frame: &[u8]) -> Result<Message, BadMessage> {
        let bad = |s: &str| BadMessage(s.to_string());
        // serde_json bounds nesting (128 levels), so a deep frame cannot exhaust the stack.
        let value: Value =
            serde_json::from_slice(frame).map_err(|e| BadMessage(format!("not JSON: {e}")))?;
        let Value::Object(mut obj) = value else {
            return Err(bad("not a JSON object"));
        };
        let session = match obj.remove("sessionId") {
            None => None,
            Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_NAME => Some(s),
            Some(_) => return Err(bad("sessionId is not a short non-empty string")),
        };
        if let Some(id) = obj.remove("id") {
            let id = id
                .as_u64()
                .ok_or_else(|| bad("id is not an unsigned integer"))?;
            if obj.contains_key("method") {
                return Err(bad("a message with both id and method"));
            }
            let result = match (obj.remove("result"), obj.remove("error")) {
                (Some(r @ Value::Object(_)), None) => Ok(r),
                (Some(_), None) => return Err(bad("result is not an object")),
                (None, Some(Value::Object(e))) => Err(remote_error(&e)?),
                (None, Some(_)) => return Err(bad("error is not an object")),
                (Some(_), Some(_)) => return Err(bad("a reply with both result and error")),
                (None, None) => return Err(bad("a reply without result or error")),
            };
            return Ok(Message::Reply { id, result });
        }
        let method = match obj.remove("method") {
            Some(Value::String(m)) if is_method_name(&m) => m,
            Some(_) => return Err(bad("method is not a Domain.name string")),
            None => return Err(bad("neither id nor method")),
        };
        let params = match obj.remove("params") {
            None => Value::Object(Map::new()),
            Some(p @ Value::Object(_)) => p,
            Some(_) => return Err(bad("params is not an object")),
        };
        Ok(Message::Event(Event {
            method,
            params,
            session,
        }))
    }

    /// The frame (without the NUL) this message is parsed from, in one canonical spelling.
    pub fn to_frame(&self) -> Vec<u8> {
        let mut obj = Map::new();
        match self {
            Message::Reply { id, result } => {
                obj.insert("id".into(), Value::from(*id));
                match result {
                    Ok(v) => obj.insert("result".into(), v.clone()),
                    Err(e) => obj.insert(
                        "error".into(),
                        serde_json::json!({"code": e.code, "message": e.message}),
                    ),
                };
            }
            Message::Event(ev) => {
                obj.insert("method".into(), Value::from(ev.method.clone()));
                obj.insert("params".into(), ev.params.clone());
                if let Some(s) = &ev.session {
                    obj.insert("sessionId".into(), Value::from(s.clone()));
                }
            }
        }
        serde_json::to_vec(&Value::Object(obj)).expect("serializing a JSON value")
    }
}

fn remote_error(e: &Map<String, Value>) -> Result<RemoteError, BadMessage> {
    let code = e
        .get("code")
        .and_then(Value::as_i64)
        .ok_or_else(|| BadMessage("error.code is not an integer".into()))?;
    let message = e
        .get("message")
        .and_then(Value::as_str)
        .ok_or_else(|| BadMessage("error.message is not a string".into()))?;
    Ok(RemoteError {
        code,
        message: clip(message, MAX_ERROR_TEXT),
    })
}

/// `Domain.method`: ASCII letters, digits and one dot between non-empty parts.
pub fn is_method_name(m: &str) -> bool {
    let Some((domain, name)) = m.split_once('.') else {
        return false;
    };
    m.len() <= MAX_NAME
        && !domain.is_empty()
        && !name.is_empty()
        && m.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.')
        && !name.contains('.')
}

/// At most `max` bytes of `s`, cut on a character boundary, control characters replaced: text
/// from the browser is shown in one-line errors and recorded.
pub fn clip(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end]
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Why a command got no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The browser answered with an error.
    Remote(RemoteError),
    /// No answer within the time given.
    Timeout,
    /// The pipe is closed: the browser exited, crashed or was killed, or sent garbage.
    Closed(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Remote(e) => write!(f, "{} (code {})", e.message, e.code),
            CallError::Timeout => f.write_str("no answer in time"),
            CallError::Closed(why) => write!(f, "the connection to the browser closed: {why}"),
        }
    }
}

pub type Reply = Result<Value, CallError>;

/// What receives a session's events. Events of sessions auto-attached from it (iframes, workers)
/// go to the same handler.
pub type Handler = Arc<dyn Fn(Event) + Send + Sync>;

enum Waiter {
    Channel(mpsc::Sender<Reply>),
    Callback(Box<dyn FnOnce(Reply) + Send>),
}

impl Waiter {
    fn deliver(self, reply: Reply) {
        match self {
            Waiter::Channel(tx) => {
                let _ = tx.send(reply);
            }
            Waiter::Callback(f) => f(reply),
        }
    }
}

#[derive(Default)]
struct State {
    waiting: HashMap<u64, Waiter>,
    /// Event handlers by session ID; the browser session's under "".
    routes: HashMap<String, Handler>,
    /// Child session -> the session it was auto-attached from, for removing the whole family.
    parents: HashMap<String, String>,
    closed: Option<String>,
}

/// One pipe to one browser, shared by every capture running in it.
pub struct Connection {
    state: Mutex<State>,
    next_id: AtomicU64,
    outbox: Mutex<Option<mpsc::Sender<Vec<u8>>>>,
    dead: AtomicBool,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    // A handler that panicked must not take the connection down with it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Connection {
    /// Starts the reader and writer threads on the browser's fds: `to_browser` is the write end
    /// of its fd 3, `from_browser` the read end of its fd 4.
    pub fn start(to_browser: File, from_browser: File) -> std::io::Result<Arc<Connection>> {
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        let conn = Arc::new(Connection {
            state: Mutex::new(State::default()),
            next_id: AtomicU64::new(1),
            outbox: Mutex::new(Some(tx)),
            dead: AtomicBool::new(false),
        });
        let writer = Arc::downgrade(&conn);
        thread::Builder::new()
            .name("exhibit-cdp-writer".into())
            .spawn(move || {
                let mut pipe = to_browser;
                for frame in rx {
                    if let Err(e) = pipe.write_all(&frame).and_then(|_| pipe.flush()) {
                        if let Some(c) = writer.upgrade() {
                            c.close(format!("writing to the browser failed: {e}"));
                        }
                        return;
                    }
                }
            })?;
        let reader = Arc::downgrade(&conn);
        thread::Builder::new()
            .name("exhibit-cdp-reader".into())
            .spawn(move || read_loop(from_browser, reader))?;
        Ok(conn)
    }

    /// Whether the pipe is still open.
    pub fn is_open(&self) -> bool {
        !self.dead.load(Ordering::SeqCst)
    }

    /// Ends the connection: every waiting caller gets `Closed`, every handler is dropped.
    pub fn close(&self, why: String) {
        self.dead.store(true, Ordering::SeqCst);
        let (waiting, routes) = {
            let mut st = lock(&self.state);
            if st.closed.is_none() {
                st.closed = Some(why.clone());
            }
            st.parents.clear();
            (
                std::mem::take(&mut st.waiting),
                std::mem::take(&mut st.routes),
            )
        };
        drop(routes);
        for (_, w) in waiting {
            w.deliver(Err(CallError::Closed(why.clone())));
        }
        self.outbox.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// Sends events of `session` (and of sessions attached from it) to `handler`.
    pub fn route(&self, session: &str, handler: Handler) {
        let mut st = lock(&self.state);
        if st.closed.is_none() {
            st.routes.insert(session.to_string(), handler);
        }
    }

    /// Stops routing `session` and every session attached from it.
    pub fn unroute(&self, session: &str) {
        let mut st = lock(&self.state);
        let mut gone = vec![session.to_string()];
        while let Some(s) = gone.pop() {
            st.routes.remove(&s);
            let children: Vec<String> = st
                .parents
                .iter()
                .filter(|(_, p)| **p == s)
                .map(|(c, _)| c.clone())
                .collect();
            for c in children {
                st.parents.remove(&c);
                gone.push(c);
            }
        }
    }

    /// Sends a command; `waiter` gets its reply (or `Closed`).
    fn send(&self, session: Option<&str>, method: &str, params: Value, waiter: Waiter) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = Map::new();
        msg.insert("id".into(), Value::from(id));
        msg.insert("method".into(), Value::from(method));
        msg.insert("params".into(), params);
        if let Some(s) = session {
            msg.insert("sessionId".into(), Value::from(s));
        }
        let mut frame = serde_json::to_vec(&Value::Object(msg)).expect("serializing JSON");
        frame.push(0);
        {
            let mut st = lock(&self.state);
            if let Some(why) = &st.closed {
                let why = why.clone();
                drop(st);
                return waiter.deliver(Err(CallError::Closed(why)));
            }
            st.waiting.insert(id, waiter);
        }
        let sent = self
            .outbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|tx| tx.send(frame).is_ok());
        if !sent {
            if let Some(w) = lock(&self.state).waiting.remove(&id) {
                w.deliver(Err(CallError::Closed("the writer stopped".into())));
            }
        }
    }

    /// Sends a command and waits at most `timeout` for its result.
    pub fn call(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Reply {
        let (tx, rx) = mpsc::channel();
        self.send(session, method, params, Waiter::Channel(tx));
        match rx.recv_timeout(timeout) {
            Ok(r) => r,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(CallError::Timeout),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(CallError::Closed("the connection ended".into()))
            }
        }
    }

    /// Sends a command without waiting; `done` runs on the reader thread with its reply.
    pub fn call_then(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
        done: impl FnOnce(Reply) + Send + 'static,
    ) {
        self.send(session, method, params, Waiter::Callback(Box::new(done)));
    }

    fn dispatch(&self, msg: Message) {
        match msg {
            Message::Reply { id, result } => {
                let waiter = lock(&self.state).waiting.remove(&id);
                if let Some(w) = waiter {
                    w.deliver(result.map_err(CallError::Remote));
                }
            }
            Message::Event(ev) => {
                let key = ev.session.clone().unwrap_or_default();
                let handler = {
                    let mut st = lock(&self.state);
                    let handler = st.routes.get(&key).cloned();
                    // A child session is routed like its parent before any of its own events
                    // can arrive (they come after this one on the same pipe).
                    if ev.method == "Target.attachedToTarget" && !key.is_empty() {
                        if let (Some(h), Some(child)) =
                            (&handler, ev.params.get("sessionId").and_then(Value::as_str))
                        {
                            if child.len() <= MAX_NAME && !st.routes.contains_key(child) {
                                st.routes.insert(child.to_string(), h.clone());
                                st.parents.insert(child.to_string(), key.clone());
                            }
                        }
                    }
                    handler
                };
                if let Some(h) = handler {
                    h(ev);
                }
            }
        }
    }
}

fn read_loop(mut pipe: File, conn: std::sync::Weak<Connection>) {
    let mut framer = Framer::new(MAX_MESSAGE);
    let mut buf = vec![0u8; 256 * 1024];
    let mut frames = Vec::new();
    let why = loop {
        let n = match pipe.read(&mut buf) {
            Ok(0) => break "the browser closed its end of the pipe".to_string(),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => break format!("reading from the browser failed: {e}"),
        };
        if let Err(e) = framer.push(&buf[..n], &mut frames) {
            break e.to_string();
        }
        let Some(c) = conn.upgrade() else { return };
        for frame in frames.drain(..) {
            match Message::parse(&frame) {
                Ok(msg) => c.dispatch(msg),
                // One bad message means the stream cannot be trusted any more.
                Err(e) => {
                    c.close(e.to_string());
                    return;
                }
            }
        }
    };
    if let Some(c) = conn.upgrade() {
        c.close(why);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frames_of(chunks: &[&[u8]], max: usize) -> Result<Vec<Vec<u8>>, FrameTooLong> {
        let mut f = Framer::new(max);
        let mut out = Vec::new();
        for c in chunks {
            f.push(c, &mut out)?;
        }
        Ok(out)
    }

    #[test]
    fn frames_split_on_nul() {
        let out = frames_of(&[b"{\"a\":1}\0{\"b", b"\":2}\0", b"\0x"], 100).unwrap();
        assert_eq!(
            out,
            vec![b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec(), vec![]]
        );
    }

    #[test]
    fn a_long_frame_is_refused_before_its_end_arrives() {
        let mut f = Framer::new(8);
        let mut out = Vec::new();
        assert!(f.push(b"12345678", &mut out).is_ok());
        assert_eq!(f.push(b"9", &mut out), Err(FrameTooLong { limit: 8 }));
        assert_eq!(
            frames_of(&[b"123456789\0"], 8),
            Err(FrameTooLong { limit: 8 })
        );
        assert_eq!(frames_of(&[b"12345678\0"], 8).unwrap().len(), 1);
    }

    #[test]
    fn replies_and_events() {
        assert_eq!(
            Message::parse(br#"{"id":7,"result":{"x":1},"sessionId":"S"}"#),
            Ok(Message::Reply {
                id: 7,
                result: Ok(serde_json::json!({"x":1}))
            })
        );
        assert_eq!(
            Message::parse(br#"{"id":7,"error":{"code":-32000,"message":"no\nsuch"}}"#),
            Ok(Message::Reply {
                id: 7,
                result: Err(RemoteError {
                    code: -32000,
                    message: "no such".into()
                })
            })
        );
        assert_eq!(
            Message::parse(br#"{"method":"Fetch.requestPaused","sessionId":"AB"}"#),
            Ok(Message::Event(Event {
                method: "Fetch.requestPaused".into(),
                params: serde_json::json!({}),
                session: Some("AB".into())
            }))
        );
    }

    #[test]
    fn malformed_messages_are_refused() {
        for bad in [
            &b""[..],
            b"[]",
            b"{}",
            b"{\"id\":-1,\"result\":{}}",
            b"{\"id\":1.5,\"result\":{}}",
            b"{\"id\":1}",
            b"{\"id\":1,\"result\":{},\"error\":{\"code\":1,\"message\":\"\"}}",
            b"{\"id\":1,\"result\":[]}",
            b"{\"id\":1,\"error\":{\"code\":\"x\",\"message\":\"\"}}",
            b"{\"id\":1,\"method\":\"A.b\",\"result\":{}}",
            b"{\"method\":\"nodot\"}",
            b"{\"method\":\"A.b.c\"}",
            b"{\"method\":\"A.b\",\"params\":[]}",
            b"{\"method\":\"A.b\",\"sessionId\":\"\"}",
            b"{\"method\":\"A.b\",\"sessionId\":5}",
            b"{\"method\":\"A.b\"} trailing",
        ] {
            assert!(
                Message::parse(bad).is_err(),
                "{:?} accepted",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(Message::parse(deep.as_bytes()).is_err());
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-zA-Z]{1,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn message() -> impl Strategy<Value = Message> {
        let params = || {
            prop::collection::btree_map("[a-zA-Z]{1,6}", json_value(), 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect()))
        };
        prop_oneof![
            (any::<u64>(), params()).prop_map(|(id, r)| Message::Reply { id, result: Ok(r) }),
            (any::<u64>(), any::<i64>(), "[ -~]{0,20}").prop_map(|(id, code, message)| {
                Message::Reply {
                    id,
                    result: Err(RemoteError { code, message }),
                }
            }),
            (
                "[A-Z][a-z]{0,8}\\.[a-z][a-zA-Z]{0,12}",
                params(),
                prop::option::of("[0-9A-F]{1,32}")
            )
                .prop_map(|(method, params, session)| Message::Event(Event {
                    method,
                    params,
                    session
                })),
        ]
    }

    proptest! {
        /// Every message survives frame -> parse unchanged.
        #[test]
        fn message_round_trip(m in message()) {
            prop_assert_eq!(Message::parse(&m.to_frame()), Ok(m));
        }

        /// However the stream is cut into reads, the same frames come out.
        #[test]
        fn framing_ignores_read_boundaries(
            msgs in prop::collection::vec(message(), 0..6),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let mut stream = Vec::new();
            for m in &msgs {
                stream.extend_from_slice(&m.to_frame());
                stream.push(0);
            }
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
            points.sort();
            let mut chunks = Vec::new();
            let mut at = 0;
            for p in points {
                chunks.push(&stream[at..p]);
                at = p;
            }
            chunks.push(&stream[at..]);
            let frames = frames_of(&chunks, MAX_MESSAGE).unwrap();
            let parsed: Vec<Message> =
                frames.iter().map(|f| Message::parse(f).unwrap()).collect();
            prop_assert_eq!(parsed, msgs);
        }

        /// Arbitrary bytes: the framer never holds more than its limit, and parsing never
        /// panics.
        #[test]
        fn arbitrary_bytes_are_handled(data in prop::collection::vec(any::<u8>(), 0..512), max in 1usize..64) {
            let mut f = Framer::new(max);
            let mut out = Vec::new();
            match f.push(&data, &mut out) {
                Ok(()) => prop_assert!(f.pending() <= max),
                Err(e) => prop_assert_eq!(e.limit, max),
            }
            for frame in &out {
                prop_assert!(frame.len() <= max);
                let _ = Message::parse(frame);
            }
            let _ = Message::parse(&data);
        }
    }
}
