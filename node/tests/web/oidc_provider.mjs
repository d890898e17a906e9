// An OpenID provider for the single sign-on tests: the certified `oidc-provider` package
// (installed by scripts/test.sh under $PORTUNUS_NPM), served over TLS on a loopback port with
// its development login and consent pages (any login name, any password).
// Usage: node oidc_provider.mjs CONFIG-JSON, where CONFIG-JSON holds issuer, port, cert and key
// (PEM file paths) and clients (oidc-provider client metadata). Prints {"event":"listening"}
// once it accepts connections; runs until killed.
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const cfg = JSON.parse(process.argv[2]);
const prefix = process.env.PORTUNUS_NPM || '/var/cache/portunus/npm';
const entry = path.join(prefix, 'node_modules', 'oidc-provider', 'lib', 'index.js');
const { default: Provider } = await import(pathToFileURL(entry));

const provider = new Provider(cfg.issuer, {
  clients: cfg.clients,
  pkce: { required: () => true },
  // Scope claims in the ID token itself (not only at the userinfo endpoint).
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name'],
    email: ['email', 'email_verified'],
  },
  // The login `name~other` is another account (its own subject) claiming the user name `name`.
  async findAccount(ctx, id) {
    const name = id.split('~')[0];
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          preferred_username: name,
          name: `${name} of the provider`,
          email: `${name}@example.org`,
          email_verified: true,
        };
      },
    };
  },
  features: { devInteractions: { enabled: true } },
});

const server = https.createServer(
  { cert: fs.readFileSync(cfg.cert), key: fs.readFileSync(cfg.key) },
  provider.callback(),
);
server.listen(cfg.port, '127.0.0.1', () => {
  console.log(JSON.stringify({ event: 'listening', port: cfg.port }));
});
