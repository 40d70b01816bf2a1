//! Validated identifiers.
//!
//! Organization and MoU ids are chosen by coordinators (`bank-a`, `mou-bank-a-ncu`): lowercase ASCII letters, digits,
//! `-`, `_` and `.`, 1 to 64 characters. Report ids are STIX-style `report--<uuid>`.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id is empty or longer than 64 characters.
    #[error("must be 1 to 64 characters long")]
    Length,
    /// The id contains a character outside `[a-z0-9._-]`.
    #[error("may contain only lowercase letters, digits, '-', '_' and '.'")]
    Charset,
    /// A report id that is not `report--<uuid>`.
    #[error("must be of the form report--<uuid>")]
    ReportForm,
}

fn check_slug(value: &str) -> Result<(), IdError> {
    if value.is_empty() || value.len() > 64 {
        return Err(IdError::Length);
    }
    let valid = value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.'));
    if !valid {
        return Err(IdError::Charset);
    }
    Ok(())
}

macro_rules! slug_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses and validates an identifier.
            ///
            /// # Errors
            /// Returns [`IdError`] when the value is not a valid identifier.
            pub fn parse(value: &str) -> Result<Self, IdError> {
                check_slug(value)?;
                Ok(Self(value.to_owned()))
            }

            /// Returns the identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                check_slug(&value)?;
                Ok(Self(value))
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

slug_id!(
    /// An organization id (`bank-a`, `ncu-de`).
    OrgId
);
slug_id!(
    /// An MoU id (`mou-bank-a-ncu`).
    MouId
);
slug_id!(
    /// A token id: public, never the secret.
    TokenId
);

/// A report id: `report--<uuid>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReportId(String);

/// The per-deployment secret that keys report ids derived from idempotency keys
/// ([`ReportId::for_idempotency_key`]): 32 bytes, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ReportIdKey([u8; 32]);

impl ReportIdKey {
    /// Returns the key of these bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for ReportIdKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReportIdKey(***)")
    }
}

impl ReportId {
    /// The public namespace of the first derivation of report ids from idempotency keys (UUIDv5): kept only to find
    /// reports accepted under it ([`ReportId::legacy_for_idempotency_key`]).
    const LEGACY_IDEMPOTENCY_NAMESPACE: Uuid =
        Uuid::from_u128(0x6f1c_52a4_2c1e_4b8e_9d3a_a55e_7c0d_1e01);

    /// Returns a fresh random report id.
    pub fn random() -> Self {
        Self(format!("report--{}", Uuid::new_v4()))
    }

    /// Returns the report id a partner's `Idempotency-Key` maps to under the deployment's `key`: the same key always
    /// names the same report, so a retried submission is deduplicated downstream even if the gateway forgot the
    /// first answer. The id is HMAC-SHA256(`key`, partner ␟ idempotency key), its first 128 bits shaped as a UUIDv4:
    /// without the key nobody can compute it, so an agency that sees an id cannot test guesses of partner and key
    /// (an anonymous partner stays anonymous), and it looks like any random id.
    pub fn for_idempotency_key(key: &ReportIdKey, partner: &OrgId, idempotency_key: &str) -> Self {
        use hmac::{Hmac, Mac};
        // HMAC takes keys of any length: `new_from_slice` cannot fail.
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&key.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(partner.as_str().as_bytes());
        mac.update(b"\x1f");
        mac.update(idempotency_key.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut bytes = [0_u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Self(format!(
            "report--{}",
            uuid::Builder::from_random_bytes(bytes).into_uuid()
        ))
    }

    /// Returns the id the first (unkeyed, public) derivation gave a partner's `Idempotency-Key`. Never used for a new
    /// report: only to find one accepted before keyed ids, so that its retry still gets its id.
    pub fn legacy_for_idempotency_key(partner: &OrgId, idempotency_key: &str) -> Self {
        let name = format!("{}\u{1f}{}", partner.as_str(), idempotency_key);
        Self(format!(
            "report--{}",
            Uuid::new_v5(&Self::LEGACY_IDEMPOTENCY_NAMESPACE, name.as_bytes())
        ))
    }

    /// Parses a `report--<uuid>` id.
    ///
    /// # Errors
    /// Returns [`IdError::ReportForm`] when the value is not of that form.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        let Some(uuid) = value.strip_prefix("report--") else {
            return Err(IdError::ReportForm);
        };
        let parsed = Uuid::parse_str(uuid).map_err(|_| IdError::ReportForm)?;
        Ok(Self(format!("report--{parsed}")))
    }

    /// Returns the id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ReportId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, IdError> {
        Self::parse(&value)
    }
}

impl From<ReportId> for String {
    fn from(value: ReportId) -> String {
        value.0
    }
}

impl fmt::Display for ReportId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_validated() {
        assert!(OrgId::parse("bank-a").is_ok());
        assert_eq!(OrgId::parse(""), Err(IdError::Length));
        assert_eq!(OrgId::parse("Bank A"), Err(IdError::Charset));
        assert_eq!(OrgId::parse(&"a".repeat(65)), Err(IdError::Length));
    }

    #[test]
    fn report_ids_round_trip_and_idempotency_keys_are_stable() {
        let id = ReportId::random();
        assert_eq!(ReportId::parse(id.as_str()).unwrap(), id);
        assert!(ReportId::parse("report--nope").is_err());
        let key = ReportIdKey::new([7; 32]);
        let partner = OrgId::parse("bank-a").unwrap();
        let first = ReportId::for_idempotency_key(&key, &partner, "k1");
        assert_eq!(first, ReportId::for_idempotency_key(&key, &partner, "k1"));
        assert_eq!(ReportId::parse(first.as_str()).unwrap(), first);
        assert_ne!(first, ReportId::for_idempotency_key(&key, &partner, "k2"));
        let other = OrgId::parse("bank-b").unwrap();
        assert_ne!(first, ReportId::for_idempotency_key(&key, &other, "k1"));
    }

    #[test]
    fn keyed_report_ids_cannot_be_computed_without_the_deployment_key() {
        let partner = OrgId::parse("bank-a").unwrap();
        let ours = ReportId::for_idempotency_key(&ReportIdKey::new([1; 32]), &partner, "k1");
        let theirs = ReportId::for_idempotency_key(&ReportIdKey::new([2; 32]), &partner, "k1");
        assert_ne!(ours, theirs, "another deployment's key gives another id");
        // The public derivation (what an outsider can compute) is not the id.
        let public = ReportId::legacy_for_idempotency_key(&partner, "k1");
        assert_ne!(ours, public);
        // The old derivation is unchanged, so reports accepted under it are still found.
        assert_eq!(
            public.as_str(),
            format!(
                "report--{}",
                Uuid::new_v5(
                    &Uuid::from_u128(0x6f1c_52a4_2c1e_4b8e_9d3a_a55e_7c0d_1e01),
                    "bank-a\u{1f}k1".as_bytes()
                )
            )
        );
        // A keyed id is shaped as a random (v4) UUID, like ids of reports sent without a key.
        let uuid = Uuid::parse_str(ours.as_str().trim_start_matches("report--")).unwrap();
        assert_eq!(uuid.get_version_num(), 4);
    }
}
