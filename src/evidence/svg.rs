//! A small SVG writer for the HTML summary's chart: rectangles, polylines and text, every text
//! and attribute value escaped. A chart crate (plotters, charts-rs) would bring fonts, image
//! back ends or a DOM model for a chart of three series and an axis; this is the part we need,
//! and its output is plain inline SVG that a browser draws with no script and no external file.

use std::fmt::Write;

/// An SVG drawing being built; [`Svg::finish`] gives the markup.
pub struct Svg {
    out: String,
}

impl Svg {
    /// A drawing of `width` × `height` user units, scaled to the page's width, with `title` as
    /// its accessible name.
    pub fn new(width: u32, height: u32, title: &str) -> Svg {
        let mut out = String::new();
        let _ = write!(
            out,
            "<svg viewBox=\"0 0 {width} {height}\" width=\"100%\" role=\"img\" aria-label=\"{}\">",
            escape(title)
        );
        Svg { out }
    }

    /// A filled rectangle of class `class` (colours come from the page's style sheet).
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, class: &str) {
        let _ = write!(
            self.out,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" class=\"{}\"/>",
            w.max(0.0),
            h.max(0.0),
            escape(class)
        );
    }

    /// A line through `points`.
    pub fn polyline(&mut self, points: &[(f64, f64)], class: &str) {
        if points.is_empty() {
            return;
        }
        let mut pts = String::new();
        for (x, y) in points {
            let _ = write!(pts, "{x:.1},{y:.1} ");
        }
        let _ = write!(
            self.out,
            "<polyline points=\"{}\" class=\"{}\"/>",
            pts.trim_end(),
            escape(class)
        );
    }

    /// A straight line.
    pub fn line(&mut self, from: (f64, f64), to: (f64, f64), class: &str) {
        let _ = write!(
            self.out,
            "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" class=\"{}\"/>",
            from.0,
            from.1,
            to.0,
            to.1,
            escape(class)
        );
    }

    /// Text anchored at (`x`, `y`) (`anchor`: start, middle or end).
    pub fn text(&mut self, x: f64, y: f64, anchor: &str, class: &str, text: &str) {
        let _ = write!(
            self.out,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{}\" class=\"{}\">{}</text>",
            escape(anchor),
            escape(class),
            escape(text)
        );
    }

    /// The finished markup.
    pub fn finish(mut self) -> String {
        self.out.push_str("</svg>");
        self.out
    }
}

/// Escapes text for an SVG text node or a quoted attribute.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_shapes_and_escapes_every_text() {
        let mut svg = Svg::new(100, 50, "a \"chart\" <x>");
        svg.rect(1.0, 2.0, 3.0, -4.0, "bar");
        svg.polyline(&[(0.0, 1.0), (2.5, 3.25)], "req");
        svg.polyline(&[], "none");
        svg.line((0.0, 0.0), (1.0, 1.0), "axis");
        svg.text(5.0, 6.0, "end", "label", "<script>&'");
        let out = svg.finish();
        assert_eq!(
            out,
            "<svg viewBox=\"0 0 100 50\" width=\"100%\" role=\"img\" aria-label=\"a &quot;chart&quot; &lt;x&gt;\">\
             <rect x=\"1.0\" y=\"2.0\" width=\"3.0\" height=\"0.0\" class=\"bar\"/>\
             <polyline points=\"0.0,1.0 2.5,3.2\" class=\"req\"/>\
             <line x1=\"0.0\" y1=\"0.0\" x2=\"1.0\" y2=\"1.0\" class=\"axis\"/>\
             <text x=\"5.0\" y=\"6.0\" text-anchor=\"end\" class=\"label\">&lt;script&gt;&amp;&#39;</text></svg>"
        );
    }
}
