//! Flow-file names from tcpflow's %-code templates.
//!
//! Supported codes (tcpflow's): `%A`/`%a` source address/port, `%B`/`%b`
//! destination address/port, `%T` first packet time (ISO 8601, UTC), `%t`
//! first packet time (Unix seconds), `%V` `--` when the frame had a VLAN tag,
//! `%v` the 12-bit VLAN id, `%C` `c` when the connection counter is above 0,
//! `%c` the counter when above 0, `%#` the counter always, `%N`/`%K`/`%M`/`%G`
//! the connection id modulo 1000 at successive powers of 1000 (`%L` is an
//! older spelling of `%G`), `%E`/`%e` the source/destination MAC address
//! of the direction's first packet (`00:00:00:00:00:00` when it did not
//! come on an Ethernet link), `%S` the connection id in 20 zero-padded
//! digits (tcpflow's session id), `%%` a `%`.
//!
//! [`apply_file_letters`] turns tcpflow's `-F` letters into template
//! changes, as tcpflow makes them, so that every name still comes from one
//! template.
//! IPv4 addresses are four zero-padded 3-digit octets, ports 5 digits, IPv6
//! addresses their standard text form.
//!
//! A rendered name can only contain text from the template and these
//! numbers and addresses, so traffic cannot put a path separator in it; a
//! template with an absolute path or a `..` component is refused.

use crate::capture::Timestamp;
use crate::decode::TcpTuple;
use crate::error::Error;
use std::fmt::Write;
use std::net::IpAddr;

/// What a template can refer to besides the tuple.
#[derive(Debug, Clone, Copy)]
pub struct NameFacts {
    /// The connection counter on this name (0 for the first connection).
    pub counter: u32,
    /// The connection id (see the report's `connection`).
    pub connection: u64,
    /// The direction's first packet time.
    pub first_ts: Timestamp,
    /// The destination and source MAC addresses of the direction's first
    /// packet, when it came on an Ethernet link.
    pub macs: Option<[u8; 12]>,
}

/// A validated file-name template.
#[derive(Debug, Clone)]
pub struct Template {
    text: String,
}

impl Template {
    /// Check `text`: every `%` code must be known, and the result must stay
    /// inside the output folder (no absolute path, no `..`).
    pub fn parse(text: &str) -> Result<Template, Error> {
        let bad = |why: String| Error::Usage(format!("-T '{text}': {why}"));
        if text.is_empty() {
            return Err(bad("the template is empty".into()));
        }
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '%' {
                match chars.next() {
                    Some(
                        'A' | 'a' | 'B' | 'b' | 'T' | 't' | 'V' | 'v' | 'C' | 'c' | '#' | 'N' | 'K'
                        | 'M' | 'G' | 'L' | 'E' | 'e' | 'S' | '%',
                    ) => {}
                    Some(other) => return Err(bad(format!("unknown code %{other}"))),
                    None => return Err(bad("ends with a lone %".into())),
                }
            } else if c.is_control() {
                return Err(bad("contains a control character".into()));
            }
        }
        // %V, %v, %C and %c render nothing without a VLAN tag or on a first
        // connection, so a part is judged by what is left without them:
        // `%V/x` would be `/x`, and `.%C.` would be `..`.
        if text
            .split('/')
            .map(without_optional_codes)
            .any(|part| part.is_empty() || part == "." || part == "..")
        {
            return Err(bad(
                "must be a relative path without empty, '.' or '..' parts (even when %V, %v, %C and %c are empty)".into()
            ));
        }
        Ok(Template {
            text: text.to_string(),
        })
    }

    /// The name for one direction.
    pub fn render(&self, tuple: &TcpTuple, facts: &NameFacts) -> String {
        let mut out = String::with_capacity(64);
        let mut chars = self.text.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            let Some(code) = chars.next() else { break };
            // Writing to a String cannot fail.
            let _ = match code {
                'A' => write_addr(&mut out, tuple.src),
                'a' => write!(out, "{:05}", tuple.sport),
                'B' => write_addr(&mut out, tuple.dst),
                'b' => write!(out, "{:05}", tuple.dport),
                'T' => write_iso8601(&mut out, facts.first_ts),
                't' => write!(out, "{}", facts.first_ts.secs),
                'V' => {
                    if tuple.vlan.is_some() {
                        out.push_str("--");
                    }
                    Ok(())
                }
                'v' => match tuple.vlan {
                    Some(v) => write!(out, "{v}"),
                    None => Ok(()),
                },
                'C' => {
                    if facts.counter > 0 {
                        out.push('c');
                    }
                    Ok(())
                }
                'c' => {
                    if facts.counter > 0 {
                        write!(out, "{}", facts.counter)
                    } else {
                        Ok(())
                    }
                }
                '#' => write!(out, "{}", facts.counter),
                'N' => write!(out, "{:03}", facts.connection % 1000),
                'K' => write!(out, "{:03}", facts.connection / 1000 % 1000),
                'M' => write!(out, "{:03}", facts.connection / 1_000_000 % 1000),
                'G' | 'L' => write!(out, "{:03}", facts.connection / 1_000_000_000 % 1000),
                'E' => write_mac(&mut out, facts.macs.as_ref().map(|m| &m[6..])),
                'e' => write_mac(&mut out, facts.macs.as_ref().map(|m| &m[..6])),
                'S' => write!(out, "{:020}", facts.connection),
                _ => {
                    out.push('%');
                    Ok(())
                }
            };
        }
        out
    }

    /// True when rendering depends on the connection counter, so that a
    /// taken name can be retried with the next counter.
    pub fn has_counter(&self) -> bool {
        self.text.contains("%c") || self.text.contains("%#")
    }
}

/// The `-F` letters flowsplit implements, each a change to the template
/// made as tcpflow 1.6.1 makes it, in the order given.
pub const FILE_LETTERS: &str = "ctTkmgXM";

/// Apply tcpflow's `-F` letters to `template`, in order, as tcpflow 1.6.1
/// does: `c` turns `%c` into `%C` (so a reused connection's names end in
/// `cc`, tcpflow's output), `t` prepends `%tT`, `T` prepends `%T`, `k`
/// prepends `%K/`, `m` prepends `%M000-%M999/%M%K/` and `g` prepends
/// `%G000000-%G999999/%G%M000-%G%M999/%G%M%K/`. `X` (no flow files) and
/// `M` (MD5) leave the template as it is; the binary reads them. Any other
/// letter is a usage error naming it.
pub fn apply_file_letters(template: &str, letters: &str) -> Result<String, Error> {
    let mut out = template.to_string();
    for letter in letters.chars() {
        out = match letter {
            'c' => out.replace("%c", "%C"),
            't' => format!("%tT{out}"),
            'T' => format!("%T{out}"),
            'k' => format!("%K/{out}"),
            'm' => format!("%M000-%M999/%M%K/{out}"),
            'g' => format!("%G000000-%G999999/%G%M000-%G%M999/%G%M%K/{out}"),
            // Not template changes: no flow files, MD5 (see `Config`).
            'X' | 'M' => out,
            other => return Err(Error::Usage(file_letter_refusal(other))),
        };
    }
    Ok(out)
}

/// The one-line usage error for a `-F` letter flowsplit does not implement.
pub fn file_letter_refusal(letter: char) -> String {
    format!("-F {letter}: unknown letter (tcpflow's are c, t, T, X, M, k, m and g)")
}

/// One part of a template with the codes that may render empty (`%V`,
/// `%v`, `%C`, `%c`) taken out: the least it can render as.
fn without_optional_codes(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    let mut chars = part.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('V' | 'v' | 'C' | 'c') => {}
            Some(code) => {
                out.push('%');
                out.push(code);
            }
            None => out.push('%'),
        }
    }
    out
}

fn write_addr(out: &mut String, addr: IpAddr) -> std::fmt::Result {
    match addr {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            write!(out, "{a:03}.{b:03}.{c:03}.{d:03}")
        }
        IpAddr::V6(v6) => write!(out, "{v6}"),
    }
}

/// A MAC address as tcpflow writes it, `02:00:00:00:00:01`; all zeros
/// when the first packet had no Ethernet header.
fn write_mac(out: &mut String, mac: Option<&[u8]>) -> std::fmt::Result {
    let mac = mac.unwrap_or(&[0; 6]);
    for (i, b) in mac.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        write!(out, "{b:02x}")?;
    }
    Ok(())
}

/// `YYYY-MM-DDTHH:MM:SSZ` in UTC.
pub(crate) fn write_iso8601(out: &mut String, ts: Timestamp) -> std::fmt::Result {
    let days = ts.secs.div_euclid(86_400);
    let rem = ts.secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Proleptic Gregorian date from days since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_TEMPLATE;

    fn tuple(src: &str, sport: u16, dst: &str, dport: u16, vlan: Option<u16>) -> TcpTuple {
        TcpTuple {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            sport,
            dport,
            vlan,
            tunnel: 0,
        }
    }

    fn facts(counter: u32) -> NameFacts {
        NameFacts {
            counter,
            connection: 1_234_567,
            first_ts: Timestamp::new(1_700_000_000, 0),
            macs: None,
        }
    }

    #[test]
    fn default_template_ipv4_is_zero_padded() {
        let t = Template::parse(DEFAULT_TEMPLATE).unwrap();
        let name = t.render(
            &tuple("192.168.1.2", 80, "10.0.0.1", 51234, None),
            &facts(0),
        );
        assert_eq!(name, "192.168.001.002.00080-010.000.000.001.51234");
    }

    #[test]
    fn default_template_ipv6_standard_text_form() {
        let t = Template::parse(DEFAULT_TEMPLATE).unwrap();
        let name = t.render(&tuple("2001:db8::1", 443, "::1", 8, None), &facts(0));
        assert_eq!(name, "2001:db8::1.00443-::1.00008");
    }

    #[test]
    fn vlan_and_counter_suffixes() {
        let t = Template::parse(DEFAULT_TEMPLATE).unwrap();
        let name = t.render(&tuple("1.2.3.4", 1, "5.6.7.8", 2, Some(100)), &facts(2));
        assert_eq!(name, "001.002.003.004.00001-005.006.007.008.00002--100c2");
    }

    #[test]
    fn time_and_connection_codes() {
        let t = Template::parse("%T_%t_%N_%K_%M_%#_%%").unwrap();
        let name = t.render(&tuple("1.2.3.4", 1, "5.6.7.8", 2, None), &facts(0));
        assert_eq!(name, "2023-11-14T22:13:20Z_1700000000_567_234_001_0_%");
    }

    #[test]
    fn file_letters_change_the_template_as_tcpflow_does() {
        let d = DEFAULT_TEMPLATE;
        assert_eq!(apply_file_letters(d, "k").unwrap(), format!("%K/{d}"));
        assert_eq!(apply_file_letters(d, "tk").unwrap(), format!("%K/%tT{d}"));
        assert_eq!(apply_file_letters(d, "c").unwrap(), "%A.%a-%B.%b%V%v%C%C");
        let t = Template::parse(&apply_file_letters(d, "g").unwrap()).unwrap();
        let name = t.render(&tuple("1.2.3.4", 1, "5.6.7.8", 2, None), &facts(0));
        assert_eq!(
            name,
            "000000000-000999999/000001000-000001999/000001234/001.002.003.004.00001-005.006.007.008.00002"
        );
        assert_eq!(apply_file_letters(d, "XM").unwrap(), d);
        assert!(apply_file_letters(d, "Q").is_err());
    }

    #[test]
    fn ethernet_addresses_and_session_id() {
        let t = Template::parse("%E_%e_%S").unwrap();
        let tuple = tuple("1.2.3.4", 1, "5.6.7.8", 2, None);
        let mut f = facts(0);
        assert_eq!(
            t.render(&tuple, &f),
            "00:00:00:00:00:00_00:00:00:00:00:00_00000000000001234567"
        );
        f.macs = Some([2, 0, 0, 0, 0, 2, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
        assert_eq!(
            t.render(&tuple, &f),
            "aa:bb:cc:dd:ee:ff_02:00:00:00:00:02_00000000000001234567"
        );
    }

    #[test]
    fn templates_that_leave_the_folder_are_refused() {
        assert!(Template::parse("../%A").is_err());
        assert!(Template::parse("/tmp/%A").is_err());
        assert!(Template::parse("a/./b").is_err());
        assert!(Template::parse("%Q").is_err());
        assert!(Template::parse("%A/%B").is_ok());
    }

    #[test]
    fn parts_that_render_empty_dot_or_dot_dot_are_refused() {
        // Without a VLAN tag and on a first connection these codes are empty:
        // `/x` is absolute and `..` leaves the folder.
        for t in ["%V/x", "%v%C/x", ".%V./%A", "%C.%c./%A", "%A/.%c", "%A/%c"] {
            assert!(Template::parse(t).is_err(), "{t}");
        }
        for t in ["%A%V%v/x", "...%V/%A", ".%V%A", "%C%#"] {
            assert!(Template::parse(t).is_ok(), "{t}");
        }
        let t = Template::parse("%C%#/%A").unwrap();
        let name = t.render(&tuple("1.2.3.4", 1, "5.6.7.8", 2, None), &facts(0));
        assert_eq!(name, "0/001.002.003.004");
    }
}
