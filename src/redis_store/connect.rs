//! How to open connections to a data node: the URL's scheme, database and credentials, the
//! separate username and password settings, and the TLS material (private CA, client cert).

use std::{
    fmt,
    path::{Path, PathBuf},
};

use redis::{
    Client, ClientTlsConfig, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, TlsCertificates,
};

use super::StoreError;

/// The TLS and auth settings, as given. Its `Debug` never shows the password.
#[derive(Clone, Default)]
pub struct Credentials {
    /// ACL username, instead of the URL's userinfo.
    pub username: Option<String>,
    /// Password, instead of the URL's userinfo.
    pub password: Option<String>,
    /// PEM file of a private CA to trust (`rediss://` only).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate for mutual TLS.
    pub client_cert: Option<PathBuf>,
    /// PEM key of the client certificate.
    pub client_key: Option<PathBuf>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .finish()
    }
}

/// `url` with its userinfo (`user:password@`) replaced by `***@`, for `Debug` output.
pub(super) fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

/// Everything but the address needed to open a connection to a data node.
#[derive(Clone)]
pub(super) struct NodeTemplate {
    info: ConnectionInfo,
    tls: Option<TlsCertificates>,
}

fn config(setting: &'static str, message: impl Into<String>) -> StoreError {
    StoreError::Config {
        setting,
        message: message.into(),
    }
}

fn read_pem(path: &Path, setting: &'static str) -> Result<Vec<u8>, StoreError> {
    std::fs::read(path).map_err(|e| config(setting, format!("cannot read {}: {e}", path.display())))
}

impl NodeTemplate {
    /// Reads `url` (its host is where a standalone Redis is; with Sentinel only its scheme,
    /// userinfo and database count) and the credentials.
    pub(super) fn new(url: &str, creds: &Credentials) -> Result<Self, StoreError> {
        const URL: &str = "--redis-url / NOTIFY_REDIS_URL";
        // The parser's message never repeats the URL, so no password leaks through it.
        let mut info = url
            .into_connection_info()
            .map_err(|e| config(URL, format!("not a redis:// or rediss:// URL: {e}")))?;
        let mut redis = info.redis_settings().clone();
        if let Some(user) = &creds.username {
            redis = redis.set_username(user);
        }
        if let Some(password) = &creds.password {
            redis = redis.set_password(password);
        }
        info = info.set_redis_settings(redis);
        let is_tls = matches!(info.addr(), ConnectionAddr::TcpTls { .. });
        let wants_tls = creds.ca_file.is_some() || creds.client_cert.is_some();
        if wants_tls && !is_tls {
            return Err(config(
                URL,
                "--redis-ca-file / --redis-client-cert need a rediss:// URL; the relay never falls back to plain text",
            ));
        }
        let client_tls = match (&creds.client_cert, &creds.client_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(ClientTlsConfig {
                client_cert: read_pem(cert, "--redis-client-cert / NOTIFY_REDIS_CLIENT_CERT")?,
                client_key: read_pem(key, "--redis-client-key / NOTIFY_REDIS_CLIENT_KEY")?,
            }),
            _ => {
                return Err(config(
                    "--redis-client-cert / NOTIFY_REDIS_CLIENT_CERT and --redis-client-key / NOTIFY_REDIS_CLIENT_KEY",
                    "mutual TLS needs both the certificate and its key",
                ));
            }
        };
        let root_cert = creds
            .ca_file
            .as_deref()
            .map(|p| read_pem(p, "--redis-ca-file / NOTIFY_REDIS_CA_FILE"))
            .transpose()?;
        let tls = is_tls.then_some(TlsCertificates {
            client_tls,
            root_cert,
        });
        let template = Self { info, tls };
        // Fail now on unreadable PEM rather than at the first connection.
        template.client_for(None)?;
        Ok(template)
    }

    /// The URL's connection settings (auth, database, TLS mode) for the node at `host:port`.
    pub(super) fn info_for(&self, host: &str, port: u16) -> ConnectionInfo {
        self.info.clone().set_addr(match &self.tls {
            Some(_) => ConnectionAddr::TcpTls {
                host: host.to_owned(),
                port,
                insecure: false,
                tls_params: None,
            },
            None => ConnectionAddr::Tcp(host.to_owned(), port),
        })
    }

    /// The TLS material, when the URL is `rediss://`.
    pub(super) fn tls(&self) -> Option<TlsCertificates> {
        self.tls.clone()
    }

    /// A client for the node at `addr`, or at the URL's own address when `None`.
    pub(super) fn client_for(&self, addr: Option<(&str, u16)>) -> Result<Client, StoreError> {
        let info = match addr {
            Some((host, port)) => self.info_for(host, port),
            None => self.info.clone(),
        };
        let client = match &self.tls {
            Some(certs) => Client::build_with_tls(info, certs.clone()),
            None => Client::open(info),
        };
        client.map_err(|e| {
            config(
                "--redis-ca-file / NOTIFY_REDIS_CA_FILE, --redis-client-cert / NOTIFY_REDIS_CLIENT_CERT, --redis-client-key / NOTIFY_REDIS_CLIENT_KEY",
                format!("unusable TLS material: {e}"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_a_password() {
        let credentials = Credentials {
            username: Some("relay".into()),
            password: Some("hunter2-password".into()),
            ..Credentials::default()
        };
        let shown = format!("{credentials:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("relay"), "{shown}");
        assert_eq!(
            redacted("rediss://user:hunter2@redis.example:6380/0"),
            "rediss://***@redis.example:6380/0"
        );
        assert_eq!(redacted("redis://:p@ss@host/1"), "redis://***@host/1");
        assert_eq!(redacted("redis://host:6379"), "redis://host:6379");
    }
}
