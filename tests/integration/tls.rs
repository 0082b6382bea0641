//! TLS towards GWS: a real TLS server on 127.0.0.1 (a test CA and a server certificate made
//! with rcgen, served by tokio-rustls in front of the simulator) and the real client.
//! Verification is on by default, an extra CA file is trusted, and turning verification off
//! works but is logged at WARN.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gws_botd::gws::{Credentials, Error, TlsOptions, Transport};
use gws_botd::sim::Sim;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use secrecy::SecretString;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::capture::Capture;
use crate::support::{Harness, RULES, say, sim_config, wait_until};

/// The warning `gws.danger_accept_invalid_certs = true` must produce.
const DANGER_WARNING: &str = "TLS CERTIFICATE VERIFICATION IS OFF";

/// A test CA (its PEM in a file, as an operator would give it) and a server certificate for
/// 127.0.0.1 signed by it.
struct Pki {
    dir: PathBuf,
    ca_file: PathBuf,
    server: Arc<ServerConfig>,
    /// TLS handshakes the client broke off (it did not trust the certificate).
    refused: Arc<AtomicUsize>,
}

impl Pki {
    fn new() -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "gws-botd test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);

        let server_key = KeyPair::generate().unwrap();
        let mut server = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        server
            .distinguished_name
            .push(DnType::CommonName, "gws.test");
        let server_cert = server.signed_by(&server_key, &issuer).unwrap();

        let dir = std::env::temp_dir().join(format!("gws-botd-tls-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).unwrap();

        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let chain: Vec<CertificateDer<'static>> = vec![server_cert.der().clone()];
        let config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        Pki {
            dir,
            ca_file,
            server: Arc::new(config),
            refused: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Terminate TLS on a fresh 127.0.0.1 port and pass the plain bytes on to `backend`.
    /// Returns the `https://` API root. The proxy lives as long as the runtime.
    fn serve(&self, backend: SocketAddr) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let listener = TcpListener::from_std(listener).unwrap();
        let acceptor = TlsAcceptor::from(self.server.clone());
        let refused = self.refused.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, refused) = (acceptor.clone(), refused.clone());
                tokio::spawn(async move {
                    // A client that rejects the certificate ends the handshake.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        refused.fetch_add(1, Ordering::SeqCst);
                        return;
                    };
                    let Ok(mut plain) = TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        format!("https://{addr}/api/v2")
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn transport(api_url: &str, tls: &TlsOptions) -> Result<Transport, Error> {
    let credentials = Credentials {
        username: "bot01".into(),
        password: SecretString::from("bot-secret".to_owned()),
    };
    Transport::new(api_url, credentials, tls, Duration::from_secs(5))
}

async fn sim() -> Sim {
    Sim::start(sim_config(), "127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator starts")
}

#[tokio::test]
async fn an_unknown_ca_is_refused_with_a_clear_certificate_error() {
    let sim = sim().await;
    let pki = Pki::new();
    let url = pki.serve(sim.addr());

    let err = transport(&url, &TlsOptions::default())
        .unwrap()
        .get_me()
        .await
        .expect_err("a server certificate from an unknown CA must be refused");
    let text = err.to_string();
    // Refused in the TLS handshake: nothing reached GWS, so it is safe to send again.
    assert!(matches!(err, Error::Unsent(_)), "{err:?}");
    assert!(text.contains("certificate"), "{text}");
    assert!(text.contains("UnknownIssuer"), "{text}");
    assert!(
        text.contains("gws.tls_ca_file"),
        "the error says how to fix it: {text}"
    );
    assert!(
        sim.control().requests().is_empty(),
        "nothing reached GWS over the untrusted connection"
    );
}

#[tokio::test]
async fn the_extra_ca_file_is_trusted() {
    let sim = sim().await;
    let pki = Pki::new();
    let url = pki.serve(sim.addr());
    let tls = TlsOptions {
        extra_ca: Some(pki.ca_file.clone()),
        danger_accept_invalid_certs: false,
    };

    let me = transport(&url, &tls).unwrap().get_me().await.unwrap();
    assert_eq!(me.user_name, "bot01");
    assert_eq!(sim.control().requests().len(), 1);
}

#[tokio::test]
async fn a_ca_file_that_is_not_pem_is_a_setup_error() {
    let pki = Pki::new();
    std::fs::write(&pki.ca_file, "not a certificate").unwrap();
    let tls = TlsOptions {
        extra_ca: Some(pki.ca_file.clone()),
        danger_accept_invalid_certs: false,
    };
    let err = transport("https://127.0.0.1:1/api/v2", &tls).unwrap_err();
    assert!(matches!(err, Error::Setup(_)), "{err:?}");
    assert!(err.to_string().contains("ca.pem"), "{err}");
}

#[tokio::test]
async fn turning_verification_off_works_and_is_logged_at_warn() {
    let (capture, _guard) = Capture::start();
    let sim = sim().await;
    let pki = Pki::new();
    let url = pki.serve(sim.addr());

    let quiet = transport(&url, &TlsOptions::default()).unwrap();
    assert!(capture.lines_with(DANGER_WARNING).is_empty());
    assert!(quiet.get_me().await.is_err());

    let tls = TlsOptions {
        extra_ca: None,
        danger_accept_invalid_certs: true,
    };
    let me = transport(&url, &tls).unwrap().get_me().await.unwrap();
    assert_eq!(me.user_name, "bot01");
    let warnings = capture.lines_with(DANGER_WARNING);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("WARN"), "{}", warnings[0]);
}

#[tokio::test]
async fn the_daemon_works_over_tls_with_the_extra_ca() {
    let pki = Pki::new();
    let mut h = Harness::start_with(sim_config(), RULES, |config| {
        let backend: SocketAddr = config
            .gws
            .api_url
            .trim_start_matches("http://")
            .trim_end_matches("/api/v2")
            .parse()
            .unwrap();
        config.gws.api_url = pki.serve(backend);
        config.gws.tls_ca_file = Some(pki.ca_file.clone());
    })
    .await;
    assert!(h.config.gws.api_url.starts_with("https://"));
    let id = h.chat("Pat", vec![say(50, "when are you open?")]);
    h.wait_chat(&id, "the FAQ answer over TLS", |c| {
        c.transcript
            .iter()
            .any(|e| e.text.as_deref() == Some("We're open 8 to 18."))
    })
    .await;
    h.stop().await.unwrap();
}

#[tokio::test]
async fn the_daemon_does_not_log_in_to_an_untrusted_server() {
    let pki = Pki::new();
    let h = Harness::start_unready(sim_config(), RULES, |config| {
        let backend: SocketAddr = config
            .gws
            .api_url
            .trim_start_matches("http://")
            .trim_end_matches("/api/v2")
            .parse()
            .unwrap();
        config.gws.api_url = pki.serve(backend);
    })
    .await;
    wait_until("two logins refused at the TLS handshake", || {
        (pki.refused.load(Ordering::SeqCst) >= 2).then_some(())
    })
    .await;
    assert!(h.daemon_running(), "the daemon keeps trying");
    assert!(
        h.control.requests().is_empty(),
        "no request reached GWS without a trusted certificate"
    );
}
