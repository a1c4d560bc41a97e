//! How a run talks to whoever runs it while it goes on: notices (such as
//! the live-capture banner) and reading progress.
//!
//! Owns: the [`Notice`] type, the [`Progress`] trait, the [`ClosedHook`]
//! and the [`Hooks`] a [`Config`](crate::Config) carries (a program that
//! embeds the library, such as the Python package, takes each closed
//! direction through [`Hooks::closed`] and stops a run early with
//! [`Hooks::cancel`]). Must not: print anything. The library
//! writes nothing to the terminal; the binary installs these hooks and
//! decides what is shown and how (`-q`, a progress bar on a terminal). A
//! run without hooks is silent.

use crate::capture::queue::CounterSnapshot;
use crate::capture::LinkType;
use crate::output::DirectionRecord;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Something worth telling the user while a run goes on, said once, when
/// it happens. What a run did in the end is in its
/// [`RunSummary`](crate::RunSummary) instead.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// Live capture has opened `interface` and reads packets from now on,
    /// until SIGINT, SIGTERM or SIGHUP.
    Capturing {
        /// The interface captured on.
        interface: String,
        /// Its link type.
        link: LinkType,
    },
    /// The report already held lines (an earlier run into the same
    /// folder): they are kept, and this run's lines follow them.
    ReportAppended {
        /// The report.
        path: std::path::PathBuf,
    },
    /// A key log file (`--tls-keylog`) has lines but not one usable: the
    /// run goes on without it, and the TLS connections it was meant for
    /// are reported not decrypted, with the reason.
    KeyLogUnusable(crate::tls::keylog::Unusable),
    /// The Decryption Secrets Blocks of the capture held secrets for more
    /// connections than flowsplit keeps
    /// ([`CAPTURE_SECRETS_BUDGET`](crate::tls::keylog::CAPTURE_SECRETS_BUDGET)):
    /// those of `connections` connections were dropped, and the
    /// connections are reported not decrypted unless a key log file has
    /// their lines. Said once, after the capture is read.
    CaptureSecretsDropped {
        /// Connections whose secrets were dropped.
        connections: u64,
    },
}

/// Called with each [`Notice`], on the thread that reads packets.
pub type NoticeHook = Arc<dyn Fn(&Notice) + Send + Sync>;

/// Told how far reading the capture files has got. Calls come from the
/// thread that reads packets, in this order: [`start`](Progress::start)
/// once, [`advance`](Progress::advance) any number of times,
/// [`finish`](Progress::finish) once. Live capture and standard input
/// report no progress.
pub trait Progress: Send + Sync {
    /// Reading starts; the capture files together hold `total_bytes`
    /// (standard input is not counted).
    fn start(&self, total_bytes: u64);
    /// `bytes` more bytes of a capture file were read.
    fn advance(&self, bytes: u64);
    /// Reading is over (whether or not every byte was read); the run's
    /// closing work, such as the HTTP post-pass, may follow.
    fn finish(&self);
}

/// Called with each direction's report record as its line is written,
/// in the report's order: its flow file (if the run writes flow files) is
/// complete by then. It is called whether or not a report file is
/// written, on the thread that writes the report, and the run waits while
/// it runs: a hook that blocks (on a bounded channel, say) holds reading
/// back, and memory stays within the run's budget.
pub type ClosedHook = Arc<dyn Fn(&DirectionRecord) + Send + Sync>;

/// Called in live capture with the capture's counters (packets and bytes
/// taken, the kernel's and flowsplit's drops, the time spent waiting for
/// the queue): about once a second while capture goes on, and once more
/// when it has stopped. Called on the thread that decodes packets: it
/// must return at once.
pub type LiveStatsHook = Arc<dyn Fn(&CounterSnapshot) + Send + Sync>;

/// The hooks a run calls. The default calls none, so the run is silent.
#[derive(Clone, Default)]
pub struct Hooks {
    /// Receives notices, if set.
    pub notice: Option<NoticeHook>,
    /// Receives reading progress over capture files, if set.
    pub progress: Option<Arc<dyn Progress>>,
    /// Receives every closed direction's record, if set.
    pub closed: Option<ClosedHook>,
    /// Receives live capture's counters as capture goes on, if set.
    pub live_stats: Option<LiveStatsHook>,
    /// Once set, a file run reads no further (at most one more block of
    /// its current input) and ends as at the end of its inputs, closing
    /// the connections still open; a live capture stops as on SIGINT.
    /// A live capture given a cancel flag installs no signal handlers of
    /// its own: the flag is then the only way to stop it. For a caller that no longer wants the
    /// run's output (an abandoned iterator).
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Hooks {
    /// Hand `notice` to the notice hook, if there is one.
    pub fn notify(&self, notice: &Notice) {
        if let Some(hook) = &self.notice {
            hook(notice);
        }
    }
}

impl Hooks {
    /// True once [`Hooks::cancel`] is set.
    pub fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
    }
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("notice", &self.notice.is_some())
            .field("progress", &self.progress.is_some())
            .field("closed", &self.closed.is_some())
            .field("live_stats", &self.live_stats.is_some())
            .field("cancelled", &self.cancelled())
            .finish()
    }
}
