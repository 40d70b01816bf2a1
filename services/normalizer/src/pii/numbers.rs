//! Bank and card numbers: IBANs (ISO 13616, checked by mod 97), payment card numbers (Luhn and an issuer prefix)
//! and bank account numbers introduced by a cue (`account number: 12345678`, `acct=…`, `Kontonummer …`,
//! `sort code 12-34-56`, `routing number …`).
//!
//! Each detector returns byte ranges of `text`. A candidate glued to a longer token (a hash, an IP address, a UUID,
//! an ATT&CK or CVE id, a timestamp, a file or URL path) is never a match: digits must stand on their own.

use std::sync::LazyLock;

use regex::Regex;

/// The length of an IBAN by country (ISO 13616 registry).
const IBAN_LENGTHS: [(&str, usize); 89] = [
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BI", 27),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DJ", 27),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FK", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HN", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("LY", 25),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MN", 20),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NI", 28),
    ("NL", 18),
    ("NO", 15),
    ("OM", 23),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("RU", 33),
    ("SA", 24),
    ("SC", 31),
    ("SD", 18),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("SO", 23),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
    ("YE", 30),
];

static IBAN_START: LazyLock<Regex> = LazyLock::new(|| {
    // A constant pattern; the unit tests compile it, so it cannot fail at run time.
    Regex::new(r"(?i)\b[a-z]{2}[0-9]{2}").expect("the IBAN pattern is valid")
});

static CARD: LazyLock<Regex> = LazyLock::new(|| {
    // 13 to 19 digits, compact or in groups of 3 to 6 separated by one blank or hyphen.
    let pattern = r"\b(?:\d{13,19}|\d{3,6}(?:[ \-]\d{3,6}){2,5})\b";
    // A constant pattern; the unit tests compile it, so it cannot fail at run time.
    Regex::new(pattern).expect("the card pattern is valid")
});

static ACCOUNT: LazyLock<Regex> = LazyLock::new(|| {
    let cue = r"(?:bank[ \t]+)?(?:account|acct|acc|a/c)(?:[ \t]*(?:number|num|no\.?|nr\.?|#))?|kontonummer|konto(?:[ \t]*(?:nr\.?|nummer))?|kto\.?(?:[ \t\-]*nr\.?)?|compte(?:[ \t]+n°)?|cuenta|rekeningnummer|rekening|sort[ \t]*code|routing(?:[ \t]*(?:number|no\.?|#))?|aba(?:[ \t]*(?:number|no\.?|#))?|bsb";
    let number = r"\d(?:[ \-]?\d){5,17}";
    let pattern = format!(r"(?i)\b(?:{cue})[ \t]*[:=#]?[ \t]*(?P<number>{number})");
    // A constant pattern; the unit tests compile it, so it cannot fail at run time.
    Regex::new(&pattern).expect("the account pattern is valid")
});

/// Returns the IBANs in `text`: a known country, its exact length, compact or in groups of four separated by one
/// blank or hyphen, and a valid mod-97 check.
pub(super) fn ibans(text: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut position = 0;
    while let Some(start) = IBAN_START.find_at(text, position) {
        let start = start.start();
        match iban_at(text, start) {
            Some(end) => {
                found.push((start, end));
                position = end;
            }
            None => position = start + 1,
        }
    }
    found
}

/// Reads an IBAN starting at `start` (an ASCII letter), returning its end.
fn iban_at(text: &str, start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let country = text.get(start..start + 2)?.to_ascii_uppercase();
    let length = IBAN_LENGTHS
        .iter()
        .find(|(code, _)| *code == country)
        .map(|(_, length)| *length)?;
    if start > 0 && is_glue(bytes[start - 1]) {
        return None;
    }
    let mut compact = String::with_capacity(length);
    let mut index = start;
    let mut separator: Option<u8> = None;
    while compact.len() < length {
        let byte = *bytes.get(index)?;
        if byte.is_ascii_alphanumeric() {
            compact.push(char::from(byte.to_ascii_uppercase()));
            index += 1;
            continue;
        }
        // A separator only between groups of four, and the same one throughout.
        let at_group = compact.len().is_multiple_of(4) && !compact.is_empty();
        if !at_group || !matches!(byte, b' ' | b'-') || separator.is_some_and(|s| s != byte) {
            return None;
        }
        if compact.len() > 4 && separator.is_none() {
            return None;
        }
        separator = Some(byte);
        index += 1;
    }
    if bytes
        .get(index)
        .is_some_and(|byte| byte.is_ascii_alphanumeric() || *byte == b'_')
    {
        return None;
    }
    (mod97(&compact) == Some(1)).then_some(index)
}

/// Returns the ISO 7064 mod-97 remainder of an IBAN (country and check digits moved to the end, letters as 10–35).
fn mod97(compact: &str) -> Option<u32> {
    let (head, tail) = compact.split_at(4);
    let mut remainder: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let value = c.to_digit(36)?;
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    Some(remainder)
}

/// Returns the payment card numbers in `text`: 13 to 19 digits with a valid Luhn check and an issuer prefix (Visa,
/// Mastercard, American Express, Discover, JCB, Diners, UnionPay, Maestro), not glued to a longer token.
pub(super) fn cards(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    for candidate in CARD.find_iter(text) {
        let (start, end) = (candidate.start(), candidate.end());
        if start > 0 && is_glue(bytes[start - 1]) {
            continue;
        }
        if is_glued_after(bytes, end) {
            continue;
        }
        let digits: Vec<u32> = candidate
            .as_str()
            .chars()
            .filter_map(|c| c.to_digit(10))
            .collect();
        if (13..=19).contains(&digits.len()) && has_issuer_prefix(&digits) && luhn(&digits) {
            found.push((start, end));
        }
    }
    found
}

fn luhn(digits: &[u32]) -> bool {
    let mut sum = 0;
    for (position, digit) in digits.iter().rev().enumerate() {
        sum += if position % 2 == 1 {
            let doubled = digit * 2;
            if doubled > 9 { doubled - 9 } else { doubled }
        } else {
            *digit
        };
    }
    sum % 10 == 0
}

fn has_issuer_prefix(digits: &[u32]) -> bool {
    let prefix = |count: usize| {
        digits
            .iter()
            .take(count)
            .fold(0u32, |value, digit| value * 10 + digit)
    };
    let (two, three, four, six) = (prefix(2), prefix(3), prefix(4), prefix(6));
    digits[0] == 4
        || (51..=55).contains(&two)
        || (222_100..=272_099).contains(&six)
        || two == 34
        || two == 37
        || four == 6011
        || two == 65
        || (644..=649).contains(&three)
        || (3528..=3589).contains(&four)
        || two == 36
        || two == 38
        || (300..=305).contains(&three)
        || two == 62
        || two == 50
        || (56..=69).contains(&two)
}

/// Returns the bank account numbers in `text` that follow a cue (`account number:`, `acct=`, `IBAN`-less national
/// forms such as `Kontonummer`, `sort code`, `routing number`): the digits only, not the cue.
pub(super) fn accounts(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    for caps in ACCOUNT.captures_iter(text) {
        let Some(number) = caps.name("number") else {
            continue;
        };
        let end = number.start() + number.as_str().trim_end_matches([' ', '-']).len();
        if is_glued_after(bytes, end) {
            continue;
        }
        found.push((number.start(), end));
    }
    found
}

/// A byte that makes the digits after it part of a longer token.
fn is_glue(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"._-/:+=#@\\%".contains(&byte)
}

/// Whether the digits ending at `end` continue a longer token (`…1234.5`, `…1234abc`, `…1234-x`, `…1234:`).
fn is_glued_after(bytes: &[u8], end: usize) -> bool {
    let Some(&next) = bytes.get(end) else {
        return false;
    };
    if next.is_ascii_alphanumeric() || matches!(next, b'_' | b'@' | b':' | b'/' | b'\\' | b'%') {
        return true;
    }
    matches!(next, b'.' | b'-') && bytes.get(end + 1).is_some_and(u8::is_ascii_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(found: Vec<(usize, usize)>, text: &str) -> Vec<String> {
        found
            .into_iter()
            .map(|(start, end)| text[start..end].to_owned())
            .collect()
    }

    #[test]
    fn ibans_need_their_checksum_and_length() {
        let text = "Paid to DE89 3704 0044 0532 0130 00 and GB82WEST12345698765432, not DE89 3704 0044 0532 0130 01 \
                    nor DE8937040044053201300 nor NL91ABNA0417164300x.";
        assert_eq!(
            spans(ibans(text), text),
            ["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432"]
        );
        let text = "fr7630006000011234567890189 and FR76-3000-6000-0112-3456-7890-189.";
        assert_eq!(spans(ibans(text), text).len(), 2);
    }

    #[test]
    fn cards_need_luhn_and_an_issuer() {
        let text = "Cards 4111 1111 1111 1111, 5500-0000-0000-0004, 378282246310005 and 3782 822463 10005; \
                    not 4111 1111 1111 1112, not 1234567890123 nor 1700000000000 (a timestamp).";
        assert_eq!(
            spans(cards(text), text),
            [
                "4111 1111 1111 1111",
                "5500-0000-0000-0004",
                "378282246310005",
                "3782 822463 10005"
            ]
        );
    }

    #[test]
    fn cards_are_not_pieces_of_longer_tokens() {
        let text = "sha 4111111111111111abcdef, ip 10.4111111111111111, id x-4111111111111111, \
                    path /4111111111111111/, 4111111111111111.5";
        assert!(cards(text).is_empty(), "{:?}", spans(cards(text), text));
    }

    #[test]
    fn accounts_need_a_cue() {
        let text = "Account number: 12345678, acct=987654321, Kontonummer 0532013000, sort code 12-34-56 \
                    and routing no. 021000021; build 12345678 is not one.";
        assert_eq!(
            spans(accounts(text), text),
            [
                "12345678",
                "987654321",
                "0532013000",
                "12-34-56",
                "021000021"
            ]
        );
    }
}
