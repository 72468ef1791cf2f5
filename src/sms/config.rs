//! The `[sms]` section of the daemon config. Absent → the daemon runs with SMS off.
//!
//! ```toml
//! [sms]
//! rate_per_sec = 10            # messages per second to the gateway
//! retry_base_secs = 5          # first retry delay, doubled per failure…
//! retry_max_secs = 600         # …up to this
//! max_attempts = 0             # 0: retry transient failures for ever
//!
//! supervisors = ["13900139000"] # told of emergency hand-offs and their alarms
//!
//! [sms.templates]              # every key optional; defaults are below
//! survey = "…回复1满意，2基本满意，3不满意"
//!
//! [sms.http]                   # or [sms.smpp]; exactly one
//! url = "http://127.0.0.1:13013/cgi-bin/sendsms"
//! query = { username = "rexian", password = "pw", to = "{to}", text = "{text}" }
//! ```
//!
//! Templates are checked at load: an unknown placeholder is refused with file, line and the
//! list of known ones.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::outbox::{NewSms, RetryPolicy, SmsKind};
use super::template::{Template, TemplateError, MESSAGE_PLACEHOLDERS};
use crate::dialplan::{line_of_key, DialplanError};
use crate::pii::Pii;

/// Placeholders the gateway's URL, query, body and header templates may use.
pub const GATEWAY_PLACEHOLDERS: &[&str] = &["to", "text", "id", "timestamp"];

/// `[sms]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SmsConfig {
    pub rate_per_sec: u32,
    pub retry_base_secs: u64,
    pub retry_max_secs: u64,
    pub max_attempts: u32,
    pub templates: TemplateTexts,
    /// Supervisors' mobiles: told at once of every emergency hand-off, and alarmed when one
    /// fails or the citizen hangs up first.
    pub supervisors: Vec<String>,
    pub http: Option<HttpGatewayConfig>,
    pub smpp: Option<SmppConfig>,
}

impl Default for SmsConfig {
    fn default() -> Self {
        SmsConfig {
            rate_per_sec: 10,
            retry_base_secs: 5,
            retry_max_secs: 600,
            max_attempts: 0,
            templates: TemplateTexts::default(),
            supervisors: Vec::new(),
            http: None,
            smpp: None,
        }
    }
}

/// `[sms.templates]`: the texts of the five kinds of message.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct TemplateTexts {
    pub dispatch_reminder: String,
    pub yellow_warning: String,
    pub red_warning: String,
    pub ticket_number: String,
    pub survey: String,
    pub handoff_notice: String,
    pub handoff_alarm: String,
}

impl Default for TemplateTexts {
    fn default() -> Self {
        TemplateTexts {
            dispatch_reminder: "【12345热线】工单{ticket_no}已派发至{unit}，请及时签收，并于{deadline}前办结答复。".into(),
            yellow_warning: "【12345热线】黄灯预警：{unit}承办的工单{ticket_no}将于{deadline}到期，请抓紧办理。".into(),
            red_warning: "【12345热线】红灯警告：{unit}承办的工单{ticket_no}已于{deadline}超期，请立即办理并说明情况。".into(),
            ticket_number: "【12345热线】您反映的诉求已受理，工单编号{ticket_no}，办理时限至{deadline}。".into(),
            survey: "【12345热线】您的工单{ticket_no}已办结，请对办理结果评价：回复1满意，2基本满意，3不满意。".into(),
            handoff_notice: "【12345热线】紧急转接：坐席{agent}于{time}将市民来电转至{number}（{name}）。".into(),
            handoff_alarm: "【12345热线】紧急转接告警：坐席{agent}于{time}转至{number}（{name}）的来电{outcome}，请立即核实处置。".into(),
        }
    }
}

impl TemplateTexts {
    fn get(&self, kind: SmsKind) -> &str {
        match kind {
            SmsKind::DispatchReminder => &self.dispatch_reminder,
            SmsKind::YellowWarning => &self.yellow_warning,
            SmsKind::RedWarning => &self.red_warning,
            SmsKind::TicketNumber => &self.ticket_number,
            SmsKind::Survey => &self.survey,
            SmsKind::HandoffNotice => &self.handoff_notice,
            SmsKind::HandoffAlarm => &self.handoff_alarm,
        }
    }
}

/// `[sms.http]`: a generic HTTP gateway (cloud SMS APIs, Kannel's `sendsms`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HttpGatewayConfig {
    /// `http://` or `https://`; may hold placeholders.
    pub url: String,
    #[serde(default = "default_method")]
    pub method: String,
    /// Query parameters, each value a template, percent-encoded after filling.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Request body template. Values are JSON-escaped when `content_type` is JSON,
    /// percent-encoded when it is a form, inserted as they are otherwise.
    pub body: Option<String>,
    #[serde(default = "default_content_type")]
    pub content_type: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub sign: Option<SignConfig>,
    /// Statuses that mean "accepted"; others in 4xx are permanent refusals, the rest transient.
    #[serde(default = "default_accept")]
    pub accept_status: Vec<u16>,
    /// When set, the response body must contain this text to count as accepted.
    pub accept_body_contains: Option<String>,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// PEM bundle of trusted roots for `https://`.
    #[serde(default = "default_ca_file")]
    pub ca_file: PathBuf,
}

fn default_method() -> String {
    "GET".into()
}
fn default_content_type() -> String {
    "application/json".into()
}
fn default_accept() -> Vec<u16> {
    vec![200, 201, 202]
}
fn default_timeout() -> u64 {
    10
}
fn default_ca_file() -> PathBuf {
    PathBuf::from("/etc/ssl/certs/ca-certificates.crt")
}

/// `[sms.http.sign]`: HMAC-SHA256 over `timestamp + "\n" + body` (or the body alone).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SignConfig {
    pub key: String,
    /// Header that carries the signature.
    #[serde(default = "default_sign_header")]
    pub header: String,
    /// Header that carries the Unix timestamp; when absent, only the body is signed.
    pub timestamp_header: Option<String>,
    /// `hex` or `base64`.
    #[serde(default = "default_encoding")]
    pub encoding: String,
}

fn default_sign_header() -> String {
    "X-Signature".into()
}
fn default_encoding() -> String {
    "hex".into()
}

/// `[sms.smpp]`: an SMPP 3.4 transceiver session.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SmppConfig {
    pub addr: SocketAddr,
    pub system_id: String,
    pub password: String,
    #[serde(default)]
    pub system_type: String,
    /// The sender number (e.g. the hotline's 106 number).
    pub source_addr: String,
    #[serde(default = "default_enquire")]
    pub enquire_link_secs: u64,
    #[serde(default = "default_timeout")]
    pub response_timeout_secs: u64,
    /// Ask the SMSC for delivery receipts.
    #[serde(default = "default_true")]
    pub delivery_receipts: bool,
}

fn default_enquire() -> u64 {
    30
}
fn default_true() -> bool {
    true
}

/// The parsed message templates, one per kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Templates(BTreeMap<&'static str, Template>);

impl Templates {
    /// The text of a message of `kind` with `vars` filled in.
    pub fn render(
        &self,
        kind: SmsKind,
        vars: &BTreeMap<&str, String>,
    ) -> Result<String, TemplateError> {
        self.0
            .get(kind.as_str())
            .ok_or_else(|| TemplateError::Missing(kind.as_str().into()))?
            .render(vars)
    }
}

impl Templates {
    /// A message of `kind` to `phone` about `ticket_id`, its text from the template; ready for
    /// [`super::enqueue`] in the ticket's transaction.
    pub fn message(
        &self,
        kind: SmsKind,
        phone: Pii<String>,
        ticket_id: Option<String>,
        vars: &BTreeMap<&str, String>,
    ) -> Result<NewSms, TemplateError> {
        Ok(NewSms {
            phone,
            kind,
            body: self.render(kind, vars)?,
            ticket_id,
        })
    }
}

impl SmsConfig {
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            base_secs: self.retry_base_secs,
            max_backoff_secs: self.retry_max_secs,
            max_attempts: self.max_attempts,
        }
    }

    /// The message templates, parsed.
    pub fn templates(&self) -> Result<Templates, TemplateError> {
        let mut m = BTreeMap::new();
        for k in SmsKind::ALL {
            m.insert(
                k.as_str(),
                Template::parse(self.templates.get(k), MESSAGE_PLACEHOLDERS)?,
            );
        }
        Ok(Templates(m))
    }

    /// Checks what serde cannot: templates, a single provider, sane numbers.
    pub fn check(&self, path: &Path, text: &str) -> Result<(), DialplanError> {
        let err =
            |key: &str, reason: String| DialplanError::new(path, line_of_key(text, key), reason);
        for k in SmsKind::ALL {
            let key = match k {
                SmsKind::Survey => "survey",
                other => other.as_str(),
            };
            Template::parse(self.templates.get(k), MESSAGE_PLACEHOLDERS)
                .map_err(|e| err(key, format!("[sms.templates] {}: {e}", k.as_str())))?;
        }
        match (&self.http, &self.smpp) {
            (Some(_), Some(_)) => {
                return Err(err(
                    "smpp",
                    "[sms] takes one provider: [sms.http] or [sms.smpp], not both".into(),
                ))
            }
            (None, None) => {
                return Err(err(
                    "sms",
                    "[sms] needs a provider: add [sms.http] or [sms.smpp]".into(),
                ))
            }
            _ => {}
        }
        for phone in &self.supervisors {
            if let Err(e) = super::phone::normalise_mobile(phone) {
                return Err(err(
                    "supervisors",
                    format!(
                        "supervisors: {:?} gets no SMS: {e}",
                        Pii::new(phone.clone())
                    ),
                ));
            }
        }
        if self.rate_per_sec == 0 {
            return Err(err(
                "rate_per_sec",
                "rate_per_sec must be at least 1".into(),
            ));
        }
        if self.retry_base_secs == 0 || self.retry_max_secs < self.retry_base_secs {
            return Err(err(
                "retry_max_secs",
                "retry_base_secs must be ≥ 1 and retry_max_secs ≥ retry_base_secs".into(),
            ));
        }
        if let Some(h) = &self.http {
            if !(h.url.starts_with("http://") || h.url.starts_with("https://")) {
                return Err(err(
                    "url",
                    "[sms.http] url must start with http:// or https://".into(),
                ));
            }
            if h.url.starts_with("https://") && !h.ca_file.is_file() {
                return Err(err(
                    "ca_file",
                    format!(
                        "[sms.http] https needs trusted roots: ca_file {} is not a file",
                        h.ca_file.display()
                    ),
                ));
            }
            if !matches!(h.method.as_str(), "GET" | "POST" | "PUT") {
                return Err(err(
                    "method",
                    format!("[sms.http] method {:?}: use GET, POST or PUT", h.method),
                ));
            }
            let mut all: Vec<(&str, &str)> = vec![("url", &h.url)];
            all.extend(h.query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            all.extend(h.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            if let Some(b) = &h.body {
                all.push(("body", b));
            }
            for (key, t) in all {
                Template::parse(t, GATEWAY_PLACEHOLDERS).map_err(|e| {
                    DialplanError::new(
                        path,
                        line_of_value(text, t, key),
                        format!("[sms.http] {key}: {e}"),
                    )
                })?;
            }
            if let Some(s) = &h.sign {
                if !matches!(s.encoding.as_str(), "hex" | "base64") {
                    return Err(err(
                        "encoding",
                        "[sms.http.sign] encoding must be hex or base64".into(),
                    ));
                }
                if s.key.is_empty() {
                    return Err(err("key", "[sms.http.sign] key is empty".into()));
                }
            }
        }
        if let Some(s) = &self.smpp {
            if s.system_id.len() > 15 || s.password.len() > 8 || s.source_addr.len() > 20 {
                return Err(err(
                    "system_id",
                    "[sms.smpp] system_id ≤ 15, password ≤ 8, source_addr ≤ 20 characters (SMPP 3.4)"
                        .into(),
                ));
            }
        }
        Ok(())
    }
}

/// The line holding a template value (for errors in inline tables), else the key's line.
fn line_of_value(text: &str, value: &str, key: &str) -> usize {
    let needle = value.lines().next().unwrap_or(value);
    if !needle.is_empty() {
        if let Some(i) = text.lines().position(|l| l.contains(needle)) {
            return i + 1;
        }
    }
    line_of_key(text, key)
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    const HTTP: &str = "[sms.http]\nurl = \"http://127.0.0.1:13013/cgi-bin/sendsms\"\n";

    #[test]
    fn no_section_means_sms_off() {
        let c = Config::from_toml(Path::new("r.toml"), "").unwrap();
        assert!(c.sms.is_none());
    }

    #[test]
    fn defaults_hold_the_survey_choices() {
        let c = Config::from_toml(Path::new("r.toml"), &format!("[sms]\n{HTTP}")).unwrap();
        let sms = c.sms.unwrap();
        assert!(sms
            .templates
            .survey
            .contains("回复1满意，2基本满意，3不满意"));
        sms.templates().unwrap();
    }

    #[test]
    fn templates_make_messages() {
        use crate::sms::SmsKind;
        use std::collections::BTreeMap;
        let c = Config::from_toml(Path::new("r.toml"), &format!("[sms]\n{HTTP}")).unwrap();
        let t = c.sms.unwrap().templates().unwrap();
        let vars = BTreeMap::from([
            ("ticket_no", "GD0001".to_string()),
            ("unit", "市水务局".to_string()),
            ("deadline", "3月9日".to_string()),
        ]);
        let m = t
            .message(
                SmsKind::DispatchReminder,
                crate::pii::Pii::new("13800138000".into()),
                Some("t-1".into()),
                &vars,
            )
            .unwrap();
        assert_eq!(
            m.body,
            "【12345热线】工单GD0001已派发至市水务局，请及时签收，并于3月9日前办结答复。"
        );
        let e = Config::from_toml(
            Path::new("r.toml"),
            "[sms.http]\nurl = \"https://x/\"\nca_file = \"/nonexistent.pem\"\n",
        )
        .unwrap_err();
        assert_eq!(e.line, 3, "{e}");
    }

    #[test]
    fn an_unknown_placeholder_is_refused_with_file_and_line() {
        let text = format!(
            "[sms]\nrate_per_sec = 5\n\n[sms.templates]\nticket_number = \"您的工单号{{ticket}}\"\n{HTTP}"
        );
        let e = Config::from_toml(Path::new("rexian.toml"), &text).unwrap_err();
        assert_eq!(e.line, 5, "{e}");
        assert!(e.to_string().starts_with("rexian.toml:5: "), "{e}");
        assert!(e.reason.contains("{ticket}"), "{e}");
    }

    #[test]
    fn a_gateway_template_is_checked_too() {
        let text = "[sms.http]\nurl = \"http://gw/send\"\nquery = { to = \"{to}\", msg = \"{message}\" }\n";
        let e = Config::from_toml(Path::new("r.toml"), text).unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(e.reason.contains("{message}"), "{e}");
    }

    #[test]
    fn a_provider_is_required_and_unknown_keys_refused() {
        let e = Config::from_toml(Path::new("r.toml"), "[sms]\nrate_per_sec = 5\n").unwrap_err();
        assert!(e.reason.contains("needs a provider"), "{e}");
        let e = Config::from_toml(Path::new("r.toml"), &format!("[sms]\nrate = 5\n{HTTP}"))
            .unwrap_err();
        assert_eq!(e.line, 2, "{e}");
    }
}
