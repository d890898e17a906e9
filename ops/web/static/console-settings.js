// The console's Settings page: the cluster's settings (GetInstanceSettings and
// ModifyInstanceSettings: concurrency limits, O&M token defaults, the password lockout, the idle
// timeout, hosts' key pins, database TLS, the wait for a command approval), the O&M addresses
// handed to engineers (DescribeInstanceAttribute / ModifyInstanceAttribute) and two-factor
// authentication (Get/ModifyInstanceTwoFactor). Everyone with a console role reads them; each
// form (Admins only) sends its own fields, and the server says which one it refuses. Then
// the directory servers (LDAP, AD: Get/Modify/Verify/Sync...) and OpenID Connect single sign-on.
'use strict';

const BOOL = [['true', 'Yes'], ['false', 'No']];

// [form id, title, [[API name, label, options (a select) or undefined (a number)]]].
const SETTINGS_FORMS = [
  ['settings-sessions', 'Sessions', [
    ['MaxSessionsTotal', 'Open sessions in the whole cluster (0 = unlimited)'],
    ['MaxSessionsPerUser', 'Open sessions per user (0 = unlimited)'],
    ['SessionIdleTimeoutSeconds', 'Idle sessions end after, seconds (0 = never)'],
    ['CommandApprovalWaitSeconds', 'A held command waits for a decision, seconds'],
  ]],
  ['settings-tokens', 'O&M tokens', [
    ['TokenValiditySeconds', 'Valid for, seconds'],
    ['TokenDefaultUseCount', 'Logins per token (0 = unlimited while valid)'],
    ['TokenSelfRenew', 'Engineers may renew their own tokens', BOOL],
    ['TokenRenewSeconds', 'A renewal extends it by, seconds'],
    ['TokenMaxRenewCount', 'Renewals per token'],
  ]],
  ['settings-lockout', 'Password lockout', [
    ['LoginLockThreshold', 'Wrong passwords that lock a user (0 = never)'],
    ['LoginLockWindowSeconds', 'Counted within, seconds'],
    ['LoginLockSeconds', 'First lockout, seconds (doubles each time in a row)'],
    ['LoginLockMaxSeconds', 'Longest lockout, seconds'],
  ]],
  ['settings-targets', 'Hosts and databases', [
    ['RequirePinnedHostKeys', 'A host\'s key must be pinned before the bastion logs in', BOOL],
    ['DatabaseRequireTls', 'Database ports refuse clients without TLS', BOOL],
    ['DatabaseTargetTls', 'TLS to database targets', [['off', 'off'], ['prefer', 'prefer'], ['require', 'require'], ['verify', 'verify']]],
    ['SqlAllowUnreadable', 'A statement SQL rules cannot read passes', BOOL],
  ]],
];

function settingsForm([id, title, fields], values, save) {
  const spec = fields.map(([name, label, options]) => ({
    id: `set-${name}`, label, value: String(values[name]),
    type: options ? 'select' : 'number', options,
  }));
  return form(id, title, spec, 'Save', () => {
    const p = {};
    for (const [name] of fields) p[name] = val(`set-${name}`);
    return save(p);
  });
}

VIEWS.settings = async (root) => {
  const [s, t, i] = await Promise.all([
    api('GetInstanceSettings'), api('GetInstanceTwoFactor'), api('DescribeInstanceAttribute'),
  ]);
  const endpoints = { InternetEndpoint: i.InstanceAttribute.InternetEndpoint, IntranetEndpoint: i.InstanceAttribute.IntranetEndpoint };
  const values = s.Settings;
  const twoFactor = { EnableTwoFactor: t.Config.EnableTwoFactor, SkipTwoFactorTime: t.Config.SkipTwoFactorTime };
  const redraw = async (words) => { await route(); say(words); };
  const save = (action) => async (p) => {
    await api(action, p);
    await redraw(tx('Saved: {0}.', Object.keys(p).join(', ')));
  };
  const rows = SETTINGS_FORMS.flatMap(([, title, fields]) => fields.map(([name, label]) => ({ title, name, label, value: values[name] })));
  rows.push({ title: 'Two-factor', name: 'EnableTwoFactor', label: 'Second factor at logins', value: twoFactor.EnableTwoFactor });
  rows.push({ title: 'Two-factor', name: 'SkipTwoFactorTime', label: 'Not asked again within, hours', value: twoFactor.SkipTwoFactorTime });
  rows.push({ title: 'O&M address', name: 'InternetEndpoint', label: 'For engineers on public networks', value: endpoints.InternetEndpoint || tx('(the host name the browser used)') });
  rows.push({ title: 'O&M address', name: 'IntranetEndpoint', label: 'For engineers on private networks', value: endpoints.IntranetEndpoint || tx('(the host name the browser used)') });
  const endpointForm = form('settings-endpoints', 'O&M addresses', [
    { id: 'set-InternetEndpoint', label: 'For public networks (host name or IP address; empty: the one the browser used)', value: endpoints.InternetEndpoint },
    { id: 'set-IntranetEndpoint', label: 'For private networks (host name or IP address; empty: the one the browser used)', value: endpoints.IntranetEndpoint },
  ], 'Save', () => save('ModifyInstanceAttribute')({
    InternetEndpoint: val('set-InternetEndpoint'), IntranetEndpoint: val('set-IntranetEndpoint'),
  }));
  root.append(
    el('h2', { text: tx('Settings') }),
    el('p', { class: 'hint', text: tx('Every node applies a change at once: limits from the next session, the lockout from the next wrong password, token defaults from the next token.') }),
    table('settings-table', [['Area', (r) => tx(r.title)], ['Setting', (r) => tx(r.label)], ['Value', (r) => String(r.value)]], rows),
    ...SETTINGS_FORMS.map((f) => settingsForm(f, values, save('ModifyInstanceSettings'))),
    endpointForm,
    settingsForm(['settings-2fa', 'Two-factor authentication', [
      ['EnableTwoFactor', 'Ask users with two-factor on for a code at logins', BOOL],
      ['SkipTwoFactorTime', 'Not asked again within, hours (0 to 168)'],
    ]], twoFactor, save('ModifyInstanceTwoFactor')),
  );
  await directoryForms(root, redraw);
};

// ---- directory servers and single sign-on

// The fields of a directory server's form: [API name, label, kind] with kind 'bool', 'number',
// 'secret' (blank keeps the stored one) or text.
const DIRECTORY_FIELDS = [
  ['Server', 'Server (host name or IP address)'], ['StandbyServer', 'Standby server (optional)'],
  ['Port', 'Port', 'number'], ['IsSSL', 'LDAPS (else StartTLS)', 'bool'],
  ['BaseDN', 'Base DN'], ['Account', 'Service account (bind DN)'],
  ['Password', 'Service account password (blank: unchanged)', 'secret'], ['Filter', 'Filter (optional)'],
  ['NameMapping', 'Display name attribute'], ['EmailMapping', 'Email attribute'],
  ['MobileMapping', 'Mobile attribute'],
  ['SyncInterval', 'Synchronize every, hours (0 = on demand, or 4 to 168)', 'number'],
  ['IsSyncNameAttr', 'Take display names from the directory', 'bool'],
  ['IsSyncEmailAttr', 'Take emails from the directory', 'bool'],
  ['IsSyncMobileAttr', 'Take mobile numbers from the directory', 'bool'],
  ['IsSyncOuAsUserGroup', 'Organizational units become user groups', 'bool'],
  ['IsSyncGroupAsUserGroup', 'Directory groups become user groups', 'bool'],
];

// [form id, title, Get action, answer field, Modify action, Verify action, Sync action, more fields].
const DIRECTORIES = [
  ['dir-ldap', 'LDAP', 'GetInstanceLDAPAuthServer', 'LDAP', 'ModifyInstanceLDAPAuthServer',
    'VerifyInstanceLDAPAuthServer', 'SyncInstanceLDAPUsers', [['LoginNameMapping', 'Login name attribute']]],
  ['dir-ad', 'Active Directory', 'GetInstanceADAuthServer', 'AD', 'ModifyInstanceADAuthServer',
    'VerifyInstanceADAuthServer', 'SyncInstanceADUsers', [['Domain', 'Domain']]],
];

// The parameters a form holds for `fields` (a blank secret is left out: the stored one stays).
function fieldValues(prefix, fields) {
  const p = {};
  for (const [name, , kind] of fields) {
    const v = val(`${prefix}-${name}`);
    if (kind === 'secret' && !v) continue;
    p[name] = v;
  }
  return p;
}

function fieldSpecs(prefix, fields, stored) {
  return fields.map(([name, label, kind]) => ({
    id: `${prefix}-${name}`, label,
    type: kind === 'bool' ? 'select' : kind === 'number' ? 'number' : kind === 'secret' ? 'password' : 'text',
    options: kind === 'bool' ? BOOL : undefined,
    value: kind === 'secret' || stored[name] === undefined || stored[name] === null ? undefined : String(stored[name]),
  }));
}

async function directoryForms(root, redraw) {
  root.append(el('h2', { text: tx('Directory servers and single sign-on') }),
    el('p', { class: 'hint', text: tx('Users whose source is LDAP or AD log on with their directory password; Verify tries the settings in the form against the server before they are saved.') }));
  for (const [id, title, get, field, modify, verify, sync, more] of DIRECTORIES) {
    const stored = (await api(get))[field] || {};
    const fields = [...more, ...DIRECTORY_FIELDS];
    const f = form(id, title, fieldSpecs(id, fields, stored), 'Save', async () => {
      await api(modify, fieldValues(id, fields));
      await redraw(tx('Saved: {0}.', title));
    });
    const out = el('p', { id: `${id}-result`, role: 'status' });
    const verifyFields = fields.filter(([name]) => ['Server', 'Port', 'BaseDN', 'Account', 'StandbyServer', 'IsSSL', 'Password', 'Filter', 'Domain'].includes(name));
    f.append(
      el('button', { type: 'button', id: `${id}-verify`, text: tx('Verify'), onclick: () => guarded(async () => {
        out.textContent = tx('Verifying {0}...', title);
        try {
          const r = await api(verify, fieldValues(id, verifyFields));
          out.textContent = tx('{0} answers: {1}', title, r.Message || 'OK');
        } catch (e) { out.textContent = e.message; }
      }) }),
      el('button', { type: 'button', id: `${id}-sync`, text: tx('Synchronize users now'), onclick: () => guarded(async () => {
        out.textContent = tx('Synchronizing...');
        try {
          const r = await api(sync);
          out.textContent = JSON.stringify(r.Report || r);
        } catch (e) { out.textContent = e.message; }
      }) }),
      out);
    if (stored.HasPassword === true || stored.HasPassword === 'true') {
      f.append(el('p', { class: 'hint', text: tx('A service account password is stored.') }));
    }
    root.append(f);
  }
  const o = (await api('GetInstanceOIDCAuthServer')).OIDC || {};
  const oidcFields = [
    ['Enabled', 'Single sign-on on the logon pages', 'bool'], ['Issuer', 'Issuer (https:// URL of the provider)'],
    ['ClientId', 'Client ID'], ['ClientSecret', 'Client secret (blank: unchanged)', 'secret'],
    ['UserClaim', 'Claim naming the bastion user'], ['Scopes', 'Scopes'],
    ['AutoCreateUser', 'Create unknown users at their first logon', 'bool'], ['DisplayName', 'Button text'],
  ];
  const oidc = form('dir-oidc', 'OpenID Connect single sign-on', fieldSpecs('dir-oidc', oidcFields, o), 'Save', async () => {
    await api('ModifyInstanceOIDCAuthServer', fieldValues('dir-oidc', oidcFields));
    await redraw(tx('Saved: {0}.', 'OpenID Connect'));
  });
  oidc.append(el('p', { class: 'hint', text: tx('The redirect path to register at the provider: {0}', o.RedirectPath || '/web/api/oidc/callback') }));
  if (o.HasClientSecret) oidc.append(el('p', { class: 'hint', text: tx('A client secret is stored.') }));
  root.append(oidc);
}
