//! `flowsplit view DIR` (issue 31): `report.html` loads in headless
//! Chromium (Debian's `chromium`, installed by .ci/run) with no console
//! message and a non-empty screenshot, fetches nothing, and its totals and
//! top entries in the DOM (`--dump-dom`) are those computed here from
//! `report.jsonl`; its tables hold at most `--rows` rows, problems first.

mod common;

use common::{corpus_dir, flowsplit, parse_report, testdata};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Run headless Chromium on `page` with a fresh profile: its DOM after the
/// scripts ran, and the console messages it logged.
fn chromium(page: &Path, screenshot: Option<&Path>) -> (String, Vec<String>) {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1280,2000",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()));
    match screenshot {
        Some(png) => cmd.arg(format!("--screenshot={}", png.display())),
        None => cmd.arg("--dump-dom"),
    };
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let out = cmd.arg(url).output().expect("chromium runs");
    assert!(out.status.success(), "chromium on {page:?}: {out:?}");
    let console = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), console)
}

fn run(args: &[&std::ffi::OsStr]) {
    let o = flowsplit(args);
    assert!(
        o.status.success(),
        "flowsplit {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A run with `-e http -e netviz` over `inputs` into `out`, then its page.
fn run_and_view(inputs: &[PathBuf], out: &Path, rows: Option<&str>) -> PathBuf {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "-q".as_ref(),
        "-e".as_ref(),
        "http".as_ref(),
        "-e".as_ref(),
        "netviz".as_ref(),
        "-o".as_ref(),
        out.as_os_str(),
    ];
    for i in inputs {
        args.push("-r".as_ref());
        args.push(i.as_os_str());
    }
    run(&args);
    let mut view: Vec<&std::ffi::OsStr> = vec!["view".as_ref(), "-q".as_ref()];
    if let Some(n) = rows {
        view.push("--rows".as_ref());
        view.push(n.as_ref());
    }
    view.push(out.as_os_str());
    run(&view);
    out.join("report.html")
}

/// The text of the element with `id` in `dom`.
fn by_id(dom: &str, id: &str) -> String {
    let at = dom
        .find(&format!("id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no #{id} in the DOM"));
    let rest = &dom[at + id.len() + 6..];
    rest[..rest.find('<').unwrap()].to_string()
}

/// The values of attribute `attr` of the elements whose opening tag holds
/// `marker`, in document order.
fn attrs(dom: &str, marker: &str, attr: &str) -> Vec<String> {
    dom.match_indices(marker)
        .map(|(i, _)| {
            let tag = &dom[i..i + dom[i..].find('>').unwrap()];
            let key = format!("{attr}=\"");
            let at = tag.find(&key).unwrap_or_else(|| panic!("{attr} in {tag}"));
            let v = &tag[at + key.len()..];
            v[..v.find('"').unwrap()].to_string()
        })
        .collect()
}

/// Totals and per-host figures computed from a report's lines.
struct Expected {
    connections: usize,
    directions: usize,
    payload: u64,
    problem_directions: usize,
    /// (host, sent, received), most bytes first, ties the greater address first.
    hosts: Vec<(String, u64, u64)>,
}

fn problem(l: &Value) -> bool {
    l["gap_bytes"].as_u64().unwrap_or(0) > 0
        || l["gaps"].as_array().is_some_and(|g| !g.is_empty())
        || l["jumps"].as_array().is_some_and(|j| !j.is_empty())
        || l["truncated"] == true
        || l["dropped_before_start"].as_u64().unwrap_or(0) > 0
}

fn expected(report: &Path) -> Expected {
    let lines = parse_report(report);
    let ids: BTreeSet<u64> = lines
        .iter()
        .map(|l| l["connection"].as_u64().unwrap())
        .collect();
    let mut hosts: BTreeMap<IpAddr, (u64, u64)> = BTreeMap::new();
    for l in &lines {
        let b = l["bytes"].as_u64().unwrap();
        let src: IpAddr = l["src"].as_str().unwrap().parse().unwrap();
        let dst: IpAddr = l["dst"].as_str().unwrap().parse().unwrap();
        hosts.entry(src).or_default().0 += b;
        hosts.entry(dst).or_default().1 += b;
    }
    let mut hosts: Vec<(IpAddr, u64, u64)> =
        hosts.into_iter().map(|(h, (s, r))| (h, s, r)).collect();
    hosts.sort_by(|a, b| (b.1 + b.2).cmp(&(a.1 + a.2)).then(b.0.cmp(&a.0)));
    Expected {
        connections: ids.len(),
        directions: lines.len(),
        payload: lines.iter().map(|l| l["bytes"].as_u64().unwrap()).sum(),
        problem_directions: lines.iter().filter(|l| problem(l)).count(),
        hosts: hosts
            .into_iter()
            .map(|(h, s, r)| (h.to_string(), s, r))
            .collect(),
    }
}

#[test]
fn the_page_loads_cleanly_and_its_totals_are_the_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = corpus_dir();
    for (i, inputs) in [
        vec![corpus.join("zeek/testing/btest/Traces/workshop_2011_browse.pcap")],
        vec![corpus.join("chrissanders-packets/http_ip4and6.pcapng")],
        vec![
            corpus.join("chrissanders-packets/ek_to_cryptowall4.pcapng"),
            testdata("gap.pcap"),
        ],
    ]
    .into_iter()
    .enumerate()
    {
        let out = tmp.path().join(format!("out{i}"));
        let page = run_and_view(&inputs, &out, None);
        let html = std::fs::read_to_string(&page).unwrap();
        // Self-contained: nothing to fetch, every link relative.
        for fetch in ["<link", " src=", "@import", "url("] {
            assert!(!html.contains(fetch), "{inputs:?}: {fetch} in the page");
        }
        for href in attrs(&html, "<a ", "href") {
            assert!(!href.contains("://"), "{inputs:?}: link {href}");
            assert!(
                out.join(&href).is_file(),
                "{inputs:?}: {href} is not a file"
            );
        }
        let (dom, console) = chromium(&page, None);
        assert!(console.is_empty(), "{inputs:?}: {console:?}");
        assert!(
            dom.contains("data-ready=\"1\""),
            "{inputs:?}: the script did not finish"
        );
        let want = expected(&out.join("report.jsonl"));
        assert!(want.connections > 0);
        assert_eq!(
            by_id(&dom, "total-connections"),
            want.connections.to_string()
        );
        assert_eq!(by_id(&dom, "total-directions"), want.directions.to_string());
        assert_eq!(by_id(&dom, "total-payload-bytes"), want.payload.to_string());
        assert_eq!(
            by_id(&dom, "total-problem-directions"),
            want.problem_directions.to_string()
        );
        let index = out.join("http.jsonl");
        let exchanges = parse_report(&index)
            .iter()
            .filter(|l| l.get("object").is_none())
            .count();
        assert_eq!(by_id(&dom, "total-exchanges"), exchanges.to_string());
        // The hosts, most bytes first: the top entries are the report's.
        let shown: Vec<(String, u64, u64)> = attrs(&dom, "class=\"host\"", "data-host")
            .into_iter()
            .zip(attrs(&dom, "class=\"host\"", "data-sent"))
            .zip(attrs(&dom, "class=\"host\"", "data-received"))
            .map(|((h, s), r)| (h, s.parse().unwrap(), r.parse().unwrap()))
            .collect();
        assert_eq!(shown, want.hosts, "{inputs:?}");
        // Every connection is a row (fewer than --rows).
        assert_eq!(
            attrs(&dom, "<tr class=\"conn", "data-id").len(),
            want.connections
        );
        // The screenshot is a PNG, and not a blank one.
        let png = tmp.path().join(format!("shot{i}.png"));
        let (_, console) = chromium(&page, Some(&png));
        assert!(console.is_empty(), "{console:?}");
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert!(bytes.len() > 20_000, "{} bytes", bytes.len());
    }
}

/// The console check can fail: a page whose script throws is caught.
#[test]
fn a_script_error_is_seen_on_the_console() {
    let tmp = tempfile::tempdir().unwrap();
    let page = tmp.path().join("broken.html");
    std::fs::write(
        &page,
        "<html><body><script>undefinedFunction();</script></body></html>",
    )
    .unwrap();
    let (_, console) = chromium(&page, None);
    assert_eq!(console.len(), 1, "{console:?}");
    assert!(
        console[0].contains("Uncaught ReferenceError"),
        "{console:?}"
    );
}

#[test]
fn rows_past_the_bound_stay_in_the_report_problems_first() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let inputs = [
        corpus_dir().join("chrissanders-packets/ek_to_cryptowall4.pcapng"),
        testdata("gap.pcap"),
    ];
    let page = run_and_view(&inputs, &out, Some("3"));
    let html = std::fs::read_to_string(page).unwrap();
    let lines = parse_report(&out.join("report.jsonl"));
    // Bytes per connection, and the one with gaps.
    let mut conns: BTreeMap<u64, (u64, bool)> = BTreeMap::new();
    for l in &lines {
        let c = conns.entry(l["connection"].as_u64().unwrap()).or_default();
        c.0 += l["bytes"].as_u64().unwrap();
        c.1 |= problem(l);
    }
    let with_gaps: Vec<u64> = conns
        .iter()
        .filter(|(_, c)| c.1)
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(with_gaps.len(), 1);
    let mut largest: Vec<(u64, u64)> = conns
        .iter()
        .filter(|(_, c)| !c.1)
        .map(|(id, c)| (c.0, *id))
        .collect();
    largest.sort_by_key(|b| std::cmp::Reverse(b.0));
    let want: Vec<String> = [with_gaps[0], largest[0].1, largest[1].1]
        .iter()
        .map(u64::to_string)
        .collect();
    assert_eq!(attrs(&html, "<tr class=\"conn", "data-id"), want);
    assert_eq!(
        by_id(&html, "connections-left-out"),
        (conns.len() - 3).to_string()
    );
    assert!(html.contains("<a href=\"report.jsonl\">report.jsonl</a>"));
}

#[test]
fn view_refuses_a_folder_without_a_report() {
    let tmp = tempfile::tempdir().unwrap();
    let o = flowsplit(&["view".as_ref(), tmp.path().as_os_str()]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "flowsplit: view: {}: no report.jsonl here (give a folder flowsplit wrote, or one flowsplit merge wrote)\n",
            tmp.path().display()
        )
    );
}

/// The figures a page shows: its totals, its hosts, its connection rows
/// in order, and its charts (the inline SVG and their top-3 lines).
fn figures(html: &str) -> (Vec<String>, Vec<String>, Vec<String>, String) {
    let totals = [
        "total-connections",
        "total-directions",
        "total-payload-bytes",
        "total-problem-directions",
        "total-exchanges",
        "total-tls",
    ]
    .iter()
    .map(|id| by_id(html, id))
    .collect();
    let hosts = attrs(html, "class=\"host\"", "data-host")
        .into_iter()
        .zip(attrs(html, "class=\"host\"", "data-sent"))
        .zip(attrs(html, "class=\"host\"", "data-received"))
        .map(|((h, s), r)| format!("{h} {s} {r}"))
        .collect();
    let rows = attrs(html, "<tr class=\"conn", "data-id");
    let charts = &html[html.find("<h2>Traffic</h2>").expect("charts")
        ..html.find("<h2>Hosts</h2>").expect("hosts")];
    (totals, hosts, rows, charts.to_string())
}

/// 3 shards merged show what the single run shows: the same totals,
/// hosts, connection rows and charts.
#[test]
fn three_shards_merged_show_what_a_single_run_shows() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = [
        corpus_dir().join("zeek/testing/btest/Traces/workshop_2011_browse.pcap"),
        testdata("gap.pcap"),
    ];
    let single = run_and_view(&inputs, &tmp.path().join("single"), Some("5"));
    let merged = tmp.path().join("merged");
    let mut merge: Vec<std::ffi::OsString> = vec!["merge".into(), "-q".into(), "-o".into()];
    merge.push(merged.clone().into());
    for k in 0..3 {
        let dir = tmp.path().join(format!("shard{k}"));
        let shard = format!("{k}/3");
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "-q".as_ref(),
            "-e".as_ref(),
            "http".as_ref(),
            "-e".as_ref(),
            "netviz".as_ref(),
            "--shard".as_ref(),
            shard.as_ref(),
            "-o".as_ref(),
            dir.as_os_str(),
        ];
        for i in &inputs {
            args.push("-r".as_ref());
            args.push(i.as_os_str());
        }
        run(&args);
        merge.push(dir.into());
    }
    let args: Vec<&std::ffi::OsStr> = merge.iter().map(|a| a.as_os_str()).collect();
    run(&args);
    run(&[
        "view".as_ref(),
        "-q".as_ref(),
        "--rows".as_ref(),
        "5".as_ref(),
        merged.as_os_str(),
    ]);
    let ours = figures(&std::fs::read_to_string(merged.join("report.html")).unwrap());
    let theirs = figures(&std::fs::read_to_string(single).unwrap());
    assert_ne!(ours.0[0], "0");
    assert!(!ours.1.is_empty() && ours.2.len() == 5, "{ours:?}");
    assert_eq!(ours, theirs);
}

/// A folder whose report has TLS lines (issue 29: `{"record":"tls",...}`
/// after the direction lines) views as before: the TLS lines count as no
/// direction or connection, and the TLS total is the connections they
/// name, as the index's `tls` objects give it.
#[test]
fn a_report_with_tls_lines_views_with_them_left_out_of_the_directions() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("tls");
    let pcap = testdata("tls/tls12_resumed_id_get.pcap");
    let keys = testdata("tls/tls12_resumed_id_get.first.keys");
    run(&[
        "-q".as_ref(),
        "-e".as_ref(),
        "http".as_ref(),
        "--tls-keylog".as_ref(),
        keys.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "-r".as_ref(),
        pcap.as_os_str(),
    ]);
    let tls_lines = common::parse_tls_lines(&out.join("report.jsonl"));
    assert_eq!(tls_lines.len(), 6);
    let tls_connections: BTreeSet<u64> = tls_lines
        .iter()
        .map(|l| l["connection"].as_u64().unwrap())
        .collect();
    run(&["view".as_ref(), "-q".as_ref(), out.as_os_str()]);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let want = expected(&out.join("report.jsonl"));
    assert_eq!(want.directions, 6);
    assert_eq!(by_id(&html, "total-directions"), "6");
    assert_eq!(by_id(&html, "total-connections"), "3");
    assert_eq!(by_id(&html, "total-tls"), tls_connections.len().to_string());
}
