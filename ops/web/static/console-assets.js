// The console's assets view: hosts (searched and paged by the server), their accounts with
// Verify (a password, a private key or a shared key; SFTP only or not), shared keys, network
// domains (direct or through a proxy), host groups, databases and their accounts. Every change is an API action (same
// checks, same admin audit entry as the API).
'use strict';

// ---- assets: hosts, their accounts, host groups, databases

VIEWS.assets = async (root) => {
  root.append(
    el('h2', { text: tx('Hosts') }),
    form('host-search', null, [{ id: 'host-q-name', label: 'Name' }, { id: 'host-q-address', label: 'Address' }], 'Search', () => listHosts(1)),
    el('div', { id: 'hosts' }),
    form('host-create', 'Create host', [
      { id: 'new-host-name', label: 'Name', required: true },
      { id: 'new-host-address', label: 'Address', required: true },
      { id: 'new-host-os', label: 'OS', type: 'select', options: [['Linux', 'Linux'], ['Windows', 'Windows']] },
      { id: 'new-host-port', label: 'SSH port', type: 'number', value: '22' },
      { id: 'new-host-rdp-port', label: 'RDP port', type: 'number', value: '3389' },
      { id: 'new-host-fingerprint', label: 'Host key fingerprint (optional, SHA256:...)' },
      { id: 'new-host-comment', label: 'Comment' },
    ], 'Create', createHost),
    el('section', { id: 'host-detail', hidden: true }),
    el('h2', { text: tx('Shared keys') }), el('div', { id: 'shared-keys' }),
    form('share-key-create', 'Add a shared key', [
      { id: 'new-share-key-name', label: 'Name', required: true },
      { id: 'new-share-key-text', label: 'Private key (OpenSSH or PEM, unencrypted)', type: 'textarea', required: true },
    ], 'Add', async () => {
      await api('CreateHostShareKey', { HostShareKeyName: val('new-share-key-name'), PrivateKey: $('new-share-key-text').value });
      say(tx('Shared key {0} added.', val('new-share-key-name')));
      $('share-key-create').reset();
      await listSharedKeys();
    }),
    el('h2', { text: tx('Network domains') }), el('div', { id: 'domains' }),
    form('domain-create', 'Create network domain', [
      { id: 'new-domain-name', label: 'Name', required: true },
      { id: 'new-domain-type', label: 'Type', type: 'select', options: [['Direct', 'Direct'], ['Proxy', 'Through a proxy']] },
      { id: 'new-domain-proxy-type', label: 'Proxy', type: 'select', options: [['SSHProxy', 'SSH'], ['Socks5Proxy', 'SOCKS5'], ['HTTPProxy', 'HTTP CONNECT']] },
      { id: 'new-domain-proxy-address', label: 'Proxy address' },
      { id: 'new-domain-proxy-port', label: 'Proxy port', type: 'number' },
      { id: 'new-domain-proxy-user', label: 'Proxy user' },
      { id: 'new-domain-proxy-password', label: 'Proxy password', type: 'password' },
      { id: 'new-domain-comment', label: 'Comment' },
    ], 'Create', createDomain),
    el('h2', { text: tx('Host groups') }), el('div', { id: 'host-groups' }),
    form('group-create', 'Create host group', [{ id: 'new-group-name', label: 'Name', required: true }], 'Create', async () => {
      await api('CreateHostGroup', { HostGroupName: val('new-group-name') });
      say(tx('Host group {0} created.', val('new-group-name')));
      await listGroups();
    }),
    el('h2', { text: tx('Databases') }), el('div', { id: 'databases' }),
    form('db-create', 'Create database', [
      { id: 'new-db-name', label: 'Name', required: true },
      { id: 'new-db-type', label: 'Engine', type: 'select', options: [['MySQL', 'MySQL'], ['PostgreSQL', 'PostgreSQL'], ['SQLServer', 'SQL Server'], ['Oracle', 'Oracle']] },
      { id: 'new-db-address', label: 'Address', required: true },
      { id: 'new-db-port', label: 'Port', type: 'number', required: true, value: '3306' },
    ], 'Create', createDatabase),
    el('section', { id: 'db-detail', hidden: true }));
  await Promise.all([listHosts(1), listSharedKeys(), listDomains(), listGroups(), listDatabases(1)]);
};

// A host found by its exact name (for the "add a host" inputs).
async function hostNamed(name) {
  const found = await api('ListHosts', { HostName: name, PageSize: 100 });
  const h = found.Hosts.find((x) => x.HostName === name);
  if (!h) throw new Error(tx('no host named {0}', name));
  return h;
}

// Network domains: hosts and databases reached directly or through the domain's proxy.
async function listDomains() {
  const r = await api('ListNetworkDomains', { PageSize: 100 });
  $('domains').replaceChildren(table('domains-table', [
    ['Name', (d) => d.NetworkDomainName], ['Type', (d) => d.NetworkDomainType],
    ['Proxies', (d) => (d.ProxiesState || []).map((p) => p.NodeType).join(', ')], ['Comment', (d) => d.Comment],
    ['Move a host in (name)', (d) => {
      const input = el('input', { class: 'add-host', placeholder: tx('host name') });
      return [input, el('button', { type: 'button', class: 'act-move-host', 'data-domain': d.NetworkDomainName, text: tx('Move'), onclick: () => guarded(async () => {
        const h = await hostNamed(input.value.trim());
        await api('MoveHostsToNetworkDomain', { NetworkDomainId: d.NetworkDomainId, 'HostIds.1': h.HostId });
        say(tx('{0} now in network domain {1}.', h.HostName, d.NetworkDomainName));
      }) })];
    }],
    ['', (d) => el('button', { type: 'button', text: tx('Delete'), onclick: () => confirmDo(tx('Delete network domain {0}?', d.NetworkDomainName), () => guarded(async () => {
      await api('DeleteNetworkDomain', { NetworkDomainId: d.NetworkDomainId });
      await listDomains();
    })) })],
  ], r.NetworkDomains, 'No network domains.'));
}

async function createDomain() {
  const p = { NetworkDomainName: val('new-domain-name'), NetworkDomainType: val('new-domain-type'), Comment: val('new-domain-comment') };
  if (p.NetworkDomainType === 'Proxy') {
    Object.assign(p, {
      'Proxies.1.NodeType': 'Master', 'Proxies.1.ProxyType': val('new-domain-proxy-type'),
      'Proxies.1.Address': val('new-domain-proxy-address'), 'Proxies.1.Port': val('new-domain-proxy-port'),
      'Proxies.1.User': val('new-domain-proxy-user'),
    });
    if ($('new-domain-proxy-password').value) p['Proxies.1.Password'] = $('new-domain-proxy-password').value;
  }
  await api('CreateNetworkDomain', p);
  say(tx('Network domain {0} created.', p.NetworkDomainName));
  $('domain-create').reset();
  await listDomains();
}

// Shared keys: one private key hosted once and used by many host accounts.
async function listSharedKeys() {
  const r = await api('ListHostShareKeys', { PageSize: 100 });
  $('shared-keys').replaceChildren(table('shared-keys-table', [
    ['Name', (k) => k.HostShareKeyName], ['Fingerprint', (k) => k.PrivateKeyFingerPrint],
    ['Accounts', (k) => k.HostAccountCount],
    ['', (k) => el('button', { type: 'button', text: tx('Delete'), onclick: () => confirmDo(tx('Delete shared key {0}?', k.HostShareKeyName), () => guarded(async () => {
      await api('DeleteHostShareKey', { HostShareKeyId: k.HostShareKeyId });
      await listSharedKeys();
    })) })],
  ], r.HostShareKeys, 'No shared keys.'));
  return r.HostShareKeys;
}

async function listHosts(page) {
  const r = await apiLatest('hosts', 'ListHosts', { HostName: val('host-q-name'), HostAddress: val('host-q-address'), PageNumber: page, PageSize: PAGE_SIZE });
  if (!r) return;
  $('hosts').replaceChildren(table('hosts-table', [
    ['Name', (h) => h.HostName], ['Address', (h) => h.HostPrivateAddress || h.HostPublicAddress],
    ['OS', (h) => h.OSType], ['Accounts', (h) => h.HostAccountCount], ['Comment', (h) => h.Comment],
    ['', (h) => [
      el('button', { type: 'button', class: 'act-accounts read', 'data-host': h.HostName, text: tx('Accounts'), onclick: () => guarded(() => showHost(h.HostId)) }),
      el('button', { type: 'button', class: 'act-delete', text: tx('Delete'), onclick: () => confirmDo(tx('Delete host {0}?', h.HostName), () => guarded(async () => {
        await api('DeleteHost', { HostId: h.HostId });
        say(tx('Host {0} deleted.', h.HostName));
        await listHosts(1);
      })) })]],
  ], r.Hosts, 'No host matches.'), pager('hosts-pager', page, r.TotalCount, (p) => guarded(() => listHosts(p))));
}

async function createHost() {
  const id = (await api('CreateHost', {
    HostName: val('new-host-name'), Source: 'Local', OSType: val('new-host-os'), ActiveAddressType: 'Private',
    HostPrivateAddress: val('new-host-address'), Comment: val('new-host-comment'),
    HostFingerPrint: val('new-host-fingerprint'),
  })).HostId;
  const port = val('new-host-port');
  if (port && port !== '22') await api('ModifyHostsPort', { HostIds: ids(id), ProtocolName: 'SSH', Port: port });
  const rdp = val('new-host-rdp-port');
  if (rdp && rdp !== '3389') await api('ModifyHostsPort', { HostIds: ids(id), ProtocolName: 'RDP', Port: rdp });
  say(tx('Host {0} created.', val('new-host-name')));
  $('host-create').reset();
  await listHosts(1);
  await showHost(id);
}

function fingerprintWords(port, fingerprint) {
  return fingerprint ? tx('SSH port {0}; host key pinned: {1}', port, fingerprint)
    : tx('SSH port {0}; host key not pinned yet (logins trust the first key seen; Verify sends no credential until it is pinned)', port);
}

// A host's details: edit form, its accounts with Verify, and account creation.
async function showHost(hostId) {
  const h = await api('GetHost', { HostId: hostId });
  const host = h.Host;
  const ssh = (host.Protocols || []).find((p) => p.ProtocolName === 'SSH');
  const box = $('host-detail');
  box.hidden = false;
  box.replaceChildren(
    el('h3', { id: 'host-detail-title', text: tx('Host {0}', host.HostName) }),
    el('p', { id: 'host-fingerprint', text: fingerprintWords(ssh ? ssh.Port : 22, ssh && ssh.HostFingerPrint) }),
    form('host-edit', 'Edit', [
      { id: 'edit-host-name', label: 'Name', value: host.HostName },
      { id: 'edit-host-address', label: 'Address', value: host.HostPrivateAddress },
      { id: 'edit-host-comment', label: 'Comment', value: host.Comment },
    ], 'Save', async () => {
      await api('ModifyHost', { HostId: hostId, HostName: val('edit-host-name'), HostPrivateAddress: val('edit-host-address'), Comment: val('edit-host-comment') });
      say(tx('Host saved.'));
      await listHosts(1);
    }),
    el('h4', { text: tx('Host accounts') }), el('div', { id: 'accounts' }), el('p', { id: 'verify-result' }),
    form('account-create', 'Create host account', [
      { id: 'new-account-name', label: 'Logon name', required: true },
      { id: 'new-account-protocol', label: 'Protocol', type: 'select', options: [['SSH', 'SSH'], ['RDP', 'RDP']] },
      { id: 'new-account-auth', label: 'Authentication', type: 'select', options: [['password', 'Password'], ['key', 'Private key'], ['shared', 'Shared key']] },
      { id: 'new-account-password', label: 'Password', type: 'password' },
      { id: 'new-account-key', label: 'Private key (OpenSSH or PEM)', type: 'textarea' },
      { id: 'new-account-passphrase', label: 'Key passphrase', type: 'password' },
      { id: 'new-account-share-key', label: 'Shared key', type: 'select', options: [['', '(none)']] },
      { id: 'new-account-sftp', label: 'Access', type: 'select', options: [['false', 'Shell, commands and SFTP'], ['true', 'SFTP only']] },
    ], 'Create', () => createAccount(hostId)));
  const keys = (await api('ListHostShareKeys', { PageSize: 100 })).HostShareKeys;
  $('new-account-share-key').append(...keys.map((k) => el('option', { value: k.HostShareKeyId, text: k.HostShareKeyName })));
  await listAccounts(hostId);
}

async function listAccounts(hostId) {
  const r = await api('ListHostAccounts', { HostId: hostId, PageSize: 100 });
  $('accounts').replaceChildren(table('accounts-table', [
    ['Logon name', (a) => (a.SftpOnly ? tx('{0} (SFTP only)', a.HostAccountName) : a.HostAccountName)], ['Protocol', (a) => a.ProtocolName],
    ['Credential', (a) => [a.HasPassword && tx('password'), a.HasPrivateKey && tx('private key'),
      a.HostShareKeyName && tx('shared key {0}', a.HostShareKeyName)].filter(Boolean).join(', ') || tx('none')],
    ['', (a) => [
      el('button', { type: 'button', class: 'act-verify', 'data-account': a.HostAccountName, text: tx('Verify'), onclick: () => guarded(() => verify(a)) }),
      el('button', { type: 'button', text: tx('Delete'), onclick: () => confirmDo(tx('Delete account {0}?', a.HostAccountName), () => guarded(async () => {
        await api('DeleteHostAccount', { HostAccountId: a.HostAccountId });
        await Promise.all([listAccounts(hostId), listHosts(1)]);
      })) })]],
  ], r.HostAccounts, 'No accounts yet.'));
}

// Verify: the bastion logs in to the host with the hosted credential and says why it failed.
// A host whose key is not pinned yet gets no credential; its key's fingerprint is shown, to be
// compared out of band and trusted with one click (ModifyHostFingerPrint).
async function verify(a) {
  const out = $('verify-result');
  out.className = '';
  out.textContent = tx('Verifying {0}...', a.HostAccountName);
  const r = await api('VerifyHostAccount', { HostAccountId: a.HostAccountId });
  out.className = r.Result === 'OK' ? 'ok' : 'error';
  out.textContent = `${a.HostAccountName}: ${r.Result} — ${r.Message}`;
  if (r.Result === 'HostKeyNotPinned' && r.HostFingerPrint) {
    out.append(' ', el('button', { type: 'button', id: 'trust-key', text: tx('Trust {0} and verify again', r.HostFingerPrint),
      onclick: () => guarded(async () => {
        await api('ModifyHostFingerPrint', { HostId: a.HostId, HostFingerPrint: r.HostFingerPrint });
        say(tx('Host key {0} pinned.', r.HostFingerPrint));
        const h = (await api('GetHost', { HostId: a.HostId })).Host;
        const ssh = (h.Protocols || []).find((p) => p.ProtocolName === 'SSH');
        $('host-fingerprint').textContent = fingerprintWords(ssh ? ssh.Port : 22, ssh && ssh.HostFingerPrint);
        await verify(a);
      }) }));
  }
}

async function createAccount(hostId) {
  const p = { HostId: hostId, HostAccountName: val('new-account-name'), ProtocolName: val('new-account-protocol'),
    SftpOnly: val('new-account-sftp') };
  if (val('new-account-auth') === 'key') {
    p.PrivateKey = $('new-account-key').value;
    if ($('new-account-passphrase').value) p.PassPhrase = $('new-account-passphrase').value;
  } else if (val('new-account-auth') === 'shared') {
    if (!val('new-account-share-key')) throw new Error(tx('choose a shared key (add one under Shared keys)'));
    p.HostShareKeyId = val('new-account-share-key');
  } else if ($('new-account-password').value) {
    p.Password = $('new-account-password').value;
  }
  await api('CreateHostAccount', p);
  say(tx('Account {0} created.', p.HostAccountName));
  $('account-create').reset();
  await Promise.all([listAccounts(hostId), listHosts(1), listSharedKeys()]);
}

async function listGroups() {
  const r = await api('ListHostGroups', { PageSize: 100 });
  $('host-groups').replaceChildren(table('groups-table', [
    ['Group', (g) => g.HostGroupName], ['Comment', (g) => g.Comment],
    ['Add a host (name)', (g) => {
      const input = el('input', { class: 'add-host', placeholder: tx('host name') });
      return [input, el('button', { type: 'button', class: 'act-group-add', 'data-group': g.HostGroupName, text: tx('Add'), onclick: () => guarded(async () => {
        const h = await hostNamed(input.value.trim());
        await api('AddHostsToGroup', { HostGroupId: g.HostGroupId, HostIds: ids(h.HostId) });
        say(tx('{0} added to {1}.', h.HostName, g.HostGroupName));
      }) })];
    }],
    ['', (g) => el('button', { type: 'button', text: tx('Delete'), onclick: () => confirmDo(tx('Delete group {0}?', g.HostGroupName), () => guarded(async () => {
      await api('DeleteHostGroup', { HostGroupId: g.HostGroupId });
      await listGroups();
    })) })],
  ], r.HostGroups, 'No host groups.'));
}

async function listDatabases(page) {
  const r = await apiLatest('databases', 'ListDatabases', { PageNumber: page, PageSize: PAGE_SIZE });
  if (!r) return;
  $('databases').replaceChildren(table('databases-table', [
    ['Name', (d) => d.DatabaseName], ['Engine', (d) => d.DatabaseType],
    ['Address', (d) => `${d.DatabasePrivateAddress || d.DatabasePublicAddress}:${d.DatabasePort}`],
    ['', (d) => [
      el('button', { type: 'button', class: 'act-db-accounts read', 'data-database': d.DatabaseName, text: tx('Accounts'), onclick: () => guarded(() => showDatabase(d)) }),
      el('button', { type: 'button', text: tx('Delete'), onclick: () => confirmDo(tx('Delete database {0}?', d.DatabaseName), () => guarded(async () => {
        await api('DeleteDatabase', { DatabaseId: d.DatabaseId });
        await listDatabases(1);
      })) })]],
  ], r.Databases, 'No databases.'), pager('databases-pager', page, r.TotalCount, (p) => guarded(() => listDatabases(p))));
}

async function createDatabase() {
  await api('CreateDatabase', {
    DatabaseName: val('new-db-name'), DatabaseType: val('new-db-type'), Source: 'Local',
    ActiveAddressType: 'Private', DatabasePrivateAddress: val('new-db-address'), DatabasePort: val('new-db-port'),
  });
  say(tx('Database {0} created.', val('new-db-name')));
  $('db-create').reset();
  await listDatabases(1);
}

async function showDatabase(d) {
  const box = $('db-detail');
  box.hidden = false;
  const list = el('div', { id: 'db-accounts' });
  const load = async () => {
    const r = await api('ListDatabaseAccounts', { DatabaseId: d.DatabaseId, PageSize: 100 });
    list.replaceChildren(table('db-accounts-table', [
      ['Account', (a) => a.DatabaseAccountName], ['Password hosted', (a) => tx(a.HasPassword ? 'yes' : 'no')],
      ['', (a) => el('button', { type: 'button', text: tx('Delete'), onclick: () => guarded(async () => {
        await api('DeleteDatabaseAccount', { DatabaseAccountId: a.DatabaseAccountId });
        await load();
      }) })],
    ], r.DatabaseAccounts, 'No accounts yet.'));
  };
  box.replaceChildren(el('h3', { text: tx('Database {0}', d.DatabaseName) }), list,
    form('db-account-create', 'Create database account', [
      { id: 'new-dba-name', label: 'Account', required: true },
      { id: 'new-dba-password', label: 'Password', type: 'password' },
    ], 'Create', async () => {
      const p = { DatabaseId: d.DatabaseId, DatabaseAccountName: val('new-dba-name') };
      if ($('new-dba-password').value) p.Password = $('new-dba-password').value;
      await api('CreateDatabaseAccount', p);
      $('db-account-create').reset();
      await load();
    }));
  await load();
}

