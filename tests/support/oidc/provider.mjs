// A real OpenID Connect provider for fastflow's SSO tests: panva's certified `oidc-provider`
// on loopback, with its development login and consent forms.
//
// Environment: PORT (required), CLIENT_ID, CLIENT_SECRET, ACCOUNTS_FILE.
// ACCOUNTS_FILE is JSON {login: {claim: value}} read on every lookup, so a test can change
// someone's groups between two logins; any other login is an account with default claims.
//
// Test-only control: `POST /__test/tamper?mode=payload|alg-none|foreign-key` spoils the ID
// token of the next token answer (once), as an attacker between provider and fastflow would.
import { generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const clientId = process.env.CLIENT_ID || 'fastflow';
const clientSecret = process.env.CLIENT_SECRET || 'fastflow-test-secret';
const accountsFile = process.env.ACCOUNTS_FILE;

function accountClaims(login) {
  let accounts = {};
  if (accountsFile) {
    try {
      accounts = JSON.parse(readFileSync(accountsFile, 'utf8'));
    } catch {
      accounts = {};
    }
  }
  return {
    email: `${login}@example.com`,
    email_verified: true,
    preferred_username: login,
    name: login,
    groups: [],
    ...(accounts[login] || {}),
    sub: login,
  };
}

const configuration = {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      // "native" lets a loopback redirect URI come with any port (RFC 8252): every test
      // server has its own free port.
      application_type: 'native',
      redirect_uris: ['http://127.0.0.1/auth/oidc/callback'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  features: { devInteractions: { enabled: true } },
  // The provider insists on PKCE, so a login without it fails.
  pkce: { required: () => true },
  cookies: { keys: ['fastflow-test-cookie-key'] },
  async findAccount(ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return accountClaims(sub);
      },
    };
  },
};

const provider = new Provider(issuer, configuration);

const b64 = (value) => Buffer.from(value).toString('base64url');
const json = (part) => JSON.parse(Buffer.from(part, 'base64url').toString());
const foreignKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

function spoil(idToken, mode) {
  const [header, payload] = idToken.split('.');
  if (mode === 'payload') {
    const claims = { ...json(payload), sub: 'someone-else', groups: ['fastflow-admins'] };
    return `${header}.${b64(JSON.stringify(claims))}.${idToken.split('.')[2]}`;
  }
  if (mode === 'alg-none') {
    return `${b64(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${payload}.`;
  }
  if (mode === 'foreign-key') {
    // Same header (and so the provider's key id), signed with a key the provider never had.
    const input = `${header}.${payload}`;
    return `${input}.${sign('sha256', Buffer.from(input), foreignKey).toString('base64url')}`;
  }
  return idToken;
}

let tamper = null;
provider.use(async (ctx, next) => {
  if (ctx.path === '/__test/tamper' && ctx.method === 'POST') {
    tamper = ctx.query.mode || null;
    ctx.status = 204;
    return;
  }
  await next();
  if (ctx.path === '/token' && tamper && ctx.body && ctx.body.id_token) {
    ctx.body = { ...ctx.body, id_token: spoil(ctx.body.id_token, tamper) };
    tamper = null;
  }
});

provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`oidc provider ready at ${issuer}\n`);
});
