//! The recursive-descent parser over the lexer's tokens (grammar in the parent module).

use super::{
    MAX_DEPTH, PatternError,
    ast::{
        ComparisonExpression, Literal, ObjectPath, ObservationExpression, Operator, PathComponent,
        Pattern, PropertyTest, Qualifier,
    },
    lexer::{Tok, Token},
};

pub(super) struct Parser {
    tokens: Vec<Token>,
    next: usize,
    /// The pattern's length in characters: where "end of pattern" errors point.
    end: usize,
    depth: usize,
}

impl Parser {
    pub(super) fn new(tokens: Vec<Token>, end: usize) -> Self {
        Self {
            tokens,
            next: 0,
            end,
            depth: 0,
        }
    }

    pub(super) fn parse(mut self) -> Result<Pattern, PatternError> {
        if self.tokens.is_empty() {
            return Err(PatternError::new(0, "the pattern is empty"));
        }
        let expression = self.observation_sequence()?;
        if let Some(token) = self.peek() {
            return Err(PatternError::new(
                token.at,
                format!(
                    "unexpected {} after a complete pattern",
                    token.tok.describe()
                ),
            ));
        }
        Ok(Pattern { expression })
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    /// The position of the next token, or the end of the pattern.
    fn position(&self) -> usize {
        self.peek().map_or(self.end, |token| token.at)
    }

    fn advance(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.next).cloned();
        if token.is_some() {
            self.next += 1;
        }
        token
    }

    fn at_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Ident(word), .. }) if word.eq_ignore_ascii_case(keyword))
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        if self.at_keyword(keyword) {
            self.next += 1;
            return true;
        }
        false
    }

    fn expected(&self, what: &str) -> PatternError {
        match self.peek() {
            Some(token) => PatternError::new(
                token.at,
                format!("expected {what}, found {}", token.tok.describe()),
            ),
            None => PatternError::new(self.end, format!("expected {what}, found the end")),
        }
    }

    fn expect(&mut self, wanted: &Tok, what: &str) -> Result<usize, PatternError> {
        match self.peek() {
            Some(token) if &token.tok == wanted => {
                let at = token.at;
                self.next += 1;
                Ok(at)
            }
            _ => Err(self.expected(what)),
        }
    }

    fn expect_keyword(&mut self, keyword: &str) -> Result<(), PatternError> {
        if self.eat_keyword(keyword) {
            return Ok(());
        }
        Err(self.expected(&format!("`{keyword}`")))
    }

    fn enter(&mut self) -> Result<(), PatternError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            // Called right after the opening bracket or parenthesis was consumed: point at it.
            let at = self
                .tokens
                .get(self.next.saturating_sub(1))
                .map_or(0, |token| token.at);
            return Err(PatternError::new(
                at,
                format!("nesting deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn observation_sequence(&mut self) -> Result<ObservationExpression, PatternError> {
        let mut left = self.observation_or()?;
        while self.eat_keyword("FOLLOWEDBY") {
            let right = self.observation_or()?;
            left = ObservationExpression::FollowedBy(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn observation_or(&mut self) -> Result<ObservationExpression, PatternError> {
        let mut left = self.observation_and()?;
        while self.eat_keyword("OR") {
            let right = self.observation_and()?;
            left = ObservationExpression::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn observation_and(&mut self) -> Result<ObservationExpression, PatternError> {
        let mut left = self.observation_qualified()?;
        while self.eat_keyword("AND") {
            let right = self.observation_qualified()?;
            left = ObservationExpression::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn observation_qualified(&mut self) -> Result<ObservationExpression, PatternError> {
        let mut expression = self.observation_primary()?;
        loop {
            let qualifier = if self.at_keyword("WITHIN") {
                self.within()?
            } else if self.at_keyword("REPEATS") {
                self.repeats()?
            } else if self.at_keyword("START") {
                self.start_stop()?
            } else {
                return Ok(expression);
            };
            expression = ObservationExpression::Qualified(Box::new(expression), qualifier);
        }
    }

    fn within(&mut self) -> Result<Qualifier, PatternError> {
        self.next += 1;
        let at = self.position();
        let seconds = match self.advance().map(|token| token.tok) {
            Some(Tok::Int(value)) => value as f64,
            Some(Tok::Float(value)) => value,
            _ => {
                return Err(PatternError::new(
                    at,
                    "expected a number of seconds after `WITHIN`",
                ));
            }
        };
        if seconds <= 0.0 {
            return Err(PatternError::new(
                at,
                "`WITHIN` needs a positive number of seconds",
            ));
        }
        self.expect_keyword("SECONDS")?;
        Ok(Qualifier::Within(seconds))
    }

    fn repeats(&mut self) -> Result<Qualifier, PatternError> {
        self.next += 1;
        let at = self.position();
        let times = match self.advance().map(|token| token.tok) {
            Some(Tok::Int(value)) if value > 0 => value.unsigned_abs(),
            _ => {
                return Err(PatternError::new(
                    at,
                    "expected a positive integer after `REPEATS`",
                ));
            }
        };
        self.expect_keyword("TIMES")?;
        Ok(Qualifier::Repeats(times))
    }

    fn start_stop(&mut self) -> Result<Qualifier, PatternError> {
        self.next += 1;
        let start = self.timestamp("`START`")?;
        self.expect_keyword("STOP")?;
        let stop_at = self.position();
        let stop = self.timestamp("`STOP`")?;
        let (Ok(start_time), Ok(stop_time)) = (
            chrono::DateTime::parse_from_rfc3339(&start),
            chrono::DateTime::parse_from_rfc3339(&stop),
        ) else {
            return Err(PatternError::new(stop_at, "invalid timestamp"));
        };
        if stop_time <= start_time {
            return Err(PatternError::new(
                stop_at,
                "`STOP` must be later than `START`",
            ));
        }
        Ok(Qualifier::StartStop { start, stop })
    }

    fn timestamp(&mut self, after: &str) -> Result<String, PatternError> {
        let at = self.position();
        match self.advance().map(|token| token.tok) {
            Some(Tok::Timestamp(text)) => Ok(text),
            _ => Err(PatternError::new(
                at,
                format!("expected a timestamp t'…' after {after}"),
            )),
        }
    }

    fn observation_primary(&mut self) -> Result<ObservationExpression, PatternError> {
        match self.peek().map(|token| &token.tok) {
            Some(Tok::LBracket) => {
                self.next += 1;
                self.enter()?;
                let comparison = self.comparison_or()?;
                self.expect(&Tok::RBracket, "`]` or `AND`/`OR`")?;
                self.depth -= 1;
                Ok(ObservationExpression::Observation(comparison))
            }
            Some(Tok::LParen) => {
                self.next += 1;
                self.enter()?;
                let inner = self.observation_sequence()?;
                self.expect(&Tok::RParen, "`)`")?;
                self.depth -= 1;
                Ok(inner)
            }
            _ => Err(self.expected("`[` or `(` to start an observation")),
        }
    }

    fn comparison_or(&mut self) -> Result<ComparisonExpression, PatternError> {
        let mut left = self.comparison_and()?;
        while self.eat_keyword("OR") {
            let right = self.comparison_and()?;
            left = ComparisonExpression::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn comparison_and(&mut self) -> Result<ComparisonExpression, PatternError> {
        let mut left = self.property_test()?;
        while self.eat_keyword("AND") {
            let right = self.property_test()?;
            left = ComparisonExpression::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn property_test(&mut self) -> Result<ComparisonExpression, PatternError> {
        if matches!(self.peek().map(|token| &token.tok), Some(Tok::LParen)) {
            self.next += 1;
            self.enter()?;
            let inner = self.comparison_or()?;
            self.expect(&Tok::RParen, "`)`")?;
            self.depth -= 1;
            return Ok(inner);
        }
        if self.eat_keyword("EXISTS") {
            let path = self.object_path()?;
            return Ok(ComparisonExpression::Test(PropertyTest::Exists(path)));
        }
        let path = self.object_path()?;
        let negated = self.eat_keyword("NOT");
        if self.eat_keyword("IN") {
            let values = self.set_literal()?;
            return Ok(ComparisonExpression::Test(PropertyTest::In {
                path,
                negated,
                values,
            }));
        }
        let operator = self.operator()?;
        let value_at = self.position();
        let value = self.literal()?;
        check_operand(operator, &value, value_at)?;
        Ok(ComparisonExpression::Test(PropertyTest::Compare {
            path,
            negated,
            operator,
            value,
        }))
    }

    fn operator(&mut self) -> Result<Operator, PatternError> {
        let operator = match self.peek().map(|token| &token.tok) {
            Some(Tok::Eq) => Operator::Eq,
            Some(Tok::Neq) => Operator::Neq,
            Some(Tok::Lt) => Operator::Lt,
            Some(Tok::Le) => Operator::Le,
            Some(Tok::Gt) => Operator::Gt,
            Some(Tok::Ge) => Operator::Ge,
            Some(Tok::Ident(word)) => match word.to_ascii_uppercase().as_str() {
                "LIKE" => Operator::Like,
                "MATCHES" => Operator::Matches,
                "ISSUBSET" => Operator::IsSubset,
                "ISSUPERSET" => Operator::IsSuperset,
                _ => return Err(self.expected("a comparison operator")),
            },
            _ => return Err(self.expected("a comparison operator")),
        };
        self.next += 1;
        Ok(operator)
    }

    fn set_literal(&mut self) -> Result<Vec<Literal>, PatternError> {
        self.expect(&Tok::LParen, "`(` to open the set after `IN`")?;
        let mut values = vec![self.literal()?];
        while matches!(self.peek().map(|token| &token.tok), Some(Tok::Comma)) {
            self.next += 1;
            values.push(self.literal()?);
        }
        self.expect(&Tok::RParen, "`,` or `)` to close the set")?;
        Ok(values)
    }

    fn literal(&mut self) -> Result<Literal, PatternError> {
        let literal = match self.peek().map(|token| &token.tok) {
            Some(Tok::Str(text)) => Literal::String(text.clone()),
            Some(Tok::Int(value)) => Literal::Int(*value),
            Some(Tok::Float(value)) => Literal::Float(*value),
            Some(Tok::Binary(text)) => Literal::Binary(text.clone()),
            Some(Tok::Hex(text)) => Literal::Hex(text.clone()),
            Some(Tok::Timestamp(text)) => Literal::Timestamp(text.clone()),
            Some(Tok::Ident(word)) if word.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Some(Tok::Ident(word)) if word.eq_ignore_ascii_case("false") => Literal::Bool(false),
            _ => return Err(self.expected("a literal")),
        };
        self.next += 1;
        Ok(literal)
    }

    fn object_path(&mut self) -> Result<ObjectPath, PatternError> {
        let type_at = self.position();
        let object_type = match self.peek().map(|token| &token.tok) {
            Some(Tok::Ident(name)) => name.clone(),
            _ => return Err(self.expected("an object path such as `ipv4-addr:value`")),
        };
        let valid_type = object_type.len() >= 3
            && object_type
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
            && !object_type.starts_with('-')
            && !object_type.ends_with('-')
            && !object_type.contains("--");
        if !valid_type {
            return Err(PatternError::new(
                type_at,
                format!(
                    "`{object_type}` is not a valid object type (lower-case letters, digits and `-`)"
                ),
            ));
        }
        self.next += 1;
        self.expect(&Tok::Colon, "`:` after the object type")?;
        let mut components = vec![self.property_name()?];
        loop {
            match self.peek().map(|token| &token.tok) {
                Some(Tok::Dot) => {
                    self.next += 1;
                    components.push(self.property_name()?);
                }
                Some(Tok::LBracket) => {
                    self.next += 1;
                    let at = self.position();
                    let component = match self.advance().map(|token| token.tok) {
                        Some(Tok::Star) => PathComponent::AnyIndex,
                        Some(Tok::Int(index)) if index >= 0 => {
                            PathComponent::Index(index.unsigned_abs())
                        }
                        _ => {
                            return Err(PatternError::new(
                                at,
                                "expected a list index (a non-negative integer or `*`)",
                            ));
                        }
                    };
                    self.expect(&Tok::RBracket, "`]` after the list index")?;
                    components.push(component);
                }
                _ => break,
            }
        }
        Ok(ObjectPath {
            object_type,
            components,
        })
    }

    fn property_name(&mut self) -> Result<PathComponent, PatternError> {
        let at = self.position();
        match self.advance().map(|token| token.tok) {
            Some(Tok::Str(name)) if !name.is_empty() => Ok(PathComponent::Property(name)),
            Some(Tok::Ident(name)) => {
                if let Some(offset) = name.find('-') {
                    return Err(PatternError::new(
                        at + offset,
                        format!("a property name containing `-` must be quoted: '{name}'"),
                    ));
                }
                Ok(PathComponent::Property(name))
            }
            _ => Err(PatternError::new(at, "expected a property name")),
        }
    }
}

/// Checks that an operator's operand has a type it accepts (STIX 2.1 §9.5): orderings take no booleans; `LIKE`,
/// `MATCHES`, `ISSUBSET` and `ISSUPERSET` take a string.
fn check_operand(operator: Operator, value: &Literal, value_at: usize) -> Result<(), PatternError> {
    let (ok, name, wanted) = match operator {
        Operator::Eq | Operator::Neq => (true, "", ""),
        Operator::Lt | Operator::Le | Operator::Gt | Operator::Ge => (
            !matches!(value, Literal::Bool(_)),
            "an ordering",
            "an orderable literal (not a boolean)",
        ),
        Operator::Like => (matches!(value, Literal::String(_)), "`LIKE`", "a string"),
        Operator::Matches => (matches!(value, Literal::String(_)), "`MATCHES`", "a string"),
        Operator::IsSubset => (
            matches!(value, Literal::String(_)),
            "`ISSUBSET`",
            "a string",
        ),
        Operator::IsSuperset => (
            matches!(value, Literal::String(_)),
            "`ISSUPERSET`",
            "a string",
        ),
    };
    if ok {
        return Ok(());
    }
    Err(PatternError::new(
        value_at,
        format!("{name} needs {wanted}"),
    ))
}
