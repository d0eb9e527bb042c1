// Real providers' access-token shapes, minted by a real OAuth 2.0 server on 127.0.0.1:
// axa-group's oauth2-mock-server, one issuer per provider under its documented issuer
// path, each with its own OpenID discovery document, JWK Set (an RS256 and an ES256
// key) and token endpoint. Its `beforeTokenSigning` hook reshapes each token the way
// the provider's documentation shows (sources: docs/providers.md), for
// crates/portcullis-gateway/tests/presets_interop.rs.
//
//   provider                      issuer (after http://127.0.0.1:PORT)
//   rfc9068                       /rfc9068
//   keycloak                      /realms/shop
//   entra                         /72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0
//   auth0                         /auth0/            (Auth0's issuer ends with a slash)
//   okta                          /oauth2/default
//   cognito                       /us-east-1_AbCdEf123
//   spring-authorization-server   /spring
//   zitadel                       /zitadel
//
// POST {issuer}/token with a JSON body (client_credentials; no client authentication):
//   grant_type  "client_credentials" (required by the mock server)
//   scope       space-delimited scopes; put where the provider puts them (`scope` as a
//               string or an array, `scp` as a string or an array)
//   aud         the API's audience, a string or an array. Keycloak: without it the token
//               carries aud "account" only, as Keycloak does without an audience mapper,
//               and with it the mapper's audience beside "account". Cognito: never an
//               aud (see client_id).
//   client_id   the calling client (azp, cid, client_id as the provider names it).
//               Cognito: the app client id, which is what a resource server checks.
//   roles       an array of roles (realm roles, app roles, permissions, groups), put
//               where the provider puts them; absent or empty, no roles claim (Keycloak
//               keeps its default realm roles).
//   alg         "RS256" (default) or "ES256": which of the issuer's keys signs.
//
// GET /issuers lists them: {"keycloak": "http://127.0.0.1:PORT/realms/shop", ...}.
//
// Usage: node mock-server.mjs [port]   (default 0: any free port)
// Prints `PORT <n>` on its first line once it is listening; exits when stdin closes.
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { OAuth2Issuer, OAuth2Service } from 'oauth2-mock-server';

const ENTRA_TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
export const ISSUER_PATHS = {
  rfc9068: '/rfc9068',
  keycloak: '/realms/shop',
  entra: `/${ENTRA_TENANT}/v2.0`,
  auth0: '/auth0/',
  okta: '/oauth2/default',
  cognito: '/us-east-1_AbCdEf123',
  'spring-authorization-server': '/spring',
  zitadel: '/zitadel',
};
// Access tokens live 5 minutes, like the testkit's fixtures.
const TOKEN_TTL = 300;
const ALGORITHMS = ['RS256', 'ES256'];

const words = (scope) => (typeof scope === 'string' ? scope.split(' ').filter(Boolean) : []);
const list = (value) => (Array.isArray(value) ? value : value === undefined ? [] : [value]);

// Each provider's shape: `header` and `payload` arrive with the mock server's own
// claims (iss, iat, exp, nbf, scope and aud from the request) and leave as the
// provider's. The mock server writes typ JWT unless the header says otherwise:
// `typ = undefined` leaves it out (JSON has no undefined).
const SHAPES = {
  // RFC 9068 §2.2 as written.
  rfc9068(header, payload, body) {
    header.typ = 'at+jwt';
    Object.assign(payload, {
      sub: 'alice',
      client_id: body.client_id ?? 'web-app',
      jti: randomUUID(),
    });
  },
  // Keycloak 26: typ JWT in the header, typ Bearer in the payload, azp, realm roles
  // under realm_access.roles, aud "account" (plus the audience mapper's).
  keycloak(header, payload, body) {
    header.typ = 'JWT';
    delete payload.nbf;
    const roles = ['offline_access', 'uma_authorization', ...list(body.roles)];
    Object.assign(payload, {
      jti: `onrtac:${randomUUID()}`,
      aud: body.aud === undefined ? 'account' : [...list(body.aud), 'account'],
      sub: 'f1b2c3d4-0000-4000-8000-000000000001',
      typ: 'Bearer',
      azp: body.client_id ?? 'web-app',
      sid: randomUUID(),
      acr: '1',
      'allowed-origins': ['https://shop.example.com'],
      realm_access: { roles },
      resource_access: { account: { roles: ['manage-account', 'view-profile'] } },
      scope: [...new Set(['openid', 'email', 'profile', ...words(body.scope)])].join(' '),
      email_verified: true,
      preferred_username: 'alice',
    });
  },
  // Microsoft Entra ID, v2.0 access token: scopes in scp (a string), app roles in
  // roles, tid/oid/azp, ver "2.0".
  entra(header, payload, body) {
    header.typ = 'JWT';
    // The OpenID Connect scopes are for the ID token, not in the API's scp.
    const scp = words(payload.scope)
      .filter((s) => !['openid', 'profile', 'email', 'offline_access'].includes(s))
      .join(' ');
    delete payload.scope;
    Object.assign(payload, {
      aio: 'AWQAm/8TAAAA',
      azp: body.client_id ?? '6e74172b-be56-4843-9ff4-e66a39bb12e3',
      azpacr: '0',
      name: 'Alice',
      oid: '690222be-ff1a-4d56-abd1-7e4f7d38e474',
      preferred_username: 'alice@contoso.com',
      rh: '0.AAAA',
      sid: randomUUID(),
      sub: 'AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ',
      tid: ENTRA_TENANT,
      uti: 'fqiBqXLPj0eQa82S-IYFAA',
      ver: '2.0',
    });
    if (scp !== '') payload.scp = scp;
    if (list(body.roles).length > 0) payload.roles = list(body.roles);
  },
  // Auth0, its default access-token profile: typ JWT, RBAC permissions, and the
  // /userinfo audience beside the API's when openid is asked for.
  auth0(header, payload, body) {
    header.typ = 'JWT';
    delete payload.nbf;
    const aud = list(body.aud);
    if (words(body.scope).includes('openid')) aud.push(`${payload.iss}userinfo`);
    Object.assign(payload, {
      sub: 'auth0|5f7c8ec7c33c6c004bbafe82',
      aud: aud.length === 1 ? aud[0] : aud,
      azp: body.client_id ?? 'web-app',
    });
    if (list(body.roles).length > 0) payload.permissions = list(body.roles);
  },
  // Okta custom authorization server: no typ, ver 1, jti "AT.…", cid, uid, scp (an
  // array), and a groups claim where the server is configured to add one.
  okta(header, payload, body) {
    header.typ = undefined;
    delete payload.nbf;
    const scp = words(payload.scope);
    delete payload.scope;
    Object.assign(payload, {
      ver: 1,
      jti: `AT.${randomUUID()}`,
      cid: body.client_id ?? '0oa1b2c3d4e5f6g7h8i9',
      uid: '00u1a2b3c4d5e6f7g8h9',
      scp,
      auth_time: payload.iat,
      sub: 'alice@example.com',
    });
    if (list(body.roles).length > 0) payload.groups = list(body.roles);
  },
  // Amazon Cognito user pool access token: no typ, no aud, client_id, token_use
  // "access", cognito:groups, username.
  cognito(header, payload, body) {
    header.typ = undefined;
    delete payload.aud;
    delete payload.nbf;
    Object.assign(payload, {
      sub: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee',
      version: 2,
      client_id: body.client_id ?? '1example23456789',
      origin_jti: randomUUID(),
      event_id: randomUUID(),
      token_use: 'access',
      auth_time: payload.iat,
      jti: randomUUID(),
      username: 'alice',
    });
    if (list(body.roles).length > 0) payload['cognito:groups'] = list(body.roles);
  },
  // Spring Authorization Server: no typ, scope as an array, aud the client id unless a
  // token customizer sets the API's.
  'spring-authorization-server'(header, payload, body) {
    header.typ = undefined;
    Object.assign(payload, {
      sub: 'alice',
      aud: body.aud ?? body.client_id ?? 'web-app',
      scope: words(payload.scope),
      jti: randomUUID(),
    });
    // The authorized scopes, as a set: left out when none was granted.
    if (payload.scope.length === 0) delete payload.scope;
  },
  // ZITADEL, JWT access tokens: no typ, aud the project's id (the request's aud) and
  // the client's, azp the client, project roles as an object of role → { org id: org
  // domain }, no scope claim.
  zitadel(header, payload, body) {
    header.typ = undefined;
    const client = body.client_id ?? '164849683489734567@shop';
    Object.assign(payload, {
      sub: '164849683489734565',
      aud: [...list(body.aud), client],
      jti: randomUUID(),
      azp: client,
    });
    delete payload.scope;
    if (list(body.roles).length > 0) {
      payload['urn:zitadel:iam:org:project:roles'] = Object.fromEntries(
        list(body.roles).map((role) => [role, { '164849683489734568': 'acme.zitadel.cloud' }]),
      );
    }
  },
};

// The mock server signs with its keys in turn; a token request names the key with
// `alg`, so the service's token builder passes that key's id on.
class ProviderService extends OAuth2Service {
  constructor(issuer, kids) {
    super(issuer);
    this.kids = kids;
  }

  async buildToken(req, expiresIn, scopesOrTransform) {
    const kid = this.kids[req.body?.alg ?? 'RS256'];
    if (kid === undefined) throw new Error(`unknown alg ${req.body?.alg}`);
    this.issuer.once('beforeSigning', (token) => this.emit('beforeTokenSigning', token, req));
    return this.issuer.buildToken({ scopesOrTransform, expiresIn: TOKEN_TTL, kid });
  }
}

async function providerService(name, origin) {
  const issuer = new OAuth2Issuer();
  issuer.url = `${origin}${ISSUER_PATHS[name]}`;
  const kids = {};
  for (const alg of ALGORITHMS) {
    kids[alg] = (await issuer.keys.generate(alg, { kid: `${name}-${alg}-${randomUUID()}` })).kid;
  }
  const service = new ProviderService(issuer, kids);
  service.on('beforeTokenSigning', (token, req) => {
    SHAPES[name](token.header, token.payload, req.body ?? {});
  });
  return service;
}

const server = createServer();
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', async () => {
  const { port } = server.address();
  const origin = `http://127.0.0.1:${port}`;
  // Longest prefix first, so that no issuer path shadows another.
  const mounts = [];
  for (const name of Object.keys(ISSUER_PATHS)) {
    const prefix = ISSUER_PATHS[name].replace(/\/$/, '');
    mounts.push({ prefix, handler: (await providerService(name, origin)).requestHandler });
  }
  mounts.sort((a, b) => b.prefix.length - a.prefix.length);
  const issuers = Object.fromEntries(
    Object.entries(ISSUER_PATHS).map(([name, path]) => [name, `${origin}${path}`]),
  );
  server.on('request', (req, res) => {
    if (req.url === '/issuers') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(issuers));
      return;
    }
    const mount = mounts.find(
      ({ prefix }) => req.url === prefix || req.url.startsWith(`${prefix}/`),
    );
    if (mount === undefined) {
      res.writeHead(404).end();
      return;
    }
    req.url = req.url.slice(mount.prefix.length) || '/';
    mount.handler(req, res);
  });
  console.log(`PORT ${port}`);
});

// Exit with the test that started us.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
