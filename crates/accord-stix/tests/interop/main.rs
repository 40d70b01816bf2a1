//! Interoperability of Accord's deterministic STIX ids with the OASIS `stix2` Python library.
//!
//! Generates a few hundred random observables (canonical values of every type, file names and certificate serials
//! included, and raw strings full of characters JCS must escape or keep), asks `tests/interop/stix_ids.py` for the ids `stix2` gives them, and compares.
//!
//! Needs `python3` with `stix2` (`pip install stix2`). Without it the test prints a notice and passes, unless
//! `ACCORD_REQUIRE_INTEROP=1` (set by CI), in which case it fails. `ACCORD_INTEROP_SEED=<u64>` replays a run.

#[path = "../common/python.rs"]
mod python;

use std::{
    process::{Command, Stdio},
    time::{SystemTime, UNIX_EPOCH},
};

use accord_domain::{ObservableType, observable::canonicalize};
use accord_stix::observable_id;
use accord_testkit::{Component, available};

const NUM_OBSERVABLES: usize = 400;

/// SplitMix64: a small deterministic generator, so a failing seed can be replayed.
struct Rng(accord_testkit::SplitMix64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(b"0123456789abcdef"[self.below(16) as usize]))
            .collect()
    }

    fn label(&mut self) -> String {
        let len = 1 + self.below(12) as usize;
        (0..len)
            .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[self.below(36) as usize]))
            .collect()
    }

    /// A string mixing ASCII, characters JCS escapes, and non-ASCII up to the astral planes.
    fn nasty(&mut self) -> String {
        const PIECES: [&str; 16] = [
            "a", "Z", "0", "/", "\"", "\\", "\u{1}", "\u{1f}", "\n", "\t", "\u{7f}", "é",
            "\u{2028}", "😀", " ", "中",
        ];
        let len = 1 + self.below(20) as usize;
        (0..len).map(|_| self.pick(&PIECES)).collect()
    }

    /// A file name: no `/`, `\\` or control character, but quotes, blanks, non-ASCII and `\u{2028}` (which JCS keeps).
    fn file_name(&mut self) -> String {
        const PIECES: [&str; 14] = [
            "a", "Z", "0", "\"", "'", "é", "\u{2028}", "😀", " ", "中", ".", "-", "(", ":",
        ];
        let len = self.below(12) as usize;
        let middle: String = (0..len).map(|_| self.pick(&PIECES)).collect();
        let extension = self.pick(&["exe", "pdf", "dll", "js", "zip"]);
        format!("{}{middle}.{extension}", self.label())
    }

    /// A certificate serial number of 1 to 20 octets, written in one of the forms Accord accepts.
    fn serial(&mut self) -> String {
        let octets: Vec<String> = (0..1 + self.below(20))
            .map(|_| format!("{:02x}", self.below(256)))
            .collect();
        match self.below(4) {
            0 => octets.join(":"),
            1 => octets.join("").to_ascii_uppercase(),
            2 => format!("0x{}", octets.join("")),
            _ => octets.join(" "),
        }
    }
}

/// Returns one random observable: usually a canonical value, sometimes a raw string.
fn observable(rng: &mut Rng) -> (ObservableType, String) {
    let kind = ObservableType::ALL[rng.below(ObservableType::ALL.len() as u64) as usize];
    if rng.below(5) == 0 && kind != ObservableType::Vulnerability {
        return (kind, rng.nasty());
    }
    let domain = format!(
        "{}.{}.{}",
        rng.label(),
        rng.label(),
        rng.pick(&["com", "net", "de", "xn--p1ai", "org"])
    );
    let raw = match kind {
        ObservableType::Ipv4Addr => {
            let prefix = if rng.below(3) == 0 {
                format!("/{}", rng.below(33))
            } else {
                String::new()
            };
            let octets: Vec<String> = (0..4).map(|_| rng.below(256).to_string()).collect();
            format!("{}{prefix}", octets.join("."))
        }
        ObservableType::Ipv6Addr => {
            // Zero groups now and then, so that compression kicks in.
            let groups: Vec<String> = (0..8)
                .map(|_| {
                    if rng.below(3) == 0 {
                        "0".to_owned()
                    } else {
                        format!("{:x}", rng.below(0x10000))
                    }
                })
                .collect();
            let prefix = if rng.below(3) == 0 {
                format!("/{}", rng.below(129))
            } else {
                String::new()
            };
            format!("{}{prefix}", groups.join(":"))
        }
        ObservableType::DomainName => domain,
        ObservableType::Url => format!("https://{domain}/{}?q={}", rng.label(), rng.nasty()),
        ObservableType::EmailAddr => format!("{}@{domain}", rng.label()),
        ObservableType::File if rng.below(2) == 0 => rng.file_name(),
        ObservableType::File => {
            let len = [32, 40, 64, 128][rng.below(4) as usize];
            rng.hex(len)
        }
        ObservableType::Vulnerability => {
            format!("CVE-{}-{}", 1999 + rng.below(30), 1000 + rng.below(100_000))
        }
        ObservableType::X509Certificate => rng.serial(),
    };
    match canonicalize(Some(kind), &raw) {
        Ok((_, canonical)) => (kind, canonical),
        Err(error) => panic!("generated an invalid {kind} `{raw}`: {error}"),
    }
}

fn stix2_available() -> bool {
    Command::new("python3")
        .args(["-c", "import stix2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

#[test]
fn ids_match_the_python_stix2_library() {
    if !available(
        Component::Interop,
        stix2_available(),
        "`python3 -c 'import stix2'` fails",
        "pip install stix2 (scripts/test.sh does)",
    ) {
        return;
    }
    let seed = match std::env::var("ACCORD_INTEROP_SEED") {
        Ok(seed) => seed.parse().expect("ACCORD_INTEROP_SEED is a u64"),
        Err(_) => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|time| time.as_nanos() as u64)
            .unwrap_or(1),
    };
    let mut rng = Rng(accord_testkit::SplitMix64::new(seed));
    let observables: Vec<(ObservableType, String)> =
        (0..NUM_OBSERVABLES).map(|_| observable(&mut rng)).collect();
    let mut input = String::new();
    for (kind, value) in &observables {
        let line = serde_json::json!({ "type": kind.as_str(), "value": value });
        input.push_str(&line.to_string());
        input.push('\n');
    }

    let stdout = python::run_script("stix_ids.py", input, seed);
    let expected: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        expected.len(),
        observables.len(),
        "one id per observable (seed {seed})"
    );
    for ((kind, value), expected) in observables.iter().zip(expected) {
        assert_eq!(
            observable_id(*kind, value),
            expected,
            "{kind} {value:?} (seed {seed})"
        );
    }
}
