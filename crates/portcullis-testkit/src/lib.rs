//! A local OAuth 2.0 issuer for testing resource servers.
//!
//! Generate keys for every JWS algorithm, mint access tokens with any header and claims
//! (including wrong ones), and publish the matching JWK Set. Signing goes through
//! [josekit](https://docs.rs/josekit) (OpenSSL), an implementation independent of the
//! one Portcullis verifies with, so a verifier is never checked only against itself.
//!
//! ```
//! use portcullis_testkit::{SigningAlgorithm, SigningKey, jwks};
//!
//! let key = SigningKey::generate(SigningAlgorithm::ES256);
//! let token = key
//!     .token()
//!     .standard_claims("https://issuer.test", "https://api.test", 1_700_000_000)
//!     .claim("scope", "read write")
//!     .sign();
//! assert_eq!(token.split('.').count(), 3);
//! let document = jwks([&key]);
//! assert_eq!(document["keys"][0]["kid"], key.kid());
//! ```
//!
//! [`TestIssuer`] serves all of this on `127.0.0.1` (port 0) like a real authorization
//! server: OpenID Connect and RFC 8414 discovery, a JWK Set with a configurable
//! `Cache-Control`, key rotation, and per-endpoint fault injection ([`Fault`]) with
//! request counters, so a resource server's behaviour during rotations and outages can
//! be tested end to end.
//!
//! Around it, the rest of what integration tests share: [`TestServer`] (the loopback
//! accept loop, HTTP/1.1 and h2c), [`EchoUpstream`] (an upstream that answers with what
//! it received), [`UpgradeEcho`] (an upstream that switches WebSocket handshakes to a
//! byte echo) with [`raw_websocket_handshake`], a raw HTTP/1.1 client ([`raw_get`],
//! [`RawResponse`]) for requests real clients would not send, the names and times tests
//! agree on ([`fixture`]), the real servers and clients from npm that interop tests run
//! ([`NodePeer`]), and [`RedisServer`], a `redis-server` on a free loopback port for
//! tests of what replicas share.

mod dpop;
mod echo;
pub mod fixture;
mod issuer;
mod key;
mod node_peer;
mod providers;
mod raw_client;
mod redis;
mod server;
pub mod tls;
mod token;
mod upgrade;

pub use dpop::access_token_hash;
pub use echo::{EchoUpstream, headers_json};

pub use issuer::{
    Endpoint, Fault, INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET, IntrospectionClient,
    TestIssuer, TestIssuerBuilder,
};
pub use key::{SigningAlgorithm, SigningKey, jwks, random_id};
pub use node_peer::{NodePeer, REQUIRE_INTEROP};
pub use providers::Provider;
pub use raw_client::{RawResponse, raw_exchange, raw_get, raw_get_with_token};
pub use redis::{REQUIRE_REDIS, RedisServer};
pub use server::TestServer;
pub use token::{TokenBuilder, encode_compact};
pub use upgrade::{UpgradeEcho, raw_websocket_handshake, websocket_accept};
