//! Message templates: Chinese text with `{name}` placeholders, checked when the config loads.
//!
//! A template is parsed once into literal and placeholder pieces; an unknown placeholder or an
//! unclosed one is a [`TemplateError`] that the config loader turns into `file:line: reason`.
//! A placeholder is `{` + a name (letters, digits, `_`) + `}`; any other brace is literal, so a
//! JSON body template needs no escaping. `{{` stands for a literal `{` before a name.

use std::collections::BTreeMap;

/// Placeholders the message templates may use.
pub const MESSAGE_PLACEHOLDERS: &[&str] = &[
    "ticket_no",
    "deadline",
    "unit",
    "type",
    "hotline",
    // Emergency hand-offs.
    "agent",
    "time",
    "number",
    "name",
    "outcome",
];

/// Why a template cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown placeholder {{{name}}}; known: {known}")]
    Unknown { name: String, known: String },
    #[error("unclosed {{ in template")]
    Unclosed,
    #[error("no value for placeholder {{{0}}}")]
    Missing(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var(String),
}

/// A parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    source: String,
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses `source`, allowing only the placeholders in `known`.
    pub fn parse(source: &str, known: &[&str]) -> Result<Template, TemplateError> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = source;
        while let Some(c) = rest.chars().next() {
            if let Some(after) = rest.strip_prefix("{{") {
                text.push('{');
                rest = after;
                continue;
            }
            if c != '{' {
                text.push(c);
                rest = &rest[c.len_utf8()..];
                continue;
            }
            // `{` then a name: a placeholder. `{` then anything else (JSON) is literal.
            let inner = &rest[1..];
            let name_len = inner
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .unwrap_or(inner.len());
            let name = &inner[..name_len];
            let starts_like_name = name
                .chars()
                .next()
                .is_some_and(|ch| ch.is_ascii_alphabetic() || ch == '_');
            if !starts_like_name {
                text.push('{');
                rest = inner;
                continue;
            }
            if !inner[name_len..].starts_with('}') {
                return Err(TemplateError::Unclosed);
            }
            if !known.contains(&name) {
                return Err(TemplateError::Unknown {
                    name: name.to_string(),
                    known: known
                        .iter()
                        .map(|k| format!("{{{k}}}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(Piece::Var(name.to_string()));
            rest = &inner[name_len + 1..];
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Template {
            source: source.to_string(),
            pieces,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The placeholders this template uses, in order.
    pub fn placeholders(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Var(v) => Some(v.as_str()),
            Piece::Text(_) => None,
        })
    }

    /// Fills the placeholders; `escape` is applied to each value (URL or JSON encoding for
    /// gateway templates, identity for message texts).
    pub fn render_with(
        &self,
        lookup: impl Fn(&str) -> Option<String>,
        escape: impl Fn(&str) -> String,
    ) -> Result<String, TemplateError> {
        let mut out = String::with_capacity(self.source.len() + 32);
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(v) => {
                    let value = lookup(v).ok_or_else(|| TemplateError::Missing(v.clone()))?;
                    out.push_str(&escape(&value));
                }
            }
        }
        Ok(out)
    }

    /// Fills the placeholders from a map, unescaped.
    pub fn render(&self, vars: &BTreeMap<&str, String>) -> Result<String, TemplateError> {
        self.render_with(|k| vars.get(k).cloned(), |v| v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_braces_escaped() {
        let t = Template::parse(
            "工单{ticket_no}已派至{unit}，请于{deadline}前办结 {{注} {\"a\":{}}",
            MESSAGE_PLACEHOLDERS,
        )
        .unwrap();
        let vars = BTreeMap::from([
            ("ticket_no", "GD20260301-0001".to_string()),
            ("unit", "市住建局".to_string()),
            ("deadline", "2026-03-09 23:59".to_string()),
        ]);
        assert_eq!(
            t.render(&vars).unwrap(),
            "工单GD20260301-0001已派至市住建局，请于2026-03-09 23:59前办结 {注} {\"a\":{}}"
        );
        assert_eq!(
            t.placeholders().collect::<Vec<_>>(),
            ["ticket_no", "unit", "deadline"]
        );
    }

    #[test]
    fn unknown_unclosed_and_missing_are_errors() {
        let e = Template::parse("您的工单{ticket}", MESSAGE_PLACEHOLDERS).unwrap_err();
        assert!(matches!(&e, TemplateError::Unknown { name, .. } if name == "ticket"));
        assert!(e.to_string().contains("{ticket_no}"), "{e}");
        assert_eq!(
            Template::parse("工单{ticket_no", MESSAGE_PLACEHOLDERS),
            Err(TemplateError::Unclosed)
        );
        assert_eq!(
            Template::parse("{{unit}", MESSAGE_PLACEHOLDERS)
                .unwrap()
                .source(),
            "{{unit}"
        );
        let t = Template::parse("{unit}", MESSAGE_PLACEHOLDERS).unwrap();
        assert_eq!(
            t.render(&BTreeMap::new()),
            Err(TemplateError::Missing("unit".into()))
        );
    }
}
