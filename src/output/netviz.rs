//! tcpflow's netviz page (`-e netviz`): `report.pdf`, one page drawn from
//! the run's [`Traffic`] summary with the facts tcpflow's page gives: the
//! input, the date range (UTC), packets and bytes analysed, the transports;
//! the traffic histogram over time coloured by port class; the top source
//! and destination addresses and ports as bar charts, each with its share,
//! and the top three of each in words (`1) 10.0.0.1 - 397 B (58%)`, as
//! tcpflow writes them).
//!
//! The page is an SVG (the charts from [`super::charts`], placed in a
//! letter-size page), turned into PDF by `svg2pdf` with its text kept as
//! text (fonts from the system's font configuration, subset into the
//! file), so the PDF's words can be searched and extracted.
//!
//! Also `-S netviz_histogram_dump=1`'s listing ([`dump`]).
//!
//! Must not: read anything but the summary and the system's fonts.

use super::charts::{self, commas, pretty_bytes, share};
use super::traffic::Traffic;
use crate::error::Error;
use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

/// The page's size in points (US letter, as tcpflow's).
pub const PAGE: (u32, u32) = (612, 792);

/// The file name of the page in the output folder.
pub const PDF_NAME: &str = "report.pdf";

/// The header's lines, as tcpflow's page words them (times in UTC).
pub fn header_lines(t: &Traffic) -> Vec<String> {
    let mut lines = vec![
        format!("flowsplit {}", env!("CARGO_PKG_VERSION")),
        format!("Input: {}", t.input),
    ];
    match t.range() {
        Some((a, b)) => lines.push(format!(
            "Date range: {} -- {}",
            charts::utc(a.secs),
            charts::utc(b.secs)
        )),
        None => lines.push("Date range: no packets".to_string()),
    }
    lines.push(format!(
        "Packets analyzed: {} ({})",
        commas(t.packets()),
        pretty_bytes(t.bytes())
    ));
    let [v4, v6] = t.ip_bytes();
    let mut transports = String::from("Transports:");
    for (name, b) in [("IPv4", v4), ("IPv6", v6)] {
        let pct = share(b, t.bytes());
        if pct > 0 {
            let _ = write!(transports, " {name} {pct}%");
        }
    }
    lines.push(transports);
    lines
}

/// The top-3 lines under each chart, as tcpflow writes them:
/// `N) KEY - BYTES (SHARE%)`; the address shares are of all IP bytes, the
/// port shares of the TCP bytes.
pub fn top_lines(entries: &[charts::TopEntry], total: u64) -> Vec<String> {
    entries
        .iter()
        .take(3)
        .enumerate()
        .map(|(i, e)| {
            format!(
                "{}) {} - {} ({}%)",
                i + 1,
                e.label,
                pretty_bytes(e.bytes),
                share(e.bytes, total)
            )
        })
        .collect()
}

/// The four top-N charts' titles, entries and totals: source and
/// destination addresses, source and destination ports.
pub fn top_charts(t: &Traffic) -> [(&'static str, Vec<charts::TopEntry>, u64); 4] {
    let n = charts::TOP_N;
    [
        (
            "Top Source Addresses",
            charts::address_entries(&t.src_addresses().top(n)),
            t.src_addresses().total(),
        ),
        (
            "Top Destination Addresses",
            charts::address_entries(&t.dst_addresses().top(n)),
            t.dst_addresses().total(),
        ),
        (
            "Top Source Ports",
            charts::port_entries(
                &t.src_ports().sorted()[..]
                    .iter()
                    .take(n)
                    .copied()
                    .collect::<Vec<_>>(),
            ),
            t.src_ports().total(),
        ),
        (
            "Top Destination Ports",
            charts::port_entries(
                &t.dst_ports().sorted()[..]
                    .iter()
                    .take(n)
                    .copied()
                    .collect::<Vec<_>>(),
            ),
            t.src_ports().total(),
        ),
    ]
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Place `svg` (a whole SVG document) at (`x`, `y`) in the page.
fn nest(page: &mut String, svg: &str, x: u32, y: u32) {
    let body = svg.find("<svg").map_or(svg, |i| &svg[i + 4..]).trim_start();
    let _ = write!(page, "<svg x=\"{x}\" y=\"{y}\" {body}");
}

fn text(page: &mut String, x: u32, y: u32, size: u32, words: &str) {
    let _ = write!(
        page,
        "<text x=\"{x}\" y=\"{y}\" font-family=\"sans-serif\" font-size=\"{size}\">{}</text>",
        escape(words)
    );
}

/// The page as SVG; the error says what could not be drawn.
pub fn page_svg(t: &Traffic) -> Result<String, String> {
    let fail = |e: String| e;
    let (w, h) = PAGE;
    let margin = 30;
    let inner = w - 2 * margin;
    let mut page = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">"
    );
    let _ = write!(page, "<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>");
    let mut y = margin + 10;
    for line in header_lines(t) {
        text(&mut page, margin, y, 9, &line);
        y += 12;
    }
    y += 4;
    nest(
        &mut page,
        &charts::histogram_svg(t, (inner, 170)).map_err(fail)?,
        margin,
        y,
    );
    y += 172;
    nest(
        &mut page,
        &charts::legend_svg(t, inner).map_err(fail)?,
        margin,
        y,
    );
    y += 24;
    let half = inner / 2 - 8;
    let charts = top_charts(t);
    for pair in charts.chunks(2) {
        let mut lowest = y;
        let height = charts::top_height(pair.iter().map(|c| c.1.len()).max().unwrap_or(0));
        for (k, (title, entries, total)) in pair.iter().enumerate() {
            let x = margin + k as u32 * (half + 16);
            let chart = charts::top_svg(title, entries, *total, (half, height)).map_err(fail)?;
            nest(&mut page, &chart, x, y);
            let mut ly = y + height + 12;
            for line in top_lines(entries, *total) {
                text(&mut page, x, ly, 8, &line);
                ly += 11;
            }
            lowest = lowest.max(ly);
        }
        y = lowest + 10;
    }
    page.push_str("</svg>");
    Ok(page)
}

/// Draw the page for `t` into `path` as PDF (through a temporary name).
pub fn write_pdf(t: &Traffic, path: &Path) -> Result<(), Error> {
    let bytes = pdf(t).map_err(|e| Error::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    let part = path.with_extension("pdf.part");
    let werr = |source| Error::Write {
        path: part.clone(),
        source,
    };
    std::fs::write(&part, &bytes).map_err(werr)?;
    std::fs::rename(&part, path).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// The page as PDF bytes. Fails, saying why, when the system has no font
/// to write the page's text with.
pub fn pdf(t: &Traffic) -> Result<Vec<u8>, String> {
    let svg = page_svg(t)?;
    let mut opt = usvg::Options::default();
    let db = opt.fontdb_mut();
    db.load_system_fonts();
    let family = db
        .faces()
        .flat_map(|f| f.families.iter().map(|(name, _)| name.clone()))
        .find(|n| n == "DejaVu Sans")
        .or_else(|| {
            db.faces()
                .next()
                .and_then(|f| f.families.first().map(|(n, _)| n.clone()))
        })
        .ok_or("no font found to write the page's text with (install one, e.g. Debian's fonts-dejavu-core)")?;
    db.set_sans_serif_family(family);
    let tree = usvg::Tree::from_str(&svg, &opt)
        .map_err(|e| format!("the page does not parse as SVG: {e}"))?;
    svg2pdf::to_pdf(
        &tree,
        svg2pdf::ConversionOptions::default(),
        svg2pdf::PageOptions::default(),
    )
    .map_err(|e| format!("cannot write the page as PDF: {e}"))
}

/// `-S netviz_histogram_dump=1`: the source and destination address
/// histograms on `out`, as tcpflow lists them (`ADDRESS  count=BYTES`,
/// heaviest first), each after its size.
pub fn dump(t: &Traffic, out: &mut impl Write) -> Result<(), Error> {
    let werr = |source| Error::Write {
        path: "-".into(),
        source,
    };
    for (name, counts) in [
        ("src_tree", t.src_addresses()),
        ("dst_tree", t.dst_addresses()),
    ] {
        let sorted = counts.sorted();
        writeln!(out, "{name}:").map_err(werr)?;
        writeln!(
            out,
            "exact up to: {}  undercount: {}",
            counts.cap(),
            counts.undercount()
        )
        .map_err(werr)?;
        writeln!(out, "histogram size: {}", sorted.len()).map_err(werr)?;
        for (addr, bytes) in sorted {
            writeln!(out, "{addr}  count={bytes}").map_err(werr)?;
        }
        writeln!(out).map_err(werr)?;
    }
    Ok(())
}
