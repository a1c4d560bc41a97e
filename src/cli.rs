//! The command line of the `flowsplit` binary: flag definitions (once,
//! here) and their translation into a validated [`Config`]. Part of the
//! binary only; the library below takes a `Config` and never sees clap.
//!
//! Owns: the parsers of the bare form ([`Cli`]) and of each subcommand
//! ([`HttpCli`]), the flag groups they share ([`HttpFlags`], [`Verbosity`])
//! and [`dump`], the machine-readable listing of every parser's arguments
//! behind the hidden `--dump-cli` flag, which `tests/manpage.rs` checks
//! `man/flowsplit.1` against. Must not: run anything or print anything
//! but that listing.

use clap::{ArgAction, Args, CommandFactory, Parser};
use flowsplit::capture::live::LiveOptions;
use flowsplit::config::{
    Config, FileOutput, HttpNames, Input, Output, Source, DEFAULT_MAX_PENDING,
    DEFAULT_MAX_PENDING_TOTAL, DEFAULT_REPORT_NAME, DEFAULT_TEMPLATE,
};
use flowsplit::decode::UdpTunnel;
use flowsplit::flow::fill::FillBound;
use flowsplit::flow::table::DEFAULT_MAX_CONNECTIONS;
use flowsplit::hooks::Hooks;
use flowsplit::http::HttpOptions;
use flowsplit::output::naming::{file_letter_refusal, FILE_LETTERS};
use flowsplit::output::{ConsoleFormat, ConsoleOptions, EventTarget};
use flowsplit::shard::ShardSpec;
use flowsplit::Error;
use std::path::PathBuf;

/// Split TCP connections in packet captures into one file per direction.
#[derive(Debug, Parser)]
#[command(
    name = "flowsplit",
    version,
    about = "Reassemble every TCP connection in a capture into one exact file per direction",
    after_help = "Trailing arguments form a BPF filter expression (as in tcpdump), applied to files too.\n\
                  Without -r, packets are captured live (-i, or the first device libpcap lists) until\n\
                  SIGINT, SIGTERM or SIGHUP.\n\
                  `flowsplit http DIR...` carves HTTP bodies out of folders of flow files.\n\
                  `flowsplit grep PATTERN -r FILE` searches the reassembled streams.\n\
                  Every tcpflow 1.6.1 option works as in tcpflow (flowsplit(1), TCPFLOW OPTIONS).\n\
                  See flowsplit(1) for file naming, the report format and differences from tcpflow.",
    args_override_self = true
)]
pub struct Cli {
    /// Read packets from FILE (pcap or pcapng; `-` is standard input; a folder is read in name order). Repeatable.
    #[arg(short = 'r', value_name = "FILE", action = ArgAction::Append)]
    pub read: Vec<PathBuf>,

    /// Capture live on IFACE (without -r and -i: the first device libpcap lists).
    #[arg(
        short = 'i',
        long = "interface",
        value_name = "IFACE",
        conflicts_with = "read"
    )]
    pub interface: Option<String>,

    /// Live capture: do not put the interface into promiscuous mode.
    #[arg(short = 'p', long = "no-promisc", conflicts_with = "read")]
    pub no_promisc: bool,

    /// Live capture: keep at most BYTES of each packet.
    #[arg(long = "snaplen", value_name = "BYTES", conflicts_with = "read",
          default_value_t = flowsplit::capture::live::DEFAULT_SNAPLEN,
          value_parser = clap::value_parser!(i32).range(64..))]
    pub snaplen: i32,

    /// Live capture: kernel capture buffer of SIZE bytes (64K to 2047M; 128M is about a second of a saturated gigabit link).
    #[arg(long = "buffer-size", value_name = "SIZE", conflicts_with = "read",
          default_value = "128M", value_parser = parse_buffer_size)]
    pub buffer_size: i32,

    /// Live capture: write a `stats` event (packets, drops, open connections) every SECONDS to --events (0: only when capture ends).
    #[arg(long = "stats-interval", value_name = "SECONDS", conflicts_with = "read",
          default_value_t = flowsplit::capture::live::DEFAULT_STATS_INTERVAL)]
    pub stats_interval: u64,

    /// Switch to USER's user and group ids once the capture is open (before any file is written).
    #[arg(short = 'U', long = "relinquish-privileges", value_name = "USER")]
    pub user: Option<String>,

    /// Print each direction to standard output as it is reassembled, prefixed with its name; write no flow files.
    #[arg(short = 'c')]
    pub console: bool,

    /// Like -c without the name prefix.
    #[arg(short = 'C')]
    pub console_bare: bool,

    /// Console output as a hex dump (with -C: without the name lines).
    #[arg(short = 'D')]
    pub console_hex: bool,

    /// Console output: print bytes as they are instead of showing non-printable ones as `.`.
    #[arg(short = 'B', long = "raw")]
    pub raw: bool,

    /// Write a JSON line to FILE (`-` for standard output) when a direction opens, when it closes and when an HTTP body is carved (live capture: and its counters every --stats-interval seconds).
    #[arg(long = "events", value_name = "FILE")]
    pub events: Option<PathBuf>,

    /// Write flow files into DIR (created with parents).
    #[arg(short = 'o', value_name = "DIR", default_value = ".")]
    pub outdir: PathBuf,

    /// File-name template using tcpflow's %-codes.
    #[arg(short = 'T', value_name = "TEMPLATE", default_value = DEFAULT_TEMPLATE)]
    pub template: String,

    /// tcpflow's -F: change the template (-T or the default) by LETTERS, as tcpflow does: c counter as `cc`, t/T time_t/ISO 8601 prefix, k/m/g bin into 1K/1M/1G folders (letters given before the last -T are dropped, as in tcpflow); X writes no flow files, only the reports; M adds each direction's MD5 to the reports.
    #[arg(short = 'F', value_name = "LETTERS", action = ArgAction::Append, value_parser = parse_file_letters)]
    pub file_letters: Vec<String>,

    /// Store at most BYTES bytes per direction.
    #[arg(short = 'b', value_name = "BYTES")]
    pub max_bytes: Option<u64>,

    /// Keep at most N flow files open at once (default: from the file-descriptor limit, at most 4096).
    #[arg(short = 'f', value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_open_files: Option<u64>,

    /// Turn a scanner on (repeatable): `http` carves HTTP bodies, `md5` adds each direction's MD5 to the reports, `netviz` draws report.pdf (tcpflow's one-page traffic summary), `all` all three; tcpdemux (reassembly) is always on.
    #[arg(short = 'e', value_name = "SCANNER", action = ArgAction::Append, value_parser = parse_scanner)]
    pub scanner: Vec<String>,

    /// Turn every scanner on (http, md5 and netviz), as tcpflow's -a (`-e all`).
    #[arg(short = 'a')]
    pub all_scanners: bool,

    /// Turn every scanner off but SCANNER (repeatable; later -a, -e, -E, -x change it again).
    #[arg(short = 'E', value_name = "SCANNER", action = ArgAction::Append, value_parser = parse_scanner)]
    pub only_scanner: Vec<String>,

    /// Turn SCANNER off (repeatable; `http`, `md5` or `netviz`; tcpflow's wifiviz is off already).
    #[arg(short = 'x', value_name = "SCANNER", action = ArgAction::Append, value_parser = parse_scanner_off)]
    pub scanner_off: Vec<String>,

    /// Write the DFXML report (tcpflow's report.xml) to FILE instead of report.xml in the output folder.
    #[arg(short = 'X', value_name = "FILE")]
    pub dfxml: Option<PathBuf>,

    /// tcpflow's scanner settings, repeatable: enable_report=YES|NO, tcp_timeout=SECONDS, tcp_cmd=COMMAND, tcp_alert_fd=FD, http_cmd=COMMAND, http_alert_fd=FD, netviz_histogram_size=N, netviz_histogram_dump=0|1.
    #[arg(short = 'S', value_name = "NAME=VALUE", action = ArgAction::Append, value_parser = parse_setting)]
    pub settings: Vec<Setting>,

    /// The scanner options (-a, -e, -E, -x) in command-line order, set by
    /// [`AfterMatches`] (the typed fields lose their order).
    #[arg(skip)]
    pub scanner_ops: Vec<ScannerOp>,

    /// Every -F letter given, -T or not (X and M are not template changes,
    /// so a later -T does not drop them), set by [`AfterMatches`].
    #[arg(skip)]
    pub all_file_letters: Option<String>,

    /// Whether `-o` was given (not its default), set by [`AfterMatches`]:
    /// `flowsplit grep --http` keeps its work folder only then.
    #[arg(skip)]
    pub outdir_given: bool,

    /// How `-e http` carves bodies.
    #[command(flatten)]
    pub http: HttpFlags,

    /// Write the JSON Lines report to FILE (default: report.jsonl in the output folder).
    #[arg(long = "report", value_name = "FILE", conflicts_with = "no_report")]
    pub report: Option<PathBuf>,

    /// Write no report: neither report.jsonl nor report.xml (-X FILE still writes the DFXML report).
    #[arg(long = "no-report")]
    pub no_report: bool,

    /// Close a connection after SECONDS of capture time without a packet.
    #[arg(long = "timeout", value_name = "SECONDS")]
    pub timeout: Option<u64>,

    /// tcpflow's -m: zero-fill holes of at most BYTES (16M, ...); a longer one is a jump, not filled. Without a handshake in the capture, data further than BYTES from its stream starts a new connection.
    #[arg(short = 'm', value_name = "BYTES", default_value = "16M", value_parser = parse_max_seek)]
    pub max_seek: u64,

    /// Buffer at most BYTES out-of-order bytes per direction before giving a hole up as a gap.
    #[arg(long = "max-pending", value_name = "BYTES", default_value_t = DEFAULT_MAX_PENDING)]
    pub max_pending: usize,

    /// Buffer at most BYTES out-of-order bytes over all directions together.
    #[arg(long = "max-pending-total", value_name = "BYTES", default_value_t = DEFAULT_MAX_PENDING_TOTAL)]
    pub max_pending_total: usize,

    /// What is said on standard error.
    #[command(flatten)]
    pub verbosity: Verbosity,

    /// Reassemble on N worker threads (default: one per core, at most 16). Output is the same for every N.
    #[arg(short = 'j', long = "threads", value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub threads: Option<u64>,

    /// Keep at most N connections open; past it the least recently active one is closed ("evicted").
    #[arg(long = "max-connections", value_name = "N", default_value_t = DEFAULT_MAX_CONNECTIONS, value_parser = clap::value_parser!(u64).range(16..))]
    pub max_connections: u64,

    /// Keep connection state within SIZE bytes (512M, 2G, ...; default 1G, or a quarter of physical memory if less). Past it, holes of the largest out-of-order buffers are given up, then the least recently active connections are closed ("evicted").
    #[arg(long = "max-memory", value_name = "SIZE", value_parser = parse_memory)]
    pub max_memory: Option<u64>,

    /// The amplification bound.
    #[command(flatten)]
    pub amplification: AmplificationFlags,

    /// `--grep` and `--only-matching`.
    #[command(flatten)]
    pub grep: GrepRunFlags,

    /// Keep only shard K of N (0 <= K < N): the connections whose stable symmetric hash falls in shard K; the report is report-K-of-N.jsonl. Combine the N shards with flowsplit merge.
    #[arg(long = "shard", value_name = "K/N", value_parser = ShardSpec::parse)]
    pub shard: Option<ShardSpec>,

    /// Also decode tunnel KIND (vxlan, geneve, teredo, gtp-u, ayiya, l2tp) on UDP PORT. Repeatable.
    #[arg(long = "udp-tunnel", value_name = "KIND:PORT", action = ArgAction::Append, value_parser = parse_udp_tunnel)]
    pub udp_tunnel: Vec<(u16, UdpTunnel)>,

    /// tcpflow's -l: the remaining arguments are input files (each as if given with -r), not a filter expression.
    #[arg(short = 'l')]
    pub args_are_files: bool,

    /// tcpflow's -R: read FILE after the other inputs only to finish the connections already open; packets of other connections are ignored. Repeatable.
    #[arg(short = 'R', value_name = "FILE", action = ArgAction::Append, conflicts_with = "interface")]
    pub finish: Vec<PathBuf>,

    /// tcpflow's -w: write the IP packets that carried no TCP segment, and the frames the decoder rejected, to FILE, a pcap file.
    #[arg(short = 'w', value_name = "FILE")]
    pub unprocessed: Option<PathBuf>,

    /// tcpflow's debug level: 0 says nothing but errors (as -q); any other level changes nothing.
    #[arg(short = 'd', value_name = "LEVEL")]
    pub debug: Option<u32>,

    /// tcpflow's verbose mode (debug level 10): accepted, changes nothing.
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,

    /// Change the root folder to DIR before switching to -U's user (required, as in tcpflow).
    #[arg(short = 'z', long = "chroot", value_name = "DIR")]
    pub chroot: Option<PathBuf>,

    /// Console output: print each run holding the named POSIX semaphore SEMLOCK, so processes sharing a terminal do not mix runs.
    #[arg(short = 'L', value_name = "SEMLOCK")]
    pub semlock: Option<String>,

    /// Beside each flow file NAME, write NAME.findx: per segment, its offset in the file, capture time and length (tcpflow's -I).
    #[arg(short = 'I')]
    pub findx: bool,

    /// Beside each flow file NAME, write NAME.pcap: every packet of the direction, as captured (tcpflow's -K).
    #[arg(short = 'K')]
    pub pcaps: bool,

    /// Describe each scanner and exit.
    #[arg(short = 'H')]
    pub describe_scanners: bool,

    /// Console output: no newline after each run.
    #[arg(short = '0')]
    pub no_newline: bool,

    /// tcpflow's -s (show non-printable bytes as '.'): accepted with no
    /// effect, the console's text output already does so.
    #[arg(short = 's', hide = true)]
    pub strip_nonprintable: bool,

    /// Console output as JSON objects, as tcpflow's (with -c or -C; -D takes precedence).
    #[arg(short = 'J')]
    pub json: bool,

    /// Console output in colours: blue for a direction opened by a SYN, red for the others.
    #[arg(short = 'g')]
    pub colour: bool,

    /// BPF filter expression: from the first word that does not start with `-`, or after `--`.
    // Not `allow_hyphen_values`: an unknown option before the expression must
    // be a usage error naming it, never the start of a BPF expression. Words
    // after the first one are taken as they are (`port 80 and not -1`).
    #[arg(value_name = "EXPRESSION", trailing_var_arg = true)]
    pub expression: Vec<String>,

    /// Print one JSON line per argument of every parser (see [`dump`]) and exit.
    #[arg(long = "dump-cli", hide = true, exclusive = true)]
    pub dump_cli: bool,
}

/// How HTTP bodies are carved: shared by `-e http` and `flowsplit http`.
#[derive(Debug, Clone, Args)]
pub struct HttpFlags {
    /// Keep HTTP bodies as sent: do not undo Content-Encoding.
    #[arg(short = 'Z')]
    pub no_decompress: bool,

    /// Keep at most BYTES of a decoded body; the rest is cut off and flagged.
    #[arg(long = "max-decoded", value_name = "BYTES", default_value_t = HttpOptions::default().max_decoded_bytes)]
    pub max_decoded: u64,

    /// Cut a body off once it decodes to more than N bytes per encoded byte (past 1 MiB).
    #[arg(long = "max-ratio", value_name = "N", default_value_t = HttpOptions::default().max_ratio, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_ratio: u64,

    /// Decrypt TLS connections with the secrets in this NSS key log file and carve HTTP from the plaintext (default: $SSLKEYLOGFILE when set). Repeatable.
    #[arg(long = "tls-keylog", value_name = "FILE", action = ArgAction::Append)]
    pub tls_keylog: Vec<PathBuf>,

    /// Decrypt plain PSK connections (TLS_PSK_WITH_..., up to TLS 1.2) with this pre-shared key, in hex; when several are given, the one the client's Finished opens under. Repeatable.
    #[arg(long = "tls-psk", value_name = "HEX", action = ArgAction::Append)]
    pub tls_psk: Vec<flowsplit::tls::psk::Psk>,

    /// Decrypt connections using RSA key exchange (up to TLS 1.2) with this server's RSA private key (PEM or DER, PKCS#1 or PKCS#8), used only where it matches the server's certificate; IP:PORT= limits it to that server. Repeatable.
    #[arg(long = "tls-rsa-key", value_name = "[IP:PORT=]FILE", action = ArgAction::Append)]
    pub tls_rsa_key: Vec<flowsplit::tls::rsa::KeySpec>,

    /// How body files are named: tcpflow (the default, tcpflow's names) or url (after the URL's last segment, as tshark names exported HTTP objects; duplicates numbered name(N).ext).
    #[arg(long = "http-names", value_name = "STYLE", value_enum, default_value_t = NamesFlag::Tcpflow)]
    pub http_names: NamesFlag,
}

/// The amplification bound's options, for a run and for `flowsplit http`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AmplificationFlags {
    /// Write at most RATIO bytes per captured byte, plus --amplification-base, that no captured byte carries (default 16): zero fill of holes (past it a hole is a jump, not filled, listed in the report's bound_jumps), and on their own decoded bodies' growth (past it a body is kept as sent or cut). For flowsplit http, the run's own bound is the default.
    #[arg(long = "max-amplification", value_name = "RATIO")]
    pub max_amplification: Option<u64>,

    /// The part of the amplification bound that does not grow with the capture (16M, 1G, ...; default 16M).
    #[arg(long = "amplification-base", value_name = "SIZE", value_parser = parse_size)]
    pub amplification_base: Option<u64>,
}

impl AmplificationFlags {
    /// The bound these options ask for, taking what is not given from
    /// `otherwise`.
    pub fn over(&self, otherwise: FillBound) -> FillBound {
        FillBound {
            ratio: self.max_amplification.unwrap_or(otherwise.ratio),
            base: self.amplification_base.unwrap_or(otherwise.base),
        }
    }
}

/// The values of `--http-names`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NamesFlag {
    /// After the flow file and the message's number, as tcpflow names them.
    Tcpflow,
    /// After the last segment of the URL, as tshark names exported objects.
    Url,
}

impl HttpFlags {
    /// The carving settings these flags ask for.
    pub fn options(&self) -> HttpOptions {
        HttpOptions {
            decode: !self.no_decompress,
            max_decoded_bytes: self.max_decoded,
            max_ratio: self.max_ratio,
            tls_keylogs: self.keylogs(),
            tls_keys: Default::default(),
            names: match self.http_names {
                NamesFlag::Tcpflow => HttpNames::Tcpflow,
                NamesFlag::Url => HttpNames::Url,
            },
            ..HttpOptions::default()
        }
    }

    /// [`HttpFlags::options`] with the `--tls-psk` keys and the
    /// `--tls-rsa-key` files read: a file that cannot be read or is not an
    /// RSA private key is an error.
    pub fn options_loaded(&self) -> Result<HttpOptions, Error> {
        let rsa = self
            .tls_rsa_key
            .iter()
            .map(flowsplit::tls::rsa::load)
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(HttpOptions {
            tls_keys: std::sync::Arc::new(flowsplit::tls::premaster::Keys {
                psks: self.tls_psk.clone(),
                rsa,
            }),
            ..self.options()
        })
    }

    /// The key log files: those given, else `SSLKEYLOGFILE` when it is set
    /// and not empty.
    fn keylogs(&self) -> Vec<PathBuf> {
        if !self.tls_keylog.is_empty() {
            return self.tls_keylog.clone();
        }
        std::env::var_os("SSLKEYLOGFILE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .into_iter()
            .collect()
    }
}

/// What is said on standard error: shared by every parser.
#[derive(Debug, Clone, Args)]
pub struct Verbosity {
    /// Print nothing but errors on standard error.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

/// A byte count with an optional binary suffix: `1048576`, `64K`, `512M`, `2G`.
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, c)) if c.eq_ignore_ascii_case(&'k') => (&t[..i], 10),
        Some((i, c)) if c.eq_ignore_ascii_case(&'m') => (&t[..i], 20),
        Some((i, c)) if c.eq_ignore_ascii_case(&'g') => (&t[..i], 30),
        Some((i, c)) if c.eq_ignore_ascii_case(&'t') => (&t[..i], 40),
        _ => (t, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (a number of bytes, or with K, M, G or T)"))?;
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// `--max-memory`: a size no smaller than the fixed part and room for connections.
fn parse_memory(text: &str) -> Result<u64, String> {
    let bytes = parse_size(text)?;
    let min = flowsplit::config::MIN_MAX_MEMORY;
    if bytes < min {
        return Err(format!(
            "{text:?} is below the smallest budget, {}M",
            min >> 20
        ));
    }
    Ok(bytes)
}

/// `-m`: a size of at least one byte.
fn parse_max_seek(text: &str) -> Result<u64, String> {
    match parse_size(text)? {
        0 => Err(format!("{text:?}: -m must be at least 1")),
        bytes => Ok(bytes),
    }
}

/// `--buffer-size`: a size libpcap takes (an `int`), at least 64 KiB.
fn parse_buffer_size(text: &str) -> Result<i32, String> {
    let bytes = parse_size(text)?;
    if bytes < 64 << 10 {
        return Err(format!("{text:?} is below the smallest buffer, 64K"));
    }
    i32::try_from(bytes).map_err(|_| format!("{text:?} is above the largest buffer, 2047M"))
}

/// `KIND:PORT`, e.g. `vxlan:8472`.
fn parse_udp_tunnel(text: &str) -> Result<(u16, UdpTunnel), String> {
    let (kind, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("{text:?}: expected KIND:PORT, e.g. vxlan:8472"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{port:?} is not a UDP port number"))?;
    Ok((port, kind.parse()?))
}

impl Cli {
    /// Validate the flags and build the run's configuration.
    pub fn into_config(mut self) -> Result<Config, Error> {
        let scanners = Scanners::from_ops(&self.scanner_ops_or_default());
        let secret_flag = self.tls_secret_flags().first().copied();
        if self.args_are_files {
            // -l: the words after the options are inputs, not a filter.
            let words = std::mem::take(&mut self.expression);
            self.read.extend(words.into_iter().map(PathBuf::from));
        }
        if self.chroot.is_some() && self.user.is_none() {
            return Err(Error::Usage(
                "-z (chroot) requires -U, as in tcpflow (\"-z option requires -U option\")".into(),
            ));
        }
        let inputs_empty = self.read.is_empty() && self.finish.is_empty();
        let as_input = |p: PathBuf| {
            if p.as_os_str() == "-" {
                Input::Stdin
            } else {
                Input::Path(p)
            }
        };
        let inputs = std::mem::take(&mut self.read)
            .into_iter()
            .map(as_input)
            .collect();
        let finish_inputs = std::mem::take(&mut self.finish)
            .into_iter()
            .map(as_input)
            .collect();
        let console = match (self.console, self.console_bare, self.console_hex) {
            (false, false, false) => None,
            (_, true, true) => Some(ConsoleFormat::BareHex),
            (_, false, true) => Some(ConsoleFormat::Hex),
            (_, _, false) if self.json => Some(ConsoleFormat::Json),
            (_, true, false) => Some(ConsoleFormat::Bare),
            (true, false, false) => Some(ConsoleFormat::Prefixed),
        };
        let console = console.map(|format| ConsoleOptions {
            format,
            raw: self.raw,
            newline: !self.no_newline,
            colour: self.colour,
            semlock: self.semlock.clone(),
        });
        let events = self.events.as_ref().map(|p| {
            if p.as_os_str() == "-" {
                EventTarget::Stdout
            } else {
                EventTarget::File(p.clone())
            }
        });
        if console.is_some() && events == Some(EventTarget::Stdout) {
            return Err(Error::Usage(
                "--events -: standard output already carries the console output (-c, -C, -D); give --events a file".into(),
            ));
        }
        if self.template.is_empty() {
            return Err(Error::Usage("-T: the template is empty".into()));
        }
        let template = flowsplit::output::naming::apply_file_letters(
            &self.template,
            &self.file_letters.concat(),
        )?;
        let source = if inputs_empty {
            Source::Live(LiveOptions {
                interface: self.interface.clone(),
                promisc: !self.no_promisc,
                snaplen: self.snaplen,
                buffer_size: self.buffer_size,
                stats_interval: self.stats_interval,
                ..LiveOptions::default()
            })
        } else {
            Source::Files(inputs)
        };
        // Computed in every mode: it also raises the soft file-descriptor limit.
        let max_open_files = match self.max_open_files {
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
            None => flowsplit::output::files::default_max_open(),
        };
        let letters = self
            .all_file_letters
            .clone()
            .unwrap_or_else(|| self.file_letters.concat());
        let no_flow_files = letters.contains('X');
        let settings = Settings::from_list(&self.settings)?;
        if no_flow_files && scanners.http && console.is_none() {
            return Err(Error::Usage(
                "-F X writes no flow files, so the http scanner has nothing to carve (tcpflow refuses it too)".into(),
            ));
        }
        let dfxml = match (&self.dfxml, settings.enable_report) {
            (_, Some(false)) => None,
            // A shard writes none: flowsplit merge writes this one's name
            // into the merged folder.
            (Some(path), _) => Some(path.clone()),
            // Console modes write no flow files: no report unless asked for.
            (None, _) if self.no_report || console.is_some() => None,
            (None, _) => Some(
                self.outdir
                    .join(flowsplit::output::dfxml::DEFAULT_DFXML_NAME),
            ),
        };
        if let Some(spec) = self.shard {
            let conflict = if inputs_empty {
                Some("a live capture (it splits capture files)")
            } else if console.is_some() {
                Some("-c, -C or -D (a shard writes flow files)")
            } else if self.dfxml.as_deref().is_some_and(|p| {
                let mut parts = p.components();
                !matches!(
                    (parts.next(), parts.next()),
                    (Some(std::path::Component::Normal(_)), None)
                )
            }) {
                Some("-X and a folder (with --shard, -X names the DFXML report flowsplit merge writes into the merged folder: give a file name)")
            } else if self.report.is_some() || self.no_report {
                Some("--report or --no-report (a shard's report is report-K-of-N.jsonl in the output folder, where flowsplit merge reads it)")
            } else if self.http.http_names == NamesFlag::Url {
                Some("--http-names url (each shard would number same-named bodies on its own and flowsplit merge would find one name in two shards: run flowsplit http --http-names url on the merged folder instead)")
            } else {
                None
            };
            if let Some(what) = conflict {
                return Err(Error::Usage(format!(
                    "--shard {}/{} cannot be used with {what}",
                    spec.index, spec.count
                )));
            }
        }
        let report = if self.no_report || (console.is_some() && self.report.is_none()) {
            // Console modes write no flow files, so no report unless asked for.
            None
        } else {
            let default_name = match self.shard {
                Some(spec) => spec.report_name(),
                None => DEFAULT_REPORT_NAME.to_string(),
            };
            Some(
                self.report
                    .unwrap_or_else(|| self.outdir.join(default_name)),
            )
        };
        let threads = match self.threads {
            Some(n) => usize::try_from(n).unwrap_or(1),
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if let (Some(flag), false) = (secret_flag, scanners.http) {
            return Err(Error::Usage(format!(
                "{flag}: TLS is decrypted only to carve HTTP; add -e http"
            )));
        }
        let netviz = scanners.netviz.then(|| flowsplit::config::NetvizOptions {
            path: self.outdir.join(flowsplit::output::netviz::PDF_NAME),
            dump: settings.netviz_histogram_dump,
        });
        // The whole run's bound, as asked: a shard holds itself to its
        // share (Config::own_fill_bound), so every shard's settings agree.
        let fill_bound = self.amplification.over(FillBound::default());
        let grep = self.grep.run()?;
        let (output, threads) = match console {
            // Console output comes out in one order only from one flow table.
            Some(options) => (Output::Console(options), 1),
            None => {
                let files = FileOutput {
                    outdir: self.outdir,
                    max_open_files,
                    http: scanners
                        .http
                        .then(|| {
                            self.http.options_loaded().map(|o| HttpOptions {
                                amplification: fill_bound,
                                ..o
                            })
                        })
                        .transpose()?,
                    findx: self.findx,
                    pcaps: self.pcaps,
                    flow_files: !no_flow_files,
                };
                (Output::Files(files), threads)
            }
        };
        Ok(Config {
            source,
            finish_inputs,
            filter: (!self.expression.is_empty()).then(|| self.expression.join(" ")),
            output,
            template,
            max_bytes: self.max_bytes,
            report,
            // Bodies in report.xml hold their names in memory until the
            // end: only when -X asks for the report by name.
            dfxml_byte_runs: self.dfxml.is_some(),
            dfxml,
            md5: scanners.md5 || letters.contains('M'),
            file_hooks: settings.hooks,
            events,
            idle_timeout: self.timeout.or(settings.tcp_timeout.filter(|&t| t > 0)),
            max_pending_per_direction: self.max_pending,
            max_pending_total: self.max_pending_total.max(self.max_pending),
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            max_seek: self.max_seek,
            fill_bound,
            max_memory: self
                .max_memory
                .unwrap_or_else(flowsplit::config::default_max_memory),
            udp_tunnels: self.udp_tunnel,
            threads,
            user: self.user,
            chroot: self.chroot,
            unprocessed: self.unprocessed,
            hooks: Hooks::default(),
            shard: self.shard,
            netviz,
            traffic_address_cap: settings
                .netviz_histogram_size
                .unwrap_or(flowsplit::output::traffic::DEFAULT_ADDRESS_CAP),
            grep,
        })
    }
}

/// `--grep` on a normal run: the patterns (the options `flowsplit grep`
/// gives before its pattern, here with long names of their own: on the
/// main command line `-F`, `-y`, `-e` and `--file` are taken) and
/// `--only-matching`.
#[derive(Debug, Args)]
pub struct GrepRunFlags {
    /// Search every direction for PATTERN (a regular expression over bytes, as flowsplit grep's) as its flow file is written, in the same pass; each report line gets its number of matches, grep_matches. Repeatable.
    #[arg(long = "grep", value_name = "PATTERN", action = ArgAction::Append)]
    pub patterns: Vec<String>,

    /// Read --grep patterns from FILE, one per line (repeatable).
    #[arg(long = "grep-file", value_name = "FILE", action = ArgAction::Append)]
    pub pattern_files: Vec<PathBuf>,

    /// --grep patterns are fixed strings, not regular expressions.
    #[arg(long = "grep-fixed")]
    pub fixed: bool,

    /// --grep patterns are hex bytes.
    #[arg(long = "grep-hex")]
    pub hex: bool,

    /// --grep patterns match letters in either case.
    #[arg(long = "grep-ignore-case")]
    pub ignore_case: bool,

    /// Longest --grep match allowed for a regular expression whose own longest match is unbounded (default 4096).
    #[arg(long = "grep-max-match", value_name = "BYTES")]
    pub max_match: Option<usize>,

    /// With --grep: write the flow files, report lines and (-e http) carved bodies of the connections with a match in either direction only.
    #[arg(long = "only-matching")]
    pub only_matching: bool,
}

impl GrepRunFlags {
    /// The search asked for, or `None` when no pattern is; the other
    /// `--grep-*` flags and `--only-matching` without one are an error.
    pub fn run(&self) -> Result<Option<flowsplit::config::GrepRun>, Error> {
        if self.patterns.is_empty() && self.pattern_files.is_empty() {
            let given = [
                (self.only_matching, "--only-matching"),
                (self.fixed, "--grep-fixed"),
                (self.hex, "--grep-hex"),
                (self.ignore_case, "--grep-ignore-case"),
                (self.max_match.is_some(), "--grep-max-match"),
            ];
            return match given.iter().find(|(on, _)| *on) {
                Some((_, flag)) => Err(Error::Usage(format!(
                    "{flag} needs patterns: give --grep PATTERN or --grep-file FILE"
                ))),
                None => Ok(None),
            };
        }
        let mut patterns = self.patterns.clone();
        patterns.extend(patterns_from_files(&self.pattern_files)?);
        Ok(Some(flowsplit::config::GrepRun {
            patterns,
            pattern: flowsplit::search::matcher::PatternOptions {
                fixed: self.fixed,
                hex: self.hex,
                ignore_case: self.ignore_case,
                max_match: self
                    .max_match
                    .unwrap_or(flowsplit::search::matcher::DEFAULT_MAX_MATCH),
            },
            only_matching: self.only_matching,
        }))
    }
}

/// The patterns of pattern files (`flowsplit grep --file`, `--grep-file`):
/// each line that is not empty, file after file.
fn patterns_from_files(files: &[PathBuf]) -> Result<Vec<String>, Error> {
    let mut patterns = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|source| Error::Open {
            path: file.clone(),
            source,
        })?;
        patterns.extend(text.lines().filter(|l| !l.is_empty()).map(str::to_string));
    }
    Ok(patterns)
}

/// `flowsplit http DIR...`: carve HTTP bodies out of folders of flow files.
#[derive(Debug, Parser)]
#[command(
    name = "flowsplit http",
    args_override_self = true,
    about = "Carve HTTP messages and bodies out of folders of flow files written by flowsplit or tcpflow"
)]
pub struct HttpCli {
    /// Folders of flow files (walked recursively).
    #[arg(value_name = "DIR", required = true)]
    pub dirs: Vec<PathBuf>,

    /// How bodies are carved.
    #[command(flatten)]
    pub http: HttpFlags,

    /// The bound decoded bodies are held to (default: the one the run that wrote the folders recorded).
    #[command(flatten)]
    pub amplification: AmplificationFlags,

    /// What is said on standard error.
    #[command(flatten)]
    pub verbosity: Verbosity,
}

/// `flowsplit merge -o OUT DIR...`: combine the shards of a split run.
#[derive(Debug, Parser)]
#[command(
    name = "flowsplit merge",
    args_override_self = true,
    about = "Combine the shards of a run split with --shard K/N into the output of a single run"
)]
pub struct MergeCli {
    /// The merged folder: new or empty (hard links to the shards' files, report.jsonl, http.jsonl, report.xml, objects assembled from range parts), or the one folder the shards share.
    #[arg(short = 'o', value_name = "OUT", required = true)]
    pub out: PathBuf,

    /// Shard folders (each holding report-K-of-N.jsonl), or the one folder all shards wrote into.
    #[arg(value_name = "DIR", required = true)]
    pub dirs: Vec<PathBuf>,

    /// What is said on standard error.
    #[command(flatten)]
    pub verbosity: Verbosity,
}

impl AfterMatches for MergeCli {}

/// `flowsplit view DIR...`: write `report.html` for output folders.
#[derive(Debug, Parser)]
#[command(
    name = "flowsplit view",
    args_override_self = true,
    about = "Write report.html, one self-contained page to explore an output folder (a single run's or a merged one)"
)]
pub struct ViewCli {
    /// Output folders (each holding report.jsonl); each gets its own report.html.
    #[arg(value_name = "DIR", required = true)]
    pub dirs: Vec<PathBuf>,

    /// Write the page here instead of DIR/report.html (one DIR only).
    #[arg(short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Rows each table (connections, HTTP exchanges, TLS) holds at most: those with a problem while they fill half, then the largest; the rest are in the JSONL files the page links to.
    #[arg(long = "rows", value_name = "N", default_value_t = flowsplit::view::DEFAULT_MAX_ROWS, value_parser = clap::value_parser!(usize))]
    pub rows: usize,

    /// What is said on standard error.
    #[command(flatten)]
    pub verbosity: Verbosity,
}

impl AfterMatches for ViewCli {}

/// `flowsplit grep [GREP OPTIONS] PATTERN [FLOWSPLIT OPTIONS] [EXPRESSION]`,
/// or `flowsplit grep [GREP OPTIONS] PATTERN DIR...`: search reassembled
/// streams. Its own options come before the pattern (after `-e`/`-f`, the
/// first word that is not one of them ends them); what follows the pattern
/// is flowsplit's own command line (`-r`, `-i`, `-R`, `-j`, `--max-memory`,
/// the BPF expression, ...), parsed by [`Cli`], so no input flag is defined
/// twice; or, when every word left is a folder, folders of flow files.
#[derive(Debug, Parser)]
#[command(
    name = "flowsplit grep",
    args_override_self = true,
    about = "Search every TCP direction's reassembled bytes, across packet boundaries",
    after_help = "Grep options come first, then PATTERN (unless -e or --file gave the patterns), then\n\
                  flowsplit's own options and BPF expression: flowsplit grep -y 'passw(or)?d=' -r x.pcap port 80.\n\
                  With only folders after PATTERN, their flow files are searched instead.\n\
                  Exit status: 0 when something matched, 1 when nothing did, 2 on error."
)]
pub struct GrepCli {
    /// A pattern (repeatable); without -e or --file, the first word after the options is the pattern.
    #[arg(short = 'e', long = "regexp", value_name = "PATTERN", action = ArgAction::Append)]
    pub regexp: Vec<String>,

    /// Read patterns from FILE, one per line (repeatable).
    #[arg(long = "file", value_name = "FILE", action = ArgAction::Append)]
    pub pattern_files: Vec<PathBuf>,

    /// Patterns are fixed strings, not regular expressions.
    #[arg(short = 'F', long = "fixed-strings")]
    pub fixed: bool,

    /// Patterns are hex bytes (`474554` or `47 45 54`).
    #[arg(long = "hex")]
    pub hex: bool,

    /// Letters match in either case (grep's -y; -i is flowsplit's interface).
    #[arg(short = 'y', long = "ignore-case")]
    pub ignore_case: bool,

    /// Print NAME:COUNT for each direction that matched.
    #[arg(short = 'c', long = "count")]
    pub count: bool,

    /// Print the name of each direction that matched.
    #[arg(short = 'l', long = "files-with-matches")]
    pub names: bool,

    /// Print the name of each direction with no match.
    #[arg(short = 'L', long = "files-without-match")]
    pub names_without: bool,

    /// One JSON object per match: file, connection, community_id, offset, time, packet, pattern, match.
    #[arg(long = "json")]
    pub json: bool,

    /// Search HTTP heads and carved bodies (de-chunked, decompressed; decrypted with --tls-keylog) instead of the raw streams: a capture is written and carved in a work folder first (-o DIR keeps it), a folder needs its http.jsonl.
    #[arg(long = "http")]
    pub http: bool,

    /// Stop searching a direction after NUM matches.
    #[arg(long = "max-count", value_name = "NUM")]
    pub max_count: Option<u64>,

    /// Longest match allowed for a regular expression whose own longest match is unbounded.
    #[arg(long = "max-match", value_name = "BYTES",
          default_value_t = flowsplit::search::matcher::DEFAULT_MAX_MATCH)]
    pub max_match: usize,

    /// Print NUM bytes of the stream before each match.
    #[arg(short = 'B', long = "before-context", value_name = "NUM", value_parser = context_bytes)]
    pub before_context: Option<usize>,

    /// Print NUM bytes of the stream after each match.
    #[arg(short = 'A', long = "after-context", value_name = "NUM", value_parser = context_bytes)]
    pub after_context: Option<usize>,

    /// Print NUM bytes of the stream before and after each match (-A and -B override it).
    #[arg(short = 'C', long = "context", value_name = "NUM", value_parser = context_bytes)]
    pub context: Option<usize>,

    /// Highlight matches: auto (on a terminal), always, never.
    #[arg(long = "color", value_name = "WHEN", default_value = "auto",
          value_parser = ["auto", "always", "never"])]
    pub color: String,

    /// PATTERN, then flowsplit's options and expression (or folders of flow files).
    #[arg(
        value_name = "ARGS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub rest: Vec<std::ffi::OsString>,
}

impl AfterMatches for GrepCli {}

impl Cli {
    /// The TLS-secret flags given (`--tls-keylog`, `--tls-psk`,
    /// `--tls-rsa-key`, in that order): they need `-e http`, and make
    /// `flowsplit grep` search plaintext.
    pub fn tls_secret_flags(&self) -> Vec<&'static str> {
        [
            (!self.http.tls_keylog.is_empty(), "--tls-keylog"),
            (!self.http.tls_psk.is_empty(), "--tls-psk"),
            (!self.http.tls_rsa_key.is_empty(), "--tls-rsa-key"),
        ]
        .into_iter()
        .filter_map(|(given, flag)| given.then_some(flag))
        .collect()
    }

    /// Turn HTTP carving on as a `-e http` given first would (a later
    /// `-x http` still turns it off).
    pub fn enable_http_first(&mut self) {
        self.scanner_ops
            .insert(0, ScannerOp::Enable("http".to_string()));
    }
}

impl GrepCli {
    /// The patterns: `-e`, then each line of each `--file`, else the first
    /// word of `rest` (taken out of it).
    pub fn take_patterns(&mut self) -> Result<Vec<String>, Error> {
        let mut patterns = std::mem::take(&mut self.regexp);
        patterns.extend(patterns_from_files(&self.pattern_files)?);
        if patterns.is_empty() && self.pattern_files.is_empty() {
            if self.rest.is_empty() {
                return Err(Error::Usage(
                    "grep: no pattern given (flowsplit grep -h lists the options)".into(),
                ));
            }
            let first = self.rest.remove(0);
            patterns.push(first.to_string_lossy().into_owned());
        }
        Ok(patterns)
    }

    /// The search settings, with `patterns`, printing in colour when
    /// `terminal` and `--color auto`.
    pub fn options(&self, patterns: Vec<String>, terminal: bool) -> flowsplit::search::GrepOptions {
        use flowsplit::search::GrepFormat;
        let format = if self.count {
            GrepFormat::Count
        } else if self.names {
            GrepFormat::Names
        } else if self.names_without {
            GrepFormat::NamesWithout
        } else if self.json {
            GrepFormat::Json
        } else {
            GrepFormat::Lines
        };
        flowsplit::search::GrepOptions {
            patterns,
            pattern: flowsplit::search::matcher::PatternOptions {
                fixed: self.fixed,
                hex: self.hex,
                ignore_case: self.ignore_case,
                max_match: self.max_match,
            },
            format,
            max_count: self.max_count,
            colour: self.color == "always" || (self.color == "auto" && terminal),
            context: flowsplit::search::context::Context {
                before: self.before_context.or(self.context).unwrap_or(0),
                after: self.after_context.or(self.context).unwrap_or(0),
            },
            matches: std::sync::Arc::default(),
        }
    }
}

/// `-A`, `-B`, `-C`: bytes of context, at most
/// [`flowsplit::search::context::MAX_CONTEXT`] (held per direction).
fn context_bytes(text: &str) -> Result<usize, String> {
    let max = flowsplit::search::context::MAX_CONTEXT;
    match text.parse::<usize>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(format!("{text:?} is not a number of bytes from 0 to {max}")),
    }
}

/// `-F`: letters flowsplit implements ([`FILE_LETTERS`]); the first other
/// one is refused with its reason.
fn parse_file_letters(text: &str) -> Result<String, String> {
    match text.chars().find(|c| !FILE_LETTERS.contains(*c)) {
        Some(other) => Err(file_letter_refusal(other)),
        None if text.is_empty() => Err("-F needs letters".to_string()),
        None => Ok(text.to_string()),
    }
}

/// A parser's last word on its matches, where the typed struct loses what
/// is needed (the order of options on the command line).
pub trait AfterMatches {
    /// Adjust `self`, built from `matches`.
    fn after_matches(&mut self, _matches: &clap::ArgMatches) {}
}

impl AfterMatches for Cli {
    /// tcpflow applies each `-F` to the template as it reads it, and `-T`
    /// replaces the template: only letters given after the last `-T` count.
    fn after_matches(&mut self, matches: &clap::ArgMatches) {
        self.scanner_ops = scanner_ops(self, matches);
        self.all_file_letters = Some(self.file_letters.concat());
        let from_command_line =
            |id| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
        self.outdir_given = from_command_line("outdir");
        if !from_command_line("template") || !from_command_line("file_letters") {
            return;
        }
        let Some(last_t) = matches.indices_of("template").and_then(|i| i.max()) else {
            return;
        };
        let Some(indices) = matches.indices_of("file_letters") else {
            return;
        };
        let kept = indices
            .zip(self.file_letters.iter())
            .filter(|(i, _)| *i > last_t)
            .map(|(_, l)| l.clone())
            .collect();
        self.file_letters = kept;
    }
}

/// The scanner options of `cli` in command-line order.
fn scanner_ops(cli: &Cli, matches: &clap::ArgMatches) -> Vec<ScannerOp> {
    let indices = |id| -> Vec<usize> {
        if matches.value_source(id) != Some(clap::parser::ValueSource::CommandLine) {
            return Vec::new();
        }
        matches
            .indices_of(id)
            .map(|i| i.collect())
            .unwrap_or_default()
    };
    let mut ops: Vec<(usize, ScannerOp)> = Vec::new();
    ops.extend(
        indices("all_scanners")
            .into_iter()
            .map(|i| (i, ScannerOp::All)),
    );
    for (id, names, make) in [
        (
            "scanner",
            &cli.scanner,
            ScannerOp::Enable as fn(String) -> ScannerOp,
        ),
        ("only_scanner", &cli.only_scanner, ScannerOp::Only),
        ("scanner_off", &cli.scanner_off, ScannerOp::Disable),
    ] {
        let idx = indices(id);
        ops.extend(idx.into_iter().zip(names.iter().cloned().map(make)));
    }
    ops.sort_by_key(|(i, _)| *i);
    ops.into_iter().map(|(_, op)| op).collect()
}

impl AfterMatches for HttpCli {}

/// What `-H` prints: each scanner, in the layout of `tcpflow -H`.
pub const SCANNERS: &str = "\
Scanner Name: tcpdemux
flags:  NONE
Description: Reassembles every TCP connection into one flow file per direction (always on)

Scanner Name: http
flags:  SCANNER_DISABLED
Description: Carves HTTP bodies out of the flows, decoded, with an index (enable with -e http)

Scanner Name: md5
flags:  SCANNER_DISABLED
Description: MD5 of every flow, in the DFXML report and report.jsonl (enable with -e md5)

Scanner Name: netviz
flags:  SCANNER_DISABLED
Description: Draws report.pdf, a one-page summary of the traffic (enable with -e netviz)
";

/// `-e`, `-E`: the scanners flowsplit has (`http`, `md5`, `netviz`, `all`
/// for the three, `tcpdemux` for reassembly, always on), and a reason for
/// tcpflow's others.
fn parse_scanner(text: &str) -> Result<String, String> {
    match text {
        "http" | "md5" | "netviz" | "all" | "tcpdemux" => Ok(text.to_string()),
        "wifiviz" | "python" => Err(format!(
            "tcpflow's {text} scanner is not supported; flowsplit has http, md5 and netviz"
        )),
        _ => Err(
            "unknown scanner (flowsplit has http, md5 and netviz, and tcpdemux, which is always on)"
                .to_string(),
        ),
    }
}

/// `-x`: `http`, `md5` and `netviz` can be turned off; tcpflow's scanners flowsplit
/// lacks are off already. Turning off reassembly (`tcpdemux`, or `all`,
/// which in tcpflow includes it) is refused: tcpflow then writes nothing
/// but an empty report.
fn parse_scanner_off(text: &str) -> Result<String, String> {
    match text {
        "http" | "md5" | "netviz" | "wifiviz" | "python" => Ok(text.to_string()),
        "tcpdemux" | "all" => Err(format!(
            "in tcpflow, -x {text} turns TCP reassembly off, so that nothing but an empty report is written; flowsplit always reassembles (-F X writes the reports without flow files)"
        )),
        _ => Err("unknown scanner (flowsplit has http, md5 and netviz)".to_string()),
    }
}

/// One scanner option (`-a`, `-e`, `-E`, `-x`), applied in command-line
/// order as tcpflow applies them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScannerOp {
    /// `-a`, `-e all`: every scanner on.
    All,
    /// `-e NAME`.
    Enable(String),
    /// `-E NAME`: every scanner off, then NAME on.
    Only(String),
    /// `-x NAME`.
    Disable(String),
}

/// Which scanners run, once every [`ScannerOp`] is applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scanners {
    /// Carve HTTP bodies.
    pub http: bool,
    /// Hash every direction with MD5.
    pub md5: bool,
    /// Draw `report.pdf` (tcpflow's netviz).
    pub netviz: bool,
}

impl Scanners {
    /// Apply `ops` in order, from tcpflow's default (both off).
    pub fn from_ops(ops: &[ScannerOp]) -> Scanners {
        let mut s = Scanners::default();
        let set = |s: &mut Scanners, name: &str, on: bool| match name {
            "http" => s.http = on,
            "md5" => s.md5 = on,
            "netviz" => s.netviz = on,
            "all" => {
                s.http = on;
                s.md5 = on;
                s.netviz = on;
            }
            _ => {}
        };
        for op in ops {
            match op {
                ScannerOp::All => set(&mut s, "all", true),
                ScannerOp::Enable(n) => set(&mut s, n, true),
                ScannerOp::Only(n) => {
                    s = Scanners::default();
                    set(&mut s, n, true);
                }
                ScannerOp::Disable(n) => set(&mut s, n, false),
            }
        }
        s
    }
}

impl Cli {
    /// The scanner options in command-line order; without [`AfterMatches`]
    /// (a parser used directly), -a, -E, -e and -x in that order.
    fn scanner_ops_or_default(&self) -> Vec<ScannerOp> {
        if !self.scanner_ops.is_empty() {
            return self.scanner_ops.clone();
        }
        let mut ops = Vec::new();
        if self.all_scanners {
            ops.push(ScannerOp::All);
        }
        ops.extend(self.only_scanner.iter().cloned().map(ScannerOp::Only));
        ops.extend(self.scanner.iter().cloned().map(ScannerOp::Enable));
        ops.extend(self.scanner_off.iter().cloned().map(ScannerOp::Disable));
        ops
    }
}

/// One `-S NAME=VALUE`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    /// `enable_report=YES|NO`: the DFXML report on or off.
    EnableReport(bool),
    /// `tcp_timeout=SECONDS` (0: none), as `--timeout`.
    TcpTimeout(u64),
    /// `tcp_cmd=COMMAND`, `http_cmd=COMMAND` (empty: none).
    Command {
        /// `tcp` or `http`.
        kind: &'static str,
        /// The command.
        command: String,
    },
    /// `tcp_alert_fd=FD`, `http_alert_fd=FD` (-1: none).
    AlertFd {
        /// `tcp` or `http`.
        kind: &'static str,
        /// The descriptor.
        fd: i32,
    },
    /// `netviz_histogram_size=N`: addresses counted exactly (at least 2).
    NetvizHistogramSize(usize),
    /// `netviz_histogram_dump=0|1`: print the address histograms at the end.
    NetvizHistogramDump(bool),
    /// A tcpflow setting accepted with no effect (`packet-buffer-timeout`).
    NoEffect,
}

/// tcpflow 1.6.1's `-S` names that flowsplit refuses, with the reason.
pub const REFUSED_SETTINGS: &[(&str, &str)] = &[
    (
        "tdelta",
        "shifts every time by SECONDS; flowsplit keeps capture times",
    ),
    (
        "check_fcs",
        "a wifiviz setting; flowsplit has no wifiviz scanner",
    ),
    (
        "py_path",
        "a python scanner setting; flowsplit has no python scanner",
    ),
    (
        "py_module",
        "a python scanner setting; flowsplit has no python scanner",
    ),
    (
        "py_function",
        "a python scanner setting; flowsplit has no python scanner",
    ),
];

/// `-S NAME=VALUE`: tcpflow's settings flowsplit has, checked; tcpflow's
/// others refused with the reason ([`REFUSED_SETTINGS`]); any other name
/// refused as unknown (tcpflow ignores those, so a typo would go unseen).
fn parse_setting(text: &str) -> Result<Setting, String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: expected NAME=VALUE, e.g. enable_report=NO"))?;
    let fd = |kind| match value.trim().parse::<i32>() {
        Ok(fd) if fd >= -1 => Ok(Setting::AlertFd { kind, fd }),
        _ => Err(format!(
            "{name}: {value:?} is not a file descriptor number (-1 for none)"
        )),
    };
    match name {
        "enable_report" => match value.to_ascii_uppercase().as_str() {
            "YES" | "Y" | "1" | "TRUE" => Ok(Setting::EnableReport(true)),
            "NO" | "N" | "0" | "FALSE" => Ok(Setting::EnableReport(false)),
            _ => Err(format!("enable_report: {value:?} is neither YES nor NO")),
        },
        "tcp_timeout" => value
            .trim()
            .parse()
            .map(Setting::TcpTimeout)
            .map_err(|_| format!("tcp_timeout: {value:?} is not a number of seconds")),
        "tcp_cmd" | "http_cmd" => Ok(Setting::Command {
            kind: if name == "tcp_cmd" { "tcp" } else { "http" },
            command: value.to_string(),
        }),
        "tcp_alert_fd" => fd("tcp"),
        "http_alert_fd" => fd("http"),
        "netviz_histogram_size" => match value.trim().parse::<usize>() {
            Ok(n) if n >= 2 => Ok(Setting::NetvizHistogramSize(n)),
            _ => Err(format!(
                "netviz_histogram_size: {value:?} is not a number of addresses (at least 2)"
            )),
        },
        "netviz_histogram_dump" => match value.trim() {
            "1" => Ok(Setting::NetvizHistogramDump(true)),
            "0" => Ok(Setting::NetvizHistogramDump(false)),
            _ => Err(format!("netviz_histogram_dump: {value:?} is neither 0 nor 1")),
        },
        "packet-buffer-timeout" => Ok(Setting::NoEffect),
        _ => match REFUSED_SETTINGS.iter().find(|(n, _)| *n == name) {
            Some((_, why)) => Err(format!("{name} is not supported: {why}")),
            None => Err(format!(
                "unknown setting {name} (flowsplit has enable_report, tcp_timeout, tcp_cmd, tcp_alert_fd, http_cmd, http_alert_fd, netviz_histogram_size, netviz_histogram_dump)"
            )),
        },
    }
}

/// The `-S` settings together, the last of each name winning.
#[derive(Debug, Default)]
struct Settings {
    enable_report: Option<bool>,
    tcp_timeout: Option<u64>,
    netviz_histogram_size: Option<usize>,
    netviz_histogram_dump: bool,
    hooks: flowsplit::output::alerts::Hooks,
}

impl Settings {
    /// Gather `list`, opening the alert descriptors it names.
    fn from_list(list: &[Setting]) -> Result<Settings, Error> {
        let mut out = Settings::default();
        for setting in list {
            match setting {
                Setting::EnableReport(on) => out.enable_report = Some(*on),
                Setting::TcpTimeout(t) => out.tcp_timeout = Some(*t),
                Setting::Command { kind, command } => {
                    let hooks = out.hooks_mut(kind);
                    hooks.command = (!command.is_empty()).then(|| command.clone());
                }
                Setting::AlertFd { kind, fd } => {
                    let alert = match *fd {
                        -1 => None,
                        fd => Some(alert_fd(kind, fd)?),
                    };
                    out.hooks_mut(kind).alert = alert;
                }
                Setting::NetvizHistogramSize(n) => out.netviz_histogram_size = Some(*n),
                Setting::NetvizHistogramDump(on) => out.netviz_histogram_dump = *on,
                Setting::NoEffect => {}
            }
        }
        Ok(out)
    }

    fn hooks_mut(&mut self, kind: &str) -> &mut flowsplit::output::alerts::FileHooks {
        if kind == "tcp" {
            &mut self.hooks.tcp
        } else {
            &mut self.hooks.http
        }
    }
}

/// A descriptor handed over with `-S KIND_alert_fd=FD`, which must be open:
/// a copy of it, so that flowsplit's own files never take its number.
fn alert_fd(kind: &str, fd: i32) -> Result<flowsplit::output::alerts::AlertFd, Error> {
    use std::os::fd::FromRawFd;
    // SAFETY: fcntl only queries the descriptor's flags.
    let open = unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1;
    // SAFETY: the descriptor is open; F_DUPFD_CLOEXEC makes a new one we own.
    let copy = if open {
        unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) }
    } else {
        -1
    };
    if copy < 0 {
        return Err(Error::Usage(format!(
            "-S {kind}_alert_fd={fd}: file descriptor {fd} is not open (open it in the shell, e.g. {fd}>alerts.txt)"
        )));
    }
    // SAFETY: `copy` is a new descriptor that nothing else owns.
    let file = unsafe { std::fs::File::from_raw_fd(copy) };
    Ok(flowsplit::output::alerts::AlertFd::new(fd, file))
}

/// Parse `args` (the program or subcommand name first) as getopt does:
/// values attached or separate (`-j1`, `-j 1`), flags grouped (`-cD`), the
/// last of a repeated single-valued option winning, `--` ending the options.
/// `Ok(None)` when `--help` or `--version` was asked for and printed. A
/// parse error is one usage line: an unknown option is named with where to
/// find the others, anything else is clap's message.
pub fn parse<P: Parser + AfterMatches>(args: Vec<std::ffi::OsString>) -> Result<Option<P>, Error> {
    use clap::error::{ContextKind, ErrorKind};
    // The usage line names the command as typed ("flowsplit http"), not
    // the first argument clap is given (the subcommand's name alone).
    let command = P::command();
    let full_name = command.get_name().to_string();
    let parsed = command
        .bin_name(full_name)
        .try_get_matches_from(args)
        .and_then(|mut m| {
            let matches = m.clone();
            P::from_arg_matches_mut(&mut m).map(|mut p| {
                p.after_matches(&matches);
                p
            })
        });
    match parsed {
        Ok(p) => Ok(Some(p)),
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            e.print().map_err(|source| Error::Write {
                path: "-".into(),
                source,
            })?;
            Ok(None)
        }
        Err(e) if e.kind() == ErrorKind::UnknownArgument => {
            let name = e
                .get(ContextKind::InvalidArg)
                .map_or_else(|| "?".to_string(), |v| v.to_string());
            let parser = P::command().get_name().to_string();
            Err(Error::Usage(format!(
                "unknown option {name} ({parser} -h lists the options)"
            )))
        }
        Err(e) => {
            // clap's message up to its usage lines, tips left out, on one line.
            let text = e.render().to_string();
            let words: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
                .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
                .collect();
            let line = words.join(" ");
            Err(Error::Usage(
                line.strip_prefix("error: ").unwrap_or(&line).to_string(),
            ))
        }
    }
}

/// Every parser of the binary, each named as its `--help` names it: the
/// bare form first, then one per subcommand.
pub fn commands() -> Vec<clap::Command> {
    vec![
        Cli::command(),
        HttpCli::command(),
        MergeCli::command(),
        GrepCli::command(),
        ViewCli::command(),
    ]
}

/// Write one JSON object per line for every argument of every parser in
/// [`commands`] (clap's `--help` and `--version` included, `--dump-cli`
/// itself left out): `command` (the parser's name), `id`, `short` (`"-x"`
/// or null), `long` (`"--name"` or null), `value_name` (the positional's
/// name, or null for a flag) and `defaults` (the default values as shown by
/// `--help`). This is the listing `tests/manpage.rs` checks the man page
/// against, so that the page is checked against these very definitions.
pub fn dump(out: &mut impl std::io::Write) -> std::io::Result<()> {
    for mut cmd in commands() {
        cmd.build();
        for arg in cmd.get_arguments() {
            if arg.get_id() == "dump_cli" {
                continue;
            }
            let value_name = arg.is_positional().then(|| {
                arg.get_value_names()
                    .and_then(|v| v.first().map(|n| n.to_string()))
                    .unwrap_or_else(|| arg.get_id().to_string())
            });
            let line = serde_json::json!({
                "command": cmd.get_name(),
                "id": arg.get_id().as_str(),
                "short": arg.get_short().map(|c| format!("-{c}")),
                "long": arg.get_long().map(|l| format!("--{l}")),
                "value_name": value_name,
                "defaults": arg
                    .get_default_values()
                    .iter()
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect::<Vec<_>>(),
            });
            writeln!(out, "{line}")?;
        }
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert!(parse_size("12X").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    #[test]
    fn m_takes_sizes_separate_or_attached_and_defaults_to_16_mib() {
        let m = |args: &[&str]| config(args).max_seek;
        assert_eq!(m(&["-r", "x.pcap"]), 16 << 20);
        assert_eq!(m(&["-r", "x.pcap", "-m", "1000"]), 1000);
        assert_eq!(m(&["-r", "x.pcap", "-m1000"]), 1000);
        assert_eq!(m(&["-r", "x.pcap", "-m", "16M"]), 16 << 20);
        assert_eq!(m(&["-r", "x.pcap", "-m64k"]), 64 << 10);
        assert!(parse_max_seek("0").unwrap_err().contains("at least 1"));
        assert!(parse_max_seek("many").is_err());
    }

    #[test]
    fn buffer_size_takes_sizes_that_libpcap_can_take() {
        assert_eq!(parse_buffer_size("256M"), Ok(256 << 20));
        assert_eq!(parse_buffer_size("65536"), Ok(64 << 10));
        assert!(parse_buffer_size("1K").unwrap_err().contains("smallest"));
        assert!(parse_buffer_size("2G").unwrap_err().contains("largest"));
        let live = |args: &[&str]| match config(args).source {
            Source::Live(l) => l.buffer_size,
            Source::Files(_) => panic!("no -r is a live capture"),
        };
        assert_eq!(live(&["-i", "lo"]), 128 << 20);
        assert_eq!(live(&["-i", "lo", "--buffer-size", "256M"]), 256 << 20);
    }

    #[test]
    fn max_memory_below_the_fixed_part_is_refused() {
        assert!(parse_memory("16M")
            .unwrap_err()
            .contains("below the smallest budget"));
        assert_eq!(parse_memory("64M"), Ok(64 << 20));
        assert_eq!(
            config(&["-r", "x.pcap", "--max-memory", "2G"]).max_memory,
            2 << 30
        );
    }

    fn config(args: &[&str]) -> Config {
        let argv = std::iter::once("flowsplit").chain(args.iter().copied());
        Cli::try_parse_from(argv)
            .expect("the flags parse")
            .into_config()
            .expect("a valid configuration")
    }

    #[test]
    fn read_flags_are_a_files_source_and_no_read_flag_is_live() {
        let c = config(&["-r", "a.pcap", "-r", "-", "port", "80"]);
        assert_eq!(
            c.source,
            Source::Files(vec![Input::Path("a.pcap".into()), Input::Stdin])
        );
        assert_eq!(c.filter.as_deref(), Some("port 80"));
        let c = config(&["-i", "lo", "-p"]);
        match c.source {
            Source::Live(live) => {
                assert_eq!(live.interface.as_deref(), Some("lo"));
                assert!(!live.promisc);
            }
            Source::Files(_) => panic!("no -r is a live capture"),
        }
    }

    #[test]
    fn e_http_carves_with_the_shared_http_flags() {
        let c = config(&[
            "-r",
            "a.pcap",
            "-o",
            "out",
            "-e",
            "http",
            "-Z",
            "--max-decoded",
            "100",
            "--max-ratio",
            "20",
        ]);
        let (outdir, http) = c.output.http_carving().expect("-e http carves");
        assert_eq!(outdir, &PathBuf::from("out"));
        assert!(!http.decode);
        assert_eq!(http.max_decoded_bytes, 100);
        assert_eq!(http.max_ratio, 20);
        assert!(config(&["-r", "a.pcap"]).output.http_carving().is_none());
    }

    #[test]
    fn console_output_writes_no_files_carves_nothing_and_uses_one_thread() {
        let c = config(&["-r", "a.pcap", "-c", "-e", "http", "-j", "4"]);
        assert!(matches!(c.output, Output::Console(_)));
        assert!(c.output.http_carving().is_none());
        assert_eq!(c.threads, 1);
        assert_eq!(c.report, None, "no report unless asked for");
        let c = config(&["-r", "a.pcap", "-c", "--report", "r.jsonl"]);
        assert_eq!(c.report, Some(PathBuf::from("r.jsonl")));
    }

    #[test]
    fn http_subcommand_takes_the_same_http_flags() {
        let cli = HttpCli::try_parse_from(["flowsplit http", "-q", "--max-decoded", "7", "d"])
            .expect("the flags parse");
        assert!(cli.verbosity.quiet);
        assert_eq!(cli.http.options().max_decoded_bytes, 7);
        assert_eq!(cli.dirs, vec![PathBuf::from("d")]);
        assert_eq!(cli.http.options().names, HttpNames::Tcpflow);
        let cli = HttpCli::try_parse_from(["flowsplit http", "--http-names", "url", "d"])
            .expect("the flags parse");
        assert_eq!(cli.http.options().names, HttpNames::Url);
        assert!(HttpCli::try_parse_from(["flowsplit http", "--http-names", "x", "d"]).is_err());
        let c = config(&["-r", "a.pcap", "-e", "http", "--http-names", "url"]);
        let (_, http) = c.output.http_carving().expect("carving asked for");
        assert_eq!(http.names, HttpNames::Url);
        let err = Cli::try_parse_from([
            "flowsplit",
            "-r",
            "a.pcap",
            "-o",
            "o",
            "-e",
            "http",
            "--shard",
            "0/2",
            "--http-names",
            "url",
        ])
        .map_err(|e| e.to_string())
        .and_then(|cli| cli.into_config().map_err(|e| e.to_string()));
        assert!(
            matches!(&err, Err(e) if e.contains("--http-names url")),
            "{err:?}"
        );
    }

    #[test]
    fn scanner_options_apply_in_order_from_all_off() {
        use ScannerOp::*;
        let on = |ops: &[ScannerOp]| {
            let s = Scanners::from_ops(ops);
            (s.http, s.md5)
        };
        assert_eq!(on(&[]), (false, false));
        assert_eq!(on(&[All]), (true, true));
        let netviz = |ops: &[ScannerOp]| Scanners::from_ops(ops).netviz;
        assert!(netviz(&[All]));
        assert!(netviz(&[Enable("netviz".into())]));
        assert!(!netviz(&[All, Disable("netviz".into())]));
        assert!(!netviz(&[Enable("netviz".into()), Only("http".into())]));
        assert_eq!(on(&[All, Disable("md5".into())]), (true, false));
        assert_eq!(
            on(&[Enable("md5".into()), Only("http".into())]),
            (true, false)
        );
        assert_eq!(on(&[Only("tcpdemux".into())]), (false, false));
        assert_eq!(
            on(&[Disable("http".into()), Enable("http".into())]),
            (true, false)
        );
        assert_eq!(
            on(&[Enable("all".into()), Disable("netviz".into())]),
            (true, true)
        );
    }

    #[test]
    fn settings_are_checked_and_tcpflows_others_refused_with_a_reason() {
        assert_eq!(
            parse_setting("enable_report=no"),
            Ok(Setting::EnableReport(false))
        );
        assert_eq!(
            parse_setting("enable_report=YES"),
            Ok(Setting::EnableReport(true))
        );
        assert_eq!(parse_setting("tcp_timeout=30"), Ok(Setting::TcpTimeout(30)));
        assert_eq!(
            parse_setting("tcp_cmd=md5sum -b"),
            Ok(Setting::Command {
                kind: "tcp",
                command: "md5sum -b".into()
            })
        );
        assert_eq!(
            parse_setting("http_alert_fd=-1"),
            Ok(Setting::AlertFd {
                kind: "http",
                fd: -1
            })
        );
        assert_eq!(
            parse_setting("packet-buffer-timeout=10"),
            Ok(Setting::NoEffect)
        );
        assert!(parse_setting("tcp_alert_fd=-2").is_err());
        assert!(parse_setting("check_fcs=YES")
            .unwrap_err()
            .contains("wifiviz"));
        assert!(parse_setting("nope=1")
            .unwrap_err()
            .contains("unknown setting nope"));
        assert!(parse_setting("enable_report").is_err());
    }

    #[test]
    fn settings_map_to_the_configuration() {
        let c = config(&[
            "-r",
            "a.pcap",
            "-o",
            "out",
            "-S",
            "tcp_timeout=9",
            "-S",
            "http_cmd=x",
        ]);
        assert_eq!(c.idle_timeout, Some(9));
        assert_eq!(c.file_hooks.http.command.as_deref(), Some("x"));
        assert!(c.file_hooks.tcp.is_empty());
        assert_eq!(c.dfxml, Some(PathBuf::from("out").join("report.xml")));
        let c = config(&[
            "-r",
            "a.pcap",
            "-S",
            "tcp_timeout=0",
            "-S",
            "enable_report=NO",
        ]);
        assert_eq!(c.idle_timeout, None);
        assert_eq!(c.dfxml, None);
        let c = config(&["-r", "a.pcap", "-FX", "-X", "r.xml", "-a", "-x", "http"]);
        assert!(!c.output.files().expect("files").flow_files);
        assert!(c.md5);
        assert_eq!(c.dfxml, Some(PathBuf::from("r.xml")));
    }

    #[test]
    fn dump_lists_every_parser_but_not_itself() {
        let mut out = Vec::new();
        dump(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(r#""command":"flowsplit http""#), "{text}");
        assert!(text.contains(r#""long":"--max-decoded""#), "{text}");
        assert!(!text.contains("dump-cli"), "{text}");
    }
}
