//! The canonical form of each observable type. Every function takes an already-refanged value and returns the
//! canonical value or the reason it is invalid (lower-case, no trailing period: it ends up in a 422 or a rejection).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// URL schemes Accord accepts. All are WHATWG "special" schemes, for which the `url` crate lower-cases and IDNA-encodes
/// the host and drops the default port; other schemes keep an opaque host, which could not be canonicalized.
const URL_SCHEMES: [&str; 5] = ["http", "https", "ftp", "ws", "wss"];

/// Longest domain name in presentation form, without the trailing dot (RFC 1035 §2.3.4).
const MAX_DOMAIN_LEN: usize = 253;
/// Longest label (RFC 1035 §2.3.4).
const MAX_LABEL_LEN: usize = 63;
/// Longest local part of an e-mail address (RFC 5321 §4.5.3.1.1).
const MAX_LOCAL_PART_LEN: usize = 64;
/// Longest file name, in bytes of UTF-8: the usual file-system limit (`NAME_MAX` on Linux, 255 characters on NTFS).
const MAX_FILE_NAME_BYTES: usize = 255;
/// The longest canonical URL kept as an indicator, in bytes. Every indicator becomes an exact-match index term, and
/// search backends refuse terms beyond a limit (Lucene: 32 766 bytes), which would make the report unindexable for
/// good; no real URL indicator comes near 8 KiB (the declared-value limit of the report schema).
const MAX_URL_BYTES: usize = 8192;
/// The most digits a CVE sequence number may have (real ones have 4 to 7).
const MAX_CVE_SEQUENCE_DIGITS: usize = 19;
/// Most octets in a certificate serial number. RFC 5280 §4.1.2.2 allows 20; some issuers ignore the limit.
const MAX_SERIAL_OCTETS: usize = 64;
/// Fewest hex digits that make a `file` value read as a digest (an MD5 has 32).
const MIN_DIGEST_DIGITS: usize = 32;

/// Hash prefixes accepted in front of a digest (`sha256:…`, `md5=…`), with the algorithm each one names.
const HASH_PREFIXES: [(&str, &str); 7] = [
    ("md5", "MD5"),
    ("sha1", "SHA-1"),
    ("sha-1", "SHA-1"),
    ("sha256", "SHA-256"),
    ("sha-256", "SHA-256"),
    ("sha512", "SHA-512"),
    ("sha-512", "SHA-512"),
];

/// Returns the canonical IPv4 or IPv6 address or CIDR block: host bits zeroed, a full-length prefix dropped.
pub(super) fn ip(value: &str, want_v4: bool) -> Result<String, String> {
    let (addr_text, prefix_text) = match value.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (value, None),
    };
    let addr_text = addr_text
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(addr_text);
    let addr = if addr_text.contains(':') {
        if addr_text.contains('%') {
            return Err(format!(
                "`{value}` carries a zone index, which is local to one machine"
            ));
        }
        let parsed: Ipv6Addr = addr_text
            .parse()
            .map_err(|_| format!("`{addr_text}` is not an IPv6 address"))?;
        IpAddr::V6(parsed)
    } else {
        IpAddr::V4(ipv4(addr_text)?)
    };
    match (want_v4, addr) {
        (true, IpAddr::V6(_)) => {
            return Err(format!("`{value}` is an IPv6 address, not an IPv4 address"));
        }
        (false, IpAddr::V4(_)) => {
            return Err(format!("`{value}` is an IPv4 address, not an IPv6 address"));
        }
        _ => {}
    }
    let Some(prefix_text) = prefix_text else {
        return Ok(addr.to_string());
    };
    let max_prefix: u8 = if want_v4 { 32 } else { 128 };
    let prefix = prefix_len(prefix_text, max_prefix)?;
    if prefix == max_prefix {
        return Ok(addr.to_string());
    }
    let network = ipnet::IpNet::new(addr, prefix)
        .map_err(|_| format!("`/{prefix_text}` is not a valid prefix length"))?;
    Ok(network.trunc().to_string())
}

/// Parses a dotted quad strictly: four decimal octets, no leading zeros (`010` would be octal to `inet_aton`, decimal
/// to others: ambiguous, so refused).
fn ipv4(text: &str) -> Result<Ipv4Addr, String> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() != 4 {
        return Err(format!("`{text}` is not a dotted-quad IPv4 address"));
    }
    let mut octets = [0u8; 4];
    for (octet, part) in octets.iter_mut().zip(&parts) {
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(format!("`{text}` is not a dotted-quad IPv4 address"));
        }
        if part.len() > 1 && part.starts_with('0') {
            return Err(format!(
                "octet `{part}` of `{text}` has a leading zero, which is ambiguous (octal or decimal)"
            ));
        }
        *octet = part
            .parse()
            .map_err(|_| format!("octet `{part}` of `{text}` is greater than 255"))?;
    }
    Ok(Ipv4Addr::from(octets))
}

/// Parses a CIDR prefix length: decimal, no sign or leading zero, at most `max`.
fn prefix_len(text: &str, max: u8) -> Result<u8, String> {
    let valid_digits = !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit());
    if !valid_digits || (text.len() > 1 && text.starts_with('0')) {
        return Err(format!("`/{text}` is not a valid prefix length"));
    }
    match text.parse::<u8>() {
        Ok(prefix) if prefix <= max => Ok(prefix),
        _ => Err(format!("prefix length `/{text}` is longer than {max}")),
    }
}

/// Returns the canonical domain name: IDNA to ASCII (which lower-cases), trailing dot removed, at least two labels of
/// letters, digits, hyphens and underscores, and an alphabetic or punycode top-level label.
pub(super) fn domain(value: &str) -> Result<String, String> {
    let trimmed = value.strip_suffix('.').unwrap_or(value);
    if trimmed.is_empty() {
        return Err("the domain name is empty".to_owned());
    }
    if trimmed.parse::<IpAddr>().is_ok()
        || trimmed
            .bytes()
            .all(|byte| byte.is_ascii_digit() || byte == b'.')
    {
        return Err(format!("`{value}` is an IP address, not a domain name"));
    }
    let ascii = idna::domain_to_ascii(trimmed)
        .map_err(|_| format!("`{value}` is not a valid (internationalized) domain name"))?;
    if ascii.len() > MAX_DOMAIN_LEN {
        return Err(format!(
            "the domain name is longer than {MAX_DOMAIN_LEN} characters"
        ));
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err(format!(
            "`{value}` has a single label; a domain name needs at least two"
        ));
    }
    for label in &labels {
        if label.is_empty() {
            return Err(format!("`{value}` has an empty label"));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(format!(
                "a label of `{value}` is longer than {MAX_LABEL_LEN} characters"
            ));
        }
        if let Some(bad) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(format!(
                "`{value}` contains `{bad}`, which a domain name cannot"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "label `{label}` of `{value}` starts or ends with a hyphen"
            ));
        }
    }
    let tld = labels[labels.len() - 1];
    let alphabetic = tld.len() >= 2 && tld.bytes().all(|byte| byte.is_ascii_alphabetic());
    if !alphabetic && !tld.starts_with("xn--") {
        return Err(format!(
            "top-level label `{tld}` of `{value}` is not alphabetic"
        ));
    }
    Ok(ascii)
}

/// Returns the canonical URL as the `url` crate serializes it (scheme and host lower-case, host IDNA-encoded, default
/// port dropped, empty path written `/`), its host a canonical domain name (no trailing dot). A value without `scheme://` is read as `http://…`.
pub(super) fn url(value: &str) -> Result<String, String> {
    let with_scheme = if super::has_url_scheme(value) {
        value.to_owned()
    } else {
        if let Some((scheme, rest)) = value.split_once(':')
            && super::is_scheme_name(scheme)
            && !rest.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err(format!(
                "scheme `{scheme}` is not supported (http, https, ftp, ws, wss)"
            ));
        }
        format!("http://{value}")
    };
    let mut parsed =
        Url::parse(&with_scheme).map_err(|error| format!("`{value}` is not a URL: {error}"))?;
    if !URL_SCHEMES.contains(&parsed.scheme()) {
        return Err(format!(
            "scheme `{}` is not supported (http, https, ftp, ws, wss)",
            parsed.scheme()
        ));
    }
    let host = match parsed.host() {
        None => return Err(format!("`{value}` has no host")),
        Some(Host::Domain(name)) => {
            let canonical = domain(name).map_err(|reason| format!("host: {reason}"))?;
            (canonical != name).then_some(canonical)
        }
        Some(Host::Ipv4(_) | Host::Ipv6(_)) => None,
    };
    // The host as the canonical domain writes it (no trailing dot): `evil.example./x` is `evil.example/x`.
    if let Some(host) = host {
        parsed
            .set_host(Some(&host))
            .map_err(|error| format!("host: {error}"))?;
    }
    let canonical = String::from(parsed);
    if canonical.len() > MAX_URL_BYTES {
        return Err(format!("the URL is longer than {MAX_URL_BYTES} bytes"));
    }
    Ok(canonical)
}

/// Returns the canonical e-mail address: local part as given (it may be case-sensitive), domain canonical.
pub(super) fn email(value: &str) -> Result<String, String> {
    let value = match value.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("mailto:") => &value[7..],
        _ => value,
    };
    let Some((local, domain_part)) = value.rsplit_once('@') else {
        return Err(format!("`{value}` has no `@`"));
    };
    if local.is_empty() {
        return Err(format!("`{value}` has an empty local part"));
    }
    if local.len() > MAX_LOCAL_PART_LEN {
        return Err(format!(
            "the local part is longer than {MAX_LOCAL_PART_LEN} characters"
        ));
    }
    // RFC 5322 dot-atom text; quoted local parts are not accepted.
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    if let Some(bad) = local.chars().find(|c| !(atext(*c) || *c == '.')) {
        return Err(format!("the local part of `{value}` contains `{bad}`"));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(format!("the local part of `{value}` has a misplaced dot"));
    }
    let canonical_domain =
        domain(domain_part).map_err(|reason| format!("domain part: {reason}"))?;
    Ok(format!("{local}@{canonical_domain}"))
}

/// Returns the canonical file hash: lower-case hex of an MD5, SHA-1, SHA-256 or SHA-512 digest, optionally written with
/// an algorithm prefix (`sha256:…`) that must agree with the length.
pub(super) fn hash(value: &str) -> Result<String, String> {
    let (named, hex) = split_hash_prefix(value);
    if hex.is_empty() || !hex.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(format!("`{value}` is not a hexadecimal digest"));
    }
    let hex = hex.to_ascii_lowercase();
    let Some(algorithm) = super::hash_algorithm(&hex) else {
        return Err(format!(
            "a digest of {} hex digits is none of MD5 (32), SHA-1 (40), SHA-256 (64), SHA-512 (128)",
            hex.len()
        ));
    };
    if let Some(named) = named
        && named != algorithm
    {
        return Err(format!(
            "the prefix names {named} but {} hex digits is {algorithm}",
            hex.len()
        ));
    }
    Ok(hex)
}

/// Returns `true` when a `file` value reads as a digest rather than a file name: it carries an algorithm prefix
/// (`sha256:…`, `md5=…`), or it is hex of 32 digits or more (a wrong length then makes it an invalid digest).
pub(super) fn reads_as_digest(value: &str) -> bool {
    let (named, hex) = split_hash_prefix(value);
    named.is_some()
        || (hex.len() >= MIN_DIGEST_DIGITS && hex.bytes().all(|byte| byte.is_ascii_hexdigit()))
}

/// Returns the canonical file name: trimmed, otherwise as given (names are case-sensitive on most systems). A name has
/// 1 to 255 bytes and no `/`, `\`, NUL or other control character: a path is not a file name.
pub(super) fn file_name(value: &str) -> Result<String, String> {
    let name = value.trim();
    if name.is_empty() {
        return Err("the file name is empty".to_owned());
    }
    if name.len() > MAX_FILE_NAME_BYTES {
        return Err(format!(
            "the file name is longer than {MAX_FILE_NAME_BYTES} bytes"
        ));
    }
    if let Some(separator) = name.chars().find(|c| matches!(c, '/' | '\\')) {
        return Err(format!(
            "`{name}` contains `{separator}`: a path is not a file name"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("the file name contains a control character".to_owned());
    }
    if name == "." || name == ".." {
        return Err(format!(
            "`{name}` is a directory reference, not a file name"
        ));
    }
    Ok(name.to_owned())
}

/// Returns the canonical certificate serial number: lower-case hex octets joined by `:` (`36:f7:d4:32`), leading zero
/// octets dropped (the serial is an integer; `00:b3` and `b3` are one serial, the `00` a DER sign octet some tools
/// print). Accepts `0x`, and `:`, `-`, or blanks between groups of digits or none; an odd number of digits gets a
/// leading zero. Every group but the first must be whole octets, so that `12:3:45` is not silently read as
/// `01:23:45`.
pub(super) fn serial_number(value: &str) -> Result<String, String> {
    let trimmed = value.trim();
    if trimmed.starts_with('-') {
        return Err(format!(
            "`{trimmed}` is negative; a serial number is a positive integer"
        ));
    }
    let body = trimmed
        .strip_prefix("0x")
        .or_else(|| trimmed.strip_prefix("0X"))
        .unwrap_or(trimmed);
    let mut hex = String::with_capacity(body.len());
    let groups = body
        .split(|c: char| c == ':' || c == '-' || c.is_whitespace())
        .filter(|group| !group.is_empty());
    for (index, group) in groups.enumerate() {
        if let Some(bad) = group.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(format!(
                "`{trimmed}` contains `{bad}`, which is not a hexadecimal digit"
            ));
        }
        if index > 0 && group.len() % 2 == 1 {
            return Err(format!(
                "group `{group}` of `{trimmed}` is not whole octets (two hex digits each)"
            ));
        }
        hex.push_str(group);
    }
    if hex.is_empty() {
        return Err("the serial number has no hexadecimal digits".to_owned());
    }
    let hex = hex.to_ascii_lowercase();
    let padded = if hex.len() % 2 == 1 {
        format!("0{hex}")
    } else {
        hex
    };
    // ASCII hex digits only, so every two-byte step is a character boundary.
    let octets: Vec<&str> = (0..padded.len())
        .step_by(2)
        .map(|start| &padded[start..start + 2])
        .collect();
    let first_significant = octets
        .iter()
        .position(|octet| *octet != "00")
        .unwrap_or(octets.len() - 1);
    let octets = &octets[first_significant..];
    if octets.len() > MAX_SERIAL_OCTETS {
        return Err(format!(
            "the serial number is longer than {MAX_SERIAL_OCTETS} octets"
        ));
    }
    Ok(octets.join(":"))
}

/// Splits an optional `algorithm:` or `algorithm=` prefix off a digest.
pub(super) fn split_hash_prefix(value: &str) -> (Option<&'static str>, &str) {
    for (prefix, algorithm) in HASH_PREFIXES {
        let Some(head) = value.get(..prefix.len()) else {
            continue;
        };
        let rest = &value[prefix.len()..];
        if head.eq_ignore_ascii_case(prefix)
            && let Some(hex) = rest.strip_prefix(':').or_else(|| rest.strip_prefix('='))
        {
            return (Some(algorithm), hex);
        }
    }
    (None, value)
}

/// Returns the canonical CVE id: `CVE-YYYY-NNNN…` upper-cased (four-digit sequences may have leading zeros, longer
/// ones may not, as in the CVE id syntax of 2014).
pub(super) fn cve(value: &str) -> Result<String, String> {
    let upper = value.to_ascii_uppercase();
    let Some((year, sequence)) = upper
        .strip_prefix("CVE-")
        .and_then(|rest| rest.split_once('-'))
    else {
        return Err(format!("`{value}` is not of the form CVE-YYYY-NNNN"));
    };
    let all_digits =
        |text: &str| !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit());
    if year.len() != 4 || !all_digits(year) || year < "1999" {
        return Err(format!("`{year}` is not a CVE year"));
    }
    if sequence.len() < 4
        || sequence.len() > MAX_CVE_SEQUENCE_DIGITS
        || !all_digits(sequence)
        || (sequence.len() > 4 && sequence.starts_with('0'))
    {
        return Err(format!(
            "`{sequence}` is not a CVE sequence number (four or more digits)"
        ));
    }
    Ok(upper)
}
