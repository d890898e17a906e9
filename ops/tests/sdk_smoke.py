#!/usr/bin/env python3
"""Smoke test of the Portunus management API with the official Alibaba Cloud SDK
(alibabacloud-yundun-bastionhost20191209), unchanged except for the endpoint.

Environment: PORTUNUS_API_ENDPOINT (host:port), PORTUNUS_AK_ID, PORTUNUS_AK_SECRET (an Admin key).
Exits non-zero on the first failure.
"""
import json
import os
import sys
import uuid

from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi.exceptions import ClientException
from darabonba.runtime import ExtendsParameters, RuntimeOptions
from alibabacloud_yundun_bastionhost20191209 import models as m
from alibabacloud_yundun_bastionhost20191209.client import Client
from sdk_common import TEST_SHARED_KEY, extension




class Rotating:
    """Spreads calls over several nodes: each SDK call goes to the next endpoint."""

    def __init__(self, clients):
        self.clients = clients
        self.next = 0

    def __getattr__(self, name):
        c = self.clients[self.next % len(self.clients)]
        self.next += 1
        return getattr(c, name)


def client():
    endpoints = os.environ.get("PORTUNUS_API_ENDPOINTS") or os.environ["PORTUNUS_API_ENDPOINT"]
    clients = []
    for endpoint in endpoints.split(","):
        cfg = open_api_models.Config(
            access_key_id=os.environ["PORTUNUS_AK_ID"],
            access_key_secret=os.environ["PORTUNUS_AK_SECRET"],
            endpoint=endpoint.strip(),
            protocol="http",
            region_id="portunus",
        )
        clients.append(Client(cfg))
    return Rotating(clients)


def database_token_for_ssh(c, iid, sfx, port, out_path):
    """A database at 127.0.0.1:port, a user authorized for it, and a token written to out_path
    for the caller to use over SSH through another node."""
    db = check(c.create_database(m.CreateDatabaseRequest(
        instance_id=iid, database_name=f"echo-{sfx}", database_type="SQLServer", source="Local",
        database_port=int(port), active_address_type="Private",
        database_private_address="127.0.0.1")), m.CreateDatabaseResponseBody)
    da = check(c.create_database_account(m.CreateDatabaseAccountRequest(
        instance_id=iid, database_id=db.database_id, database_account_name="app", password="pw")),
        m.CreateDatabaseAccountResponseBody)
    user = check(c.create_user(m.CreateUserRequest(
        instance_id=iid, user_name=f"bob-{sfx}", source="Local", password="Passw0rd!")),
        m.CreateUserResponseBody)
    dbs = [m.AttachDatabaseAccountsToUserRequestDatabases(
        database_id=db.database_id, database_account_ids=[da.database_account_id])]
    check(c.attach_database_accounts_to_user(m.AttachDatabaseAccountsToUserRequest(
        instance_id=iid, user_id=user.user_id, databases=dbs)),
        m.AttachDatabaseAccountsToUserResponseBody)
    runtime = RuntimeOptions(extends_parameters=ExtendsParameters(
        queries={"UserId": user.user_id}))
    tok = check(c.generate_asset_operation_token_with_options(m.GenerateAssetOperationTokenRequest(
        instance_id=iid, asset_type="Database", asset_id=db.database_id,
        asset_account_id=da.database_account_id), runtime),
        m.GenerateAssetOperationTokenResponseBody).asset_operation_token
    with open(out_path, "w") as f:
        json.dump({"user": f"bob-{sfx}", "token": tok.token, "token_id": tok.token_id}, f)


def check(resp, cls):
    assert resp.status_code == 200, resp.status_code
    assert isinstance(resp.body, cls), type(resp.body)
    assert resp.body.request_id, "missing RequestId"
    return resp.body


def expect_error(fn, code):
    try:
        fn()
    except ClientException as e:
        assert e.code == code, f"expected {code}, got {e.code}: {e.message}"
        return
    raise AssertionError(f"expected error {code}")


def authorize_and_groups(c, iid, sfx, hid, aid, uid):
    g = check(c.create_user_group(m.CreateUserGroupRequest(instance_id=iid, user_group_name=f"ops-{sfx}")),
              m.CreateUserGroupResponseBody)
    gid = g.user_group_id
    r = check(c.add_users_to_group(m.AddUsersToGroupRequest(instance_id=iid, user_group_id=gid,
                                                           user_ids=f'["{uid}"]')), m.AddUsersToGroupResponseBody)
    assert r.results[0].code == "OK"
    lu = check(c.list_users(m.ListUsersRequest(instance_id=iid, user_group_id=gid)), m.ListUsersResponseBody)
    assert lu.total_count == 1 and lu.users[0].user_id == uid
    gg = check(c.get_user_group(m.GetUserGroupRequest(instance_id=iid, user_group_id=gid)),
               m.GetUserGroupResponseBody)
    assert gg.user_group.user_group_name == f"ops-{sfx}"
    check(c.list_user_groups(m.ListUserGroupsRequest(instance_id=iid)), m.ListUserGroupsResponseBody)
    hg = check(c.create_host_group(m.CreateHostGroupRequest(instance_id=iid, host_group_name=f"hg-{sfx}")),
               m.CreateHostGroupResponseBody)
    r = check(c.add_hosts_to_group(m.AddHostsToGroupRequest(instance_id=iid, host_group_id=hg.host_group_id,
                                                           host_ids=f'["{hid}"]')), m.AddHostsToGroupResponseBody)
    assert r.results[0].code == "OK"
    lh = check(c.list_host_groups(m.ListHostGroupsRequest(instance_id=iid, host_group_name=f"hg-{sfx}")),
               m.ListHostGroupsResponseBody)
    assert lh.host_groups[0].member_count == 1
    hosts = f'[{{"HostId":"{hid}","HostAccountIds":["{aid}"]}}]'
    at = check(c.attach_host_accounts_to_user(m.AttachHostAccountsToUserRequest(
        instance_id=iid, user_id=uid, hosts=hosts)), m.AttachHostAccountsToUserResponseBody)
    assert at.results[0].code == "OK" and at.results[0].host_accounts[0].host_account_id == aid
    check(c.attach_host_accounts_to_user_group(m.AttachHostAccountsToUserGroupRequest(
        instance_id=iid, user_group_id=gid, hosts=hosts)), m.AttachHostAccountsToUserGroupResponseBody)
    check(c.attach_host_group_accounts_to_user(m.AttachHostGroupAccountsToUserRequest(
        instance_id=iid, user_id=uid, host_groups=f'[{{"HostGroupId":"{hg.host_group_id}","HostAccountNames":["root"]}}]')),
        m.AttachHostGroupAccountsToUserResponseBody)
    lhu = check(c.list_hosts_for_user(m.ListHostsForUserRequest(instance_id=iid, user_id=uid)),
                m.ListHostsForUserResponseBody)
    assert lhu.total_count == 1 and lhu.hosts[0].host_id == hid
    lau = check(c.list_host_accounts_for_user(m.ListHostAccountsForUserRequest(
        instance_id=iid, user_id=uid, host_id=hid)), m.ListHostAccountsForUserResponseBody)
    assert lau.host_accounts[0].is_authorized is True
    check(c.list_hosts_for_user_group(m.ListHostsForUserGroupRequest(instance_id=iid, user_group_id=gid)),
          m.ListHostsForUserGroupResponseBody)
    names = check(c.list_host_group_account_names_for_user(m.ListHostGroupAccountNamesForUserRequest(
        instance_id=iid, user_id=uid, host_group_id=hg.host_group_id)), m.ListHostGroupAccountNamesForUserResponseBody)
    assert names.host_account_names == ["root"]
    pk = check(c.create_user_public_key(m.CreateUserPublicKeyRequest(
        instance_id=iid, user_id=uid, public_key_name="laptop",
        public_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me")),
        m.CreateUserPublicKeyResponseBody)
    keys = check(c.list_user_public_keys(m.ListUserPublicKeysRequest(instance_id=iid, user_id=uid)),
                 m.ListUserPublicKeysResponseBody)
    assert keys.public_keys[0].finger_print.startswith("SHA256:")
    check(c.delete_user_public_key(m.DeleteUserPublicKeyRequest(instance_id=iid, public_key_id=pk.public_key_id)),
          m.DeleteUserPublicKeyResponseBody)


def databases_rules_and_settings(c, iid, sfx, hid, uid):
    db = check(c.create_database(m.CreateDatabaseRequest(
        instance_id=iid, database_name=f"pg-{sfx}", database_type="PostgreSQL", source="Local",
        database_port=5432, active_address_type="Private", database_private_address="10.0.0.9")),
        m.CreateDatabaseResponseBody)
    dbid = db.database_id
    # The SDK sends DatabaseIds as a list (DatabaseIds.1=...).
    dg = check(c.create_host_group(m.CreateHostGroupRequest(instance_id=iid, host_group_name=f"dbg-{sfx}")),
               m.CreateHostGroupResponseBody)
    r = check(c.add_databases_to_group(m.AddDatabasesToGroupRequest(
        instance_id=iid, host_group_id=dg.host_group_id, database_ids=[dbid])), m.AddDatabasesToGroupResponseBody)
    assert [(x.code, x.database_id) for x in r.results] == [("OK", dbid)], r.results
    def members():
        return check(c.list_host_groups(m.ListHostGroupsRequest(instance_id=iid, host_group_name=f"dbg-{sfx}")),
                     m.ListHostGroupsResponseBody).host_groups[0].member_count
    assert members() == 1
    r = check(c.remove_databases_from_group(m.RemoveDatabasesFromGroupRequest(
        instance_id=iid, host_group_id=dg.host_group_id, database_ids=[dbid])), m.RemoveDatabasesFromGroupResponseBody)
    assert [(x.code, x.database_id) for x in r.results] == [("OK", dbid)], r.results
    assert members() == 0
    gd = check(c.get_database(m.GetDatabaseRequest(instance_id=iid, database_id=dbid)), m.GetDatabaseResponseBody)
    assert gd.database.database_port == 5432
    da = check(c.create_database_account(m.CreateDatabaseAccountRequest(
        instance_id=iid, database_id=dbid, database_account_name="app", password="pw")),
        m.CreateDatabaseAccountResponseBody)
    check(c.list_database_accounts(m.ListDatabaseAccountsRequest(instance_id=iid, database_id=dbid)),
          m.ListDatabaseAccountsResponseBody)
    dbs = [m.AttachDatabaseAccountsToUserRequestDatabases(database_id=dbid,
                                                          database_account_ids=[da.database_account_id])]
    r = check(c.attach_database_accounts_to_user(m.AttachDatabaseAccountsToUserRequest(
        instance_id=iid, user_id=uid, databases=dbs)), m.AttachDatabaseAccountsToUserResponseBody)
    assert r.results[0].code == "OK", r.results[0].message
    ld = check(c.list_databases_for_user(m.ListDatabasesForUserRequest(instance_id=iid, user_id=uid)),
               m.ListDatabasesForUserResponseBody)
    assert ld.total_count == 1 and ld.databases[0].database_id == dbid
    rule = check(c.create_rule(m.CreateRuleRequest(
        instance_id=iid, rule_name=f"rule-{sfx}", user_ids=[uid],
        hosts=[m.CreateRuleRequestHosts(host_id=hid, host_account_ids=[])])), m.CreateRuleResponseBody)
    gr = check(c.get_rule(m.GetRuleRequest(instance_id=iid, rule_id=rule.rule_id)), m.GetRuleResponseBody)
    assert gr.rule.users[0].user_id == uid and gr.rule.hosts[0].host_id == hid
    check(c.disable_rule(m.DisableRuleRequest(instance_id=iid, rule_id=rule.rule_id)), m.DisableRuleResponseBody)
    lr = check(c.list_rules(m.ListRulesRequest(instance_id=iid)), m.ListRulesResponseBody)
    assert any(x.rule_state == "Disabled" for x in lr.rules)
    check(c.delete_rule(m.DeleteRuleRequest(instance_id=iid, rule_id=rule.rule_id)), m.DeleteRuleResponseBody)
    nd = check(c.create_network_domain(m.CreateNetworkDomainRequest(
        instance_id=iid, network_domain_name=f"nd-{sfx}", network_domain_type="Proxy",
        proxies=[m.CreateNetworkDomainRequestProxies(address="10.1.1.1", port=22, proxy_type="SSHProxy",
                                                     user="jump", password="pw", node_type="Master")])),
        m.CreateNetworkDomainResponseBody)
    gn = check(c.get_network_domain(m.GetNetworkDomainRequest(instance_id=iid, network_domain_id=nd.network_domain_id)),
               m.GetNetworkDomainResponseBody)
    assert gn.network_domain.proxies[0].has_password is True
    # A change names the proxy by NodeType; what it leaves out (the Master's password) stays.
    check(c.modify_network_domain(m.ModifyNetworkDomainRequest(
        instance_id=iid, network_domain_id=str(nd.network_domain_id),
        proxies=[m.ModifyNetworkDomainRequestProxies(node_type="Slave", proxy_type="Socks5Proxy",
                                                     address="10.1.1.2", port=1080)])),
        m.ModifyNetworkDomainResponseBody)
    gn = check(c.get_network_domain(m.GetNetworkDomainRequest(instance_id=iid, network_domain_id=nd.network_domain_id)),
               m.GetNetworkDomainResponseBody)
    seen = [(p.node_type, p.proxy_type, p.address, p.port, p.has_password) for p in gn.network_domain.proxies]
    assert seen == [("Master", "SSHProxy", "10.1.1.1", 22, True), ("Slave", "Socks5Proxy", "10.1.1.2", 1080, False)], seen
    expect_error(lambda: c.create_network_domain(m.CreateNetworkDomainRequest(
        instance_id=iid, network_domain_name=f"nd-ftp-{sfx}", network_domain_type="Proxy",
        proxies=[m.CreateNetworkDomainRequestProxies(address="10.1.1.1", port=21, proxy_type="FTPProxy",
                                                     node_type="Master")])), "InvalidParameter")
    sk = check(c.create_host_share_key(m.CreateHostShareKeyRequest(
        instance_id=iid, host_share_key_name=f"sk-{sfx}", private_key=TEST_SHARED_KEY)),
        m.CreateHostShareKeyResponseBody)
    assert isinstance(sk.host_share_key_id, int)
    lk = check(c.list_host_share_keys(m.ListHostShareKeysRequest(instance_id=iid)), m.ListHostShareKeysResponseBody)
    assert lk.host_share_keys[0].private_key_finger_print == "SHA256:Gcs0PZjdHm0enO5a6ULmM+es1//FKZpj8eS9TutHOsQ"
    check(c.delete_host_share_key(m.DeleteHostShareKeyRequest(instance_id=iid, host_share_key_id=str(sk.host_share_key_id))),
          m.DeleteHostShareKeyResponseBody)
    check(c.modify_instance_two_factor(m.ModifyInstanceTwoFactorRequest(
        instance_id=iid, enable_two_factor="true", two_factor_methods='["totp"]', skip_two_factor_time="5")),
        m.ModifyInstanceTwoFactorResponseBody)
    tf = check(c.get_instance_two_factor(m.GetInstanceTwoFactorRequest(instance_id=iid)),
               m.GetInstanceTwoFactorResponseBody)
    assert tf.config.enable_two_factor is True and tf.config.two_factor_methods == ["totp"]
    check(c.modify_instance_ldapauth_server(m.ModifyInstanceLDAPAuthServerRequest(
        instance_id=iid, server="ldap.example", port="389", base_dn="dc=example", account="cn=bind",
        password="pw")), m.ModifyInstanceLDAPAuthServerResponseBody)
    ldap = check(c.get_instance_ldapauth_server(m.GetInstanceLDAPAuthServerRequest(instance_id=iid)),
                 m.GetInstanceLDAPAuthServerResponseBody)
    assert ldap.ldap.server == "ldap.example" and ldap.ldap.port == 389
    # AD settings with their synchronization switches, as the SDK sends and reads them.
    ad_req = dict(instance_id=iid, server="dc.example", port="636", is_ssl="true",
                  base_dn="dc=example", account="cn=bind", password="pw", domain="example",
                  sync_interval="24", is_sync_name_attr="true", is_sync_email_attr="false",
                  is_sync_mobile_attr="false", is_sync_ou_as_user_group="true")
    check(c.modify_instance_adauth_server(m.ModifyInstanceADAuthServerRequest(**ad_req)),
          m.ModifyInstanceADAuthServerResponseBody)
    ad = check(c.get_instance_adauth_server(m.GetInstanceADAuthServerRequest(instance_id=iid)),
               m.GetInstanceADAuthServerResponseBody).ad
    assert ad.sync_interval == 24 and ad.is_sync_name_attr is True, ad.to_map()
    assert ad.is_sync_email_attr is False and ad.is_sync_mobile_attr is False, ad.to_map()
    assert ad.is_sync_ou_as_user_group is True and ad.latest_sync_time is None, ad.to_map()
    expect_error(lambda: c.modify_instance_adauth_server(m.ModifyInstanceADAuthServerRequest(
        **dict(ad_req, sync_interval="2"))), "InvalidParameter")
    # OpenID Connect single sign-on (extension actions): stored, the secret never shown, a
    # plain-HTTP issuer refused with nothing changed.
    extension(c, "ModifyInstanceOIDCAuthServer", {
        "InstanceId": iid, "Enabled": "true", "Issuer": "https://id.example.org/realms/ops/",
        "ClientId": "portunus", "ClientSecret": "oidc-smoke-secret", "DisplayName": "Ops IdP"})
    oidc = extension(c, "GetInstanceOIDCAuthServer", {"InstanceId": iid})["OIDC"]
    assert oidc["Issuer"] == "https://id.example.org/realms/ops/", oidc
    assert (oidc["Enabled"], oidc["HasClientSecret"], oidc["AutoCreateUser"]) == (True, True, False), oidc
    assert oidc["UserClaim"] == "preferred_username" and "oidc-smoke-secret" not in str(oidc), oidc
    try:
        extension(c, "ModifyInstanceOIDCAuthServer", {"InstanceId": iid, "Issuer": "http://id.example.org"})
        raise AssertionError("a plain-HTTP issuer was stored")
    except ClientException as e:
        assert e.code == "InvalidParameter" and "Issuer" in e.message, (e.code, e.message)
    assert extension(c, "GetInstanceOIDCAuthServer", {"InstanceId": iid})["OIDC"] == oidc
    # The cluster's settings (extension actions): a change names only what it changes; a refused
    # value is named and changes nothing.
    extension(c, "ModifyInstanceSettings", {"InstanceId": iid, "MaxSessionsPerUser": "4",
                                            "TokenSelfRenew": "False"})
    settings = extension(c, "GetInstanceSettings", {"InstanceId": iid})["Settings"]
    assert (settings["MaxSessionsPerUser"], settings["TokenSelfRenew"]) == (4, False), settings
    assert settings["LoginLockThreshold"] == 5 and settings["DatabaseTargetTls"] == "prefer", settings
    try:
        extension(c, "ModifyInstanceSettings", {"InstanceId": iid, "LoginLockSeconds": "0",
                                                "MaxSessionsPerUser": "9"})
        raise AssertionError("a zero lockout was stored")
    except ClientException as e:
        assert e.code == "InvalidParameter" and "LoginLockSeconds" in e.message, (e.code, e.message)
    assert extension(c, "GetInstanceSettings", {"InstanceId": iid})["Settings"] == settings
    extension(c, "ModifyInstanceSettings", {"InstanceId": iid, "MaxSessionsPerUser": "0",
                                            "TokenSelfRenew": "True"})
    check(c.tag_resources(m.TagResourcesRequest(resource_type="INSTANCE", resource_id=[iid],
                                                tag=[m.TagResourcesRequestTag(key="env", value="smoke")])),
          m.TagResourcesResponseBody)
    tags = check(c.list_tag_resources(m.ListTagResourcesRequest(resource_type="INSTANCE", resource_id=[iid])),
                 m.ListTagResourcesResponseBody)
    assert any(t.tag_key == "env" and t.tag_value == "smoke" for t in tags.tag_resources)
    check(c.untag_resources(m.UntagResourcesRequest(resource_type="INSTANCE", resource_id=[iid], tag_key=["env"])),
          m.UntagResourcesResponseBody)
    check(c.modify_instance_attribute(m.ModifyInstanceAttributeRequest(instance_id=iid, description="smoke")),
          m.ModifyInstanceAttributeResponseBody)
    ia = check(c.describe_instance_attribute(m.DescribeInstanceAttributeRequest(instance_id=iid)),
               m.DescribeInstanceAttributeResponseBody)
    assert ia.instance_attribute.description == "smoke"
    check(c.delete_database(m.DeleteDatabaseRequest(instance_id=iid, database_id=dbid)), m.DeleteDatabaseResponseBody)
    check(c.delete_network_domain(m.DeleteNetworkDomainRequest(instance_id=iid, network_domain_id=nd.network_domain_id)),
          m.DeleteNetworkDomainResponseBody)


def main():
    c = client()
    sfx = uuid.uuid4().hex[:8]
    inst = check(c.describe_instances(m.DescribeInstancesRequest()), m.DescribeInstancesResponseBody)
    iid = inst.instances[0].instance_id
    assert inst.total_count == 1

    host = check(c.create_host(m.CreateHostRequest(
        instance_id=iid, host_name=f"web-{sfx}", source="Local", ostype="Linux",
        active_address_type="Private", host_private_address="10.0.0.5", comment="smoke")),
        m.CreateHostResponseBody)
    hid = host.host_id
    assert isinstance(hid, str) and hid.isdigit()
    got = check(c.get_host(m.GetHostRequest(instance_id=iid, host_id=hid)), m.GetHostResponseBody)
    assert got.host.host_name == f"web-{sfx}" and got.host.protocols[0].port == 22
    hosts = check(c.list_hosts(m.ListHostsRequest(instance_id=iid, host_name=sfx, page_size="10")),
                  m.ListHostsResponseBody)
    assert hosts.total_count == 1 and hosts.hosts[0].host_id == hid
    check(c.modify_host(m.ModifyHostRequest(instance_id=iid, host_id=hid, comment="changed")),
          m.ModifyHostResponseBody)
    res = check(c.modify_hosts_port(m.ModifyHostsPortRequest(
        instance_id=iid, host_ids=f'["{hid}"]', protocol_name="SSH", port="2222")),
        m.ModifyHostsPortResponseBody)
    assert res.results[0].code == "OK"

    acc = check(c.create_host_account(m.CreateHostAccountRequest(
        instance_id=iid, host_id=hid, host_account_name="root", protocol_name="SSH",
        password="s3cret!")), m.CreateHostAccountResponseBody)
    aid = acc.host_account_id
    ga = check(c.get_host_account(m.GetHostAccountRequest(instance_id=iid, host_account_id=aid)),
               m.GetHostAccountResponseBody)
    assert ga.host_account.has_password is True and ga.host_account.host_account_name == "root"
    la = check(c.list_host_accounts(m.ListHostAccountsRequest(instance_id=iid, host_id=hid)),
               m.ListHostAccountsResponseBody)
    assert la.total_count == 1

    user = check(c.create_user(m.CreateUserRequest(
        instance_id=iid, user_name=f"alice-{sfx}", source="Local", password="Passw0rd!",
        display_name="Alice", two_factor_methods='["totp"]')), m.CreateUserResponseBody)
    uid = user.user_id
    gu = check(c.get_user(m.GetUserRequest(instance_id=iid, user_id=uid)), m.GetUserResponseBody)
    assert gu.user.user_state == ["Normal"] and gu.user.two_factor_methods == ["totp"]
    lu = check(c.list_users(m.ListUsersRequest(instance_id=iid, user_name=f"alice-{sfx}")),
               m.ListUsersResponseBody)
    assert lu.total_count == 1

    authorize_and_groups(c, iid, sfx, hid, aid, uid)
    databases_rules_and_settings(c, iid, sfx, hid, uid)

    runtime = RuntimeOptions(extends_parameters=ExtendsParameters(
        queries={"UserId": uid}))
    tok = check(c.generate_asset_operation_token_with_options(m.GenerateAssetOperationTokenRequest(
        instance_id=iid, asset_type="Host", asset_id=hid, asset_account_id=aid), runtime),
        m.GenerateAssetOperationTokenResponseBody).asset_operation_token
    assert tok.token and tok.token_id.isdigit() and tok.expire_time > 0
    check(c.renew_asset_operation_token(m.RenewAssetOperationTokenRequest(
        instance_id=iid, token_id=tok.token_id)), m.RenewAssetOperationTokenResponseBody)

    lk = check(c.lock_users(m.LockUsersRequest(instance_id=iid, user_ids=f'["{uid}"]')),
               m.LockUsersResponseBody)
    assert lk.results[0].code == "OK"
    gu = check(c.get_user(m.GetUserRequest(instance_id=iid, user_id=uid)), m.GetUserResponseBody)
    assert gu.user.user_state == ["Locked"]
    check(c.unlock_users(m.UnlockUsersRequest(instance_id=iid, user_ids=f'["{uid}"]')),
          m.UnlockUsersResponseBody)

    expect_error(lambda: c.get_host(m.GetHostRequest(instance_id=iid, host_id="999999999")),
                 "OBJECT_NOT_FOUND")
    expect_error(lambda: c.get_host(m.GetHostRequest(instance_id=iid)), "MissingParameter")
    todo = check(c.list_todo_ops_task_approvals(m.ListTodoOpsTaskApprovalsRequest(instance_id=iid)),
                 m.ListTodoOpsTaskApprovalsResponseBody)
    assert todo.approves == [] and todo.total_count == 0, todo.to_map()
    expect_error(lambda: c.get_auto_ops_task(
        m.GetAutoOpsTaskRequest(instance_id=iid, task_id="1")), "OperationNotSupported")

    check(c.delete_host_account(m.DeleteHostAccountRequest(instance_id=iid, host_account_id=aid)),
          m.DeleteHostAccountResponseBody)
    check(c.delete_host(m.DeleteHostRequest(instance_id=iid, host_id=hid)), m.DeleteHostResponseBody)
    check(c.delete_user(m.DeleteUserRequest(instance_id=iid, user_id=uid)), m.DeleteUserResponseBody)
    if os.environ.get("PORTUNUS_SMOKE_DB_PORT"):
        database_token_for_ssh(c, iid, sfx, os.environ["PORTUNUS_SMOKE_DB_PORT"],
                               os.environ["PORTUNUS_SMOKE_OUT"])
    print("sdk_smoke: OK")


if __name__ == "__main__":
    main()
