//! Redis over TLS (`rediss://`) with a private CA: managed Redis services require TLS,
//! and a self-hosted one with its own CA must be trusted explicitly.

use redis::IntoConnectionInfo;

use crate::BusError;

/// A client for `target` that trusts `ca` (PEM) for the server's certificate, instead
/// of the system's roots.
pub(crate) fn client_with_ca(
    target: impl IntoConnectionInfo,
    ca: &[u8],
) -> Result<redis::Client, BusError> {
    install_crypto();
    Ok(redis::Client::build_with_tls(
        target,
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(ca.to_vec()),
        },
    )?)
}

/// rustls needs one process-wide crypto provider; ring is the one every other TLS user
/// of ours (sqlx, reqwest) already builds. (rustls now prefers aws-lc-rs, for
/// post-quantum key exchange, but that is a long C build for every first run.)
#[allow(deprecated)]
pub(crate) fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
