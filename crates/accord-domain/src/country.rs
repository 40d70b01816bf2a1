//! Country codes: ISO 3166-1 alpha-2, for organizations and for MoUs' `recipient_countries`.
//!
//! Every officially assigned code is accepted, plus two that partnerships of this kind need and ISO reserves for
//! them: `EU` (exceptionally reserved: EU bodies such as Europol's EC3) and `XK` (user-assigned, used by the
//! European Commission for Kosovo). Codes are compared and stored upper-case; anything else (`Germany`, `XX`) is not
//! a country.

/// Every accepted code, sorted.
pub const CODES: [&str; 251] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "EU", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE",
    "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK",
    "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE",
    "JM", "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB",
    "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH",
    "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ",
    "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF",
    "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU",
    "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR",
    "SS", "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN",
    "TO", "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG",
    "VI", "VN", "VU", "WF", "WS", "XK", "YE", "YT", "ZA", "ZM", "ZW",
];

/// Returns the canonical (upper-case) code of `code` (surrounding spaces and case ignored), or `None` when it is
/// not an accepted ISO 3166-1 alpha-2 code.
pub fn country(code: &str) -> Option<&'static str> {
    let upper = code.trim().to_ascii_uppercase();
    CODES
        .binary_search(&upper.as_str())
        .ok()
        .map(|index| CODES[index])
}

/// The message of a field that is not a country code.
pub const NOT_A_COUNTRY: &str = "must be an ISO 3166-1 alpha-2 country code (`DE`, `FR`, `EU`…)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_sorted_unique_and_two_upper_case_letters() {
        assert!(CODES.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(
            CODES
                .iter()
                .all(|code| code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()))
        );
    }

    #[test]
    fn countries_are_found_in_any_case_and_others_refused() {
        assert_eq!(country("de"), Some("DE"));
        assert_eq!(country(" Fr "), Some("FR"));
        assert_eq!(country("EU"), Some("EU"));
        for bad in ["XX", "Germany", "D", "", "ZZ", "UK"] {
            assert_eq!(country(bad), None, "{bad}");
        }
    }
}
