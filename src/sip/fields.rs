//! The header section of a message → the typed fields every request and response must have
//! (Via, From, To, Call-ID, CSeq, Max-Forwards, Content-Length) plus the other headers in
//! [`Headers`], unfolded, with canonical names and list headers split. The first fault is
//! kept while parsing goes on, so a refused request can still be answered.

use std::borrow::Cow;

use super::header::{
    canonical_name, parse_contact, parse_content_length, parse_content_type, parse_cseq,
    parse_max_forwards, parse_name_addr_list, parse_token_list, parse_via_list, Contact,
};
use super::lex::{is_token, split_commas, SyntaxError};
use super::message::{CSeq, Headers, NameAddr, Via};
use super::parse::{Limits, ParseError, Partial, StartLine};
use super::uri::parse_name_addr;

#[derive(Default)]
pub(crate) struct Fields {
    pub(crate) via: Vec<Via>,
    pub(crate) from: Option<NameAddr>,
    pub(crate) to: Option<NameAddr>,
    pub(crate) call_id: Option<String>,
    pub(crate) cseq: Option<CSeq>,
    pub(crate) max_forwards: Option<u32>,
    pub(crate) content_length: Option<usize>,
    pub(crate) headers: Headers,
    pub(crate) error: Option<ParseError>,
}

impl Fields {
    fn fail(&mut self, e: ParseError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    pub(crate) fn partial(&self, start: Option<&StartLine>) -> Option<Box<Partial>> {
        if self.via.is_empty() {
            return None;
        }
        let method = match start {
            Some(StartLine::Request { method, .. }) => Some(method.clone()),
            _ => None,
        };
        Some(Box::new(Partial {
            method,
            via: self.via.clone(),
            from: self.from.clone()?,
            to: self.to.clone()?,
            call_id: self.call_id.clone()?,
            cseq: self.cseq.clone()?,
        }))
    }
}

/// Iterates the logical header lines of `rest`, joining folded continuation lines with a
/// single space.
fn logical_lines(rest: &str) -> impl Iterator<Item = Result<Cow<'_, str>, ParseError>> + '_ {
    let mut lines = rest
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.is_empty())
        .peekable();
    std::iter::from_fn(move || {
        let line = lines.next()?;
        if line.starts_with([' ', '\t']) {
            return Some(Err(ParseError::bad("folded line without header")));
        }
        let mut value: Cow<'_, str> = Cow::Borrowed(line);
        while let Some(next) = lines.next_if(|l| l.starts_with([' ', '\t'])) {
            let v = value.to_mut();
            let trimmed = v.trim_end().len();
            v.truncate(trimmed);
            v.push(' ');
            v.push_str(next.trim_start());
        }
        Some(Ok(value))
    })
}

pub(crate) fn parse_headers(rest: &str, limits: &Limits) -> Fields {
    let mut f = Fields::default();
    for (count, line) in logical_lines(rest).enumerate() {
        if count >= limits.max_headers {
            f.fail(ParseError::new(513, "Message Too Large (too many headers)"));
            break;
        }
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                f.fail(e);
                continue;
            }
        };
        let Some((name, value)) = line.split_once(':') else {
            f.fail(ParseError::bad("header line without colon"));
            continue;
        };
        let name = name.trim_end_matches([' ', '\t']);
        if !is_token(name) {
            f.fail(ParseError::bad("bad header name"));
            continue;
        }
        let value = value.trim_matches(|c| c == ' ' || c == '\t');
        match canonical_name(name) {
            Some(canon) => typed_header(&mut f, canon, value),
            None => f.headers.push(name, value),
        }
    }
    f
}

fn once<T>(slot: &mut Option<T>, v: T, name: &str) -> Result<(), ParseError> {
    if slot.is_some() {
        return Err(ParseError::bad(format_args!("multiple {name} headers")));
    }
    *slot = Some(v);
    Ok(())
}

fn typed_header(f: &mut Fields, name: &'static str, value: &str) {
    // Names the header unless the fault text already does.
    let bad = |e: SyntaxError| {
        if e.0.contains(name) {
            ParseError::bad(e)
        } else {
            ParseError::bad(format_args!("bad {name}: {e}"))
        }
    };
    let r: Result<(), ParseError> = match name {
        "Via" => parse_via_list(value).map(|v| f.via.extend(v)).map_err(bad),
        "From" => parse_name_addr(value)
            .map_err(bad)
            .and_then(|a| once(&mut f.from, a, name)),
        "To" => parse_name_addr(value)
            .map_err(bad)
            .and_then(|a| once(&mut f.to, a, name)),
        "Call-ID" => {
            if value.is_empty() || value.bytes().any(|b| b <= b' ' || b >= 0x7f) {
                Err(ParseError::bad("bad Call-ID"))
            } else {
                once(&mut f.call_id, value.to_string(), name)
            }
        }
        "CSeq" => parse_cseq(value)
            .map_err(bad)
            .and_then(|c| once(&mut f.cseq, c, name)),
        "Max-Forwards" => parse_max_forwards(value)
            .map_err(bad)
            .and_then(|m| once(&mut f.max_forwards, m, name)),
        "Content-Length" => match parse_content_length(value) {
            Err(e) => Err(bad(e)),
            Ok(cl) => match f.content_length {
                Some(old) if old != cl => Err(ParseError::bad("conflicting Content-Length")),
                _ => {
                    f.content_length = Some(cl);
                    Ok(())
                }
            },
        },
        "Contact" => match parse_contact(value) {
            Ok(Contact::Star) => {
                f.headers.push(name, "*");
                Ok(())
            }
            Ok(Contact::Addrs(_)) => push_list(f, name, value),
            Err(e) => Err(bad(e)),
        },
        "Route" | "Record-Route" | "Path" | "Service-Route" => match parse_name_addr_list(value) {
            Ok(_) => push_list(f, name, value),
            Err(e) => Err(bad(e)),
        },
        "Allow" | "Supported" | "Require" | "Proxy-Require" | "Unsupported" | "Allow-Events" => {
            match parse_token_list(value) {
                Ok(list) if list.is_empty() => {
                    f.headers.push(name, "");
                    Ok(())
                }
                Ok(list) => {
                    for t in list {
                        f.headers.push(name, t);
                    }
                    Ok(())
                }
                Err(e) => Err(bad(e)),
            }
        }
        "Accept" | "Accept-Encoding" | "Accept-Language" | "Content-Encoding" => {
            if value.is_empty() {
                f.headers.push(name, "");
                Ok(())
            } else {
                push_list(f, name, value)
            }
        }
        "Content-Type" => match parse_content_type(value) {
            Ok(_) => {
                f.headers.push(name, value);
                Ok(())
            }
            Err(e) => Err(bad(e)),
        },
        _ => {
            f.headers.push(name, value);
            Ok(())
        }
    };
    if let Err(e) = r {
        f.fail(e);
    }
}

fn push_list(f: &mut Fields, name: &'static str, value: &str) -> Result<(), ParseError> {
    let items =
        split_commas(value).map_err(|e| ParseError::bad(format_args!("bad {name}: {e}")))?;
    for item in items {
        f.headers.push(name, item);
    }
    Ok(())
}
