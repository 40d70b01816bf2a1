//! Personal data inside a URL or a file name, whether it stands in free text or is an indicator's value.
//!
//! - A URL ([`in_url`]): each path segment, each query or fragment parameter value and the user information is
//!   percent-decoded (`+` as a blank in the query) and read as a value ([`classify`]); a value that carries personal
//!   data is located whole (`…/login?user=[redacted:email]&step=2`). A value carries personal data when the free-text
//!   detectors find some in it, when it is Base64 of text with an e-mail address in it (phishing kits pass the
//!   victim's address so), or when its parameter's name says what it is (`email=`, `name=`, `acct=`, `iban=`,
//!   `phone=`, `card=`, `user=`), with a value of the right shape.
//! - A file name ([`in_file_name`]): a name made of a given name and a surname (`Invoice_John_Smith.pdf`), and the
//!   e-mail addresses, phone numbers, IBANs and card numbers in its stem, `_` read as a blank.
//!
//! Ranges are byte offsets into the string given, on char boundaries, possibly overlapping (the caller merges).

use accord_domain::PiiKind;
use base64::Engine;

use super::{names, numbers};

/// A located piece of personal data: kind and byte range.
pub(super) type Found = (PiiKind, usize, usize);

/// Returns the personal data inside a URL (canonical, or as written in prose, defanged or not).
pub(super) fn in_url(url: &str) -> Vec<Found> {
    let mut found = Vec::new();
    let authority_start = url.find("://").map_or(0, |at| at + 3);
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |at| authority_start + at);
    if let Some(at) = url[authority_start..authority_end].rfind('@') {
        let userinfo_end = authority_start + at;
        push_value(&mut found, url, authority_start, userinfo_end, None, false);
    }
    let query_start = url[authority_end..]
        .find(['?', '#'])
        .map_or(url.len(), |at| authority_end + at);
    let mut segment_start = authority_end;
    for segment in url[authority_end..query_start].split('/') {
        let end = segment_start + segment.len();
        if !segment.is_empty() {
            push_value(&mut found, url, segment_start, end, None, false);
        }
        segment_start = end + 1;
    }
    if query_start < url.len() {
        parameters(&mut found, url, query_start + 1);
    }
    found
}

/// Reads `key=value` parameters from `start` to the end of `url` (a query, then a fragment).
fn parameters(found: &mut Vec<Found>, url: &str, start: usize) {
    let mut position = start;
    for parameter in url[start..].split(['&', ';', '#']) {
        let end = position + parameter.len();
        match parameter.split_once('=') {
            Some((key, _)) => {
                let key = decode(key, true);
                let value_start = position + parameter.find('=').unwrap_or(0) + 1;
                push_value(found, url, value_start, end, Some(&key), true);
            }
            None if !parameter.is_empty() => push_value(found, url, position, end, None, true),
            None => {}
        }
        position = end + 1;
    }
}

/// Locates `url[start..end]` whole when, decoded, it carries personal data.
fn push_value(
    found: &mut Vec<Found>,
    url: &str,
    start: usize,
    end: usize,
    key: Option<&str>,
    plus_is_blank: bool,
) {
    if start >= end {
        return;
    }
    let value = decode(&url[start..end], plus_is_blank);
    if let Some(kind) = classify(&value, key) {
        found.push((kind, start, end));
    }
}

/// Returns the kind of personal data a decoded value carries, if any: what the free-text detectors find in it (a
/// phone number only when written with its `+` country code), what the file-name reading finds, an e-mail address
/// inside Base64, or what its parameter's name announces.
pub(super) fn classify(value: &str, key: Option<&str>) -> Option<PiiKind> {
    if value.trim().is_empty() {
        return None;
    }
    // A bare number in a URL is far more often an id than a phone number: only one written internationally counts.
    let international = value.trim_start().starts_with('+');
    let detected = super::detect(value)
        .into_iter()
        .find(|(kind, _, _)| *kind != PiiKind::Phone || international);
    if let Some((kind, _, _)) = detected {
        return Some(kind);
    }
    if let Some((kind, _, _)) = in_file_name(value).into_iter().next() {
        return Some(kind);
    }
    if base64_email(value) {
        return Some(PiiKind::Email);
    }
    key.and_then(|key| by_parameter(key, value))
}

/// What a parameter's name announces, when the value has the shape of it.
fn by_parameter(key: &str, value: &str) -> Option<PiiKind> {
    let key: String = key
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let num_digits = value.chars().filter(char::is_ascii_digit).count();
    let num_letters = value.chars().filter(|c| c.is_alphabetic()).count();
    let kind = match key.as_str() {
        "email" | "mail" | "emailaddress" | "useremail" | "recipient" | "mailto"
            if num_letters > 0 && value.chars().count() >= 3 =>
        {
            PiiKind::Email
        }
        "user" | "username" | "login" | "userid" | "loginid" | "uname" | "usr" | "account"
        | "acct"
            if num_letters > 0 && value.chars().count() >= 3 =>
        {
            PiiKind::Name
        }
        "name" | "fullname" | "firstname" | "lastname" | "surname" | "givenname" | "fname"
        | "lname" | "vorname" | "nachname" | "nom" | "prenom" | "holder" | "cardholder"
            if num_letters >= 2 =>
        {
            PiiKind::Name
        }
        "phone" | "tel" | "telephone" | "mobile" | "msisdn" | "phonenumber" | "cell" | "mob"
            if num_digits >= 6 =>
        {
            PiiKind::Phone
        }
        "account" | "acct" | "acc" | "accountnumber" | "accountno" | "acctno" | "accno"
        | "konto" | "kontonummer" | "ktonr" | "bankaccount" | "sortcode" | "routing"
            if num_digits >= 5 =>
        {
            PiiKind::Account
        }
        "iban" if num_digits >= 5 => PiiKind::Iban,
        "card" | "cardnumber" | "cardno" | "cc" | "ccnum" | "ccnumber" | "pan" | "creditcard"
            if num_digits >= 12 =>
        {
            PiiKind::Card
        }
        _ => return None,
    };
    Some(kind)
}

/// Whether `value` is Base64 (standard or URL-safe, padded or not) of UTF-8 text containing an e-mail address.
fn base64_email(value: &str) -> bool {
    let trimmed = value.trim_end_matches('=');
    if trimmed.len() < 8
        || !trimmed
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"+/-_".contains(&byte))
    {
        return false;
    }
    let engines = [
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    engines.iter().any(|engine| {
        engine
            .decode(trimmed)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .is_some_and(|text| {
                super::detect(&text)
                    .iter()
                    .any(|(kind, _, _)| *kind == PiiKind::Email)
            })
    })
}

/// Returns the personal data inside a file name: names (given name and surname), and e-mail addresses, phone
/// numbers (written with their `+` country code), IBANs and card numbers in its stem.
pub(super) fn in_file_name(name: &str) -> Vec<Found> {
    let mut found: Vec<Found> = names::in_token(name)
        .into_iter()
        .map(|(start, end)| (PiiKind::Name, start, end))
        .collect();
    let stem_end = name.rfind('.').filter(|at| *at > 0).unwrap_or(name.len());
    // `_` and `-` read as blanks; both are one byte, so offsets stay valid.
    let spaced: String = name[..stem_end]
        .chars()
        .map(|c| if c == '_' { ' ' } else { c })
        .collect();
    for (start, end) in numbers::ibans(&spaced) {
        found.push((PiiKind::Iban, start, end));
    }
    for (start, end) in numbers::cards(&spaced) {
        found.push((PiiKind::Card, start, end));
    }
    for (kind, start, end) in super::contacts(&spaced) {
        // As in a URL, a bare number in a file name is an id or a date far more often than a phone number.
        if kind != PiiKind::Phone || spaced[start..].starts_with('+') {
            found.push((kind, start, end));
        }
    }
    found
}

/// Percent-decodes `value` (invalid escapes kept as written; `+` as a blank when asked), lossily as UTF-8.
fn decode(value: &str, plus_is_blank: bool) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        let escaped = (byte == b'%')
            .then(|| bytes.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(decoded) => {
                out.push(decoded);
                index += 3;
            }
            None => {
                out.push(if byte == b'+' && plus_is_blank {
                    b' '
                } else {
                    byte
                });
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn located(url: &str) -> Vec<(PiiKind, &str)> {
        in_url(url)
            .into_iter()
            .map(|(kind, start, end)| (kind, &url[start..end]))
            .collect()
    }

    #[test]
    fn query_values_with_personal_data() {
        assert_eq!(
            located("https://evil.example/login?user=jane.doe%40bank-a.de&step=2&acct=12345678"),
            [
                (PiiKind::Email, "jane.doe%40bank-a.de"),
                (PiiKind::Account, "12345678")
            ]
        );
        assert_eq!(
            located("https://evil.example/v?e=amFuZS5kb2VAYmFuay1hLmRl&lang=en"),
            [(PiiKind::Email, "amFuZS5kb2VAYmFuay1hLmRl")]
        );
        assert_eq!(
            located("http://evil.example/p?name=Anna+Kowalski&iban=DE89370400440532013000"),
            [
                (PiiKind::Name, "Anna+Kowalski"),
                (PiiKind::Iban, "DE89370400440532013000")
            ]
        );
    }

    #[test]
    fn path_segments_with_personal_data() {
        assert_eq!(
            located("https://evil.example/victims/anna.kowalski@bank-a.pl/Anna-Kowalski/index.php"),
            [
                (PiiKind::Email, "anna.kowalski@bank-a.pl"),
                (PiiKind::Name, "Anna-Kowalski")
            ]
        );
    }

    #[test]
    fn urls_without_personal_data() {
        for url in [
            "https://login-bank-a.com/verify",
            "https://evil.example/wp-content/plugins/x/update.php?id=42&v=1.2.3&ts=1700000000",
            "https://cdn.example/d41d8cd98f00b204e9800998ecf8427e/payload.bin",
            "https://evil.example/gate.php?user=1&acct=x",
        ] {
            assert!(located(url).is_empty(), "{url}: {:?}", located(url));
        }
    }

    #[test]
    fn file_names_with_personal_data() {
        let name = "Kontoauszug_DE89370400440532013000_Anna_Kowalski.pdf";
        let found: Vec<(PiiKind, &str)> = in_file_name(name)
            .into_iter()
            .map(|(kind, start, end)| (kind, &name[start..end]))
            .collect();
        assert!(
            found.contains(&(PiiKind::Name, "Anna_Kowalski")),
            "{found:?}"
        );
        assert!(
            found.contains(&(PiiKind::Iban, "DE89370400440532013000")),
            "{found:?}"
        );
        assert!(in_file_name("invoice_2026_11.pdf").is_empty());
        assert!(in_file_name("mimikatz.exe").is_empty());
    }
}
