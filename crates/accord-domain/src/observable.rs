//! Observable types, refanging, type detection and canonical forms.
//!
//! Used by the gateway (to refuse invalid indicators with 422), the normalizer (to canonicalize), and search (to
//! canonicalize the value an investigator looks up, which may be defanged).
//!
//! - [`refang`] / [`refang_text`] undo defanging (`hxxp`, `[.]`, `[at]`, …) in one value or in prose;
//!   [`refang_text_mapped`] also maps the refanged prose back to the prose as written.
//! - [`detect`] guesses the type of an untyped value; [`canonicalize`] returns the canonical form (table there);
//!   [`canonicalize_declared`] does the same for a declared type name, alias included (`md5` asks for a digest).
//! - [`FileForm`] tells a `file` value that is a digest from one that is a file name, by its shape alone;
//!   [`hash_algorithm`] names a digest's algorithm by its length; [`IpBlock`] and [`containing_networks`] serve CIDR
//!   matching (IPv4-mapped values are the IPv4 addresses they map).

use std::{fmt, str::FromStr, sync::LazyLock};

use regex::Regex;
use serde::{Deserialize, Serialize};

mod forms;
mod networks;
mod refang;
#[cfg(test)]
mod tests;

pub use networks::{IpBlock, containing_networks};
pub use refang::{MappedText, refang, refang_text, refang_text_mapped};

/// A cyber-observable type, named as in STIX 2.1. File hashes and file names are both `file` (a value is a digest or
/// a name by its shape, [`FileForm::of`]; a digest's algorithm follows from the length of the canonical lower-case hex
/// value); certificate serial numbers are `x509-certificate`; CVE ids are `vulnerability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ObservableType {
    /// An IPv4 address or CIDR block (`ipv4-addr`).
    #[serde(rename = "ipv4-addr")]
    Ipv4Addr,
    /// An IPv6 address or CIDR block (`ipv6-addr`).
    #[serde(rename = "ipv6-addr")]
    Ipv6Addr,
    /// A domain name (`domain-name`).
    #[serde(rename = "domain-name")]
    DomainName,
    /// A URL (`url`).
    #[serde(rename = "url")]
    Url,
    /// An e-mail address (`email-addr`).
    #[serde(rename = "email-addr")]
    EmailAddr,
    /// A file hash (MD5, SHA-1, SHA-256 or SHA-512) or a file name (`file`); see [`FileForm`].
    #[serde(rename = "file")]
    File,
    /// A CVE id (`vulnerability`).
    #[serde(rename = "vulnerability")]
    Vulnerability,
    /// An X.509 certificate, by its serial number (`x509-certificate`). Never detected in untyped values or free
    /// text: a run of hex octets is far too ambiguous.
    #[serde(rename = "x509-certificate")]
    X509Certificate,
}

impl ObservableType {
    /// Every type.
    pub const ALL: [ObservableType; 8] = [
        ObservableType::Ipv4Addr,
        ObservableType::Ipv6Addr,
        ObservableType::DomainName,
        ObservableType::Url,
        ObservableType::EmailAddr,
        ObservableType::File,
        ObservableType::Vulnerability,
        ObservableType::X509Certificate,
    ];

    /// Returns the STIX 2.1 type name.
    pub fn as_str(self) -> &'static str {
        match self {
            ObservableType::Ipv4Addr => "ipv4-addr",
            ObservableType::Ipv6Addr => "ipv6-addr",
            ObservableType::DomainName => "domain-name",
            ObservableType::Url => "url",
            ObservableType::EmailAddr => "email-addr",
            ObservableType::File => "file",
            ObservableType::Vulnerability => "vulnerability",
            ObservableType::X509Certificate => "x509-certificate",
        }
    }
}

impl fmt::Display for ObservableType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a value could not be made canonical. Display texts are lower-case and name the problem for a 422.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObservableError {
    /// The type name is not one Accord knows.
    #[error("unknown indicator type `{0}`")]
    UnknownType(String),
    /// No type could be detected for an untyped value.
    #[error("cannot tell what kind of indicator `{0}` is")]
    Undetectable(String),
    /// The value is not valid for its declared or detected type.
    #[error("not a valid {kind} value: {reason}")]
    Invalid {
        /// The type.
        kind: ObservableType,
        /// What is wrong.
        reason: String,
    },
}

impl FromStr for ObservableType {
    type Err = ObservableError;
    fn from_str(value: &str) -> Result<Self, ObservableError> {
        let lower = value.trim().to_ascii_lowercase();
        let found = match lower.as_str() {
            "ipv4-addr" | "ipv4" | "ip-src" | "ip-dst" => ObservableType::Ipv4Addr,
            "ipv6-addr" | "ipv6" => ObservableType::Ipv6Addr,
            "domain-name" | "domain" | "hostname" => ObservableType::DomainName,
            "url" | "uri" | "link" => ObservableType::Url,
            "email-addr" | "email" | "email-src" | "email-dst" => ObservableType::EmailAddr,
            "file" | "filename" | "file-name" => ObservableType::File,
            name if DIGEST_ALIASES.contains(&name) => ObservableType::File,
            "vulnerability" | "cve" => ObservableType::Vulnerability,
            "x509-certificate" | "x509" | "x509-serial" | "x509-serial-number" => {
                ObservableType::X509Certificate
            }
            _ => return Err(ObservableError::UnknownType(value.to_owned())),
        };
        Ok(found)
    }
}

/// Declared type names that mean "a `file` given by its digest": [`canonicalize_declared`] refuses a file name under
/// them.
const DIGEST_ALIASES: [&str; 8] = [
    "hash", "md5", "sha1", "sha-1", "sha256", "sha-256", "sha512", "sha-512",
];

/// Declared type names that mean "a `file` given by its name": [`canonicalize_declared`] refuses a digest under them.
const FILE_NAME_ALIASES: [&str; 2] = ["filename", "file-name"];

/// What a `file` value is: a digest or a file name.
///
/// It is not stored alongside the value: it follows from the value's shape ([`FileForm::of`]), which is unambiguous
/// for canonical values, because a value that reads as a digest is always canonicalized as one (so a file literally
/// named like a digest cannot be a `file` name indicator). Ids ([`hash_algorithm`] picks `hashes` or `name`), the STIX
/// export (`hashes` or `name`, `[file:hashes.'SHA-256' = …]` or `[file:name = …]`) and search all read it this way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileForm {
    /// An MD5, SHA-1, SHA-256 or SHA-512 digest.
    Hash,
    /// A file name, without any directory.
    Name,
}

impl FileForm {
    /// Returns the form of a `file` value by its shape: a digest when it carries an algorithm prefix (`sha256:…`) or
    /// is 32 hex digits or more (a wrong length is then an invalid digest, not a name), a name otherwise. For a
    /// canonical value this is [`FileForm::Hash`] exactly when [`hash_algorithm`] names an algorithm.
    pub fn of(value: &str) -> FileForm {
        if forms::reads_as_digest(value) {
            FileForm::Hash
        } else {
            FileForm::Name
        }
    }
}

/// Common file extensions: an untyped `invoice.pdf` or `setup.exe` is a file name, not a domain, even where the
/// extension is also a top-level domain (`.zip`, `.sh`, `.py`, `.md`).
const FILE_EXTENSIONS: [&str; 51] = [
    "exe", "dll", "sys", "scr", "msi", "lnk", "bat", "cmd", "ps1", "vbs", "vbe", "hta", "jar",
    "js", "jse", "wsf", "py", "sh", "php", "asp", "aspx", "jsp", "html", "htm", "txt", "log",
    "csv", "json", "xml", "pdf", "doc", "docx", "docm", "xls", "xlsx", "xlsm", "ppt", "pptx",
    "rtf", "one", "eml", "msg", "zip", "rar", "7z", "gz", "tar", "iso", "img", "png", "md",
];

/// `scheme://` at the start of a value.
static URL_SCHEME: LazyLock<Regex> = LazyLock::new(|| {
    // A constant pattern; the unit tests compile it, so it cannot fail at run time.
    Regex::new(r"^[A-Za-z][A-Za-z0-9+.\-]*://").expect("the scheme pattern is valid")
});

/// The shape of a dotted quad with an optional prefix; [`canonicalize`] then checks the octets.
static IPV4_SHAPE: LazyLock<Regex> = LazyLock::new(|| {
    // A constant pattern; the unit tests compile it, so it cannot fail at run time.
    Regex::new(r"^\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,3})?$").expect("the IPv4 pattern is valid")
});

/// The shape of a CVE id, loosely: [`canonicalize`] then says what is wrong with `CVE-98-1`.
static CVE_SHAPE: LazyLock<Regex> = LazyLock::new(|| {
    // A constant pattern; the unit tests compile it, so it cannot fail at run time.
    Regex::new(r"(?i)^cve-\d+-\d+$").expect("the CVE pattern is valid")
});

/// Returns `true` when `value` has the shape of an IPv6 address or block: hex digits, colons (a `::` or all seven),
/// dots, and optionally brackets, a zone index or a prefix. Times (`12:30:45`) and MAC addresses do not qualify.
fn looks_like_ipv6(value: &str) -> bool {
    let address = value.split(['/', '%']).next().unwrap_or(value);
    let shape = address
        .chars()
        .all(|c| c.is_ascii_hexdigit() || ":.[]".contains(c));
    shape && (address.contains("::") || address.matches(':').count() == 7)
}

/// Returns `true` when `value` starts with `scheme://`.
fn has_url_scheme(value: &str) -> bool {
    URL_SCHEME.is_match(value)
}

/// Returns `true` when `name` is a syntactically valid URL scheme name (RFC 3986 §3.1).
fn is_scheme_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    first.is_ascii_alphabetic() && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

/// Returns `true` when the last dot-separated part of `value` is a common file extension (`invoice.pdf`).
pub fn has_file_extension(value: &str) -> bool {
    let Some((_, extension)) = value.rsplit_once('.') else {
        return false;
    };
    FILE_EXTENSIONS
        .iter()
        .any(|known| known.eq_ignore_ascii_case(extension))
}

/// Returns the hash algorithm of a lower- or upper-case hex digest by its length (`"MD5"`, `"SHA-1"`, `"SHA-256"`,
/// `"SHA-512"`, as STIX 2.1 names them), or `None` when `value` is not hex of one of those lengths.
pub fn hash_algorithm(value: &str) -> Option<&'static str> {
    if !value.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    match value.len() {
        32 => Some("MD5"),
        40 => Some("SHA-1"),
        64 => Some("SHA-256"),
        128 => Some("SHA-512"),
        _ => None,
    }
}

/// Detects the type of an already-refanged value, or `None`. Checks in order: a URL (`scheme://`), an e-mail address,
/// an IPv4 or IPv6 address or CIDR block, a hash (hex of 32 digits or more, optionally `sha256:`-prefixed), a CVE id,
/// a domain name (at least two labels, an alphabetic top-level label that is not a common file extension), and last a
/// URL written without its scheme (`evil.com/login`). Detection only looks at the shape: [`canonicalize`] then says
/// what is wrong with, say, `999.1.1.1`.
pub fn detect(value: &str) -> Option<ObservableType> {
    if value.is_empty() || value.contains(char::is_whitespace) {
        return None;
    }
    if has_url_scheme(value) {
        return Some(ObservableType::Url);
    }
    if value.contains('@') && !value.contains('/') {
        return Some(ObservableType::EmailAddr);
    }
    if IPV4_SHAPE.is_match(value) {
        return Some(ObservableType::Ipv4Addr);
    }
    if looks_like_ipv6(value) {
        return Some(ObservableType::Ipv6Addr);
    }
    let (_, hex) = forms::split_hash_prefix(value);
    if hex.len() >= 32 && hex.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Some(ObservableType::File);
    }
    if CVE_SHAPE.is_match(value) {
        return Some(ObservableType::Vulnerability);
    }
    // The file-extension rule reads the canonical domain, as a lookup of it would: a trailing dot (`setup.exe.`) or a
    // character IDNA drops (`setup.\u{feff}exe`) must not hide the extension.
    if forms::domain(value).is_ok_and(|canonical| !has_file_extension(&canonical)) {
        return Some(ObservableType::DomainName);
    }
    if let Some((host, _path)) = value.split_once('/') {
        let host_is_valid = forms::domain(host).is_ok() || forms::ip(host, true).is_ok();
        if host_is_valid && !has_file_extension(host) {
            return Some(ObservableType::Url);
        }
    }
    None
}

/// Refangs `raw`, detects its type when `kind` is `None`, and returns the type and canonical value:
///
/// | type | canonical form |
/// |---|---|
/// | `ipv4-addr` | dotted quad without leading zeros; a CIDR block keeps its prefix with host bits zeroed (`10.1.2.3/8` → `10.0.0.0/8`); `/32` is dropped |
/// | `ipv6-addr` | RFC 5952 (compressed, lower-case); CIDR as for IPv4, `/128` dropped; IPv4-mapped kept (`::ffff:1.2.3.4`) |
/// | `domain-name` | IDNA ASCII (punycode), lower-case, no trailing dot, at least two labels |
/// | `url` | as the `url` crate serializes it, the host a canonical domain (no trailing dot); http, https, ftp, ws, wss with a host; `http://` assumed when absent |
/// | `email-addr` | local part as given, domain part as `domain-name` |
/// | `file` (digest) | lower-case hex MD5, SHA-1, SHA-256 or SHA-512; a `sha256:`-style prefix is accepted and dropped |
/// | `file` (name) | as given, trimmed; 1 to 255 bytes, no `/`, `\` or control character (a path is not a name); never detected |
/// | `vulnerability` | `CVE-YYYY-NNNN…`, upper-case |
/// | `x509-certificate` | the serial number as lower-case hex octets joined by `:` (`36:f7:d4:32`), leading zero octets dropped; never detected |
///
/// A declared `file` value is a digest or a name by its shape ([`FileForm::of`]); [`canonicalize_file`] insists on
/// one form. A serial number may be written with `:`, `-` or blank separators or none, upper- or lower-case, with
/// `0x`; an odd number of digits gets a leading zero; at most 64 octets (RFC 5280 allows 20; some issuers ignore it).
///
/// # Errors
/// Returns [`ObservableError::Undetectable`] when `kind` is `None` and no type fits, and [`ObservableError::Invalid`]
/// when the value is not valid for its type, including a declared type that disagrees with the value (the reason then
/// names the type the value looks like) and a value defanged twice over (`a[[.]]com`: still defanged once refanged).
pub fn canonicalize(
    kind: Option<ObservableType>,
    raw: &str,
) -> Result<(ObservableType, String), ObservableError> {
    let value = refang(raw);
    let declared = kind.is_some();
    let Some(kind) = kind.or_else(|| detect(&value)) else {
        return Err(ObservableError::Undetectable(raw.to_owned()));
    };
    if value.is_empty() {
        return Err(ObservableError::Invalid {
            kind,
            reason: "the value is empty".to_owned(),
        });
    }
    if let Some(reason) = refang::still_defanged(&value) {
        return Err(ObservableError::Invalid { kind, reason });
    }
    let result = match kind {
        ObservableType::Ipv4Addr => forms::ip(&value, true),
        ObservableType::Ipv6Addr => forms::ip(&value, false),
        ObservableType::DomainName => forms::domain(&value),
        ObservableType::Url => forms::url(&value),
        ObservableType::EmailAddr => forms::email(&value),
        ObservableType::File => match FileForm::of(&value) {
            FileForm::Hash => forms::hash(&value),
            FileForm::Name => forms::file_name(&value),
        },
        ObservableType::Vulnerability => forms::cve(&value),
        ObservableType::X509Certificate => forms::serial_number(&value),
    };
    match result {
        Ok(canonical) => Ok((kind, canonical)),
        Err(mut reason) => {
            if declared
                && let Some(looks_like) = detect(&value)
                && looks_like != kind
            {
                reason.push_str(&format!(" (the value looks like {looks_like})"));
            }
            Err(ObservableError::Invalid { kind, reason })
        }
    }
}

/// Refangs `raw` and returns the canonical `file` value of the given form: a digest, or a file name.
///
/// # Errors
/// Returns [`ObservableError::Invalid`] (of type `file`) when the value is not valid, including a name that reads as a
/// digest (32 hex digits or more, or `sha256:…`) when a name is wanted, and a name when a digest is wanted.
pub fn canonicalize_file(raw: &str, form: FileForm) -> Result<String, ObservableError> {
    let value = refang(raw);
    if let Some(reason) = refang::still_defanged(&value) {
        return Err(ObservableError::Invalid {
            kind: ObservableType::File,
            reason,
        });
    }
    let result = match (form, FileForm::of(&value)) {
        (FileForm::Hash, FileForm::Hash) => forms::hash(&value),
        (FileForm::Hash, FileForm::Name) => Err(format!("`{value}` is not a hexadecimal digest")),
        (FileForm::Name, FileForm::Name) => forms::file_name(&value),
        (FileForm::Name, FileForm::Hash) => Err(format!(
            "`{value}` reads as a digest, so it cannot be given as a file name"
        )),
    };
    result.map_err(|reason| ObservableError::Invalid {
        kind: ObservableType::File,
        reason,
    })
}

/// Canonicalizes a submitted indicator by its declared type name, as a native report or a MISP event writes it
/// (`ipv4-addr`, `domain`, `md5`, `filename`, …), or by detection when there is none. Like [`canonicalize`], except
/// that an alias naming a digest (`hash`, `md5`, `sha256`, …) only accepts a digest and `filename` only a file name,
/// while `file` accepts either.
///
/// # Errors
/// Returns [`ObservableError::UnknownType`] for a type name Accord does not know, otherwise as [`canonicalize`].
pub fn canonicalize_declared(
    declared: Option<&str>,
    raw: &str,
) -> Result<(ObservableType, String), ObservableError> {
    let Some(name) = declared else {
        return canonicalize(None, raw);
    };
    let kind = ObservableType::from_str(name)?;
    let lower = name.trim().to_ascii_lowercase();
    let form = if DIGEST_ALIASES.contains(&lower.as_str()) {
        FileForm::Hash
    } else if FILE_NAME_ALIASES.contains(&lower.as_str()) {
        FileForm::Name
    } else {
        return canonicalize(Some(kind), raw);
    };
    canonicalize_file(raw, form).map(|value| (ObservableType::File, value))
}
