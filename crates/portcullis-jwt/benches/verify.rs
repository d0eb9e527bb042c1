//! Full `portcullis-jwt` verification next to the raw aws-lc-rs signature check of the
//! same token, one criterion group per algorithm so each ratio comes from one run.
//!
//! `raw` is only the signature math: a `ParsedPublicKey` (or HMAC key) built once, the
//! signing input and the already-decoded signature. `portcullis-jwt` is everything a
//! resource server pays per request: size check, segment split, base64url decoding,
//! strict header and payload JSON, key selection, signature, claim rules, `Claims`.
//!
//! Run with `scripts/bench-jwt` (see `docs/benchmarks.md`).

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::Criterion;
use portcullis_jwt::{Algorithm, ErrorKind, Key, KeySet, Validation};
use portcullis_testkit::{SigningAlgorithm, SigningKey, jwks};
use serde_json::Value;

const ISSUER: &str = "https://login.example.com/realms/portcullis";
const AUDIENCE: &str = "https://api.example.com/orders";
const IAT: u64 = 1_760_000_000;
/// Header variants taken in turn by the `portcullis-jwt-new-header` case: more than a
/// thread remembers.
const COLD_HEADERS: usize = 8;

/// The algorithms of the issue's table.
const ALGORITHMS: [(SigningAlgorithm, Algorithm); 6] = [
    (SigningAlgorithm::RS256, Algorithm::RS256),
    (SigningAlgorithm::PS256, Algorithm::PS256),
    (SigningAlgorithm::ES256, Algorithm::ES256),
    (SigningAlgorithm::ES384, Algorithm::ES384),
    (SigningAlgorithm::EdDSA, Algorithm::EdDSA),
    (SigningAlgorithm::HS256, Algorithm::HS256),
];

/// The raw verifier: the key parsed once, straight from the public JWK (or secret).
enum Raw {
    Signature(ParsedPublicKey),
    Hmac(Box<hmac::Key>),
}

impl Raw {
    fn new(key: &SigningKey) -> Raw {
        let jwk = key.public_jwk();
        let member = |name: &str| {
            let text = jwk[name].as_str().expect("a string JWK member");
            URL_SAFE_NO_PAD.decode(text).expect("base64url JWK member")
        };
        let ec_point = || {
            let mut point = vec![0x04];
            point.extend(member("x"));
            point.extend(member("y"));
            point
        };
        let parsed = match key.algorithm() {
            SigningAlgorithm::RS256 | SigningAlgorithm::PS256 => {
                let parameters = if key.algorithm() == SigningAlgorithm::RS256 {
                    &signature::RSA_PKCS1_2048_8192_SHA256
                } else {
                    &signature::RSA_PSS_2048_8192_SHA256
                };
                let (n, e) = (member("n"), member("e"));
                RsaPublicKeyComponents { n: &n, e: &e }
                    .to_parsed_public_key(parameters)
                    .expect("RSA key")
            }
            SigningAlgorithm::ES256 => {
                ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, ec_point())
                    .expect("P-256 key")
            }
            SigningAlgorithm::ES384 => {
                ParsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, ec_point())
                    .expect("P-384 key")
            }
            SigningAlgorithm::EdDSA => {
                ParsedPublicKey::new(&signature::ED25519, member("x")).expect("Ed25519 key")
            }
            SigningAlgorithm::HS256 => {
                let secret = key.secret().expect("an HMAC secret");
                return Raw::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA256, &secret)));
            }
            other => panic!("{other} is not benchmarked"),
        };
        Raw::Signature(parsed)
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Raw::Signature(key) => key.verify_sig(message, signature).is_ok(),
            Raw::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
        }
    }
}

/// One algorithm's token, keys and rules.
struct Case {
    token: String,
    /// The same claims under [`COLD_HEADERS`] header variants (an extra header member),
    /// taken in turn so no header is ever remembered from the token before: what the
    /// first token from a new header pays.
    cold_tokens: Vec<String>,
    /// `BASE64URL(header).BASE64URL(payload)`.
    message: Vec<u8>,
    /// The decoded signature.
    signature: Vec<u8>,
    keys: KeySet,
    validation: Validation,
    raw: Raw,
    now: SystemTime,
}

impl Case {
    fn new(alg: SigningAlgorithm, verifier_alg: Algorithm) -> Case {
        let key = SigningKey::generate(alg);
        // A realistic access token: the RFC 9068 claims and a few custom ones.
        let builder = key
            .token()
            .standard_claims(ISSUER, AUDIENCE, IAT)
            .claim("scope", "openid profile email orders:read orders:write")
            .claim("auth_time", IAT - 120)
            .claim("acr", "urn:acr:mfa")
            .claim("tenant", "acme-corp")
            .claim(
                "roles",
                serde_json::json!(["order-admin", "billing-viewer"]),
            )
            .claim("email", "alice@example.com");
        let claims_len = builder.claims_json().len();
        assert!(
            (385..=395).contains(&claims_len),
            "claims are {claims_len} bytes, meant to be about 390"
        );
        let token = builder.sign();
        let cold_tokens = (0..COLD_HEADERS)
            .map(|i| builder.clone().header("x-variant", i).sign())
            .collect();
        let (message, signature) = token.rsplit_once('.').expect("three segments");
        let keys = if alg.is_symmetric() {
            let secret = key.secret().expect("an HMAC secret");
            KeySet::from_keys([
                Key::hmac_secret(Some(key.kid()), verifier_alg, &secret).expect("HMAC key")
            ])
        } else {
            let document: Value = jwks([&key]);
            KeySet::from_jwks(document.to_string().as_bytes()).expect("a JWK Set")
        };
        assert_eq!(keys.len(), 1, "{alg}: key skipped: {:?}", keys.skipped());
        let validation = Validation::builder()
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .algorithms([verifier_alg])
            .build()
            .expect("a valid configuration");
        Case {
            cold_tokens,
            message: message.as_bytes().to_vec(),
            signature: URL_SAFE_NO_PAD.decode(signature).expect("base64url"),
            token,
            keys,
            validation,
            raw: Raw::new(&key),
            now: UNIX_EPOCH + Duration::from_secs(IAT + 60),
        }
    }

    /// The signature math alone.
    #[inline(never)]
    fn raw_verify(&self) -> bool {
        self.raw
            .verify(black_box(&self.message), black_box(&self.signature))
    }

    /// Everything `portcullis-jwt` does for one token.
    #[inline(never)]
    fn full_verify(&self) -> bool {
        self.validation
            .verify(black_box(&self.token), &self.keys, self.now)
            .is_ok()
    }

    /// The same, each time with a header not seen just before (the per-thread memory of
    /// verified headers holds fewer than [`COLD_HEADERS`]).
    #[inline(never)]
    fn full_verify_cold_header(&self, turn: &mut usize) -> bool {
        *turn = (*turn + 1) % self.cold_tokens.len();
        self.validation
            .verify(black_box(&self.cold_tokens[*turn]), &self.keys, self.now)
            .is_ok()
    }

    /// Refuses to time anything that does not verify, or that verifies too much.
    fn assert_sound(&self, name: &str) {
        assert!(
            self.raw.verify(&self.message, &self.signature),
            "{name}: raw"
        );
        let claims = self
            .validation
            .verify(&self.token, &self.keys, self.now)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert!(claims.scopes().contains("orders:write"), "{name}: scopes");
        for token in &self.cold_tokens {
            assert!(
                self.validation.verify(token, &self.keys, self.now).is_ok(),
                "{name}: cold header"
            );
        }
        assert_eq!(claims.issuer(), Some(ISSUER), "{name}: iss");

        let mut tampered_signature = self.signature.clone();
        tampered_signature[0] ^= 0x01;
        assert!(
            !self.raw.verify(&self.message, &tampered_signature),
            "{name}: raw accepted a tampered signature"
        );
        let (message, _) = self.token.rsplit_once('.').expect("three segments");
        let tampered = format!("{message}.{}", URL_SAFE_NO_PAD.encode(&tampered_signature));
        let error = self
            .validation
            .verify(&tampered, &self.keys, self.now)
            .expect_err("a tampered signature is refused");
        assert_eq!(error.kind(), ErrorKind::InvalidSignature, "{name}");

        // A payload changed after signing: `orders:read` becomes `orders:reae`.
        let (header, rest) = message.split_once('.').expect("a header");
        let payload = URL_SAFE_NO_PAD.decode(rest).expect("base64url payload");
        let payload = String::from_utf8(payload)
            .expect("UTF-8")
            .replace("orders:read", "orders:reae");
        let forged = format!(
            "{header}.{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(&self.signature)
        );
        let error = self
            .validation
            .verify(&forged, &self.keys, self.now)
            .expect_err("a tampered payload is refused");
        assert_eq!(error.kind(), ErrorKind::InvalidSignature, "{name}");
    }
}

fn verify(c: &mut Criterion) {
    for (alg, verifier_alg) in ALGORITHMS {
        let case = Case::new(alg, verifier_alg);
        let name = alg.name();
        case.assert_sound(name);

        let mut group = c.benchmark_group(name);
        group.bench_function("raw", |b| b.iter(|| case.raw_verify()));
        group.bench_function("portcullis-jwt", |b| b.iter(|| case.full_verify()));
        let mut turn = 0;
        group.bench_function("portcullis-jwt-new-header", |b| {
            b.iter(|| case.full_verify_cold_header(&mut turn))
        });
        group.finish();
    }
}

/// Runs each case named in `only` (every case if empty) `iterations` times outside
/// criterion, for an instruction-count profile (`valgrind --tool=callgrind`) that does not
/// depend on what else the machine is doing.
fn count(iterations: usize, only: &[String]) {
    for (alg, verifier_alg) in ALGORITHMS {
        if !only.is_empty() && !only.iter().any(|name| name == alg.name()) {
            continue;
        }
        let case = Case::new(alg, verifier_alg);
        case.assert_sound(alg.name());
        for _ in 0..iterations {
            black_box(case.raw_verify());
            black_box(case.full_verify());
        }
        // Apart, or the new headers would push the steady one out of the thread's memory.
        let mut turn = 0;
        for _ in 0..iterations {
            black_box(case.full_verify_cold_header(&mut turn));
        }
    }
}

/// Times raw and full verification in alternation, `rounds` times a short batch of each,
/// and prints the medians and the median of the per-round ratios: a shared machine's
/// drift (other builds, frequency) moves both sides of a ratio taken milliseconds apart
/// alike, where criterion measures one side for seconds and then the other.
#[allow(clippy::print_stdout)]
fn paired(rounds: usize, only: &[String]) {
    use std::time::Instant;
    const BATCH: u32 = 64;
    fn median(values: &mut [f64]) -> f64 {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    }
    println!(
        "| algorithm | raw (µs) | portcullis-jwt (µs) | overhead (µs) | median ratio | new header each time: median ratio |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (alg, verifier_alg) in ALGORITHMS {
        if !only.is_empty() && !only.iter().any(|name| name == alg.name()) {
            continue;
        }
        let case = Case::new(alg, verifier_alg);
        case.assert_sound(alg.name());
        let time = |f: &mut dyn FnMut() -> bool| {
            let started = Instant::now();
            for _ in 0..BATCH {
                black_box(f());
            }
            started.elapsed().as_secs_f64() * 1e6 / f64::from(BATCH)
        };
        let (mut raw, mut full, mut ratio, mut cold_ratio) = (vec![], vec![], vec![], vec![]);
        let mut turn = 0;
        for _ in 0..rounds {
            let r = time(&mut || case.raw_verify());
            let f = time(&mut || case.full_verify());
            let c = time(&mut || case.full_verify_cold_header(&mut turn));
            raw.push(r);
            full.push(f);
            ratio.push(f / r);
            cold_ratio.push(c / r);
        }
        let (raw, full) = (median(&mut raw), median(&mut full));
        // The new-header tokens carry other signatures: only RSA and HMAC checks cost
        // the same for every signature.
        let cold = if matches!(alg.name().get(..2), Some("RS" | "PS" | "HS")) {
            format!("{:.3}", median(&mut cold_ratio))
        } else {
            "n/a".to_owned()
        };
        println!(
            "| {} | {raw:.2} | {full:.2} | {:.2} | {:.3} | {cold} |",
            alg.name(),
            full - raw,
            median(&mut ratio)
        );
    }
}

// `criterion_main!` would generate an undocumented `pub fn`; this is what it expands to,
// with bounded default times (command-line flags still override them).
fn main() {
    if let Ok(rounds) = std::env::var("PORTCULLIS_BENCH_PAIRED") {
        let rounds = rounds.parse().expect("PORTCULLIS_BENCH_PAIRED is a number");
        let only: Vec<String> = std::env::args().skip(1).collect();
        paired(rounds, &only);
        return;
    }
    if let Ok(iterations) = std::env::var("PORTCULLIS_BENCH_ITERATIONS") {
        let iterations = iterations
            .parse()
            .expect("PORTCULLIS_BENCH_ITERATIONS is a number");
        let only: Vec<String> = std::env::args().skip(1).collect();
        count(iterations, &only);
        return;
    }
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    verify(&mut criterion);
    criterion.final_summary();
}
