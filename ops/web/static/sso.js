// Single sign-on, shared by the portal's and the console's login: the button is offered when
// the bastion has an OpenID provider set up (its link is in each page).
'use strict';

(async () => {
  const $ = (id) => document.getElementById(id);
  try {
    const resp = await fetch('/web/api/oidc/config', { credentials: 'same-origin' });
    const sso = await resp.json();
    if (!sso.enabled) return;
    $('sso-login').textContent = `Log on with ${sso.name}`;
    $('sso').hidden = false;
  } catch (_) { /* the password form stays */ }
})();
