//! How a run talks to whoever runs it while it goes on: notices (such as
//! the live-capture banner) and reading progress.
//!
//! Owns: the [`Notice`] type, the [`Progress`] trait and the [`Hooks`] a
//! [`Config`](crate::Config) carries. Must not: print anything. The library
//! writes nothing to the terminal; the binary installs these hooks and
//! decides what is shown and how (`-q`, a progress bar on a terminal). A
//! run without hooks is silent.

use crate::capture::LinkType;
use std::fmt;
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

/// The hooks a run calls. The default calls none, so the run is silent.
#[derive(Clone, Default)]
pub struct Hooks {
    /// Receives notices, if set.
    pub notice: Option<NoticeHook>,
    /// Receives reading progress over capture files, if set.
    pub progress: Option<Arc<dyn Progress>>,
}

impl Hooks {
    /// Hand `notice` to the notice hook, if there is one.
    pub fn notify(&self, notice: &Notice) {
        if let Some(hook) = &self.notice {
            hook(notice);
        }
    }
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("notice", &self.notice.is_some())
            .field("progress", &self.progress.is_some())
            .finish()
    }
}
