//! Admitting a connection: the checks a new connection passes (protected mode, then the client
//! limit), its entry in the registry, and the [`Session`] that serves it. Above both
//! [`crate::context`] (which keeps the registry) and [`crate::session`] (which keeps the
//! context), so that neither imports the other back.

use std::net::TcpStream;
use std::sync::Arc;

use crate::acl;
use crate::clients::Endpoints;
use crate::context::ServerContext;
use crate::mailbox::Wake;
use crate::refusal::Refused;
use crate::session::Session;

impl ServerContext {
    /// Admits a new connection whose owner is woken through `waker`: a [`Session`] to drive,
    /// or a refusal when the server is full. `stream` is the accepted socket: protected mode
    /// looks at its peer's address (only when it is on and the default user has no password),
    /// and its addresses are what `CLIENT LIST` shows.
    pub fn open_session(
        self: &Arc<Self>,
        waker: Arc<dyn Wake>,
        stream: &TcpStream,
    ) -> Result<Session, Refused> {
        if self.config.protected_mode && self.acl.default_nopass() {
            let peer = stream.peer_addr().map(|a| a.ip());
            if peer.is_ok_and(|ip| acl::protected_mode_refuses(true, true, ip)) {
                return Err(Refused::ProtectedMode);
            }
        }
        let tls = self
            .tls_port
            .is_some_and(|port| stream.local_addr().is_ok_and(|local| local.port() == port));
        self.open(waker, tls, Some(Endpoints::of(stream)))
    }

    /// [`ServerContext::open_session`] with no socket to look at (in-memory tests): admitted
    /// unless the server is full.
    #[cfg(test)]
    pub(crate) fn open_session_unchecked(
        self: &Arc<Self>,
        waker: Arc<dyn Wake>,
    ) -> Result<Session, Refused> {
        self.open(waker, false, None)
    }

    /// Admits a connection, on the TLS port if `tls`, unless the server is full.
    pub(crate) fn open(
        self: &Arc<Self>,
        waker: Arc<dyn Wake>,
        tls: bool,
        endpoints: Option<Endpoints>,
    ) -> Result<Session, Refused> {
        let client = self.register(waker, endpoints)?;
        Ok(Session::new(self.clone(), client, tls))
    }
}
