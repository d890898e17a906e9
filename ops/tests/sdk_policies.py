#!/usr/bin/env python3
"""Control policies through the official Bastionhost SDK, unchanged except for the endpoint.

Environment: PORTUNUS_API_ENDPOINT, PORTUNUS_AK_ID, PORTUNUS_AK_SECRET (an Admin key),
PORTUNUS_POLICY_STEP and its inputs:
  create   PORTUNUS_USER (a user name), PORTUNUS_HOST_ID: a policy "prod-guard" covering that
           user on that host, refusing `rm -rf`, `touch` and `date`, SFTP uploads and mkdir; checks
           what GetPolicy, the scope queries and ListPolicies answer and what is refused.
  ipacl    PORTUNUS_IPS (comma separated), PORTUNUS_ACL (black or white)
  hours    PORTUNUS_HOURS (comma separated hours allowed every day; empty: any time)
  decide   PORTUNUS_COMMAND waiting for approval, PORTUNUS_DECISION (accept or reject)
  approval PORTUNUS_SWITCH (On or Off): O&M approval
  ask      PORTUNUS_HOST_ID, PORTUNUS_INSTANCE_ID, with the engineer's own Operator key as
           PORTUNUS_AK_ID/SECRET: a one-logon request for root over SSH
  accept   PORTUNUS_USER: that user's pending request found and approved
  protocols PORTUNUS_SHELL, PORTUNUS_EXEC (Enable or Disable): shells and remote commands
  allowlist PORTUNUS_COMMANDS (comma separated): command control as an allow list
Prints "sdk_policies: OK" at the end; exits non-zero on the first failure.
"""
import os
import sys

from alibabacloud_yundun_bastionhost20191209 import models as m
from sdk_common import client, expect_error, extension

IID = None
NAME = "prod-guard"


def policy_id(c):
    found = c.list_policies(m.ListPoliciesRequest(instance_id=IID, policy_name=NAME)).body
    assert found.total_count == 1, found.to_map()
    return found.policies[0].policy_id


def create(c):
    users = c.list_users(m.ListUsersRequest(instance_id=IID, user_name=os.environ["PORTUNUS_USER"]))
    uid = users.body.users[0].user_id
    hid = os.environ["PORTUNUS_HOST_ID"]
    expect_error(lambda: c.create_policy(m.CreatePolicyRequest(
        instance_id=IID, policy_name="too-low", priority=0)), "InvalidParameter")
    pid = c.create_policy(m.CreatePolicyRequest(
        instance_id=IID, policy_name=NAME, priority=10, comment="no destruction")).body.policy_id
    # A lower-priority policy covering everyone and everything allows everything: the first
    # one governs alice.
    loose = c.create_policy(m.CreatePolicyRequest(
        instance_id=IID, policy_name="loose", priority=50)).body.policy_id
    c.set_policy_user_scope(m.SetPolicyUserScopeRequest(
        instance_id=IID, policy_id=loose, scope_type="All"))
    c.set_policy_asset_scope(m.SetPolicyAssetScopeRequest(
        instance_id=IID, policy_id=loose, scope_type="All"))
    c.set_policy_user_scope(m.SetPolicyUserScopeRequest(
        instance_id=IID, policy_id=pid, scope_type="User", user_ids=[uid]))
    c.set_policy_asset_scope(m.SetPolicyAssetScopeRequest(
        instance_id=IID, policy_id=pid, scope_type="Host",
        hosts=[m.SetPolicyAssetScopeRequestHosts(host_id=hid, account_scope_type="All")]))
    cmd = m.SetPolicyCommandConfigRequestCommandConfig(
        deny=m.SetPolicyCommandConfigRequestCommandConfigDeny(
            acl_type="black", commands=["rm -rf", "touch", "/^dat[e]\\b/"]),
        approval=m.SetPolicyCommandConfigRequestCommandConfigApproval(commands=["uname"]))
    c.set_policy_command_config(m.SetPolicyCommandConfigRequest(
        instance_id=IID, policy_id=pid, command_config=cmd))
    ssh = m.SetPolicyProtocolConfigRequestProtocolConfigSSH(
        sshchannel="Enable", exec_command="Enable", sftpchannel="Enable",
        sftpdownload_file="Enable", sftpremove_file="Enable", sftprename_file="Enable",
        sftprmdir="Enable")
    c.set_policy_protocol_config(m.SetPolicyProtocolConfigRequest(
        instance_id=IID, policy_id=pid,
        protocol_config=m.SetPolicyProtocolConfigRequestProtocolConfig(ssh=ssh)))

    got = c.get_policy(m.GetPolicyRequest(instance_id=IID, policy_id=pid)).body.policy
    assert got.policy_name == NAME and got.priority == 10, got.to_map()
    assert got.command_config.deny.acl_type == "black", got.to_map()
    assert got.command_config.deny.commands == ["rm -rf", "touch", "/^dat[e]\\b/"], got.to_map()
    assert got.command_config.approval.commands == ["uname"], got.to_map()
    s = got.protocol_config.ssh
    assert (s.sshchannel, s.sftpupload_file, s.sftpmkdir, s.sftpdownload_file) == \
        ("Enable", "Disable", "Disable", "Enable"), got.to_map()
    assert got.approval_config.switch_status == "Off", got.to_map()
    scope = c.get_policy_asset_scope(m.GetPolicyAssetScopeRequest(
        instance_id=IID, policy_id=pid)).body.asset_scope
    assert scope.scope_type == "Host" and scope.hosts[0].host_id == hid, scope.to_map()
    users = c.get_policy_user_scope(m.GetPolicyUserScopeRequest(
        instance_id=IID, policy_id=pid)).body.user_scope
    assert users.scope_type == "User" and users.user_ids == [uid], users.to_map()
    listed = c.list_policies(m.ListPoliciesRequest(instance_id=IID)).body
    assert [p.policy_name for p in listed.policies] == [NAME, "loose"], listed.to_map()

    # What cannot be stored as asked is refused, and changes nothing.
    bad_ip = m.SetPolicyIPAclConfigRequestIPAclConfig(acl_type="white", ips=["10.0.0.0/40"])
    words = expect_error(lambda: c.set_policy_ipacl_config(m.SetPolicyIPAclConfigRequest(
        instance_id=IID, policy_id=pid, ipacl_config=bad_ip)), "InvalidParameter")
    assert "prefix length" in words, words
    bad_re = m.SetPolicyCommandConfigRequestCommandConfig(
        deny=m.SetPolicyCommandConfigRequestCommandConfigDeny(acl_type="black", commands=["/[/"]))
    expect_error(lambda: c.set_policy_command_config(m.SetPolicyCommandConfigRequest(
        instance_id=IID, policy_id=pid, command_config=bad_re)), "InvalidParameter")
    odd = m.SetPolicyApprovalConfigRequestApprovalConfig(switch_status="Maybe")
    expect_error(lambda: c.set_policy_approval_config(m.SetPolicyApprovalConfigRequest(
        instance_id=IID, policy_id=pid, approval_config=odd)), "InvalidParameter")
    after = c.get_policy(m.GetPolicyRequest(instance_id=IID, policy_id=pid)).body.policy
    assert after.to_map() == got.to_map(), (after.to_map(), got.to_map())


def ipacl(c):
    pid = policy_id(c)
    ips = [x for x in os.environ["PORTUNUS_IPS"].split(",") if x]
    acl = m.SetPolicyIPAclConfigRequestIPAclConfig(acl_type=os.environ["PORTUNUS_ACL"], ips=ips)
    c.set_policy_ipacl_config(m.SetPolicyIPAclConfigRequest(
        instance_id=IID, policy_id=pid, ipacl_config=acl))
    got = c.get_policy(m.GetPolicyRequest(instance_id=IID, policy_id=pid)).body.policy
    assert got.ipacl_config.ips == ips, got.to_map()


def hours(c):
    pid = policy_id(c)
    allowed = [int(h) for h in os.environ["PORTUNUS_HOURS"].split(",") if h]
    effective = [] if not allowed else [
        m.SetPolicyAccessTimeRangeConfigRequestAccessTimeRangeConfigEffectiveTime(
            days=[1, 2, 3, 4, 5, 6, 7], hours=allowed)]
    cfg = m.SetPolicyAccessTimeRangeConfigRequestAccessTimeRangeConfig(effective_time=effective)
    c.set_policy_access_time_range_config(m.SetPolicyAccessTimeRangeConfigRequest(
        instance_id=IID, policy_id=pid, access_time_range_config=cfg))
    got = c.get_policy(m.GetPolicyRequest(instance_id=IID, policy_id=pid)).body.policy
    shown = got.access_time_range_config.effective_time
    if allowed:
        assert shown[0].hours == [str(h) for h in sorted(allowed)], got.to_map()
        assert shown[0].days == [str(d) for d in range(1, 8)], got.to_map()
    else:
        assert shown == [], got.to_map()


def decide(c):
    """Waits for PORTUNUS_COMMAND among the commands waiting for approval, checks what the
    list says of it, and accepts or rejects it (PORTUNUS_DECISION)."""
    import time
    wanted = os.environ["PORTUNUS_COMMAND"]
    deadline = time.time() + 20
    while True:
        listed = c.list_approve_commands(m.ListApproveCommandsRequest(instance_id=IID)).body
        found = [a for a in listed.approve_commands if a.command == wanted]
        if found:
            break
        assert time.time() < deadline, f"{wanted!r} never waited: {listed.to_map()}"
        time.sleep(0.2)
    a = found[0]
    assert (a.client_user, a.asset_name, a.asset_account_name, a.state) == \
        ("alice", "web-01", "root", "Wait"), a.to_map()
    assert a.client_ip == "127.0.0.1" and a.protocol_name == "SSH", a.to_map()
    if os.environ["PORTUNUS_DECISION"] == "accept":
        c.accept_approve_command(m.AcceptApproveCommandRequest(
            instance_id=IID, command_id=a.approve_command_id))
    else:
        c.reject_approve_command(m.RejectApproveCommandRequest(
            instance_id=IID, command_id=a.approve_command_id))
    # Decided once: a second decision is refused.
    expect_error(lambda: c.reject_approve_command(m.RejectApproveCommandRequest(
        instance_id=IID, command_id=a.approve_command_id)), "InvalidParameter")


def withdrawn(c):
    """Command PORTUNUS_COMMAND_ID was withdrawn by its engineer (Ctrl-C): no longer listed
    as waiting, and no administrator can accept it."""
    cid = os.environ["PORTUNUS_COMMAND_ID"]
    listed = c.list_approve_commands(m.ListApproveCommandsRequest(instance_id=IID)).body
    assert all(str(a.approve_command_id) != cid for a in listed.approve_commands), listed.to_map()
    words = expect_error(lambda: c.accept_approve_command(m.AcceptApproveCommandRequest(
        instance_id=IID, command_id=cid)), "InvalidParameter")
    assert "withdrew" in words, words


def approval(c):
    pid = policy_id(c)
    switch = os.environ["PORTUNUS_SWITCH"]
    cfg = m.SetPolicyApprovalConfigRequestApprovalConfig(switch_status=switch)
    c.set_policy_approval_config(m.SetPolicyApprovalConfigRequest(
        instance_id=IID, policy_id=pid, approval_config=cfg))
    got = c.get_policy(m.GetPolicyRequest(instance_id=IID, policy_id=pid)).body.policy
    assert got.approval_config.switch_status == switch, got.to_map()


def protocols(c):
    """SSH shells (PORTUNUS_SHELL) and remote commands (PORTUNUS_EXEC), Enable or Disable; SFTP
    as the create step left it."""
    pid = policy_id(c)
    ssh = m.SetPolicyProtocolConfigRequestProtocolConfigSSH(
        sshchannel=os.environ["PORTUNUS_SHELL"], exec_command=os.environ["PORTUNUS_EXEC"],
        sftpchannel="Enable", sftpdownload_file="Enable", sftpremove_file="Enable",
        sftprename_file="Enable", sftprmdir="Enable")
    c.set_policy_protocol_config(m.SetPolicyProtocolConfigRequest(
        instance_id=IID, policy_id=pid,
        protocol_config=m.SetPolicyProtocolConfigRequestProtocolConfig(ssh=ssh)))
    got = c.get_policy(m.GetPolicyRequest(instance_id=IID, policy_id=pid)).body.policy.protocol_config.ssh
    assert (got.sshchannel, got.exec_command) == (os.environ["PORTUNUS_SHELL"], os.environ["PORTUNUS_EXEC"]), \
        got.to_map()


def allowlist(c):
    """Command control as an allow list of PORTUNUS_COMMANDS (comma separated)."""
    pid = policy_id(c)
    commands = os.environ["PORTUNUS_COMMANDS"].split(",")
    cmd = m.SetPolicyCommandConfigRequestCommandConfig(
        deny=m.SetPolicyCommandConfigRequestCommandConfigDeny(acl_type="white", commands=commands))
    c.set_policy_command_config(m.SetPolicyCommandConfigRequest(
        instance_id=IID, policy_id=pid, command_config=cmd))
    got = c.get_policy(m.GetPolicyRequest(instance_id=IID, policy_id=pid)).body.policy.command_config.deny
    assert (got.acl_type, got.commands) == ("white", commands), got.to_map()


def ask(c):
    """The engineer's own key (an Operator key of PORTUNUS_USER's) asks for one logon to
    root@PORTUNUS_HOST_ID over SSH: the SDK's request, unchanged."""
    r = c.create_operation_ticket(m.CreateOperationTicketRequest(
        instance_id=IID, asset_id=os.environ["PORTUNUS_HOST_ID"], asset_account_name="root",
        protocol_name="SSH", approve_comment="deploy 1.2", is_one_time_effect=True)).body
    assert r.operation_ticket_id, r.to_map()


def accept(c):
    """An administrator finds PORTUNUS_USER's pending request and approves it; it cannot be
    rejected afterwards."""
    listed = c.list_operation_tickets(m.ListOperationTicketsRequest(instance_id=IID)).body
    mine = [t for t in listed.operation_tickets
            if t.apply_username == os.environ["PORTUNUS_USER"] and t.state == "NotProcessed"]
    assert len(mine) == 1, listed.to_map()
    t = mine[0]
    assert (t.asset_account_name, t.protocol_name, t.approve_comment) == ("root", "SSH", "deploy 1.2"), t.to_map()
    c.accept_operation_ticket(m.AcceptOperationTicketRequest(
        instance_id=IID, operation_ticket_id=t.operation_ticket_id, comment="ok"))
    expect_error(lambda: c.reject_operation_ticket(m.RejectOperationTicketRequest(
        instance_id=IID, operation_ticket_id=t.operation_ticket_id)), "InvalidParameter")


def main():
    global IID
    c = client()
    # An engineer's Operator key may not list instances: the engineer is told the id.
    IID = os.environ.get("PORTUNUS_INSTANCE_ID") or \
        c.describe_instances(m.DescribeInstancesRequest()).body.instances[0].instance_id
    steps = {"create": create, "ipacl": ipacl, "hours": hours, "decide": decide, "withdrawn": withdrawn,
             "approval": approval, "ask": ask, "accept": accept, "protocols": protocols,
             "allowlist": allowlist}
    steps[os.environ["PORTUNUS_POLICY_STEP"]](c)
    print("sdk_policies: OK")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # report which step failed
        print(f"sdk_policies: FAILED: {e!r}", file=sys.stderr)
        raise
