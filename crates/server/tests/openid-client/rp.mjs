// openid-client (OpenID Certified) as an application signing in through ssogate:
// discovery, an authorization URL with PKCE, state and nonce (printed), then — given the
// callback URL on stdin — the code exchange with every check openid-client makes (the
// RFC 9207 iss, state, the ID token's signature, issuer, audience, nonce, expiry),
// userinfo, a refresh, and the end-session URL. Prints `result {json}`.
//
//   ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, POST_LOGOUT_URI
import * as client from 'openid-client';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is required`);
  return v;
};

const config = await client.discovery(
  new URL(env('ISSUER')),
  env('CLIENT_ID'),
  env('CLIENT_SECRET'),
  undefined,
  // The test's ssogate listens on loopback without TLS.
  { execute: [client.allowInsecureRequests] },
);
const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const url = client.buildAuthorizationUrl(config, {
  redirect_uri: env('REDIRECT_URI'),
  scope: 'openid profile email groups',
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: 'S256',
  state,
  nonce,
});
console.log(`authorize ${url.href}`);

const callback = await new Promise((resolve) => {
  let buf = '';
  process.stdin.on('data', (d) => {
    buf += d;
    const i = buf.indexOf('\n');
    if (i >= 0) resolve(buf.slice(0, i).trim());
  });
});

const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
  pkceCodeVerifier: verifier,
  expectedState: state,
  expectedNonce: nonce,
  idTokenExpected: true,
});
const claims = tokens.claims();
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
const endSession = client.buildEndSessionUrl(config, {
  id_token_hint: tokens.id_token,
  post_logout_redirect_uri: env('POST_LOGOUT_URI'),
});
console.log(`result ${JSON.stringify({
  claims,
  userinfo,
  refreshed_sub: refreshed.claims()?.sub ?? null,
  rotated: refreshed.refresh_token !== tokens.refresh_token,
  end_session: endSession.href,
})}`);
process.exit(0);
