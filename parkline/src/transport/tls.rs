//! SIP over TLS (RFC 3261 §26.2, rustls): the server configuration a
//! `tls:` listener uses, from the `[tls]` PEM files. TLS 1.2 and 1.3 only
//! (1.3 only with `min_version = "1.3"`). With `client_ca` set, a client may
//! present a certificate; one that does not chain to those CAs is refused
//! in the handshake, and clients without one (phones) are accepted.

use crate::config::TlsSection;
use anyhow::{anyhow, Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// The trunk whose `tls_name` the (verified) client certificate is valid
/// for, if any.
pub fn trunk_for<'t>(
    cert: &CertificateDer<'_>,
    trunks: &'t [accounts::Trunk],
) -> Option<&'t accounts::Trunk> {
    let cert = webpki::EndEntityCert::try_from(cert).ok()?;
    trunks.iter().find(|t| {
        t.tls_name
            .as_deref()
            .and_then(|n| rustls::pki_types::ServerName::try_from(n).ok())
            .is_some_and(|name| cert.verify_is_valid_for_subject_name(&name).is_ok())
    })
}

/// The acceptor for `tls:` listeners.
pub fn acceptor(section: &TlsSection) -> Result<TlsAcceptor> {
    let (Some(cert), Some(key)) = (&section.certificate, &section.private_key) else {
        return Err(anyhow!(
            "tls.certificate and tls.private_key are needed for a tls: listener"
        ));
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert.get_ref())
        .and_then(|i| i.collect::<Result<_, _>>())
        .with_context(|| format!("cannot read certificates from '{}'", cert.get_ref()))?;
    if chain.is_empty() {
        return Err(anyhow!("'{}' holds no certificate", cert.get_ref()));
    }
    let key = PrivateKeyDer::from_pem_file(key.get_ref())
        .with_context(|| format!("cannot read a private key from '{}'", key.get_ref()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] =
        match section.min_version.as_ref().map(|v| v.get_ref().as_str()) {
            Some("1.3") => &[&rustls::version::TLS13],
            _ => &[&rustls::version::TLS13, &rustls::version::TLS12],
        };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .context("TLS versions")?;
    let builder = match &section.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca.get_ref())
                .with_context(|| format!("cannot read client CAs from '{}'", ca.get_ref()))?
            {
                let c = c.with_context(|| format!("bad certificate in '{}'", ca.get_ref()))?;
                roots
                    .add(c)
                    .with_context(|| format!("unusable CA certificate in '{}'", ca.get_ref()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .context("client certificate verifier")?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(chain, key)
        .context("the TLS certificate does not match its private key")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
