//! Live capture from a network interface through libpcap (the `pcap`
//! crate), and dropping root privileges once the capture handle is open.
//!
//! Owns: opening the interface (promiscuous mode, snap length, kernel
//! buffer size, a short read timeout so the caller can look at its stop
//! flag), the kernel-side BPF filter, reading packets into
//! [`Packet`]s, the kernel's statistics, and `-U`. Must not: decode or
//! reassemble anything, or handle signals (the pipeline does). The thread
//! that reads packets and the queue they go into are in
//! [`queue`](super::queue).

use super::{LinkType, Packet, Timestamp};
use crate::error::Error;
use std::ffi::CString;

/// How to open the interface and report on the capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveOptions {
    /// Interface name; `None` takes the first device libpcap lists.
    pub interface: Option<String>,
    /// Put the interface in promiscuous mode (`-p` turns this off).
    pub promisc: bool,
    /// Bytes kept of each packet.
    pub snaplen: i32,
    /// Kernel capture buffer in bytes (`--buffer-size`): the ring libpcap
    /// asks the kernel for. Default [`DEFAULT_BUFFER_SIZE`].
    pub buffer_size: i32,
    /// Read timeout in milliseconds: how long a read waits before the
    /// caller gets control back when no packet comes.
    pub read_timeout_ms: i32,
    /// Seconds between two `stats` events (`--stats-interval`); 0 writes
    /// only the one at the end.
    pub stats_interval: u64,
}

/// Default seconds between two `stats` events.
pub const DEFAULT_STATS_INTERVAL: u64 = 10;

/// Default snap length: whole packets, as tcpdump's default.
pub const DEFAULT_SNAPLEN: i32 = 262_144;

/// Default kernel buffer: 128 MiB, about a second of a saturated gigabit
/// link (Zeek's default for AF_PACKET). libpcap's own, 2 MiB, fills in
/// milliseconds at that rate.
pub const DEFAULT_BUFFER_SIZE: i32 = 128 << 20;

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            interface: None,
            promisc: true,
            snaplen: DEFAULT_SNAPLEN,
            buffer_size: DEFAULT_BUFFER_SIZE,
            read_timeout_ms: 100,
            stats_interval: DEFAULT_STATS_INTERVAL,
        }
    }
}

/// What the kernel says about the capture (see pcap_stats(3PCAP)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Packets that passed the filter.
    pub received: u32,
    /// Packets dropped because the capture buffer was full.
    pub dropped_by_kernel: u32,
    /// Packets dropped by the interface or its driver.
    pub dropped_by_interface: u32,
}

/// An open live capture.
pub struct LiveCapture {
    cap: pcap::Capture<pcap::Active>,
    interface: String,
    link: LinkType,
    fd: std::os::fd::RawFd,
    wait_ms: i32,
}

impl LiveCapture {
    /// Open the interface and install `filter` (compiled by libpcap and
    /// run in the kernel). Without the rights to capture, the error says
    /// that root or CAP_NET_RAW is needed.
    pub fn open(opts: &LiveOptions, filter: Option<&str>) -> Result<LiveCapture, Error> {
        let interface = match &opts.interface {
            Some(i) => i.clone(),
            None => match pcap::Device::lookup() {
                Ok(Some(d)) => d.name,
                Ok(None) => {
                    return Err(Error::Capture {
                        interface: "(default)".into(),
                        detail: "libpcap lists no device to capture on; name one with -i".into(),
                    })
                }
                Err(e) => {
                    return Err(capture_error("(default)", &e));
                }
            },
        };
        // Not immediate mode: on Linux that makes libpcap use TPACKET_V2,
        // whose ring has one slot per packet sized for the largest packet
        // (64 KiB on lo, or with offloading), so a buffer holds few packets.
        // TPACKET_V3 packs packets back to back in blocks, which the kernel
        // hands over when full or after the read timeout: packets arrive
        // within a tenth of a second, which is all live output needs.
        let inactive = pcap::Capture::from_device(interface.as_str())
            .map_err(|e| capture_error(&interface, &e))?
            .promisc(opts.promisc)
            .snaplen(opts.snaplen)
            .immediate_mode(false)
            .timeout(opts.read_timeout_ms)
            .buffer_size(opts.buffer_size);
        // Non-blocking reads and our own poll(2): a blocked read would not
        // see a signal until the next packet came.
        let mut cap = inactive
            .open()
            .and_then(|c| c.setnonblock())
            .map_err(|e| capture_error(&interface, &e))?;
        if let Some(expr) = filter {
            cap.filter(expr, true).map_err(|e| Error::Filter {
                expr: expr.to_string(),
                detail: e.to_string(),
            })?;
        }
        let link = LinkType(u32::try_from(cap.get_datalink().0).unwrap_or(u32::MAX));
        let fd = std::os::fd::AsRawFd::as_raw_fd(&cap);
        Ok(LiveCapture {
            cap,
            interface,
            link,
            fd,
            wait_ms: opts.read_timeout_ms,
        })
    }

    /// The interface captured on.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The interface's link type.
    pub fn link(&self) -> LinkType {
        self.link
    }

    /// The read timeout it was opened with, in milliseconds.
    pub fn read_timeout_ms(&self) -> i32 {
        self.wait_ms
    }

    /// Hand the next packet to `on_packet`; when none is waiting, wait at
    /// most `wait_ms` milliseconds for the ring to fill (0: not at all; a
    /// signal ends the wait at once) and return. Returns whether a packet
    /// came.
    pub fn next_wait(
        &mut self,
        wait_ms: i32,
        on_packet: &mut dyn FnMut(&Packet<'_>),
    ) -> Result<bool, Error> {
        match self.cap.next_packet() {
            Ok(p) => {
                // time_t is 32 bits on some targets.
                #[allow(clippy::unnecessary_cast)]
                let ts = Timestamp::new(
                    p.header.ts.tv_sec as i64,
                    u32::try_from(p.header.ts.tv_usec)
                        .unwrap_or(0)
                        .saturating_mul(1000),
                );
                on_packet(&Packet {
                    ts,
                    link: self.link,
                    data: p.data,
                    orig_len: p.header.len,
                });
                Ok(true)
            }
            Err(pcap::Error::TimeoutExpired) if wait_ms <= 0 => Ok(false),
            Err(pcap::Error::TimeoutExpired) => {
                let mut pfd = libc::pollfd {
                    fd: self.fd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd; the result (ready, timeout,
                // EINTR) only decides when the caller looks again.
                unsafe {
                    libc::poll(&mut pfd, 1, wait_ms);
                }
                Ok(false)
            }
            Err(e) => Err(capture_error(&self.interface, &e)),
        }
    }

    /// The kernel's counters for this capture.
    pub fn stats(&mut self) -> Result<CaptureStats, Error> {
        let s = self
            .cap
            .stats()
            .map_err(|e| capture_error(&self.interface, &e))?;
        Ok(CaptureStats {
            received: s.received,
            dropped_by_kernel: s.dropped,
            dropped_by_interface: s.if_dropped,
        })
    }
}

/// One line for a libpcap error; a permission problem says what is needed.
fn capture_error(interface: &str, e: &pcap::Error) -> Error {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("permission") || lower.contains("not permitted") {
        return Error::Capture {
            interface: interface.to_string(),
            detail: format!(
                "no permission to capture (root or the CAP_NET_RAW capability is needed): {text}"
            ),
        };
    }
    Error::Capture {
        interface: interface.to_string(),
        detail: text,
    }
}

/// Switch to `user`'s user and group ids (its primary group only; all
/// supplementary groups are dropped), as `tcpflow -U` and `tcpdump -Z` do,
/// after changing the root folder to `chroot` if given (`tcpflow -z`; the
/// user is looked up before, in the real root). Called after the capture
/// handle is open: the handle keeps working.
pub fn drop_privileges(user: &str, chroot: Option<&std::path::Path>) -> Result<(), Error> {
    let fail = |detail: String| Error::Privileges {
        user: user.to_string(),
        detail,
    };
    let name = CString::new(user).map_err(|_| fail("the name holds a NUL byte".into()))?;
    // SAFETY: getpwnam_r writes into `pwd` and `buf`, which outlive the
    // call; `result` points into them or is null.
    let (uid, gid) = unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 16 << 10];
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwnam_r(
            name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        );
        if rc != 0 {
            return Err(fail(std::io::Error::from_raw_os_error(rc).to_string()));
        }
        if result.is_null() {
            return Err(fail("no such user".into()));
        }
        (pwd.pw_uid, pwd.pw_gid)
    };
    if let Some(dir) = chroot {
        use std::os::unix::ffi::OsStrExt;
        let c = CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| fail(format!("-z {}: the path holds a NUL byte", dir.display())))?;
        // SAFETY: `c` is a valid C string.
        if unsafe { libc::chroot(c.as_ptr()) } != 0 {
            let e = std::io::Error::last_os_error();
            return Err(fail(format!("chroot to {}: {e}", dir.display())));
        }
        std::env::set_current_dir("/")
            .map_err(|e| fail(format!("chdir / in {}: {e}", dir.display())))?;
    }
    // SAFETY: plain system calls on integers and a one-element array.
    unsafe {
        if libc::setgroups(1, &gid) != 0 {
            return Err(fail(format!(
                "setgroups: {}",
                std::io::Error::last_os_error()
            )));
        }
        if libc::setgid(gid) != 0 {
            return Err(fail(format!("setgid: {}", std::io::Error::last_os_error())));
        }
        if libc::setuid(uid) != 0 {
            return Err(fail(format!("setuid: {}", std::io::Error::last_os_error())));
        }
    }
    Ok(())
}
