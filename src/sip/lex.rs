//! Lexical building blocks shared by the URI, header and message parsers (RFC 3261 §25.1):
//! token and quoted-string scanning, quote- and bracket-aware comma splitting, and `;name=value`
//! parameter lists. Everything works on `&str` slices without allocating unless a value is kept.

use thiserror::Error;

use super::message::Param;

/// A syntax fault in a URI or header value. The text is short ASCII and names the fault, so it
/// can become part of a 400 reason phrase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct SyntaxError(pub &'static str);

/// `token` characters (RFC 3261 §25.1).
pub fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// True for a non-empty `token`.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

/// Linear white space as it survives unfolding: SP and HTAB.
pub fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Given `s[start] == b'"'`, the index just past the closing quote, honouring `\` escapes.
pub fn quoted_end(s: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < s.len() {
        match s[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Removes the quotes and `\` escapes of a quoted-string; other text is returned trimmed.
pub fn unquote(s: &str) -> String {
    let t = s.trim();
    let b = t.as_bytes();
    if b.len() >= 2 && b[0] == b'"' && b[b.len() - 1] == b'"' {
        let inner = &t[1..t.len() - 1];
        let mut out = String::with_capacity(inner.len());
        let mut esc = false;
        for c in inner.chars() {
            if esc {
                out.push(c);
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else {
                out.push(c);
            }
        }
        out
    } else {
        t.to_string()
    }
}

/// Splits a header value at commas that are outside quoted strings and `<…>`, trimming each
/// element. Empty elements are an error (`a,,b`), as are unbalanced quotes or brackets.
pub fn split_commas(s: &str) -> Result<Vec<&str>, SyntaxError> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    let mut in_angle = false;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i = quoted_end(b, i).ok_or(SyntaxError("unbalanced quotes"))?;
                continue;
            }
            b'<' if !in_angle => in_angle = true,
            b'>' if in_angle => in_angle = false,
            b',' if !in_angle => {
                let part = s[start..i].trim();
                if part.is_empty() {
                    return Err(SyntaxError("empty list element"));
                }
                out.push(part);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if in_angle {
        return Err(SyntaxError("unbalanced angle brackets"));
    }
    let part = s[start.min(s.len())..].trim();
    if part.is_empty() {
        return Err(SyntaxError("empty list element"));
    }
    out.push(part);
    Ok(out)
}

/// Characters allowed in a parameter value written without quotes: token, plus what hosts and
/// IPv6 references need.
fn is_pvalue_byte(b: u8) -> bool {
    is_token_byte(b)
        || matches!(
            b,
            b':' | b'[' | b']' | b'/' | b'@' | b'?' | b'&' | b'$' | b'='
        )
}

/// Parses `;name[=value]` parameters of a header value (`generic-param`, RFC 3261 §25.1). `s`
/// is the text from the first `;` on (or empty). White space around `;` and `=` is allowed;
/// quoted values are kept with their quotes so they write back unchanged.
pub fn parse_params(s: &str) -> Result<Vec<Param>, SyntaxError> {
    let mut params = Vec::new();
    let b = s.as_bytes();
    let mut i = skip_ws(b, 0);
    while i < b.len() {
        if b[i] != b';' {
            return Err(SyntaxError("junk after value"));
        }
        i = skip_ws(b, i + 1);
        let ns = i;
        while i < b.len() && is_token_byte(b[i]) {
            i += 1;
        }
        if i == ns {
            return Err(SyntaxError("empty parameter"));
        }
        let name = &s[ns..i];
        i = skip_ws(b, i);
        let mut value = None;
        if i < b.len() && b[i] == b'=' {
            i = skip_ws(b, i + 1);
            let vs = i;
            if i < b.len() && b[i] == b'"' {
                i = quoted_end(b, i).ok_or(SyntaxError("unbalanced quotes"))?;
            } else {
                while i < b.len() && is_pvalue_byte(b[i]) {
                    i += 1;
                }
            }
            if i == vs {
                return Err(SyntaxError("empty parameter value"));
            }
            value = Some(s[vs..i].to_string());
            i = skip_ws(b, i);
        }
        params.push(Param::new(name, value));
    }
    Ok(params)
}

/// Index of the first byte at or after `i` that is not SP/HTAB.
pub fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_ws(b[i]) {
        i += 1;
    }
    i
}

/// Parses a decimal number that must fit `max`; signs, blanks and overflow are errors.
pub fn parse_decimal(s: &str, max: u64) -> Result<u64, SyntaxError> {
    let s = s.trim();
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SyntaxError("not a number"));
    }
    let mut v: u64 = 0;
    for b in s.bytes() {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or(SyntaxError("number too large"))?;
    }
    if v > max {
        return Err(SyntaxError("number too large"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_commas_outside_quotes_and_brackets() {
        let v = split_commas(r#""a, b" <sip:x;p=1,2>, <sip:y>"#).unwrap();
        assert_eq!(v, vec![r#""a, b" <sip:x;p=1,2>"#, "<sip:y>"]);
    }

    #[test]
    fn rejects_empty_list_elements_and_open_quotes() {
        assert!(split_commas("a,,b").is_err());
        assert!(split_commas("a,").is_err());
        assert!(split_commas("\"a, b").is_err());
    }

    #[test]
    fn parses_params_with_spaces_and_quotes() {
        let p = parse_params(" ; tag = abc ;lr; x=\"q;v\"").unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].value.as_deref(), Some("abc"));
        assert_eq!(p[1].value, None);
        assert_eq!(p[2].value.as_deref(), Some("\"q;v\""));
    }

    #[test]
    fn rejects_empty_params() {
        assert!(parse_params(";;a").is_err());
        assert!(parse_params(";a=").is_err());
    }

    #[test]
    fn decimal_rejects_overflow_and_signs() {
        assert_eq!(parse_decimal(" 42 ", 100), Ok(42));
        assert!(parse_decimal("-1", 100).is_err());
        assert!(parse_decimal("101", 100).is_err());
        assert!(parse_decimal("36893488147419103232", u64::MAX).is_err());
    }

    #[test]
    fn unquote_removes_escapes() {
        assert_eq!(unquote(r#""a \"b\" c""#), "a \"b\" c");
        assert_eq!(unquote(" tok "), "tok");
    }
}
