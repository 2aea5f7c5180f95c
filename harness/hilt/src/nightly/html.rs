//! The night as one self-contained HTML page: per-board results,
//! failures with their transcripts and snapshot diffs, new crash groups
//! with their minimised inputs, and plots drawn as inline SVG by
//! `plotters` (no script, no file besides the page).

use std::fmt::Write as _;

use plotters::prelude::*;

use super::{BoardResult, Nightly, Status};

/// The plots' line colour (the HTML test looks for it in a screenshot).
pub const PLOT_COLOUR: RGBColor = RGBColor(31, 119, 180);

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An SVG element `size` pixels large, drawn by `draw` on a white ground;
/// a line saying why, if it could not be drawn.
fn svg(
    title: &str,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> Result<(), String>,
) -> String {
    let mut svg = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| e.to_string())
            .and_then(|()| draw(&root))
            .and_then(|()| root.present().map_err(|e| e.to_string()))
    };
    match drawn {
        Ok(()) => svg,
        Err(e) => format!("<p>plot {} not drawn: {}</p>", escape(title), escape(&e)),
    }
}

/// A line chart of `points` as an SVG element.
pub fn line_chart(title: &str, points: &[(f64, f64)]) -> String {
    let x_max = points.iter().map(|p| p.0).fold(1.0, f64::max);
    let y_max = points.iter().map(|p| p.1).fold(1.0, f64::max) * 1.1;
    svg(title, (420, 220), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(48)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("seconds")
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                PLOT_COLOUR.stroke_width(3),
            ))
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// A bar chart of `(label, value)` as an SVG element.
pub fn bar_chart(title: &str, bars: &[(String, f64)]) -> String {
    let width = (160 + 70 * bars.len() as u32).clamp(420, 1200);
    let y_max = bars.iter().map(|b| b.1).fold(1.0, f64::max) * 1.1;
    let n = bars.len().max(1) as f64;
    svg(title, (width, 260), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(40)
            .y_label_area_size(48)
            .build_cartesian_2d(0f64..n, 0f64..y_max)
            .map_err(|e| e.to_string())?;
        // A bar's label under its middle, nothing elsewhere.
        let label = |x: &f64| {
            let i = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 1e-6 {
                bars.get(i).map(|b| b.0.clone()).unwrap_or_default()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(bars.len() * 2 + 1)
            .x_label_formatter(&label)
            .y_desc("seconds")
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
                Rectangle::new(
                    [(i as f64 + 0.15, 0.0), (i as f64 + 0.85, *v)],
                    PLOT_COLOUR.filled(),
                )
            }))
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

fn badge(status: Status) -> String {
    let class = match status {
        Status::Passed => "pass",
        Status::Failed => "fail",
        Status::Infrastructure => "infra",
    };
    format!("<span class=\"badge {class}\">{}</span>", status.as_str())
}

fn diff_html(diff: &str) -> String {
    diff.lines()
        .map(|l| {
            let class = match l.chars().next() {
                Some('+') if !l.starts_with("+++") => "add",
                Some('-') if !l.starts_with("---") => "del",
                _ => "ctx",
            };
            format!("<span class=\"{class}\">{}</span>", escape(l))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn board_section(html: &mut String, b: &BoardResult) {
    let _ = writeln!(
        html,
        "<section id=\"board-{0}\"><h2>{0} {1}</h2>",
        escape(&b.board),
        badge(b.status)
    );
    if let Some(problem) = &b.problem {
        let _ = writeln!(
            html,
            "<p class=\"problem\">Infrastructure problem: {}</p>",
            escape(problem)
        );
    }
    if let Some(c) = &b.campaign {
        let _ = writeln!(
            html,
            "<h3>Wire campaign</h3><p>{:.0} s, {} inputs, {} steps; corpus {} → {}; {} response shapes; {} crashes and {} hangs seen.</p><div class=\"plots\">",
            c.seconds, c.execs, c.steps, c.corpus_before, c.corpus_after, c.shapes, c.crashes, c.hangs
        );
        let series = |f: &dyn Fn(&super::Sample) -> f64| -> Vec<(f64, f64)> {
            c.samples.iter().map(|s| (s.t, f(s))).collect()
        };
        html.push_str(&line_chart("corpus size", &series(&|s| s.corpus as f64)));
        html.push_str(&line_chart(
            "inputs per second",
            &series(&|s| s.execs_per_s),
        ));
        html.push_str(&line_chart(
            "response shapes seen",
            &series(&|s| s.shapes as f64),
        ));
        let _ = writeln!(html, "</div>");
    }
    let failures: Vec<_> = b.cases.iter().filter(|c| !c.passed).collect();
    if !failures.is_empty() {
        let _ = writeln!(html, "<h3>Failures</h3>");
        for (n, c) in failures.into_iter().enumerate() {
            let _ = writeln!(
                html,
                "<details{}><summary><b>{}</b> {}: {}</summary>",
                if n == 0 { " open" } else { "" },
                escape(&c.suite),
                escape(&c.name),
                escape(c.message.as_deref().unwrap_or(""))
            );
            if let Some(diff) = &c.diff {
                let _ = writeln!(
                    html,
                    "<p>Snapshot diff:</p><pre class=\"diff\">{}</pre>",
                    diff_html(diff)
                );
            }
            if let Some(t) = &c.transcript {
                let _ = writeln!(html, "<p>Transcript:</p><pre>{}</pre>", escape(t));
            }
            let _ = writeln!(html, "</details>");
        }
    }
    if !b.new_groups.is_empty() {
        let _ = writeln!(
            html,
            "<h3>New crash groups</h3><table><tr><th>signature</th><th>inputs</th><th>minimised input</th><th>steps</th></tr>"
        );
        for g in &b.new_groups {
            let _ = writeln!(
                html,
                "<tr><td><code>{}</code><br>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                escape(&g.signature),
                escape(&g.summary),
                g.members,
                escape(&g.minimised),
                g.decoded.iter().map(|d| escape(d)).collect::<Vec<_>>().join("<br>")
            );
        }
        let _ = writeln!(html, "</table>");
    }
    if !b.known_failures.is_empty() {
        let _ = writeln!(html, "<h3>Known crashes that still fail</h3><ul>");
        for k in &b.known_failures {
            let _ = writeln!(html, "<li><code>{}</code></li>", escape(k));
        }
        let _ = writeln!(html, "</ul>");
    }
    let _ = writeln!(
        html,
        "<h3>All cases</h3><table><tr><th>suite</th><th>case</th><th>result</th><th>seconds</th></tr>"
    );
    for c in &b.cases {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td></tr>",
            escape(&c.suite),
            escape(&c.name),
            if c.passed {
                "passed"
            } else {
                "<b class=\"failtext\">FAILED</b>"
            },
            c.seconds
        );
    }
    let _ = writeln!(html, "</table></section>");
}

/// The page.
pub fn html(night: &Nightly) -> String {
    let mut html = String::new();
    let _ = writeln!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>hilt nightly: {}</title>\n<style>{}</style></head><body>",
        night.status.as_str(),
        STYLE
    );
    let _ = writeln!(
        html,
        "<h1>hilt nightly {}</h1><p>Started {}, took {:.0} s.{}</p>",
        badge(night.status),
        crate::triage::report::date(night.started),
        night.seconds,
        if night.planted {
            " <b>The firmware had its planted bugs</b> (a test of hilt itself)."
        } else {
            ""
        }
    );
    let _ = writeln!(
        html,
        "<table><tr><th>board</th><th>result</th><th>cases passed</th><th>failed</th><th>new crash groups</th><th>known crashes</th><th>seconds</th></tr>"
    );
    for b in &night.boards {
        let failed = b.cases.iter().filter(|c| !c.passed).count();
        let _ = writeln!(
            html,
            "<tr><td><a href=\"#board-{0}\">{0}</a></td><td>{1}</td><td>{2}</td><td>{3}</td><td>{4}</td><td>{5}</td><td>{6:.0}</td></tr>",
            escape(&b.board),
            badge(b.status),
            b.cases.len() - failed,
            failed,
            b.new_groups.len(),
            b.known_failures.len(),
            b.seconds
        );
    }
    let _ = writeln!(html, "</table>");
    let bars: Vec<(String, f64)> = night
        .boards
        .iter()
        .flat_map(|b| {
            b.suite_seconds
                .iter()
                .map(move |(s, t)| (format!("{} {s}", b.board), *t))
        })
        .collect();
    if !bars.is_empty() {
        let _ = writeln!(
            html,
            "<div class=\"plots\">{}</div>",
            bar_chart("time per suite", &bars)
        );
    }
    for b in &night.boards {
        board_section(&mut html, b);
    }
    let _ = writeln!(html, "</body></html>");
    html
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:1300px}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}\
.badge{padding:2px 8px;border-radius:4px;color:#fff;font-size:80%}.pass{background:#2a7d2a}.fail{background:#b22222}.infra{background:#b8860b}\
.failtext{color:#b22222}.problem{color:#b8860b;font-weight:bold}pre{background:#f6f6f6;padding:8px;overflow-x:auto}\
.diff .add{color:#1a7f1a}.diff .del{color:#b22222}.plots{display:flex;flex-wrap:wrap;gap:12px}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plots_are_svg_with_their_title_and_line() {
        let svg = line_chart("corpus size", &[(0.0, 1.0), (1.0, 5.0), (2.0, 9.0)]);
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("corpus size"));
        assert!(svg.contains("#1F77B4"), "the line in its colour");
        let bars = bar_chart("time per suite", &[("qemu properties".into(), 3.0)]);
        assert!(bars.contains("qemu properties"), "{bars}");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
    }
}
