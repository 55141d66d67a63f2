//! Sending one email over SMTP with lettre, and sorting the outcome into sent, retry, or give up.

use std::time::Duration;

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
    transport::smtp::authentication::Credentials,
};

use super::{EmailError, templates::Rendered};
use crate::secret::Secret;

/// How the SMTP connection is secured (`--smtp-tls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SmtpTls {
    /// Plain text (a local relay only).
    None,
    /// Plain connection upgraded with STARTTLS, required.
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

/// Where and how mail is sent: the `--smtp-*` settings and the sender.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// The server as a URL; takes precedence over host, port, TLS, user and password.
    pub url: Option<Secret>,
    /// The server's host.
    pub host: String,
    /// The server's port; unset, the usual one for `tls`.
    pub port: Option<u16>,
    /// How the connection is secured.
    pub tls: SmtpTls,
    /// The user to log in as (with `password`).
    pub user: Option<String>,
    /// The password of `user`.
    pub password: Option<Secret>,
    /// Longest one SMTP conversation may take.
    pub timeout: Duration,
    /// The sender, as given (checked when the client is built).
    pub from: String,
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server accepted the message; its answer.
    Sent(String),
    /// Worth retrying: the server is unreachable, timed out, or answered 4xx.
    Transient(String),
    /// Not worth retrying: the server answered 5xx, or the message cannot be built.
    Permanent(String),
}

/// An SMTP client built from the settings.
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Smtp {
    /// Builds the client; fails on settings that cannot work (bad URL, bad sender).
    pub fn from_settings(s: &SmtpSettings) -> Result<Self, EmailError> {
        let bad = |e: lettre::transport::smtp::Error| EmailError::Smtp(e.to_string());
        let mut builder = match &s.url {
            Some(url) => AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                .map_err(|_| {
                    EmailError::Smtp(
                        "--smtp-url / NOTIFY_SMTP_URL is not a valid SMTP URL: expected smtp://[user:password@]host[:port][?tls=required] or smtps://..."
                            .into(),
                    )
                })?,
            None => {
                let host = s.host.as_str();
                let (builder, port) = match s.tls {
                    SmtpTls::None => (
                        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
                        25,
                    ),
                    SmtpTls::Starttls => (
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(bad)?,
                        587,
                    ),
                    SmtpTls::Tls => (
                        AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(bad)?,
                        465,
                    ),
                };
                builder.port(s.port.unwrap_or(port))
            }
        };
        if let (Some(user), Some(password)) = (&s.user, &s.password) {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        let transport = builder.timeout(Some(s.timeout)).build();
        let from = s
            .from
            .parse()
            .map_err(|e| {
                EmailError::Smtp(format!(
                    "--email-from / NOTIFY_EMAIL_FROM is not a valid mailbox ({e}): expected an address, or Name <address>"
                ))
            })?;
        Ok(Self { transport, from })
    }

    /// Sends one rendered email to `to` and sorts the outcome.
    pub async fn send(&self, to: &str, mail: &Rendered, id: &str) -> Outcome {
        // The check contacts passed when stored; one stored before it existed fails here, once.
        let to: Mailbox = match super::address::recipient(to) {
            Ok(to) => to,
            Err(why) => return Outcome::Permanent(why),
        };
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            // Lets the receiving side (and tests) recognise a retransmission of the same mail.
            .header(NotificationId(id.to_owned()))
            .multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html.clone(),
            ));
        let message = match message {
            Ok(m) => m,
            Err(e) => return Outcome::Permanent(format!("cannot build the message: {e}")),
        };
        match self.transport.send(message).await {
            Ok(response) => Outcome::Sent(format!(
                "{} {}",
                response.code(),
                response.message().collect::<Vec<_>>().join(" ")
            )),
            Err(e) if e.is_permanent() => Outcome::Permanent(e.to_string()),
            // 4xx, timeouts, refused connections, TLS trouble: the server may recover.
            Err(e) => Outcome::Transient(e.to_string()),
        }
    }
}

/// The `X-Notification-Id` header: the log record's id.
#[derive(Debug, Clone)]
struct NotificationId(String);

impl lettre::message::header::Header for NotificationId {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("X-Notification-Id")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }

    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), self.0.clone())
    }
}
