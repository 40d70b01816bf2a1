//! Deterministic STIX 2.1 identifiers (§2.9): `<type>--<UUIDv5>` in the namespace
//! `00abedb4-aa42-466c-9c01-fed23315a9b7`, named by the RFC 8785 (JCS) serialization of the object's ID contributing
//! properties.
//!
//! | type | ID contributing properties used |
//! |---|---|
//! | `ipv4-addr`, `ipv6-addr`, `domain-name`, `url`, `email-addr` | `{"value": …}` |
//! | `file`, a digest | `{"hashes": {"<MD5 \| SHA-1 \| SHA-256 \| SHA-512>": …}}`, the algorithm by hex length |
//! | `file`, a name | `{"name": …}` |
//! | `x509-certificate` | `{"serial_number": …}` |
//! | `vulnerability` | `{"name": "CVE-…"}` (see below) |
//!
//! STIX 2.1 §2.9 lists the ID contributing properties of `file` (`hashes`, `name`, `extensions`,
//! `parent_directory_ref`) and of `x509-certificate` (`hashes`, `serial_number`); an Accord indicator holds exactly one
//! of them. Whether a `file` value is a digest or a name follows from its shape
//! ([`accord_domain::observable::FileForm`]): a canonical value is a digest exactly when [`hash_algorithm`] names one.
//!
//! A vulnerability is a STIX domain object, whose ids the standard leaves random. Accord derives it the same way as an
//! observable's, in the same namespace, from `{"name": …}`, so that every report naming a CVE points at one object.
//!
//! The values must be canonical ([`accord_domain::observable::canonicalize`]): the id is computed over the exact
//! string, as the OASIS `stix2` library does. Checked against that library by `tests/interop`.

use accord_domain::{ObservableType, observable::hash_algorithm};
use uuid::Uuid;

/// The UUIDv5 namespace of STIX 2.1 deterministic cyber-observable ids (§2.9).
pub const SCO_NAMESPACE: Uuid = Uuid::from_u128(0x00ab_edb4_aa42_466c_9c01_fed2_3315_a9b7);

/// Returns the deterministic STIX 2.1 id of an observable with a canonical value: `ipv4-addr--<uuidv5>`.
///
/// A `file` value that is not hex of one of the four digest lengths is a file name, identified by its `name`.
pub fn observable_id(kind: ObservableType, value: &str) -> String {
    let name = id_contributing_json(kind, value);
    let uuid = Uuid::new_v5(&SCO_NAMESPACE, name.as_bytes());
    format!("{kind}--{uuid}")
}

/// Returns the JCS (RFC 8785) serialization of the ID contributing properties of an observable, the UUIDv5 name.
pub fn id_contributing_json(kind: ObservableType, value: &str) -> String {
    let value_json = jcs_string(value);
    match kind {
        ObservableType::File => match hash_algorithm(value) {
            Some(algorithm) => format!("{{\"hashes\":{{{}:{value_json}}}}}", jcs_string(algorithm)),
            None => format!("{{\"name\":{value_json}}}"),
        },
        ObservableType::Vulnerability => format!("{{\"name\":{value_json}}}"),
        ObservableType::X509Certificate => format!("{{\"serial_number\":{value_json}}}"),
        ObservableType::Ipv4Addr
        | ObservableType::Ipv6Addr
        | ObservableType::DomainName
        | ObservableType::Url
        | ObservableType::EmailAddr => format!("{{\"value\":{value_json}}}"),
    }
}

/// Serializes a string as JCS does (RFC 8785 §3.2.2.2, i.e. ECMAScript `JSON.stringify`): `"` and `\` escaped, the
/// control characters as `\b \t \n \f \r` or `\u00xx` with lower-case hex, everything else as is, in UTF-8.
fn jcs_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{0c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids computed with the OASIS `stix2` library 3.0.2 (`stix2.IPv4Address(value=…).id`, `stix2.File(hashes=…).id`,
    /// `stix2.File(name=…).id`, `stix2.X509Certificate(serial_number=…).id`, …) by `tests/interop/stix_ids.py`; the
    /// vulnerability with stix2's canonicalizer and namespace.
    const PYTHON_STIX2_VECTORS: [(ObservableType, &str, &str); 17] = [
        (
            ObservableType::Ipv4Addr,
            "45.155.205.172",
            "ipv4-addr--4aecb041-d5d6-5b6f-bf8f-3e3ff0750add",
        ),
        (
            ObservableType::Ipv4Addr,
            "1.2.3.4",
            "ipv4-addr--0198f97b-e65d-5025-87e5-58bc39d4bdb4",
        ),
        (
            ObservableType::Ipv4Addr,
            "10.0.0.0/8",
            "ipv4-addr--86428b07-0841-50f5-884f-260544a6ebee",
        ),
        (
            ObservableType::Ipv6Addr,
            "2001:db8::1",
            "ipv6-addr--6469e3a9-b053-5e34-a025-9396ae051d26",
        ),
        (
            ObservableType::DomainName,
            "login-bank-a.com",
            "domain-name--837e5570-9ed0-5329-ae74-000c1e5e29f0",
        ),
        (
            ObservableType::DomainName,
            "xn--bcher-kva.de",
            "domain-name--320d8e58-ae43-5bd4-b670-b8896595d76a",
        ),
        (
            ObservableType::Url,
            "https://login-bank-a.com/verify",
            "url--a8dbb1a0-a93a-507a-b08c-d0dce1e40251",
        ),
        (
            ObservableType::Url,
            "http://evil.com/a?q=\"x\"\\y",
            "url--11d99dfe-ce5a-532b-8029-c8356122f5a1",
        ),
        (
            ObservableType::EmailAddr,
            "admin@evil.com",
            "email-addr--d9870387-d209-56cb-b766-be5e45d93f58",
        ),
        (
            ObservableType::File,
            "d41d8cd98f00b204e9800998ecf8427e",
            "file--02fff920-f614-527c-81d1-6353633a6d21",
        ),
        (
            ObservableType::File,
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "file--fa6e66a5-f019-51f9-8ab5-812023e58c6e",
        ),
        (
            ObservableType::File,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "file--22f8ff52-8f62-5f03-a53a-6f50f54fd74c",
        ),
        (
            ObservableType::Vulnerability,
            "CVE-2021-44228",
            "vulnerability--fa95b186-fd21-514d-b640-735cd48f0fbd",
        ),
        (
            ObservableType::File,
            "evil.exe",
            "file--3974613c-1980-5209-8f08-17920a04da04",
        ),
        (
            ObservableType::File,
            "Rechnung \"2024\" ä😀.pdf.exe",
            "file--1df57466-6b3e-582b-b236-69871339e3ca",
        ),
        (
            ObservableType::X509Certificate,
            "36:f7:d4:32",
            "x509-certificate--ef4a0357-ca02-5b61-b017-1b55c3e5c8b1",
        ),
        (
            ObservableType::X509Certificate,
            "36:f7:d4:32:f4:ab:70:ea:d3:ce:98:6e:ea:99:93:80",
            "x509-certificate--7746f5fd-e10d-5696-8612-73aaa1530abc",
        ),
    ];

    #[test]
    fn ids_match_the_python_stix2_library() {
        for (kind, value, expected) in PYTHON_STIX2_VECTORS {
            assert_eq!(observable_id(kind, value), expected, "for {kind} `{value}`");
        }
    }

    #[test]
    fn sha512_ids_match_the_python_stix2_library() {
        let digest = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce\
                      47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";
        assert_eq!(
            observable_id(ObservableType::File, digest),
            "file--39cf7bb7-502d-50ad-845c-b910a0598953"
        );
    }

    #[test]
    fn contributing_properties_are_jcs() {
        assert_eq!(
            id_contributing_json(ObservableType::Url, "a\"\\\u{1}\u{1f}\n\u{7f}é😀"),
            { "{\"value\":\"a\\\"\\\\\\u0001\\u001f\\n\u{7f}é😀\"}" }
        );
        assert_eq!(
            id_contributing_json(ObservableType::File, &"a".repeat(32)),
            format!("{{\"hashes\":{{\"MD5\":\"{}\"}}}}", "a".repeat(32))
        );
        assert_eq!(
            id_contributing_json(ObservableType::File, "abc"),
            "{\"name\":\"abc\"}"
        );
        assert_eq!(
            id_contributing_json(ObservableType::X509Certificate, "36:f7"),
            "{\"serial_number\":\"36:f7\"}"
        );
        assert_eq!(
            id_contributing_json(ObservableType::Vulnerability, "CVE-2021-44228"),
            "{\"name\":\"CVE-2021-44228\"}"
        );
    }
}
