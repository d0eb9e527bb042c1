//! The published JWS examples of RFC 7515 (Appendix A.1 to A.4), RFC 7520 (sections 4.1
//! to 4.4) and RFC 8037 (Appendix A.4) verify with Portcullis as printed, and stop
//! verifying when one bit of the signature or of the signing input is flipped.
//!
//! The vectors are quoted from the RFCs. A transcription slip would make these tests
//! meaningless, so every token and key was compared with independent copies in other
//! JOSE implementations' test suites and checked with a second implementation (OpenSSL,
//! through Python `cryptography`) before being written down here.
//!
//! The payloads of RFC 7515 A.1 to A.3 are JWT claims sets, so those tokens go through
//! `Validation::verify` end to end. The other payloads are not JSON (`Payload`, the
//! Tolkien quote, `Example of Ed25519 signing`): they are checked with `Key::verify` over
//! the signing input, and `Validation::verify` must refuse them as malformed, which it
//! only gets to once the signature has verified.
//!
//! The last test pins the token of the crate-level doc example to a real Ed25519
//! signature by the RFC 8037 example key.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_jwt::dangerous::DangerousValidation as _;
use portcullis_jwt::{
    Algorithm, Claims, ErrorKind, Key, KeySet, NumericDate, SkipReason, Validation, VerifiedBy,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------
// RFC 7515 Appendix A
// ---------------------------------------------------------------------------------------

/// RFC 7515 A.1.1: the HS256 key (`k` of an `oct` JWK).
const A1_K: &str = concat!(
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4h",
    "cgUuTwjAzZr1Z9CAow",
);

/// RFC 7515 A.1.1: the HS256 JWS, header `{"typ":"JWT",\r\n "alg":"HS256"}`.
const A1_TOKEN: &str = concat!(
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9",
    ".",
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt",
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ",
    ".",
    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
);

/// RFC 7515 A.2.1: the RSA modulus (`e` is `AQAB`).
const A2_N: &str = concat!(
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx",
    "HmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMs",
    "D1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSH",
    "SXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdV",
    "MTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8",
    "NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",
);

/// RFC 7515 A.2.1: the RS256 JWS, header `{"alg":"RS256"}`.
const A2_TOKEN: &str = concat!(
    "eyJhbGciOiJSUzI1NiJ9",
    ".",
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt",
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ",
    ".",
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7",
    "AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4",
    "BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K",
    "0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv",
    "hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB",
    "p0igcN_IoypGlUPQGe77Rw",
);

/// RFC 7515 A.3.1: the P-256 public key.
const A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

/// RFC 7515 A.3.1: the ES256 JWS, header `{"alg":"ES256"}`, same claims as A.1 and A.2.
const A3_TOKEN: &str = concat!(
    "eyJhbGciOiJFUzI1NiJ9",
    ".",
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt",
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ",
    ".",
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSA",
    "pmWQxfKTUJqPP3-Kg6NU1Q",
);

/// RFC 7515 A.4.1: the P-521 public key.
const A4_X: &str = concat!(
    "AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_",
    "NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk",
);
const A4_Y: &str = concat!(
    "ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDl",
    "y79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2",
);

/// RFC 7515 A.4.1: the ES512 JWS, header `{"alg":"ES512"}`, payload `Payload`.
const A4_TOKEN: &str = concat!(
    "eyJhbGciOiJFUzUxMiJ9",
    ".",
    "UGF5bG9hZA",
    ".",
    "AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZq",
    "wqT2SI-KGDKB34XO0aw_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8Kp",
    "EHwJjyqOgzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn",
);

/// The `exp` of the RFC 7515 claims set.
const A_EXP: u64 = 1_300_819_380;
/// A moment before it.
const A_NOW: u64 = A_EXP - 380;

// ---------------------------------------------------------------------------------------
// RFC 7520 sections 3 and 4
// ---------------------------------------------------------------------------------------

const BILBO: &str = "bilbo.baggins@hobbiton.example";

/// RFC 7520 Figure 3: the RSA 2048-bit public key (`e` is `AQAB`).
const RFC7520_RSA_N: &str = concat!(
    "n4EPtAOCc9AlkeQHPzHStgAbgs7bTZLwUBZdR8_KuKPEHLd4rHVTeT",
    "-O-XV2jRojdNhxJWTDvNd7nqQ0VEiZQHz_AJmSCpMaJMRBSFKrKb2wqV",
    "wGU_NsYOYL-QtiWN2lbzcEe6XC0dApr5ydQLrHqkHHig3RBordaZ6Aj-",
    "oBHqFEHYpPe7Tpe-OfVfHd1E6cS6M1FZcD1NNLYD5lFHpPI9bTwJlsde",
    "3uhGqC0ZCuEHg8lhzwOHrtIQbS0FVbb9k3-tVTU4fg_3L_vniUFAKwuC",
    "LqKnS2BYwdq_mzSnbLY7h_qixoR7jig3__kRhuaxwUkRz5iaiQkqgc5g",
    "HdrNP5zw",
);

/// RFC 7520 Figure 1: the P-521 public key.
const RFC7520_EC_X: &str = concat!(
    "AHKZLLOsCOzz5cY97ewNUajB957y-C-U88c3v13nmGZx6sYl_oJXu9",
    "A5RkTKqjqvjyekWF-7ytDyRXYgCF5cj0Kt",
);
const RFC7520_EC_Y: &str = concat!(
    "AdymlHvOiLxXkEhayXQnNCvDX4h9htZaCJN34kfmC6pV5OhQHiraVy",
    "SsUdaQkAgDPrwQrJmbnX9cwlGfP-HqHZR1",
);

/// RFC 7520 Figure 5: the HMAC SHA-256 key.
const RFC7520_HMAC_KID: &str = "018c0ae5-4d9b-471b-bfd6-eef314bc7037";
const RFC7520_HMAC_K: &str = "hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg";

/// RFC 7520 Figure 7: the payload of every section 4 example.
const RFC7520_PAYLOAD: &str = concat!(
    "It\u{2019}s a dangerous business, Frodo, going out your ",
    "door. You step onto the road, and if you don't keep your feet, ",
    "there\u{2019}s no knowing where you might be swept off ",
    "to.",
);

/// RFC 7520 Figure 8: that payload, base64url-encoded.
const RFC7520_PAYLOAD_B64: &str = concat!(
    "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IH",
    "lvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBk",
    "b24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcm",
    "UgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4",
);

/// RFC 7520 Figure 13: RS256.
const RFC7520_4_1: &str = concat!(
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZX",
    "hhbXBsZSJ9",
    ".",
    "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IH",
    "lvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBk",
    "b24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcm",
    "UgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4",
    ".",
    "MRjdkly7_-oTPTS3AXP41iQIGKa80A0ZmTuV5MEaHoxnW2e5CZ5NlKtainoFmK",
    "ZopdHM1O2U4mwzJdQx996ivp83xuglII7PNDi84wnB-BDkoBwA78185hX-Es4J",
    "IwmDLJK3lfWRa-XtL0RnltuYv746iYTh_qHRD68BNt1uSNCrUCTJDt5aAE6x8w",
    "W1Kt9eRo4QPocSadnHXFxnt8Is9UzpERV0ePPQdLuW3IS_de3xyIrDaLGdjluP",
    "xUAhb6L2aXic1U12podGU0KLUQSE_oI-ZnmKJ3F4uOZDnd6QZWJushZ41Axf_f",
    "cIe8u9ipH84ogoree7vjbU5y18kDquDg",
);

/// RFC 7520 Figure 20: PS384.
const RFC7520_4_2: &str = concat!(
    "eyJhbGciOiJQUzM4NCIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZX",
    "hhbXBsZSJ9",
    ".",
    "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IH",
    "lvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBk",
    "b24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcm",
    "UgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4",
    ".",
    "cu22eBqkYDKgIlTpzDXGvaFfz6WGoz7fUDcfT0kkOy42miAh2qyBzk1xEsnk2I",
    "pN6-tPid6VrklHkqsGqDqHCdP6O8TTB5dDDItllVo6_1OLPpcbUrhiUSMxbbXU",
    "vdvWXzg-UD8biiReQFlfz28zGWVsdiNAUf8ZnyPEgVFn442ZdNqiVJRmBqrYRX",
    "e8P_ijQ7p8Vdz0TTrxUeT3lm8d9shnr2lfJT8ImUjvAA2Xez2Mlp8cBE5awDzT",
    "0qI0n6uiP1aCN_2_jLAeQTlqRHtfa64QQSUmFAAjVKPbByi7xho0uTOcbH510a",
    "6GYmJUAfmWjwZ6oD4ifKo8DYM-X72Eaw",
);

/// RFC 7520 Figure 27: ES512.
const RFC7520_4_3: &str = concat!(
    "eyJhbGciOiJFUzUxMiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZX",
    "hhbXBsZSJ9",
    ".",
    "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IH",
    "lvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBk",
    "b24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcm",
    "UgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4",
    ".",
    "AE_R_YZCChjn4791jSQCrdPZCNYqHXCTZH0-JZGYNlaAjP2kqaluUIIUnC9qvb",
    "u9Plon7KRTzoNEuT4Va2cmL1eJAQy3mtPBu_u_sDDyYjnAMDxXPn7XrT0lw-kv",
    "AD890jl8e2puQens_IEKBpHABlsbEPX6sFY8OcGDqoRuBomu9xQ2",
);

/// RFC 7520 Figure 34: HS256.
const RFC7520_4_4: &str = concat!(
    "eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTRkOWItNDcxYi1iZmQ2LW",
    "VlZjMxNGJjNzAzNyJ9",
    ".",
    "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IH",
    "lvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBk",
    "b24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcm",
    "UgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4",
    ".",
    "s0h6KThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0",
);

// ---------------------------------------------------------------------------------------
// RFC 8037 Appendix A
// ---------------------------------------------------------------------------------------

/// RFC 8037 A.1: the Ed25519 private key (the seed).
const RFC8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
/// RFC 8037 A.2: the public key.
const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

/// RFC 8037 A.4: the EdDSA JWS, header `{"alg":"EdDSA"}`, payload
/// `Example of Ed25519 signing`.
const RFC8037_TOKEN: &str = concat!(
    "eyJhbGciOiJFZERTQSJ9",
    ".",
    "RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc",
    ".",
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5B",
    "hVsPt9g7sVvpAr_MuM0KAg",
);

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn b64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(text)
        .unwrap_or_else(|e| panic!("{text:?} is not base64url: {e}"))
}

fn jwk(value: &Value) -> Key {
    Key::from_jwk(value).unwrap_or_else(|reason| panic!("{value} was refused: {reason}"))
}

/// The JWS Signing Input (the bytes before the last '.') and the decoded signature.
fn split(token: &str) -> (&[u8], Vec<u8>) {
    let (signing_input, signature) = token.rsplit_once('.').expect("a compact JWS");
    (signing_input.as_bytes(), b64(signature))
}

/// `bytes` with bit `bit` (counted from the start, least significant first) flipped.
fn flip(bytes: &[u8], bit: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[bit / 8] ^= 1 << (bit % 8);
    out
}

/// `key` verifies `token` with `alg`, and no longer does once any one bit of the
/// signature, or any one bit of the signing input, is flipped.
fn assert_vector(name: &str, key: &Key, alg: Algorithm, token: &str) {
    let (input, signature) = split(token);
    assert!(
        key.verify(alg, input, &signature),
        "{name}: the published signature does not verify"
    );
    for bit in 0..signature.len() * 8 {
        assert!(
            !key.verify(alg, input, &flip(&signature, bit)),
            "{name}: verifies with bit {bit} of the signature flipped"
        );
    }
    for bit in 0..input.len() * 8 {
        assert!(
            !key.verify(alg, &flip(input, bit), &signature),
            "{name}: verifies with bit {bit} of the signing input flipped"
        );
    }
}

/// `token` with bit `bit` of its decoded segment `segment` (0 header, 1 payload,
/// 2 signature) flipped, re-encoded.
fn tamper(token: &str, segment: usize, bit: usize) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[segment] = URL_SAFE_NO_PAD.encode(flip(&b64(&parts[segment]), bit));
    parts.join(".")
}

/// Rules the RFC 7515 examples can meet: issuer `joe`, untyped or `JWT`-typed tokens,
/// no audience (the examples have none), and only `alg`.
fn validation(alg: Algorithm) -> Validation {
    Validation::builder()
        .issuer("joe")
        .dangerous_accept_any_audience()
        .require_access_token_type(false)
        .algorithms(alg)
        .build()
        .expect("a valid configuration")
}

fn kind(result: Result<Claims, portcullis_jwt::Error>) -> ErrorKind {
    match result {
        Ok(claims) => panic!("accepted: {}", claims.payload_json()),
        Err(error) => error.kind(),
    }
}

/// `token` (one of RFC 7515 A.1 to A.3) verifies end to end with `keys` and yields the
/// example claims; one bit flipped in the signature, or in `iss` ("joe" becomes "koe"),
/// and it is refused for its signature; after `exp`, it is refused as expired.
fn assert_end_to_end(name: &str, token: &str, keys: &KeySet, alg: Algorithm) {
    let validation = validation(alg);
    let claims = validation
        .verify(token, keys, at(A_NOW))
        .unwrap_or_else(|e| panic!("{name}: refused: {e:?}"));
    assert_eq!(claims.issuer(), Some("joe"), "{name}");
    assert_eq!(
        claims.expires_at().map(NumericDate::as_seconds),
        Some(1_300_819_380),
        "{name}"
    );
    assert_eq!(
        claims.get("http://example.com/is_root"),
        Some(&json!(true)),
        "{name}"
    );
    match claims.verified_by() {
        VerifiedBy::Jwt { algorithm, .. } => assert_eq!(*algorithm, alg, "{name}"),
        other => panic!("{name}: verified by {other:?}"),
    }

    let signature_bits = b64(token.rsplit_once('.').expect("a compact JWS").1).len() * 8;
    for bit in [0, signature_bits / 2 + 3, signature_bits - 1] {
        assert_eq!(
            kind(validation.verify(&tamper(token, 2, bit), keys, at(A_NOW))),
            ErrorKind::InvalidSignature,
            "{name}: signature bit {bit}"
        );
    }

    let payload = b64(token.split('.').nth(1).expect("a payload"));
    let j = payload
        .windows(5)
        .position(|w| w == b"\"joe\"")
        .expect("\"iss\":\"joe\"")
        + 1;
    let koe = tamper(token, 1, j * 8);
    assert!(
        b64(koe.split('.').nth(1).expect("a payload"))
            .windows(5)
            .any(|w| w == b"\"koe\""),
        "{name}: the flip should turn joe into koe"
    );
    assert_eq!(
        kind(validation.verify(&koe, keys, at(A_NOW))),
        ErrorKind::InvalidSignature,
        "{name}: iss flipped to koe"
    );

    assert_eq!(
        kind(validation.verify(token, keys, at(A_EXP + 3600))),
        ErrorKind::Expired,
        "{name}"
    );
}

/// `token` verifies at the signature level with the only key of `keys`, but its payload
/// is not a JSON object, so `Validation::verify` refuses it as malformed, and only
/// because of the payload: with one bit of the signature flipped, the signature is what
/// fails.
fn assert_payload_refused(name: &str, token: &str, keys: &KeySet, alg: Algorithm) {
    let validation = validation(alg);
    let error = validation
        .verify(token, keys, at(A_NOW))
        .map(|claims| claims.payload_json().to_owned())
        .expect_err(name);
    assert_eq!(error.kind(), ErrorKind::Malformed, "{name}: {error:?}");
    assert_eq!(error.detail(), Some("payload"), "{name}: {error:?}");
    assert_eq!(
        kind(validation.verify(&tamper(token, 2, 0), keys, at(A_NOW))),
        ErrorKind::InvalidSignature,
        "{name}"
    );
}

/// A vector whose payload is not a claims object: the signature verifies with `key`
/// ([`assert_vector`]), and verification refuses the payload ([`assert_payload_refused`]).
fn assert_payload_only_vector(name: &str, key: Key, alg: Algorithm, token: &str) {
    assert_vector(name, &key, alg, token);
    let keys = KeySet::from_keys([key]);
    assert_payload_refused(name, token, &keys, alg);
}

/// A vector published with a JWK Set holding its one key: the signature
/// ([`assert_vector`]) and the whole verification ([`assert_end_to_end`]).
fn assert_jwks_vector(name: &str, jwks: &Value, alg: Algorithm, token: &str) {
    let keys = KeySet::from_jwks(jwks.to_string().as_bytes()).expect("a JWK Set document");
    assert_eq!(keys.len(), 1, "{name}: {:?}", keys.skipped());
    assert_vector(name, &keys.keys()[0], alg, token);
    assert_end_to_end(name, token, &keys, alg);
}

fn rfc7520_rsa_key() -> Key {
    jwk(&json!({
        "kty": "RSA",
        "kid": BILBO,
        "use": "sig",
        "n": RFC7520_RSA_N,
        "e": "AQAB",
    }))
}

fn rfc7520_ec_key() -> Key {
    jwk(&json!({
        "kty": "EC",
        "kid": BILBO,
        "use": "sig",
        "crv": "P-521",
        "x": RFC7520_EC_X,
        "y": RFC7520_EC_Y,
    }))
}

fn rfc7520_hmac_key() -> Key {
    Key::hmac_secret(
        Some(RFC7520_HMAC_KID),
        Algorithm::HS256,
        &b64(RFC7520_HMAC_K),
    )
    .expect("a 32-byte HS256 secret")
}

// ---------------------------------------------------------------------------------------
// RFC 7515
// ---------------------------------------------------------------------------------------

#[test]
fn rfc7515_a1_hs256() {
    // The example key is an `oct` JWK. Shared secrets are never taken from a JWK Set,
    // so loading it that way skips it; the application configures it instead.
    let oct = json!({ "kty": "oct", "k": A1_K });
    assert_eq!(Key::from_jwk(&oct).err(), Some(SkipReason::SymmetricKey));
    let from_jwks = KeySet::from_jwks(json!({ "keys": [oct] }).to_string().as_bytes())
        .expect("a JWK Set document");
    assert!(from_jwks.is_empty());
    assert_eq!(from_jwks.skipped().len(), 1);
    assert_eq!(from_jwks.skipped()[0].reason, SkipReason::SymmetricKey);
    assert_eq!(
        kind(validation(Algorithm::HS256).verify(A1_TOKEN, &from_jwks, at(A_NOW))),
        ErrorKind::NoMatchingKey
    );

    let key = Key::hmac_secret(None, Algorithm::HS256, &b64(A1_K)).expect("a 64-byte secret");
    assert_vector("RFC 7515 A.1", &key, Algorithm::HS256, A1_TOKEN);
    let keys = KeySet::from_keys([key]);
    assert_end_to_end("RFC 7515 A.1", A1_TOKEN, &keys, Algorithm::HS256);

    // Typed `JWT`, not `at+jwt`: refused under the default RFC 9068 rule.
    let strict = Validation::builder()
        .issuer("joe")
        .dangerous_accept_any_audience()
        .algorithms(Algorithm::HS256)
        .build()
        .expect("a valid configuration");
    assert_eq!(
        kind(strict.verify(A1_TOKEN, &keys, at(A_NOW))),
        ErrorKind::InvalidType
    );
}

#[test]
fn rfc7515_a2_rs256() {
    let jwks = json!({ "keys": [{ "kty": "RSA", "n": A2_N, "e": "AQAB" }] });
    assert_jwks_vector("RFC 7515 A.2", &jwks, Algorithm::RS256, A2_TOKEN);
}

#[test]
fn rfc7515_a3_es256() {
    let jwks = json!({ "keys": [{ "kty": "EC", "crv": "P-256", "x": A3_X, "y": A3_Y }] });
    assert_jwks_vector("RFC 7515 A.3", &jwks, Algorithm::ES256, A3_TOKEN);
}

#[test]
fn rfc7515_a4_es512() {
    assert_eq!(
        b64(A4_TOKEN.split('.').nth(1).expect("a payload")),
        b"Payload"
    );
    let key = jwk(&json!({ "kty": "EC", "crv": "P-521", "x": A4_X, "y": A4_Y }));
    assert_payload_only_vector("RFC 7515 A.4", key, Algorithm::ES512, A4_TOKEN);
}

// ---------------------------------------------------------------------------------------
// RFC 7520
// ---------------------------------------------------------------------------------------

#[test]
fn rfc7520_payload_is_the_quote() {
    assert_eq!(b64(RFC7520_PAYLOAD_B64), RFC7520_PAYLOAD.as_bytes());
    for token in [RFC7520_4_1, RFC7520_4_2, RFC7520_4_3, RFC7520_4_4] {
        assert_eq!(token.split('.').nth(1), Some(RFC7520_PAYLOAD_B64));
    }
}

#[test]
fn rfc7520_4_1_rs256() {
    assert_payload_only_vector(
        "RFC 7520 4.1",
        rfc7520_rsa_key(),
        Algorithm::RS256,
        RFC7520_4_1,
    );
}

#[test]
fn rfc7520_4_2_ps384() {
    assert_payload_only_vector(
        "RFC 7520 4.2",
        rfc7520_rsa_key(),
        Algorithm::PS384,
        RFC7520_4_2,
    );
}

#[test]
fn rfc7520_4_3_es512() {
    assert_payload_only_vector(
        "RFC 7520 4.3",
        rfc7520_ec_key(),
        Algorithm::ES512,
        RFC7520_4_3,
    );
}

#[test]
fn rfc7520_4_4_hs256() {
    assert_payload_only_vector(
        "RFC 7520 4.4",
        rfc7520_hmac_key(),
        Algorithm::HS256,
        RFC7520_4_4,
    );
}

#[test]
fn rfc7520_signatures_do_not_cross_algorithms() {
    // The same RSA key verifies both 4.1 and 4.2, each only under its own algorithm.
    let key = rfc7520_rsa_key();
    let (input, signature) = split(RFC7520_4_1);
    for alg in [Algorithm::RS384, Algorithm::RS512, Algorithm::PS256] {
        assert!(!key.verify(alg, input, &signature), "4.1 under {alg}");
    }
    let (input, signature) = split(RFC7520_4_2);
    for alg in [Algorithm::PS256, Algorithm::PS512, Algorithm::RS384] {
        assert!(!key.verify(alg, input, &signature), "4.2 under {alg}");
    }
}

// ---------------------------------------------------------------------------------------
// RFC 8037
// ---------------------------------------------------------------------------------------

#[test]
fn rfc8037_a4_ed25519() {
    assert_eq!(
        b64(RFC8037_TOKEN.split('.').nth(1).expect("a payload")),
        b"Example of Ed25519 signing"
    );
    let key = jwk(&json!({ "kty": "OKP", "crv": "Ed25519", "x": RFC8037_X }));
    // `EdDSA` (RFC 8037) and its fully specified name `Ed25519` (RFC 9864) are the same
    // signature for an Ed25519 key.
    assert_vector("RFC 8037 A.4", &key, Algorithm::EdDSA, RFC8037_TOKEN);
    assert_vector("RFC 8037 A.4", &key, Algorithm::Ed25519, RFC8037_TOKEN);
    assert_payload_only_vector("RFC 8037 A.4", key, Algorithm::EdDSA, RFC8037_TOKEN);
}

// ---------------------------------------------------------------------------------------
// The crate-level doc example
// ---------------------------------------------------------------------------------------

/// The token string of the doc example in `src/lib.rs`, its `\` line continuations
/// joined.
fn doc_example_token(lib_rs: &str) -> String {
    let mut lines = lib_rs
        .lines()
        .map(|line| line.trim_start().trim_start_matches("//!").trim_start());
    let mut line = lines
        .by_ref()
        .find_map(|line| line.strip_prefix("let token = \""))
        .expect("`let token = \"` in the crate docs");
    let mut token = String::new();
    while let Some(part) = line.strip_suffix('\\') {
        token.push_str(part);
        line = lines.next().expect("the continued token literal");
    }
    token.push_str(
        line.strip_suffix("\";")
            .expect("the end of the token literal"),
    );
    token
}

#[test]
fn crate_doc_example_token_is_signed_by_the_rfc_8037_key() {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};

    let pair = Ed25519KeyPair::from_seed_unchecked(&b64(RFC8037_D)).expect("a 32-byte seed");
    assert_eq!(pair.public_key().as_ref(), b64(RFC8037_X).as_slice());

    // Ed25519 is deterministic: this is the only signature of this input by this key.
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","kid":"k1","typ":"at+jwt"}"#);
    let payload = URL_SAFE_NO_PAD.encode(concat!(
        r#"{"iss":"https://issuer.example","aud":"https://api.example","sub":"alice","#,
        r#""client_id":"app","scope":"read write","exp":2000000000,"iat":1700000000,"#,
        r#""jti":"1"}"#,
    ));
    let signing_input = format!("{header}.{payload}");
    let signature = URL_SAFE_NO_PAD.encode(pair.sign(signing_input.as_bytes()));
    let token = format!("{signing_input}.{signature}");

    assert_eq!(
        doc_example_token(include_str!("../src/lib.rs")),
        token,
        "the token of the doc example in src/lib.rs should be {token}"
    );
    let key = jwk(&json!({ "kty": "OKP", "crv": "Ed25519", "x": RFC8037_X }));
    assert_vector("doc example", &key, Algorithm::EdDSA, &token);
}
