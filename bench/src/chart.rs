//! The run at a glance: an SVG bar chart of each scenario against its
//! floor, written beside `bench/RESULTS.md` (`bench/results.svg`).
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
            && let Some(r) = s["statement_over_login"].as_f64()
        {
            bars.push((
                "aurora-query past its connection budget: login + statement / login".to_owned(),
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
        r##"<text x="10" y="38" fill="#555">each bar: a ratio measured in the same run (1 = the floor; dashed: 1.15)</text>"##
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
