//! Character classes and small lexical helpers of the RFC 3261 §25 grammar.

/// `token` characters: alphanum and `-.!%*_+`'~`.
pub fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Whether every byte of `s` is a token character (and `s` is not empty).
pub fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_token_char(b))
}

/// Linear white space inside a header value (after unfolding): SP or HTAB.
pub fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Trims SP/HTAB on both ends.
pub fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_ws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|&b| !is_ws(b)).map_or(start, |e| e + 1);
    &s[start..end]
}

/// Splits `s` at every top-level occurrence of `sep`: not inside a quoted
/// string (with backslash escapes) nor inside `<...>`.
pub fn split_top_level(s: &[u8], sep: u8) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut in_angle = false;
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if in_quotes {
            if b == b'\\' {
                i += 1;
            } else if b == b'"' {
                in_quotes = false;
            }
        } else if b == b'"' {
            in_quotes = true;
        } else if b == b'<' {
            in_angle = true;
        } else if b == b'>' {
            in_angle = false;
        } else if b == sep && !in_angle {
            parts.push(&s[start..i]);
            start = i + 1;
        }
        i += 1;
    }
    parts.push(&s[start..]);
    parts
}

/// Finds the first top-level `needle` (outside quotes and angle brackets).
pub fn find_top_level(s: &[u8], needle: u8) -> Option<usize> {
    let first = split_top_level(s, needle).first().map(|p| p.len())?;
    (first < s.len()).then_some(first)
}

/// Decodes `%XX` escapes. Returns `None` on a malformed escape.
pub fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hi = (hex[0] as char).to_digit(16)?;
            let lo = (hex[1] as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Parses a quoted-string starting at `s[0] == '"'`. Returns the unescaped
/// content and the number of bytes consumed, or `None` if unterminated.
pub fn parse_quoted(s: &[u8]) -> Option<(String, usize)> {
    if s.first() != Some(&b'"') {
        return None;
    }
    let mut out = Vec::new();
    let mut i = 1;
    while i < s.len() {
        match s[i] {
            b'\\' => {
                let next = *s.get(i + 1)?;
                out.push(next);
                i += 2;
            }
            b'"' => return Some((String::from_utf8_lossy(&out).into_owned(), i + 1)),
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    None
}

/// Writes `s` as a quoted-string, escaping `"` and `\`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_respects_quotes_and_angles() {
        let parts = split_top_level(b"\"a,b\" <sip:x@y;p=1,2>, <sip:z>", b',');
        assert_eq!(parts.len(), 2);
        assert_eq!(trim(parts[1]), b"<sip:z>");
    }

    #[test]
    fn quoted_strings_unescape() {
        let (s, n) = parse_quoted(b"\"a\\\"b\" rest").unwrap();
        assert_eq!(s, "a\"b");
        assert_eq!(n, 6);
        assert!(parse_quoted(b"\"open").is_none());
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("*71%23").unwrap(), b"*71#");
        assert!(percent_decode("%2").is_none());
        assert!(percent_decode("%zz").is_none());
    }
}
