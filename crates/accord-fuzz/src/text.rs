//! Incident prose: sentences that mix words, indicators (plain and defanged), personal data (e-mail addresses, phone
//! numbers, names after honorifics and cues) and traps that look like indicators (`System.IO`, `invoice.pdf`,
//! version numbers, dates), plus repeated units for scaling checks.

use proptest::prelude::*;

use crate::observables;

const WORDS: &[&str] = &[
    "the",
    "attacker",
    "sent",
    "a",
    "phishing",
    "mail",
    "from",
    "to",
    "victim",
    "at",
    "dot",
    "and",
    "then",
    "downloaded",
    "payload",
    "C2",
    "server",
    "contact",
    "name",
    "Mr.",
    "Dr.",
    "Ms",
    "Prof.",
    "John",
    "Smith",
    "Jean-Luc",
    "O'Brien",
    "Łukasz",
    "Müller",
    "Security",
    "Team",
    "point",
    "of",
    "poc",
    "full",
    "file",
    "host",
    "System.IO",
    "ASP.NET",
    "invoice.pdf",
    "attack.It",
    "v1.2.3",
    "10.01.2026",
    "2026-01-10",
    "T1566.002",
    "CVE-2024-3094",
    "README.md",
    "evil.com.exe",
    "1.2.3.4.5",
    "::",
    ":::",
    "12:30:45",
    "aa:bb:cc:dd:ee:ff",
    "+49",
    "030",
    "(555)",
    "0171",
    "IBAN",
    "DE89370400440532013000",
    "4111111111111111",
    "–",
    "…",
    "«",
    "»",
];

/// Personal data and things shaped like it.
fn personal() -> impl Strategy<Value = String> {
    prop_oneof![
        observables::email(),
        "\\+[1-9][0-9]{0,2} [0-9]{2,4} [0-9]{3,8}",
        "\\(0[0-9]{2,4}\\) [0-9]{3} [0-9]{2} [0-9]{2}",
        "[0-9]{3}-[0-9]{3}-[0-9]{4}",
        "0[0-9]{3,4} [0-9]{6,8}",
        "(Mr|Mrs|Ms|Dr|Prof|MR)\\.? [A-Z][a-z]{1,10}( [A-Z][a-z']{1,10}){0,3}",
        "(contact|Contact person|point of contact|POC|full name|file name|name): [A-Z][a-z]{1,10}( [A-Z][a-z]{1,10}){1,3}",
        "[a-z]{1,8}\\[at\\][a-z]{1,8}\\[\\.\\][a-z]{2,3}",
    ]
}

/// One token of prose.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::sample::select(WORDS).prop_map(str::to_owned),
        3 => observables::wild_value(),
        2 => personal(),
        1 => prop::sample::select(vec![".", ",", ";", ":", "(", ")", "[", "]", "\"", "'", "\n", "\n\n", "\t", "-", "/"]).prop_map(str::to_owned),
        1 => ".{1,8}",
    ]
}

/// A paragraph of up to `max_tokens` tokens, separated by blanks or glued to each other.
pub fn prose(max_tokens: usize) -> BoxedStrategy<String> {
    prop::collection::vec(
        (
            token(),
            prop::sample::select(vec![" ", " ", " ", "", "\n", ". ", ", "]),
        ),
        0..=max_tokens,
    )
    .prop_map(|tokens| {
        let mut text = String::new();
        for (token, separator) in tokens {
            text.push_str(&token);
            text.push_str(separator);
        }
        text
    })
    .boxed()
}

/// A unit of text that, repeated, stresses one part of extraction or PII location; see [`repeat`].
pub const SCALING_UNITS: &[&str] = &[
    "198.51.100.7 ",
    "evil[.]example[.]com ",
    "hxxps://evil[.]com/a?b=c ",
    "john.doe@bank-a.de ",
    "CVE-2024-3094 ",
    "d41d8cd98f00b204e9800998ecf8427e ",
    "2001:db8::1 ",
    "+49 30 1234567 ",
    "Mr. John Smith ",
    "contact: Jane Doe; name: John Smith ",
    "http://a.com/",
    ")",
    "[.]",
    "[",
    "0",
    "a.",
    "a-",
    "::",
    ":",
    "@",
    " ",
    "a",
    "1.",
    "x name: ",
];

/// Returns `unit` repeated until the text has about `bytes` bytes.
pub fn repeat(unit: &str, bytes: usize) -> String {
    unit.repeat(bytes / unit.len().max(1) + 1)
}

/// A text built from scaling units, each repeated a random number of times, for input-size checks.
pub fn adversarial(max_bytes: usize) -> BoxedStrategy<String> {
    prop::collection::vec((prop::sample::select(SCALING_UNITS), 1usize..200), 1..6)
        .prop_map(move |parts| {
            let mut text = String::new();
            for (unit, times) in parts {
                if text.len() + unit.len() * times > max_bytes {
                    break;
                }
                text.push_str(&unit.repeat(times));
            }
            text
        })
        .boxed()
}
