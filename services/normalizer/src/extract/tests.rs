//! Table tests of indicator extraction from prose.

use super::*;

/// `(prose, expected indicators in order of appearance)`.
const CASES: &[(&str, &[(&str, &str)])] = &[
    (
        "Free text. May contain defanged indicators such as hxxps://login-bank-a[.]com/verify or 45.155.205[.]172.",
        &[
            ("url", "https://login-bank-a.com/verify"),
            ("ipv4-addr", "45.155.205.172"),
        ],
    ),
    (
        "Replies went to admin[at]evil[.]com over the weekend.",
        &[("email-addr", "admin@evil.com")],
    ),
    (
        "The lure pointed at evil.com.",
        &[("domain-name", "evil.com")],
    ),
    (
        "Beacons to EVIL.EXAMPLE.NET and Cdn.Evil.net, then to cdn[.]evil[.]ru!",
        &[
            ("domain-name", "evil.example.net"),
            ("domain-name", "cdn.evil.net"),
            ("domain-name", "cdn.evil.ru"),
        ],
    ),
    (
        "Upgrade to version 1.2.3 or 10.4.1-beta before Friday.",
        &[],
    ),
    (
        "The attachment invoice.pdf dropped setup.exe and readme.md.",
        &[],
    ),
    (
        "Node.js and System.IO and window.location and ASP.NET are code, not domains.",
        &[],
    ),
    (
        "The attack.It started on Monday, e.g. at 10:30:00, i.e. early.",
        &[],
    ),
    (
        "Blocked range 10.1.2.3/8 and host 192.168.1.10/32.",
        &[("ipv4-addr", "10.0.0.0/8"), ("ipv4-addr", "192.168.1.10")],
    ),
    (
        "C2 at 2001:DB8:0:0:0:0:0:1 and 2001:db8::/32; MAC 00:1a:2b:3c:4d:5e is not an IP.",
        &[("ipv6-addr", "2001:db8::1"), ("ipv6-addr", "2001:db8::/32")],
    ),
    (
        "Mapped address ::ffff:45.155.205.172 seen.",
        &[("ipv6-addr", "::ffff:45.155.205.172")],
    ),
    (
        "SHA-256 E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855 of the loader.",
        &[(
            "file",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        )],
    ),
    (
        "md5: d41d8cd98f00b204e9800998ecf8427e, sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709",
        &[
            ("file", "d41d8cd98f00b204e9800998ecf8427e"),
            ("file", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ],
    ),
    (
        "Account 12345678901234567890123456789012 is a number, not a hash.",
        &[],
    ),
    (
        "Exploited cve-2021-44228 (Log4Shell) and CVE-2023-23397.",
        &[
            ("vulnerability", "CVE-2021-44228"),
            ("vulnerability", "CVE-2023-23397"),
        ],
    ),
    (
        "Payload at hXXp://45.155.205[.]172:8080/gate.php?id=7).",
        &[("url", "http://45.155.205.172:8080/gate.php?id=7")],
    ),
    (
        "See (https://en.wikipedia.org/wiki/Foo_(bar)) for context.",
        &[("url", "https://en.wikipedia.org/wiki/Foo_(bar)")],
    ),
    (
        "Phishing kit on fxp://files[.]evil[.]com/kit.zip.",
        &[("url", "ftp://files.evil.com/kit.zip")],
    ),
    (
        "Sender was \"billing@paypa1-secure.com\" <billing@paypa1-secure.com>.",
        &[("email-addr", "billing@paypa1-secure.com")],
    ),
    (
        "The host login-bank-a.com and login-bank-a[.]com are the same.",
        &[("domain-name", "login-bank-a.com")],
    ),
    (
        "Resolved bücher.de, which is xn--bcher-kva.de.",
        &[("domain-name", "xn--bcher-kva.de")],
    ),
    (
        "Tor site abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion was used.",
        &[(
            "domain-name",
            "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion",
        )],
    ),
    (
        "Address 999.1.1.1 and 010.1.1.1 are invalid; 1.2.3.4.5 is an OID.",
        &[],
    ),
    (
        "Listening on 45.155.205.172:443 (TLS).",
        &[("ipv4-addr", "45.155.205.172")],
    ),
    (
        "Dropped to C:\\Users\\victim\\evil.com and /tmp/x/evil.net.",
        &[],
    ),
    ("Called by evil.com.exe, named like a domain.", &[]),
    (
        "hxxp[:]//evil[.]com[/]path and evil [.] org",
        &[("url", "http://evil.com/path"), ("domain-name", "evil.org")],
    ),
    (
        "Mail admin@evil.com, then visit evil.com.",
        &[
            ("email-addr", "admin@evil.com"),
            ("domain-name", "evil.com"),
        ],
    ),
    (
        "Nothing to see here: the weather was fine, 20.11.2026.",
        &[],
    ),
    (
        "IP:8.8.8.8, DNS=1.1.1.1",
        &[("ipv4-addr", "8.8.8.8"), ("ipv4-addr", "1.1.1.1")],
    ),
    (
        "Ask the SOC (soc@bank-a.de) about www.bank-a.de/login.",
        &[
            ("email-addr", "soc@bank-a.de"),
            ("domain-name", "www.bank-a.de"),
        ],
    ),
];

#[test]
fn prose_yields_the_expected_indicators() {
    for (text, expected) in CASES {
        let found = indicators(text);
        let found: Vec<(&str, &str)> = found
            .iter()
            .map(|(kind, value)| (kind.as_str(), value.as_str()))
            .collect();
        assert_eq!(found, *expected, "in {text:?}");
    }
    assert!(CASES.len() >= 25);
}

#[test]
fn empty_and_unicode_text_is_fine() {
    assert!(indicators("").is_empty());
    assert!(indicators("日本語のテキスト — ünïcödé… ‹evil›").is_empty());
    assert_eq!(
        indicators("“evil[.]com”"),
        vec![(ObservableType::DomainName, "evil.com".to_owned())]
    );
}

/// Odd input of every kind never panics (byte ranges stay on char boundaries) in extraction, PII location and
/// canonicalization.
#[test]
fn odd_input_never_panics() {
    const PIECES: [&str; 32] = [
        "hxxp",
        "://",
        "[.]",
        "[at]",
        "@",
        ".",
        ":",
        "::",
        "/",
        "é",
        "😀",
        "1",
        "255",
        "0",
        "a",
        "Z",
        "com",
        " ",
        "\n",
        "(",
        ")",
        "+49",
        "-",
        "Mr. ",
        "contact: ",
        "Name: ",
        "\u{2028}",
        "%",
        "CVE-",
        "d41d8cd98f00b204e9800998ecf8427e",
        "ß",
        "xn--",
    ];
    let mut state: u64 = 0x5eed;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize
    };
    for _ in 0..3000 {
        let len = next() % 24;
        let text: String = (0..len).map(|_| PIECES[next() % PIECES.len()]).collect();
        for (kind, value) in indicators(&text) {
            assert_eq!(
                canonicalize(Some(kind), &value),
                Ok((kind, value.clone())),
                "from {text:?}"
            );
        }
        let located = crate::pii::locate(accord_domain::TextField::Description, &text);
        for found in located {
            assert!(
                text.is_char_boundary(found.start)
                    && text.is_char_boundary(found.end)
                    && found.start < found.end
            );
        }
        let _ = canonicalize(None, &text);
    }
}
