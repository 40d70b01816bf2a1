//! Table-driven tests of refanging, detection and canonical forms.

use super::*;

/// `(declared type, raw value, expected type, expected canonical value)`.
const ACCEPTED: &[(Option<&str>, &str, &str, &str)] = &[
    // IPv4
    (None, "45.155.205.172", "ipv4-addr", "45.155.205.172"),
    (None, "45.155.205[.]172", "ipv4-addr", "45.155.205.172"),
    (None, "45[.]155[.]205[.]172", "ipv4-addr", "45.155.205.172"),
    (None, "45(.)155(.)205(.)172", "ipv4-addr", "45.155.205.172"),
    (None, " \"10.0.0.1\" ", "ipv4-addr", "10.0.0.1"),
    (None, "10.1.2.3/8", "ipv4-addr", "10.0.0.0/8"),
    (None, "192.168.1.77/24", "ipv4-addr", "192.168.1.0/24"),
    (None, "192.168.1.77/32", "ipv4-addr", "192.168.1.77"),
    (None, "0.0.0.0/0", "ipv4-addr", "0.0.0.0/0"),
    (Some("ip-dst"), "8.8.8[.]8", "ipv4-addr", "8.8.8.8"),
    // IPv6
    (
        None,
        "2001:0DB8:0000:0000:0000:0000:0000:0001",
        "ipv6-addr",
        "2001:db8::1",
    ),
    (
        None,
        "2001:db8:0:0:1:0:0:1",
        "ipv6-addr",
        "2001:db8::1:0:0:1",
    ),
    (None, "2001:db8::1/128", "ipv6-addr", "2001:db8::1"),
    (
        None,
        "2001:db8:abcd:12::1/48",
        "ipv6-addr",
        "2001:db8:abcd::/48",
    ),
    (None, "::ffff:1.2.3.4", "ipv6-addr", "::ffff:1.2.3.4"),
    (None, "[2001:db8::2]", "ipv6-addr", "2001:db8::2"),
    (None, "2001[:]db8[:][:]3", "ipv6-addr", "2001:db8::3"),
    // domain names
    (None, "evil.com", "domain-name", "evil.com"),
    (None, "EVIL.Com.", "domain-name", "evil.com"),
    (
        None,
        "login-bank-a[.]com",
        "domain-name",
        "login-bank-a.com",
    ),
    (
        None,
        "login-bank-a[dot]com",
        "domain-name",
        "login-bank-a.com",
    ),
    (
        None,
        "login-bank-a(dot)com",
        "domain-name",
        "login-bank-a.com",
    ),
    (
        None,
        "login-bank-a{.}com",
        "domain-name",
        "login-bank-a.com",
    ),
    (
        None,
        "evil [.] example [.] org",
        "domain-name",
        "evil.example.org",
    ),
    (
        None,
        "evil dot example dot org",
        "domain-name",
        "evil.example.org",
    ),
    (None, "bücher.de", "domain-name", "xn--bcher-kva.de"),
    (None, "XN--BCHER-KVA.DE", "domain-name", "xn--bcher-kva.de"),
    (None, "_dmarc.evil.com", "domain-name", "_dmarc.evil.com"),
    (
        Some("domain-name"),
        "invoice.zip",
        "domain-name",
        "invoice.zip",
    ),
    (
        Some("hostname"),
        "<cdn.evil.net>",
        "domain-name",
        "cdn.evil.net",
    ),
    // URLs
    (
        None,
        "hxxps://login-bank-a[.]com/verify",
        "url",
        "https://login-bank-a.com/verify",
    ),
    (None, "hXXp://evil[.]com", "url", "http://evil.com/"),
    (
        None,
        "http://Evil.Example./x",
        "url",
        "http://evil.example/x",
    ),
    (
        None,
        "https://evil.example.:8443/",
        "url",
        "https://evil.example:8443/",
    ),
    (
        None,
        "hxxp[:]//evil[.]com/a?b=c",
        "url",
        "http://evil.com/a?b=c",
    ),
    (
        None,
        "https[://]evil[.]com[/]x",
        "url",
        "https://evil.com/x",
    ),
    (
        None,
        "fxp://files.evil.com/drop.exe",
        "url",
        "ftp://files.evil.com/drop.exe",
    ),
    (
        None,
        "HTTP://EVIL.COM:80/Path?Q=1#Frag",
        "url",
        "http://evil.com/Path?Q=1#Frag",
    ),
    (None, "https://evil.com:443/", "url", "https://evil.com/"),
    (
        None,
        "https://evil.com:8443/x",
        "url",
        "https://evil.com:8443/x",
    ),
    (
        None,
        "http://bücher.de/ä",
        "url",
        "http://xn--bcher-kva.de/%C3%A4",
    ),
    (
        None,
        "http://45.155.205[.]172:8080/gate.php",
        "url",
        "http://45.155.205.172:8080/gate.php",
    ),
    (
        None,
        "http://[2001:db8::1]/x",
        "url",
        "http://[2001:db8::1]/x",
    ),
    (
        None,
        "evil.com/login.php",
        "url",
        "http://evil.com/login.php",
    ),
    (Some("url"), "evil.com", "url", "http://evil.com/"),
    (None, "<https://evil.com/a>", "url", "https://evil.com/a"),
    // e-mail addresses
    (None, "admin@evil.com", "email-addr", "admin@evil.com"),
    (None, "admin[at]evil[.]com", "email-addr", "admin@evil.com"),
    (
        None,
        "Admin(at)EVIL(dot)COM",
        "email-addr",
        "Admin@evil.com",
    ),
    (None, "admin[@]evil.com", "email-addr", "admin@evil.com"),
    (
        None,
        "admin at evil dot com",
        "email-addr",
        "admin@evil.com",
    ),
    (
        None,
        "mailto:John.Doe+x@Example.ORG",
        "email-addr",
        "John.Doe+x@example.org",
    ),
    // file hashes
    (
        None,
        "D41D8CD98F00B204E9800998ECF8427E",
        "file",
        "d41d8cd98f00b204e9800998ecf8427e",
    ),
    (
        None,
        "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "file",
        "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    ),
    (
        None,
        "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
        "file",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ),
    (
        Some("md5"),
        "md5=d41d8cd98f00b204e9800998ecf8427e",
        "file",
        "d41d8cd98f00b204e9800998ecf8427e",
    ),
    (
        None,
        "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
        "file",
        "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
    ),
    // file names (only when declared: never detected)
    (Some("file"), "evil.exe", "file", "evil.exe"),
    (Some("file"), "evil.com", "file", "evil.com"),
    (Some("filename"), "evil[.]exe", "file", "evil.exe"),
    (
        Some("file"),
        " 'Invoice 2024 (final).PDF' ",
        "file",
        "Invoice 2024 (final).PDF",
    ),
    (
        Some("file"),
        "rechnung-ä😀.pdf.exe",
        "file",
        "rechnung-ä😀.pdf.exe",
    ),
    (Some("file"), "deadbeef", "file", "deadbeef"),
    (Some("file"), "a:b.txt", "file", "a:b.txt"),
    // certificate serial numbers (only when declared: never detected)
    (
        Some("x509-certificate"),
        "36:f7:d4:32:f4:ab:70:ea:d3:ce:98:6e:ea:99:93:80",
        "x509-certificate",
        "36:f7:d4:32:f4:ab:70:ea:d3:ce:98:6e:ea:99:93:80",
    ),
    (
        Some("x509-certificate"),
        "36F7D432",
        "x509-certificate",
        "36:f7:d4:32",
    ),
    (
        Some("x509-certificate"),
        "0x36f7d432",
        "x509-certificate",
        "36:f7:d4:32",
    ),
    (
        Some("x509-certificate"),
        " 36 F7 d4 32 ",
        "x509-certificate",
        "36:f7:d4:32",
    ),
    (
        Some("x509-certificate"),
        "36-f7-d4-32",
        "x509-certificate",
        "36:f7:d4:32",
    ),
    (
        Some("x509-certificate"),
        "6f7d432",
        "x509-certificate",
        "06:f7:d4:32",
    ),
    (
        Some("x509-certificate"),
        "6:f7:d4:32",
        "x509-certificate",
        "06:f7:d4:32",
    ),
    (
        Some("x509-certificate"),
        "00:B3:5C",
        "x509-certificate",
        "b3:5c",
    ),
    (Some("x509"), "0x0", "x509-certificate", "00"),
    (Some("x509-serial"), "00:00", "x509-certificate", "00"),
    // vulnerabilities
    (None, "cve-2021-44228", "vulnerability", "CVE-2021-44228"),
    (None, "CVE-2014-0160", "vulnerability", "CVE-2014-0160"),
    (
        Some("cve"),
        " Cve-2023-1234567 ",
        "vulnerability",
        "CVE-2023-1234567",
    ),
];

/// `(declared type, raw value)` pairs that must be refused.
const REJECTED: &[(Option<&str>, &str)] = &[
    (None, ""),
    (None, "hello world"),
    (None, "invoice.pdf"),
    (None, "setup.exe"),
    (None, "1.2.3"),
    (None, "v1.2.3"),
    (None, "localhost"),
    (None, "010.1.1.1"),
    (None, "999.1.1.1"),
    (None, "10.0.0.0/33"),
    (None, "10.0.0.0/08"),
    (None, "2001:db8::1/129"),
    (None, "fe80::1%eth0"),
    (None, "d41d8cd98f00b204e9800998ecf8427"),
    (None, "sha1:d41d8cd98f00b204e9800998ecf8427e"),
    (None, "CVE-98-1234"),
    (None, "CVE-2021-044228"),
    (None, "mailto:nobody"),
    (None, "user@localhost"),
    (None, "a..b@evil.com"),
    (None, "javascript://alert(1)"),
    (None, "http://localhost/"),
    (None, "evil-.com"),
    (None, "ex*ample.com"),
    (Some("domain-name"), "1.2.3.4"),
    (Some("domain-name"), "evil"),
    (Some("ipv4-addr"), "2001:db8::1"),
    (Some("ipv6-addr"), "1.2.3.4"),
    (Some("ipv4-addr"), "evil.com"),
    (Some("file"), "C:\\Windows\\evil.exe"),
    (Some("file"), "/tmp/evil"),
    (Some("file"), "http://evil.com/a.exe"),
    (Some("file"), "a\u{0}b"),
    (Some("file"), "a\tb.exe"),
    (Some("file"), ".."),
    (Some("file"), "d41d8cd98f00b204e9800998ecf8427ea"),
    (Some("file"), "sha256:evil.exe"),
    (None, "36:f7:d4:32"),
    (None, "36f7d432"),
    (Some("x509-certificate"), "zz:01"),
    (Some("x509-certificate"), "0x"),
    (Some("x509-certificate"), ": - :"),
    (Some("x509-certificate"), "12:3:45"),
    (Some("x509-certificate"), "-01:02"),
    (Some("x509-certificate"), "36:f7:d4:32:evil"),
    (Some("vulnerability"), "CVE-2021"),
    (Some("email-addr"), "evil.com"),
    (Some("url"), "mailto:admin@evil.com"),
    (Some("url"), "http://"),
];

#[test]
fn accepted_values_have_their_canonical_form() {
    for (declared, raw, kind, canonical) in ACCEPTED {
        let declared = declared.map(|name| ObservableType::from_str(name).unwrap());
        let result = canonicalize(declared, raw);
        let Ok((found_kind, found)) = result else {
            panic!("`{raw}` ({declared:?}) was refused: {result:?}");
        };
        assert_eq!(
            (found_kind.as_str(), found.as_str()),
            (*kind, *canonical),
            "for `{raw}`"
        );
        // Canonical values are fixed points.
        assert_eq!(
            canonicalize(Some(found_kind), &found),
            Ok((found_kind, found.clone())),
            "for `{found}`"
        );
    }
    assert!(ACCEPTED.len() >= 40);
}

#[test]
fn rejected_values_are_refused_with_a_reason() {
    for (declared, raw) in REJECTED {
        let declared = declared.map(|name| ObservableType::from_str(name).unwrap());
        let result = canonicalize(declared, raw);
        let Err(error) = result else {
            panic!("`{raw}` ({declared:?}) was accepted: {result:?}");
        };
        if let Some(kind) = declared {
            assert!(
                matches!(&error, ObservableError::Invalid { kind: found, .. } if *found == kind),
                "`{raw}`: {error}"
            );
        }
        assert!(!error.to_string().is_empty());
    }
}

#[test]
fn reasons_name_the_problem() {
    let reason =
        |kind: Option<ObservableType>, raw: &str| canonicalize(kind, raw).unwrap_err().to_string();
    assert_eq!(
        reason(Some(ObservableType::DomainName), "1.2.3.4"),
        "not a valid domain-name value: `1.2.3.4` is an IP address, not a domain name (the value looks like ipv4-addr)"
    );
    assert!(reason(None, "010.1.1.1").contains("leading zero"));
    assert!(reason(None, "999.1.1.1").contains("greater than 255"));
    assert!(reason(Some(ObservableType::Ipv4Addr), "2001:db8::1").contains("is an IPv6 address"));
    assert!(
        reason(None, "sha1:d41d8cd98f00b204e9800998ecf8427e")
            .contains("names SHA-1 but 32 hex digits is MD5")
    );
    assert!(
        reason(Some(ObservableType::File), "C:\\evil.exe")
            .contains("`\\`: a path is not a file name")
    );
    assert_eq!(
        reason(Some(ObservableType::File), "http://evil.com/a.exe"),
        "not a valid file value: `http://evil.com/a.exe` contains `/`: a path is not a file name (the value looks like url)"
    );
    assert!(
        reason(Some(ObservableType::X509Certificate), "36:g7")
            .contains("`g`, which is not a hexadecimal digit")
    );
    assert!(
        reason(Some(ObservableType::X509Certificate), "12:3:45")
            .contains("group `3` of `12:3:45` is not whole octets")
    );
    assert_eq!(
        reason(None, "hello world"),
        "cannot tell what kind of indicator `hello world` is"
    );
}

#[test]
fn refang_leaves_ordinary_text_alone() {
    let untouched = [
        "connect the dot to the line",
        "meet at noon",
        "version 1.2.3 (beta)",
        "a [b] (c) {d}",
        "http://example.com/path",
        "the hxxp protocol",
    ];
    for text in untouched {
        assert_eq!(refang(text), text);
        assert_eq!(refang_text(text), text);
    }
    assert_eq!(
        refang_text("see hxxps[:]//evil[.]com and\nfoo"),
        "see https://evil.com and\nfoo"
    );
    assert_eq!(refang(" 'evil dot com' "), "evil.com");
    assert_eq!(refang("evil at at com"), "evil at at com");
}

#[test]
fn mapped_refanging_leads_back_to_the_text_as_written() {
    let text = "C2 45.155.205 [.] 172, kit at hxxps[:]//login-bank[.]com/v — done";
    let mapped = refang_text_mapped(text);
    assert_eq!(mapped.text, refang_text(text));
    for (needle, written) in [
        ("45.155.205.172", "45.155.205 [.] 172"),
        ("https://login-bank.com/v", "hxxps[:]//login-bank[.]com/v"),
        ("login-bank.com", "login-bank[.]com"),
        ("done", "done"),
    ] {
        let start = mapped.text.find(needle).unwrap();
        let range = mapped.original(start, start + needle.len());
        assert_eq!(&text[range], written, "{needle}");
    }
    // A span ending inside a replaced token covers the whole token.
    let dot = mapped.text.find(".172").unwrap();
    assert_eq!(&text[mapped.original(dot, dot + 1)], " [.] ");
    let plain = refang_text_mapped("no defanging here");
    assert_eq!(plain.original(3, 12), 3..12);
    assert_eq!(plain.original(17, 17), 17..17);
}

#[test]
fn detect_follows_the_documented_order() {
    let cases = [
        ("https://evil.com", Some(ObservableType::Url)),
        ("a@evil.com", Some(ObservableType::EmailAddr)),
        ("1.2.3.4/24", Some(ObservableType::Ipv4Addr)),
        ("::1", Some(ObservableType::Ipv6Addr)),
        (
            "d41d8cd98f00b204e9800998ecf8427e",
            Some(ObservableType::File),
        ),
        ("CVE-2021-44228", Some(ObservableType::Vulnerability)),
        ("evil.com", Some(ObservableType::DomainName)),
        ("evil.com/a", Some(ObservableType::Url)),
        ("report.docx", None),
        ("12:30:45", None),
        ("node.js", None),
        ("evil.exe", None),
        ("36:f7:d4:32", None),
        ("36:f7:d4:32:f4:ab:70", None),
    ];
    for (value, expected) in cases {
        assert_eq!(detect(value), expected, "for `{value}`");
    }
}

#[test]
fn hash_algorithm_goes_by_length() {
    assert_eq!(hash_algorithm(&"a".repeat(32)), Some("MD5"));
    assert_eq!(hash_algorithm(&"A".repeat(40)), Some("SHA-1"));
    assert_eq!(hash_algorithm(&"0".repeat(64)), Some("SHA-256"));
    assert_eq!(hash_algorithm(&"f".repeat(128)), Some("SHA-512"));
    assert_eq!(hash_algorithm(&"f".repeat(48)), None);
    assert_eq!(hash_algorithm(&"g".repeat(32)), None);
}

#[test]
fn file_values_are_digests_or_names_by_their_shape() {
    assert_eq!(
        FileForm::of("d41d8cd98f00b204e9800998ecf8427e"),
        FileForm::Hash
    );
    assert_eq!(FileForm::of("sha256:abc"), FileForm::Hash);
    assert_eq!(FileForm::of(&"a".repeat(33)), FileForm::Hash);
    assert_eq!(FileForm::of(&"a".repeat(31)), FileForm::Name);
    assert_eq!(FileForm::of("evil.exe"), FileForm::Name);
    // For canonical values, the form is what `hash_algorithm` says.
    for (raw, form) in [
        ("D41D8CD98F00B204E9800998ECF8427E", FileForm::Hash),
        ("evil.exe", FileForm::Name),
        ("deadbeef", FileForm::Name),
    ] {
        let (_, value) = canonicalize(Some(ObservableType::File), raw).unwrap();
        assert_eq!(FileForm::of(&value), form, "for `{raw}`");
        assert_eq!(hash_algorithm(&value).is_some(), form == FileForm::Hash);
    }
}

#[test]
fn canonicalize_file_insists_on_one_form() {
    let md5 = "d41d8cd98f00b204e9800998ecf8427e";
    assert_eq!(canonicalize_file(md5, FileForm::Hash).unwrap(), md5);
    assert_eq!(
        canonicalize_file("evil[.]exe", FileForm::Name).unwrap(),
        "evil.exe"
    );
    let error = canonicalize_file("evil.exe", FileForm::Hash).unwrap_err();
    assert_eq!(
        error.to_string(),
        "not a valid file value: `evil.exe` is not a hexadecimal digest"
    );
    let error = canonicalize_file(md5, FileForm::Name).unwrap_err();
    assert!(error.to_string().contains("reads as a digest"), "{error}");
    assert!(canonicalize_file("a/b", FileForm::Name).is_err());
}

#[test]
fn declared_aliases_choose_the_file_form() {
    let md5 = "d41d8cd98f00b204e9800998ecf8427e";
    let file = |value: &str| Ok((ObservableType::File, value.to_owned()));
    assert_eq!(canonicalize_declared(Some("md5"), md5), file(md5));
    assert_eq!(canonicalize_declared(Some("file"), md5), file(md5));
    assert_eq!(
        canonicalize_declared(Some("file"), "evil.exe"),
        file("evil.exe")
    );
    assert_eq!(
        canonicalize_declared(Some(" FileName "), "evil.exe"),
        file("evil.exe")
    );
    assert!(canonicalize_declared(Some("md5"), "evil.exe").is_err());
    assert!(canonicalize_declared(Some("SHA256"), "evil.exe").is_err());
    assert!(canonicalize_declared(Some("hash"), "unknown").is_err());
    assert!(canonicalize_declared(Some("filename"), md5).is_err());
    assert_eq!(
        canonicalize_declared(Some("x509-certificate"), "0x36F7D432"),
        Ok((ObservableType::X509Certificate, "36:f7:d4:32".to_owned()))
    );
    assert_eq!(
        canonicalize_declared(None, "evil.com"),
        Ok((ObservableType::DomainName, "evil.com".to_owned()))
    );
    assert_eq!(
        canonicalize_declared(Some("banana"), "evil.com"),
        Err(ObservableError::UnknownType("banana".to_owned()))
    );
}

#[test]
fn names_and_serials_have_length_limits() {
    let file = Some(ObservableType::File);
    assert!(canonicalize(file, &format!("{}.exe", "a".repeat(251))).is_ok());
    assert!(canonicalize(file, &format!("{}.exe", "a".repeat(252))).is_err());
    // 256 bytes of UTF-8 in 128 characters.
    assert!(canonicalize(file, &"é".repeat(128)).is_err());
    let serial = Some(ObservableType::X509Certificate);
    let (_, longest) = canonicalize(serial, &"ab".repeat(64)).unwrap();
    assert_eq!(longest.len(), 64 * 3 - 1);
    assert!(canonicalize(serial, &"ab".repeat(65)).is_err());
    // Leading zero octets do not count.
    assert!(canonicalize(serial, &format!("0000{}", "ab".repeat(64))).is_ok());
}

#[test]
fn new_types_round_trip_through_their_names() {
    for kind in ObservableType::ALL {
        assert_eq!(ObservableType::from_str(kind.as_str()), Ok(kind));
        let json = serde_json::to_string(&kind).unwrap();
        assert_eq!(json, format!("\"{kind}\""));
    }
    assert_eq!(
        ObservableType::from_str("x509"),
        Ok(ObservableType::X509Certificate)
    );
    assert_eq!(
        ObservableType::from_str("filename"),
        Ok(ObservableType::File)
    );
}

#[test]
fn every_canonical_value_is_bounded_so_it_can_always_be_indexed() {
    let long_path = "a".repeat(9000);
    let url = format!("https://evil.example.com/{long_path}");
    assert!(canonicalize(Some(ObservableType::Url), &url).is_err());
    let fits = format!("https://evil.example.com/{}", "a".repeat(8000));
    assert!(canonicalize(Some(ObservableType::Url), &fits).is_ok());
    let cve = format!("CVE-2024-{}", "1".repeat(20));
    assert!(canonicalize(Some(ObservableType::Vulnerability), &cve).is_err());
    assert!(canonicalize(Some(ObservableType::Vulnerability), "CVE-2024-1234567").is_ok());
}

/// Found by the fuzz target `a_canonical_value_is_a_fixed_point` (docs/fuzzing.md): one refanging pass turned these
/// into values that were still defanged, so their "canonical" form changed when canonicalized again and a lookup of
/// the stored value missed it. A value defanged twice over is now refused.
#[test]
fn a_value_defanged_twice_over_is_refused() {
    let cases = [
        (Some("domain-name"), "0[[.]]a[[.]]com[[.]]"),
        (None, "ftp[://][[:][:]0[:]0[:]0[:]0[:]0[:]0[:]0][/][/][[.]]"),
        (None, "\"ftp[://]a[.]com [.] [:]0[/]x[ [.] ]y\""),
        (Some("filename"), "a[[.]]com[[.]]"),
        (Some("url"), "mailto[:]0@a[[.]]0[[.]]com[[.]]"),
        (Some("email-addr"), "john[[at]]evil[.]com"),
    ];
    for (declared, raw) in cases {
        let error = canonicalize_declared(declared, raw).unwrap_err();
        assert!(
            error.to_string().contains("defanged twice over"),
            "{raw}: {error}"
        );
    }
    assert!(canonicalize_file("a[[.]]exe", FileForm::Name).is_err());
    // Defanged once, however many separators: accepted as before.
    assert_eq!(
        canonicalize(None, "hxxps[://]evil[.]com[/]a").unwrap().1,
        "https://evil.com/a"
    );
}

/// Found by the fuzz target `a_canonical_value_is_a_fixed_point`: a trailing dot hid the file extension from
/// detection, so `bücher.exe.` was a domain whose canonical form `xn--bcher-kva.exe` was not.
#[test]
fn a_trailing_dot_does_not_hide_a_file_extension() {
    assert_eq!(detect("bücher.exe."), None);
    assert_eq!(detect("setup.exe."), None);
    assert_eq!(detect("evil.com."), Some(ObservableType::DomainName));
}

/// Found by the same fuzz target: IDNA drops a byte-order mark, so `A-AAA-_0AA.\u{feff}EXE` hid its extension from
/// detection while its canonical form `a-aaa-_0aa.exe` showed it.
#[test]
fn a_character_idna_drops_does_not_hide_a_file_extension() {
    assert_eq!(detect("A-AAA-_0AA.\u{feff}EXE"), None);
    assert_eq!(detect("setup.\u{feff}exe"), None);
    assert_eq!(detect("evil.\u{feff}com"), Some(ObservableType::DomainName));
}
