//! The commit protocol on object storage under races that a real store makes hard to time
//! (archive/remote.rs): a backend wrapper holds, fails or skews single requests of one writer
//! while the objects live in a local directory (LocalBackend, which answers conditional
//! writes as a store does). Found by an adversarial review; each test is the review's scenario
//! with the outcome the protocol promises.
use exhibit::archive::backend::{Backend, LocalBackend, ObjectMeta, PutMode, PutOutcome};
use exhibit::archive::location::S3Location;
use exhibit::archive::remote::{Remote, Segment};
use exhibit::archive::{key_draft, Archive, Layout};
use exhibit::trust::Statement;
use exhibit::Result;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

struct Hook {
    inner: Arc<LocalBackend>,
    /// This writer's clock is ahead: every lease it reads has run out.
    skew: bool,
    /// Hold the checkpoint put until told to go.
    hold: Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>,
    /// The checkpoint put fails (a writer killed / a network error just before the swap).
    fail_cp: bool,
}

impl Hook {
    fn plain(inner: &Arc<LocalBackend>) -> Arc<Hook> {
        Arc::new(Hook {
            inner: inner.clone(),
            skew: false,
            hold: Mutex::new(None),
            fail_cp: false,
        })
    }
}

impl Backend for Hook {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn get(&self, name: &str) -> Result<Option<(Vec<u8>, String)>> {
        let r = self.inner.get(name)?;
        if self.skew && name == "lease" {
            return Ok(r.map(|(b, e)| {
                let t = String::from_utf8_lossy(&b).to_string();
                let mut w: Vec<String> = t.trim_end().split(' ').map(String::from).collect();
                if w.len() == 3 {
                    w[2] = "0".into();
                }
                (format!("{}\n", w.join(" ")).into_bytes(), e)
            }));
        }
        Ok(r)
    }
    fn get_range(&self, name: &str, start: u64, len: u64) -> Result<Vec<u8>> {
        self.inner.get_range(name, start, len)
    }
    fn head(&self, name: &str) -> Result<Option<ObjectMeta>> {
        self.inner.head(name)
    }
    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        self.inner.list(prefix)
    }
    fn put(&self, name: &str, bytes: &[u8], mode: PutMode) -> Result<PutOutcome> {
        if name == "log/checkpoint" {
            if self.fail_cp {
                return Err(exhibit::Error::archive(
                    "simulated: killed before the swap".to_string(),
                ));
            }
            let held = self.hold.lock().unwrap().take();
            if let Some((ready, go)) = held {
                ready.send(()).unwrap();
                go.recv().unwrap();
            }
        }
        self.inner.put(name, bytes, mode)
    }
    fn put_file(&self, name: &str, file: &Path, mode: PutMode) -> Result<PutOutcome> {
        self.inner.put_file(name, file, mode)
    }
    fn delete(&self, name: &str) -> Result<()> {
        self.inner.delete(name)
    }
    fn barrier(&self) -> Result<()> {
        self.inner.barrier()
    }
}

fn loc() -> S3Location {
    S3Location {
        bucket: "b".into(),
        prefix: "p".into(),
    }
}

fn setup(
    layout: Layout,
) -> (
    tempfile::TempDir,
    Arc<LocalBackend>,
    exhibit::keys::SecretKey,
) {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    let local = Arc::new(LocalBackend::open(&store).unwrap());
    let key = exhibit::keys::generate().unwrap();
    let r0 = Arc::new(Remote::with_replica(
        loc(),
        Hook::plain(&local),
        tmp.path().join("r0"),
    ));
    let (_a, created) = r0.init(None, &key, layout).unwrap();
    assert!(created);
    (tmp, local, key)
}

/// A packed archive on the store with one record besides the founding key's, and a writer's
/// replica of it.
fn with_a_record() -> (
    tempfile::TempDir,
    Arc<LocalBackend>,
    exhibit::keys::SecretKey,
    Arc<Remote>,
    Archive,
) {
    let (tmp, local, key) = setup(Layout::Packed);
    let ra = remote(&local, Hook::plain(&local), tmp.path().join("ra"));
    let a = ra.open_archive(1).unwrap();
    commit_one(&a, &key).unwrap();
    (tmp, local, key, ra, a)
}

/// Audit's view of the store from a fresh copy at `dir`: nothing damaged, missing, extra or
/// left over.
fn assert_store_clean(r: &Remote, dir: &Path) {
    let copy = r.with_replica_at(dir.to_path_buf());
    let (archive, head, damaged) = copy.open_for_audit(1).unwrap();
    assert!(damaged.is_empty());
    let problems = copy.audit_objects(&archive, &head).unwrap();
    let shown: Vec<_> = problems.iter().map(|p| (&p.name, &p.what)).collect();
    assert!(problems.is_empty(), "{shown:?}");
}

fn commit_one(a: &Archive, key: &exhibit::keys::SecretKey) -> Result<()> {
    let scratch = a.scratch()?;
    let other = exhibit::keys::generate().unwrap().verifying_key();
    let st = Statement::added(&other, &exhibit::manifest::now(), None);
    let d = key_draft(&scratch, &st)?;
    a.commit(key, &scratch, vec![d]).map(|_| ())
}

fn remote(local: &Arc<LocalBackend>, hook: Arc<Hook>, dir: PathBuf) -> Arc<Remote> {
    let _ = local;
    Arc::new(Remote::with_replica(loc(), hook, dir))
}

fn names(local: &LocalBackend, prefix: &str) -> Vec<String> {
    local
        .list(prefix)
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect()
}

/// Writer A is about to swap the checkpoint when writer B, to whom A's lease looks run out
/// (clock skew, A paused), takes the lease and commits too. Whichever swap lands first wins;
/// the other writer reports that nothing was committed; nothing either wrote is deleted before
/// the loser's swap can no longer succeed, so the log stays readable.
#[test]
fn a_late_swap_never_commits_a_log_that_was_cleaned_away() {
    let (tmp, local, key) = setup(Layout::Packed);
    // A writer that commits one record in a thread and stops just before its checkpoint swap;
    // returns its result and the sender that lets the swap go.
    let held_writer = |name: &str, skew: bool| {
        let (ready, wait) = mpsc::channel();
        let (go, recv) = mpsc::channel();
        let hook = Arc::new(Hook {
            inner: local.clone(),
            skew,
            hold: Mutex::new(Some((ready, recv))),
            fail_cp: false,
        });
        let r = remote(&local, hook, tmp.path().join(name));
        let w = r.open_archive(1).unwrap();
        let k = key.clone();
        let t = std::thread::spawn(move || commit_one(&w, &k));
        wait.recv().unwrap();
        (t, go)
    };
    // A's segment and pack are on the store; its swap is held. Then B, to whom A's lease looks
    // run out, takes it and gets as far.
    let (ta, go_a) = held_writer("ra", false);
    let (tb, go_b) = held_writer("rb", true);

    go_a.send(()).unwrap();
    let a_result = ta.join().unwrap();
    go_b.send(()).unwrap();
    let b_result = tb.join().unwrap();
    assert!(
        a_result.is_ok(),
        "{:?}",
        a_result.err().map(|e| e.to_string())
    );
    let err = b_result.expect_err("B's swap is from a checkpoint that is gone");
    assert!(err.to_string().contains("nothing was committed"), "{err}");

    // A fresh reader reads the whole log. A, having swapped, removed B's segment and pack (B's
    // swap was conditional on a checkpoint that was gone), so the store holds only the log.
    let rc = remote(&local, Hook::plain(&local), tmp.path().join("rc"));
    let c = rc.open_archive(1).unwrap();
    assert_eq!(c.log_size().unwrap(), 2);
    assert_store_clean(&rc, &tmp.path().join("audit1"));
    commit_one(&c, &key).unwrap();
    assert_store_clean(&rc, &tmp.path().join("audit2"));
}

/// On object storage only packed archives take records (a loose archive's per-record objects
/// would be leftovers nothing removes): init and commits say so.
#[test]
fn a_loose_archive_takes_no_records_on_a_store() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    let local = Arc::new(LocalBackend::open(&store).unwrap());
    let key = exhibit::keys::generate().unwrap();
    let r = remote(&local, Hook::plain(&local), tmp.path().join("r"));
    let err = r.init(None, &key, Layout::Loose).err().expect("refused");
    assert_eq!(err.kind, exhibit::error::Kind::Usage, "{err}");
    assert!(local.list("").unwrap().iter().all(|m| m.name == "lease"));
}

/// An init whose checkpoint swap failed (killed, network) leaves a config and no checkpoint:
/// that is no archive, and the next init finishes the job; its leftovers are removed.
#[test]
fn an_interrupted_init_is_finished_by_the_next() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    let local = Arc::new(LocalBackend::open(&store).unwrap());
    let key = exhibit::keys::generate().unwrap();
    let hook = Arc::new(Hook {
        inner: local.clone(),
        skew: false,
        hold: Mutex::new(None),
        fail_cp: true,
    });
    let r0 = remote(&local, hook, tmp.path().join("r0"));
    assert!(r0.init(None, &key, Layout::Packed).is_err());
    assert!(!r0.has_archive().unwrap());
    // The same machine (its replica is gone with the failure) and another both succeed.
    let r1 = remote(&local, Hook::plain(&local), tmp.path().join("r0"));
    let (a, created) = r1.init(None, &key, Layout::Packed).unwrap();
    assert!(created);
    commit_one(&a, &key).unwrap();
    assert_store_clean(&r1, &tmp.path().join("audit"));
}

/// Audit's copy lists a missing pack and goes on to the rest (an extra object is still found).
#[test]
fn a_missing_pack_is_listed_and_the_audit_goes_on() {
    let (tmp, local, _key, ra, _a) = with_a_record();
    let pack = names(&local, "packs/").pop().unwrap();
    local.delete(&pack).unwrap();
    local.put("notes.txt", b"extra", PutMode::Create).unwrap();
    let copy = ra.with_replica_at(tmp.path().join("audit"));
    let (archive, head, damaged) = copy.open_for_audit(1).unwrap();
    assert!(
        damaged.iter().any(|p| p.error && p.name == pack),
        "{:?}",
        damaged.iter().map(|p| &p.name).collect::<Vec<_>>()
    );
    let problems = copy.audit_objects(&archive, &head).unwrap();
    assert!(problems.iter().any(|p| p.error && p.name == "notes.txt"));
}

/// A segment whose lengths add up past 2^64 is refused, not a panic.
#[test]
fn hostile_segment_lengths_are_refused() {
    let h = "00".repeat(32);
    let mut seg = format!(
        "exhibit-log-segment/1\nfrom 0 {h}\nto 1 {h}\nleaves 83\nhashes 32\nplaces 0\nkeys {}\n\n",
        u64::MAX
    )
    .into_bytes();
    seg.extend(std::iter::repeat_n(b'x', 83 + 32 - 1));
    assert!(Segment::parse(&seg).is_err());
}

/// A forged segment naming an object that is not the pack its name says: the object is an
/// error, not hidden as an interrupted commit's leftover.
#[test]
fn a_forged_leftover_does_not_hide_an_extra_object() {
    let (tmp, local, key, ra, a) = with_a_record();
    let real = names(&local, "log/segments/").remove(0);
    let real = Segment::parse(&local.get(&real).unwrap().unwrap().0).unwrap();
    let x = exhibit::core::digest::Sha256::of(b"anything at all");
    let forged = Segment {
        from: 0,
        from_root: exhibit::log::merkle::empty_root(),
        to: 1,
        to_root: [7u8; 32],
        leaves: real.leaves[..83].to_vec(),
        hashes: vec![0u8; 32 * exhibit::log::merkle::stored_hash_count(1) as usize],
        places: format!("{x}\n").into_bytes(),
        keys: Vec::new(),
    };
    local
        .put(&forged.name(), &forged.to_bytes(), PutMode::Create)
        .unwrap();
    let stash = format!("packs/{}/{x}.pack", x.shard());
    local
        .put(
            &stash,
            b"arbitrary content, not a pack, not matching its name",
            PutMode::Create,
        )
        .unwrap();
    commit_one(&a, &key).unwrap();
    let copy = ra.with_replica_at(tmp.path().join("audit"));
    let (archive, head, damaged) = copy.open_for_audit(1).unwrap();
    assert!(damaged.is_empty());
    let problems = copy.audit_objects(&archive, &head).unwrap();
    assert!(
        problems.iter().any(|p| p.error && p.name == stash),
        "{:?}",
        problems
            .iter()
            .map(|p| (&p.name, p.error))
            .collect::<Vec<_>>()
    );
}

/// A checkpoint in the bucket that no key of the archive signed: a writer refuses to commit on
/// top of it and writes nothing; once it is restored, writing goes on.
#[test]
fn a_writer_never_signs_on_top_of_a_forged_head() {
    let (_tmp, local, key, _ra, a) = with_a_record();
    let (good, _) = local.get("log/checkpoint").unwrap().unwrap();
    let text = String::from_utf8(good.clone()).unwrap();
    // Another key's signature in place of the archive's (same note, re-signed).
    let body = &text[..text.find("\n\n").unwrap() + 1];
    let other = exhibit::keys::generate().unwrap();
    let cp = exhibit::note::Checkpoint::parse(body).unwrap();
    let forged = exhibit::note::sign_note(body, &cp.origin, &other).unwrap();
    local
        .put("log/checkpoint", forged.as_bytes(), PutMode::Overwrite)
        .unwrap();
    let before = names(&local, "");
    let err = commit_one(&a, &key).expect_err("refused");
    assert_eq!(err.kind, exhibit::error::Kind::Verification, "{err}");
    assert!(err.to_string().contains("does not count"), "{err}");
    assert_eq!(names(&local, ""), before, "nothing was written");
    local
        .put("log/checkpoint", &good, PutMode::Overwrite)
        .unwrap();
    commit_one(&a, &key).unwrap();
}

/// The store put back to an older genuine state (same log, fewer records): a replica that has
/// seen more refuses it on one line naming the rollback, rather than following it.
#[test]
fn a_store_rolled_back_is_refused_not_followed() {
    let (_tmp, local, key, ra, a) = with_a_record();
    let (older, _) = local.get("log/checkpoint").unwrap().unwrap();
    commit_one(&a, &key).unwrap();
    local
        .put("log/checkpoint", &older, PutMode::Overwrite)
        .unwrap();
    let err = ra.open_archive(1).err().expect("refused");
    assert_eq!(err.kind, exhibit::error::Kind::Verification, "{err}");
    assert!(err.to_string().contains("rolled back"), "{err}");
    assert!(err.hint.is_some());
}
