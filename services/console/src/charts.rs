//! Small charts, rendered on the server as inline SVG: no script, no inline style (colours come from classes in the
//! console's stylesheet), a `<title>` and `<desc>` for screen readers, and the same figures as a table one click
//! away.

use maud::{Markup, html};

/// The width and height of a chart's drawing, in SVG units.
const WIDTH: u64 = 640;
const HEIGHT: u64 = 150;
/// Room for the labels under the bars and the scale on the left.
const BOTTOM: u64 = 22;
const LEFT: u64 = 34;

/// One bar of a stacked bar chart: its label and its segments (CSS class suffix, value), bottom first.
#[derive(Debug, Clone)]
pub(crate) struct Bar {
    /// Shown under the bar (only every few bars when there are many).
    pub(crate) label: String,
    /// `(class, value)`: each segment is drawn with class `fill-<class>`.
    pub(crate) segments: Vec<(&'static str, u64)>,
}

/// Renders a stacked bar chart titled `title` (`id` makes its labels unique on the page); `legend` names the
/// classes.
pub(crate) fn stacked_bars(
    id: &str,
    title: &str,
    bars: &[Bar],
    legend: &[(&'static str, &str)],
) -> Markup {
    let max = bars
        .iter()
        .map(|bar| bar.segments.iter().map(|(_, value)| value).sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_height = HEIGHT - BOTTOM;
    let count = bars.len().max(1) as u64;
    let slot = (WIDTH - LEFT) / count;
    let bar_width = slot.saturating_sub(2).max(1);
    let label_every = (count / 10).max(1) as usize;
    let title_id = format!("{id}-title");
    let desc_id = format!("{id}-desc");
    let total: u64 = bars
        .iter()
        .flat_map(|bar| bar.segments.iter().map(|(_, value)| value))
        .sum();
    html! {
        figure.figure {
            svg.chart id=(id) viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img"
                aria-labelledby=(format!("{title_id} {desc_id}")) {
                title id=(title_id) { (title) }
                desc id=(desc_id) { (total) " in all; the highest bar is " (max) "." }
                line.axis x1=(LEFT) y1=(plot_height) x2=(WIDTH) y2=(plot_height) {}
                text x="0" y="10" { (max) }
                text x="0" y=(plot_height) { "0" }
                @for (index, bar) in bars.iter().enumerate() {
                    @let x = LEFT + index as u64 * slot + 1;
                    (segments(bar, x, bar_width, max, plot_height))
                    @if index % label_every == 0 {
                        text x=(x) y=(HEIGHT - 6) { (bar.label) }
                    }
                }
            }
            @if legend.len() > 1 {
                ul.legend {
                    @for (class, name) in legend {
                        li { span class=(format!("swatch {class}")) aria-hidden="true" {} (name) }
                    }
                }
            }
            details {
                summary { "The figures as a table" }
                (table(title, bars, legend))
            }
        }
    }
}

fn segments(bar: &Bar, x: u64, width: u64, max: u64, plot_height: u64) -> Markup {
    let mut top = plot_height;
    let mut rects = Vec::new();
    for (class, value) in &bar.segments {
        if *value == 0 {
            continue;
        }
        let height = (value * plot_height / max).max(1);
        top = top.saturating_sub(height);
        rects.push((*class, top, height, *value));
    }
    html! {
        @for (class, y, height, value) in rects {
            rect class=(format!("fill-{class}")) x=(x) y=(y) width=(width) height=(height) {
                title { (bar.label) ": " (value) }
            }
        }
    }
}

fn table(title: &str, bars: &[Bar], legend: &[(&'static str, &str)]) -> Markup {
    html! {
        div.table-wrap {
            table {
                caption.visually-hidden { (title) }
                thead {
                    tr {
                        th scope="col" { "" }
                        @for (_, name) in legend { th scope="col" { (name) } }
                    }
                }
                tbody {
                    @for bar in bars {
                        tr {
                            th scope="row" { (bar.label) }
                            @for (class, _) in legend {
                                td {
                                    (bar.segments.iter().filter(|(segment, _)| segment == class).map(|(_, value)| value).sum::<u64>())
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_highest_and_carry_their_figures() {
        let bars = vec![
            Bar {
                label: "a".into(),
                segments: vec![("released", 3), ("rejected", 1)],
            },
            Bar {
                label: "b".into(),
                segments: vec![("released", 0)],
            },
        ];
        let svg = stacked_bars(
            "c",
            "Reports",
            &bars,
            &[("released", "released"), ("rejected", "rejected")],
        )
        .into_string();
        assert!(svg.contains(r#"role="img""#));
        assert!(svg.contains("4 in all; the highest bar is 4."));
        assert_eq!(
            svg.matches("<rect").count(),
            2,
            "empty segments are not drawn"
        );
        assert!(!svg.contains("style="));
    }
}
