//! Pictures for people who look rather than read: inline SVG (no script,
//! no external resource, so the dashboard's CSP and a printed report take
//! it as it is). Each picture scales to its container's width through its
//! `viewBox`, so nothing overflows a page, and every element carries a
//! class naming what it shows (tests and print styles rely on them).
//!
//! - [`timeline`]: one incident's exposure window: the last clean check
//!   before, first and last seen, the closing clean checks, resolution,
//!   takedown requests; the stretches nobody can know about shaded.
//! - [`probe_chart`]: one site's probes by outcome per bucket (the
//!   dashboard's last 24 hours in 15-minute steps).
//! - [`staleness_bar`]: the oldest probe's age against `max_staleness`.
//! - [`cohort_chart`]: a cohort's exposures open over time.

use std::fmt::Write;

use crate::domain::OutcomeKind;
use crate::store::Ts;

/// What one incident's timeline shows.
#[derive(Debug, Clone)]
pub(crate) struct Timeline {
    pub last_clean_before: Option<Ts>,
    pub first_seen: Ts,
    pub last_seen: Ts,
    /// The clean checks after the last sighting (all of them closed it once
    /// it is resolved).
    pub closing: Vec<Ts>,
    pub resolved_at: Option<Ts>,
    pub takedowns: Vec<Ts>,
    /// The right edge of an open incident.
    pub now: Ts,
}

const W: f64 = 960.0;

/// Escapes text for SVG element content and quoted attributes.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn ms(t: Ts) -> f64 {
    (t.unix_timestamp_nanos() / 1_000_000) as f64
}

/// `27 Nov 21:40` (or with seconds when the span is short).
fn label(t: Ts, seconds: bool) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let month = &t.month().to_string()[..3];
    if seconds {
        format!(
            "{} {month} {:02}:{:02}:{:02}",
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    } else {
        format!("{} {month} {:02}:{:02}", t.day(), t.hour(), t.minute())
    }
}

/// Maps times onto `[x0, x1]`.
struct Scale {
    t0: f64,
    t1: f64,
    x0: f64,
    x1: f64,
}

impl Scale {
    fn x(&self, t: Ts) -> f64 {
        let span = (self.t1 - self.t0).max(1.0);
        let f = ((ms(t) - self.t0) / span).clamp(0.0, 1.0);
        self.x0 + f * (self.x1 - self.x0)
    }
}

/// One incident's exposure window as a horizontal timeline.
#[allow(clippy::too_many_lines)]
pub(crate) fn timeline(t: &Timeline) -> String {
    let end = t
        .resolved_at
        .or(t.closing.last().copied())
        .unwrap_or(t.now)
        .max(t.last_seen);
    let end = t.takedowns.iter().copied().fold(end, Ts::max);
    let start = t.last_clean_before.unwrap_or(t.first_seen);
    let span_ms = (ms(end) - ms(start)).max(1.0);
    // A margin either side keeps the first and last marks off the edge.
    let pad = span_ms * 0.04 + 1.0;
    let s = Scale {
        t0: ms(start) - pad,
        t1: ms(end) + pad,
        x0: 20.0,
        x1: W - 20.0,
    };
    let seconds = span_ms < 6.0 * 3600.0 * 1000.0;
    let (bar_y, bar_h) = (40.0, 22.0);
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg class="timeline-svg" viewBox="0 0 {W} 150" width="100%" preserveAspectRatio="xMinYMin meet" role="img" aria-label="Exposure window timeline" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11">"#
    );
    // The axis.
    let _ = write!(
        o,
        r##"<line class="axis" x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="#8a9099" stroke-width="1"/>"##,
        s.x0,
        s.x1,
        y = bar_y + bar_h / 2.0
    );
    let rect = |o: &mut String, class: &str, a: f64, b: f64, fill: &str, title: &str| {
        let _ = write!(
            o,
            r#"<rect class="{class}" x="{:.1}" y="{bar_y}" width="{:.1}" height="{bar_h}" fill="{fill}"><title>{}</title></rect>"#,
            a,
            (b - a).max(2.0),
            esc(title)
        );
    };
    // When it began is known only to lie after the last clean check.
    if let Some(c) = t.last_clean_before {
        rect(
            &mut o,
            "uncertain began",
            s.x(c),
            s.x(t.first_seen),
            "url(#hatch)",
            "began somewhere in here",
        );
    }
    rect(
        &mut o,
        "exposed",
        s.x(t.first_seen),
        s.x(t.last_seen),
        "#d93f3f",
        "seen listed",
    );
    // When it ended: after the last sighting, by the first closing check
    // (still open: not known yet).
    let gone_by = t.closing.first().copied().unwrap_or(end);
    rect(
        &mut o,
        "uncertain ended",
        s.x(t.last_seen),
        s.x(gone_by),
        "url(#hatch)",
        if t.closing.is_empty() {
            "still listed, or not checked since"
        } else {
            "ended somewhere in here"
        },
    );
    if let (Some(first), Some(r)) = (t.closing.first(), t.resolved_at) {
        rect(
            &mut o,
            "gone",
            s.x(*first),
            s.x(r),
            "#8fd19e",
            "gone: clean checks confirming",
        );
    }
    o.push_str(
        r##"<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff4dc"/><line x1="0" y1="0" x2="0" y2="6" stroke="#c98b00" stroke-width="2"/></pattern></defs>"##,
    );
    // Marks: a tick and a label, alternating above and below so
    // neighbours do not overwrite each other.
    let mut marks: Vec<(Ts, &str, &str, &str)> = Vec::new();
    if let Some(c) = t.last_clean_before {
        marks.push((c, "m-last-clean", "last clean", "#11693a"));
    }
    marks.push((t.first_seen, "m-first-seen", "first seen", "#a3121f"));
    if t.last_seen > t.first_seen {
        marks.push((t.last_seen, "m-last-seen", "last seen", "#a3121f"));
    }
    for c in &t.closing {
        marks.push((*c, "m-closing", "clean", "#11693a"));
    }
    if let Some(r) = t.resolved_at {
        marks.push((r, "m-resolved", "resolved", "#11693a"));
    }
    for d in &t.takedowns {
        marks.push((*d, "m-takedown", "takedown requested", "#0b57d0"));
    }
    marks.sort_by_key(|m| m.0);
    let mut last_label_x = [f64::MIN; 2];
    for (i, (when, class, text, color)) in marks.iter().enumerate() {
        let x = s.x(*when);
        let row = i % 2;
        let (y1, y2, ty) = if row == 0 {
            (bar_y - 14.0, bar_y + bar_h, bar_y - 18.0)
        } else {
            (bar_y, bar_y + bar_h + 14.0, bar_y + bar_h + 26.0)
        };
        let dash = if *class == "m-takedown" {
            r#" stroke-dasharray="4 2""#
        } else {
            ""
        };
        let _ = write!(
            o,
            r#"<g class="mark {class}"><line x1="{x:.1}" y1="{y1}" x2="{x:.1}" y2="{y2}" stroke="{color}" stroke-width="2"{dash}/><title>{} {}</title>"#,
            esc(text),
            esc(&label(*when, true))
        );
        // Closing checks are many and alike: label the first only, and
        // any label that would collide is left to its tooltip.
        let wants_label = *class != "m-closing" || t.closing.first() == Some(when);
        if wants_label && x - last_label_x[row] > 120.0 {
            let anchor = if x > W - 120.0 { "end" } else { "start" };
            let _ = write!(
                o,
                r##"<text x="{x:.1}" y="{ty}" fill="{color}" text-anchor="{anchor}">{}</text><text x="{x:.1}" y="{}" fill="#5b6470" text-anchor="{anchor}">{}</text>"##,
                esc(text),
                ty + if row == 0 { -12.0 } else { 12.0 },
                esc(&label(*when, seconds))
            );
            last_label_x[row] = x;
        }
        o.push_str("</g>");
    }
    // The legend.
    let _ = write!(
        o,
        r##"<g class="legend" transform="translate(20,128)"><rect width="12" height="10" fill="#d93f3f"/><text x="16" y="9">seen listed</text><rect x="110" width="12" height="10" fill="url(#hatch)" stroke="#c98b00"/><text x="126" y="9">uncertain (not checked, or between checks)</text><rect x="400" width="12" height="10" fill="#8fd19e"/><text x="416" y="9">gone, confirmed by clean checks</text><line x1="640" y1="0" x2="640" y2="10" stroke="#0b57d0" stroke-width="2" stroke-dasharray="4 2"/><text x="646" y="9">takedown requested</text></g>"##
    );
    o.push_str("</svg>");
    o
}

/// Probes of one site per bucket, stacked by outcome. `buckets[i]` holds
/// (clean, inconclusive, exposed); `first` is when bucket 0 began.
pub(crate) fn probe_chart(
    site: &str,
    first: Ts,
    bucket_minutes: i64,
    buckets: &[[u64; 3]],
) -> String {
    let n = buckets.len().max(1);
    let (w, h, top, bottom, left) = (480.0, 110.0, 8.0, 22.0, 34.0);
    let plot_h = h - top - bottom;
    let max = buckets
        .iter()
        .map(|b| b.iter().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let bw = (w - left - 4.0) / n as f64;
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg class="probe-chart" data-site="{}" viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="Probes by outcome per {bucket_minutes} minutes, last 24 hours: {}" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="10">"#,
        esc(site),
        esc(site)
    );
    let _ = write!(
        o,
        r##"<line x1="{left}" y1="{y}" x2="{w}" y2="{y}" stroke="#8a9099"/><text x="{}" y="{}" text-anchor="end">{max}</text><text x="{}" y="{y}" text-anchor="end">0</text>"##,
        left - 4.0,
        top + 8.0,
        left - 4.0,
        y = top + plot_h
    );
    let colors = [
        (OutcomeKind::Clean, "#2e9e55"),
        (OutcomeKind::Inconclusive, "#e0a800"),
        (OutcomeKind::Exposed, "#d93f3f"),
    ];
    for (i, b) in buckets.iter().enumerate() {
        let x = left + i as f64 * bw;
        let mut y = top + plot_h;
        let from = first + time::Duration::minutes(bucket_minutes * i as i64);
        for (k, (kind, color)) in colors.iter().enumerate() {
            if b[k] == 0 {
                continue;
            }
            let bh = plot_h * b[k] as f64 / max as f64;
            y -= bh;
            let _ = write!(
                o,
                r#"<rect class="bar o-{}" x="{x:.1}" y="{y:.1}" width="{:.1}" height="{bh:.1}" fill="{color}"><title>{} from {}: {} {}</title></rect>"#,
                kind.as_str(),
                (bw - 0.6).max(0.5),
                esc(site),
                esc(&label(from, false)),
                b[k],
                kind.as_str()
            );
        }
    }
    let _ = write!(
        o,
        r##"<text x="{left}" y="{}" fill="#5b6470">24 h ago</text><text x="{}" y="{}" fill="#5b6470" text-anchor="middle">12 h</text><text x="{w}" y="{}" fill="#5b6470" text-anchor="end">now</text></svg>"##,
        h - 6.0,
        left + (w - left) / 2.0,
        h - 6.0,
        h - 6.0
    );
    o
}

/// The oldest probe's age against `max_staleness`: a bar with the bound
/// marked; red past it.
pub(crate) fn staleness_bar(site: &str, age_secs: Option<u64>, max_secs: u64) -> String {
    let (w, h) = (480.0, 34.0);
    let max_secs = max_secs.max(1);
    let age = age_secs.unwrap_or(0);
    let full = (max_secs as f64 * 1.5).max(age as f64);
    let x = |s: f64| 4.0 + (w - 8.0) * (s / full).min(1.0);
    let stale = age > max_secs;
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg class="staleness{}" data-site="{}" viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="Oldest probe age against max_staleness" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="10">"#,
        if stale { " stale" } else { "" },
        esc(site)
    );
    let _ = write!(
        o,
        r##"<rect x="4" y="6" width="{:.1}" height="12" fill="#eef0f2"/><rect class="age" x="4" y="6" width="{:.1}" height="12" fill="{}"><title>oldest probe {} s old</title></rect><line class="bound" x1="{b:.1}" y1="2" x2="{b:.1}" y2="22" stroke="#1b1f24" stroke-width="2"><title>max_staleness {} s</title></line><text x="{b:.1}" y="32" text-anchor="middle">max_staleness</text></svg>"##,
        w - 8.0,
        x(age as f64) - 4.0,
        if stale { "#d93f3f" } else { "#2e9e55" },
        age,
        max_secs,
        b = x(max_secs as f64)
    );
    o
}

/// How many of a cohort's exposures were open over time: a step chart
/// from `(first_seen, resolved_at)` pairs, from `from` to `to`.
pub(crate) fn cohort_chart(cohort: &str, spans: &[(Ts, Option<Ts>)], from: Ts, to: Ts) -> String {
    let (w, h, top, bottom, left) = (960.0, 160.0, 10.0, 26.0, 40.0);
    let plot_h = h - top - bottom;
    let s = Scale {
        t0: ms(from),
        t1: ms(to.max(from + time::Duration::seconds(1))),
        x0: left,
        x1: w - 10.0,
    };
    // Each change of the open count, in time order (closings first at one
    // instant, so a count never shows an exposure that had ended).
    let mut changes: Vec<(Ts, i64)> = Vec::new();
    for (a, b) in spans {
        changes.push((*a, 1));
        if let Some(b) = b {
            changes.push((*b, -1));
        }
    }
    changes.sort_by_key(|c| (c.0, c.1));
    let mut open = 0i64;
    let mut steps: Vec<(Ts, i64)> = vec![(from, 0)];
    for (t, d) in changes {
        open += d;
        steps.push((t.max(from), open));
    }
    let peak = steps.iter().map(|s| s.1).max().unwrap_or(0).max(1);
    let y = |n: i64| top + plot_h - plot_h * n as f64 / peak as f64;
    let mut path = format!("M{:.1},{:.1}", s.x(from), y(0));
    let mut prev = 0;
    for (t, n) in &steps {
        let x = s.x(*t);
        let _ = write!(path, " L{x:.1},{:.1} L{x:.1},{:.1}", y(prev), y(*n));
        prev = *n;
    }
    let _ = write!(
        path,
        " L{:.1},{:.1} L{:.1},{:.1} Z",
        s.x(to),
        y(prev),
        s.x(to),
        y(0)
    );
    let mut o = String::new();
    let _ = write!(
        o,
        r##"<svg class="cohort-chart" viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="Exposures of cohort {} open over time" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11"><path class="open-exposures" d="{path}" fill="#f3b6b6" stroke="#a3121f" stroke-width="1.5"/><line x1="{left}" y1="{b}" x2="{}" y2="{b}" stroke="#8a9099"/><text x="{}" y="{}" text-anchor="end">{peak}</text><text x="{}" y="{b}" text-anchor="end">0</text><text x="{left}" y="{}" fill="#5b6470">{}</text><text x="{}" y="{}" fill="#5b6470" text-anchor="end">{}</text></svg>"##,
        esc(cohort),
        w - 10.0,
        left - 4.0,
        top + 8.0,
        left - 4.0,
        h - 6.0,
        esc(&label(from, false)),
        w - 10.0,
        h - 6.0,
        esc(&label(to, false)),
        b = top + plot_h
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Ts = time::macros::datetime!(2026-11-27 21:40:00 UTC);

    fn m(min: i64) -> Ts {
        T0 + time::Duration::minutes(min)
    }

    #[test]
    fn a_resolved_incident_shows_every_mark_and_both_uncertain_stretches() {
        let svg = timeline(&Timeline {
            last_clean_before: Some(m(0)),
            first_seen: m(10),
            last_seen: m(30),
            closing: vec![m(40), m(50)],
            resolved_at: Some(m(50)),
            takedowns: vec![m(15)],
            now: m(90),
        });
        for want in [
            "m-last-clean",
            "m-first-seen",
            "m-last-seen",
            "m-closing",
            "m-resolved",
            "m-takedown",
            "class=\"uncertain began\"",
            "class=\"uncertain ended\"",
            "class=\"exposed\"",
            "takedown requested",
        ] {
            assert!(svg.contains(want), "lacks {want}: {svg}");
        }
        assert!(!svg.contains("<script"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }

    #[test]
    fn an_open_incident_has_no_resolution_and_runs_to_now() {
        let svg = timeline(&Timeline {
            last_clean_before: None,
            first_seen: m(10),
            last_seen: m(10),
            closing: vec![],
            resolved_at: None,
            takedowns: vec![],
            now: m(60),
        });
        assert!(!svg.contains("m-resolved") && !svg.contains("uncertain began"));
        assert!(svg.contains("still listed, or not checked since"));
    }

    #[test]
    fn charts_scale_and_escape() {
        let svg = probe_chart("<x>", m(0), 15, &[[3, 1, 0], [0, 0, 2]]);
        assert!(svg.contains("data-site=\"&lt;x&gt;\""));
        assert_eq!(svg.matches("class=\"bar o-").count(), 3);
        let bar = staleness_bar("s", Some(100), 60);
        assert!(bar.contains("class=\"staleness stale\""));
        assert!(!staleness_bar("s", Some(10), 60).contains("stale\""));
        let c = cohort_chart("b", &[(m(1), Some(m(5))), (m(2), None)], m(0), m(10));
        assert!(c.contains("class=\"open-exposures\"") && c.contains(">2<"));
    }
}
