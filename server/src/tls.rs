//! TLS: the server's rustls configuration, made once at start from `--tls-cert-file`,
//! `--tls-key-file`, `--tls-ca-cert-file` and `--tls-auth-clients`, and [`TlsLayer`], the
//! per-connection state the [`Driver`](crate::driver::Driver) runs between the socket and the
//! session: ciphertext in, plaintext to the session, the session's plaintext sealed into
//! ciphertext out. rustls's `ServerConnection` is itself sans-I/O, so the layer touches no
//! socket either, and every backend gets TLS without a line of its own.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};

/// Whether TLS clients must present a certificate (Redis's `tls-auth-clients`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthClients {
    /// A certificate signed by the CA is required.
    Yes,
    /// None is asked for.
    No,
    /// One is asked for; a client without one is served, one with a bad one is not.
    Optional,
}

/// The TLS settings of the configuration.
#[derive(Clone, Debug)]
pub struct TlsSettings {
    /// The server's certificate chain (PEM).
    pub cert_file: PathBuf,
    /// The server's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// CA certificates that sign client certificates (PEM).
    pub ca_cert_file: Option<PathBuf>,
    /// Whether clients must present a certificate.
    pub auth_clients: AuthClients,
}

/// Why TLS could not be set up: one line naming the file and the flag.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(String);

fn certificates(path: &Path, flag: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let fail = |why: String| TlsError(format!("cannot load {flag} {}: {why}", path.display()));
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail(pem_error(&e)))?
        .collect::<Result<_, _>>()
        .map_err(|e| fail(pem_error(&e)))?;
    if certs.is_empty() {
        return Err(fail("no PEM certificate in it".into()));
    }
    Ok(certs)
}

fn pem_error(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        other => format!("not valid PEM ({other:?})"),
    }
}

/// Builds the server's TLS configuration (TLS 1.2 and 1.3), or says in one line what is wrong.
pub fn server_config(settings: &TlsSettings) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = certificates(&settings.cert_file, "--tls-cert-file")?;
    let key_path = &settings.key_file;
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| {
        let why = match e {
            rustls::pki_types::pem::Error::NoItemsFound => "no PEM private key in it".into(),
            e => pem_error(&e),
        };
        TlsError(format!("cannot load --tls-key-file {}: {why}", key_path.display()))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError(format!("TLS: {e}")))?;
    let builder = match settings.auth_clients {
        AuthClients::No => builder.with_no_client_auth(),
        wanted => {
            let Some(ca) = &settings.ca_cert_file else {
                return Err(TlsError(
                    "--tls-auth-clients yes|optional needs --tls-ca-cert-file (the CA that signs \
                     client certificates), or use --tls-auth-clients no"
                        .into(),
                ));
            };
            let mut roots = RootCertStore::empty();
            for cert in certificates(ca, "--tls-ca-cert-file")? {
                roots.add(cert).map_err(|e| {
                    TlsError(format!("cannot load --tls-ca-cert-file {}: {e}", ca.display()))
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if wanted == AuthClients::Optional {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(
                verifier.build().map_err(|e| TlsError(format!("TLS client verifier: {e}")))?,
            )
        }
    };
    let config = builder.with_single_cert(chain, key).map_err(|e| {
        TlsError(format!(
            "--tls-cert-file {} and --tls-key-file {} do not make a usable certificate: {e}",
            settings.cert_file.display(),
            key_path.display()
        ))
    })?;
    Ok(Arc::new(config))
}

/// What feeding ciphertext to a [`TlsLayer`] gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Opened {
    /// Fine: this plaintext (possibly none) arrived.
    Plain,
    /// The peer sent its close_notify: no more input.
    Closed,
    /// The peer broke the protocol (plain text on the TLS port, a failed handshake); an alert
    /// may be waiting in the output.
    Failed(String),
}

/// One connection's TLS state: rustls's sans-I/O connection plus the ciphertext not yet
/// written.
pub struct TlsLayer {
    conn: ServerConnection,
    /// Ciphertext for the peer; `out[written..]` is still to be written.
    out: Vec<u8>,
    written: usize,
    /// The handshake completed (counted once).
    established: bool,
    /// The close_notify was queued, or the connection failed: nothing more is sealed.
    closed: bool,
}

impl TlsLayer {
    /// A layer for a new connection under `config`.
    pub fn new(config: Arc<ServerConfig>) -> Result<TlsLayer, rustls::Error> {
        let mut conn = ServerConnection::new(config)?;
        // The driver bounds what it hands over (its high-water mark): rustls need not.
        conn.set_buffer_limit(None);
        Ok(TlsLayer { conn, out: Vec::new(), written: 0, established: false, closed: false })
    }

    /// Returns true if and only if the handshake has not completed yet.
    pub fn handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Feeds ciphertext read from the peer; the plaintext it carried is appended to `plain`.
    pub fn open(&mut self, mut input: &[u8], plain: &mut Vec<u8>) -> Opened {
        while !input.is_empty() {
            match self.conn.read_tls(&mut input) {
                Ok(0) => return Opened::Closed,
                Ok(_) => {}
                Err(e) => return Opened::Failed(e.to_string()),
            }
            let state = match self.conn.process_new_packets() {
                Ok(state) => state,
                Err(e) => {
                    self.take_ciphertext(); // the alert that says why
                    self.closed = true;
                    return Opened::Failed(e.to_string());
                }
            };
            let mut available = state.plaintext_bytes_to_read();
            if available > 0 {
                let start = plain.len();
                plain.resize(start + available, 0);
                while available > 0 {
                    let end = plain.len() - available;
                    match self.conn.reader().read(&mut plain[end..]) {
                        Ok(n) if n > 0 => available -= n,
                        _ => break,
                    }
                }
                plain.truncate(plain.len() - available);
            }
            if state.peer_has_closed() {
                self.take_ciphertext();
                return Opened::Closed;
            }
        }
        self.take_ciphertext(); // handshake messages, if any
        Opened::Plain
    }

    /// Returns true exactly once, when the handshake has just completed.
    pub fn newly_established(&mut self) -> bool {
        if self.established || self.conn.is_handshaking() {
            return false;
        }
        self.established = true;
        true
    }

    /// Seals `plain` into ciphertext for the peer (buffered by rustls until the handshake
    /// completes).
    pub fn seal(&mut self, plain: &[u8]) {
        if !plain.is_empty() && !self.closed {
            // A Vec-backed writer with no buffer limit takes everything.
            let _ = self.conn.writer().write_all(plain);
        }
        self.take_ciphertext();
    }

    /// Queues the close_notify alert (once).
    pub fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            self.conn.send_close_notify();
            self.take_ciphertext();
        }
    }

    fn take_ciphertext(&mut self) {
        while self.conn.wants_write() {
            if self.conn.write_tls(&mut self.out).is_err() {
                break;
            }
        }
    }

    /// The ciphertext to write next.
    pub fn output(&self) -> &[u8] {
        &self.out[self.written..]
    }

    /// The socket took `n` bytes of [`TlsLayer::output`]; returns true if and only if nothing
    /// is left to write.
    pub fn written(&mut self, n: usize) -> bool {
        self.written += n;
        if self.written == self.out.len() {
            // Kept for the next reply unless a burst made it large.
            if self.out.capacity() > 64 * 1024 {
                self.out = Vec::new();
            }
            self.out.clear();
            self.written = 0;
            return true;
        }
        if self.written >= 64 * 1024 && self.written * 2 >= self.out.len() {
            self.out.drain(..self.written);
            self.written = 0;
        }
        false
    }
}
