//! Writing HTML safely: every text that came from outside (names,
//! numbers, contacts, causes) goes through [`escape`].

use std::fmt::Write;

/// `text` with the five HTML-special characters escaped, fit for element
/// content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
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

/// A duration in seconds as `m:ss`, or `h:mm:ss` from an hour.
pub fn clock(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// A table: `header` cells, then rows of cells already HTML.
pub fn table(class: &str, header: &[&str], rows: &[String]) -> String {
    let mut out = format!("<table class=\"{class}\"><thead><tr>");
    for h in header {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead><tbody>");
    for r in rows {
        out.push_str(r);
    }
    out.push_str("</tbody></table>");
    out
}

/// An inline SVG sparkline of `values` (oldest first), `width`×`height`
/// pixels, scaled from 0 to the largest value.
pub fn sparkline(values: &[f64], width: u32, height: u32) -> String {
    let max = values.iter().copied().fold(0.0_f64, f64::max).max(1.0);
    let n = values.len().max(2) - 1;
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let x = i as f64 * f64::from(width) / n as f64;
            let y = f64::from(height) - v / max * f64::from(height - 2) - 1.0;
            format!("{x:.1},{y:.1}")
        })
        .collect();
    format!(
        "<svg class=\"spark\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" \
         role=\"img\"><polyline fill=\"none\" stroke=\"currentColor\" stroke-width=\"1.5\" points=\"{}\"/></svg>",
        points.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_formats() {
        assert_eq!(
            escape("<a href=\"x\">O'Neil & co</a>"),
            "&lt;a href=&quot;x&quot;&gt;O&#39;Neil &amp; co&lt;/a&gt;"
        );
        assert_eq!(clock(0), "0:00");
        assert_eq!(clock(83), "1:23");
        assert_eq!(clock(3723), "1:02:03");
        let svg = sparkline(&[0.0, 5.0, 10.0], 100, 20);
        assert!(
            svg.contains("0.0,19.0") && svg.contains("100.0,1.0"),
            "{svg}"
        );
        assert!(sparkline(&[], 10, 10).contains("points=\"\""));
    }
}
