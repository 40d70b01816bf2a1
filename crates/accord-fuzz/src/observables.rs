//! Indicator values of every type, valid and nearly valid, and defanged forms of them.
//!
//! Each generator mostly produces values the canonicalizer should accept, with a minority of near misses (an octet
//! over 255, a leading zero, a digest one digit short, a label over 63 characters): the boundaries are where parsers
//! go wrong.

use proptest::prelude::*;

/// The type names a declared indicator may carry: Accord's types and the aliases it accepts.
pub const TYPE_NAMES: &[&str] = &[
    "ipv4-addr",
    "ipv6-addr",
    "domain-name",
    "url",
    "email-addr",
    "file",
    "vulnerability",
    "x509-certificate",
    "ipv4",
    "ip-src",
    "ip-dst",
    "domain",
    "hostname",
    "uri",
    "link",
    "email",
    "filename",
    "file-name",
    "hash",
    "md5",
    "sha1",
    "sha-256",
    "sha512",
    "cve",
    "x509-serial",
    "IPv4-Addr",
    "unknown-type",
];

/// An IPv4 address, sometimes with a CIDR prefix, sometimes malformed (octet over 255, leading zero, 3 or 5 octets).
pub fn ipv4() -> impl Strategy<Value = String> {
    let octet = prop_oneof![
        8 => (0u16..=255).prop_map(|octet| octet.to_string()),
        1 => (256u16..1000).prop_map(|octet| octet.to_string()),
        1 => (0u16..100).prop_map(|octet| format!("0{octet}")),
    ];
    let prefix = prop_oneof![
        6 => Just(String::new()),
        3 => (0u8..=32).prop_map(|prefix| format!("/{prefix}")),
        1 => prop::sample::select(vec!["/33", "/08", "/", "/-1", "/320"]).prop_map(str::to_owned),
    ];
    (prop::collection::vec(octet, 3..=5), prefix, 0u8..10).prop_map(|(octets, prefix, shape)| {
        let octets = if shape == 0 {
            octets
        } else {
            octets[..octets.len().min(4)].to_vec()
        };
        format!("{}{prefix}", octets.join("."))
    })
}

/// An IPv6 address: full, compressed, with an embedded IPv4 (IPv4-mapped `::ffff:a.b.c.d` included), in brackets,
/// with a zone index or a CIDR prefix.
pub fn ipv6() -> impl Strategy<Value = String> {
    let groups = prop::collection::vec(
        prop_oneof![3 => Just(0u16), 1 => Just(0xffff_u16), 4 => any::<u16>()],
        8,
    );
    (groups, 0u8..8, 0u8..8, any::<bool>(), 0u8..12, 0u8..=140).prop_map(
        |(groups, style, zero_from, upper, extra, prefix)| {
            let hex: Vec<String> = groups
                .iter()
                .map(|group| {
                    if upper {
                        format!("{group:X}")
                    } else {
                        format!("{group:x}")
                    }
                })
                .collect();
            let mut text = match style {
                0 => hex.join(":"),
                1 => format!(
                    "{}::{}",
                    hex[..usize::from(zero_from)].join(":"),
                    hex[usize::from(zero_from) + 1..].join(":")
                ),
                2 => format!(
                    "::ffff:{}.{}.{}.{}",
                    groups[0] >> 8,
                    groups[0] & 0xff,
                    groups[1] >> 8,
                    groups[1] & 0xff
                ),
                3 => format!("::{}", hex[7]),
                4 => format!("{}::", hex[..usize::from(zero_from)].join(":")),
                5 => format!(
                    "{}::{}.{}.{}.{}",
                    hex[0],
                    groups[6] >> 8,
                    groups[6] & 0xff,
                    groups[7] >> 8,
                    groups[7] & 0xff
                ),
                6 => hex
                    .iter()
                    .map(|group| format!("{group:0>4}"))
                    .collect::<Vec<_>>()
                    .join(":"),
                _ => format!("{}:::{}", hex[0], hex[1]),
            };
            match extra {
                0 => text = format!("[{text}]"),
                1 => text.push_str("%eth0"),
                2 | 3 => text.push_str(&format!("/{prefix}")),
                _ => {}
            }
            text
        },
    )
}

/// A domain label: ASCII letters, digits, hyphens, sometimes Unicode (IDNA), sometimes too long.
fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        10 => "[a-z0-9]([a-z0-9-]{0,12}[a-z0-9])?",
        2 => "[A-Za-z0-9_-]{1,20}",
        2 => prop::sample::select(vec![
            "bücher", "straße", "münchen", "例え", "пример", "xn--bcher-kva", "xn--", "xn--zz", "ÉCOLE",
            "ﬁle", "a\u{200d}b", "ꓲ", "İstanbul", "ǅ", "ⅷ", "٣", "ß", "ς", "a\u{301}", "🦀",
        ]).prop_map(str::to_owned),
        1 => "[a-z]{60,70}",
    ]
}

/// A domain name: two to five labels and a top-level label, sometimes with a trailing dot or upper case.
pub fn domain() -> BoxedStrategy<String> {
    let tld = prop_oneof![
        6 => prop::sample::select(vec!["com", "net", "org", "de", "io", "co", "uk", "xyz", "bank", "onion", "exe", "pdf", "zip"]).prop_map(str::to_owned),
        1 => "[a-z]{2,10}",
        1 => prop::sample::select(vec!["xn--p1ai", "рф", "中国", "123", "c0m", "a"]).prop_map(str::to_owned),
    ];
    (prop::collection::vec(label(), 1..5), tld, 0u8..10)
        .prop_map(|(labels, tld, variant)| {
            let mut name = format!("{}.{tld}", labels.join("."));
            match variant {
                0 => name.push('.'),
                1 => name = name.to_uppercase(),
                _ => {}
            }
            name
        })
        .boxed()
}

/// A host: a domain, an IPv4 address or a bracketed IPv6 address, sometimes with a port or user information.
fn host() -> impl Strategy<Value = String> {
    let bare = prop_oneof![
        6 => domain(),
        2 => ipv4(),
        1 => ipv6().prop_map(|address| format!("[{}]", address.trim_matches(|c| c == '[' || c == ']'))),
    ];
    (bare, 0u8..10, 0u32..70_000).prop_map(|(host, variant, port)| match variant {
        0 => format!("{host}:{port}"),
        1 => format!("user:pass@{host}"),
        _ => host,
    })
}

/// A URL: a scheme (supported, unsupported, defanged or none), a host, a path, a query and a fragment with
/// characters that need percent-encoding.
pub fn url() -> BoxedStrategy<String> {
    let scheme = prop::sample::select(vec![
        "http://",
        "https://",
        "HTTPS://",
        "ftp://",
        "ws://",
        "wss://",
        "",
        "",
        "hxxp://",
        "mailto:",
        "javascript:",
        "file://",
        "data:",
    ]);
    let segment = prop_oneof![
        6 => "[A-Za-z0-9._~-]{0,12}",
        2 => "[A-Za-z0-9%!$&'()*+,;=:@ \\[\\]|^{}<>\"`]{0,12}",
        1 => prop::sample::select(vec!["ü", "..", ".", "%2e%2E", "%", "%zz", "a b", "login.php", "x[.]y"]).prop_map(str::to_owned),
    ];
    let path = prop::collection::vec(segment, 0..5).prop_map(|segments| {
        segments
            .iter()
            .map(|segment| format!("/{segment}"))
            .collect::<String>()
    });
    let query = prop_oneof![
        3 => Just(String::new()),
        1 => "\\?[a-z]{1,6}=[A-Za-z0-9@.%+ ]{0,20}(&[a-z]{1,6}=[a-z0-9]{0,8}){0,3}",
    ];
    let fragment = prop_oneof![4 => Just(String::new()), 1 => "#[A-Za-z0-9 /?]{0,10}"];
    (scheme, host(), path, query, fragment)
        .prop_map(|(scheme, host, path, query, fragment)| {
            format!("{scheme}{host}{path}{query}{fragment}")
        })
        .boxed()
}

/// An e-mail address: a dot-atom local part (sometimes with characters it may not hold), `@`, a domain.
pub fn email() -> BoxedStrategy<String> {
    let local = prop_oneof![
        6 => "[a-z0-9]([a-z0-9._+-]{0,15}[a-z0-9])?",
        2 => "[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,20}",
        1 => "[a-z]{60,70}",
        1 => prop::sample::select(vec!["\"quoted\"", "a..b", ".a", "a.", "jö", "a b", "mailto:x"]).prop_map(str::to_owned),
    ];
    (local, domain(), 0u8..10)
        .prop_map(|(local, domain, variant)| match variant {
            0 => format!("mailto:{local}@{domain}"),
            1 => format!("{local}@@{domain}"),
            _ => format!("{local}@{domain}"),
        })
        .boxed()
}

/// A hex digest of an MD5, SHA-1, SHA-256 or SHA-512 (sometimes a digit short or long), in either case, sometimes
/// with an algorithm prefix.
pub fn hash() -> BoxedStrategy<String> {
    let length = prop_oneof![
        8 => prop::sample::select(vec![32usize, 40, 64, 128]),
        1 => prop::sample::select(vec![31usize, 33, 39, 63, 65, 127, 129, 200]),
    ];
    let prefix = prop::sample::select(vec![
        "", "", "", "sha256:", "SHA-256=", "md5:", "sha1:", "sha512=", "sha-1:",
    ]);
    (length, any::<bool>(), prefix, any::<u64>())
        .prop_map(|(length, upper, prefix, seed)| {
            let mut state = seed | 1;
            let digits: String = (0..length)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let digit = char::from_digit((state % 16) as u32, 16).unwrap_or('0');
                    if upper {
                        digit.to_ascii_uppercase()
                    } else {
                        digit
                    }
                })
                .collect();
            format!("{prefix}{digits}")
        })
        .boxed()
}

/// A file name: a stem and an extension, sometimes with spaces, Unicode, a path, control characters or too long.
pub fn file_name() -> BoxedStrategy<String> {
    let stem = prop_oneof![
        6 => "[A-Za-z0-9_ -]{1,20}",
        1 => "[A-Za-z]{250,260}",
        1 => prop::sample::select(vec!["Rechnung_Müller", "報告", ".", "..", "C:\\Users\\x", "dir/x", "a\u{0}b", "con", "évil"]).prop_map(str::to_owned),
    ];
    let extension = prop::sample::select(vec![
        "exe", "pdf", "docm", "zip", "js", "ps1", "lnk", "", "tar.gz", "com",
    ]);
    (stem, extension)
        .prop_map(|(stem, extension)| {
            if extension.is_empty() {
                stem
            } else {
                format!("{stem}.{extension}")
            }
        })
        .boxed()
}

/// A certificate serial number: hex octets separated by `:`, `-`, blanks or nothing, sometimes `0x`-prefixed, with
/// leading zero octets, an odd number of digits or a non-hex digit.
pub fn serial() -> BoxedStrategy<String> {
    let separator = prop::sample::select(vec![":", "-", " ", "", ":"]);
    (prop::collection::vec(any::<u8>(), 1..25), separator, 0u8..8)
        .prop_map(|(octets, separator, variant)| {
            let mut text = octets
                .iter()
                .map(|octet| format!("{octet:02x}"))
                .collect::<Vec<_>>()
                .join(separator);
            match variant {
                0 => text = format!("0x{text}"),
                1 => text = format!("00{separator}{text}"),
                2 => text = text.to_uppercase(),
                3 => text.push('g'),
                4 => {
                    text.remove(0);
                }
                5 => text = format!("-{text}"),
                _ => {}
            }
            text
        })
        .boxed()
}

/// A CVE id, sometimes lower-case, with a short, long or zero-padded sequence, or an early year.
pub fn cve() -> BoxedStrategy<String> {
    (1990u32..2100, 0u64..100_000_000, 0u8..10)
        .prop_map(|(year, sequence, variant)| match variant {
            0 => format!("cve-{year}-{sequence:04}"),
            1 => format!("CVE-{year}-0{sequence}"),
            2 => format!("CVE-{year}-{sequence}{sequence}{sequence}"),
            _ => format!("CVE-{year}-{sequence:04}"),
        })
        .boxed()
}

/// A value of any type, with the name of the type it was generated as.
pub fn typed_value() -> BoxedStrategy<(&'static str, String)> {
    prop_oneof![
        2 => ipv4().prop_map(|value| ("ipv4-addr", value)),
        2 => ipv6().prop_map(|value| ("ipv6-addr", value)),
        2 => domain().prop_map(|value| ("domain-name", value)),
        3 => url().prop_map(|value| ("url", value)),
        2 => email().prop_map(|value| ("email-addr", value)),
        2 => hash().prop_map(|value| ("file", value)),
        1 => file_name().prop_map(|value| ("file", value)),
        1 => serial().prop_map(|value| ("x509-certificate", value)),
        1 => cve().prop_map(|value| ("vulnerability", value)),
    ]
    .boxed()
}

/// A value of any type.
pub fn value() -> BoxedStrategy<String> {
    typed_value().prop_map(|(_, value)| value).boxed()
}

/// Defangs `value` the ways analysts do, one choice per separator taken from `choices`: `.` as `[.]`, `(.)`,
/// `{.}`, `[dot]` or ` dot `; `@` as `[at]`, `(at)`, `[@]` or ` at `; `http` as `hxxp`; `://` as `[://]`; `:` as
/// `[:]`; `/` as `[/]`; sometimes a nested form (`[[.]]`) and wrapping quotes or angle brackets.
pub fn defang(value: &str, choices: &[u8]) -> String {
    let mut choice = choices.iter().copied().cycle();
    let mut next = || choice.next().unwrap_or(0);
    let mut out = String::with_capacity(value.len() * 2);
    let mut rest = value;
    while let Some(c) = rest.chars().next() {
        if rest.len() >= 4
            && rest.is_char_boundary(4)
            && rest[..4].eq_ignore_ascii_case("http")
            && next() % 2 == 0
        {
            out.push_str(["hxxp", "hXXp", "h**p", "hxxxp"][usize::from(next() % 4)]);
            rest = &rest[4..];
            continue;
        }
        if rest.starts_with("://") && next() % 3 == 0 {
            out.push_str("[://]");
            rest = &rest[3..];
            continue;
        }
        let replacement = match c {
            '.' => ["[.]", "(.)", "{.}", "[dot]", " dot ", ".", "[[.]]", " [.] "]
                [usize::from(next() % 8)],
            '@' => ["[at]", "(at)", "[@]", " at ", "@", "{at}"][usize::from(next() % 6)],
            ':' => ["[:]", ":"][usize::from(next() % 2)],
            '/' => ["[/]", "/", "/"][usize::from(next() % 3)],
            _ => "",
        };
        if replacement.is_empty() {
            out.push(c);
        } else {
            out.push_str(replacement);
        }
        rest = &rest[c.len_utf8()..];
    }
    match next() % 8 {
        0 => format!("\"{out}\""),
        1 => format!("<{out}>"),
        2 => format!(" '{out}' "),
        3 => format!("\u{201c}{out}\u{201d}"),
        _ => out,
    }
}

/// Defangs `value` only in the ways that read back exactly: bracketed separators (`[.]`, `(dot)`, `[at]`, `[:]`,
/// `[/]`, `[://]`), `hxxp` for a leading `http`, and wrapping quotes or angle brackets.
pub fn defang_reversibly(value: &str, choices: &[u8]) -> String {
    let mut choice = choices.iter().copied().cycle();
    let mut next = || usize::from(choice.next().unwrap_or(0));
    let mut out = String::with_capacity(value.len() * 2);
    let mut rest = value;
    let lower = value.to_ascii_lowercase();
    if (lower.starts_with("http://") || lower.starts_with("https://")) && next() % 2 == 0 {
        out.push_str(["hxxp", "hXXp", "h**p", "hxxxp"][next() % 4]);
        rest = &rest[4..];
    }
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("://") && next() % 2 == 0 {
            out.push_str("[://]");
            rest = &rest[3..];
            continue;
        }
        let replacement = match c {
            '.' => ["[.]", "(.)", "{.}", "[dot]", "(dot)", "{dot}", "."][next() % 7],
            '@' => ["[at]", "(at)", "[@]", "{at}", "(@)", "@"][next() % 6],
            ':' => ["[:]", ":"][next() % 2],
            '/' => ["[/]", "/"][next() % 2],
            _ => "",
        };
        if replacement.is_empty() {
            out.push(c);
        } else {
            out.push_str(replacement);
        }
        rest = &rest[c.len_utf8()..];
    }
    match next() % 6 {
        0 => format!("\"{out}\""),
        1 => format!("<{out}>"),
        2 => format!(" '{out}' "),
        _ => out,
    }
}

/// A value of any type, as written in the wild: plain, defanged or mutated, with the type it was generated as.
pub fn wild_typed_value() -> BoxedStrategy<(&'static str, String)> {
    (
        typed_value(),
        prop::collection::vec(any::<u8>(), 1..16),
        crate::edits(4),
        0u8..6,
    )
        .prop_map(|((kind, value), choices, edits, variant)| {
            let value = match variant {
                0 | 1 => value,
                2 | 3 => defang(&value, &choices),
                4 => crate::apply_edits(&value, &edits),
                _ => crate::apply_edits(&defang(&value, &choices), &edits),
            };
            (kind, value)
        })
        .boxed()
}

/// A value of any type, as written in the wild.
pub fn wild_value() -> BoxedStrategy<String> {
    wild_typed_value().prop_map(|(_, value)| value).boxed()
}
