// A real OpenID provider (panva's oidc-provider) on 127.0.0.1, for interop tests.
//
// Client-credentials grants issue RFC 9068 JWT access tokens for the resource
// requested with an RFC 8707 resource indicator. Each client's tokens are signed with
// a different algorithm: client `rs256` with RS256, `ps256` with PS256, `es256` with
// ES256, `eddsa` with EdDSA (Ed25519). Every client's secret is `secret`.
//
// Usage: node provider.mjs [port]   (default 0: any free port)
// Prints `PORT <n>` on its first line once it is listening.
import { createServer } from 'node:http';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';

const ALGORITHMS = { rs256: 'RS256', ps256: 'PS256', es256: 'ES256', eddsa: 'EdDSA' };
// Access tokens live 60 s: tests check expiry by moving the verifier's clock, not by sleeping.
const ACCESS_TOKEN_TTL = 60;

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
    ttl: { ClientCredentials: ACCESS_TOKEN_TTL },
    clients: Object.keys(ALGORITHMS).map((client_id) => ({
      client_id,
      client_secret: 'secret',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_post',
    })),
    jwks: { keys: Object.values(ALGORITHMS).map(signingKey) },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'https://api.test',
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resourceIndicator, client) => ({
          scope: 'read write',
          audience: resourceIndicator,
          accessTokenFormat: 'jwt',
          accessTokenTTL: ACCESS_TOKEN_TTL,
          jwt: { sign: { alg: ALGORITHMS[client.clientId] } },
        }),
      },
    },
  });
  server.on('request', provider.callback());
  console.log(`PORT ${port}`);
});

// Exit with the test that started us.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
