//! The key book: which keys count, from which log position, with which statuses. It is a pure
//! fold over the key records of the log, starting from root keys (the keys pinned by the
//! verifier, or the archive's founding key), and every question "does this signature count?"
//! is answered here.
//!
//! Rules (docs/FORMAT.md section 7.1):
//! - a key record counts only if its signer is in the book at that point and may still sign;
//!   so a key nobody trusted cannot add keys or mark a trusted key compromised;
//! - `added` brings a key in from that log index on: it can sign records after that index and
//!   checkpoints that include that index;
//! - a retired key's earlier signatures keep counting; anything it signs after its retirement
//!   record does not; its checkpoints count up to the tree that ends with the retirement;
//! - a compromised key's signatures fail when made at or after `since`, or when appended to the
//!   log after the compromise record whatever time they claim; none of its checkpoints count;
//!   a key cannot mark itself compromised;
//! - all statuses apply: a retirement recorded after a compromise does not make anything good
//!   again, and a compromise that reaches back in time (`since`) also voids key records the key
//!   signed before it was recorded, and so the keys those records added.

use super::statement::{check_record, Statement, StatusKind};
use crate::keys::{self, PublicKey};
use crate::manifest::Manifest;
use std::collections::{BTreeMap, BTreeSet};

/// How a key came into the book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Introduced {
    /// A root: pinned by the verifier, or the archive's founding (or pre-key-record) key.
    Root,
    /// Added by a key record at `index`, signed by `by`.
    Added {
        index: u64,
        record: String,
        by: String,
    },
}

/// A retirement or compromise of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub kind: StatusKind,
    pub since: jiff::Timestamp,
    pub index: u64,
    pub record: String,
    pub by: String,
}

#[derive(Debug, Clone)]
pub struct KeyEntry {
    pub id: String,
    /// The key, readied for the many signatures an audit checks under it.
    verifier: keys::Verifier,
    pub introduced: Introduced,
    pub statuses: Vec<Status>,
}

impl KeyEntry {
    pub fn key(&self) -> &PublicKey {
        self.verifier.key()
    }
}

/// One key record of the log, as the fold needs it.
pub struct Event<'a> {
    pub index: u64,
    pub manifest: &'a Manifest,
    pub bytes: &'a [u8],
    pub signature: &'a [u8],
    pub statement: &'a Statement,
}

/// Why a signature does not count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("signature file holds {0} bytes, not 64")]
    SignatureLength(usize),
    #[error("signed by key {signer}, which is not {}", if *pinned { "a pinned trusted key, nor a key the pinned keys added" } else { "a key of this archive" })]
    UnknownSigner { signer: String, pinned: bool },
    #[error("signature does not verify under key {0}")]
    BadSignature(String),
    #[error("signed by key {signer} at log index {index}, but that key was only added at log index {added}")]
    BeforeAdded {
        signer: String,
        index: u64,
        added: u64,
    },
    #[error("signed by key {signer} after it was {} (record {record} at log index {at})", match rotated_to { Some(k) => format!("rotated to key {k}"), None => "retired".into() })]
    Retired {
        signer: String,
        record: String,
        at: u64,
        rotated_to: Option<String>,
    },
    #[error("signed by key {signer}, which is compromised since {since} (record {record})")]
    Compromised {
        signer: String,
        since: String,
        record: String,
    },
}

/// Why a key record does not count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventProblem {
    #[error("{0}")]
    Signature(Rejection),
    #[error("{0}")]
    Malformed(String),
    #[error("it is about key {0}, which is not in the book at that point")]
    UnknownKey(String),
    #[error("key {0} cannot mark itself compromised")]
    SelfCompromise(String),
    #[error("a compromise recorded later voids its signature: {0}")]
    VoidedLater(Rejection),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedEvent {
    pub index: u64,
    pub record: String,
    pub problem: EventProblem,
}

#[derive(Debug, Clone)]
pub struct Book {
    entries: BTreeMap<String, KeyEntry>,
    pinned: bool,
    /// Log indexes of the key records that count, in order.
    pub counted: Vec<u64>,
    /// Key records that do not count, and why.
    pub rejected: Vec<RejectedEvent>,
}

impl Book {
    fn new(roots: &[PublicKey], pinned: bool) -> Book {
        let entries = roots
            .iter()
            .map(|k| {
                let id = keys::key_id(k);
                (
                    id.clone(),
                    KeyEntry {
                        id,
                        verifier: keys::Verifier::new(*k),
                        introduced: Introduced::Root,
                        statuses: Vec::new(),
                    },
                )
            })
            .collect();
        Book {
            entries,
            pinned,
            counted: Vec::new(),
            rejected: Vec::new(),
        }
    }

    pub fn pinned(&self) -> bool {
        self.pinned
    }

    pub fn get(&self, id: &str) -> Option<&KeyEntry> {
        self.entries.get(id)
    }

    pub fn keys(&self) -> impl Iterator<Item = &KeyEntry> {
        self.entries.values()
    }

    /// Whether a signature by `signer` on the record at `index`, made at `signed_at`, counts.
    pub fn allows(
        &self,
        signer: &str,
        index: u64,
        signed_at: Option<jiff::Timestamp>,
    ) -> Result<(), Rejection> {
        let Some(e) = self.entries.get(signer) else {
            return Err(Rejection::UnknownSigner {
                signer: signer.into(),
                pinned: self.pinned,
            });
        };
        if let Introduced::Added { index: added, .. } = e.introduced {
            if index <= added {
                return Err(Rejection::BeforeAdded {
                    signer: signer.into(),
                    index,
                    added,
                });
            }
        }
        for s in &e.statuses {
            if index == s.index {
                continue; // the status record itself
            }
            match s.kind {
                StatusKind::Retired if index > s.index => {
                    return Err(Rejection::Retired {
                        signer: signer.into(),
                        record: s.record.clone(),
                        at: s.index,
                        rotated_to: self.rotated_to(signer),
                    })
                }
                StatusKind::Compromised
                    if index > s.index || signed_at.is_none_or(|t| t >= s.since) =>
                {
                    return Err(Rejection::Compromised {
                        signer: signer.into(),
                        since: crate::manifest::format_time(s.since),
                        record: s.record.clone(),
                    })
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Check a signed manifest: its signature under the book's key for its signer, and whether
    /// that key's signature counts at the manifest's log index.
    pub fn check(&self, m: &Manifest, bytes: &[u8], signature: &[u8]) -> Result<(), Rejection> {
        if signature.len() != 64 {
            return Err(Rejection::SignatureLength(signature.len()));
        }
        let Some(e) = self.entries.get(&m.signer) else {
            return Err(Rejection::UnknownSigner {
                signer: m.signer.clone(),
                pinned: self.pinned,
            });
        };
        if !e.verifier.verify(bytes, signature) {
            return Err(Rejection::BadSignature(m.signer.clone()));
        }
        self.allows(&m.signer, m.log_index, m.signed_at.parse().ok())
    }

    /// The keys whose signature on a checkpoint of `size` leaves counts.
    pub fn checkpoint_keys(&self, size: u64) -> Vec<&KeyEntry> {
        self.entries
            .values()
            .filter(|e| match e.introduced {
                Introduced::Added { index, .. } => size > index,
                Introduced::Root => true,
            })
            .filter(|e| {
                e.statuses.iter().all(|s| match s.kind {
                    StatusKind::Retired => size <= s.index + 1,
                    _ => false,
                })
            })
            .collect()
    }

    /// Whether `id` may sign something new: in the book, neither retired nor compromised.
    pub fn may_sign(&self, id: &str) -> Result<(), Rejection> {
        let Some(e) = self.entries.get(id) else {
            return Err(Rejection::UnknownSigner {
                signer: id.into(),
                pinned: self.pinned,
            });
        };
        match e
            .statuses
            .iter()
            .find(|s| s.kind == StatusKind::Compromised)
            .or(e.statuses.first())
        {
            None => Ok(()),
            Some(s) if s.kind == StatusKind::Retired => Err(Rejection::Retired {
                signer: id.into(),
                record: s.record.clone(),
                at: s.index,
                rotated_to: self.rotated_to(id),
            }),
            Some(s) => Err(Rejection::Compromised {
                signer: id.into(),
                since: crate::manifest::format_time(s.since),
                record: s.record.clone(),
            }),
        }
    }

    /// The key `id` handed over to when it was retired: a rotation (`exhibit keys rotate`) is the
    /// key adding its successor and then retiring itself, two consecutive records it signed.
    pub fn rotated_to(&self, id: &str) -> Option<String> {
        let retirement = self
            .entries
            .get(id)?
            .statuses
            .iter()
            .find(|s| s.kind == StatusKind::Retired && s.by == id)?;
        self.entries.values().find_map(|e| match &e.introduced {
            Introduced::Added { index, by, .. } if by == id && index + 1 == retirement.index => {
                Some(e.id.clone())
            }
            _ => None,
        })
    }

    /// Apply one key record, or say why it does not count.
    fn apply(&mut self, ev: &Event) -> Result<(), EventProblem> {
        let m = ev.manifest;
        self.check(m, ev.bytes, ev.signature)
            .map_err(EventProblem::Signature)?;
        check_record(m, ev.statement).map_err(EventProblem::Malformed)?;
        let st = ev.statement;
        match st.status {
            StatusKind::Added => {
                let key = st
                    .public_key()
                    .ok_or_else(|| EventProblem::Malformed("no public key".into()))?;
                match self.entries.get(&st.key) {
                    // Already trusted (a pinned key's own founding record): nothing to add.
                    Some(e) if *e.key() == key => {}
                    Some(_) => {
                        return Err(EventProblem::Malformed(format!(
                            "key ID {} is already taken by another key",
                            st.key
                        )))
                    }
                    None => {
                        self.entries.insert(
                            st.key.clone(),
                            KeyEntry {
                                id: st.key.clone(),
                                verifier: keys::Verifier::new(key),
                                introduced: Introduced::Added {
                                    index: ev.index,
                                    record: m.record_id.clone(),
                                    by: m.signer.clone(),
                                },
                                statuses: Vec::new(),
                            },
                        );
                    }
                }
            }
            StatusKind::Retired | StatusKind::Compromised => {
                if st.status == StatusKind::Compromised && m.signer == st.key {
                    return Err(EventProblem::SelfCompromise(st.key.clone()));
                }
                let Some(e) = self.entries.get_mut(&st.key) else {
                    return Err(EventProblem::UnknownKey(st.key.clone()));
                };
                e.statuses.push(Status {
                    kind: st.status,
                    since: st.since_time(),
                    index: ev.index,
                    record: m.record_id.clone(),
                    by: m.signer.clone(),
                });
            }
        }
        Ok(())
    }
}

/// Fold the key records (in log order) over the root keys.
pub fn fold(roots: &[PublicKey], pinned: bool, events: &[Event]) -> Book {
    let mut voided: BTreeMap<u64, Rejection> = BTreeMap::new();
    loop {
        let mut book = Book::new(roots, pinned);
        for ev in events {
            if let Some(why) = voided.get(&ev.index) {
                book.rejected.push(RejectedEvent {
                    index: ev.index,
                    record: ev.manifest.record_id.clone(),
                    problem: EventProblem::VoidedLater(why.clone()),
                });
                continue;
            }
            match book.apply(ev) {
                Ok(()) => book.counted.push(ev.index),
                Err(problem) => book.rejected.push(RejectedEvent {
                    index: ev.index,
                    record: ev.manifest.record_id.clone(),
                    problem,
                }),
            }
        }
        // A compromise recorded later can reach back (`since`) to key records counted above.
        // Drop those and fold again; every round drops at least one record, so this ends.
        let counted: BTreeSet<u64> = book.counted.iter().copied().collect();
        let mut newly = false;
        for ev in events.iter().filter(|e| counted.contains(&e.index)) {
            let m = ev.manifest;
            if let Err(why) = book.allows(&m.signer, m.log_index, m.signed_at.parse().ok()) {
                voided.insert(ev.index, why);
                newly = true;
            }
        }
        if !newly {
            return book;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;
    use crate::manifest::Method;
    use proptest::prelude::*;

    fn secret(seed: u8) -> SecretKey {
        SecretKey::from_bytes(&[seed; 32])
    }

    struct Rec {
        m: Manifest,
        bytes: Vec<u8>,
        sig: Vec<u8>,
        st: Statement,
    }

    fn rec(index: u64, signer: &SecretKey, st: Statement, signed_at: &str) -> Rec {
        let id = crate::record_id::RecordId::from_bits(index * 7919 + 13).to_string();
        let m = Manifest::for_test(
            Method::Key,
            id,
            index,
            format!("exhibit:key/{}", st.key),
            signed_at,
            ("0".repeat(64), 1),
            keys::key_id(&signer.verifying_key()),
        );
        let bytes = m.to_bytes();
        let sig = keys::sign(signer, &bytes).to_vec();
        Rec { m, bytes, sig, st }
    }

    fn events(recs: &[Rec]) -> Vec<Event<'_>> {
        recs.iter()
            .map(|r| Event {
                index: r.m.log_index,
                manifest: &r.m,
                bytes: &r.bytes,
                signature: &r.sig,
                statement: &r.st,
            })
            .collect()
    }

    const T0: &str = "2026-12-01T00:00:00Z";
    const T1: &str = "2026-12-02T00:00:00Z";
    const T2: &str = "2026-12-03T00:00:00Z";

    fn id(k: &SecretKey) -> String {
        keys::key_id(&k.verifying_key())
    }

    #[test]
    fn rotation_signed_by_the_old_key_is_followed_from_a_pin_on_the_old_key() {
        let (old, new) = (secret(1), secret(2));
        let recs = vec![
            rec(
                0,
                &old,
                Statement::added(&old.verifying_key(), T0, None),
                T0,
            ),
            rec(
                1,
                &old,
                Statement::added(&new.verifying_key(), T1, None),
                T1,
            ),
            rec(
                2,
                &old,
                Statement::status(&id(&old), StatusKind::Retired, T1, None),
                T1,
            ),
        ];
        let book = fold(&[old.verifying_key()], true, &events(&recs));
        assert_eq!(book.counted, vec![0, 1, 2]);
        assert!(book.allows(&id(&new), 3, None).is_ok());
        assert!(
            book.allows(&id(&new), 1, None).is_err(),
            "before it was added"
        );
        let e = book.allows(&id(&old), 3, None).unwrap_err();
        assert!(
            e.to_string()
                .contains(&format!("rotated to key {}", id(&new))),
            "{e}"
        );
        assert!(
            book.allows(&id(&old), 1, None).is_ok(),
            "earlier signatures stay good"
        );
        // Checkpoints: the old key's up to its retirement, the new key's from its addition on.
        let cp = |size| {
            book.checkpoint_keys(size)
                .iter()
                .map(|e| e.id.clone())
                .collect::<Vec<_>>()
        };
        assert!(cp(3).contains(&id(&old)) && cp(3).contains(&id(&new)));
        assert!(!cp(4).contains(&id(&old)));
        assert!(!cp(1).contains(&id(&new)));
    }

    #[test]
    fn a_key_nobody_trusted_changes_nothing() {
        let (pinned, intruder) = (secret(1), secret(9));
        let recs = vec![
            rec(
                0,
                &pinned,
                Statement::added(&pinned.verifying_key(), T0, None),
                T0,
            ),
            // An intruder's key marks the pinned key compromised, and adds itself.
            rec(
                1,
                &intruder,
                Statement::status(&id(&pinned), StatusKind::Compromised, T0, None),
                T1,
            ),
            rec(
                2,
                &intruder,
                Statement::added(&intruder.verifying_key(), T1, None),
                T1,
            ),
        ];
        let book = fold(&[pinned.verifying_key()], true, &events(&recs));
        assert_eq!(book.counted, vec![0]);
        assert_eq!(book.rejected.len(), 2);
        assert!(book.may_sign(&id(&pinned)).is_ok());
        assert!(book.get(&id(&intruder)).is_none());
    }

    #[test]
    fn a_backdated_compromise_voids_keys_the_compromised_key_added() {
        let (a, b, c) = (secret(1), secret(2), secret(3));
        let recs = vec![
            rec(0, &a, Statement::added(&a.verifying_key(), T0, None), T0),
            rec(1, &a, Statement::added(&b.verifying_key(), T0, None), T0),
            // A signs C in at T2 (the thief), then B marks A compromised since T1.
            rec(2, &a, Statement::added(&c.verifying_key(), T2, None), T2),
            rec(
                3,
                &b,
                Statement::status(&id(&a), StatusKind::Compromised, T1, None),
                T2,
            ),
        ];
        let book = fold(&[a.verifying_key()], false, &events(&recs));
        assert_eq!(book.counted, vec![0, 1, 3]);
        assert!(book.get(&id(&c)).is_none(), "the thief's key stays out");
        assert!(matches!(
            book.rejected[0].problem,
            EventProblem::VoidedLater(Rejection::Compromised { .. })
        ));
        assert!(book.allows(&id(&b), 4, None).is_ok());
    }

    #[test]
    fn no_key_compromises_itself_and_retired_keys_stop_signing() {
        let (a, b) = (secret(1), secret(2));
        let recs = vec![
            rec(0, &a, Statement::added(&a.verifying_key(), T0, None), T0),
            rec(
                1,
                &a,
                Statement::status(&id(&a), StatusKind::Compromised, T0, None),
                T0,
            ),
            rec(
                2,
                &a,
                Statement::status(&id(&a), StatusKind::Retired, T0, None),
                T0,
            ),
            rec(3, &a, Statement::added(&b.verifying_key(), T1, None), T1),
        ];
        let book = fold(&[a.verifying_key()], false, &events(&recs));
        assert_eq!(book.counted, vec![0, 2]);
        assert!(matches!(
            book.rejected[0].problem,
            EventProblem::SelfCompromise(_)
        ));
        assert!(matches!(
            book.rejected[1].problem,
            EventProblem::Signature(Rejection::Retired { .. })
        ));
        assert!(book.may_sign(&id(&a)).is_err());
    }

    proptest! {
        /// Whatever key records anyone writes, a key that the roots did not add (directly or
        /// through keys they added) never ends up in the book, and the fold is deterministic.
        #[test]
        fn only_keys_reachable_from_the_roots_count(
            ops in proptest::collection::vec((0u8..4, 0u8..4, 0u8..3, 0u8..3), 0..12)
        ) {
            let ks: Vec<SecretKey> = (1..=4).map(secret).collect();
            let times = [T0, T1, T2];
            let recs: Vec<Rec> = ops.iter().enumerate().map(|(i, &(signer, about, kind, t))| {
                let about_key = &ks[about as usize];
                let st = match kind {
                    0 => Statement::added(&about_key.verifying_key(), times[t as usize], None),
                    1 => Statement::status(&id(about_key), StatusKind::Retired, times[t as usize], None),
                    _ => Statement::status(&id(about_key), StatusKind::Compromised, times[t as usize], None),
                };
                rec(i as u64, &ks[signer as usize], st, times[t as usize])
            }).collect();
            let evs = events(&recs);
            let book = fold(&[ks[0].verifying_key()], true, &evs);
            let again = fold(&[ks[0].verifying_key()], true, &evs);
            prop_assert_eq!(&book.counted, &again.counted);
            // Every key in the book is the root or was added by a counted record signed by a key
            // that was in the book.
            for e in book.keys() {
                match &e.introduced {
                    Introduced::Root => prop_assert_eq!(&e.id, &id(&ks[0])),
                    Introduced::Added { index, by, .. } => {
                        prop_assert!(book.counted.contains(index));
                        prop_assert!(book.get(by).is_some());
                    }
                }
            }
            // Every counted record's signature counts under the final book.
            for r in &recs {
                if book.counted.contains(&r.m.log_index) {
                    prop_assert!(book.check(&r.m, &r.bytes, &r.sig).is_ok());
                }
            }
        }
    }
}
