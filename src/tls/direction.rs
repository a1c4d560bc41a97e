//! Decrypting one direction of a connection into a plaintext file.
//!
//! Owns: walking a direction's records in order, choosing each record's
//! keys (SSL 3.0 to TLS 1.2: each handshake's from the direction's next
//! ChangeCipherSpec on, and the handshake messages under each, from which
//! a renegotiation's keys are made; TLS 1.3: early
//! data, then handshake, then application traffic keys, moved on by
//! EndOfEarlyData, Finished and KeyUpdate, or by the next keys opening a
//! record the current ones cannot, as after rejected early data), writing
//! application data in order, and stopping at the first record that fails
//! authentication, at a gap, or where the bytes stop being TLS.
//!
//! Must not: write a byte of a record that did not authenticate.

use super::cipher::{Failure, RecordCipher};
use super::hello::{self, Messages};
use super::keys::{self, DirectionKeys};
use super::record::{self, End, Reader};
use super::suite::{Protection, Suite};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::Path;

/// The keys one direction needs.
pub enum Plan {
    /// SSL 3.0 to TLS 1.2: the key set of each handshake, the n-th used
    /// from this direction's n-th ChangeCipherSpec on (more than one when
    /// the connection renegotiated).
    Tls12 {
        /// The key sets, in order.
        epochs: Vec<Epoch>,
    },
    /// TLS 1.3: traffic secrets by phase (any may be missing from the log).
    Tls13 {
        /// `CLIENT_EARLY_TRAFFIC_SECRET` (client direction, early data offered).
        early: Option<Vec<u8>>,
        /// True when the client offered early data (its direction starts there).
        early_offered: bool,
        /// The handshake traffic secret.
        handshake: Option<Vec<u8>>,
        /// The first application traffic secret.
        traffic: Option<Vec<u8>>,
    },
}

/// The record protection one SSL 3.0 to TLS 1.2 handshake agreed, for
/// one direction.
#[derive(Debug, Clone)]
pub struct Epoch {
    /// The suite's record protection.
    pub protection: Protection,
    /// The record keys.
    pub keys: DirectionKeys,
    /// RFC 7366 agreed.
    pub encrypt_then_mac: bool,
    /// The protocol version (`0x0300` to `0x0303`).
    pub version: u16,
}

impl Epoch {
    fn cipher(&self) -> Option<RecordCipher> {
        RecordCipher::tls12(
            self.protection,
            self.keys.clone(),
            self.encrypt_then_mac,
            self.version,
        )
    }
}

/// What decrypting a direction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Records opened.
    pub records: u64,
    /// Application data bytes written.
    pub bytes: u64,
    /// TLS 1.3 key updates followed.
    pub key_updates: u64,
    /// Early data bytes written (part of `bytes`).
    pub early_data_bytes: u64,
    /// Records passed over for want of their keys (early data or handshake
    /// secrets missing from the key log).
    pub skipped: u64,
    /// Why decryption stopped before the end of the direction, if it did.
    pub stopped: Option<String>,
    /// TLS 1.3: ALPN protocol from EncryptedExtensions (server direction).
    pub alpn: Option<String>,
}

/// TLS 1.3 phases of a direction's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Early,
    Handshake,
    Traffic,
}

struct Tls13State<'a> {
    suite: &'a Suite,
    phase: Phase,
    early: Option<RecordCipher>,
    handshake: Option<RecordCipher>,
    traffic_secret: Option<Vec<u8>>,
    traffic: Option<RecordCipher>,
    seq: u64,
}

impl Tls13State<'_> {
    fn current(&mut self) -> Option<&mut RecordCipher> {
        self.cipher(self.phase)
    }

    fn next_phase(&self) -> Option<Phase> {
        match self.phase {
            Phase::Early => Some(Phase::Handshake),
            Phase::Handshake => Some(Phase::Traffic),
            Phase::Traffic => None,
        }
    }

    fn cipher(&mut self, p: Phase) -> Option<&mut RecordCipher> {
        match p {
            Phase::Early => self.early.as_mut(),
            Phase::Handshake => self.handshake.as_mut(),
            Phase::Traffic => self.traffic.as_mut(),
        }
    }

    fn enter(&mut self, p: Phase) {
        self.phase = p;
        self.seq = 0;
    }

    fn key_update(&mut self) -> bool {
        let next = self
            .traffic_secret
            .as_ref()
            .and_then(|s| keys::tls13_next_secret(self.suite, s));
        let Some(next) = next else {
            return false;
        };
        self.traffic = keys::tls13_keys(self.suite, &next)
            .and_then(|k| RecordCipher::tls13(self.suite.protection, k));
        self.traffic_secret = Some(next);
        self.seq = 0;
        true
    }
}

fn tls13_cipher(suite: &Suite, secret: &Option<Vec<u8>>) -> Option<RecordCipher> {
    let k = keys::tls13_keys(suite, secret.as_ref()?)?;
    RecordCipher::tls13(suite.protection, k)
}

/// Decrypt the direction in `input` (TLS records from its first byte) with
/// `plan` under `suite`, writing its application data to `output`
/// (created or truncated, never through a link). `gaps` are the
/// direction's zero-filled holes: decryption stops at the first record
/// touching one. I/O errors opening or writing are returned; everything
/// about the bytes themselves is in the [`Outcome`].
pub fn decrypt(
    input: &Path,
    gaps: &[(u64, u64)],
    output: &Path,
    suite: &Suite,
    plan: &Plan,
) -> io::Result<Outcome> {
    let mut reader = Reader::new(BufReader::with_capacity(64 * 1024, File::open(input)?));
    let mut out =
        BufWriter::with_capacity(64 * 1024, crate::output::files::create_truncated(output)?);
    let mut o = Outcome::default();
    match plan {
        Plan::Tls12 { epochs } => {
            tls12(&mut reader, gaps, &mut out, epochs, &mut o)?;
        }
        Plan::Tls13 {
            early,
            early_offered,
            handshake,
            traffic,
        } => {
            let mut st = Tls13State {
                suite,
                phase: if *early_offered {
                    Phase::Early
                } else {
                    Phase::Handshake
                },
                early: tls13_cipher(suite, early),
                handshake: tls13_cipher(suite, handshake),
                traffic: tls13_cipher(suite, traffic),
                traffic_secret: traffic.clone(),
                seq: 0,
            };
            tls13(&mut reader, gaps, &mut out, &mut st, &mut o)?;
        }
    }
    if o.stopped.is_none() {
        match reader.end() {
            Some(End::Truncated(at)) => {
                o.stopped = Some(format!(
                    "the direction ends inside the record at offset {at}"
                ))
            }
            Some(End::NotTls(at)) => {
                o.stopped = Some(format!("bytes at offset {at} are not a TLS record"))
            }
            _ => {}
        }
    }
    out.flush()?;
    Ok(o)
}

fn touches_gap(gaps: &[(u64, u64)], r: &record::Record) -> bool {
    let end = r.offset + 5 + r.body.len() as u64;
    !crate::http::index::gaps_within(gaps, r.offset, end).is_empty()
}

fn auth_failure(r: &record::Record, f: Failure) -> String {
    match f {
        Failure::Authentication => format!("record at offset {} failed authentication", r.offset),
        Failure::Malformed => format!("record at offset {} is malformed", r.offset),
    }
}

fn tls12<R: io::Read>(
    reader: &mut Reader<R>,
    gaps: &[(u64, u64)],
    out: &mut impl Write,
    epochs: &[Epoch],
    o: &mut Outcome,
) -> io::Result<()> {
    let mut walk = Tls12Walk::new(epochs);
    while let Some(r) = reader.next_record()? {
        match walk.step(gaps, &r) {
            Step::Clear => {}
            Step::Stop(why) => {
                o.stopped = Some(why);
                return Ok(());
            }
            Step::Opened(plain) => {
                o.records += 1;
                if plain.content_type == record::APPLICATION_DATA {
                    out.write_all(&plain.data)?;
                    o.bytes += plain.data.len() as u64;
                }
            }
        }
    }
    Ok(())
}

/// A direction's SSL 3.0 to TLS 1.2 records in order, each opened under
/// the key set its ChangeCipherSpec started.
struct Tls12Walk<'a> {
    epochs: &'a [Epoch],
    /// The ChangeCipherSpecs seen.
    changes: usize,
    cipher: Option<RecordCipher>,
    seq: u64,
}

enum Step {
    /// In the clear (before the first ChangeCipherSpec), or a
    /// ChangeCipherSpec.
    Clear,
    /// Opened under the current keys.
    Opened(super::cipher::Plain),
    /// Nothing more can be opened: why.
    Stop(String),
}

impl<'a> Tls12Walk<'a> {
    fn new(epochs: &'a [Epoch]) -> Self {
        Tls12Walk {
            epochs,
            changes: 0,
            cipher: None,
            seq: 0,
        }
    }

    fn step(&mut self, gaps: &[(u64, u64)], r: &record::Record) -> Step {
        if touches_gap(gaps, r) {
            return Step::Stop(format!(
                "the record at offset {} overlaps a gap in the capture",
                r.offset
            ));
        }
        if r.content_type() == record::CHANGE_CIPHER_SPEC {
            let Some(epoch) = self.epochs.get(self.changes) else {
                return Step::Stop(if self.changes == 0 {
                    "no keys for this direction".into()
                } else {
                    format!(
                        "renegotiation at offset {} (a second ChangeCipherSpec) is not followed: no secrets for its handshake",
                        r.offset
                    )
                });
            };
            let Some(c) = epoch.cipher() else {
                return Step::Stop("the keys do not fit the cipher suite".into());
            };
            self.changes += 1;
            self.cipher = Some(c);
            self.seq = 0;
            return Step::Clear;
        }
        let Some(cipher) = self.cipher.as_mut() else {
            return Step::Clear;
        };
        match cipher.open(&r.header, &r.body, self.seq) {
            Ok(p) => {
                self.seq += 1;
                Step::Opened(p)
            }
            Err(f) => Step::Stop(auth_failure(r, f)),
        }
    }
}

/// How many ChangeCipherSpec records the direction in `input` holds (up
/// to `most`), reading record headers only, to where the bytes stop
/// being records.
pub fn change_cipher_specs(input: &Path, most: usize) -> io::Result<usize> {
    let mut reader = Reader::new(BufReader::with_capacity(64 * 1024, File::open(input)?));
    let mut n = 0;
    while let Some(r) = reader.next_record()? {
        if r.content_type() == record::CHANGE_CIPHER_SPEC {
            n += 1;
            if n >= most {
                break;
            }
        }
    }
    Ok(n)
}

/// Handshake messages, each `(type, body)`.
pub type Flight = Vec<(u8, Vec<u8>)>;

/// The handshake messages of an SSL 3.0 to TLS 1.2 direction, by the key
/// set they came under: `[0]` in the clear, `[n]` under `epochs[n - 1]`.
/// Reading stops where [`decrypt`] would (a ChangeCipherSpec without a
/// key set, a record that does not open, a gap), and at the end.
pub fn tls12_handshakes(
    input: &Path,
    gaps: &[(u64, u64)],
    epochs: &[Epoch],
) -> io::Result<Vec<Flight>> {
    let mut reader = Reader::new(BufReader::with_capacity(64 * 1024, File::open(input)?));
    let mut walk = Tls12Walk::new(epochs);
    let mut out: Vec<Flight> = vec![Vec::new()];
    let mut messages = Messages::default();
    while let Some(r) = reader.next_record()? {
        let before = walk.changes;
        let plain = match walk.step(gaps, &r) {
            Step::Stop(_) => break,
            Step::Clear if r.content_type() == record::HANDSHAKE => r.body.clone(),
            Step::Clear => Vec::new(),
            Step::Opened(p) if p.content_type == record::HANDSHAKE => p.data,
            Step::Opened(_) => Vec::new(),
        };
        if walk.changes != before {
            out.push(Vec::new());
            messages = Messages::default();
        }
        let found = messages.push(&plain);
        if let Some(last) = out.last_mut() {
            last.extend(found);
        }
    }
    Ok(out)
}

fn tls13<R: io::Read>(
    reader: &mut Reader<R>,
    gaps: &[(u64, u64)],
    out: &mut impl Write,
    st: &mut Tls13State<'_>,
    o: &mut Outcome,
) -> io::Result<()> {
    let mut messages = Messages::default();
    while let Some(r) = reader.next_record()? {
        if touches_gap(gaps, &r) {
            o.stopped = Some(format!(
                "the record at offset {} overlaps a gap in the capture",
                r.offset
            ));
            return Ok(());
        }
        // Hellos and the compatibility ChangeCipherSpec are in the clear.
        if r.content_type() != record::APPLICATION_DATA {
            continue;
        }
        let seq = st.seq;
        let mut opened = st.current().map(|c| c.open(&r.header, &r.body, seq));
        if !matches!(opened, Some(Ok(_))) {
            // The next keys may open it: early data rejected or over,
            // handshake secrets missing.
            if let Some(next) = st.next_phase() {
                if let Some(Ok(p)) = st.cipher(next).map(|c| c.open(&r.header, &r.body, 0)) {
                    st.enter(next);
                    opened = Some(Ok(p));
                }
            }
        }
        let plain = match opened {
            Some(Ok(p)) => p,
            Some(Err(f)) => {
                o.stopped = Some(auth_failure(&r, f));
                return Ok(());
            }
            // Early data or handshake records whose secrets are not in the
            // key log: passed over until the next keys open a record.
            None if st.phase != Phase::Traffic => {
                o.skipped += 1;
                continue;
            }
            None => {
                o.stopped = Some(format!(
                    "no application traffic secret for the record at offset {}",
                    r.offset
                ));
                return Ok(());
            }
        };
        st.seq += 1;
        o.records += 1;
        match plain.content_type {
            record::APPLICATION_DATA => {
                out.write_all(&plain.data)?;
                o.bytes += plain.data.len() as u64;
                if st.phase == Phase::Early {
                    o.early_data_bytes += plain.data.len() as u64;
                }
            }
            record::HANDSHAKE => {
                for (t, body) in messages.push(&plain.data) {
                    match t {
                        hello::ENCRYPTED_EXTENSIONS => {
                            o.alpn = hello::encrypted_extensions(&body).0
                        }
                        hello::END_OF_EARLY_DATA if st.phase == Phase::Early => {
                            st.enter(Phase::Handshake)
                        }
                        hello::FINISHED if st.phase == Phase::Handshake => st.enter(Phase::Traffic),
                        hello::KEY_UPDATE if st.phase == Phase::Traffic && st.key_update() => {
                            o.key_updates += 1;
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}
