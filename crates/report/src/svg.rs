//! The charts, drawn as inline SVG: a stacked timeline, a histogram, a
//! sparkline and a horizontal stacked bar. Every coordinate goes through
//! [`N`], so none is ever NaN or infinite.

use crawlbox_net::traffic::STATUS_CLASSES;

use crate::format::{Esc, N, finite, ratio, tenths, tick};

/// Status classes in a timeline bucket.
pub(crate) const CLASSES: usize = STATUS_CLASSES.len();

/// One timeline bucket: requests by status class.
pub(crate) type Bucket = [u64; CLASSES];

/// A chart's size and the margins around its plot area (in its own
/// units: the SVG is scaled to the page's width).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame {
    pub(crate) width: f64,
    pub(crate) height: f64,
    pub(crate) left: f64,
    pub(crate) right: f64,
    pub(crate) top: f64,
    pub(crate) bottom: f64,
}

impl Frame {
    fn plot_width(&self) -> f64 {
        (self.width - self.left - self.right).max(1.0)
    }
    fn plot_height(&self) -> f64 {
        (self.height - self.top - self.bottom).max(1.0)
    }
    fn base(&self) -> f64 {
        self.height - self.bottom
    }
}

/// The big timeline of all hosts.
pub(crate) const TIMELINE: Frame = Frame {
    width: 1000.0,
    height: 280.0,
    left: 64.0,
    right: 18.0,
    top: 14.0,
    bottom: 46.0,
};

/// One host's small timeline.
pub(crate) const MINI: Frame = Frame {
    width: 320.0,
    height: 104.0,
    left: 44.0,
    right: 10.0,
    top: 8.0,
    bottom: 22.0,
};

/// The latency histogram.
pub(crate) const HISTOGRAM: Frame = Frame {
    width: 1000.0,
    height: 270.0,
    left: 64.0,
    right: 18.0,
    top: 22.0,
    bottom: 46.0,
};

/// A step for about `target` ticks over `range`: 1, 2, 2.5 or 5 times a
/// power of ten.
fn nice_step(range: f64, target: usize) -> f64 {
    let range = finite(range);
    if range <= 0.0 {
        return 1.0;
    }
    let raw = range / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let norm = raw / magnitude;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 2.5 {
        2.5
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    let step = nice * magnitude;
    if step.is_finite() && step > 0.0 {
        step
    } else {
        range
    }
}

/// An axis from 0 up to `max`: its step and its top (a whole number of
/// steps). An empty axis goes from 0 to 1.
fn axis(max: f64, target: usize, integer: bool) -> (f64, f64) {
    let max = finite(max);
    if max <= 0.0 {
        return (1.0, 1.0);
    }
    let mut step = nice_step(max, target);
    if integer {
        step = step.max(1.0);
    }
    let top = (max / step).ceil() * step;
    (step, if top > 0.0 { top } else { step })
}

fn open_svg(out: &mut String, f: &Frame, class: &str, title: &str) {
    put!(
        out,
        r#"<svg class="{class}" viewBox="0 0 {} {}" role="img" aria-label="{}"><title>{}</title>"#,
        N(f.width),
        N(f.height),
        Esc(title),
        Esc(title)
    );
}

/// Horizontal grid lines and their labels, from 0 to `top`.
fn y_grid(out: &mut String, f: &Frame, step: f64, top: f64, label: impl Fn(f64) -> String) {
    let steps = (ratio(top, step).round() as usize).min(40);
    for k in 0..=steps {
        let v = k as f64 * step;
        let y = f.base() - ratio(v, top) * f.plot_height();
        put!(
            out,
            r#"<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/><text class="e" x="{}" y="{}">{}</text>"#,
            N(f.left),
            N(f.left + f.plot_width()),
            N(y),
            N(y),
            N(f.left - 6.0),
            N(y + 4.0),
            Esc(&label(v))
        );
    }
}

fn base_line(out: &mut String, f: &Frame) {
    put!(
        out,
        r#"<line class="axis" x1="{}" x2="{}" y1="{}" y2="{}"/>"#,
        N(f.left),
        N(f.left + f.plot_width()),
        N(f.base()),
        N(f.base())
    );
}

fn axis_titles(out: &mut String, f: &Frame, x_title: &str, y_title: &str) {
    put!(
        out,
        r#"<text class="m at" x="{}" y="{}">{}</text><text class="m at" transform="translate(16 {}) rotate(-90)">{}</text>"#,
        N(f.left + f.plot_width() / 2.0),
        N(f.height - 6.0),
        Esc(x_title),
        N(f.top + f.plot_height() / 2.0),
        Esc(y_title)
    );
}

/// A stacked area (steps, one per bucket) of requests per second by
/// status class, each bucket covering `width` seconds from the start.
/// `small` draws fewer ticks and no axis titles (the caption says them).
pub(crate) fn timeline(
    out: &mut String,
    buckets: &[Bucket],
    width: f64,
    f: &Frame,
    title: &str,
    small: bool,
) {
    let n = buckets.len();
    let width = if width.is_finite() && width > 0.0 {
        width
    } else {
        1.0
    };
    let span = n as f64 * width;
    let peak = buckets
        .iter()
        .map(|b| b.iter().sum::<u64>())
        .max()
        .unwrap_or(0) as f64
        / width;
    let (ystep, ytop) = axis(peak, if small { 2 } else { 5 }, false);
    open_svg(out, f, if small { "chart mini" } else { "chart" }, title);
    y_grid(out, f, ystep, ytop, |v| {
        if small {
            format!("{}/s", tick(v))
        } else {
            tick(v)
        }
    });

    let base = f.base();
    let x = |i: usize| f.left + ratio(i as f64, n as f64) * f.plot_width();
    let mut totals = [0u64; CLASSES];
    for b in buckets {
        for (t, c) in totals.iter_mut().zip(b) {
            *t += c;
        }
    }
    if totals.iter().all(|&t| t == 0) {
        put!(
            out,
            r#"<text class="m" x="{}" y="{}">no requests</text>"#,
            N(f.left + f.plot_width() / 2.0),
            N(f.top + f.plot_height() / 2.0)
        );
    }
    // Each layer is the stack up to its class, drawn from the tallest
    // (all classes) down, so that each class shows as the band between
    // two layers. A class with no request adds nothing: skipped.
    for class in (0..CLASSES).rev() {
        if totals[class] == 0 {
            continue;
        }
        let mut d = format!("M{},{}", N(x(0)), N(base));
        let mut current = tenths(base);
        for (i, b) in buckets.iter().enumerate() {
            let stacked: u64 = b[..=class].iter().sum();
            let y = base - ratio(stacked as f64 / width, ytop) * f.plot_height();
            if tenths(y) != current {
                put!(d, "H{}V{}", N(x(i)), N(y));
                current = tenths(y);
            }
        }
        if current != tenths(base) {
            put!(d, "H{}V{}", N(x(n)), N(base));
        }
        d.push('Z');
        put!(out, r#"<path class="k{class}" d="{d}"/>"#);
    }
    base_line(out, f);

    // Time ticks.
    let xstep = nice_step(span, if small { 3 } else { 8 });
    let steps = if span > 0.0 {
        ((span / xstep + 1e-9).floor() as usize).min(40)
    } else {
        0
    };
    for k in 0..=steps {
        let t = k as f64 * xstep;
        let at = f.left + ratio(t, span) * f.plot_width();
        put!(
            out,
            r#"<line class="axis" x1="{}" x2="{}" y1="{}" y2="{}"/><text class="m" x="{}" y="{}">{} s</text>"#,
            N(at),
            N(at),
            N(base),
            N(base + 4.0),
            N(at),
            N(base + if small { 15.0 } else { 18.0 }),
            tick(t)
        );
    }
    if !small {
        axis_titles(out, f, "seconds since the start", "requests per second");
    }
    out.push_str("</svg>");
}

/// A bar per bucket, labelled below with `labels[i]` and above with its
/// count.
pub(crate) fn histogram(
    out: &mut String,
    counts: &[u64],
    labels: &[String],
    f: &Frame,
    title: &str,
    x_title: &str,
    y_title: &str,
) {
    let max = counts.iter().copied().max().unwrap_or(0) as f64;
    let (ystep, ytop) = axis(max, 4, true);
    open_svg(out, f, "chart", title);
    y_grid(out, f, ystep, ytop, tick);
    let slot = ratio(f.plot_width(), counts.len() as f64);
    let base = f.base();
    for (i, &count) in counts.iter().enumerate() {
        let x = f.left + i as f64 * slot;
        let centre = x + slot / 2.0;
        if count > 0 {
            let h = (ratio(count as f64, ytop) * f.plot_height()).max(1.0);
            put!(
                out,
                r#"<rect class="bar" x="{}" y="{}" width="{}" height="{}"><title>{}: {}</title></rect><text class="m v" x="{}" y="{}">{}</text>"#,
                N(x + slot * 0.1),
                N(base - h),
                N(slot * 0.8),
                N(h),
                Esc(labels.get(i).map_or("", String::as_str)),
                crate::format::int(count),
                N(centre),
                N(base - h - 4.0),
                crate::format::int(count)
            );
        }
        put!(
            out,
            r#"<text class="m" x="{}" y="{}">{}</text>"#,
            N(centre),
            N(base + 16.0),
            Esc(labels.get(i).map_or("", String::as_str))
        );
    }
    base_line(out, f);
    axis_titles(out, f, x_title, y_title);
    out.push_str("</svg>");
}

/// A tiny bar chart (a host's latency histogram in a table row).
pub(crate) fn spark(out: &mut String, counts: &[u64], title: &str) {
    const SLOT: f64 = 6.0;
    const HEIGHT: f64 = 24.0;
    let width = SLOT * counts.len() as f64;
    let max = counts.iter().copied().max().unwrap_or(0) as f64;
    put!(
        out,
        r#"<svg class="spark" viewBox="0 0 {} {}" role="img" aria-label="{}"><title>{}</title><line class="axis" x1="0" x2="{}" y1="{}" y2="{}"/>"#,
        N(width),
        N(HEIGHT),
        Esc(title),
        Esc(title),
        N(width),
        N(HEIGHT - 0.5),
        N(HEIGHT - 0.5)
    );
    for (i, &count) in counts.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let h = (ratio(count as f64, max) * (HEIGHT - 2.0)).max(1.5);
        put!(
            out,
            r#"<rect class="bar" x="{}" y="{}" width="5" height="{}"/>"#,
            N(i as f64 * SLOT),
            N(HEIGHT - h),
            N(h)
        );
    }
    out.push_str("</svg>");
}

/// A horizontal bar of `segments` (a value and its CSS class), scaled so
/// that `scale` fills the width.
pub(crate) fn hbar(out: &mut String, segments: &[(u64, &str)], scale: u64, title: &str) {
    const WIDTH: f64 = 1000.0;
    put!(
        out,
        r#"<svg class="hbar" viewBox="0 0 1000 12" preserveAspectRatio="none" role="img" aria-label="{}"><title>{}</title><rect class="track" x="0" y="0" width="1000" height="12"/>"#,
        Esc(title),
        Esc(title)
    );
    let mut x = 0.0;
    for &(value, class) in segments {
        if value == 0 {
            continue;
        }
        let w = (ratio(value as f64, scale as f64) * WIDTH).min(WIDTH - x);
        if w <= 0.0 {
            continue;
        }
        put!(
            out,
            r#"<rect class="{class}" x="{}" y="0" width="{}" height="12"/>"#,
            N(x),
            N(w.max(2.0))
        );
        x += w;
    }
    out.push_str("</svg>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_are_nice() {
        assert_eq!(axis(0.0, 4, false), (1.0, 1.0));
        assert_eq!(axis(f64::NAN, 4, false), (1.0, 1.0));
        assert_eq!(axis(87.0, 4, false), (25.0, 100.0));
        assert_eq!(axis(3.0, 4, true), (1.0, 3.0));
        assert_eq!(nice_step(60.0, 6), 10.0);
    }

    #[test]
    fn a_timeline_steps_without_redundant_points() {
        let mut out = String::new();
        let buckets = [[1, 0, 0, 0, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0]];
        timeline(&mut out, &buckets, 1.0, &TIMELINE, "t", false);
        // Only 2xx drawn, one rise and one fall.
        assert_eq!(out.matches("<path").count(), 1);
        assert_eq!(out.matches('V').count(), 2, "{out}");
        assert!(!out.contains("NaN"));
    }
}
