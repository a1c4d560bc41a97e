//! Writing output safely (issue 6): flow files and reports are created
//! without following symbolic links already in the output folder and
//! without overwriting anything, names made from traffic hold no path
//! separators or control characters, permissions follow the umask, and a
//! full disk gives one clear error naming the file, exit code 1 and a report
//! of what is complete.
//!
//! Never overwriting a regular file of the same name is tested in
//! `tests/cli.rs` (`existing_files_are_never_overwritten`).

mod common;

use common::{stderr_lines, testdata, CS, SC};
use flowsplit_synth::{Link, PcapFormat, PcapWriter, Side, TcpConversation, Timestamp};
use std::ffi::OsStr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn flowsplit(args: &[&OsStr]) -> Output {
    common::flowsplit(args)
}

fn os<S: AsRef<OsStr> + ?Sized>(s: &S) -> &OsStr {
    s.as_ref()
}

/// `flowsplit -q -r testdata/out_of_order.pcap -o OUTDIR EXTRA...`
fn split_out_of_order(outdir: &Path, extra: &[&str]) -> Output {
    let input = testdata("out_of_order.pcap");
    let mut args = vec![
        os("-q"),
        os("-r"),
        input.as_os_str(),
        os("-o"),
        outdir.as_os_str(),
    ];
    args.extend(extra.iter().map(os));
    flowsplit(&args)
}

fn assert_success(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {:?}",
        stderr_lines(out)
    );
    assert!(stderr_lines(out).is_empty(), "{:?}", stderr_lines(out));
}

/// The report lines' `file` fields.
fn reported_files(report: &Path) -> Vec<String> {
    let mut names: Vec<String> = common::parse_report(report)
        .iter()
        .map(|l| l["file"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// In `dir`: a file `victim` holding `precious`, and an empty output folder `out`.
fn victim_and_outdir(dir: &Path) -> (PathBuf, PathBuf) {
    let victim = dir.join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    let outdir = dir.join("out");
    std::fs::create_dir(&outdir).unwrap();
    (victim, outdir)
}

#[test]
fn symlink_named_like_a_flow_file_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let (victim, outdir) = victim_and_outdir(dir.path());
    std::os::unix::fs::symlink(&victim, outdir.join(CS)).unwrap();
    let out = split_out_of_order(&outdir, &[]);
    assert_success(&out);
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert_eq!(std::fs::read_link(outdir.join(CS)).unwrap(), victim);
    let cs1 = format!("{CS}c1");
    assert_eq!(
        std::fs::read(outdir.join(&cs1)).unwrap(),
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    );
    assert_eq!(
        reported_files(&outdir.join("report.jsonl")),
        [cs1.as_str(), SC]
    );
}

#[test]
fn dangling_symlink_named_like_a_flow_file_creates_nothing_at_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("would-be-created");
    let outdir = dir.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    std::os::unix::fs::symlink(&target, outdir.join(SC)).unwrap();
    let out = split_out_of_order(&outdir, &[]);
    assert_success(&out);
    assert!(!target.exists(), "the link's target was created");
    let sc1 = format!("{SC}c1");
    assert_eq!(std::fs::read(outdir.join(&sc1)).unwrap(), b"helloworld");
    assert_eq!(
        reported_files(&outdir.join("report.jsonl")),
        [CS, sc1.as_str()]
    );
}

#[test]
fn symlink_named_like_a_template_subfolder_is_not_followed() {
    // -T %A/%B.%b puts each file in a folder named after its source. A link
    // planted under that name must not take the files out of the folder.
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let outdir = dir.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    std::os::unix::fs::symlink(&elsewhere, outdir.join("010.000.000.001")).unwrap();
    let out = split_out_of_order(&outdir, &["-T", "%A/%B.%b"]);
    assert_eq!(
        std::fs::read_dir(&elsewhere).unwrap().count(),
        0,
        "a file was written through the link"
    );
    let link = outdir.join("010.000.000.001");
    assert_eq!(
        stderr_lines(&out),
        [format!(
            "flowsplit: {}: a symbolic link is in the way of a folder of the output",
            link.display()
        )]
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read_link(&link).unwrap(), elsewhere);
}

#[test]
fn symlink_named_like_the_report_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (victim, outdir) = victim_and_outdir(dir.path());
    let report = outdir.join("report.jsonl");
    std::os::unix::fs::symlink(&victim, &report).unwrap();
    let out = split_out_of_order(&outdir, &[]);
    assert_eq!(
        stderr_lines(&out),
        [format!(
            "flowsplit: {}: Too many levels of symbolic links (os error 40)",
            report.display()
        )]
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
}

#[test]
fn symlink_named_like_the_http_index_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let (victim, outdir) = victim_and_outdir(dir.path());
    std::fs::write(outdir.join(CS), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    std::os::unix::fs::symlink(&victim, outdir.join("http.jsonl")).unwrap();
    let out = flowsplit(&[os("http"), os("-q"), outdir.as_os_str()]);
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert_eq!(out.status.code(), Some(1), "{:?}", stderr_lines(&out));
}

/// Every regular file and folder under `dir`, with its mode bits.
fn modes(dir: &Path) -> Vec<(PathBuf, u32, bool)> {
    let mut out = Vec::new();
    for e in walk(dir) {
        let m = std::fs::symlink_metadata(&e).unwrap();
        out.push((e, m.permissions().mode() & 0o7777, m.is_dir()));
    }
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

#[test]
fn permissions_follow_the_umask() {
    // Two runs per umask: flow files, report, body file and index with
    // -e http; template subfolders with -T.
    for (umask, file_mode, dir_mode) in [("077", 0o600, 0o700), ("022", 0o644, 0o755)] {
        let dir = tempfile::tempdir().unwrap();
        let (http_out, nested_out) = (dir.path().join("http"), dir.path().join("nested"));
        let input = http_capture(dir.path());
        let script = format!(
            "umask {umask} && \"$0\" -q -e http -r \"$1\" -o \"$2\" && exec \"$0\" -q -T %A/%a/%B.%b -r \"$1\" -o \"$3\""
        );
        let out = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .arg(env!("CARGO_BIN_EXE_flowsplit"))
            .arg(&input)
            .arg(&http_out)
            .arg(&nested_out)
            .output()
            .unwrap();
        assert_success(&out);
        let mut names = Vec::new();
        for outdir in [&http_out, &nested_out] {
            let m = std::fs::metadata(outdir).unwrap().permissions().mode() & 0o7777;
            assert_eq!(m, dir_mode, "{}, umask {umask}", outdir.display());
            for (path, mode, is_dir) in modes(outdir) {
                let want = if is_dir { dir_mode } else { file_mode };
                assert_eq!(mode, want, "{} with umask {umask}", path.display());
                names.push(path.strip_prefix(dir.path()).unwrap().to_path_buf());
            }
        }
        names.sort();
        let want: Vec<PathBuf> = [
            format!("http/{CS}"),
            format!("http/{SC}"),
            format!("http/{SC}-HTTPBODY-001.txt"),
            "http/http.jsonl".to_string(),
            "http/report.jsonl".to_string(),
            "http/report.summary.json".to_string(),
            "http/report.traffic.json".to_string(),
            "http/report.xml".to_string(),
            "nested/010.000.000.001".to_string(),
            "nested/010.000.000.001/40000".to_string(),
            "nested/010.000.000.001/40000/010.000.000.002.00080".to_string(),
            "nested/010.000.000.002".to_string(),
            "nested/010.000.000.002/00080".to_string(),
            "nested/010.000.000.002/00080/010.000.000.001.40000".to_string(),
            "nested/report.jsonl".to_string(),
            "nested/report.summary.json".to_string(),
            "nested/report.traffic.json".to_string(),
            "nested/report.xml".to_string(),
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(names, want);
    }
}

/// A capture of one HTTP exchange with a response body, written into `dir`.
fn http_capture(dir: &Path) -> PathBuf {
    let path = dir.join("http.pcap");
    let mut w = PcapWriter::new(Vec::new(), PcapFormat::default(), 1).unwrap();
    let mut c = TcpConversation::new(
        Link::ethernet(),
        "10.0.0.1:40000".parse().unwrap(),
        "10.0.0.2:80".parse().unwrap(),
        Timestamp::new(1_700_000_000, 0),
    );
    c.handshake(&mut w).unwrap();
    c.send(Side::Client, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", &mut w)
        .unwrap();
    c.send(
        Side::Server,
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
        &mut w,
    )
    .unwrap();
    c.close(&mut w).unwrap();
    std::fs::write(&path, w.into_inner()).unwrap();
    path
}

#[test]
fn names_hold_only_the_characters_of_addresses_ports_and_numbers() {
    // Every capture of testdata/, with the default template and with every
    // %-code at once: only digits, hex, '.', ':', '-', 'c', the template's
    // own characters, and '/' between the template's own parts.
    let every = "%A/%a/%B.%b%V%v%C%c_%T_%t_%#_%N%K%M%L_%%";
    for template in [flowsplit::config::DEFAULT_TEMPLATE, every] {
        let dir = tempfile::tempdir().unwrap();
        let outdir = dir.path().join("out");
        let td = testdata("");
        let out = flowsplit(&[
            os("-q"),
            os("--no-report"),
            os("-T"),
            os(template),
            os("-r"),
            td.as_os_str(),
            os("-o"),
            outdir.as_os_str(),
        ]);
        // unknown_link.pcap and truncated.pcap make exit code 1.
        assert_eq!(out.status.code(), Some(1), "{:?}", stderr_lines(&out));
        let files: Vec<PathBuf> = walk(&outdir).into_iter().filter(|p| p.is_file()).collect();
        assert!(files.len() > 50, "{} files", files.len());
        for f in files {
            let rel = f
                .strip_prefix(&outdir)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            let depth = rel.matches('/').count();
            let want_depth = template.matches('/').count();
            assert_eq!(depth, want_depth, "{rel}");
            assert!(
                rel.chars()
                    .all(|c| c.is_ascii_hexdigit() || ".:-_/%cTZ".contains(c)),
                "{rel}"
            );
            assert!(!rel.chars().any(char::is_control), "{rel}");
            let m = std::fs::symlink_metadata(&f).unwrap();
            assert!(m.is_file() && m.nlink() == 1, "{rel}");
        }
    }
}

// ---------------------------------------------------------------------------
// A full disk

/// A tmpfs of `size` mounted on a fresh folder, unmounted when dropped
/// (also when the test fails).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: mounting a small tmpfs to fill needs root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        if !status.success() {
            eprintln!("skipped: mount -t tmpfs failed (no CAP_SYS_ADMIN here?)");
            return None;
        }
        Some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Two small connections that close, then one sending `big` bytes and
/// closing, then one more small one.
fn filling_capture(path: &Path, big: usize) {
    let mut w = PcapWriter::new(Vec::new(), PcapFormat::default(), 1).unwrap();
    let mut t = Timestamp::new(1_700_000_000, 0);
    for (port, data) in [(40001u16, 10), (40002, 10), (40003, big), (40004, 10)] {
        let mut c = TcpConversation::new(
            Link::ethernet(),
            format!("10.0.0.1:{port}").parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
            t,
        );
        c.handshake(&mut w).unwrap();
        let body: Vec<u8> = (0..data).map(|i| b'a' + (i % 26) as u8).collect();
        for chunk in body.chunks(1400) {
            c.send(Side::Client, chunk, &mut w).unwrap();
        }
        c.send(Side::Server, b"ok", &mut w).unwrap();
        c.close(&mut w).unwrap();
        t = c.clock.tick();
    }
    std::fs::write(path, w.into_inner()).unwrap();
}

/// Run flowsplit with `-j threads` on a capture that fills a 64 KiB tmpfs,
/// the report kept outside it (so that it can say what is complete). `None`
/// when not root.
fn fill_the_disk(threads: &str) -> Option<(Tmpfs, tempfile::TempDir, Output)> {
    let fs = Tmpfs::mount("64k")?;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("fill.pcap");
    filling_capture(&input, 256 << 10);
    let outdir = fs.path().join("out");
    let report = dir.path().join("report.jsonl");
    let out = flowsplit(&[
        os("-q"),
        os("-r"),
        input.as_os_str(),
        os("-o"),
        outdir.as_os_str(),
        os("--report"),
        report.as_os_str(),
        os("-j"),
        os(threads),
    ]);
    Some((fs, dir, out))
}

/// The report's lines after checking each against its file: what it
/// presents as written is exactly what is on disk.
fn reported_and_whole(outdir: &Path, report: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for l in common::parse_report(report) {
        let name = l["file"].as_str().unwrap();
        let data = std::fs::read(outdir.join(name)).unwrap();
        assert_eq!(l["bytes"].as_u64(), Some(data.len() as u64), "{name}");
        assert_eq!(l["sha256"].as_str().unwrap(), common::sha256_hex(&data));
        names.push(name.to_string());
    }
    names.sort();
    names
}

#[test]
fn full_disk_is_one_error_naming_a_file_and_nothing_incomplete_is_reported() {
    let Some((fs, dir, out)) = fill_the_disk("2") else {
        return;
    };
    let outdir = fs.path().join("out");
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let prefix = format!("flowsplit: {}/", outdir.display());
    let file = lines[0]
        .strip_prefix(&prefix)
        .and_then(|l| l.strip_suffix(": No space left on device (os error 28)"))
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(
        flowsplit::http::name::FlowName::parse(file).is_some(),
        "{lines:?}"
    );
    assert_eq!(out.status.code(), Some(1));
    let reported = reported_and_whole(&outdir, &dir.path().join("report.jsonl"));
    assert!(!reported.contains(&common::cs(40003)), "{reported:?}");
    assert!(!reported.iter().any(|f| f == file), "{reported:?}");
}

#[test]
fn full_disk_reports_the_connections_closed_before_it_filled() {
    // One thread: the connections closed before the big one are written out
    // at their close, before the disk fills, and reported; the error names
    // the file whose write failed.
    let Some((fs, dir, out)) = fill_the_disk("1") else {
        return;
    };
    let outdir = fs.path().join("out");
    assert_eq!(
        stderr_lines(&out),
        [format!(
            "flowsplit: {}: No space left on device (os error 28)",
            outdir.join(common::cs(40003)).display()
        )]
    );
    assert_eq!(out.status.code(), Some(1));
    let reported = reported_and_whole(&outdir, &dir.path().join("report.jsonl"));
    assert_eq!(
        reported,
        [
            common::cs(40001),
            common::cs(40002),
            common::sc(40001),
            common::sc(40002),
        ]
    );
}

#[test]
fn full_disk_with_two_threads_reports_every_file_written_whole() {
    // With two workers the order of writes is not the capture's, so which
    // write fails first may vary; but a direction whose connection closed
    // and whose file is whole on disk must be in the report.
    for _ in 0..5 {
        let Some((fs, dir, out)) = fill_the_disk("2") else {
            return;
        };
        assert_eq!(out.status.code(), Some(1));
        let outdir = fs.path().join("out");
        let reported = reported_and_whole(&outdir, &dir.path().join("report.jsonl"));
        for port in [40001, 40002] {
            for (name, want) in [
                (common::cs(port), &b"abcdefghij"[..]),
                (common::sc(port), &b"ok"[..]),
            ] {
                if std::fs::read(outdir.join(&name)).is_ok_and(|d| d == want) {
                    assert!(
                        reported.contains(&name),
                        "{name} is whole on disk but not reported: {reported:?}; {:?}",
                        stderr_lines(&out)
                    );
                }
            }
        }
    }
}

#[test]
fn full_disk_with_the_report_on_it_still_exits_1_with_one_line() {
    let Some(fs) = Tmpfs::mount("64k") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("fill.pcap");
    filling_capture(&input, 256 << 10);
    let outdir = fs.path().join("out");
    let out = flowsplit(&[
        os("-q"),
        os("-r"),
        input.as_os_str(),
        os("-o"),
        outdir.as_os_str(),
    ]);
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].ends_with(": No space left on device (os error 28)")
            && lines[0].starts_with(&format!("flowsplit: {}/", outdir.display())),
        "{lines:?}"
    );
    assert_eq!(out.status.code(), Some(1));
}
