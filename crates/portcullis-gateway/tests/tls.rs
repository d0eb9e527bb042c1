//! TLS termination: ALPN (HTTP/1.1 and HTTP/2, gRPC), certificates by SNI, TLS 1.2 and
//! later only, certificate rotation without dropping connections, client certificates
//! (mTLS) and the certificate-bound tokens that use them, and `https://` upstreams.
//! Every certificate is generated when the test runs.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{AUDIENCE, Gateway, es256_issuer};
use http::StatusCode;
use portcullis::ClientCertificate;
use portcullis_testkit::fixture::unix_now;
use portcullis_testkit::tls::{
    TestCa, TestCertificate, TlsClient, client_config, tls11_client_hello,
};
use portcullis_testkit::{EchoUpstream, TestIssuer};
use serde_json::json;

/// A config whose only listener is TLS with `tls` (keys of `[[server.tls]]` plus its
/// certificates), an issuer, an anonymous `/public` and an authenticated `/private`.
fn tls_config(issuer: &TestIssuer, upstream: &str, tls: &str, extra: &str) -> String {
    format!(
        r#"
[server]
realm = "test"

[[server.tls]]
listen = ["127.0.0.1:0"]
{tls}

[upstream]
url = "{upstream}"

[[issuers]]
issuer = "{issuer}"
audiences = ["{AUDIENCE}"]
jwks_uri = "{jwks}"
algorithms = ["ES256"]

[[routes]]
name = "public"
path_prefix = "/public"
require = "anonymous"

[[routes]]
name = "private"
path_prefix = "/private"

{extra}
"#,
        issuer = issuer.url(),
        jwks = issuer.jwks_url(),
    )
}

/// `[[server.tls.certificates]]` for the files `stem.crt` and `stem.key` in `dir`.
fn certificate_entry(dir: &Path, stem: &str) -> String {
    format!(
        "[[server.tls.certificates]]\nchain_file = {:?}\nkey_file = {:?}\n",
        dir.join(format!("{stem}.crt")),
        dir.join(format!("{stem}.key")),
    )
}

/// Replaces `stem.crt` and `stem.key` in `dir` with `certificate`, each file by an
/// atomic rename as a Kubernetes secret volume does.
fn rotate(dir: &Path, stem: &str, certificate: &TestCertificate) {
    let staging = tempfile::tempdir_in(dir).unwrap();
    let (chain, key) = certificate.write(staging.path(), stem);
    std::fs::rename(key, dir.join(format!("{stem}.key"))).unwrap();
    std::fs::rename(chain, dir.join(format!("{stem}.crt"))).unwrap();
}

struct TlsWorld {
    gateway: Gateway,
    issuer: TestIssuer,
    _upstream: EchoUpstream,
    ca: TestCa,
    dir: tempfile::TempDir,
}

impl TlsWorld {
    /// A gateway serving `localhost`'s certificate (`server.crt`) with `tls` keys and
    /// `extra` sections.
    async fn start(tls: &str, extra: &str) -> TlsWorld {
        let ca = TestCa::new("gateway test CA");
        let dir = tempfile::tempdir().unwrap();
        ca.server(&["localhost", "127.0.0.1"])
            .write(dir.path(), "server");
        ca.write(dir.path(), "ca.crt");
        let issuer = es256_issuer().await;
        let upstream = EchoUpstream::start().await;
        let tls = format!("{tls}\n{}", certificate_entry(dir.path(), "server"));
        let gateway = Gateway::start(&tls_config(&issuer, &upstream.url(), &tls, extra));
        TlsWorld {
            gateway,
            issuer,
            _upstream: upstream,
            ca,
            dir,
        }
    }

    async fn connect(&self, alpn: &[&[u8]]) -> TlsClient {
        TlsClient::connect(
            self.gateway.tls[0],
            "localhost",
            client_config(&self.ca, alpn, None),
        )
        .await
        .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn alpn_chooses_http2_or_http1_and_the_upstream_hears_https() {
    let world = TlsWorld::start("", "").await;
    for (offered, chosen) in [
        (&[&b"h2"[..], b"http/1.1"][..], Some(&b"h2"[..])),
        (&[&b"http/1.1"[..]][..], Some(&b"http/1.1"[..])),
        (&[][..], None),
    ] {
        let mut client = world.connect(offered).await;
        assert_eq!(client.alpn(), chosen);
        let answer = client.get("/public/x", &[]).await.unwrap();
        assert_eq!(answer.status, StatusCode::OK);
        let echoed: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(echoed["headers"]["x-forwarded-proto"], "https", "{echoed}");
        assert_eq!(echoed["path"], "/public/x");
        // The gateway speaks HTTP/1.1 to the upstream unless the request is gRPC.
        assert_eq!(echoed["version"], "HTTP/1.1");
    }
    assert_eq!(world.gateway.addr, world.gateway.tls[0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_over_tls_reaches_the_upstream_over_http2() {
    let world = TlsWorld::start("", "").await;
    let token = common::token_for(&world.issuer, "read", &[]);
    let mut client = world.connect(&[b"h2"]).await;
    let answer = client
        .get(
            "/private/echo.Echo/Say",
            &[
                ("content-type", "application/grpc"),
                ("te", "trailers"),
                ("authorization", &format!("Bearer {token}")),
            ],
        )
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-type"], "application/grpc");
}

#[tokio::test(flavor = "multi_thread")]
async fn sni_picks_the_certificate_that_covers_the_name() {
    let ca = TestCa::new("sni CA");
    let dir = tempfile::tempdir().unwrap();
    let fallback = ca.server(&["default.test"]);
    let api = ca.server(&["api.example.test"]);
    let wildcard = ca.server(&["*.apps.example.test"]);
    fallback.write(dir.path(), "default");
    api.write(dir.path(), "api");
    wildcard.write(dir.path(), "apps");
    let tls = ["default", "api", "apps"]
        .map(|stem| certificate_entry(dir.path(), stem))
        .join("\n");
    let issuer = es256_issuer().await;
    let upstream = EchoUpstream::start().await;
    let gateway = Gateway::start(&tls_config(&issuer, &upstream.url(), &tls, ""));

    // A client that accepts any certificate, to see what the server sends for a name.
    let presented = async |name: &str| {
        let mut config = client_config(&ca, &[], None);
        config
            .dangerous()
            .set_certificate_verifier(std::sync::Arc::new(AnyCertificate(
                rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms,
            )));
        let client = TlsClient::connect(gateway.tls[0], name, config)
            .await
            .unwrap();
        client.server_certificate().unwrap().clone()
    };
    assert_eq!(&presented("api.example.test").await, api.der());
    assert_eq!(&presented("web.apps.example.test").await, wildcard.der());
    assert_eq!(&presented("default.test").await, fallback.der());
    // No certificate covers it, or no name is sent at all: the first one.
    assert_eq!(&presented("unknown.test").await, fallback.der());
    assert_eq!(&presented("127.0.0.1").await, fallback.der());
    // A verifying client accepts the certificate it is given for its name.
    let mut client = TlsClient::connect(
        gateway.tls[0],
        "web.apps.example.test",
        client_config(&ca, &[], None),
    )
    .await
    .unwrap();
    assert_eq!(
        client.get("/public", &[]).await.unwrap().status,
        StatusCode::OK
    );
}

/// Accepts any certificate (signatures are still checked): shows what the server sent.
#[derive(Debug)]
struct AnyCertificate(rustls::crypto::WebPkiSupportedAlgorithms);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_1_1_is_refused_with_a_protocol_version_alert() {
    let world = TlsWorld::start("", "").await;
    let answer = tls11_client_hello(world.gateway.tls[0])
        .await
        .unwrap()
        .expect("an alert, not a silent close");
    // An alert record, fatal, protocol_version.
    assert_eq!(answer[0], 21, "{answer:?}");
    assert_eq!(&answer[5..7], &[2, 70], "{answer:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn min_version_1_3_refuses_a_tls_1_2_client() {
    let world = TlsWorld::start("min_version = \"1.3\"", "").await;
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .unwrap()
    .with_root_certificates({
        let mut roots = rustls::RootCertStore::empty();
        roots.add(world.ca.der().clone()).unwrap();
        roots
    })
    .with_no_client_auth();
    assert!(
        TlsClient::connect(world.gateway.tls[0], "localhost", config)
            .await
            .is_err()
    );
    let mut client = world.connect(&[]).await;
    assert_eq!(
        client.get("/public", &[]).await.unwrap().status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rotated_certificates_serve_new_handshakes_and_open_connections_stay() {
    let mut world = TlsWorld::start("watch_interval = \"0s\"", "").await;
    let before = world.ca.server(&["localhost"]);
    rotate(world.dir.path(), "server", &before);
    // SIGHUP reloads the configuration, and with it every file it names.
    world.gateway.hangup();
    world.gateway.wait_for_event("config_reloaded");

    let mut open = world.connect(&[b"http/1.1"]).await;
    assert_eq!(open.server_certificate().unwrap(), before.der());
    assert_eq!(
        open.get("/public", &[]).await.unwrap().status,
        StatusCode::OK
    );

    let after = world.ca.server(&["localhost"]);
    rotate(world.dir.path(), "server", &after);
    world.gateway.hangup();
    world.gateway.wait_for_event("config_reloaded");

    // The connection made before the rotation still works...
    assert_eq!(
        open.get("/public/again", &[]).await.unwrap().status,
        StatusCode::OK
    );
    // ...and a new handshake gets the new certificate.
    let fresh = world.connect(&[]).await;
    assert_eq!(fresh.server_certificate().unwrap(), after.der());
}

#[tokio::test(flavor = "multi_thread")]
async fn changed_files_are_picked_up_without_a_signal() {
    let mut world = TlsWorld::start("watch_interval = \"1s\"", "").await;
    let rotated = world.ca.server(&["localhost"]);
    rotate(world.dir.path(), "server", &rotated);
    // Polled: a half-written pair may be refused once before both files are new.
    let event = world.gateway.wait_for_event("certificates_reloaded");
    assert_eq!(event["listeners"][0], world.gateway.tls[0].to_string());
    let client = world.connect(&[]).await;
    assert_eq!(client.server_certificate().unwrap(), rotated.der());
}

#[tokio::test(flavor = "multi_thread")]
async fn files_that_do_not_load_leave_the_old_certificate_serving() {
    let mut world = TlsWorld::start("watch_interval = \"0s\"", "").await;
    let serving = world
        .connect(&[])
        .await
        .server_certificate()
        .unwrap()
        .clone();
    std::fs::write(world.dir.path().join("server.crt"), "not PEM").unwrap();
    world.gateway.hangup();
    let event = world.gateway.wait_for_event("config_refused");
    let error = event["error"].as_str().unwrap();
    assert!(
        error.contains("server.tls[0].certificates[0].chain_file"),
        "{error}"
    );
    // A key that is not the certificate's is refused too, and nothing leaks of it.
    world
        .ca
        .server(&["localhost"])
        .write(world.dir.path(), "other");
    std::fs::copy(
        world.dir.path().join("other.crt"),
        world.dir.path().join("server.crt"),
    )
    .unwrap();
    world.gateway.hangup();
    let event = world.gateway.wait_for_event("config_refused");
    let error = event["error"].as_str().unwrap();
    assert!(
        error.contains("server.tls[0].certificates[0].key_file")
            && error.contains("does not match"),
        "{error}"
    );
    assert!(!error.contains("PRIVATE KEY-----"), "{error}");

    let mut client = world.connect(&[]).await;
    assert_eq!(client.server_certificate().unwrap(), &serving);
    assert_eq!(
        client.get("/public", &[]).await.unwrap().status,
        StatusCode::OK
    );
}

/// A token bound (RFC 8705) to `certificate`.
fn bound_to(issuer: &TestIssuer, certificate: &TestCertificate) -> String {
    let x5t = URL_SAFE_NO_PAD.encode(ClientCertificate::from_der(certificate.der()).thumbprint());
    issuer.mint_with(AUDIENCE, unix_now(), |token| {
        token.claim("cnf", json!({ "x5t#S256": x5t }))
    })
}

fn xfcc(certificate: &TestCertificate) -> String {
    let hash: String = ClientCertificate::from_der(certificate.der())
        .thumbprint()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("Hash={hash}")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_required_client_certificate_is_verified_and_binds_tokens() {
    // `[mtls]` trusts loopback for the header: the gateway's own TLS still wins.
    let ca = TestCa::new("client CA");
    let dir = tempfile::tempdir().unwrap();
    let ca_path = ca.write(dir.path(), "clients.crt");
    let world = TlsWorld::start(
        &format!("client_ca_file = {ca_path:?}"),
        "[mtls]\ncertificate_header = \"x-forwarded-client-cert\"\nformat = \"envoy-xfcc\"\n\
         trusted_proxies = [\"127.0.0.1\"]\n",
    )
    .await;
    let alice = ca.client("alice");
    let mallory = TestCa::new("not the client CA").client("mallory");

    // Without a certificate, or with one from another CA: no connection.
    for identity in [None, Some(&mallory)] {
        let attempt = async {
            let mut client = TlsClient::connect(
                world.gateway.tls[0],
                "localhost",
                client_config(&world.ca, &[], identity),
            )
            .await?;
            client
                .get("/public", &[])
                .await
                .map_err(std::io::Error::other)
        };
        assert!(attempt.await.is_err());
    }

    let mut client = TlsClient::connect(
        world.gateway.tls[0],
        "localhost",
        client_config(&world.ca, &[b"h2"], Some(&alice)),
    )
    .await
    .unwrap();
    let bearer = |token: &str| format!("Bearer {token}");
    let alices = bound_to(&world.issuer, &alice);
    let answer = client
        .get("/private", &[("authorization", &bearer(&alices))])
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    // A header naming another certificate is ignored and not passed on.
    let answer = client
        .get(
            "/private",
            &[
                ("authorization", &bearer(&alices)),
                ("x-forwarded-client-cert", &xfcc(&mallory)),
            ],
        )
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    let echoed: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert!(
        echoed["headers"].get("x-forwarded-client-cert").is_none(),
        "{echoed}"
    );
    // A token bound to another certificate is refused, even if a header names it.
    let mallorys = bound_to(&world.issuer, &mallory);
    let answer = client
        .get(
            "/private",
            &[
                ("authorization", &bearer(&mallorys)),
                ("x-forwarded-client-cert", &xfcc(&mallory)),
            ],
        )
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_optional_client_certificate_lets_clients_without_one_in() {
    let ca = TestCa::new("client CA");
    let dir = tempfile::tempdir().unwrap();
    let ca_path = ca.write(dir.path(), "clients.crt");
    let world = TlsWorld::start(
        &format!("client_ca_file = {ca_path:?}\nclient_certificate = \"optional\""),
        "",
    )
    .await;
    let alice = ca.client("alice");
    let alices = bound_to(&world.issuer, &alice);
    let unbound = world.issuer.mint_with(AUDIENCE, unix_now(), |token| token);
    let bearer = |token: &str| format!("Bearer {token}");

    let mut anonymous = world.connect(&[]).await;
    for (token, status) in [
        (&unbound, StatusCode::OK),
        (&alices, StatusCode::UNAUTHORIZED),
    ] {
        let answer = anonymous
            .get("/private", &[("authorization", &bearer(token))])
            .await
            .unwrap();
        assert_eq!(answer.status, status);
    }
    let mut with_certificate = TlsClient::connect(
        world.gateway.tls[0],
        "localhost",
        client_config(&world.ca, &[], Some(&alice)),
    )
    .await
    .unwrap();
    let answer = with_certificate
        .get("/private", &[("authorization", &bearer(&alices))])
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_https_upstream_is_verified_against_its_ca() {
    let ca = TestCa::new("upstream CA");
    let dir = tempfile::tempdir().unwrap();
    let ca_path = ca.write(dir.path(), "upstream-ca.crt");
    let upstream =
        EchoUpstream::start_tls(ca.server(&["localhost", "127.0.0.1"]).server_config()).await;
    let issuer = es256_issuer().await;
    let url = format!("https://localhost:{}", upstream.addr().port());
    let config = |extra: &str| {
        format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\n[upstream]\nurl = \"{url}\"\n{extra}\n\
             [[issuers]]\nissuer = \"{}\"\naudiences = [\"{AUDIENCE}\"]\njwks_uri = \"{}\"\n\
             algorithms = [\"ES256\"]\n\
             [[routes]]\npath_prefix = \"/\"\nrequire = \"anonymous\"\n",
            issuer.url(),
            issuer.jwks_url()
        )
    };
    let http = common::Http::http1();

    let gateway = Gateway::start(&config(&format!("ca_file = {ca_path:?}")));
    let answer = http.get(&gateway.url("/x"), None, &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["version"], "HTTP/1.1");
    // HTTP/2 over TLS, chosen by ALPN, as gRPC needs.
    let gateway = Gateway::start(&config(&format!(
        "ca_file = {ca_path:?}\nprotocol = \"http2\""
    )));
    let answer = http.get(&gateway.url("/x"), None, &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["version"], "HTTP/2.0");
    // The public roots do not know the test CA: refused, not sent.
    let gateway = Gateway::start(&config(""));
    let answer = http.get(&gateway.url("/x"), None, &[]).await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_presents_its_client_certificate_to_an_upstream_that_requires_one() {
    let ca = TestCa::new("upstream CA");
    let dir = tempfile::tempdir().unwrap();
    let ca_path = ca.write(dir.path(), "upstream-ca.crt");
    let (chain, key) = ca.client("gateway").write(dir.path(), "gateway-client");
    let upstream = EchoUpstream::start_tls(
        ca.server(&["localhost"])
            .server_config_requiring_client(&ca),
    )
    .await;
    let config = |client: &str| {
        format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\n[upstream]\nurl = \"https://localhost:{}\"\n\
             ca_file = {ca_path:?}\n{client}\n[[routes]]\npath_prefix = \"/\"\nrequire = \"anonymous\"\n",
            upstream.addr().port()
        )
    };
    let http = common::Http::http1();
    let gateway = Gateway::start(&config(&format!(
        "client_chain_file = {chain:?}\nclient_key_file = {key:?}"
    )));
    assert_eq!(
        http.get(&gateway.url("/x"), None, &[]).await.status,
        StatusCode::OK
    );
    let without = Gateway::start(&config(""));
    assert_eq!(
        http.get(&without.url("/x"), None, &[]).await.status,
        StatusCode::BAD_GATEWAY
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_certificate_rotations_under_load_fail_no_request() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    const ROTATIONS: usize = 50;
    let mut world = TlsWorld::start("watch_interval = \"0s\"", "").await;
    let addr = world.gateway.tls[0];
    let done = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut clients = Vec::new();
    // Two clients that keep one connection each, two that handshake for each request.
    for fresh in [false, false, true, true] {
        let (done, sent, failed) = (done.clone(), sent.clone(), failed.clone());
        let config = client_config(&world.ca, &[b"h2", b"http/1.1"], None);
        clients.push(tokio::spawn(async move {
            let mut kept = None;
            while !done.load(Ordering::Relaxed) {
                let client = match kept.take() {
                    Some(client) if !fresh => Ok(client),
                    _ => TlsClient::connect(addr, "localhost", config.clone()).await,
                };
                let ok = match client {
                    Ok(mut client) => {
                        let ok = client
                            .get("/public", &[])
                            .await
                            .is_ok_and(|a| a.status == StatusCode::OK);
                        kept = Some(client);
                        ok
                    }
                    Err(_) => false,
                };
                sent.fetch_add(1, Ordering::Relaxed);
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let mut last = None;
    for _ in 0..ROTATIONS {
        let next = world.ca.server(&["localhost"]);
        rotate(world.dir.path(), "server", &next);
        world.gateway.hangup();
        world.gateway.wait_for_event("config_reloaded");
        last = Some(next);
    }
    done.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    assert!(sent.load(Ordering::Relaxed) > 0);
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    let client = world.connect(&[]).await;
    assert_eq!(
        client.server_certificate(),
        last.as_ref().map(TestCertificate::der)
    );
}

#[test]
fn tls_settings_are_checked_at_their_key_paths() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("check CA");
    ca.server(&["localhost"]).write(dir.path(), "good");
    ca.server(&["localhost"]).write(dir.path(), "other");
    std::fs::write(dir.path().join("empty.crt"), "").unwrap();
    let entry = |chain: &str, key: &str| {
        format!(
            "[[server.tls.certificates]]\nchain_file = {:?}\nkey_file = {:?}\n",
            dir.path().join(chain),
            dir.path().join(key)
        )
    };
    let with_tls = |tls: &str| {
        format!(
            "[server]\n[[server.tls]]\nlisten = [\"127.0.0.1:0\"]\n{tls}\n\
             [upstream]\nurl = \"http://127.0.0.1:9\"\n"
        )
    };
    let checked = |text: &str| {
        portcullis_gateway::Config::from_toml(text, "gateway.toml")
            .and_then(|config| config.check_sources().map(|()| config))
    };
    let refused_at = |text: &str| checked(text).unwrap_err().path().to_owned();

    assert!(checked(&with_tls(&entry("good.crt", "good.key"))).is_ok());
    for (tls, path) in [
        (
            entry("missing.crt", "good.key"),
            "server.tls[0].certificates[0].chain_file",
        ),
        (
            entry("empty.crt", "good.key"),
            "server.tls[0].certificates[0].chain_file",
        ),
        (
            entry("good.crt", "good.crt"),
            "server.tls[0].certificates[0].key_file",
        ),
        (
            format!(
                "{}{}",
                entry("good.crt", "good.key"),
                entry("good.crt", "other.key")
            ),
            "server.tls[0].certificates[1].key_file",
        ),
        (
            format!("client_ca_file = {:?}\n", dir.path().join("empty.crt"))
                + &entry("good.crt", "good.key"),
            "server.tls[0].client_ca_file",
        ),
        (
            "client_certificate = \"required\"\n".to_owned() + &entry("good.crt", "good.key"),
            "server.tls[0].client_certificate",
        ),
        (
            "min_version = \"1.1\"\n".to_owned() + &entry("good.crt", "good.key"),
            "server.tls[0].min_version",
        ),
        (
            "watch_interval = \"500ms\"\n".to_owned() + &entry("good.crt", "good.key"),
            "server.tls[0].watch_interval",
        ),
        ("".to_owned(), "server.tls[0]"),
    ] {
        assert_eq!(refused_at(&with_tls(&tls)), path, "{tls}");
    }
    // No listener at all; the same address twice.
    assert_eq!(
        refused_at("[server]\n[upstream]\nurl = \"http://127.0.0.1:9\"\n"),
        "server.listen"
    );
    assert_eq!(
        refused_at(&format!(
            "[server]\nlisten = [\"127.0.0.1:8443\"]\n[[server.tls]]\nlisten = [\"127.0.0.1:8443\"]\n{}\
             [upstream]\nurl = \"http://127.0.0.1:9\"\n",
            entry("good.crt", "good.key")
        )),
        "server.tls[0].listen[0]"
    );
    // Upstream TLS settings: only for https, files read as at start.
    let upstream =
        |keys: &str| format!("[server]\nlisten = [\"127.0.0.1:0\"]\n[upstream]\n{keys}\n");
    assert_eq!(
        refused_at(&upstream(&format!(
            "url = \"http://127.0.0.1:9\"\nca_file = {:?}",
            dir.path().join("good.crt")
        ))),
        "upstream.ca_file"
    );
    assert_eq!(
        refused_at(&upstream(&format!(
            "url = \"https://localhost:9\"\nca_file = {:?}",
            dir.path().join("missing.crt")
        ))),
        "upstream.ca_file"
    );
    assert_eq!(
        refused_at(&upstream(&format!(
            "url = \"https://localhost:9\"\nclient_key_file = {:?}",
            dir.path().join("good.key")
        ))),
        "upstream.client_chain_file"
    );
    assert_eq!(
        refused_at(&upstream("url = \"ftp://localhost:9\"")),
        "upstream.url"
    );
}
