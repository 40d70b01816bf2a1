//! Server-side sessions: who is signed in, with which token, since when, and the CSRF token of their forms.
//!
//! A session is created by signing in with an API token (the token is checked with the backend first). The browser
//! holds only a random 256-bit session id in an `HttpOnly`, `SameSite=Strict` cookie (`Secure` over TLS); the store
//! keeps the session under the SHA-256 of that id, so the ids themselves are never held. A session ends:
//!
//! - after [`crate::Config::idle_timeout_minutes`] without a request, or [`crate::Config::absolute_timeout_hours`]
//!   after sign-in, whatever the activity (checked on every request, and expired sessions are swept at sign-in);
//! - at sign-out (the entry is removed: the old cookie is worthless even if it was copied);
//! - at the first request after its token stops resolving — revoked, expired, its organization gone — because every
//!   request asks the backend who the token is before it does anything else (see `crate::extract`);
//! - when the process restarts: the store is in memory, so everyone signs in again (decision 0026).
//!
//! The store holds at most [`crate::Config::max_sessions`] sessions; when full, the one idle longest is ended.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use accord_domain::Purpose;
use accord_runtime::identity::Identity;
use rand::RngCore;
use secrecy::SecretString;
use sha2::{Digest, Sha256};

/// The cookie that carries the session id.
pub(crate) const SESSION_COOKIE: &str = "accord_session";

/// An investigator's working context: stated once, sent with every search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorkContext {
    /// Why they search.
    pub(crate) purpose: Purpose,
    /// Their case reference.
    pub(crate) case: String,
}

/// One signed-in browser.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The API token it signed in with (never sent back to the browser).
    pub(crate) token: SecretString,
    /// Who the token is, as of the last request.
    pub(crate) identity: Identity,
    /// The CSRF token every form of this session carries.
    pub(crate) csrf: String,
    /// The investigator's working context, once chosen.
    pub(crate) context: Option<WorkContext>,
    created: Instant,
    last_seen: Instant,
}

/// The in-memory session store.
#[derive(Debug)]
pub(crate) struct SessionStore {
    sessions: Mutex<HashMap<String, Session>>,
    idle: Duration,
    absolute: Duration,
    max: usize,
}

/// Returns 256 random bits, hex-encoded.
pub(crate) fn random_token() -> String {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn key(session_id: &str) -> String {
    hex::encode(Sha256::digest(session_id.as_bytes()))
}

/// Compares two secrets in time independent of where they differ.
pub(crate) fn same_secret(left: &str, right: &str) -> bool {
    let (left, right) = (
        Sha256::digest(left.as_bytes()),
        Sha256::digest(right.as_bytes()),
    );
    left.iter()
        .zip(right.iter())
        .fold(0_u8, |diff, (a, b)| diff | (a ^ b))
        == 0
}

impl SessionStore {
    /// Returns an empty store.
    pub(crate) fn new(idle: Duration, absolute: Duration, max: usize) -> Self {
        Self {
            sessions: Mutex::new(HashMap::new()),
            idle,
            absolute,
            max: max.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock leaves a map that is still consistent (every write is one insert/remove).
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn expired(&self, session: &Session, now: Instant) -> bool {
        now.duration_since(session.last_seen) >= self.idle
            || now.duration_since(session.created) >= self.absolute
    }

    /// Starts a session for `token` (already checked: `identity`); returns the id for the cookie.
    pub(crate) fn create(&self, token: SecretString, identity: Identity, now: Instant) -> String {
        let id = random_token();
        let mut sessions = self.lock();
        sessions.retain(|_, session| !self.expired(session, now));
        if sessions.len() >= self.max {
            let oldest = sessions
                .iter()
                .min_by_key(|(_, session)| session.last_seen)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                sessions.remove(&oldest);
            }
        }
        // A case-bound token states its purpose and case on every read: the session's context is that binding,
        // from the start and for good (pages::context refuses another one).
        let context = identity.binding.as_ref().map(|binding| WorkContext {
            purpose: binding.purpose,
            case: binding.case.as_str().to_owned(),
        });
        sessions.insert(
            key(&id),
            Session {
                token,
                identity,
                csrf: random_token(),
                context,
                created: now,
                last_seen: now,
            },
        );
        id
    }

    /// Returns the live session of a cookie value and marks it used; an expired one is ended.
    pub(crate) fn touch(&self, session_id: &str, now: Instant) -> Option<Session> {
        let key = key(session_id);
        let mut sessions = self.lock();
        let session = sessions.get_mut(&key)?;
        if self.expired(session, now) {
            sessions.remove(&key);
            return None;
        }
        session.last_seen = now;
        Some(session.clone())
    }

    /// Changes a live session.
    pub(crate) fn update(&self, session_id: &str, change: impl FnOnce(&mut Session)) {
        if let Some(session) = self.lock().get_mut(&key(session_id)) {
            change(session);
        }
    }

    /// Ends a session.
    pub(crate) fn end(&self, session_id: &str) {
        self.lock().remove(&key(session_id));
    }

    /// Returns how many sessions are held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use accord_domain::{OrgId, OrgKind, Role};
    use accord_runtime::identity::OrgSummary;

    use super::*;

    fn identity() -> Identity {
        Identity {
            token_id: "tok-1".to_owned(),
            role: Role::Partner,
            organization: OrgSummary {
                id: OrgId::parse("bank-a").unwrap(),
                name: "Bank A".to_owned(),
                kind: OrgKind::Partner,
                country: "DE".to_owned(),
            },
            purposes: Vec::new(),
            binding: None,
        }
    }

    fn store() -> SessionStore {
        SessionStore::new(Duration::from_secs(60), Duration::from_secs(600), 2)
    }

    #[test]
    fn sessions_end_when_idle_at_the_absolute_limit_and_at_sign_out() {
        let store = store();
        let start = Instant::now();
        let id = store.create(SecretString::from("t"), identity(), start);
        assert!(store.touch(&id, start + Duration::from_secs(59)).is_some());
        assert!(
            store
                .touch(&id, start + Duration::from_secs(59 + 60))
                .is_none(),
            "idle for a minute"
        );
        assert_eq!(store.len(), 0, "an expired session is removed");

        let id = store.create(SecretString::from("t"), identity(), start);
        for minute in 1..10 {
            assert!(
                store
                    .touch(&id, start + Duration::from_secs(minute * 59))
                    .is_some()
            );
        }
        assert!(
            store.touch(&id, start + Duration::from_secs(600)).is_none(),
            "active, but at the absolute limit"
        );

        let id = store.create(SecretString::from("t"), identity(), start);
        store.end(&id);
        assert!(store.touch(&id, start).is_none());
        assert!(store.touch("never-issued", start).is_none());
    }

    #[test]
    fn a_full_store_ends_the_session_idle_longest() {
        let store = store();
        let start = Instant::now();
        let first = store.create(SecretString::from("a"), identity(), start);
        let second = store.create(
            SecretString::from("b"),
            identity(),
            start + Duration::from_secs(1),
        );
        store.touch(&first, start + Duration::from_secs(2));
        let third = store.create(
            SecretString::from("c"),
            identity(),
            start + Duration::from_secs(3),
        );
        assert_eq!(store.len(), 2);
        assert!(
            store
                .touch(&second, start + Duration::from_secs(4))
                .is_none()
        );
        assert!(
            store
                .touch(&first, start + Duration::from_secs(4))
                .is_some()
        );
        assert!(
            store
                .touch(&third, start + Duration::from_secs(4))
                .is_some()
        );
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        assert_ne!(random_token(), random_token());
        assert_eq!(random_token().len(), 64);
    }
}
