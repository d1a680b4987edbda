//! Small server-rendered SVG charts: no client framework, no CDN. Each chart
//! carries a title and description for assistive technology, and pages put
//! the same numbers in a table beside it.

/// One bar: its label and value (0.0 to 1.0 of the axis).
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub text: String,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Horizontal bars, one per row, values as fractions of the full width.
pub fn bars(title: &str, description: &str, bars: &[Bar]) -> String {
    let row = 22.0;
    let label_w = 170.0;
    let width = 520.0;
    let height = row * bars.len() as f64 + 10.0;
    let mut out = format!(
        "<svg class=\"chart\" role=\"img\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" aria-labelledby=\"t d\">\
         <title id=\"t\">{}</title><desc id=\"d\">{}</desc>",
        esc(title),
        esc(description)
    );
    for (i, b) in bars.iter().enumerate() {
        let y = 5.0 + row * i as f64;
        let w = (b.value.clamp(0.0, 1.0) * (width - label_w - 60.0)).max(1.0);
        out.push_str(&format!(
            "<text x=\"0\" y=\"{:.1}\" font-size=\"12\">{}</text>\
             <rect x=\"{label_w}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"#0b5fff\"></rect>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\">{}</text>",
            y + 14.0,
            esc(&b.label),
            row - 6.0,
            label_w + w + 6.0,
            y + 14.0,
            esc(&b.text)
        ));
    }
    out.push_str("</svg>");
    out
}
