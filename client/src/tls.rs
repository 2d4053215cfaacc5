//! The client side of TLS and passwords, shared by the `client` and `loadtest` binaries:
//!
//! - [`Access`]: the flags `--user`, `--pass` (or `SWITCHBOARD_PASS`), `--tls`, `--cacert`,
//!   `--insecure`, declared once (clap) so both tools spell and explain them alike.
//! - [`tls_config`]: the rustls `ClientConfig` those flags ask for (the ring provider, TLS 1.2
//!   and 1.3, the CA file as the root store, or any certificate with `--insecure`).
//! - [`server_name`]: the name a server's certificate is checked against, from `host:port`.
//! - [`auth_args`] and [`auth_reply`]: the `AUTH [user] pass` request and what its reply means.
//!
//! Nothing here touches a socket: the blocking [`Client`](crate::Client) and the load
//! generator's non-blocking connections each run a `rustls::ClientConnection` their own way.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct};
use shared::Frame;

/// How to reach a server that asks for TLS or a password. Its `Debug` hides the password.
#[derive(Clone, Default, clap::Args)]
pub struct Access {
    /// Log in as this user (`AUTH USER PASS`); without it, `--pass` is the default user's.
    #[arg(long, global = true, requires = "pass")]
    pub user: Option<String>,
    /// Password, sent with AUTH on every connection. Prefer the SWITCHBOARD_PASS environment
    /// variable, which stays out of `ps`.
    #[arg(long, global = true, env = "SWITCHBOARD_PASS", hide_env_values = true)]
    pub pass: Option<String>,
    /// Speak TLS (the server's --tls-port), checking its certificate against --cacert.
    #[arg(long, global = true)]
    pub tls: bool,
    /// CA certificate (PEM) that signed the server's certificate.
    #[arg(long, global = true, value_name = "FILE", requires = "tls")]
    pub cacert: Option<PathBuf>,
    /// With --tls: accept any server certificate (testing only: no protection against a
    /// man in the middle).
    #[arg(long, global = true, requires = "tls")]
    pub insecure: bool,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("user", &self.user)
            .field("pass", &self.pass.as_ref().map(|_| "<hidden>"))
            .field("tls", &self.tls)
            .field("cacert", &self.cacert)
            .field("insecure", &self.insecure)
            .finish()
    }
}

impl Access {
    /// The TLS configuration these flags ask for, `None` without `--tls`; the error is one
    /// line naming the flag.
    pub fn tls_config(&self) -> io::Result<Option<Arc<ClientConfig>>> {
        if !self.tls {
            return Ok(None);
        }
        tls_config(self.cacert.as_deref(), self.insecure).map(Some)
    }
}

/// A TLS client configuration (TLS 1.2 and 1.3) that trusts the CA certificates in `cacert`
/// (PEM), or, with `insecure`, any certificate at all (for testing only: anyone in the middle
/// can read and change the traffic).
pub fn tls_config(cacert: Option<&Path>, insecure: bool) -> io::Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?;
    let config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let Some(path) = cacert else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "TLS needs --cacert FILE (the CA that signed the server's certificate), or \
                 --insecure",
            ));
        };
        let bad = |e: String| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("--cacert {}: {e}", path.display()))
        };
        let pem = |e: rustls::pki_types::pem::Error| match e {
            rustls::pki_types::pem::Error::Io(io) => bad(io.to_string()),
            other => bad(format!("not valid PEM ({other:?})")),
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(path).map_err(pem)? {
            roots.add(cert.map_err(pem)?).map_err(|e| bad(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(bad("no PEM certificate in it".into()));
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// The name the server's certificate must carry, from `host:port`, `[v6]:port` or a bare host:
/// an IP address or a DNS name.
pub fn server_name(addr: &str) -> io::Result<ServerName<'static>> {
    let host = match addr.rsplit_once(':') {
        // A bare IPv6 address has colons but no port.
        _ if addr.parse::<std::net::IpAddr>().is_ok() => addr,
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => host,
        _ => addr,
    };
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    ServerName::try_from(host.to_string()).map_err(|e| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("TLS server name {host:?}: {e}"))
    })
}

/// The arguments of `AUTH [user] password`.
pub fn auth_args<'a>(user: Option<&'a str>, password: &'a str) -> Vec<&'a str> {
    let mut args = vec!["AUTH"];
    args.extend(user);
    args.push(password);
    args
}

/// What the reply to AUTH means: `+OK`, or the server's refusal (`WRONGPASS ...`) as a
/// `PermissionDenied` error holding its text.
pub fn auth_reply(reply: Frame) -> io::Result<()> {
    match reply {
        Frame::Simple(ok) if ok == "OK" => Ok(()),
        Frame::Error(err) => Err(io::Error::new(io::ErrorKind::PermissionDenied, err)),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected reply to AUTH: {other:?}"),
        )),
    }
}

/// `--insecure`: accepts every server certificate (signatures are still checked, so the
/// handshake itself is sound; who is on the other end is not).
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_come_from_the_address() {
        let ip = |s: &str| matches!(server_name(s).unwrap(), ServerName::IpAddress(_));
        assert!(ip("127.0.0.1:6380") && ip("[::1]:6380") && ip("::1") && ip("10.0.0.1"));
        assert_eq!(server_name("server:6380").unwrap(), ServerName::try_from("server").unwrap());
        assert_eq!(server_name("localhost").unwrap(), ServerName::try_from("localhost").unwrap());
        assert!(server_name("bad name:1").is_err());
    }

    #[test]
    fn tls_without_a_ca_or_with_a_missing_one_is_one_line() {
        let err = tls_config(None, false).unwrap_err().to_string();
        assert_eq!(
            err,
            "TLS needs --cacert FILE (the CA that signed the server's certificate), or --insecure"
        );
        let err = tls_config(Some(Path::new("/nonexistent/ca.pem")), false).unwrap_err();
        assert!(err.to_string().starts_with("--cacert /nonexistent/ca.pem: No such file"), "{err}");
        assert!(tls_config(None, true).is_ok());
    }

    #[test]
    fn auth_replies_are_told_apart() {
        assert_eq!(auth_args(Some("u"), "p"), ["AUTH", "u", "p"]);
        assert_eq!(auth_args(None, "p"), ["AUTH", "p"]);
        assert!(auth_reply(Frame::Simple("OK".into())).is_ok());
        let wrong = auth_reply(Frame::Error("WRONGPASS invalid".into())).unwrap_err();
        assert_eq!(
            (wrong.kind(), wrong.to_string()),
            (io::ErrorKind::PermissionDenied, "WRONGPASS invalid".into())
        );
        assert_eq!(auth_reply(Frame::Integer(1)).unwrap_err().kind(), io::ErrorKind::InvalidData);
    }
}
