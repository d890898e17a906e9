#!/usr/bin/env python3
"""The SDK actions the other scripts of this directory leave out, each called once through the
official Bastionhost SDK, unchanged except for the endpoint, against one node: every call must
answer with the typed body its model expects (and what it says is checked), or with the
refusal Portunus documents for it. Environment: PORTUNUS_API_ENDPOINT, PORTUNUS_AK_ID,
PORTUNUS_AK_SECRET (an Admin key), PORTUNUS_SWEEP_STEP=all. Prints "sdk_sweep: OK" at the
end; exits non-zero on the first failure, naming it."""
import json
import os
import socket
import sys
import uuid

from alibabacloud_yundun_bastionhost20191209 import models as m
# `typed`: the answer's body, which the SDK built as the model given (status 200, a RequestId).
from sdk_common import TEST_SHARED_KEY, client, expect_error
from sdk_common import body as typed

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl sweep"


def ok_results(body):
    """A batch answer whose every result is OK."""
    assert body.results and all(r.code == "OK" for r in body.results), body.to_map()


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    c = client()
    iid = typed(c.describe_instances(m.DescribeInstancesRequest()), m.DescribeInstancesResponseBody) \
        .instances[0].instance_id
    sfx = uuid.uuid4().hex[:8]

    # The things the calls name.
    uid = c.create_user(m.CreateUserRequest(instance_id=iid, user_name=f"sw-{sfx}", source="Local",
                                            password="Sweep-Passw0rd-1")).body.user_id
    gid = c.create_user_group(m.CreateUserGroupRequest(instance_id=iid, user_group_name=f"swg-{sfx}")) \
        .body.user_group_id
    hid = c.create_host(m.CreateHostRequest(instance_id=iid, host_name=f"swh-{sfx}", source="Local",
                                            ostype="Linux", active_address_type="Private",
                                            host_private_address="10.0.0.7")).body.host_id
    aid = c.create_host_account(m.CreateHostAccountRequest(instance_id=iid, host_id=hid, host_account_name="root",
                                                           protocol_name="SSH", password="pw")).body.host_account_id
    hgid = c.create_host_group(m.CreateHostGroupRequest(instance_id=iid, host_group_name=f"swhg-{sfx}")) \
        .body.host_group_id
    c.add_hosts_to_group(m.AddHostsToGroupRequest(instance_id=iid, host_group_id=hgid, host_ids=json.dumps([hid])))
    dbid = c.create_database(m.CreateDatabaseRequest(instance_id=iid, database_name=f"swd-{sfx}",
                                                     database_type="MySQL", source="Local", database_port=3306,
                                                     active_address_type="Private",
                                                     database_private_address="10.0.0.8")).body.database_id
    daid = c.create_database_account(m.CreateDatabaseAccountRequest(instance_id=iid, database_id=dbid,
                                                                    database_account_name="app", password="pw")) \
        .body.database_account_id

    # Users and groups.
    c.add_users_to_group(m.AddUsersToGroupRequest(instance_id=iid, user_group_id=gid, user_ids=json.dumps([uid])))
    groups = typed(c.list_user_groups_for_user(m.ListUserGroupsForUserRequest(instance_id=iid, user_id=uid)),
                   m.ListUserGroupsForUserResponseBody)
    assert [g.user_group_id for g in groups.user_groups] == [gid], groups.to_map()
    typed(c.modify_user_group(m.ModifyUserGroupRequest(instance_id=iid, user_group_id=gid, comment="swept")),
          m.ModifyUserGroupResponseBody)
    pk = c.create_user_public_key(m.CreateUserPublicKeyRequest(instance_id=iid, user_id=uid, public_key_name="k",
                                                               public_key=PUBLIC_KEY)).body.public_key_id
    typed(c.modify_user_public_key(m.ModifyUserPublicKeyRequest(instance_id=iid, public_key_id=pk,
                                                                public_key_name="laptop", comment="swept")),
          m.ModifyUserPublicKeyResponseBody)

    # Host accounts granted to a group, then taken back.
    hosts = json.dumps([{"HostId": hid, "HostAccountIds": [aid]}])
    ok_results(typed(c.attach_host_accounts_to_user_group(m.AttachHostAccountsToUserGroupRequest(
        instance_id=iid, user_group_id=gid, hosts=hosts)), m.AttachHostAccountsToUserGroupResponseBody))
    got = typed(c.list_host_accounts_for_user_group(m.ListHostAccountsForUserGroupRequest(
        instance_id=iid, user_group_id=gid, host_id=hid)), m.ListHostAccountsForUserGroupResponseBody)
    assert [(a.host_account_id, a.is_authorized) for a in got.host_accounts] == [(aid, True)], got.to_map()
    ok_results(typed(c.detach_host_accounts_from_user_group(m.DetachHostAccountsFromUserGroupRequest(
        instance_id=iid, user_group_id=gid, hosts=hosts)), m.DetachHostAccountsFromUserGroupResponseBody))
    ok_results(typed(c.attach_host_accounts_to_user(m.AttachHostAccountsToUserRequest(
        instance_id=iid, user_id=uid, hosts=hosts)), m.AttachHostAccountsToUserResponseBody))
    ok_results(typed(c.detach_host_accounts_from_user(m.DetachHostAccountsFromUserRequest(
        instance_id=iid, user_id=uid, hosts=hosts)), m.DetachHostAccountsFromUserResponseBody))

    # Host groups' account names granted to a group and to a user.
    hgs = json.dumps([{"HostGroupId": hgid, "HostAccountNames": ["root"]}])
    ok_results(typed(c.attach_host_group_accounts_to_user_group(m.AttachHostGroupAccountsToUserGroupRequest(
        instance_id=iid, user_group_id=gid, host_groups=hgs)), m.AttachHostGroupAccountsToUserGroupResponseBody))
    listed = typed(c.list_host_groups_for_user_group(m.ListHostGroupsForUserGroupRequest(
        instance_id=iid, user_group_id=gid)), m.ListHostGroupsForUserGroupResponseBody)
    assert [g.host_group_id for g in listed.host_groups] == [hgid], listed.to_map()
    names = typed(c.list_host_group_account_names_for_user_group(m.ListHostGroupAccountNamesForUserGroupRequest(
        instance_id=iid, user_group_id=gid, host_group_id=hgid)), m.ListHostGroupAccountNamesForUserGroupResponseBody)
    assert names.host_account_names == ["root"], names.to_map()
    ok_results(typed(c.detach_host_group_accounts_from_user_group(m.DetachHostGroupAccountsFromUserGroupRequest(
        instance_id=iid, user_group_id=gid, host_groups=hgs)), m.DetachHostGroupAccountsFromUserGroupResponseBody))
    ok_results(typed(c.attach_host_group_accounts_to_user(m.AttachHostGroupAccountsToUserRequest(
        instance_id=iid, user_id=uid, host_groups=hgs)), m.AttachHostGroupAccountsToUserResponseBody))
    listed = typed(c.list_host_groups_for_user(m.ListHostGroupsForUserRequest(instance_id=iid, user_id=uid)),
                   m.ListHostGroupsForUserResponseBody)
    assert [g.host_group_id for g in listed.host_groups] == [hgid], listed.to_map()
    ok_results(typed(c.detach_host_group_accounts_from_user(m.DetachHostGroupAccountsFromUserRequest(
        instance_id=iid, user_id=uid, host_groups=hgs)), m.DetachHostGroupAccountsFromUserResponseBody))

    # Database accounts granted to a group and to a user.
    dbs_g = [m.AttachDatabaseAccountsToUserGroupRequestDatabases(database_id=dbid, database_account_ids=[daid])]
    ok_results(typed(c.attach_database_accounts_to_user_group(m.AttachDatabaseAccountsToUserGroupRequest(
        instance_id=iid, user_group_id=gid, databases=dbs_g)), m.AttachDatabaseAccountsToUserGroupResponseBody))
    dl = typed(c.list_databases_for_user_group(m.ListDatabasesForUserGroupRequest(instance_id=iid, user_group_id=gid)),
               m.ListDatabasesForUserGroupResponseBody)
    assert [d.database_id for d in dl.databases] == [dbid], dl.to_map()
    al = typed(c.list_database_accounts_for_user_group(m.ListDatabaseAccountsForUserGroupRequest(
        instance_id=iid, user_group_id=gid, database_id=dbid)), m.ListDatabaseAccountsForUserGroupResponseBody)
    assert [(a.database_account_id, a.is_authorized) for a in al.database_accounts] == [(daid, True)], al.to_map()
    ok_results(typed(c.detach_database_accounts_from_user_group(m.DetachDatabaseAccountsFromUserGroupRequest(
        instance_id=iid, user_group_id=gid,
        databases=[m.DetachDatabaseAccountsFromUserGroupRequestDatabases(database_id=dbid,
                                                                         database_account_ids=[daid])])),
        m.DetachDatabaseAccountsFromUserGroupResponseBody))
    ok_results(typed(c.attach_database_accounts_to_user(m.AttachDatabaseAccountsToUserRequest(
        instance_id=iid, user_id=uid,
        databases=[m.AttachDatabaseAccountsToUserRequestDatabases(database_id=dbid, database_account_ids=[daid])])),
        m.AttachDatabaseAccountsToUserResponseBody))
    al = typed(c.list_database_accounts_for_user(m.ListDatabaseAccountsForUserRequest(
        instance_id=iid, user_id=uid, database_id=dbid)), m.ListDatabaseAccountsForUserResponseBody)
    assert [(a.database_account_id, a.is_authorized) for a in al.database_accounts] == [(daid, True)], al.to_map()

    # What the user may operate (an Admin key names the user).
    ops_dbs = typed(c.list_operation_databases(m.ListOperationDatabasesRequest(instance_id=iid)),
                    m.ListOperationDatabasesResponseBody)
    ops_accounts = typed(c.list_operation_database_accounts(m.ListOperationDatabaseAccountsRequest(
        instance_id=iid, database_id=dbid)), m.ListOperationDatabaseAccountsResponseBody)
    ops_hosts = typed(c.list_operation_hosts(m.ListOperationHostsRequest(instance_id=iid)),
                      m.ListOperationHostsResponseBody)
    ops_host_accounts = typed(c.list_operation_host_accounts(m.ListOperationHostAccountsRequest(
        instance_id=iid, host_id=hid)), m.ListOperationHostAccountsResponseBody)
    # The key's own user (the first administrator) is granted none of them.
    counts = (ops_dbs.total_count, ops_accounts.total_count, ops_hosts.total_count, ops_host_accounts.total_count)
    assert counts == (0, 0, 0, 0), counts
    ok_results(typed(c.detach_database_accounts_from_user(m.DetachDatabaseAccountsFromUserRequest(
        instance_id=iid, user_id=uid,
        databases=[m.DetachDatabaseAccountsFromUserRequestDatabases(database_id=dbid, database_account_ids=[daid])])),
        m.DetachDatabaseAccountsFromUserResponseBody))

    # Databases and their accounts.
    typed(c.modify_database(m.ModifyDatabaseRequest(instance_id=iid, database_id=dbid, comment="swept",
                                                    database_port=3307)), m.ModifyDatabaseResponseBody)
    gd = c.get_database(m.GetDatabaseRequest(instance_id=iid, database_id=dbid)).body.database
    assert (gd.database_port, gd.comment) == (3307, "swept"), gd.to_map()
    # A default schema is refused (documented: it is named with the token or in the client).
    expect_error(lambda: c.modify_database_account(m.ModifyDatabaseAccountRequest(
        instance_id=iid, database_account_id=daid, database_schema="shop")), "OperationNotSupported")
    typed(c.modify_database_account(m.ModifyDatabaseAccountRequest(instance_id=iid, database_account_id=daid,
                                                                   database_account_name="app2")),
          m.ModifyDatabaseAccountResponseBody)
    da = typed(c.get_database_account(m.GetDatabaseAccountRequest(instance_id=iid, database_account_id=daid)),
               m.GetDatabaseAccountResponseBody).database_account
    assert (da.database_account_name, da.has_password) == ("app2", True), da.to_map()

    # Host accounts, shared keys, addresses.
    typed(c.modify_host_account(m.ModifyHostAccountRequest(instance_id=iid, host_account_id=aid, password="pw2")),
          m.ModifyHostAccountResponseBody)
    sk = c.create_host_share_key(m.CreateHostShareKeyRequest(instance_id=iid, host_share_key_name=f"swk-{sfx}",
                                                             private_key=TEST_SHARED_KEY)).body.host_share_key_id
    got = typed(c.get_host_share_key(m.GetHostShareKeyRequest(instance_id=iid, host_share_key_id=sk)),
                m.GetHostShareKeyResponseBody).host_share_key
    assert got.host_share_key_name == f"swk-{sfx}", got.to_map()
    typed(c.modify_host_share_key(m.ModifyHostShareKeyRequest(instance_id=iid, host_share_key_id=sk,
                                                              host_share_key_name=f"swk2-{sfx}")),
          m.ModifyHostShareKeyResponseBody)
    got = c.get_host_share_key(m.GetHostShareKeyRequest(instance_id=iid, host_share_key_id=sk)).body.host_share_key
    assert got.host_share_key_name == f"swk2-{sfx}", got.to_map()
    ok_results(typed(c.attach_host_accounts_to_host_share_key(m.AttachHostAccountsToHostShareKeyRequest(
        instance_id=iid, host_share_key_id=sk, host_account_ids=json.dumps([aid]))),
        m.AttachHostAccountsToHostShareKeyResponseBody))
    shared = typed(c.list_host_accounts_for_host_share_key(m.ListHostAccountsForHostShareKeyRequest(
        instance_id=iid, host_share_key_id=sk)), m.ListHostAccountsForHostShareKeyResponseBody)
    assert [a.hosts_account_id for a in shared.host_accounts] == [aid], shared.to_map()
    ok_results(typed(c.detach_host_accounts_from_host_share_key(m.DetachHostAccountsFromHostShareKeyRequest(
        instance_id=iid, host_share_key_id=sk, host_account_ids=json.dumps([aid]))),
        m.DetachHostAccountsFromHostShareKeyResponseBody))
    typed(c.reset_host_account_credential(m.ResetHostAccountCredentialRequest(
        instance_id=iid, host_account_id=aid, credential_type="Password")), m.ResetHostAccountCredentialResponseBody)
    typed(c.modify_host(m.ModifyHostRequest(instance_id=iid, host_id=hid, host_public_address="203.0.113.7")),
          m.ModifyHostResponseBody)
    ok_results(typed(c.modify_hosts_active_address_type(m.ModifyHostsActiveAddressTypeRequest(
        instance_id=iid, host_ids=json.dumps([hid]), active_address_type="Public")),
        m.ModifyHostsActiveAddressTypeResponseBody))

    # Network domains.
    nd = c.create_network_domain(m.CreateNetworkDomainRequest(instance_id=iid, network_domain_name=f"swn-{sfx}",
                                                              network_domain_type="Direct")).body.network_domain_id
    domains = typed(c.list_network_domains(m.ListNetworkDomainsRequest(instance_id=iid,
                                                                       network_domain_name=f"swn-{sfx}")),
                    m.ListNetworkDomainsResponseBody)
    assert [d.network_domain_id for d in domains.network_domains] == [nd], domains.to_map()
    ok_results(typed(c.move_hosts_to_network_domain(m.MoveHostsToNetworkDomainRequest(
        instance_id=iid, network_domain_id=nd, host_ids=[hid])), m.MoveHostsToNetworkDomainResponseBody))
    ok_results(typed(c.move_databases_to_network_domain(m.MoveDatabasesToNetworkDomainRequest(
        instance_id=iid, network_domain_id=nd, database_ids=[dbid])), m.MoveDatabasesToNetworkDomainResponseBody))

    # Host groups.
    typed(c.modify_host_group(m.ModifyHostGroupRequest(instance_id=iid, host_group_id=hgid, comment="swept")),
          m.ModifyHostGroupResponseBody)
    hg = typed(c.get_host_group(m.GetHostGroupRequest(instance_id=iid, host_group_id=hgid)),
               m.GetHostGroupResponseBody).host_group
    assert (hg.host_group_name, hg.comment) == (f"swhg-{sfx}", "swept"), hg.to_map()
    ok_results(typed(c.remove_hosts_from_group(m.RemoveHostsFromGroupRequest(
        instance_id=iid, host_group_id=hgid, host_ids=json.dumps([hid]))), m.RemoveHostsFromGroupResponseBody))

    # Policies and rules.
    pid = c.create_policy(m.CreatePolicyRequest(instance_id=iid, policy_name=f"swp-{sfx}", priority=50)) \
        .body.policy_id
    typed(c.modify_policy(m.ModifyPolicyRequest(instance_id=iid, policy_id=pid, comment="swept", priority=60)),
          m.ModifyPolicyResponseBody)
    got = c.get_policy(m.GetPolicyRequest(instance_id=iid, policy_id=pid)).body.policy
    assert (got.comment, got.priority) == ("swept", 60), got.to_map()
    typed(c.delete_policy(m.DeletePolicyRequest(instance_id=iid, policy_id=pid)), m.DeletePolicyResponseBody)
    rid = c.create_rule(m.CreateRuleRequest(instance_id=iid, rule_name=f"swr-{sfx}", user_ids=[uid],
                                            hosts=[m.CreateRuleRequestHosts(host_id=hid, host_account_ids=[aid])])) \
        .body.rule_id
    typed(c.disable_rule(m.DisableRuleRequest(instance_id=iid, rule_id=rid)), m.DisableRuleResponseBody)
    typed(c.enable_rule(m.EnableRuleRequest(instance_id=iid, rule_id=rid)), m.EnableRuleResponseBody)
    typed(c.modify_rule(m.ModifyRuleRequest(instance_id=iid, rule_id=rid, comment="swept")),
          m.ModifyRuleResponseBody)
    rule = c.get_rule(m.GetRuleRequest(instance_id=iid, rule_id=rid)).body.rule
    assert rule.comment == "swept", rule.to_map()
    listed = c.list_rules(m.ListRulesRequest(instance_id=iid, rule_name=f"swr-{sfx}")).body.rules
    assert [r.rule_state for r in listed] == ["Enabled"], [r.to_map() for r in listed]

    # Directory servers: Verify says why nothing answers.
    port = closed_port()
    expect_error(lambda: c.verify_instance_ldapauth_server(m.VerifyInstanceLDAPAuthServerRequest(
        instance_id=iid, server="127.0.0.1", port=port, base_dn="dc=example,dc=org",
        account="cn=reader,dc=example,dc=org", password="pw")), "VerificationFailed")
    expect_error(lambda: c.verify_instance_adauth_server(m.VerifyInstanceADAuthServerRequest(
        instance_id=iid, server="127.0.0.1", port=port, base_dn="dc=example,dc=org", domain="example.org",
        account="reader@example.org", password="pw")), "VerificationFailed")

    # Tags, and the automated O&M tasks Portunus does not run.
    typed(c.list_tag_keys(m.ListTagKeysRequest(resource_type="INSTANCE")), m.ListTagKeysResponseBody)
    for call in (c.allow_operation_task_approval, c.reject_operation_task_approval):
        req = (m.AllowOperationTaskApprovalRequest if call == c.allow_operation_task_approval
               else m.RejectOperationTaskApprovalRequest)(instance_id=iid, approve_id="1")
        expect_error(lambda: call(req), "OperationNotSupported")

    # Deletions last.
    typed(c.remove_users_from_group(m.RemoveUsersFromGroupRequest(instance_id=iid, user_group_id=gid,
                                                                  user_ids=json.dumps([uid]))),
          m.RemoveUsersFromGroupResponseBody)
    typed(c.delete_user_group(m.DeleteUserGroupRequest(instance_id=iid, user_group_id=gid)),
          m.DeleteUserGroupResponseBody)
    typed(c.delete_host_group(m.DeleteHostGroupRequest(instance_id=iid, host_group_id=hgid)),
          m.DeleteHostGroupResponseBody)
    typed(c.delete_database_account(m.DeleteDatabaseAccountRequest(instance_id=iid, database_account_id=daid)),
          m.DeleteDatabaseAccountResponseBody)
    expect_error(lambda: c.get_database_account(m.GetDatabaseAccountRequest(instance_id=iid,
                                                                            database_account_id=daid)),
                 "OBJECT_NOT_FOUND")
    print("sdk_sweep: OK")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # say which call failed
        import traceback
        traceback.print_exc()
        print(f"sdk_sweep: FAILED: {e!r}", file=sys.stderr)
        sys.exit(1)
