//! `portcullis-gateway explain`: the binary reads a token on standard input and says,
//! rule by rule, why the issuer the token names would refuse it, and whether a route
//! would; exit 0 accepted, 1 refused, 2 for configuration or input errors. It never
//! prints the signature, and prints the payload only with `--show-claims`.

#![allow(clippy::unwrap_used)] // Test setup panics on purpose.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{MINIMAL, binary, write_jwks};
use portcullis_testkit::{SigningAlgorithm, SigningKey, TestIssuer};
use serde_json::json;

const ISS: &str = "https://sso.example.com/realms/shop";
const AUD: &str = "https://orders.example.com";
const NOW: u64 = 1_700_000_000;

struct Setup {
    dir: tempfile::TempDir,
    key: SigningKey,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate(SigningAlgorithm::ES256);
        write_jwks(dir.path(), [&key]);
        Setup { dir, key }
    }

    /// A configuration with one Keycloak issuer (keys from a file) and `extra`.
    fn config(&self, extra: &str) -> PathBuf {
        let text = format!(
            r#"{MINIMAL}
[[issuers]]
issuer = "{ISS}"
audiences = ["{AUD}"]
jwks_file = "keys.json"
preset = "keycloak"

[[routes]]
name = "orders"
path_prefix = "/orders"
scopes_all = ["orders.read"]

[[routes]]
name = "admin"
path_prefix = "/admin"
roles_any = ["orders-admin"]
{extra}
"#
        );
        let path = self.dir.path().join("gateway.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A Keycloak-shaped access token for `aud`, valid at [`NOW`].
    fn token(&self, aud: serde_json::Value) -> String {
        self.key
            .token()
            .header("typ", "JWT")
            .claim("iss", ISS)
            .claim("aud", aud)
            .claim("sub", "f1b2c3d4")
            .claim("azp", "web-app")
            .claim("typ", "Bearer")
            .claim("iat", NOW - 10)
            .claim("exp", NOW + 300)
            .claim("jti", "j-1")
            .claim("scope", "openid orders.read")
            .claim("email", "alice@example.com")
            .claim("realm_access", json!({"roles": ["orders-reader"]}))
            .sign()
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn explain(config: &Path, token: &str, args: &[&str]) -> Run {
    explain_at(config, token, NOW, args)
}

fn explain_at(config: &Path, token: &str, now: u64, args: &[&str]) -> Run {
    let mut child = Command::new(binary())
        .arg("explain")
        .arg("--config")
        .arg(config)
        .args(["--now", &now.to_string()])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The command may answer (a bad flag, an unknown issuer) before reading the token:
    // a closed pipe is then its answer, not a failure of the test.
    let written = child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{token}\n").as_bytes());
    if let Err(error) = written {
        assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe, "{error}");
    }
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

fn signature(token: &str) -> &str {
    token.rsplit('.').next().unwrap()
}

#[test]
fn a_token_for_keycloaks_account_console_is_refused_in_plain_words_with_the_hint() {
    let setup = Setup::new();
    let config = setup.config("");
    let token = setup.token(json!("account"));
    let run = explain(&config, &token, &[]);
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    let out = &run.stdout;
    assert!(out.contains("refused by audience"), "{out}");
    assert!(
        out.contains(
            r#"audience: aud is ["account"]; this issuer accepts ["https://orders.example.com"]"#
        ),
        "{out}"
    );
    assert!(out.contains("Audience mapper"), "{out}");
    assert!(out.contains("(preset keycloak)"), "{out}");
    assert!(!out.contains(signature(&token)), "{out}");
    assert!(!out.contains("alice@example.com"), "{out}");
    assert!(!run.stderr.contains(signature(&token)), "{}", run.stderr);
}

#[test]
fn a_good_token_exits_0_and_a_route_says_which_part_falls_short() {
    let setup = Setup::new();
    let config = setup.config("");
    let token = setup.token(json!([AUD, "account"]));
    let run = explain(&config, &token, &[]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("accepted"), "{}", run.stdout);
    assert!(run.stdout.contains("keys: jwks_file"), "{}", run.stdout);

    let run = explain(&config, &token, &["--route", "GET", "/orders/7"]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert!(
        run.stdout.contains(r#"route: "orders" takes GET"#),
        "{}",
        run.stdout
    );

    let run = explain(&config, &token, &["--route", "POST", "/admin/users"]);
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert!(
        run.stdout.contains(
            r#"roles: granted [orders-reader] (at "/realm_access/roles"); none of [orders-admin]"#
        ),
        "{}",
        run.stdout
    );
    let run = explain(&config, &token, &["--route", "GET", "/nowhere"]);
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert!(run.stdout.contains("no route takes GET"), "{}", run.stdout);
    assert!(!run.stdout.contains(signature(&token)));
}

#[test]
fn a_routes_conditions_and_every_unmet_part_are_listed_in_plain_words() {
    let setup = Setup::new();
    let config = setup.config(
        r#"
[[routes]]
name = "tenant"
path = "/tenant"
claim_equals = { azp = "web-app", tenant = "acme" }
claim_contains = { "/realm_access/roles" = "orders-reader" }

[[routes]]
name = "billing"
path = "/billing"
scopes_all = ["billing.write"]
roles_all = ["billing-admin"]
"#,
    );
    let token = setup.token(json!(AUD));
    let run = explain(&config, &token, &["--route", "GET", "/tenant"]);
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    let out = &run.stdout;
    for line in [
        r#"  pass        claim_equals: azp equals "web-app""#,
        r#"  FAIL        claim_equals: no tenant; this route requires it to equal "acme""#,
        r#"  pass        claim_contains: /realm_access/roles contains "orders-reader""#,
    ] {
        assert!(out.lines().any(|l| l == line), "{line}\n{out}");
    }

    let run = explain(&config, &token, &["--route", "GET", "/billing"]);
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "FAIL        requirement: scopes: granted [openid, orders.read]; [billing.write] \
             missing. roles: granted [orders-reader] (at \"/realm_access/roles\"); \
             [billing-admin] missing"
        ),
        "{}",
        run.stdout
    );

    // A token that meets the conditions: every line passes, exit 0.
    let acme = setup
        .key
        .token()
        .header("typ", "JWT")
        .claim("iss", ISS)
        .claim("aud", AUD)
        .claim("azp", "web-app")
        .claim("typ", "Bearer")
        .claim("iat", NOW - 10)
        .claim("exp", NOW + 300)
        .claim("jti", "j-2")
        .claim("tenant", "acme")
        .claim("realm_access", json!({"roles": ["orders-reader"]}))
        .sign();
    let run = explain(&config, &acme, &["--route", "GET", "/tenant"]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert!(
        run.stdout
            .contains(r#"pass        claim_equals: tenant equals "acme""#),
        "{}",
        run.stdout
    );
}

#[test]
fn claims_are_shown_only_when_asked() {
    let setup = Setup::new();
    let config = setup.config("");
    let token = setup.token(json!(AUD));
    let hidden = explain(&config, &token, &[]);
    assert!(
        !hidden.stdout.contains("alice@example.com"),
        "{}",
        hidden.stdout
    );
    let shown = explain(&config, &token, &["--show-claims"]);
    assert_eq!(shown.code, Some(0), "{}", shown.stdout);
    assert!(
        shown.stdout.contains("claims (verified):"),
        "{}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains("alice@example.com"),
        "{}",
        shown.stdout
    );
    assert!(
        !shown.stdout.contains(signature(&token)),
        "{}",
        shown.stdout
    );
}

#[test]
fn a_forged_token_fails_the_signature_and_an_expired_one_its_exp() {
    let setup = Setup::new();
    let config = setup.config("");
    let stranger = SigningKey::generate(SigningAlgorithm::ES256).with_kid(setup.key.kid());
    let forged = stranger
        .token()
        .header("typ", "JWT")
        .claim("iss", ISS)
        .claim("aud", AUD)
        .claim("exp", NOW + 300)
        .sign();
    let run = explain(&config, &forged, &[]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stdout.contains("refused by signature"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains(signature(&forged)));

    // A day later.
    let expired = explain_at(&config, &setup.token(json!(AUD)), NOW + 86_400, &[]);
    assert_eq!(expired.code, Some(1), "{}", expired.stdout);
    assert!(
        expired.stdout.contains("refused by exp"),
        "{}",
        expired.stdout
    );
}

#[test]
fn without_a_key_file_the_signature_is_not_checked_and_nothing_is_fetched() {
    let setup = Setup::new();
    // A jwks_uri nobody listens on: contacting it would fail the run.
    let text = format!(
        "{MINIMAL}[[issuers]]\nissuer = \"{ISS}\"\naudiences = [\"{AUD}\"]\n\
         jwks_uri = \"http://127.0.0.1:9/jwks\"\npreset = \"keycloak\"\n"
    );
    let config = setup.dir.path().join("remote.toml");
    std::fs::write(&config, text).unwrap();
    let run = explain(&config, &setup.token(json!(AUD)), &[]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("keys: signature not checked (no --fetch)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("no rule refuses it, but the signature was not checked"),
        "{}",
        run.stdout
    );
    // With --fetch, the key set is fetched, and its failure is an error (2).
    let run = explain(&config, &setup.token(json!(AUD)), &["--fetch"]);
    assert_eq!(run.code, Some(2), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("fetching the key set"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_fetch_the_live_key_set_checks_the_signature() {
    let issuer = TestIssuer::builder()
        .algorithm(SigningAlgorithm::ES256)
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "{MINIMAL}[[issuers]]\nissuer = \"{}\"\naudiences = [\"{AUD}\"]\njwks_uri = \"{}\"\n",
            issuer.url(),
            issuer.jwks_url()
        ),
    )
    .unwrap();
    let token = issuer.mint_with(AUD, NOW, |token| token);
    let run = tokio::task::spawn_blocking(move || explain(&config, &token, &["--fetch"]))
        .await
        .unwrap();
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("keys: fetched (1 keys)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.starts_with("issuer:"), "{}", run.stdout);
    assert!(run.stdout.contains("\naccepted\n"), "{}", run.stdout);
}

#[test]
fn an_unknown_issuer_is_refused_and_bad_input_is_an_error() {
    let setup = Setup::new();
    let config = setup.config("");
    let other = setup
        .key
        .token()
        .claim("iss", "https://elsewhere.test")
        .sign();
    let run = explain(&config, &other, &[]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stdout
            .contains("refused: iss is \"https://elsewhere.test\""),
        "{}",
        run.stdout
    );

    let run = explain(&config, "", &[]);
    assert_eq!(run.code, Some(2));
    assert!(run.stderr.contains("no token"), "{}", run.stderr);
    let run = explain(&config, "not-a-token", &[]);
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert!(run.stdout.contains("refused by format"), "{}", run.stdout);
    let run = explain(
        &config,
        &setup.token(json!(AUD)),
        &["--route", "GET", "orders"],
    );
    assert_eq!(run.code, Some(2));
    let run = explain(
        &config,
        &setup.token(json!(AUD)),
        &["--route", "G T", "/orders"],
    );
    assert_eq!(run.code, Some(2));
    let missing = setup.dir.path().join("missing.toml");
    assert_eq!(explain(&missing, "x.y.z", &[]).code, Some(2));
}

#[test]
fn a_route_for_a_host_is_explained_for_that_host_only() {
    let setup = Setup::new();
    let config = setup.config(
        "[[routes]]\nname = \"partner-orders\"\nhost = \"*.partners.example.com\"\n\
         path_prefix = \"/orders\"\nrequire = \"anonymous\"\n",
    );
    let token = setup.token(json!([AUD, "account"]));
    let run = explain(
        &config,
        &token,
        &[
            "--route",
            "GET",
            "/orders/7",
            "--host",
            "acme.partners.example.com",
        ],
    );
    assert!(
        run.stdout.contains(r#"route: "partner-orders" takes GET"#),
        "{}{}",
        run.stdout,
        run.stderr
    );
    let run = explain(&config, &token, &["--route", "GET", "/orders/7"]);
    assert!(
        run.stdout.contains(r#"route: "orders" takes GET"#),
        "{}",
        run.stdout
    );
}
