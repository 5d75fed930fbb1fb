// Drives the sidecar with openid-client, unmodified: sidecar/oauth_interop_test.go runs it
// with ISSUER (the sidecar's HTTPS URL), USERNAME, PASSWORD and NODE_EXTRA_CA_CERTS (the
// test's certificate), and checks the JSON it prints.
import * as client from 'openid-client';

const issuer = new URL(process.env.ISSUER);
const clientId = 'shop-web'; // a public client: no secret, so openid-client uses None()

// errorOf runs f, which must fail with an OAuth error response, and returns that error.
async function errorOf(f) {
  try {
    await f();
  } catch (e) {
    if (e instanceof client.ResponseBodyError) return { error: e.error, status: e.status };
    throw e;
  }
  throw new Error('expected an OAuth error response');
}

const endpoints = (c) => {
  const m = c.serverMetadata();
  return { token_endpoint: m.token_endpoint, revocation_endpoint: m.revocation_endpoint };
};

const config = await client.discovery(issuer, clientId);
const oauth2 = await client.discovery(issuer, clientId, undefined, undefined, { algorithm: 'oauth2' });

const password = await client.genericGrantRequest(config, 'password', {
  username: process.env.USERNAME,
  password: process.env.PASSWORD,
});
const protectedCall = await client.fetchProtectedResource(
  config, password.access_token, new URL('/orders', issuer), 'GET');
const refreshed = await client.refreshTokenGrant(config, password.refresh_token);
await client.tokenRevocation(config, refreshed.refresh_token, { token_type_hint: 'refresh_token' });
const afterRevoke = await errorOf(() => client.refreshTokenGrant(config, refreshed.refresh_token));
const badLogin = await errorOf(() => client.genericGrantRequest(config, 'password', {
  username: process.env.USERNAME,
  password: 'not the password',
}));

const pick = (t) => ({
  access_token: t.access_token, token_type: t.token_type, expires_in: t.expires_in, refresh_token: t.refresh_token,
});
process.stdout.write(JSON.stringify({
  oidc: endpoints(config),
  oauth2: endpoints(oauth2),
  password: pick(password),
  refreshed: pick(refreshed),
  protected: protectedCall.status,
  revoked: true,
  afterRevoke,
  badLogin,
}));
