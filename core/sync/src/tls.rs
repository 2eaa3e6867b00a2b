//! The TLS configuration of every connection to the platform: rustls on *ring*, with only the algorithms
//! the platform needs (docs/adr/0018-tls-algorithms.md).
//!
//! - Key exchange: NIST P-256 (`secp256r1`, the group TLS 1.3 makes mandatory to implement) and P-384.
//! - Cipher suites: AES-GCM only — TLS 1.3 `TLS_AES_128_GCM_SHA256` / `TLS_AES_256_GCM_SHA384`, TLS 1.2
//!   ECDHE (ECDSA or RSA certificates) with AES-GCM. No ChaCha20-Poly1305: every phone CPU this app runs
//!   on has AES instructions.
//! - Certificate signatures: ECDSA (P-256, P-384) and RSA (PKCS#1 v1.5, PSS), what the Web PKI and the
//!   government CAs issue. No Ed25519.
//! - No client certificates: the device authenticates with its own signed requests, so the key loader
//!   refuses every key.
//! - Roots: the Mozilla root store (`webpki-roots`), as before.
//!
//! rustls's ready-made *ring* provider links X25519, Ed25519, ChaCha20-Poly1305 and RSA *signing* into
//! the library whether used or not (≈ 0.2 MB of the shipped library); naming the parts here leaves the
//! rest out (measured in docs/benchmarks.md, "FFI library size").

use std::sync::Arc;

use rustls::crypto::ring::{cipher_suite, kx_group};
use rustls::crypto::{CryptoProvider, GetRandomFailed, KeyProvider, SecureRandom, WebPkiSupportedAlgorithms};
use rustls::pki_types::PrivateKeyDer;
use rustls::sign::SigningKey;
use rustls::SignatureScheme;
use webpki::ring as alg;

/// Certificate and handshake signature algorithms accepted from servers.
static SIGNATURE_ALGORITHMS: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[
        alg::ECDSA_P256_SHA256,
        alg::ECDSA_P256_SHA384,
        alg::ECDSA_P384_SHA256,
        alg::ECDSA_P384_SHA384,
        alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
        alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
        alg::RSA_PKCS1_2048_8192_SHA256,
        alg::RSA_PKCS1_2048_8192_SHA384,
        alg::RSA_PKCS1_2048_8192_SHA512,
        alg::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
        alg::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
        alg::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
    ],
    mapping: &[
        (SignatureScheme::ECDSA_NISTP384_SHA384, &[alg::ECDSA_P384_SHA384, alg::ECDSA_P256_SHA384]),
        (SignatureScheme::ECDSA_NISTP256_SHA256, &[alg::ECDSA_P256_SHA256, alg::ECDSA_P384_SHA256]),
        (SignatureScheme::RSA_PSS_SHA512, &[alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY]),
        (SignatureScheme::RSA_PSS_SHA384, &[alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY]),
        (SignatureScheme::RSA_PSS_SHA256, &[alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY]),
        (SignatureScheme::RSA_PKCS1_SHA512, &[alg::RSA_PKCS1_2048_8192_SHA512]),
        (SignatureScheme::RSA_PKCS1_SHA384, &[alg::RSA_PKCS1_2048_8192_SHA384]),
        (SignatureScheme::RSA_PKCS1_SHA256, &[alg::RSA_PKCS1_2048_8192_SHA256]),
    ],
};

/// Randomness for the handshake, from the operating system (as *ring*'s provider does).
#[derive(Debug)]
struct OsRandom;

impl SecureRandom for OsRandom {
    fn fill(&self, buf: &mut [u8]) -> std::result::Result<(), GetRandomFailed> {
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), buf).map_err(|_| GetRandomFailed)
    }
}

/// The device never presents a client certificate: no private key is ever loaded into TLS.
#[derive(Debug)]
struct NoClientKeys;

impl KeyProvider for NoClientKeys {
    fn load_private_key(
        &self,
        _key: PrivateKeyDer<'static>,
    ) -> std::result::Result<Arc<dyn SigningKey>, rustls::Error> {
        Err(rustls::Error::General("client certificates are not used".into()))
    }
}

/// The crypto provider described in the module documentation.
pub fn provider() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: vec![
            cipher_suite::TLS13_AES_128_GCM_SHA256,
            cipher_suite::TLS13_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ],
        kx_groups: vec![kx_group::SECP256R1, kx_group::SECP384R1],
        signature_verification_algorithms: SIGNATURE_ALGORITHMS,
        secure_random: &OsRandom,
        key_provider: &NoClientKeys,
    }
}

/// The client configuration for platform connections. Fails only if the provider above named no cipher
/// suite for a protocol version (a build mistake the tests catch), never at the server's choice.
pub fn client_config() -> crate::Result<rustls::ClientConfig> {
    client_config_with_roots(rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() })
}

/// A reqwest client builder with [`client_config`]: the only way the core (and its tools) make HTTP
/// clients. (reqwest is built without a provider of its own: `Client::new()` would panic.)
pub fn client_builder() -> crate::Result<reqwest::ClientBuilder> {
    Ok(reqwest::Client::builder().use_preconfigured_tls(client_config()?))
}

fn client_config_with_roots(roots: rustls::RootCertStore) -> crate::Result<rustls::ClientConfig> {
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| crate::Error::Internal(format!("tls configuration: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    //! Real handshakes in memory (rustls client ↔ rustls server, bytes shuttled between them) against a
    //! test root and server certificate (`tls-test/`, made with openssl: P-256 root and leaf for
    //! `platform.test`, and the same leaf signed by an Ed25519 root).
    use super::*;
    use rustls::crypto::ring as full;
    use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer, ServerName};

    const ROOT: &[u8] = include_bytes!("tls-test/ca.der");
    const LEAF: &[u8] = include_bytes!("tls-test/leaf.der");
    const LEAF_KEY: &[u8] = include_bytes!("tls-test/leaf.key.der");
    const ED_ROOT: &[u8] = include_bytes!("tls-test/edca.der");
    const ED_LEAF: &[u8] = include_bytes!("tls-test/edleaf.der");

    fn roots(der: &'static [u8]) -> rustls::RootCertStore {
        let mut r = rustls::RootCertStore::empty();
        r.add(CertificateDer::from(der)).unwrap();
        r
    }

    /// A server with *ring*'s full provider cut down to the given suites, groups and versions.
    fn server(
        leaf: &'static [u8],
        suites: Vec<rustls::SupportedCipherSuite>,
        groups: Vec<&'static dyn rustls::crypto::SupportedKxGroup>,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> rustls::ServerConnection {
        let p = CryptoProvider { cipher_suites: suites, kx_groups: groups, ..full::default_provider() };
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(LEAF_KEY));
        let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(p))
            .with_protocol_versions(versions)
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![CertificateDer::from(leaf)], key)
            .unwrap();
        rustls::ServerConnection::new(Arc::new(cfg)).unwrap()
    }

    fn default_server() -> rustls::ServerConnection {
        server(LEAF, full::ALL_CIPHER_SUITES.to_vec(), full::ALL_KX_GROUPS.to_vec(), rustls::ALL_VERSIONS)
    }

    /// Runs the handshake to its end; returns the negotiated suite or the first error of either side.
    fn handshake(
        cfg: rustls::ClientConfig,
        mut server: rustls::ServerConnection,
    ) -> Result<rustls::SupportedCipherSuite, rustls::Error> {
        let name = ServerName::try_from("platform.test").unwrap();
        let mut client = rustls::ClientConnection::new(Arc::new(cfg), name)?;
        for _ in 0..20 {
            if !client.is_handshaking() && !server.is_handshaking() {
                return Ok(client.negotiated_cipher_suite().unwrap());
            }
            let mut buf = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut buf).unwrap();
            }
            let mut rd = &buf[..];
            while !rd.is_empty() {
                server.read_tls(&mut rd).unwrap();
            }
            server.process_new_packets()?;
            let mut buf = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut buf).unwrap();
            }
            let mut rd = &buf[..];
            while !rd.is_empty() {
                client.read_tls(&mut rd).unwrap();
            }
            client.process_new_packets()?;
        }
        panic!("handshake did not finish")
    }

    #[test]
    fn the_platform_handshake_works_with_tls13_and_tls12() {
        let cfg = || client_config_with_roots(roots(ROOT)).unwrap();
        let suite = handshake(cfg(), default_server()).unwrap();
        assert_eq!(suite.version(), &rustls::version::TLS13);
        assert_eq!(suite.suite(), rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
        // A TLS 1.2-only platform gateway: ECDHE-ECDSA with AES-GCM.
        let s12 =
            server(LEAF, full::ALL_CIPHER_SUITES.to_vec(), full::ALL_KX_GROUPS.to_vec(), &[&rustls::version::TLS12]);
        let suite = handshake(cfg(), s12).unwrap();
        assert_eq!(suite.suite(), rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256);
        // The shipped configuration (Mozilla roots) builds and does not trust the test root.
        let err = handshake(client_config().unwrap(), default_server()).unwrap_err();
        assert!(matches!(err, rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)), "{err:?}");
    }

    #[test]
    fn a_server_that_offers_only_what_was_left_out_gets_no_connection() {
        let cfg = || client_config_with_roots(roots(ROOT)).unwrap();
        // ChaCha20-Poly1305 only.
        let chacha = vec![full::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256];
        let err = handshake(cfg(), server(LEAF, chacha, full::ALL_KX_GROUPS.to_vec(), rustls::ALL_VERSIONS));
        assert!(err.is_err(), "{err:?}");
        // X25519 key exchange only.
        let x25519 = vec![full::kx_group::X25519];
        let err = handshake(cfg(), server(LEAF, full::ALL_CIPHER_SUITES.to_vec(), x25519, rustls::ALL_VERSIONS));
        assert!(err.is_err(), "{err:?}");
        // A certificate signed with Ed25519 (by a root the client trusts).
        let err = handshake(
            client_config_with_roots(roots(ED_ROOT)).unwrap(),
            server(ED_LEAF, full::ALL_CIPHER_SUITES.to_vec(), full::ALL_KX_GROUPS.to_vec(), rustls::ALL_VERSIONS),
        )
        .unwrap_err();
        assert!(matches!(err, rustls::Error::InvalidCertificate(_)), "{err:?}");
        // The same server with ring's full provider on the client side connects: the refusals above come
        // from the narrower provider, not from broken test certificates.
        let full_client = rustls::ClientConfig::builder_with_provider(Arc::new(full::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots(ED_ROOT))
            .with_no_client_auth();
        let ed_server =
            server(ED_LEAF, full::ALL_CIPHER_SUITES.to_vec(), full::ALL_KX_GROUPS.to_vec(), rustls::ALL_VERSIONS);
        handshake(full_client, ed_server).unwrap();
    }

    #[test]
    fn no_client_key_is_ever_loaded() {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(LEAF_KEY));
        assert!(provider().key_provider.load_private_key(key).is_err());
        let mut b = [0u8; 32];
        provider().secure_random.fill(&mut b).unwrap();
        assert_ne!(b, [0u8; 32]);
    }
}
