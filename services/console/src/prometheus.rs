//! Reading the few figures the pipeline health page draws from the Prometheus text of `GET /metrics` (the exposition
//! format's samples `name{label="value",…} number`): nothing else is interpreted, and a line that does not parse is
//! skipped, never an error.

/// One sample.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    /// The metric's name.
    pub(crate) name: String,
    /// Its labels, in order.
    pub(crate) labels: Vec<(String, String)>,
    /// Its value.
    pub(crate) value: f64,
}

impl Sample {
    /// Returns the value of label `name`.
    pub(crate) fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(label, _)| label == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Parses the samples of the metrics named `names` (a histogram's `_bucket`, `_sum`, `_count` included when its
/// base name is given).
pub(crate) fn samples(text: &str, names: &[&str]) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(parse)
        .filter(|sample| {
            names.iter().any(|name| {
                sample.name == *name
                    || sample
                        .name
                        .strip_prefix(name)
                        .is_some_and(|rest| matches!(rest, "_bucket" | "_sum" | "_count"))
            })
        })
        .collect()
}

fn parse(line: &str) -> Option<Sample> {
    let line = line.trim();
    let (series, value) = line.rsplit_once(' ')?;
    let value: f64 = value.parse().ok()?;
    let (name, labels) = match series.split_once('{') {
        Some((name, rest)) => (name, labels(rest.strip_suffix('}')?)?),
        None => (series, Vec::new()),
    };
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// Parses `a="x",b="y"` (values escape `\"`, `\\` and `\n`).
fn labels(text: &str) -> Option<Vec<(String, String)>> {
    let mut labels = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            let (index, char) = chars.next()?;
            match char {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break index,
                other => value.push(other),
            }
        };
        labels.push((name.trim_start_matches(',').to_owned(), value));
        rest = &after[end + 1..];
    }
    Some(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_of_the_named_metrics_with_their_labels() {
        let text = "# HELP x y\n\
            accord_stage_lag_records{stage=\"normalizer\"} 3\n\
            accord_stage_lag_records{stage=\"a\\\"b\",other=\"c\"} 4.5\n\
            lag_seconds_bucket{le=\"0.5\"} 7\n\
            lag_seconds_count 9\n\
            unrelated_total 1\n\
            broken{stage=\"x} 2\n";
        let found = samples(text, &["accord_stage_lag_records", "lag_seconds"]);
        assert_eq!(found.len(), 4, "{found:?}");
        assert_eq!(found[0].label("stage"), Some("normalizer"));
        assert_eq!(found[1].label("stage"), Some("a\"b"));
        assert_eq!(found[1].label("other"), Some("c"));
        assert!((found[1].value - 4.5).abs() < f64::EPSILON);
        assert_eq!(found[2].label("le"), Some("0.5"));
        assert_eq!(found[3].name, "lag_seconds_count");
    }
}
