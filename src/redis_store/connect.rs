//! How to open connections to a data node: the URL's scheme, database and credentials, the
//! separate username and password settings, and the TLS material (private CA, client cert).

use std::path::{Path, PathBuf};

use redis::{
    Client, ClientTlsConfig, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, TlsCertificates,
};

use super::StoreError;

/// The TLS and auth settings, as given.
#[derive(Debug, Clone, Default)]
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
