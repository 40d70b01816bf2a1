//! Translation of [`Query`](crate::Query) parts into tantivy queries.
//!
//! The release filter is the `grant` must-clause here plus the validity window applied by the page collector
//! ([`super::collector`]). Every other part is a further must-clause, so the release filter bounds totals and pages
//! alike.

use std::ops::Bound;

use accord_domain::observable::containing_networks;
use tantivy::{
    Term,
    query::{BooleanQuery, Occur, Query, QueryParser, RangeQuery, TermQuery, TermSetQuery},
    schema::{Field, IndexRecordOption},
};

use super::schema::{Fields, cidr_block, micros};
use crate::{Filters, IndicatorMatch, ReleaseFilter, release::VERSIONED};

/// A list of boolean clauses.
pub(crate) type Clauses = Vec<(Occur, Box<dyn Query>)>;

/// Returns a must-clause matching one exact term.
fn must_term(term: Term) -> (Occur, Box<dyn Query>) {
    (
        Occur::Must,
        Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
    )
}

/// Returns a must-clause matching any of `values` in a text field. A handful of terms (MoU ids, the 33 or 129 CIDR
/// blocks containing an address) is a union of term queries, which touches only the matching postings; a
/// `TermSetQuery` would allocate a bitset of every document of every segment on each query.
fn must_any_of<'a>(
    field: Field,
    values: impl IntoIterator<Item = &'a str>,
) -> (Occur, Box<dyn Query>) {
    let terms: Vec<Term> = values
        .into_iter()
        .map(|value| Fields::term(field, value))
        .collect();
    (Occur::Must, any_term(terms))
}

/// Returns a query matching any of `terms` (nothing when there are none).
fn any_term(terms: Vec<Term>) -> Box<dyn Query> {
    if terms.len() > SMALL_TERM_SET {
        return Box::new(TermSetQuery::new(terms));
    }
    let clauses: Clauses = terms
        .into_iter()
        .map(|term| -> (Occur, Box<dyn Query>) {
            (
                Occur::Should,
                Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
            )
        })
        .collect();
    Box::new(BooleanQuery::new(clauses))
}

/// Up to this many terms, a union of term queries beats a `TermSetQuery`.
const SMALL_TERM_SET: usize = 256;

/// Returns the must-clause of the release filter: one of its grant terms (the shown view, alternates too when asked)
/// and one of the MoUs in force; for [`ReleaseFilter::stale_only`], a versioned document carrying none of the
/// current versions. The validity window is applied by the page collector, which every search goes through.
pub(crate) fn grant_clause(fields: &Fields, release: &ReleaseFilter) -> (Occur, Box<dyn Query>) {
    let grants = release.grant_terms();
    let mous = release.mou_terms();
    let mut clauses: Clauses = vec![
        must_any_of(fields.grant, grants.iter().map(String::as_str)),
        must_any_of(fields.mou, mous.iter().map(String::as_str)),
    ];
    if release.stale_only {
        let current = release.current_terms();
        clauses.push(must_term(Fields::term(fields.mou, VERSIONED)));
        let (_, any_current) = must_any_of(fields.mou, current.iter().map(String::as_str));
        clauses.push((Occur::MustNot, any_current));
    }
    (Occur::Must, Box::new(BooleanQuery::new(clauses)))
}

/// Returns the clause of an indicator match: one of its [`indicator_terms`].
pub(crate) fn indicator_clause(
    fields: &Fields,
    matcher: &IndicatorMatch,
) -> (Occur, Box<dyn Query>) {
    let mut terms = indicator_terms(fields, matcher);
    if terms.len() == 1 {
        return must_term(terms.remove(0));
    }
    // A union of term queries: each term is one dictionary lookup, where a term set would intersect an automaton
    // with the whole `indicator` dictionary.
    let any = terms
        .into_iter()
        .map(|term| -> Box<dyn Query> { Box::new(TermQuery::new(term, IndexRecordOption::Basic)) })
        .collect();
    (Occur::Must, Box::new(BooleanQuery::union(any)))
}

/// Returns the terms a document matching an indicator carries (any one of them): the exact `<type>|<value>` term,
/// and for an IP also every CIDR block containing the address.
pub(crate) fn indicator_terms(fields: &Fields, matcher: &IndicatorMatch) -> Vec<Term> {
    let exact = fields.indicator_term(matcher.key.kind, &matcher.key.value);
    let Some(ip) = matcher.ip else {
        return vec![exact];
    };
    let mut terms = vec![exact];
    // A lookup of a block itself (`10.0.0.0/8`) also matches the same block stored as a CIDR indicator.
    if let Some(block) = cidr_block(matcher.key.kind, &matcher.key.value) {
        terms.push(Fields::term(fields.cidr, &block));
    }
    terms.extend(
        containing_networks(ip)
            .iter()
            .map(|network| Fields::term(fields.cidr, network)),
    );
    terms
}

/// Returns the clauses of the field filters.
pub(crate) fn filter_clauses(fields: &Fields, filters: &Filters) -> Clauses {
    let mut clauses = Clauses::new();
    if !filters.types.is_empty() {
        clauses.push(must_any_of(
            fields.indicator_type,
            filters.types.iter().map(|kind| kind.as_str()),
        ));
    }
    if !filters.tlp.is_empty() {
        clauses.push(must_any_of(
            fields.tlp,
            filters.tlp.iter().map(|tlp| tlp.as_str()),
        ));
    }
    if let Some(sector) = &filters.sector {
        clauses.push(must_term(Fields::term(fields.sector, sector)));
    }
    if let Some(partner) = &filters.partner {
        clauses.push(must_term(Fields::term(fields.partner, partner)));
    }
    if let Some(report) = &filters.report {
        clauses.push(must_term(fields.report_term(report.as_str())));
    }
    if !filters.stix_ids.is_empty() {
        // Always a union of term queries, however many ids (at most `MAX_OBJECT_IDS`): each is one dictionary
        // lookup of a term with a few postings, where a term set would run an automaton over the whole `stix_id`
        // dictionary of every segment (the most expensive part of a TAXII page in a profile).
        let any = filters
            .stix_ids
            .iter()
            .map(|id| -> Box<dyn Query> {
                Box::new(TermQuery::new(
                    Fields::term(fields.stix_id, id),
                    IndexRecordOption::Basic,
                ))
            })
            .collect();
        clauses.push((Occur::Must, Box::new(BooleanQuery::union(any))));
    }
    if filters.from.is_some() || filters.to.is_some() {
        let lower = filters.from.map_or(Bound::Unbounded, |from| {
            Bound::Included(Term::from_field_i64(fields.occurred_at, micros(from)))
        });
        let upper = filters.to.map_or(Bound::Unbounded, |to| {
            Bound::Excluded(Term::from_field_i64(fields.occurred_at, micros(to)))
        });
        clauses.push((Occur::Must, Box::new(RangeQuery::new(lower, upper))));
    }
    clauses
}

/// Returns the clause of a free-text search over title and description, or `None` when `text` contains nothing to
/// search for.
///
/// Investigators type free text, not query syntax: field prefixes, ranges, boosts, regexes and wildcards are
/// neutralized by [`sanitize`], and what remains is parsed leniently (terms AND-ed, `"phrases"` and `-exclusions`
/// kept), so no input is an error and no input can reach another field.
pub(crate) fn text_clause(parser: &QueryParser, text: &str) -> Option<(Occur, Box<dyn Query>)> {
    let cleaned = sanitize(text);
    if !cleaned.chars().any(char::is_alphanumeric) {
        return None;
    }
    let (query, errors) = parser.parse_query_lenient(&cleaned);
    if !errors.is_empty() {
        tracing::debug!(errors = errors.len(), "free text parsed leniently");
    }
    Some((Occur::Must, query))
}

/// Returns `text` with every character of the query syntax other than phrases (`"`), required (`+`) and excluded
/// (`-`) terms replaced by a space. Unbalanced quotes are dropped too.
pub(crate) fn sanitize(text: &str) -> String {
    let balanced_quotes = text.chars().filter(|c| *c == '"').count() % 2 == 0;
    text.chars()
        .map(|c| match c {
            '"' if balanced_quotes => c,
            ':' | '^' | '`' | '{' | '}' | '[' | ']' | '(' | ')' | '!' | '\\' | '\'' | '*' | '"'
            | '~' | '/' | '?' => ' ',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

/// Returns one boolean query of all `clauses`.
pub(crate) fn all_of(clauses: Clauses) -> BooleanQuery {
    BooleanQuery::new(clauses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_removes_field_and_range_syntax() {
        assert_eq!(sanitize("grant:x|y"), "grant x|y");
        assert_eq!(sanitize("[a TO z]"), " a TO z ");
        assert_eq!(sanitize("title:(ransom*)^2"), "title  ransom   2");
        assert_eq!(
            sanitize("\"exact phrase\" -noise"),
            "\"exact phrase\" -noise"
        );
        assert_eq!(sanitize("\"unbalanced phrase"), " unbalanced phrase");
        assert_eq!(
            sanitize("http://evil.example/path?q=1"),
            "http   evil.example path q=1"
        );
    }
}
