//! A browser without a browser: HTTP with a cookie jar, no redirects followed, forms posted as a browser posts
//! them. Enough to test what the console promises at the HTTP level.

use reqwest::{StatusCode, header::HeaderMap};

/// An answer of the console.
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    /// Returns the `Location` of a redirect.
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }

    /// Returns the value of the first hidden `name` field of the page.
    pub fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no {name} field in the page: {}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_owned()
    }

    /// Returns the `Set-Cookie` header of cookie `name`.
    pub fn set_cookie(&self, name: &str) -> String {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find(|value| value.starts_with(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} cookie set"))
            .to_owned()
    }

    /// Returns the audit record number the page shows.
    pub fn audit_record(&self) -> u64 {
        let marker = "data-audit-record=\"";
        let start = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no audit record on the page: {}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].parse().unwrap()
    }
}

/// One browser: its cookies and the console it talks to.
pub struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: Vec<(String, String)>,
    /// Extra headers sent with every request.
    pub headers: Vec<(&'static str, String)>,
}

/// Encodes form pairs as `application/x-www-form-urlencoded`.
pub fn encode(pairs: &[(&str, &str)]) -> String {
    let one = |value: &str| {
        let mut out = String::new();
        for byte in value.bytes() {
            match byte {
                b' ' => out.push('+'),
                b if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') => {
                    out.push(b as char)
                }
                b => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    };
    pairs
        .iter()
        .map(|(key, value)| format!("{}={}", one(key), one(value)))
        .collect::<Vec<_>>()
        .join("&")
}

impl Browser {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// Returns the value of a cookie held.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    }

    /// Sets (or replaces) a cookie, as a copied cookie would be.
    pub fn put_cookie(&mut self, name: &str, value: &str) {
        self.cookies.retain(|(key, _)| key != name);
        self.cookies.push((name.to_owned(), value.to_owned()));
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let mut request = request;
        if !self.cookies.is_empty() {
            let jar = self
                .cookies
                .iter()
                .map(|(key, value)| format!("{key}={value}"))
                .collect::<Vec<_>>()
                .join("; ");
            request = request.header("cookie", jar);
        }
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        for set in headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|value| value.to_str().ok())
        {
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(key, _)| key != name);
            if !attributes.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        let body = response.text().await.unwrap();
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = self.client.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    /// Posts a form, with the console's own `Origin` unless [`Browser::headers`] names another.
    pub async fn post(&mut self, path: &str, pairs: &[(&str, &str)]) -> Page {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode(pairs));
        if !self.headers.iter().any(|(name, _)| *name == "origin") {
            request = request.header("origin", self.base.clone());
        }
        self.send(request).await
    }

    /// Signs in with `token`; returns the answer to the sign-in post.
    pub async fn sign_in(&mut self, token: &str) -> Page {
        let form = self.get("/sign-in").await;
        assert_eq!(form.status, StatusCode::OK);
        let csrf = form.hidden("csrf");
        self.post("/sign-in", &[("csrf", &csrf), ("token", token)])
            .await
    }

    /// Returns the CSRF token of the signed-in session (from any page's sign-out form).
    pub async fn csrf(&mut self) -> String {
        let page = self.get("/dashboard").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        page.hidden("csrf")
    }
}
