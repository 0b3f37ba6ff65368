//! HTTPS for a console: a listener that completes TLS handshakes (several at once, each
//! bounded in time, so a slow or silent client holds up nobody) before axum sees a connection,
//! the peer address both listeners report to the handlers, and the rule both services'
//! configs follow (`console_certificate` with `console_key`, or plain HTTP on loopback only).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
pub use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;

/// The longest a client gets to complete its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The browser's address, whichever listener it came through.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

impl Connected<IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

/// The TLS acceptor for a certificate chain and key in PEM files.
pub fn acceptor(certificate: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    let chain = CertificateDer::pem_file_iter(certificate)
        .with_context(|| format!("reading console_certificate {}", certificate.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("console_certificate {} is not PEM", certificate.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading console_key {} (a PEM private key)", key.display()))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the console certificate and key do not belong together")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The console's TLS from its config: both `console_certificate` and `console_key`, or
/// neither (then plain HTTP, refused on anything but a loopback address; an empty `listen`
/// means the console is off).
pub fn from_config(
    listen: &str,
    certificate: Option<&Path>,
    key: Option<&Path>,
) -> anyhow::Result<Option<TlsAcceptor>> {
    let listen = listen.trim();
    match (certificate, key) {
        (Some(certificate), Some(key)) => Ok(Some(acceptor(certificate, key)?)),
        (None, None) => {
            let loopback = listen.is_empty()
                || listen
                    .parse::<SocketAddr>()
                    .is_ok_and(|address| address.ip().is_loopback());
            if !loopback {
                anyhow::bail!(
                    "console_listen {listen} is not a loopback address: serving passwords over plain HTTP there is refused; set console_certificate and console_key for HTTPS, or listen on 127.0.0.1"
                );
            }
            Ok(None)
        }
        _ => anyhow::bail!("console_certificate and console_key go together: set both or neither"),
    }
}

/// Serves a console's routes on `listener` until `cancel` resolves: over TLS with `tls`, else
/// plain HTTP. The handlers see the browser's address as [`Peer`].
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: axum::Router,
    cancel: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let app = router.into_make_service_with_connect_info::<Peer>();
    let served = match tls {
        Some(acceptor) => {
            axum::serve(TlsListener::new(listener, acceptor), app)
                .with_graceful_shutdown(cancel)
                .await
        }
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(cancel)
                .await
        }
    };
    if let Err(error) = served {
        tracing::error!(%error, "console listener failed");
    }
}

/// A TCP listener whose connections are served once their TLS handshake is done.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> Self {
        Self {
            tcp,
            acceptor,
            handshakes: JoinSet::new(),
        }
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                accepted = self.tcp.accept() => match accepted {
                    Ok((stream, address)) => {
                        let acceptor = self.acceptor.clone();
                        self.handshakes.spawn(async move {
                            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                                Ok(Ok(tls)) => Some((tls, address)),
                                Ok(Err(error)) => {
                                    tracing::debug!(%address, %error, "console TLS handshake failed");
                                    None
                                }
                                Err(_) => None,
                            }
                        });
                    }
                    // Out of file descriptors and the like: wait a little, as axum does.
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                },
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    if let Ok(Some(connection)) = done {
                        return connection;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
