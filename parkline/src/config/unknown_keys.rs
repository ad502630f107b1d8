//! Every unknown key of a configuration in one run: the parser stops at
//! the first, so each one found is reported, blanked out of the text (its
//! lines kept as empty lines, so later errors keep their line numbers)
//! and the text parsed again.

/// At most this many unknown keys are reported (then the rest of the
/// file is likely not a Parkline configuration at all).
pub const MAX_REPORTED: usize = 50;

/// Whether a parse error is an unknown key (the only kind that can be
/// blanked out and parsed past).
pub fn is_unknown_key(message: &str) -> bool {
    message.starts_with("unknown field")
}

/// `text` with the key (and its whole value) or table (header and its
/// keys) that starts on the line of byte `at` replaced by empty lines;
/// `None` when no such blanking leaves valid TOML.
pub fn blank_item(text: &str, at: usize) -> Option<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let first = text[..at.min(text.len())].matches('\n').count();
    let header = lines.get(first)?.trim_start().starts_with('[');
    // A table: up to the next header. A key: as few lines as make valid
    // TOML again (a multi-line array or string takes several).
    let candidates: Vec<usize> = if header {
        let end = (first + 1..lines.len())
            .find(|&i| lines[i].trim_start().starts_with('['))
            .unwrap_or(lines.len());
        vec![end]
    } else {
        (first + 1..=lines.len()).collect()
    };
    candidates.into_iter().find_map(|end| {
        let blanked: String = lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                if (first..end).contains(&i) {
                    if l.ends_with('\n') {
                        "\n"
                    } else {
                        ""
                    }
                } else {
                    l
                }
            })
            .collect();
        blanked.parse::<toml::Table>().is_ok().then_some(blanked)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blanks_a_key_its_multi_line_value_or_a_whole_table() {
        let text = "a = 1\nbad = [\n  1,\n  2,\n]\nb = 2\n";
        let at = text.find("bad").unwrap();
        assert_eq!(blank_item(text, at).unwrap(), "a = 1\n\n\n\n\nb = 2\n");
        let text = "[x]\na = 1\n[junk]\nc = 3\nd = 4\n[y]\nb = 2";
        let at = text.find("junk").unwrap();
        assert_eq!(
            blank_item(text, at).unwrap(),
            "[x]\na = 1\n\n\n\n[y]\nb = 2"
        );
        assert!(is_unknown_key("unknown field `x`, expected one of `a`"));
    }
}
