//! A generic HTTP SMS gateway: URL, method, query and body templates, headers, and optional
//! HMAC-SHA256 signing. Enough for the common cloud SMS APIs (JSON body, signature header) and
//! for Kannel's `sendsms` (GET with query parameters, `dlr-url` carrying `{id}`).
//!
//! [`HttpGateway::build`] turns a message into a plain [`BuiltRequest`] (testable without a
//! socket); [`HttpGateway`]'s [`SmsProvider::submit`] sends it with hyper's HTTP/1.1 client
//! over TCP or rustls. One connection per message keeps the client simple; at the tens of
//! messages per second a hotline sends that costs nothing that matters.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::Sha256;

use super::config::{HttpGatewayConfig, GATEWAY_PLACEHOLDERS};
use super::provider::{OutgoingSms, SmsProvider, SubmitError, SubmitFuture, Submitted};
use super::template::{Template, TemplateError};

/// Everything but RFC 3986's unreserved characters is encoded.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Why a gateway could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("template: {0}")]
    Template(#[from] TemplateError),
    #[error("cannot read CA file {path}: {reason}")]
    Ca { path: String, reason: String },
}

/// A request ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Clone, Copy)]
enum BodyEscape {
    Json,
    Form,
    Raw,
}

/// The configured gateway.
pub struct HttpGateway {
    cfg: HttpGatewayConfig,
    url: Template,
    query: Vec<(String, Template)>,
    headers: Vec<(String, Template)>,
    body: Option<Template>,
    escape: BodyEscape,
    tls: Option<tokio_rustls::TlsConnector>,
}

impl HttpGateway {
    pub fn new(cfg: HttpGatewayConfig) -> Result<HttpGateway, GatewayError> {
        let p = |s: &str| Template::parse(s, GATEWAY_PLACEHOLDERS);
        let url = p(&cfg.url)?;
        let query = cfg
            .query
            .iter()
            .map(|(k, v)| Ok((k.clone(), p(v)?)))
            .collect::<Result<Vec<_>, TemplateError>>()?;
        let headers = cfg
            .headers
            .iter()
            .map(|(k, v)| Ok((k.clone(), p(v)?)))
            .collect::<Result<Vec<_>, TemplateError>>()?;
        let body = cfg.body.as_deref().map(p).transpose()?;
        let ct = cfg.content_type.to_ascii_lowercase();
        let escape = if ct.contains("json") {
            BodyEscape::Json
        } else if ct.contains("x-www-form-urlencoded") {
            BodyEscape::Form
        } else {
            BodyEscape::Raw
        };
        let tls = if cfg.url.starts_with("https://") {
            Some(tls_connector(&cfg.ca_file)?)
        } else {
            None
        };
        Ok(HttpGateway {
            cfg,
            url,
            query,
            headers,
            body,
            escape,
            tls,
        })
    }

    /// The request for `msg` at Unix time `now`.
    pub fn build(&self, msg: &OutgoingSms, now: i64) -> Result<BuiltRequest, TemplateError> {
        let ts = now.to_string();
        let lookup = |k: &str| -> Option<String> {
            match k {
                "to" => Some(msg.to.expose().clone()),
                "text" => Some(msg.text.clone()),
                "id" => Some(msg.id.clone()),
                "timestamp" => Some(ts.clone()),
                _ => None,
            }
        };
        let enc = |v: &str| utf8_percent_encode(v, QUERY).to_string();
        let mut url = self.url.render_with(lookup, enc)?;
        if !self.query.is_empty() {
            let q = self
                .query
                .iter()
                .map(|(k, t)| {
                    Ok(format!(
                        "{}={}",
                        enc(k),
                        enc(&t.render_with(lookup, |v| v.to_string())?)
                    ))
                })
                .collect::<Result<Vec<_>, TemplateError>>()?
                .join("&");
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&q);
        }
        let body = match &self.body {
            Some(t) => match self.escape {
                BodyEscape::Json => t.render_with(lookup, json_escape)?,
                BodyEscape::Form => t.render_with(lookup, enc)?,
                BodyEscape::Raw => t.render_with(lookup, |v| v.to_string())?,
            },
            None => String::new(),
        };
        let mut headers = Vec::new();
        if self.body.is_some() {
            headers.push(("content-type".to_string(), self.cfg.content_type.clone()));
        }
        for (k, t) in &self.headers {
            headers.push((k.clone(), t.render_with(lookup, |v| v.to_string())?));
        }
        if let Some(s) = &self.cfg.sign {
            let signed = match &s.timestamp_header {
                Some(h) => {
                    headers.push((h.clone(), ts.clone()));
                    format!("{ts}\n{body}")
                }
                None => body.clone(),
            };
            headers.push((
                s.header.clone(),
                sign(&s.key, signed.as_bytes(), &s.encoding),
            ));
        }
        Ok(BuiltRequest {
            method: self.cfg.method.clone(),
            url,
            headers,
            body: body.into_bytes(),
        })
    }

    async fn send(&self, req: BuiltRequest) -> Result<(u16, String), SubmitError> {
        let uri: hyper::Uri = req
            .url
            .parse()
            .map_err(|e| SubmitError::Permanent(format!("bad gateway URL: {e}")))?;
        let host = uri
            .host()
            .ok_or_else(|| SubmitError::Permanent("gateway URL has no host".into()))?
            .to_string();
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| SubmitError::Transient(format!("connect {host}:{port}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let mut builder = hyper::Request::builder()
            .method(req.method.as_str())
            .uri(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
            .header(hyper::header::HOST, authority(&host, port, https))
            .header(hyper::header::USER_AGENT, "rexian-sms");
        for (k, v) in &req.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let request = builder
            .body(Full::new(Bytes::from(req.body)))
            .map_err(|e| SubmitError::Permanent(format!("bad request: {e}")))?;
        let response = match &self.tls {
            Some(connector) => {
                let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.clone())
                    .map_err(|e| SubmitError::Permanent(format!("bad TLS name {host}: {e}")))?;
                let stream = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| SubmitError::Transient(format!("TLS with {host}: {e}")))?;
                round_trip(TokioIo::new(stream), request).await?
            }
            None => round_trip(TokioIo::new(tcp), request).await?,
        };
        Ok(response)
    }

    fn classify(&self, status: u16, body: &str) -> Result<Submitted, SubmitError> {
        let snippet = mask_numbers(&body.chars().take(200).collect::<String>());
        if self.cfg.accept_status.contains(&status) {
            match &self.cfg.accept_body_contains {
                Some(want) if !body.contains(want.as_str()) => Err(SubmitError::Permanent(
                    format!("gateway answered {status} without {want:?}: {snippet}"),
                )),
                _ => Ok(Submitted { gateway_ref: None }),
            }
        } else if (400..500).contains(&status) && status != 408 && status != 429 {
            Err(SubmitError::Permanent(format!(
                "gateway refused with {status}: {snippet}"
            )))
        } else {
            Err(SubmitError::Transient(format!(
                "gateway answered {status}: {snippet}"
            )))
        }
    }
}

async fn round_trip<T>(
    io: T,
    request: hyper::Request<Full<Bytes>>,
) -> Result<(u16, String), SubmitError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| SubmitError::Transient(format!("HTTP handshake: {e}")))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let result = async {
        let resp = sender
            .send_request(request)
            .await
            .map_err(|e| SubmitError::Transient(format!("HTTP request: {e}")))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| SubmitError::Transient(format!("HTTP response body: {e}")))?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
    .await;
    driver.abort();
    result
}

impl SmsProvider for HttpGateway {
    fn name(&self) -> &'static str {
        "http"
    }

    fn submit<'a>(&'a self, msg: &'a OutgoingSms) -> SubmitFuture<'a> {
        Box::pin(async move {
            let req = self
                .build(msg, crate::store::unix_now())
                .map_err(|e| SubmitError::Permanent(e.to_string()))?;
            let timeout = Duration::from_secs(self.cfg.timeout_secs.max(1));
            let (status, body) = tokio::time::timeout(timeout, self.send(req))
                .await
                .map_err(|_| SubmitError::Transient(format!("no answer within {timeout:?}")))??;
            self.classify(status, &body)
        })
    }
}

/// Masks runs of seven or more digits, so a gateway that echoes the number does not put it
/// in a log or in `last_error`.
fn mask_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 7 {
            out.push_str(&crate::pii::mask(run));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

fn authority(host: &str, port: u16, https: bool) -> String {
    if (https && port == 443) || (!https && port == 80) {
        host.to_string()
    } else {
        format!("{host}:{port}")
    }
}

/// HMAC-SHA256 of `data` under `key`, hex or base64.
pub fn sign(key: &str, data: &[u8], encoding: &str) -> String {
    // A key of any length is accepted by HMAC, so this cannot fail.
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(data);
    let tag = mac.finalize().into_bytes();
    if encoding == "base64" {
        base64::engine::general_purpose::STANDARD.encode(tag)
    } else {
        hex::encode(tag)
    }
}

/// Escapes a value for the inside of a JSON string.
fn json_escape(v: &str) -> String {
    let quoted = serde_json::Value::String(v.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

fn tls_connector(ca_file: &std::path::Path) -> Result<tokio_rustls::TlsConnector, GatewayError> {
    let ca = |reason: String| GatewayError::Ca {
        path: ca_file.display().to_string(),
        reason,
    };
    let pem = std::fs::read(ca_file).map_err(|e| ca(e.to_string()))?;
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|e| ca(e.to_string()))?;
        roots.add(cert).map_err(|e| ca(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(ca("no certificates in it".into()));
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ca(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pii::Pii;
    use std::collections::BTreeMap;

    fn cfg(url: &str) -> HttpGatewayConfig {
        HttpGatewayConfig {
            url: url.into(),
            method: "GET".into(),
            query: BTreeMap::new(),
            body: None,
            content_type: "application/json".into(),
            headers: BTreeMap::new(),
            sign: None,
            accept_status: vec![200, 202],
            accept_body_contains: None,
            timeout_secs: 5,
            ca_file: "/nonexistent".into(),
        }
    }

    fn msg() -> OutgoingSms {
        OutgoingSms {
            id: "0b7c-1".into(),
            to: Pii::new("13800138000".into()),
            text: "回复1满意 & \"ok\"".into(),
        }
    }

    #[test]
    fn kannel_sendsms_query_is_percent_encoded() {
        let mut c = cfg("http://127.0.0.1:13013/cgi-bin/sendsms");
        c.query = BTreeMap::from([
            ("to".into(), "{to}".into()),
            ("text".into(), "{text}".into()),
            (
                "dlr-url".into(),
                "http://h/api/v1/sms/dlr?id={id}&type=%d".into(),
            ),
        ]);
        let r = HttpGateway::new(c).unwrap().build(&msg(), 1).unwrap();
        assert_eq!(
            r.url,
            "http://127.0.0.1:13013/cgi-bin/sendsms?dlr-url=http%3A%2F%2Fh%2Fapi%2Fv1%2Fsms%2Fdlr%3Fid%3D0b7c-1%26type%3D%25d\
             &text=%E5%9B%9E%E5%A4%8D1%E6%BB%A1%E6%84%8F%20%26%20%22ok%22&to=13800138000"
        );
        assert!(r.body.is_empty());
    }

    #[test]
    fn a_json_body_is_escaped_and_signed_with_the_timestamp() {
        let mut c = cfg("https://sms.example/v1/send");
        c.method = "POST".into();
        c.body = Some(r#"{"phone":"{to}","content":"{text}","outId":"{id}"}"#.into());
        c.sign = Some(super::super::config::SignConfig {
            key: "k".into(),
            header: "X-Sign".into(),
            timestamp_header: Some("X-Ts".into()),
            encoding: "hex".into(),
        });
        let gw = HttpGateway {
            tls: None,
            ..HttpGateway::new(HttpGatewayConfig {
                url: "http://sms.example/v1/send".into(),
                ..c.clone()
            })
            .unwrap()
        };
        let r = gw.build(&msg(), 1_700_000_000).unwrap();
        let body = String::from_utf8(r.body.clone()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["content"], "回复1满意 & \"ok\"");
        assert_eq!(v["outId"], "0b7c-1");
        let header = |n: &str| {
            r.headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(header("X-Ts").as_deref(), Some("1700000000"));
        assert_eq!(
            header("X-Sign").unwrap(),
            sign("k", format!("1700000000\n{body}").as_bytes(), "hex")
        );
        // RFC 4231 test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?", "hex"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn statuses_are_classified() {
        let gw = HttpGateway::new(cfg("http://x/")).unwrap();
        assert!(gw.classify(202, "0: Accepted").is_ok());
        assert!(matches!(
            gw.classify(400, "bad"),
            Err(SubmitError::Permanent(_))
        ));
        assert!(matches!(
            gw.classify(503, ""),
            Err(SubmitError::Transient(_))
        ));
        assert!(matches!(
            gw.classify(429, ""),
            Err(SubmitError::Transient(_))
        ));
    }
}
