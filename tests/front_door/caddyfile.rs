//! Reads the front door's route table out of `deploy/Caddyfile`: the `(accord_routes)` snippet's one `route` block,
//! in order, each `handle` with its named matcher (`path`, `method`) and what it does (`reverse_proxy` to one
//! service's upstream, or `respond` with a status).
//!
//! Only that subset of the Caddyfile syntax is understood; anything else in the snippet is an error, never ignored,
//! so that the check cannot pass on a file it misreads. The live test compares this reading with Caddy's own
//! (`caddy adapt`).

use std::{collections::HashMap, fmt};

/// A line of a Caddyfile: its tokens, and its block when it opens one.
#[derive(Debug, Clone)]
pub struct Line {
    /// Its line number (1-based).
    pub number: usize,
    /// Its tokens, quotes removed (`{` that opens the block excluded).
    pub tokens: Vec<String>,
    /// The lines of its block.
    pub block: Option<Vec<Line>>,
}

/// What a proxy route does with what it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `reverse_proxy {$ACCORD_<SERVICE>_UPSTREAM:<service>:<port>}`.
    Proxy {
        /// The service, the default upstream's host (`admin`).
        service: String,
        /// The default upstream (`admin:8080`).
        upstream: String,
    },
    /// `respond [body] <status>`: answered by the proxy itself.
    Respond {
        /// The status.
        status: u16,
    },
}

/// One `handle` of the route block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyRoute {
    /// `@name`, or `the catch-all`.
    pub name: String,
    /// Its path patterns (Caddy's `path` matcher); `None`: every path.
    pub paths: Option<Vec<String>>,
    /// Its methods (Caddy's `method` matcher); `None`: every method.
    pub methods: Option<Vec<String>>,
    /// What it does.
    pub action: Action,
}

/// The front door as read: its routes in order, and the site blocks.
#[derive(Debug, Clone)]
pub struct FrontDoor {
    /// The routes, first match wins.
    pub routes: Vec<ProxyRoute>,
    /// Each site block's address and whether it imports the routes.
    pub sites: Vec<(String, bool)>,
}

/// Why a Caddyfile could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The line (0 when the file as a whole).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "deploy/Caddyfile line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

fn error(line: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        message: message.into(),
    }
}

/// The snippet that holds the routes.
pub const SNIPPET: &str = "(accord_routes)";

/// Splits one line into tokens: whitespace-separated, `"…"` quoted, `#` at a token's start ends the line.
fn tokenize(number: usize, text: &str) -> Result<Vec<String>, ParseError> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '#' {
            break;
        } else if c == '"' {
            chars.next();
            let mut token = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => token.extend(chars.next()),
                    Some(other) => token.push(other),
                    None => return Err(error(number, "unterminated quote")),
                }
            }
            tokens.push(token);
        } else if c == '`' {
            return Err(error(number, "backtick tokens are not understood here"));
        } else {
            let mut token = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                token.push(c);
                chars.next();
            }
            tokens.push(token);
        }
    }
    Ok(tokens)
}

/// Reads a Caddyfile into lines and blocks (a line ending in `{` opens a block, a line `}` closes it).
pub fn lines(text: &str) -> Result<Vec<Line>, ParseError> {
    let mut stack: Vec<(Line, Vec<Line>)> = Vec::new();
    let mut top = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let mut tokens = tokenize(number, raw)?;
        if tokens.is_empty() {
            continue;
        }
        if tokens == ["}"] {
            let (mut line, block) = stack.pop().ok_or_else(|| error(number, "unbalanced `}`"))?;
            line.block = Some(block);
            match stack.last_mut() {
                Some((_, parent)) => parent.push(line),
                None => top.push(line),
            }
            continue;
        }
        let opens = tokens.last().is_some_and(|token| token == "{");
        if opens {
            tokens.pop();
        }
        if tokens.iter().any(|token| token == "{" || token == "}") {
            return Err(error(
                number,
                "a brace inside a line is not understood here",
            ));
        }
        let line = Line {
            number,
            tokens,
            block: None,
        };
        if opens {
            stack.push((line, Vec::new()));
        } else {
            match stack.last_mut() {
                Some((_, parent)) => parent.push(line),
                None => top.push(line),
            }
        }
    }
    if let Some((line, _)) = stack.last() {
        return Err(error(line.number, "block never closed"));
    }
    Ok(top)
}

/// Reads the front door out of the Caddyfile's text.
///
/// # Errors
/// [`ParseError`] on anything outside the understood subset.
pub fn parse(text: &str) -> Result<FrontDoor, ParseError> {
    let top = lines(text)?;
    let mut routes = None;
    let mut sites = Vec::new();
    for line in &top {
        let block = line
            .block
            .as_ref()
            .ok_or_else(|| error(line.number, "a top-level line outside a block"))?;
        match line.tokens.first().map(String::as_str) {
            // The global options.
            None => {}
            Some(SNIPPET) => routes = Some(snippet_routes(line.number, block)?),
            Some(name) if name.starts_with('(') => {
                return Err(error(line.number, format!("unexpected snippet {name}")));
            }
            Some(address) => sites.push((address.to_owned(), site_imports_routes(block)?)),
        }
    }
    let routes = routes.ok_or_else(|| error(0, format!("no snippet {SNIPPET}")))?;
    Ok(FrontDoor { routes, sites })
}

/// Checks a site block holds only imports and logging (a `handle` here would be re-ordered among the snippet's by
/// Caddy); returns whether it imports the routes.
fn site_imports_routes(block: &[Line]) -> Result<bool, ParseError> {
    let mut imports = false;
    for line in block {
        match line.tokens.first().map(String::as_str) {
            Some("import") if line.tokens.get(1).map(String::as_str) == Some("accord_routes") => {
                imports = true;
            }
            Some("import" | "log") => {}
            other => {
                return Err(error(
                    line.number,
                    format!("only `import` and `log` belong in a site block, not {other:?}"),
                ));
            }
        }
    }
    Ok(imports)
}

/// A named matcher's definition: its paths and methods.
type Matcher = (Option<Vec<String>>, Option<Vec<String>>);

fn snippet_routes(number: usize, block: &[Line]) -> Result<Vec<ProxyRoute>, ParseError> {
    let [route] = block else {
        return Err(error(
            number,
            "the snippet must hold exactly one `route` block",
        ));
    };
    let body = match (route.tokens.as_slice(), &route.block) {
        ([word], Some(body)) if word == "route" => body,
        _ => return Err(error(route.number, "expected `route {`")),
    };
    let mut matchers: HashMap<String, Matcher> = HashMap::new();
    for line in body.iter().filter(|line| line.tokens[0].starts_with('@')) {
        let matcher = matcher(line)?;
        if matchers.insert(line.tokens[0].clone(), matcher).is_some() {
            return Err(error(line.number, "matcher defined twice"));
        }
    }
    let mut routes = Vec::new();
    for line in body.iter().filter(|line| !line.tokens[0].starts_with('@')) {
        routes.push(handle(line, &matchers)?);
    }
    Ok(routes)
}

fn matcher(line: &Line) -> Result<Matcher, ParseError> {
    let mut parts: Vec<(usize, &[String])> = Vec::new();
    match (&line.block, line.tokens.len()) {
        (None, n) if n > 2 => parts.push((line.number, &line.tokens[1..])),
        (Some(block), 1) => {
            parts.extend(
                block
                    .iter()
                    .map(|inner| (inner.number, inner.tokens.as_slice())),
            );
        }
        _ => {
            return Err(error(
                line.number,
                "a matcher is `@name path …` or `@name { … }`",
            ));
        }
    }
    let (mut paths, mut methods) = (None, None);
    for (number, tokens) in parts {
        let values = tokens[1..].to_vec();
        let slot = match tokens[0].as_str() {
            "path" => &mut paths,
            "method" => &mut methods,
            other => {
                return Err(error(
                    number,
                    format!("matcher `{other}` is not understood here"),
                ));
            }
        };
        if values.is_empty() || slot.replace(values).is_some() {
            return Err(error(
                number,
                "one non-empty `path` and one `method` at most",
            ));
        }
    }
    if let Some(paths) = &paths
        && let Some(bad) = paths
            .iter()
            .find(|path| path.contains(['?', '[', '%', '{']))
    {
        return Err(error(
            line.number,
            format!("path pattern {bad} is not understood here"),
        ));
    }
    Ok((paths, methods))
}

fn handle(line: &Line, matchers: &HashMap<String, Matcher>) -> Result<ProxyRoute, ParseError> {
    let (name, (paths, methods)) = match line.tokens.as_slice() {
        [word] if word == "handle" => ("the catch-all".to_owned(), (None, None)),
        [word, name] if word == "handle" => {
            let matcher = matchers
                .get(name)
                .ok_or_else(|| error(line.number, format!("matcher {name} is not defined")))?;
            (name.clone(), matcher.clone())
        }
        _ => return Err(error(line.number, "expected `handle [@name] {`")),
    };
    let Some([inner]) = line.block.as_deref() else {
        return Err(error(line.number, "a handle holds exactly one directive"));
    };
    let action = match inner.tokens.as_slice() {
        [word, upstream] if word == "reverse_proxy" => proxy(inner.number, upstream)?,
        [word, .., status] if word == "respond" && inner.tokens.len() <= 3 => Action::Respond {
            status: status
                .parse()
                .map_err(|_| error(inner.number, "respond needs a status"))?,
        },
        _ => {
            return Err(error(
                inner.number,
                "expected `reverse_proxy <upstream>` or `respond`",
            ));
        }
    };
    Ok(ProxyRoute {
        name,
        paths,
        methods,
        action,
    })
}

/// `{$ACCORD_ADMIN_UPSTREAM:admin:8080}` → admin, `admin:8080`.
fn proxy(number: usize, upstream: &str) -> Result<Action, ParseError> {
    let inner = upstream
        .strip_prefix("{$")
        .and_then(|rest| rest.strip_suffix('}'))
        .ok_or_else(|| {
            error(
                number,
                "an upstream is `{$ACCORD_<SERVICE>_UPSTREAM:<service>:<port>}`",
            )
        })?;
    let (variable, default) = inner
        .split_once(':')
        .ok_or_else(|| error(number, "an upstream needs a default"))?;
    let (service, _port) = default
        .split_once(':')
        .ok_or_else(|| error(number, "an upstream's default is host:port"))?;
    let expected = format!("ACCORD_{}_UPSTREAM", service.to_uppercase());
    if variable != expected {
        return Err(error(
            number,
            format!("{service}'s upstream variable must be {expected}"),
        ));
    }
    Ok(Action::Proxy {
        service: service.to_owned(),
        upstream: default.to_owned(),
    })
}

/// Whether Caddy's `path` matcher pattern `pattern` matches `path` (Caddy 2: case-insensitive; `*` alone matches
/// everything; `*x*` a substring, `x*` a prefix, `*x` a suffix when that is its only wildcard; otherwise a glob
/// whose `*` does not cross `/`).
pub fn path_matches(pattern: &str, path: &str) -> bool {
    let (pattern, path) = (pattern.to_lowercase(), path.to_lowercase());
    let stars = pattern.matches('*').count();
    if pattern == "*" {
        return true;
    }
    if stars == 2 && pattern.starts_with('*') && pattern.ends_with('*') {
        return path.contains(&pattern[1..pattern.len() - 1]);
    }
    if stars == 1 && pattern.starts_with('*') {
        return path.ends_with(&pattern[1..]);
    }
    if stars == 1 && pattern.ends_with('*') {
        return path.starts_with(&pattern[..pattern.len() - 1]);
    }
    glob(pattern.as_bytes(), path.as_bytes())
}

/// Go's `path.Match` for patterns of literals and `*` (any run of characters but `/`).
fn glob(pattern: &[u8], path: &[u8]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((b'*', rest)) => (0..=path.len())
            .take_while(|&skip| skip == 0 || path[skip - 1] != b'/')
            .any(|skip| glob(rest, &path[skip..])),
        Some((&c, rest)) => path.first() == Some(&c) && glob(rest, &path[1..]),
    }
}

impl ProxyRoute {
    /// Whether this route takes `method` on `path`.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        let method_ok = self
            .methods
            .as_ref()
            .is_none_or(|methods| methods.iter().any(|m| m == method));
        let path_ok = self
            .paths
            .as_ref()
            .is_none_or(|paths| paths.iter().any(|pattern| path_matches(pattern, path)));
        method_ok && path_ok
    }
}

impl FrontDoor {
    /// The index of the route that takes `method` on `path` (the first that matches).
    pub fn route_for(&self, method: &str, path: &str) -> Option<usize> {
        self.routes
            .iter()
            .position(|route| route.matches(method, path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caddy_path_patterns() {
        assert!(path_matches("/v1/mous/*", "/v1/mous/a/b"));
        assert!(path_matches("/v1/mous/*", "/v1/mous/"));
        assert!(!path_matches("/v1/mous/*", "/v1/mous"));
        assert!(path_matches("/V1/Feedback", "/v1/feedback"));
        assert!(path_matches(
            "/taxii2/accord/collections/*/objects/",
            "/taxii2/accord/collections/c1/objects/"
        ));
        assert!(!path_matches(
            "/taxii2/accord/collections/*/objects/",
            "/taxii2/accord/collections/c1/x/objects/"
        ));
        assert!(path_matches("*.css", "/assets/pico.css"));
        assert!(path_matches("*ass*", "/assets/x"));
        assert!(!path_matches("/v1/search", "/v1/search/export"));
    }

    #[test]
    fn anything_unknown_in_the_snippet_is_an_error() {
        let text = "(accord_routes) {\n\troute {\n\t\theader X-A b\n\t}\n}\n";
        assert_eq!(parse(text).unwrap_err().line, 3);
        let text = "(accord_routes) {\n\troute {\n\t\t@a path_regexp ^/x\n\t\thandle @a {\n\t\t\trespond 404\n\t\t}\n\t}\n}\n";
        assert_eq!(parse(text).unwrap_err().line, 3);
    }
}
