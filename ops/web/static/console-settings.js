// The console's Settings page: the cluster's settings (GetInstanceSettings and
// ModifyInstanceSettings: concurrency limits, O&M token defaults, the password lockout, the idle
// timeout, hosts' key pins, database TLS, the wait for a command approval), the O&M addresses
// handed to engineers (DescribeInstanceAttribute / ModifyInstanceAttribute) and two-factor
// authentication (Get/ModifyInstanceTwoFactor). Everyone with a console role reads them; each
// form (Admins only) sends its own fields, and the server says which one it refuses.
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
};
