// A real DPoP client (panva's oauth4webapi) against a resource server, for interop tests:
// the proofs are built by a client library, not by Portcullis's own test code.
//
// It gets a DPoP-bound access token from the provider (client credentials, a DPoP proof
// at the token endpoint), then calls the resource and prints one line per case:
// `<case> <status> <www-authenticate or ->`.
//
//   valid            GET with the token and a fresh proof          (expect 200)
//   replayed         the same request again with the same proof    (expect 401)
//   other-method     POST with the proof made for a GET            (expect 401)
//   other-key        a proof signed with another key               (expect 401)
//   bearer           the token as a bearer token, no proof          (expect 401)
//   no-proof         the DPoP scheme without a proof               (expect 401)
//
// Usage: node dpop-client.mjs <issuer> <client_id> <resource> <url>
import * as oauth from 'oauth4webapi';

const [issuer, clientId, resource, url] = process.argv.slice(2);
const insecure = { [oauth.allowInsecureRequests]: true };

const as = await oauth.processDiscoveryResponse(
  new URL(issuer),
  await oauth.discoveryRequest(new URL(issuer), { ...insecure, algorithm: 'oidc' }),
);
const client = { client_id: clientId };
const keyPair = await oauth.generateKeyPair('ES256');
const DPoP = oauth.DPoP(client, keyPair);

// The token request, retried once if the provider asks for a nonce.
async function token() {
  const request = () =>
    oauth.clientCredentialsGrantRequest(
      as,
      client,
      oauth.ClientSecretPost('secret'),
      { scope: 'read', resource },
      { ...insecure, DPoP },
    );
  let response = await request();
  try {
    return await oauth.processClientCredentialsResponse(as, client, response);
  } catch (error) {
    if (!oauth.isDPoPNonceError(error)) throw error;
    response = await request();
    return oauth.processClientCredentialsResponse(as, client, response);
  }
}

const { access_token: accessToken, token_type: tokenType } = await token();
if (tokenType.toLowerCase() !== 'dpop') throw new Error(`token_type ${tokenType}`);

// The client library throws on a 401 with a challenge (having parsed it); the response
// is reported all the same.
async function send(request) {
  try {
    return await request();
  } catch (error) {
    if (error instanceof oauth.WWWAuthenticateChallengeError) return error.response;
    throw error;
  }
}

function report(name, response) {
  console.log(`${name} ${response.status} ${response.headers.get('www-authenticate') ?? '-'}`);
}

// A request through the client library, keeping the headers it sent.
let sent;
const capture = {
  [oauth.customFetch]: (input, init) => {
    sent = new Headers(init.headers);
    return fetch(input, init);
  },
};
report(
  'valid',
  await send(() =>
    oauth.protectedResourceRequest(accessToken, 'GET', new URL(url), new Headers(), null, {
      ...insecure,
      ...capture,
      DPoP,
    }),
  ),
);
report('replayed', await fetch(url, { headers: sent }));
report('other-method', await fetch(url, { method: 'POST', headers: sent }));

const thief = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
report(
  'other-key',
  await send(() =>
    oauth.protectedResourceRequest(accessToken, 'GET', new URL(url), new Headers(), null, {
      ...insecure,
      DPoP: thief,
    }),
  ),
);
report('bearer', await fetch(url, { headers: { authorization: `Bearer ${accessToken}` } }));
report('no-proof', await fetch(url, { headers: { authorization: `DPoP ${accessToken}` } }));
