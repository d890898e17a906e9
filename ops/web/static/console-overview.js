// The console's overview (the instance, the O&M address to hand to engineers, the cluster's
// members); then the page starts (this script comes last).
'use strict';

// ---- overview

VIEWS.overview = async (root) => {
  const o = await request('GET', '/web/api/console/overview');
  const ssh = o.ssh_port ? `ssh <user>@${o.address} -p ${o.ssh_port}` : tx('(this node has no SSH port)');
  // An IPv6 address is bracketed in a URL.
  const host = o.address.includes(':') && !o.address.startsWith('[') ? `[${o.address}]` : o.address;
  const web = `${location.protocol}//${host}${o.api_port ? `:${o.api_port}` : ''}/web/`;
  root.append(
    el('h2', { text: tx('Bastion host information') }),
    el('dl', { id: 'instance-info' },
      el('dt', { text: tx('Instance') }), el('dd', { id: 'ov-instance', text: o.instance_id }),
      el('dt', { text: tx('O&M address') }), el('dd', { id: 'ov-address', text: o.address }),
      el('dt', { text: tx('SSH O&M port') }), el('dd', { id: 'ov-ssh-port', text: o.ssh_port || '' }),
      el('dt', { text: tx('SSH command for engineers') }), el('dd', { id: 'ov-ssh', text: ssh }),
      el('dt', { text: tx('O&M portal') }), el('dd', { id: 'ov-web', text: web }),
      el('dt', { text: tx('Hosts / users') }), el('dd', { text: `${o.hosts} / ${o.users}` })),
    el('p', { class: 'hint', text: (o.internet_endpoint || o.intranet_endpoint)
      ? tx('Hand the O&M address, the port, the user name and the password to the engineers. Configured O&M addresses (Settings): public networks {0}, private networks {1}; the one above fits this browser\'s address.',
        o.internet_endpoint || tx('(not set)'), o.intranet_endpoint || tx('(not set)'))
      : tx('Hand the O&M address, the port, the user name and the password to the engineers. Behind a load balancer the address is the balancer\'s, which serves every node. Settings can fix the addresses for public and private networks.') }),
    el('h2', { text: tx('Cluster members') }),
    el('p', { text: o.leader === null ? tx('Seen from node {0}; leader: none (no quorum).', o.served_by)
      : tx('Seen from node {0}; leader: node {1}.', o.served_by, o.leader) }),
    table('members-table', [
      ['Node', (m) => (m.this_node ? tx('{0} (this page)', m.id) : String(m.id))], ['Kind', (m) => m.kind],
      ['Voter', (m) => tx(m.voter ? 'yes' : 'no')], ['Leader', (m) => (m.leader ? tx('yes') : '')],
      ['Health', (m) => m.health], ['Lag (entries)', (m) => (m.lag_entries === null ? '' : m.lag_entries)],
      ['Open sessions', (m) => m.open_sessions], ['API', (m) => m.api_addr], ['SSH', (m) => m.ssh_addr],
    ], o.members));
};

// ---- start

enter();
