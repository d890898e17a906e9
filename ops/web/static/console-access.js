// The console's users view (users, user groups, public keys) and authorization view (a user's
// or a group's hosts, databases and accounts; grants, or rules with a validity period). Every
// change is an API action (same checks, same admin audit entry as the API).
'use strict';

// ---- users, user groups, public keys

VIEWS.users = async (root) => {
  root.append(
    el('h2', { text: tx('Users') }),
    form('user-search', null, [{ id: 'user-q-name', label: 'User name' }, { id: 'user-q-state', label: 'State', type: 'select', options: [['', 'Any'], ['Normal', 'Normal'], ['Locked', 'Locked'], ['Expired', 'Expired']] }], 'Search', () => listUsers(1)),
    el('div', { id: 'users' }),
    form('user-create', 'Create user', [
      { id: 'new-user-name', label: 'User name', required: true },
      { id: 'new-user-display', label: 'Display name' },
      { id: 'new-user-password', label: 'Password', type: 'password' },
      { id: 'new-user-email', label: 'Email' },
      { id: 'new-user-mobile', label: 'Mobile' },
    ], 'Create', createUser),
    el('section', { id: 'user-detail', hidden: true }),
    el('h2', { text: tx('User groups') }), el('div', { id: 'user-groups' }),
    form('ugroup-create', 'Create user group', [{ id: 'new-ugroup-name', label: 'Name', required: true }], 'Create', async () => {
      await api('CreateUserGroup', { UserGroupName: val('new-ugroup-name') });
      $('ugroup-create').reset();
      await listUserGroups();
    }));
  await Promise.all([listUsers(1), listUserGroups()]);
};

async function listUsers(page) {
  const r = await apiLatest('users', 'ListUsers', { UserName: val('user-q-name'), UserState: val('user-q-state'), PageNumber: page, PageSize: PAGE_SIZE });
  if (!r) return;
  $('users').replaceChildren(table('users-table', [
    ['User', (u) => u.UserName], ['Display name', (u) => u.DisplayName], ['Email', (u) => u.Email],
    ['State', (u) => (u.UserState || []).join(', ')], ['Two-factor', (u) => u.TwoFactorStatus],
    ['', (u) => {
      const locked = (u.UserState || []).includes('Locked');
      return [
        el('button', { type: 'button', class: 'act-edit read', 'data-user': u.UserName, text: tx('Edit'), onclick: () => guarded(() => showUser(u)) }),
        el('button', { type: 'button', class: locked ? 'act-unlock' : 'act-lock', 'data-user': u.UserName, text: tx(locked ? 'Unlock' : 'Lock'),
          onclick: () => guarded(async () => {
            await api(locked ? 'UnlockUsers' : 'LockUsers', { UserIds: ids(u.UserId) });
            say(tx(locked ? '{0} unlocked.' : '{0} locked.', u.UserName));
            await listUsers(page);
          }) }),
        el('button', { type: 'button', class: 'act-authorize read', 'data-user': u.UserName, text: tx('Authorize'), onclick: () => { location.hash = `#authz/${encodeURIComponent(u.UserName)}`; } }),
        el('button', { type: 'button', text: tx('Delete'), onclick: () => confirmDo(tx('Delete user {0}?', u.UserName), () => guarded(async () => {
          await api('DeleteUser', { UserId: u.UserId });
          await listUsers(1);
        })) })];
    }],
  ], r.Users, 'No user matches.'), pager('users-pager', page, r.TotalCount, (p) => guarded(() => listUsers(p))));
}

async function createUser() {
  const p = { UserName: val('new-user-name'), Source: 'Local', DisplayName: val('new-user-display'), Email: val('new-user-email'), Mobile: val('new-user-mobile') };
  if ($('new-user-password').value) p.Password = $('new-user-password').value;
  await api('CreateUser', p);
  say(tx('User {0} created.', p.UserName));
  $('user-create').reset();
  await listUsers(1);
}

// A user's edit form, groups and public keys.
async function showUser(u) {
  const box = $('user-detail');
  box.hidden = false;
  const keys = el('div', { id: 'user-keys' });
  const groups = el('p', { id: 'user-groups-of' });
  const loadKeys = async () => {
    const r = await api('ListUserPublicKeys', { UserId: u.UserId, PageSize: 100 });
    keys.replaceChildren(table('keys-table', [
      ['Name', (k) => k.PublicKeyName], ['Fingerprint', (k) => k.FingerPrint],
      ['', (k) => el('button', { type: 'button', text: tx('Delete'), onclick: () => guarded(async () => {
        await api('DeleteUserPublicKey', { PublicKeyId: k.PublicKeyId });
        await loadKeys();
      }) })],
    ], r.PublicKeys, 'No public keys.'));
  };
  const loadGroups = async () => {
    const r = await api('ListUserGroupsForUser', { UserId: u.UserId, PageSize: 100 });
    groups.textContent = tx('Groups: {0}', r.UserGroups.map((g) => g.UserGroupName).join(', ') || tx('none'));
  };
  box.replaceChildren(
    el('h3', { text: tx('User {0}', u.UserName) }),
    form('user-edit', 'Edit', [
      { id: 'edit-user-display', label: 'Display name', value: u.DisplayName },
      { id: 'edit-user-email', label: 'Email', value: u.Email },
      { id: 'edit-user-mobile', label: 'Mobile', value: u.Mobile },
      { id: 'edit-user-comment', label: 'Comment', value: u.Comment },
      { id: 'edit-user-password', label: 'New password (blank: unchanged)', type: 'password' },
      { id: 'edit-user-language', label: 'Language of the web pages', type: 'select',
        value: u.LanguageStatus === 'Custom' ? u.Language : 'Global',
        options: [['Global', 'The browser\'s'], ['en', 'English'], ['zh-cn', '简体中文']] },
    ], 'Save', async () => {
      const p = { UserId: u.UserId, DisplayName: val('edit-user-display'), Email: val('edit-user-email'), Mobile: val('edit-user-mobile'), Comment: val('edit-user-comment') };
      if (val('edit-user-language') === 'Global') p.LanguageStatus = 'Global';
      else Object.assign(p, { LanguageStatus: 'Custom', Language: val('edit-user-language') });
      if ($('edit-user-password').value) p.Password = $('edit-user-password').value;
      await api('ModifyUser', p);
      $('edit-user-password').value = '';
      say(tx('User {0} saved.', u.UserName));
      await listUsers(1);
    }),
    groups,
    el('h4', { text: tx('Public keys') }), keys,
    form('key-create', 'Add public key', [
      { id: 'new-key-name', label: 'Name', required: true },
      { id: 'new-key-text', label: 'Public key (ssh-ed25519 AAAA...)', type: 'textarea' },
    ], 'Add', async () => {
      await api('CreateUserPublicKey', { UserId: u.UserId, PublicKeyName: val('new-key-name'), PublicKey: $('new-key-text').value.trim() });
      $('key-create').reset();
      await loadKeys();
    }));
  await Promise.all([loadKeys(), loadGroups()]);
}

async function listUserGroups() {
  const r = await api('ListUserGroups', { PageSize: 100 });
  $('user-groups').replaceChildren(table('ugroups-table', [
    ['Group', (g) => g.UserGroupName], ['Members', (g) => g.MemberCount],
    ['Add a user (name)', (g) => {
      const input = el('input', { class: 'add-user', placeholder: tx('user name') });
      return [input, el('button', { type: 'button', text: tx('Add'), onclick: () => guarded(async () => {
        const u = await userNamed(input.value.trim());
        await api('AddUsersToGroup', { UserGroupId: g.UserGroupId, UserIds: ids(u.UserId) });
        say(tx('{0} added to {1}.', u.UserName, g.UserGroupName));
        await listUserGroups();
      }) })];
    }],
    ['', (g) => [
      el('button', { type: 'button', class: 'read', text: tx('Authorize'), onclick: () => { location.hash = `#authz/group/${encodeURIComponent(g.UserGroupName)}`; } }),
      el('button', { type: 'button', text: tx('Delete'), onclick: () => confirmDo(tx('Delete group {0}?', g.UserGroupName), () => guarded(async () => {
        await api('DeleteUserGroup', { UserGroupId: g.UserGroupId });
        await listUserGroups();
      })) })]],
  ], r.UserGroups, 'No user groups.'));
}

async function userNamed(name) {
  const r = await api('ListUsers', { UserName: name, PageSize: 100 });
  const u = r.Users.find((x) => x.UserName === name);
  if (!u) throw new Error(tx('no user named {0}', name));
  return u;
}

// ---- authorization: a user's or a group's hosts/databases and accounts

VIEWS.authz = async (root) => {
  const parts = location.hash.slice(1).split('/').slice(1).map(decodeURIComponent);
  const group = parts[0] === 'group';
  const name = group ? parts[1] : parts[0];
  root.append(
    el('h2', { text: tx('Authorization') }),
    form('authz-pick', null, [
      { id: 'authz-kind', label: 'For', type: 'select', options: [['user', 'User'], ['group', 'User group']], value: group ? 'group' : 'user' },
      { id: 'authz-name', label: 'Name', required: true, value: name || '' },
    ], 'Show', () => {
      const h = `#authz/${val('authz-kind') === 'group' ? 'group/' : ''}${encodeURIComponent(val('authz-name'))}`;
      if (location.hash === h) return route();
      location.hash = h;
      return undefined;
    }),
    el('div', { id: 'authz-body' }));
  if (name) await showGrants(group, name);
};

async function principalOf(group, name) {
  if (!group) {
    const u = await userNamed(name);
    return { key: 'UserId', id: u.UserId, suffix: 'User', label: `user ${u.UserName}`, user: u.UserId };
  }
  const r = await api('ListUserGroups', { UserGroupName: name, PageSize: 100 });
  const g = r.UserGroups.find((x) => x.UserGroupName === name);
  if (!g) throw new Error(tx('no user group named {0}', name));
  return { key: 'UserGroupId', id: g.UserGroupId, suffix: 'UserGroup', label: `group ${g.UserGroupName}`, group: g.UserGroupId };
}

async function showGrants(group, name) {
  const who = await principalOf(group, name);
  const body = $('authz-body');
  const hosts = el('div', { id: 'authz-hosts' });
  const dbs = el('div', { id: 'authz-databases' });
  const rules = el('div', { id: 'authz-rules' });
  body.replaceChildren(
    el('h3', { id: 'authz-title', text: tx('What {0} may reach', who.label) }),
    el('p', { class: 'hint', text: tx(group ? 'Grants to the group (its members receive them).' : 'Effective now: own grants, the groups\' grants and rules in their validity period.') }),
    el('h4', { text: tx('Hosts and host accounts') }), hosts,
    await grantHostForm(who, () => loadHosts()),
    el('h4', { text: tx('Databases and database accounts') }), dbs,
    await grantDatabaseForm(who, () => loadDbs()),
    el('h4', { text: tx('Authorization rules with a validity period') }), rules);
  const loadHosts = async () => {
    const r = await api(`ListHostsFor${who.suffix}`, { [who.key]: who.id, PageSize: 100 });
    const rows = [];
    for (const h of r.Hosts) {
      const a = await api(`ListHostAccountsFor${who.suffix}`, { [who.key]: who.id, HostId: h.HostId, PageSize: 100 });
      rows.push({ h, accounts: a.HostAccounts.filter((x) => x.IsAuthorized) });
    }
    hosts.replaceChildren(table('authz-hosts-table', [
      ['Host', (x) => x.h.HostName], ['Address', (x) => x.h.HostPrivateAddress || x.h.HostPublicAddress],
      ['Authorized accounts', (x) => (x.accounts.length ? x.accounts.map((a) => a.HostAccountName).join(', ')
        : el('a', { href: '#', class: 'no-accounts', text: tx('No accounts found. Click here to authorize accounts.'),
          onclick: (ev) => { ev.preventDefault(); $('grant-host').value = x.h.HostId; $('grant-host').dispatchEvent(new Event('change')); $('grant-host').focus(); } }))],
      ['', (x) => el('button', { type: 'button', text: tx('Revoke'), onclick: () => guarded(async () => {
        await api(`DetachHostAccountsFrom${who.suffix}`, { [who.key]: who.id, Hosts: JSON.stringify([{ HostId: x.h.HostId }]) });
        say(tx('{0} revoked (rules still grant what they grant).', x.h.HostName));
        await loadHosts();
      }) })],
    ], rows, 'No hosts authorized.'));
  };
  const loadDbs = async () => {
    const r = await api(`ListDatabasesFor${who.suffix}`, { [who.key]: who.id, PageSize: 100 });
    const rows = [];
    for (const d of r.Databases) {
      const a = await api(`ListDatabaseAccountsFor${who.suffix}`, { [who.key]: who.id, DatabaseId: d.DatabaseId, PageSize: 100 });
      rows.push({ d, accounts: a.DatabaseAccounts.filter((x) => x.IsAuthorized) });
    }
    dbs.replaceChildren(table('authz-databases-table', [
      ['Database', (x) => x.d.DatabaseName], ['Engine', (x) => x.d.DatabaseType],
      ['Authorized accounts', (x) => x.accounts.map((a) => a.DatabaseAccountName).join(', ') || tx('none')],
    ], rows, 'No databases authorized.'));
  };
  const loadRules = async () => {
    const r = await api('ListRules', { PageSize: 100 });
    const mine = [];
    for (const s of r.Rules) {
      const g = (await api('GetRule', { RuleId: s.RuleId })).Rule;
      const names = who.user ? g.Users.map((u) => u.UserId) : g.UserGroups.map((u) => u.UserGroupId);
      if (names.includes(String(who.id))) mine.push(s);
    }
    const secs = (t) => (Number(t) ? time(Number(t) * 1000) : tx('unbounded'));
    rules.replaceChildren(table('authz-rules-table', [
      ['Rule', (s) => s.RuleName], ['From', (s) => secs(s.EffectiveStartTime)], ['Until', (s) => secs(s.EffectiveEndTime)],
      ['State', (s) => s.RuleState],
      ['', (s) => el('button', { type: 'button', text: tx('Delete'), onclick: () => guarded(async () => {
        await api('DeleteRule', { RuleId: s.RuleId });
        await loadRules();
        await loadHosts();
      }) })],
    ], mine, 'No rules name them.'));
  };
  body.loadRules = loadRules;
  await Promise.all([loadHosts(), loadDbs(), loadRules()]);
}

// Grants a host's accounts: directly, or, with a validity period, as an authorization rule.
async function grantHostForm(who, reload) {
  const r = await api('ListHosts', { PageSize: 100 });
  const f = form('grant-host-form', 'Authorize a host', [
    { id: 'grant-host-q', label: 'Find hosts by name', placeholder: tx('first 100 of {0}', r.TotalCount) },
    { id: 'grant-host', label: 'Host', type: 'select', options: [['', 'choose...'], ...r.Hosts.map((h) => [h.HostId, h.HostName, 'data'])] },
    { id: 'grant-from', label: 'Valid from (optional)', type: 'datetime-local' },
    { id: 'grant-until', label: 'Valid until (optional)', type: 'datetime-local' },
  ], 'Authorize', async () => {
    const host = val('grant-host');
    if (!host) throw new Error(tx('choose a host'));
    const accounts = [...document.querySelectorAll('#grant-accounts input:checked')].map((c) => c.value);
    const from = msOf('grant-from');
    const until = msOf('grant-until');
    if (from || until) {
      const p = { RuleName: `${who.label} ${$('grant-host').selectedOptions[0].text} ${new Date().toISOString()}` };
      p[who.user ? 'UserIds.1' : 'UserGroupIds.1'] = who.id;
      p['Hosts.1.HostId'] = host;
      accounts.forEach((a, i) => { p[`Hosts.1.HostAccountIds.${i + 1}`] = a; });
      if (from) p.EffectiveStartTime = String(Math.floor(from / 1000));
      if (until) p.EffectiveEndTime = String(Math.floor(until / 1000));
      await api('CreateRule', p);
    } else {
      await api(`AttachHostAccountsTo${who.suffix}`, { [who.key]: who.id, Hosts: JSON.stringify([{ HostId: host, HostAccountIds: accounts }]) });
    }
    say(accounts.length ? tx('Host authorized with {0} account(s).', accounts.length) : tx('Host authorized (no accounts yet).'));
    f.reset();
    boxes.replaceChildren(el('legend', { text: tx('Accounts') }));
    await reload();
    if ($('authz-body').loadRules) await $('authz-body').loadRules();
  });
  // The server searches the hosts (a select holds one page of them); Enter searches.
  f.querySelector('#grant-host-q').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') { ev.preventDefault(); ev.target.dispatchEvent(new Event('change')); }
  });
  let searched = '';
  f.querySelector('#grant-host-q').addEventListener('change', () => guarded(async () => {
    // Enter, then leaving the field, both say "changed": search once.
    const q = f.querySelector('#grant-host-q').value.trim();
    if (q === searched) return;
    searched = q;
    const found = await api('ListHosts', { HostName: q, PageSize: 100 });
    f.querySelector('#grant-host').replaceChildren(el('option', { value: '', text: tx('choose ({0} found)...', found.TotalCount) }),
      ...found.Hosts.map((h) => el('option', { value: h.HostId, text: h.HostName, class: 'data' })));
  }));
  const boxes = el('fieldset', { id: 'grant-accounts' }, el('legend', { text: tx('Accounts') }));
  f.insertBefore(boxes, f.lastChild);
  f.querySelector('#grant-host').addEventListener('change', () => guarded(async () => {
    boxes.replaceChildren(el('legend', { text: tx('Accounts') }));
    const host = f.querySelector('#grant-host').value;
    if (!host) return;
    const a = await api('ListHostAccounts', { HostId: host, PageSize: 100 });
    for (const x of a.HostAccounts) {
      boxes.append(el('label', { class: 'check' }, el('input', { type: 'checkbox', value: x.HostAccountId, 'data-name': x.HostAccountName }), ` ${x.HostAccountName} (${x.ProtocolName})`));
    }
    if (!a.HostAccounts.length) boxes.append(el('span', { text: tx('This host has no accounts yet (create them under Assets).') }));
  }));
  return f;
}

async function grantDatabaseForm(who, reload) {
  const r = await api('ListDatabases', { PageSize: 100 });
  const f = form('grant-db-form', 'Authorize a database account', [
    { id: 'grant-db', label: 'Database', type: 'select', options: [['', 'choose...'], ...r.Databases.map((d) => [d.DatabaseId, d.DatabaseName, 'data'])] },
    { id: 'grant-dba', label: 'Account', type: 'select', options: [['', 'choose a database first']] },
  ], 'Authorize', async () => {
    if (!val('grant-db') || !val('grant-dba')) throw new Error(tx('choose a database and an account'));
    await api(`AttachDatabaseAccountsTo${who.suffix}`, { [who.key]: who.id, 'Databases.1.DatabaseId': val('grant-db'), 'Databases.1.DatabaseAccountIds.1': val('grant-dba') });
    say(tx('Database account authorized.'));
    await reload();
  });
  f.querySelector('#grant-db').addEventListener('change', () => guarded(async () => {
    const sel = f.querySelector('#grant-dba');
    const db = f.querySelector('#grant-db').value;
    sel.replaceChildren(el('option', { value: '', text: tx('choose...') }));
    if (!db) return;
    const a = await api('ListDatabaseAccounts', { DatabaseId: db, PageSize: 100 });
    for (const x of a.DatabaseAccounts) sel.append(el('option', { value: x.DatabaseAccountId, text: x.DatabaseAccountName, class: 'data' }));
  }));
  return f;
}

