//! The run at a glance, in plain SVG beside `bench/RESULTS.md`: a bar
//! chart of each scenario against its floor (`bench/results.svg`), the
//! noisy-neighbour run round by round (`bench/noisy.svg`), and the capacity
//! model's curves (`bench/capacity.svg`).
//!
//! Every bar is a ratio measured in the same run: a function's warm p50
//! over its floor (the same AWS call made directly), a variant over its
//! twin (SSE-KMS over SSE-S3, identity-pool over role-per-tenant, with the
//! registry over without), and the quiet tenants' p99 beside a noisy one
//! over their p99 alone. The axis stops at 3x. The line at 1 is the floor; the dashed line the
//! 1.15x most targets hold to (each target is in RESULTS.md). Plain SVG
//! written by hand: no plotting dependency for one chart.

use std::fmt::Write as _;

use serde_json::Value;

/// One bar: its label and its ratio.
type Bar = (String, f64);

/// The bars of a run's scenarios, in the order they ran.
pub(crate) fn bars(scenarios: &[Value]) -> Vec<Bar> {
    let text = |v: &Value| v.as_str().map(str::to_owned).unwrap_or_default();
    let mut bars = Vec::new();
    for s in scenarios {
        let (function, scenario) = (text(&s["function"]), text(&s["scenario"]));
        if let Some(overhead) = s["overhead"].as_f64() {
            let tenants = s["tenants"]
                .as_u64()
                .map(|t| format!(", {t} tenants"))
                .unwrap_or_default();
            bars.push((
                format!("{function} {scenario}{tenants}: p50 / floor"),
                overhead,
            ));
        } else if let Some(ratio) = s["ratio_p50"].as_f64() {
            bars.push((format!("{function} {}", scenario.replace('_', " ")), ratio));
        }
        if scenario == "login"
            && let Some(r) = s["over_bare_login"].as_f64()
        {
            bars.push((
                "aurora-query past its connection budget: login + statement / bare login"
                    .to_owned(),
                r,
            ));
        }
        if scenario == "reconnect" {
            for run in s["runs"].as_array().into_iter().flatten() {
                let pace = run["pace_per_s"].as_u64().unwrap_or(0);
                if let Some(r) = run["peak_vs_rds_limit"].as_f64() {
                    bars.push((
                        format!(
                            "1,000 connections dropped: peak logins/s / RDS's 200, {}",
                            if pace == 0 {
                                "unpaced".to_owned()
                            } else {
                                format!("paced at {pace}/s")
                            }
                        ),
                        r,
                    ));
                }
            }
        }
        if scenario == "noisy_neighbour" {
            if let Some(r) = s["ratio_p99"].as_f64() {
                bars.push((
                    "quiet tenants' p99 beside a 10x tenant, limited".to_owned(),
                    r,
                ));
            }
            if let Some(r) = s["unlimited_ratio_p99"].as_f64() {
                bars.push((
                    "quiet tenants' p99 beside a 10x tenant, no limits".to_owned(),
                    r,
                ));
            }
        }
    }
    bars.retain(|(_, r)| r.is_finite() && *r > 0.0);
    bars
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An SVG document of `size` (width, height) on white, headed by `title`
/// and a grey `subtitle`; the caller adds the rest and closes it.
fn head((width, height): (f64, f64), title: &str, subtitle: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">{}</text>"#,
        escape(title)
    );
    let _ = writeln!(
        out,
        r##"<text x="10" y="38" fill="#555">{}</text>"##,
        escape(subtitle)
    );
    out
}

/// The chart of `bars`, as SVG text; `title` heads it.
pub(crate) fn svg(title: &str, bars: &[Bar]) -> String {
    const LABEL: f64 = 430.0;
    const PLOT: f64 = 420.0;
    const ROW: f64 = 22.0;
    const TOP: f64 = 48.0;
    // The axis stops at 3x: a bar past it (a run past its connection
    // budget is tens of times its floor) is drawn to the edge, its value
    // written beside it.
    let max = bars
        .iter()
        .map(|(_, r)| *r)
        .fold(1.5_f64, f64::max)
        .min(3.0)
        * 1.05;
    let x = |ratio: f64| LABEL + ratio.min(max) / max * PLOT;
    let height = TOP + ROW * bars.len() as f64 + 40.0;
    let width = LABEL + PLOT + 70.0;
    let mut out = head(
        (width, height),
        title,
        "each bar: a ratio measured in the same run (1 = the floor; dashed: 1.15)",
    );
    for (i, (label, ratio)) in bars.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let colour = if *ratio <= 1.15 { "#4c8c4a" } else { "#c0504d" };
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            LABEL - 8.0,
            y + 14.0,
            escape(label)
        );
        let _ = writeln!(
            out,
            r#"<rect class="bar" x="{LABEL}" y="{}" width="{:.1}" height="{}" fill="{colour}"/>"#,
            y + 3.0,
            x(*ratio) - LABEL,
            ROW - 6.0
        );
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{}">{ratio:.2}x</text>"#,
            x(*ratio) + 4.0,
            y + 14.0
        );
    }
    let bottom = TOP + ROW * bars.len() as f64;
    for (ratio, dash) in [(1.0, ""), (1.15, r#" stroke-dasharray="4 3""#)] {
        let _ = writeln!(
            out,
            r##"<line x1="{0:.1}" y1="{TOP}" x2="{0:.1}" y2="{bottom}" stroke="#333"{dash}/>"##,
            x(ratio)
        );
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{ratio}</text>"#,
            x(ratio),
            bottom + 16.0
        );
    }
    out.push_str("</svg>\n");
    out
}

/// One line of a line chart: its label and its points (x, y).
pub(crate) type Series = (String, Vec<(f64, f64)>);

/// Colours of a line chart's series, in turn.
const COLOURS: [&str; 6] = [
    "#4c8c4a", "#c0504d", "#4f81bd", "#8064a2", "#f79646", "#333333",
];

/// A line chart of `series` as SVG text: `title` heads it, the axes are
/// labelled `x_label` and `y_label`, the x axis is logarithmic with
/// `log_x`, and a dashed rule marks `mark` on the y axis, if given (a
/// limit, or a target). With `y_cap`, the y axis stops there and a curve
/// above it runs along the top edge, so one steep curve does not flatten
/// the others.
pub(crate) fn lines(
    title: &str,
    (x_label, y_label): (&str, &str),
    series: &[Series],
    log_x: bool,
    mark: Option<(f64, &str)>,
    y_cap: Option<f64>,
) -> String {
    const LEFT: f64 = 70.0;
    const TOP: f64 = 48.0;
    const W: f64 = 560.0;
    const H: f64 = 300.0;
    let points = || series.iter().flat_map(|(_, p)| p.iter());
    let fx = |x: f64| if log_x { x.max(1e-9).log10() } else { x };
    let (mut x0, mut x1) = points().fold((f64::MAX, f64::MIN), |(lo, hi), &(x, _)| {
        (lo.min(fx(x)), hi.max(fx(x)))
    });
    if x0 >= x1 {
        (x0, x1) = (x0 - 1.0, x0 + 1.0);
    }
    let highest = points()
        .map(|&(_, y)| y)
        .chain(mark.map(|(y, _)| y))
        .filter(|y| y.is_finite())
        .fold(0.0_f64, f64::max);
    let capped = y_cap.filter(|cap| highest > *cap);
    // The top tick, and the axis' top (a tenth above it unless capped).
    let (top_tick, y1) = match capped {
        Some(cap) => (cap, cap),
        None if highest > 0.0 => (highest, highest * 1.1),
        None => (1.0, 1.1),
    };
    let px = |x: f64| LEFT + (fx(x) - x0) / (x1 - x0) * W;
    let py = |y: f64| TOP + H - y.clamp(0.0, y1) / y1 * H;
    let legend = 18.0 * series.len() as f64;
    let mut out = head((LEFT + W + 30.0, TOP + H + 50.0 + legend), title, y_label);
    let _ = writeln!(
        out,
        r##"<path d="M{LEFT} {TOP} V{} H{}" fill="none" stroke="#333"/>"##,
        TOP + H,
        LEFT + W
    );
    // Five ticks on each axis.
    for i in 0..=4 {
        let y = top_tick * f64::from(i) / 4.0;
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            py(y) + 4.0,
            tick(y)
        );
        let fxv = x0 + (x1 - x0) * f64::from(i) / 4.0;
        let x = if log_x { 10f64.powf(fxv) } else { fxv };
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            px(x),
            TOP + H + 16.0,
            tick(x)
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        LEFT + W / 2.0,
        TOP + H + 34.0,
        escape(x_label)
    );
    if let Some(cap) = capped {
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="end">above {}: along the top edge</text>"#,
            LEFT + W,
            TOP - 6.0,
            tick(cap)
        );
    }
    if let Some((y, label)) = mark {
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{0:.1}" x2="{1}" y2="{0:.1}" stroke="#333" stroke-dasharray="4 3"/><text x="{1}" y="{2:.1}" text-anchor="end">{3}</text>"##,
            py(y),
            LEFT + W,
            py(y) - 4.0,
            escape(label)
        );
    }
    for (n, (label, points)) in series.iter().enumerate() {
        let colour = COLOURS[n % COLOURS.len()];
        let path: Vec<String> = points
            .iter()
            .filter(|(_, y)| y.is_finite())
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline class="series" points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            path.join(" ")
        );
        let y = TOP + H + 50.0 + 18.0 * n as f64;
        let _ = writeln!(
            out,
            r#"<line x1="{LEFT}" y1="{0}" x2="{1}" y2="{0}" stroke="{colour}" stroke-width="3"/><text x="{2}" y="{3}">{4}</text>"#,
            y - 4.0,
            LEFT + 24.0,
            LEFT + 30.0,
            y,
            escape(label)
        );
    }
    out.push_str("</svg>\n");
    out
}

/// An axis value, short.
fn tick(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 100.0 || v == v.round() {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// The noisy-neighbour run round by round: the quiet tenants' p99 in each
/// phase (ms), from the scenario's `rounds`.
pub(crate) fn noisy_series(noisy: &Value) -> Vec<Series> {
    let phases = [
        ("alone", 0),
        ("beside a tenant at its limit", 1),
        ("beside a 10x tenant, limited", 2),
        ("beside a 10x tenant, no limits", 3),
    ];
    phases
        .iter()
        .map(|(label, at)| {
            let points = noisy["rounds"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .filter_map(|(round, p99s)| {
                    Some(((round + 1) as f64, p99s.get(*at)?.as_f64()? / 1000.0))
                })
                .collect();
            ((*label).to_owned(), points)
        })
        .collect()
}

/// The capacity model's curves: each limited resource's share of its AWS
/// limit (%) as tenants grow from 100 to 100,000, each tenant asking 0.1
/// requests a second, 10 a second per container, skew 1.1, the functions'
/// defaults otherwise. Each is labelled with where it reaches its limit,
/// or how near it comes.
pub(crate) fn capacity_series() -> Vec<Series> {
    let sizes = [
        100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000,
    ];
    let predictions: Vec<(f64, Vec<capacity_model::Line>)> = sizes
        .iter()
        .map(|&tenants| {
            let rps = tenants as f64 * 0.1;
            let inputs = capacity_model::Inputs {
                tenants,
                rps,
                containers: ((rps / 10.0).ceil() as usize).max(1),
                ..capacity_model::Inputs::default()
            };
            (tenants as f64, capacity_model::predict(&inputs))
        })
        .collect();
    let names: Vec<&'static str> = predictions[0]
        .1
        .iter()
        .filter(|l| l.limit.is_some())
        .map(|l| l.name)
        .collect();
    names
        .iter()
        .map(|name| {
            let points = predictions
                .iter()
                .filter_map(|(tenants, lines)| {
                    let line = lines.iter().find(|l| l.name == *name)?;
                    Some((*tenants, line.used()? * 100.0))
                })
                .collect::<Vec<_>>();
            let label = match points.iter().find(|(_, used)| *used >= 100.0) {
                Some((tenants, _)) => format!("{name}: at its limit by {} tenants", tick(*tenants)),
                None => format!(
                    "{name}: {:.0}% at most",
                    points.iter().map(|(_, used)| *used).fold(0.0_f64, f64::max)
                ),
            };
            (label, points)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_line_chart_draws_each_series_and_the_model_reaches_a_limit() {
        let noisy = json!({"rounds": [[10000.0, 11000.0, 12000.0, 40000.0], [9000.0, 10500.0, 11500.0, 52000.0]]});
        let series = noisy_series(&noisy);
        assert_eq!(series.len(), 4);
        assert_eq!(series[3].1, vec![(1.0, 40.0), (2.0, 52.0)]);
        let svg = lines(
            "noisy <run>",
            ("round", "p99 ms"),
            &series,
            false,
            None,
            None,
        );
        assert!(!svg.contains("along the top edge"));
        assert_eq!(svg.matches(r#"class="series""#).count(), 4);
        assert!(svg.contains("noisy &lt;run&gt;"));
        let capacity = capacity_series();
        assert!(capacity.iter().any(|(name, _)| name.contains("STS")));
        // Every limited resource grows with the tenants, and at 100,000
        // tenants one is past its limit.
        for (name, points) in &capacity {
            assert_eq!(points.len(), 10, "{name}");
            assert!(points[9].1 >= points[0].1, "{name}: {points:?}");
        }
        assert!(capacity.iter().any(|(_, p)| p[9].1 > 100.0), "{capacity:?}");
        let svg = lines(
            "capacity",
            ("tenants", "% of limit"),
            &capacity,
            true,
            Some((100.0, "the limit")),
            Some(300.0),
        );
        assert!(svg.contains("the limit") && svg.contains("100k"));
        // Capped: the top tick is the cap, and the chart says so.
        assert!(svg.contains("above 300: along the top edge"), "{svg}");
        assert!(svg.contains(">300<") && !svg.contains(">1300<"));
        assert!(
            capacity
                .iter()
                .any(|(label, _)| label.contains("at its limit by")),
            "{capacity:?}"
        );
    }

    #[test]
    fn every_ratio_is_a_bar_and_labels_are_escaped() {
        let scenarios = [
            json!({"function": "s3-fetch", "scenario": "warm", "tenants": 10, "overhead": 1.02}),
            json!({"function": "s3-fetch", "scenario": "sse_kms_get", "ratio_p50": 1.13}),
            json!({"function": "dynamodb-items", "scenario": "noisy_neighbour",
                   "ratio_p99": 1.05, "unlimited_ratio_p99": 2.5}),
            json!({"scenario": "login", "bare": {"p50_us": 9000.0}}),
            json!({"function": "x", "scenario": "warm", "overhead": f64::NAN}),
        ];
        let bars = bars(&scenarios);
        assert_eq!(bars.len(), 4, "{bars:?}");
        assert_eq!(bars[0].0, "s3-fetch warm, 10 tenants: p50 / floor");
        let svg = svg("a <run> & more", &bars);
        assert_eq!(svg.matches(r#"class="bar""#).count(), 4);
        assert!(svg.contains("a &lt;run&gt; &amp; more"));
        assert!(
            svg.contains("2.50x") && svg.contains("c0504d"),
            "over 1.15 in red"
        );
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    }
}
