//! The hardware map: which boards this machine has, how to reach each one's
//! debug probe and serial port, and which firmware it runs.
//!
//! The map is a TOML file (`fixtures/boards.toml` is a documented example;
//! `--boards FILE` or `HILT_BOARDS` picks another) with one `[[board]]`
//! table per board. The emulated board (`qemu`) and the simulation (`sim`)
//! are always there as implicit entries.
//!
//! Matching never guesses: a selector that matches no attached device, or
//! more than one, is an error that says what was expected and what was
//! found, so two boards of the same kind are never confused.
//!
//! Architecture Invariant: this module reads files and compares
//! descriptions of devices; it opens no probe and no port. Listing what is
//! attached lives in [`attached`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

/// The environment variable that names the hardware map.
pub const ENV: &str = "HILT_BOARDS";
/// The example map, relative to the source root.
pub const EXAMPLE: &str = "fixtures/boards.toml";

/// How a board is driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A real board: a probe-rs debug probe and a serial port.
    ProbeRs,
    /// The emulated board in QEMU.
    Qemu,
    /// The host simulation.
    Sim,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ProbeRs => "probe-rs",
            Kind::Qemu => "qemu",
            Kind::Sim => "sim",
        }
    }
}

/// A USB device's identity: vendor and product ids, and maybe its serial
/// number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbSelector {
    pub vid: u16,
    pub pid: u16,
    pub serial: Option<String>,
}

impl UsbSelector {
    /// Parses `VID:PID[:SERIAL]`, ids in hex (`0483:374b:066DFF...`).
    pub fn parse(text: &str) -> Result<UsbSelector, String> {
        let mut parts = text.splitn(3, ':');
        let id = |part: Option<&str>| {
            part.filter(|p| (1..=4).contains(&p.len()))
                .and_then(|p| u16::from_str_radix(p, 16).ok())
        };
        let expected =
            || format!("expected VID:PID[:SERIAL] with hex ids, such as 0483:374b, got {text:?}");
        let vid = id(parts.next()).ok_or_else(expected)?;
        let pid = id(parts.next()).ok_or_else(expected)?;
        let serial = match parts.next() {
            Some("") => return Err(expected()),
            other => other.map(str::to_owned),
        };
        Ok(UsbSelector { vid, pid, serial })
    }

    /// Whether a device with these ids and serial number is this one.
    pub fn matches(&self, vid: u16, pid: u16, serial: Option<&str>) -> bool {
        self.vid == vid
            && self.pid == pid
            && self
                .serial
                .as_deref()
                .is_none_or(|want| serial.is_some_and(|s| s.eq_ignore_ascii_case(want)))
    }
}

impl fmt::Display for UsbSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{:04x}", self.vid, self.pid)?;
        if let Some(serial) = &self.serial {
            write!(f, ":{serial}")?;
        }
        Ok(())
    }
}

/// Which serial port is a board's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSelector {
    /// A device path (`/dev/ttyACM0`, `/dev/serial/by-id/...`).
    Path(PathBuf),
    /// A USB serial port by its ids and serial number (`usb:VID:PID[:SERIAL]`).
    Usb(UsbSelector),
    /// A USB serial port by its serial number alone (`usb-serial:SERIAL`).
    SerialNumber(String),
}

impl PortSelector {
    /// Parses a path, `usb:VID:PID[:SERIAL]` or `usb-serial:SERIAL`.
    pub fn parse(text: &str) -> Result<PortSelector, String> {
        if let Some(usb) = text.strip_prefix("usb:") {
            return UsbSelector::parse(usb).map(PortSelector::Usb);
        }
        if let Some(serial) = text.strip_prefix("usb-serial:") {
            return match serial {
                "" => Err("usb-serial: needs a serial number".into()),
                s => Ok(PortSelector::SerialNumber(s.to_owned())),
            };
        }
        if text.starts_with('/') {
            return Ok(PortSelector::Path(PathBuf::from(text)));
        }
        Err(format!(
            "expected a device path, usb:VID:PID[:SERIAL] or usb-serial:SERIAL, got {text:?}"
        ))
    }
}

impl fmt::Display for PortSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortSelector::Path(p) => write!(f, "{}", p.display()),
            PortSelector::Usb(u) => write!(f, "usb:{u}"),
            PortSelector::SerialNumber(s) => write!(f, "usb-serial:{s}"),
        }
    }
}

/// One board of the map.
#[derive(Debug, Clone, PartialEq)]
pub struct Board {
    pub name: String,
    pub kind: Kind,
    /// probe-rs's name of the chip (`STM32F401RETx`).
    pub chip: Option<String>,
    pub probe: Option<UsbSelector>,
    pub port: Option<PortSelector>,
    pub baud: u32,
    /// A board of `hilt build` (`nucleo-f401re`) or an ELF's path.
    pub firmware: Option<String>,
    /// How long flashing (erase, program, verify) may take.
    pub flash_timeout: Duration,
    /// How long to wait for the first byte of an answer.
    pub response_timeout: Duration,
    pub notes: Option<String>,
    /// Where the entry is, for messages: `file:line`, or `implicit`.
    pub origin: String,
}

impl Board {
    /// The serial port to look for: the map's, or else for a probe with a
    /// serial number, the USB port with the same serial number (an
    /// ST-LINK's virtual COM port shares its probe's).
    pub fn port_selector(&self) -> Option<PortSelector> {
        self.port.clone().or_else(|| {
            self.probe
                .as_ref()
                .and_then(|p| p.serial.clone())
                .map(PortSelector::SerialNumber)
        })
    }

    /// An implicit entry: `qemu` or `sim` with the defaults.
    pub fn implicit(name: &str, kind: Kind) -> Board {
        Board {
            name: name.to_owned(),
            kind,
            chip: None,
            probe: None,
            port: None,
            baud: 115_200,
            firmware: (kind == Kind::Qemu).then(|| "lm3s6965evb".to_owned()),
            flash_timeout: Duration::from_secs(60),
            response_timeout: Duration::from_millis(500),
            notes: Some(match kind {
                Kind::Qemu => "the emulated board, always available".to_owned(),
                _ => "the host simulation, always available".to_owned(),
            }),
            origin: "implicit".into(),
        }
    }
}

/// A malformed hardware map.
#[derive(Debug, thiserror::Error)]
#[error("hardware map {}: {reason}", path.display())]
pub struct MapError {
    pub path: PathBuf,
    /// What is wrong, with the line and field.
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMap {
    #[serde(default)]
    board: Vec<RawBoard>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawBoard {
    name: Spanned<String>,
    kind: Spanned<String>,
    chip: Option<Spanned<String>>,
    probe: Option<Spanned<String>>,
    port: Option<Spanned<String>>,
    baud: Option<Spanned<u32>>,
    firmware: Option<Spanned<String>>,
    flash_timeout_s: Option<Spanned<u64>>,
    response_timeout_ms: Option<Spanned<u64>>,
    notes: Option<String>,
}

/// The boards of a hardware map, the implicit ones last.
#[derive(Debug, Clone, PartialEq)]
pub struct HardwareMap {
    /// The file it came from, if any.
    pub path: Option<PathBuf>,
    pub boards: Vec<Board>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

impl HardwareMap {
    /// Only the implicit boards.
    pub fn implicit() -> HardwareMap {
        HardwareMap {
            path: None,
            boards: vec![
                Board::implicit("qemu", Kind::Qemu),
                Board::implicit("sim", Kind::Sim),
            ],
        }
    }

    /// Reads a map file.
    pub fn load(path: &Path) -> Result<HardwareMap, MapError> {
        let text = std::fs::read_to_string(path).map_err(|e| MapError {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        HardwareMap::parse(&text, path)
    }

    /// Parses a map's text; `path` is for messages.
    pub fn parse(text: &str, path: &Path) -> Result<HardwareMap, MapError> {
        let error = |reason: String| MapError {
            path: path.to_owned(),
            reason,
        };
        let raw: RawMap = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| format!("line {}: ", line_of(text, s.start)))
                .unwrap_or_default();
            error(format!("{line}{}", e.message()))
        })?;
        let at = |span: std::ops::Range<usize>, field: &str, why: String| {
            error(format!(
                "line {}, field `{field}`: {why}",
                line_of(text, span.start)
            ))
        };
        let mut boards: Vec<Board> = Vec::new();
        for b in raw.board {
            let name = b.name.get_ref().trim().to_owned();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(at(b.name.span(), "name", "a name is one word".into()));
            }
            if let Some(other) = boards.iter().find(|o| o.name == name) {
                return Err(at(
                    b.name.span(),
                    "name",
                    format!("{name:?} is already the board at {}", other.origin),
                ));
            }
            let kind = match b.kind.get_ref().as_str() {
                "probe-rs" => Kind::ProbeRs,
                "qemu" => Kind::Qemu,
                "sim" => Kind::Sim,
                other => {
                    return Err(at(
                        b.kind.span(),
                        "kind",
                        format!("expected probe-rs, qemu or sim, got {other:?}"),
                    ))
                }
            };
            let probe = match &b.probe {
                Some(p) => {
                    Some(UsbSelector::parse(p.get_ref()).map_err(|e| at(p.span(), "probe", e))?)
                }
                None => None,
            };
            let port = match &b.port {
                Some(p) => {
                    Some(PortSelector::parse(p.get_ref()).map_err(|e| at(p.span(), "port", e))?)
                }
                None => None,
            };
            if kind == Kind::ProbeRs {
                let name_span = b.name.span();
                if b.chip.is_none() {
                    return Err(at(
                        name_span,
                        "chip",
                        "a probe-rs board needs its chip (probe-rs chip name)".into(),
                    ));
                }
                if probe.is_none() {
                    return Err(at(
                        name_span,
                        "probe",
                        "a probe-rs board needs its probe (VID:PID[:SERIAL])".into(),
                    ));
                }
                if port.is_none() && probe.as_ref().is_some_and(|p| p.serial.is_none()) {
                    return Err(at(
                        name_span,
                        "port",
                        "without a probe serial number to match, a probe-rs board needs its port"
                            .into(),
                    ));
                }
                if b.firmware.is_none() {
                    return Err(at(
                        name_span,
                        "firmware",
                        "a probe-rs board needs its firmware (a board name or an ELF path)".into(),
                    ));
                }
            }
            let positive = |v: &Option<Spanned<u64>>, field: &str, default: u64| match v {
                Some(v) if *v.get_ref() == 0 => Err(at(v.span(), field, "must be above 0".into())),
                Some(v) => Ok(*v.get_ref()),
                None => Ok(default),
            };
            let baud = match &b.baud {
                Some(v) if *v.get_ref() == 0 => {
                    return Err(at(v.span(), "baud", "must be above 0".into()))
                }
                Some(v) => *v.get_ref(),
                None => 115_200,
            };
            boards.push(Board {
                name,
                kind,
                chip: b.chip.map(Spanned::into_inner),
                probe,
                port,
                baud,
                firmware: b.firmware.map(Spanned::into_inner),
                flash_timeout: Duration::from_secs(positive(
                    &b.flash_timeout_s,
                    "flash-timeout-s",
                    60,
                )?),
                response_timeout: Duration::from_millis(positive(
                    &b.response_timeout_ms,
                    "response-timeout-ms",
                    500,
                )?),
                notes: b.notes,
                origin: format!("{}:{}", path.display(), line_of(text, b.name.span().start)),
            });
        }
        for implicit in HardwareMap::implicit().boards {
            if !boards.iter().any(|b| b.name == implicit.name) {
                boards.push(implicit);
            }
        }
        Ok(HardwareMap {
            path: Some(path.to_owned()),
            boards,
        })
    }

    /// The map named by `--boards`, else by `HILT_BOARDS`, else only the
    /// implicit boards.
    pub fn choose(path: Option<&Path>) -> Result<HardwareMap, MapError> {
        let from_env = std::env::var_os(ENV).map(PathBuf::from);
        match path.map(Path::to_owned).or(from_env) {
            Some(path) => HardwareMap::load(&path),
            None => Ok(HardwareMap::implicit()),
        }
    }

    /// A board by name.
    pub fn get(&self, name: &str) -> Option<&Board> {
        self.boards.iter().find(|b| b.name == name)
    }
}

/// A debug probe that is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedProbe {
    pub identifier: String,
    pub vid: u16,
    pub pid: u16,
    pub serial: Option<String>,
}

impl fmt::Display for AttachedProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:04x}:{:04x}:{}",
            self.identifier,
            self.vid,
            self.pid,
            self.serial.as_deref().unwrap_or("(no serial)")
        )
    }
}

/// A serial port that is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedPort {
    pub path: PathBuf,
    /// For USB ports: vendor and product ids, serial number.
    pub usb: Option<(u16, u16, Option<String>)>,
}

impl fmt::Display for AttachedPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some((vid, pid, serial)) = &self.usb {
            write!(
                f,
                " usb {vid:04x}:{pid:04x}:{}",
                serial.as_deref().unwrap_or("(no serial)")
            )?;
        }
        Ok(())
    }
}

/// Why a selector did not pick exactly one device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    #[error("expected {what} {selector}, but {}", list(.attached))]
    NotFound {
        what: &'static str,
        selector: String,
        attached: Vec<String>,
    },
    #[error("{what} {selector} matches {} attached devices ({}): add a serial number to pick one", .matching.len(), .matching.join(", "))]
    Ambiguous {
        what: &'static str,
        selector: String,
        matching: Vec<String>,
    },
}

fn list(attached: &[String]) -> String {
    if attached.is_empty() {
        "none is attached".into()
    } else {
        format!("only these are attached: {}", attached.join(", "))
    }
}

fn exactly_one<'a, T: fmt::Display>(
    what: &'static str,
    selector: String,
    attached: &'a [T],
    matches: impl Fn(&T) -> bool,
) -> Result<&'a T, MatchError> {
    let found: Vec<&T> = attached.iter().filter(|d| matches(d)).collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(MatchError::NotFound {
            what,
            selector,
            attached: attached.iter().map(ToString::to_string).collect(),
        }),
        many => Err(MatchError::Ambiguous {
            what,
            selector,
            matching: many.iter().map(ToString::to_string).collect(),
        }),
    }
}

/// The one attached probe a selector names.
pub fn match_probe<'a>(
    selector: &UsbSelector,
    probes: &'a [AttachedProbe],
) -> Result<&'a AttachedProbe, MatchError> {
    exactly_one("probe", selector.to_string(), probes, |p| {
        selector.matches(p.vid, p.pid, p.serial.as_deref())
    })
}

/// The one attached port a selector names. A path matches the port at that
/// path, or the one it links to (`/dev/serial/by-id/...`).
pub fn match_port<'a>(
    selector: &PortSelector,
    ports: &'a [AttachedPort],
) -> Result<&'a AttachedPort, MatchError> {
    let resolved = match selector {
        PortSelector::Path(p) => std::fs::canonicalize(p).ok(),
        _ => None,
    };
    exactly_one(
        "serial port",
        selector.to_string(),
        ports,
        |port| match selector {
            PortSelector::Path(p) => port.path == *p || resolved.as_ref() == Some(&port.path),
            PortSelector::Usb(u) => port
                .usb
                .as_ref()
                .is_some_and(|(vid, pid, serial)| u.matches(*vid, *pid, serial.as_deref())),
            PortSelector::SerialNumber(want) => port
                .usb
                .as_ref()
                .and_then(|(_, _, serial)| serial.as_deref())
                .is_some_and(|s| s.eq_ignore_ascii_case(want)),
        },
    )
}

/// What is attached to this machine.
pub mod attached {
    use super::{AttachedPort, AttachedProbe};

    /// The debug probes probe-rs sees.
    pub fn probes() -> Vec<AttachedProbe> {
        probe_rs::probe::list::Lister::new()
            .list_all()
            .into_iter()
            .map(|p| AttachedProbe {
                identifier: p.identifier.clone(),
                vid: p.vendor_id,
                pid: p.product_id,
                serial: p.serial_number.clone(),
            })
            .collect()
    }

    /// The serial ports the system lists (pseudo-terminals are not listed).
    pub fn ports() -> Vec<AttachedPort> {
        serialport::available_ports()
            .unwrap_or_default()
            .into_iter()
            .map(|p| AttachedPort {
                path: p.port_name.into(),
                usb: match p.port_type {
                    serialport::SerialPortType::UsbPort(usb) => {
                        Some((usb.vid, usb.pid, usb.serial_number))
                    }
                    _ => None,
                },
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<HardwareMap, String> {
        HardwareMap::parse(text, Path::new("boards.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn the_example_map_parses_and_has_the_implicit_boards() {
        let root = crate::firmware::source_root().unwrap();
        let map = HardwareMap::load(&root.join(EXAMPLE)).unwrap();
        let nucleo = map.get("nucleo-1").expect("the example's NUCLEO");
        assert_eq!(nucleo.kind, Kind::ProbeRs);
        assert_eq!(nucleo.chip.as_deref(), Some("STM32F401RETx"));
        assert_eq!(nucleo.probe.as_ref().unwrap().vid, 0x0483);
        assert_eq!(nucleo.firmware.as_deref(), Some("nucleo-f401re"));
        assert!(nucleo.origin.contains("boards.toml:"), "{}", nucleo.origin);
        assert_eq!(map.get("qemu").unwrap().kind, Kind::Qemu);
        assert_eq!(map.get("sim").unwrap().kind, Kind::Sim);
    }

    #[test]
    fn selectors_parse_and_print_back() {
        let s = UsbSelector::parse("0483:374B:066DFF").unwrap();
        assert_eq!(
            (s.vid, s.pid, s.serial.as_deref()),
            (0x0483, 0x374b, Some("066DFF"))
        );
        assert_eq!(s.to_string(), "0483:374b:066DFF");
        assert!(UsbSelector::parse("0483").is_err());
        assert!(UsbSelector::parse("0483:zz").is_err());
        assert!(UsbSelector::parse("12345:0001").is_err());
        assert!(UsbSelector::parse("0483:374b:").is_err());
        assert_eq!(
            PortSelector::parse("/dev/ttyACM0").unwrap(),
            PortSelector::Path("/dev/ttyACM0".into())
        );
        assert_eq!(
            PortSelector::parse("usb-serial:ABC").unwrap(),
            PortSelector::SerialNumber("ABC".into())
        );
        assert!(matches!(
            PortSelector::parse("usb:0483:374b").unwrap(),
            PortSelector::Usb(_)
        ));
        assert!(PortSelector::parse("ttyACM0").is_err());
    }

    #[test]
    fn malformed_maps_name_the_file_line_and_field() {
        let cases = [
            ("[[board]]\nname = \"a\"\nkind = \"jtag\"\n", "boards.toml: line 3, field `kind`: expected probe-rs, qemu or sim"),
            (
                "[[board]]\nname = \"a\"\nkind = \"probe-rs\"\nchip = \"X\"\nprobe = \"0483-374b\"\n",
                "line 5, field `probe`: expected VID:PID[:SERIAL]",
            ),
            (
                "[[board]]\nname = \"a\"\nkind = \"probe-rs\"\nchip = \"X\"\nprobe = \"0483:374b\"\nfirmware = \"f\"\n",
                "line 2, field `port`: without a probe serial number",
            ),
            ("[[board]]\nname = \"a\"\nkind = \"sim\"\nbaud = \"fast\"\n", "line 4"),
            ("[[board]]\nname = \"a\"\nkind = \"sim\"\ncolour = 1\n", "unknown field `colour`"),
            ("[[board]]\nname = \"a\"\nkind = \"sim\"\n[[board]]\nname = \"a\"\nkind = \"qemu\"\n", "line 5, field `name`: \"a\" is already the board at boards.toml:2"),
            ("[[board]]\nname = \"a\"\nkind = \"sim\"\nresponse-timeout-ms = 0\n", "line 4, field `response-timeout-ms`: must be above 0"),
        ];
        for (text, want) in cases {
            let e = parse(text).unwrap_err();
            assert!(e.starts_with("hardware map boards.toml: "), "{e}");
            assert!(e.contains(want), "{e}\nwanted: {want}");
        }
    }

    #[test]
    fn a_probe_serial_number_finds_its_port() {
        let map = parse(
            "[[board]]\nname = \"n\"\nkind = \"probe-rs\"\nchip = \"STM32F401RETx\"\nprobe = \"0483:374b:AAA\"\nfirmware = \"nucleo-f401re\"\n",
        )
        .unwrap();
        assert_eq!(
            map.get("n").unwrap().port_selector(),
            Some(PortSelector::SerialNumber("AAA".into()))
        );
    }

    fn look_alikes() -> Vec<AttachedPort> {
        vec![
            AttachedPort {
                path: "/dev/ttyACM0".into(),
                usb: Some((0x0483, 0x374b, Some("BBB".into()))),
            },
            AttachedPort {
                path: "/dev/ttyACM1".into(),
                usb: Some((0x0483, 0x374b, Some("AAA".into()))),
            },
            AttachedPort {
                path: "/dev/ttyS0".into(),
                usb: None,
            },
        ]
    }

    #[test]
    fn two_look_alike_ports_are_told_apart_by_serial_number() {
        let ports = look_alikes();
        let by_serial = PortSelector::SerialNumber("aaa".into());
        assert_eq!(
            match_port(&by_serial, &ports).unwrap().path,
            Path::new("/dev/ttyACM1")
        );
        let by_usb = PortSelector::parse("usb:0483:374b:BBB").unwrap();
        assert_eq!(
            match_port(&by_usb, &ports).unwrap().path,
            Path::new("/dev/ttyACM0")
        );
        // Without a serial number the two cannot be told apart: an error,
        // never a guess.
        let e = match_port(&PortSelector::parse("usb:0483:374b").unwrap(), &ports).unwrap_err();
        assert!(matches!(e, MatchError::Ambiguous { .. }), "{e}");
        assert!(e.to_string().contains("matches 2 attached devices"), "{e}");
        let e = match_port(&PortSelector::SerialNumber("CCC".into()), &ports).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "expected serial port usb-serial:CCC, but only these are attached: /dev/ttyACM0"
            ),
            "{e}"
        );
        assert_eq!(
            match_port(&PortSelector::Path("/dev/ttyS0".into()), &ports)
                .unwrap()
                .path,
            Path::new("/dev/ttyS0")
        );
    }

    #[test]
    fn probes_are_matched_exactly_and_absence_is_explained() {
        let probes = vec![
            AttachedProbe {
                identifier: "STLink V2-1".into(),
                vid: 0x0483,
                pid: 0x374b,
                serial: Some("AAA".into()),
            },
            AttachedProbe {
                identifier: "STLink V2-1".into(),
                vid: 0x0483,
                pid: 0x374b,
                serial: Some("BBB".into()),
            },
        ];
        let want = UsbSelector::parse("0483:374b:BBB").unwrap();
        assert_eq!(
            match_probe(&want, &probes).unwrap().serial.as_deref(),
            Some("BBB")
        );
        let e = match_probe(&UsbSelector::parse("0483:374b").unwrap(), &probes).unwrap_err();
        assert!(matches!(e, MatchError::Ambiguous { .. }));
        let e = match_probe(&want, &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "expected probe 0483:374b:BBB, but none is attached"
        );
    }
}
