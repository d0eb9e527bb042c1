// A real OpenID provider (panva's oidc-provider) on 127.0.0.1, for interop tests.
//
// Client-credentials grants issue RFC 9068 JWT access tokens for the resource
// requested with an RFC 8707 resource indicator. Each client's tokens are signed with
// a different algorithm: client `rs256` with RS256, `ps256` with PS256, `es256` with
// ES256, `eddsa` with EdDSA (Ed25519). Every client's secret is `secret`.
//
// A client that sends a DPoP proof to the token endpoint gets a DPoP-bound token
// (`cnf.jkt`, token type `DPoP`); `dpop-client.mjs` is such a client.
//
// Client `opaque` gets opaque (reference) access tokens, living 600 s, which resource
// servers check by RFC 7662 introspection. Client `resource-server` is the resource
// server's own credential for introspection: `client_secret_basic`, with a secret full
// of reserved characters so that encoding mistakes show. Revocation (RFC 7009) is on.
//
// Usage: node provider.mjs [port]   (default 0: any free port)
// Prints `PORT <n>` on its first line once it is listening.
import { createServer } from 'node:http';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';

const ALGORITHMS = { rs256: 'RS256', ps256: 'PS256', es256: 'ES256', eddsa: 'EdDSA' };
// Access tokens live 60 s: tests check expiry by moving the verifier's clock, not by sleeping.
const ACCESS_TOKEN_TTL = 60;
const OPAQUE_TOKEN_TTL = 600;
// RFC 6749 Appendix A: a client secret is VSCHARs (printable ASCII and space).
export const RESOURCE_SERVER_SECRET = 'intro:spect/+%&= ~';

function signingKey(alg) {
  const { privateKey } =
    alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : alg === 'EdDSA' ? generateKeyPairSync('ed25519')
    : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid: `${alg}-${randomUUID()}` };
}

const server = createServer();
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const { port } = server.address();
  const provider = new Provider(`http://127.0.0.1:${port}`, {
    ttl: {
      ClientCredentials: (ctx, token, client) =>
        client.clientId === 'opaque' ? OPAQUE_TOKEN_TTL : ACCESS_TOKEN_TTL,
    },
    clients: [
      ...[...Object.keys(ALGORITHMS), 'opaque'].map((client_id) => ({
        client_id,
        client_secret: 'secret',
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_post',
      })),
      {
        client_id: 'resource-server',
        client_secret: RESOURCE_SERVER_SECRET,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_basic',
        introspection_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: Object.values(ALGORITHMS).map(signingKey) },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // DPoP-bound tokens (RFC 9449) for clients that send a proof to the token endpoint.
      dPoP: { enabled: true },
      introspection: { enabled: true, allowedPolicy: async () => true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'https://api.test',
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resourceIndicator, client) =>
          client.clientId === 'opaque'
            ? {
                scope: 'read write',
                audience: resourceIndicator,
                accessTokenFormat: 'opaque',
                accessTokenTTL: OPAQUE_TOKEN_TTL,
              }
            : {
                scope: 'read write',
                audience: resourceIndicator,
                accessTokenFormat: 'jwt',
                accessTokenTTL: ACCESS_TOKEN_TTL,
                jwt: { sign: { alg: ALGORITHMS[client.clientId] ?? 'RS256' } },
              },
      },
    },
  });
  server.on('request', provider.callback());
  console.log(`PORT ${port}`);
});

// Exit with the test that started us.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
