//! The traffic summary's charts, drawn by plotters as SVG: the traffic
//! histogram over time, coloured by [`PortClass`], and the top-N bar
//! charts of addresses and ports with each one's share. One drawing feeds
//! both renderings: `-e netviz`'s page ([`super::netviz`]) and `flowsplit
//! view`'s HTML ([`crate::view`]).
//!
//! Also the figures both print the way tcpflow's netviz page prints them
//! ([`pretty_bytes`], [`commas`], [`share`]).
//!
//! Must not: read or write files.

use super::traffic::{PortClass, TimeSeries, Traffic, CLASSES};
use plotters::coord::Shift;
use plotters::prelude::*;

/// The display width of the time histogram's buckets is chosen among
/// these multiples of the series' width, the smallest that draws at most
/// [`MAX_BARS`] bars.
const STEPS: [i64; 19] = [
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21_600, 43_200, 86_400, 604_800,
    2_592_000,
];

/// Bars the time histogram draws at most (tcpflow's netviz draws 100).
pub const MAX_BARS: i64 = 100;

/// Entries a top-N chart shows (tcpflow's netviz shows 10).
pub const TOP_N: usize = 10;

/// The colour of a class's bars.
pub fn class_colour(c: PortClass) -> RGBColor {
    match c {
        PortClass::Http => RGBColor(5, 0, 255),
        PortClass::Https => RGBColor(5, 191, 0),
        PortClass::Ssh => RGBColor(148, 0, 191),
        PortClass::Ftp => RGBColor(255, 0, 0),
        PortClass::OtherTcp => RGBColor(255, 120, 0),
        PortClass::Udp => RGBColor(0, 191, 166),
        PortClass::Other => RGBColor(171, 171, 171),
    }
}

/// The colour as CSS (`#rrggbb`).
pub fn class_css(c: PortClass) -> String {
    let RGBColor(r, g, b) = class_colour(c);
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// Bytes as tcpflow's netviz prints them: `675 B`, `1.23 KB`, `4.50 MB`
/// (powers of 1000, two decimals past bytes).
pub fn pretty_bytes(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["", "K", "M", "G", "T", "P", "E"];
    let mut unit = 0;
    let mut scaled = bytes as f64;
    while scaled >= 1000.0 && unit + 1 < UNITS.len() {
        scaled /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{scaled:.2} {}B", UNITS[unit])
    }
}

/// A count with thousands separated by commas: `1,234,567`.
pub fn commas(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `part` as a whole percentage of `total`, cut down (as tcpflow's page).
pub fn share(part: u64, total: u64) -> u64 {
    if total == 0 {
        return 0;
    }
    (u128::from(part) * 100 / u128::from(total)) as u64
}

/// The time histogram's bars: their width in seconds, the first bar's
/// start, and bytes per class in each bar (empty bars included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bars {
    /// Seconds per bar.
    pub width: i64,
    /// The first bar's start, seconds since the epoch.
    pub start: i64,
    /// Bytes per class, in the order of [`CLASSES`], per bar.
    pub bytes: Vec<[u64; CLASSES.len()]>,
}

/// Group `series` into at most [`MAX_BARS`] bars of a width chosen
/// automatically (see [`STEPS`]).
pub fn bars(series: &TimeSeries) -> Bars {
    let buckets = series.buckets();
    let (Some((&first, _)), Some((&last, _))) =
        (buckets.first_key_value(), buckets.last_key_value())
    else {
        return Bars {
            width: series.width(),
            start: 0,
            bytes: Vec::new(),
        };
    };
    let count = |w: i64| last.div_euclid(w) - first.div_euclid(w) + 1;
    let mut width = series.width() * STEPS[STEPS.len() - 1];
    for k in STEPS {
        let w = series.width() * k;
        if count(w) <= MAX_BARS {
            width = w;
            break;
        }
    }
    let start = first.div_euclid(width) * width;
    let n = usize::try_from(count(width)).unwrap_or(0);
    let mut bytes = vec![[0u64; CLASSES.len()]; n];
    for (s, b) in buckets {
        if let Some(bar) = usize::try_from((s - start) / width)
            .ok()
            .and_then(|i| bytes.get_mut(i))
        {
            for (acc, v) in bar.iter_mut().zip(b.bytes) {
                *acc += v;
            }
        }
    }
    Bars {
        width,
        start,
        bytes,
    }
}

/// A bar width in words: `1 second`, `5 minutes`, `2 hours`, `1 day`.
pub fn duration_words(secs: i64) -> String {
    let (n, unit) = match secs {
        s if s % 86_400 == 0 => (s / 86_400, "day"),
        s if s % 3600 == 0 => (s / 3600, "hour"),
        s if s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// `secs` since the epoch as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn draw_err<E: std::fmt::Debug>(e: E) -> String {
    format!("drawing the chart: {e:?}")
}

/// The time histogram as an SVG of `size` pixels: stacked bars of bytes
/// per class, the bar width said under the time axis (times in UTC).
pub fn histogram_svg(traffic: &Traffic, size: (u32, u32)) -> Result<String, String> {
    let bars = bars(traffic.series());
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        let max = bars
            .bytes
            .iter()
            .map(|b| b.iter().sum::<u64>())
            .max()
            .unwrap_or(0)
            .max(1);
        let n = bars.bytes.len().max(1) as f64;
        let caption = format!("bars of {} (UTC)", duration_words(bars.width));
        let mut chart = ChartBuilder::on(&root)
            .margin(4)
            .margin_right(24)
            .x_label_area_size(26)
            .y_label_area_size(52)
            .build_cartesian_2d(0f64..n, 0f64..(max as f64) * 1.05)
            .map_err(draw_err)?;
        let start = bars.start;
        let width = bars.width;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .disable_y_mesh()
            .x_labels(bars.bytes.len().clamp(2, 6))
            .y_labels(5)
            .x_desc(caption)
            .label_style(("sans-serif", 9))
            .axis_desc_style(("sans-serif", 9))
            .x_label_formatter(&|x| {
                // Bars start at whole numbers: label only those.
                if (x - x.round()).abs() > 1e-6 {
                    return String::new();
                }
                let t = start + (x.round() as i64) * width;
                let s = utc(t);
                if width >= 86_400 {
                    s[..10].to_string()
                } else {
                    s[11..].to_string()
                }
            })
            .y_label_formatter(&|y| pretty_bytes(*y as u64))
            .draw()
            .map_err(draw_err)?;
        for (i, bar) in bars.bytes.iter().enumerate() {
            let mut base = 0u64;
            for (c, &b) in CLASSES.iter().zip(bar.iter()) {
                if b == 0 {
                    continue;
                }
                let x0 = i as f64 + 0.1;
                let x1 = i as f64 + 0.9;
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x0, base as f64), (x1, (base + b) as f64)],
                        class_colour(*c).filled(),
                    )))
                    .map_err(draw_err)?;
                base += b;
            }
        }
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

/// The legend of the classes with traffic, as an SVG `width` pixels wide.
pub fn legend_svg(traffic: &Traffic, width: u32) -> Result<String, String> {
    let present = classes_present(traffic);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, 16)).into_drawing_area();
        let mut x = 0i32;
        for c in present {
            root.draw(&Rectangle::new(
                [(x, 3), (x + 10, 13)],
                class_colour(c).filled(),
            ))
            .map_err(draw_err)?;
            root.draw(&Text::new(
                c.name().to_string(),
                (x + 14, 3),
                ("sans-serif", 10).into_font(),
            ))
            .map_err(draw_err)?;
            x += 24 + 6 * c.name().len() as i32;
        }
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

/// The classes with bytes in the series, in the order of [`CLASSES`].
pub fn classes_present(traffic: &Traffic) -> Vec<PortClass> {
    let mut seen = [false; CLASSES.len()];
    for b in traffic.series().buckets().values() {
        for (s, v) in seen.iter_mut().zip(b.bytes) {
            *s |= v > 0;
        }
    }
    CLASSES
        .iter()
        .zip(seen)
        .filter(|(_, s)| *s)
        .map(|(c, _)| *c)
        .collect()
}

/// One bar of a top-N chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopEntry {
    /// The address or port, as printed.
    pub label: String,
    /// Its bytes.
    pub bytes: u64,
    /// Its bar's colour.
    pub colour: RGBColor,
}

/// The top entries of the address counts `top` (grey bars).
pub fn address_entries(top: &[(std::net::IpAddr, u64)]) -> Vec<TopEntry> {
    top.iter()
        .map(|(a, b)| TopEntry {
            label: a.to_string(),
            bytes: *b,
            colour: class_colour(PortClass::Other),
        })
        .collect()
}

/// The top entries of the port counts `top`, each in its class's colour
/// (grey for a port of no known service).
pub fn port_entries(top: &[(u16, u64)]) -> Vec<TopEntry> {
    top.iter()
        .map(|(p, b)| TopEntry {
            label: p.to_string(),
            bytes: *b,
            colour: class_colour(PortClass::of_port(*p).unwrap_or(PortClass::Other)),
        })
        .collect()
}

/// The height in pixels of one bar of a top-N chart.
pub const TOP_ROW: i32 = 13;

/// The height a top-N chart of `rows` bars takes (title included).
pub fn top_height(rows: usize) -> u32 {
    20 + TOP_ROW as u32 * rows.clamp(1, TOP_N) as u32
}

/// A horizontal bar chart of `entries` (heaviest first) under `title`, as
/// an SVG of `size` pixels (see [`top_height`]): each bar labelled with its
/// entry, bytes and share of `total`.
pub fn top_svg(
    title: &str,
    entries: &[TopEntry],
    total: u64,
    size: (u32, u32),
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        draw_top(&root, title, entries, total).map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

fn draw_top<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    entries: &[TopEntry],
    total: u64,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let w = root.dim_in_pixel().0 as i32;
    root.draw(&Text::new(
        title.to_string(),
        (0, 0),
        ("sans-serif", 11).into_font(),
    ))?;
    let label_w = 96;
    let text_w = 92;
    let top = 16;
    let row_h = TOP_ROW;
    let max = entries.first().map_or(1, |e| e.bytes.max(1));
    let bar_room = (w - label_w - text_w).max(10);
    for (i, e) in entries.iter().enumerate() {
        let y = top + i as i32 * row_h;
        root.draw(&Text::new(
            e.label.clone(),
            (0, y + 1),
            ("sans-serif", 8).into_font(),
        ))?;
        let len = ((e.bytes as f64 / max as f64) * f64::from(bar_room)).round() as i32;
        root.draw(&Rectangle::new(
            [(label_w, y + 1), (label_w + len.max(1), y + row_h - 1)],
            e.colour.filled(),
        ))?;
        root.draw(&Text::new(
            format!("{} ({}%)", pretty_bytes(e.bytes), share(e.bytes, total)),
            (label_w + len.max(1) + 4, y + 1),
            ("sans-serif", 8).into_font(),
        ))?;
    }
    if entries.is_empty() {
        root.draw(&Text::new(
            "none".to_string(),
            (0, top),
            ("sans-serif", 8).into_font(),
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_print_as_tcpflow_prints_them() {
        assert_eq!(pretty_bytes(0), "0 B");
        assert_eq!(pretty_bytes(675), "675 B");
        assert_eq!(pretty_bytes(1000), "1.00 KB");
        assert_eq!(pretty_bytes(4_567_891), "4.57 MB");
        assert_eq!(commas(1_234_567), "1,234,567");
        assert_eq!(commas(12), "12");
        assert_eq!(share(397, 675), 58);
        assert_eq!(share(1, 0), 0);
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00");
    }

    #[test]
    fn bars_take_the_smallest_step_that_fits() {
        let mut s = TimeSeries::default();
        s.add(1000, PortClass::Http, 5);
        s.add(1099, PortClass::Ssh, 7);
        let b = bars(&s);
        assert_eq!((b.width, b.start, b.bytes.len()), (1, 1000, 100));
        s.add(1100, PortClass::Http, 1);
        let b = bars(&s);
        // 101 seconds: 2-second bars from 1000.
        assert_eq!((b.width, b.start, b.bytes.len()), (2, 1000, 51));
        assert_eq!(b.bytes[49][2], 7);
        assert_eq!(b.bytes[50][0], 1);
        assert_eq!(duration_words(120), "2 minutes");
        assert_eq!(duration_words(1), "1 second");
    }
}
