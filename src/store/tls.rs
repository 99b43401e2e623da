//! TLS to PostgreSQL on rustls, as libpq's `sslmode` and `sslrootcert`
//! describe it, so that a URL written for `psql` means the same here.
//!
//! tokio-postgres knows `sslmode=disable|prefer|require` only and leaves
//! certificate checks to the connector; [`TlsSettings::split`] takes
//! libpq's TLS parameters off the URL (`verify-ca`, `verify-full`,
//! `sslrootcert`) and [`TlsSettings::connector`] builds a connector that
//! checks what the mode asks:
//!
//! | `sslmode` | TLS | certificate checked |
//! |---|---|---|
//! | `disable` | never | - |
//! | `prefer` (the default) | if the server offers it | no |
//! | `require` | always | no; against `sslrootcert` if given (as libpq) |
//! | `verify-ca` | always | signed by a trusted CA |
//! | `verify-full` | always | signed by a trusted CA, and for the host name |
//!
//! The trusted CAs are `sslrootcert`'s PEM file, or the system's bundle
//! (`sslrootcert=system`, or none given).
//!
//! The connector is a few lines on tokio-rustls (already in the tree for
//! reqwest) rather than the tokio-postgres-rustls crate, which would add a
//! second sha2 and still leave the modes above to be written. It offers no
//! channel binding (`tls-server-end-point` needs the certificate's
//! signature algorithm, which means parsing X.509): SCRAM authenticates
//! without it, over the channel checked as above.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::Socket;
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

use super::StoreError;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS when the server offers it, its certificate unchecked.
    Prefer,
    /// TLS, its certificate unchecked (unless a root certificate is given).
    Require,
    /// TLS with a certificate signed by a trusted CA, for any name.
    VerifyCa,
    /// TLS with a certificate signed by a trusted CA for the host's name.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<SslMode, StoreError> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(StoreError::Database(format!(
                    "invalid PostgreSQL URL: sslmode={other} (use disable, prefer, require, \
                     verify-ca or verify-full)"
                )));
            }
        })
    }
}

/// Where trusted CA certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCerts {
    /// The system's bundle.
    System,
    /// A PEM file (`sslrootcert=PATH`).
    File(PathBuf),
}

/// The TLS part of a PostgreSQL URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// How much TLS.
    pub mode: SslMode,
    /// `sslrootcert`, if given.
    pub root_cert: Option<RootCerts>,
}

impl TlsSettings {
    /// Takes `sslmode` and `sslrootcert` off `url`'s query; the URL left
    /// for tokio-postgres (with no `sslmode`: see
    /// [`TlsSettings::postgres_mode`]) and the settings.
    pub fn split(url: &str) -> Result<(String, TlsSettings), StoreError> {
        let mut settings = TlsSettings {
            mode: SslMode::Prefer,
            root_cert: None,
        };
        let Some((base, query)) = url.split_once('?') else {
            return Ok((url.to_owned(), settings));
        };
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslmode" => settings.mode = SslMode::parse(&percent_decode(value)?)?,
                "sslrootcert" => {
                    let value = percent_decode(value)?;
                    settings.root_cert = Some(if value == "system" {
                        RootCerts::System
                    } else {
                        RootCerts::File(PathBuf::from(value))
                    });
                }
                _ => kept.push(pair),
            }
        }
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        Ok((rest, settings))
    }

    /// The mode tokio-postgres negotiates with: whether TLS is tried and
    /// whether it is required (the checks are the connector's).
    pub fn postgres_mode(&self) -> PgSslMode {
        match self.mode {
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Prefer => PgSslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => PgSslMode::Require,
        }
    }

    /// A connector that checks the server's certificate as the mode asks;
    /// fails if the CA certificates cannot be read.
    pub fn connector(&self) -> Result<MakeRustls, StoreError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let check = match (self.mode, &self.root_cert) {
            (SslMode::VerifyFull, _) => Check::Full,
            (SslMode::VerifyCa, _) | (SslMode::Require, Some(_)) => Check::Ca,
            _ => Check::Nothing,
        };
        let verifier: Arc<dyn ServerCertVerifier> = match check {
            Check::Nothing => Arc::new(Unchecked {
                algorithms: provider.signature_verification_algorithms,
            }),
            Check::Ca | Check::Full => {
                let roots = Arc::new(self.roots()?);
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                    .build()
                    .map_err(|e| StoreError::Database(format!("PostgreSQL TLS: {e}")))?;
                if check == Check::Full {
                    webpki
                } else {
                    Arc::new(AnyName(webpki))
                }
            }
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::Database(format!("PostgreSQL TLS: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustls {
            config: Arc::new(config),
        })
    }

    fn roots(&self) -> Result<RootCertStore, StoreError> {
        let mut roots = RootCertStore::empty();
        match &self.root_cert {
            Some(RootCerts::File(path)) => {
                let unreadable = |why: String| {
                    StoreError::Database(format!(
                        "PostgreSQL TLS: cannot read the CA certificates in {} (sslrootcert): \
                         {why}",
                        path.display()
                    ))
                };
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                    .map_err(|e| unreadable(e.to_string()))?;
                if certs.is_empty() {
                    return Err(unreadable("no certificate in it".to_owned()));
                }
                for cert in certs {
                    roots.add(cert).map_err(|e| unreadable(e.to_string()))?;
                }
            }
            Some(RootCerts::System) | None => {
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
                if roots.is_empty() {
                    let errors: Vec<String> = found.errors.iter().map(|e| e.to_string()).collect();
                    return Err(StoreError::Database(format!(
                        "PostgreSQL TLS: no system CA certificates found ({}); give the CA's \
                         file as sslrootcert=PATH in the store URL",
                        errors.join("; ")
                    )));
                }
            }
        }
        Ok(roots)
    }
}

/// What the connector checks of the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Nothing,
    Ca,
    Full,
}

/// Decodes `%XX` escapes (a path in `sslrootcert` may hold any byte).
fn percent_decode(text: &str) -> Result<String, StoreError> {
    let invalid = || {
        StoreError::Database("invalid PostgreSQL URL: a bad %-escape in its TLS parameters".into())
    };
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3).ok_or_else(invalid)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| invalid())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| invalid())
}

/// `prefer` and `require`: any certificate, as libpq; the handshake's
/// signatures are still checked, so the session is with the holder of the
/// certificate's key.
#[derive(Debug)]
struct Unchecked {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Unchecked {
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted CA; the name it is for
/// does not matter (webpki checks the chain before the name, so a name
/// mismatch means the chain passed).
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Makes a TLS connector for each host connected to.
#[derive(Clone)]
pub struct MakeRustls {
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for MakeRustls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MakeRustls").finish_non_exhaustive()
    }
}

impl MakeTlsConnect<Socket> for MakeRustls {
    type Stream = RustlsStream;
    type TlsConnect = RustlsConnect;
    type Error = TlsError;

    fn make_tls_connect(&mut self, host: &str) -> Result<RustlsConnect, TlsError> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| TlsError(format!("{host:?} is no host name TLS can check: {e}")))?;
        Ok(RustlsConnect {
            config: Arc::clone(&self.config),
            name,
        })
    }
}

/// Connects one socket to one host over TLS.
pub struct RustlsConnect {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

/// Why a handshake failed: a [`TlsError`] when TLS itself refused (a
/// certificate, no common protocol), the I/O error when the network did.
type HandshakeError = Box<dyn std::error::Error + Send + Sync>;

impl TlsConnect<Socket> for RustlsConnect {
    type Stream = RustlsStream;
    type Error = HandshakeError;
    type Future = Pin<Box<dyn Future<Output = Result<RustlsStream, HandshakeError>> + Send>>;

    fn connect(self, stream: Socket) -> Self::Future {
        Box::pin(async move {
            tokio_rustls::TlsConnector::from(self.config)
                .connect(self.name, stream)
                .await
                .map(|stream| RustlsStream(Box::new(stream)))
                .map_err(|e| {
                    let refused = e
                        .get_ref()
                        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                        .map(|tls| TlsError(format!("TLS handshake refused: {tls}")));
                    match refused {
                        Some(refused) => refused.into(),
                        None => e.into(),
                    }
                })
        })
    }
}

/// Why TLS with PostgreSQL failed (a certificate refused, no common
/// protocol, a host name TLS cannot check): not worth retrying as it
/// stands.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(String);

/// A TLS connection to PostgreSQL.
pub struct RustlsStream(Box<tokio_rustls::client::TlsStream<Socket>>);

impl AsyncRead for RustlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for RustlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

impl TlsStream for RustlsStream {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_tls_parameters_are_taken_off_the_url() {
        let (rest, settings) = TlsSettings::split(
            "postgres://u:p@db:5432/a?connect_timeout=5&sslmode=verify-full&sslrootcert=/etc/ca%20dir/ca.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(
            rest,
            "postgres://u:p@db:5432/a?connect_timeout=5&application_name=x"
        );
        assert_eq!(settings.mode, SslMode::VerifyFull);
        assert_eq!(
            settings.root_cert,
            Some(RootCerts::File(PathBuf::from("/etc/ca dir/ca.pem")))
        );
        assert_eq!(settings.postgres_mode(), PgSslMode::Require);

        let (rest, settings) = TlsSettings::split("postgres://db/a?sslmode=disable").unwrap();
        assert_eq!(rest, "postgres://db/a");
        assert_eq!(settings.postgres_mode(), PgSslMode::Disable);

        let (rest, settings) = TlsSettings::split("postgres://db/a").unwrap();
        assert_eq!(rest, "postgres://db/a");
        assert_eq!(settings.mode, SslMode::Prefer, "libpq's default");

        let (_, settings) =
            TlsSettings::split("postgres://db/a?sslmode=verify-ca&sslrootcert=system").unwrap();
        assert_eq!(settings.root_cert, Some(RootCerts::System));
    }

    #[test]
    fn unknown_modes_and_bad_escapes_are_refused() {
        for url in [
            "postgres://db/a?sslmode=allow-anything",
            "postgres://db/a?sslrootcert=%zz",
        ] {
            assert!(
                matches!(TlsSettings::split(url), Err(StoreError::Database(_))),
                "{url}"
            );
        }
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused_by_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let settings = TlsSettings {
            mode: SslMode::VerifyFull,
            root_cert: Some(RootCerts::File(path.clone())),
        };
        match settings.connector() {
            Err(StoreError::Database(why)) => {
                assert!(why.contains(&path.display().to_string()), "{why}");
            }
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("a file without certificates was accepted"),
        }
    }
}
