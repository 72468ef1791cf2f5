//! Which line a call came in on: the Request-URI user, or — when a carrier redirects a retired
//! number to 12345 — the original number in `History-Info`, `Diversion` or
//! `P-Called-Party-ID`. The SIP side hands the header values over as strings.

use super::plan::{Dialplan, Line};

/// Called-number information of one INVITE, as the SIP side found it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dialled {
    /// User part of the Request-URI.
    pub request_user: String,
    /// `Diversion` header values, top first (RFC 5806; the bottom one is the original number).
    pub diversion: Vec<String>,
    /// `History-Info` header values, in order (RFC 7044; the lowest index is the original).
    pub history_info: Vec<String>,
    /// `P-Called-Party-ID` (RFC 3455).
    pub p_called_party_id: Option<String>,
}

/// Splits a header value on commas outside `<…>` and quotes.
fn split_values(v: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    for (i, c) in v.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(v[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(v[start..].trim());
    out.retain(|s| !s.is_empty());
    out
}

/// The user part of the URI in a name-addr or addr-spec (`"x" <sip:12300@h;user=phone>;p=1`,
/// `tel:+86-398-12300`).
pub fn uri_user(value: &str) -> Option<String> {
    let uri = match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value.split(';').next().unwrap_or(value),
    };
    let uri = uri.trim();
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"))
        .or_else(|| uri.strip_prefix("tel:"))?;
    let user = rest.split(['@', ';', '?']).next()?;
    let user: String = user.chars().filter(|c| *c != '-' && *c != '.').collect();
    (!user.is_empty()).then_some(user)
}

/// The parameter `name` of a header value (outside the URI), e.g. `index` of History-Info.
fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let tail = match value.rfind('>') {
        Some(i) => &value[i + 1..],
        None => value,
    };
    tail.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().trim_matches('"'))
    })
}

/// Maps a number as a carrier writes it to a configured line: strips `+86`/`0086`/`86` and
/// the local area code (`039812345` → `12345`).
pub fn match_line<'a>(plan: &'a Dialplan, user: &str) -> Option<&'a Line> {
    let mut n = user.trim_start_matches('+');
    for cc in ["0086", "86"] {
        if let Some(r) = n.strip_prefix(cc) {
            if plan.line(r).is_some()
                || r.starts_with(plan.area_code.as_str())
                || r.starts_with(&plan.area_code[1..])
            {
                n = r;
                break;
            }
        }
    }
    if let Some(l) = plan.line(n) {
        return Some(l);
    }
    let ac = &plan.area_code;
    n.strip_prefix(ac.as_str())
        .or_else(|| n.strip_prefix(&ac[1..]))
        .and_then(|r| plan.line(r))
}

/// The line and the number as dialled. A Request-URI naming a merged line wins; otherwise the
/// original number of a redirect (History-Info lowest index, bottom Diversion,
/// P-Called-Party-ID) when it names a line; otherwise the Request-URI's line (usually 12345).
pub fn resolve<'a>(plan: &'a Dialplan, d: &Dialled) -> Option<&'a Line> {
    let direct = match_line(plan, &d.request_user);
    if let Some(l) = direct {
        if l.number != plan.main {
            return Some(l);
        }
    }
    let mut history: Vec<(Vec<u32>, String)> = Vec::new();
    for h in &d.history_info {
        for v in split_values(h) {
            if let Some(u) = uri_user(v) {
                let idx = param(v, "index")
                    .map(|i| i.split('.').filter_map(|x| x.parse().ok()).collect())
                    .unwrap_or_else(|| vec![u32::MAX]);
                history.push((idx, u));
            }
        }
    }
    history.sort_by(|a, b| a.0.cmp(&b.0));
    let diversion: Vec<String> = d
        .diversion
        .iter()
        .flat_map(|h| split_values(h))
        .filter_map(uri_user)
        .collect();
    let candidates = history
        .into_iter()
        .map(|(_, u)| u)
        .chain(diversion.into_iter().rev())
        .chain(d.p_called_party_id.as_deref().and_then(uri_user));
    for c in candidates {
        if let Some(l) = match_line(plan, &c) {
            if l.number != plan.main {
                return Some(l);
            }
        }
    }
    direct
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_part_is_found_in_name_addrs_and_tel_uris() {
        let table = [
            (
                "<sip:12300@gw.example;user=phone>;reason=unconditional",
                Some("12300"),
            ),
            ("\"Old, line\" <sips:12301@gw>", Some("12301")),
            ("sip:12345@rexian;index=1", Some("12345")),
            ("<tel:+86-398-12320;phone-context=x>", Some("+8639812320")),
            ("tel:12366", Some("12366")),
            ("<http://x>", None),
            ("<sip:@gw>", None),
        ];
        for (v, want) in table {
            assert_eq!(uri_user(v).as_deref(), want, "{v}");
        }
    }

    #[test]
    fn header_values_split_on_commas_outside_brackets_and_quotes() {
        let v = split_values("<sip:a@h;x=1,2>;p=1, \"b, c\" <sip:b@h>,<sip:c@h>");
        assert_eq!(v.len(), 3, "{v:?}");
        assert_eq!(param("<sip:b@h>;index=1.2;rc=1", "index"), Some("1.2"));
    }
}
