// The real OpenID provider for ssogate's integration tests: panva's oidc-provider
// (OpenID Certified), configured from the environment, on 127.0.0.1 only.
//
//   OP_PORT            port to listen on (127.0.0.1)
//   OP_REDIRECT_URI    the relying party's callback
//   OP_POST_LOGOUT_URI where RP-initiated logout may return
//   OP_BACKCHANNEL_URI back-channel logout endpoint of the relying party
//   OP_KEYS            "name:ALG,name:ALG" — signing keys, first = preferred; each is
//   OP_KEYS_DIR        generated once and kept in OP_KEYS_DIR, so restarts can rotate.
//   OP_HOST            the issuer's host name (default 127.0.0.1; it always listens
//                      on 127.0.0.1). "localhost" gives a second provider its own
//                      cookie jar in a browser, since cookies ignore the port.
//
//   OP_MINT_CODES      (benchmarks) mint this many authorization codes for alice and
//   OP_CODES_FILE      client rs-basic (scope openid, PKCE S256 with the verifier of
//                      RFC 7636 appendix B) into this file, one per line, before
//                      printing "listening".
//
// Prints "listening <issuer>" when ready.
import Provider from 'oidc-provider';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) { console.error(`missing ${name}`); process.exit(2); }
  return v;
};
const port = Number(env('OP_PORT'));
const issuer = `http://${process.env.OP_HOST ?? '127.0.0.1'}:${port}`;
const keysDir = env('OP_KEYS_DIR');

function key(name, alg) {
  const file = join(keysDir, `${name}.json`);
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8'));
  const pair = alg.startsWith('ES')
    ? generateKeyPairSync('ec', { namedCurve: alg === 'ES384' ? 'P-384' : 'P-256' })
    : alg === 'EdDSA'
      ? generateKeyPairSync('ed25519')
      : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...pair.privateKey.export({ format: 'jwk' }), kid: name, alg, use: 'sig' };
  writeFileSync(file, JSON.stringify(jwk));
  return jwk;
}
const keys = env('OP_KEYS').split(',').map((s) => key(...s.split(':')));

const people = {
  alice: { email: 'alice@example.org', email_verified: true, name: 'Alice Liddell', preferred_username: 'alice', groups: ['readers', 'admins'] },
  bob: { email: 'bob@example.org', email_verified: false, name: 'Bob' },
};

const client = (id, alg, method) => ({
  client_id: id,
  client_secret: `${id}-secret-that-is-long-enough-for-hs256-0123456789`,
  redirect_uris: [env('OP_REDIRECT_URI')],
  post_logout_redirect_uris: [env('OP_POST_LOGOUT_URI')],
  backchannel_logout_uri: env('OP_BACKCHANNEL_URI'),
  backchannel_logout_session_required: true,
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  id_token_signed_response_alg: alg,
  token_endpoint_auth_method: method,
});

// Benchmarks mint tens of thousands of codes up front: the development adapter keeps
// only the last 1000 objects, so they get a plain unbounded map instead (what a
// production adapter, Redis say, gives).
class MapAdapter {
  static store = new Map();
  constructor(name) { this.name = name; }
  key(id) { return `${this.name}:${id}`; }
  async upsert(id, payload) { MapAdapter.store.set(this.key(id), payload); }
  async find(id) { return MapAdapter.store.get(this.key(id)); }
  async findByUid(uid) {
    for (const v of MapAdapter.store.values()) if (v.uid === uid) return v;
    return undefined;
  }
  async findByUserCode() { return undefined; }
  async consume(id) {
    const v = MapAdapter.store.get(this.key(id));
    if (v) v.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id) { MapAdapter.store.delete(this.key(id)); }
  async revokeByGrantId(grantId) {
    for (const [k, v] of MapAdapter.store) if (v.grantId === grantId) MapAdapter.store.delete(k);
  }
}

const provider = new Provider(issuer, {
  ...(process.env.OP_MINT_CODES ? { adapter: MapAdapter } : {}),
  clients: [
    client('rs-basic', 'RS256', 'client_secret_basic'),
    client('es-post', 'ES256', 'client_secret_post'),
  ],
  jwks: { keys },
  cookies: { keys: ['integration-tests-only'] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
  features: {
    devInteractions: { enabled: true },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    introspection: { enabled: true },
    jwtUserinfo: { enabled: true },
  },
  pkce: { required: () => true },
  issueRefreshToken: async () => true,
  // devInteractions uses the login name as the account id.
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, ...(people[id] ?? { email: `${id}@example.org`, email_verified: true }) }),
  }),
  // oidc-provider refuses to reach loopback (an SSRF guard); the relying party under
  // test listens there, so drop the guarding dispatcher for these tests only.
  fetch: (url, options) => {
    delete options.dispatcher;
    return globalThis.fetch(url, options);
  },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));
provider.on('backchannel.error', (ctx, err) => console.error('backchannel.error', err));

async function mintCodes(n, file) {
  const grant = new provider.Grant({ accountId: 'alice', clientId: 'rs-basic' });
  grant.addOIDCScope('openid');
  const grantId = await grant.save();
  const client = await provider.Client.find('rs-basic');
  const codes = [];
  for (let i = 0; i < n; i += 1) {
    const code = new provider.AuthorizationCode({
      accountId: 'alice',
      client,
      grantId,
      redirectUri: env('OP_REDIRECT_URI'),
      scope: 'openid',
      codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      codeChallengeMethod: 'S256',
      authTime: Math.floor(Date.now() / 1000),
    });
    codes.push(await code.save());
  }
  writeFileSync(file, `${codes.join('\n')}\n`);
}

const server = provider.listen(port, '127.0.0.1', async () => {
  if (process.env.OP_MINT_CODES) {
    await mintCodes(Number(process.env.OP_MINT_CODES), env('OP_CODES_FILE'));
  }
  console.log(`listening ${issuer}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
