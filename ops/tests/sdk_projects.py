#!/usr/bin/env python3
"""Projects, project authorizations and review rules through the official Bastionhost SDK,
unchanged except for the endpoint: every one of their actions with its typed answer, and what a
project administrator (an Operator key whose user a project authorization names) may and may
not do.

Environment: PORTUNUS_API_ENDPOINT, PORTUNUS_AK_ID, PORTUNUS_AK_SECRET, PORTUNUS_PROJECTS_STEP,
PORTUNUS_PROJECTS_STATE (a JSON file the steps share):
  setup     (Admin key) projects, hosts in them, a user pm, a project authorization naming pm for
            project web, a review rule; every action's answer checked; writes the state file
  manager   (pm's Operator key) lists and changes web's hosts, is refused shop's and the rest
  revoke    (Admin key) removes pm from the authorization
  revoked   (pm's key) lists nothing any more
  export    (Admin key) CreateExportConfigJob; writes its JobId to PORTUNUS_PROJECTS_JOB
  download  (Admin key) GetExportConfigJob of that job; writes the document to
            PORTUNUS_PROJECTS_EXPORT
  restored  (Admin key, on the cluster the export was imported into) the projects, hosts,
            users and the project authorization are there
Prints "sdk_projects: OK" at the end; exits non-zero on the first failure.
"""
import json
import os

from alibabacloud_yundun_bastionhost20191209 import models as m
from sdk_common import body, client, expect_error


def host(c, iid, name, project):
    return body(c.create_host(m.CreateHostRequest(
        instance_id=iid, host_name=name, source="Local", ostype="Linux",
        active_address_type="Private", host_private_address="10.0.0.7",
        project_id=project)), m.CreateHostResponseBody).host_id


def projects(c, iid):
    web = body(c.create_project(m.CreateProjectRequest(
        instance_id=iid, name="web", description="front ends", member_ids="[]")),
        m.CreateProjectResponseBody).project_id
    assert isinstance(web, str) and web.isdigit(), web
    shop = body(c.create_project(m.CreateProjectRequest(instance_id=iid, name="shop")),
                m.CreateProjectResponseBody).project_id
    spare = body(c.create_project(m.CreateProjectRequest(instance_id=iid, name="spare")),
                 m.CreateProjectResponseBody).project_id
    expect_error(lambda: c.create_project(m.CreateProjectRequest(instance_id=iid, name="web")),
                 "OBJECT_AlREADY_EXISTS")
    expect_error(lambda: c.create_project(m.CreateProjectRequest(
        instance_id=iid, name="cloud", member_ids='["1234567890"]')),
        "OperationNotSupported", ["resource-directory"])
    w1 = host(c, iid, "w1", int(web))
    s1 = host(c, iid, "s1", int(shop))
    got = body(c.get_project(m.GetProjectRequest(instance_id=iid, project_id=int(web))),
               m.GetProjectResponseBody).project
    assert got.project_id == int(web) and got.name == "web" and got.host_count == 1, got.to_map()
    assert got.is_default is False and got.member_ids == [] and got.notify_receivers == [], got.to_map()
    assert isinstance(got.created_at, int) and got.created_at > 1_600_000_000, got.to_map()
    listed = body(c.list_projects(m.ListProjectsRequest(instance_id=iid, max_results=2)),
                  m.ListProjectsResponseBody)
    assert listed.total_count == 4 and listed.max_results == 2, listed.to_map()
    assert listed.projects[0].is_default is True and listed.next_token == "2", listed.to_map()
    rest = body(c.list_projects(m.ListProjectsRequest(instance_id=iid, next_token=listed.next_token)),
                m.ListProjectsResponseBody)
    assert [p.name for p in rest.projects] == ["shop", "spare"] and rest.next_token == "", rest.to_map()
    found = body(c.list_projects(m.ListProjectsRequest(instance_id=iid, keyword="SHO")),
                 m.ListProjectsResponseBody)
    assert [p.project_id for p in found.projects] == [int(shop)], found.to_map()
    body(c.modify_project(m.ModifyProjectRequest(
        instance_id=iid, project_id=int(spare), name="spare-2", description="later")),
        m.ModifyProjectResponseBody)
    # Hosts in projects: listing by project, moving only from where a host is.
    hosts = body(c.list_hosts(m.ListHostsRequest(instance_id=iid, project_id=web)),
                 m.ListHostsResponseBody)
    assert [h.host_id for h in hosts.hosts] == [w1], hosts.to_map()
    moved = body(c.modify_hosts_project(m.ModifyHostsProjectRequest(
        instance_id=iid, host_ids=f'["{s1}"]', project_id=int(web), target_project_id=int(spare))),
        m.ModifyHostsProjectResponseBody)
    assert moved.success_count == 0 and moved.results[0].asset_id == s1, moved.to_map()
    assert "is not in project" in moved.results[0].message, moved.to_map()
    db = body(c.create_database(m.CreateDatabaseRequest(
        instance_id=iid, database_name="orders", database_type="MySQL", source="Local",
        database_port=3306, active_address_type="Private", database_private_address="10.0.0.9",
        project_id=int(shop))), m.CreateDatabaseResponseBody).database_id
    dbs = body(c.list_databases(m.ListDatabasesRequest(instance_id=iid, project_id=int(shop))),
               m.ListDatabasesResponseBody)
    assert [d.database_id for d in dbs.databases] == [db], dbs.to_map()
    moved = body(c.modify_databases_project(m.ModifyDatabasesProjectRequest(
        instance_id=iid, database_ids=f'["{db}"]', target_project_id=int(spare))),
        m.ModifyDatabasesProjectResponseBody)
    assert moved.success_count == 1 and moved.total_count == 1, moved.to_map()
    deleted = body(c.delete_projects(m.DeleteProjectsRequest(
        instance_id=iid, project_ids=f'["{spare}"]')), m.DeleteProjectsResponseBody)
    assert deleted.results[0].code != "OK" and deleted.results[0].project_id == spare, deleted.to_map()
    body(c.modify_databases_project(m.ModifyDatabasesProjectRequest(
        instance_id=iid, database_ids=f'["{db}"]', target_project_id=int(shop))),
        m.ModifyDatabasesProjectResponseBody)
    deleted = body(c.delete_projects(m.DeleteProjectsRequest(
        instance_id=iid, project_ids=f'["{spare}"]')), m.DeleteProjectsResponseBody)
    assert deleted.results[0].code == "OK", deleted.to_map()
    # What a self-hosted cluster has none of: member accounts and SMS/e-mail recipients.
    for call in [
        lambda: c.attach_members_to_project(m.AttachMembersToProjectRequest(
            instance_id=iid, project_id=int(web), member_ids='["123"]')),
        lambda: c.detach_members_from_project(m.DetachMembersFromProjectRequest(
            instance_id=iid, project_id=int(web), member_ids='["123"]')),
    ]:
        expect_error(call, "OperationNotSupported", ["ModifyHostsProject"])
    members = body(c.list_members_not_for_project(m.ListMembersNotForProjectRequest(
        instance_id=iid, project_id=int(web))), m.ListMembersNotForProjectResponseBody)
    assert members.members == [] and members.total_count == 0, members.to_map()
    for call in [
        lambda: c.create_project_notify_receiver(m.CreateProjectNotifyReceiverRequest(
            instance_id=iid, project_id=int(web), name="ops", phone="1300000000")),
        lambda: c.modify_project_notify_receiver(m.ModifyProjectNotifyReceiverRequest(
            instance_id=iid, receiver_id=1, name="ops", phone="1300000000")),
        lambda: c.delete_project_notify_receivers(m.DeleteProjectNotifyReceiversRequest(
            instance_id=iid, receiver_ids='["1"]')),
    ]:
        expect_error(call, "OperationNotSupported", ["--audit-syslog"])
    receivers = body(c.list_project_notify_receivers(m.ListProjectNotifyReceiversRequest(
        instance_id=iid, project_id=int(web))), m.ListProjectNotifyReceiversResponseBody)
    assert receivers.items == [] and receivers.total_count == 0, receivers.to_map()
    return web, shop, w1, s1


def delegations(c, iid, web, shop, pm):
    auth = body(c.create_project_authorization(m.CreateProjectAuthorizationRequest(
        instance_id=iid, name="web admins", scope_type=2, description="who runs web")),
        m.CreateProjectAuthorizationResponseBody).authorization_id
    spare = body(c.create_project_authorization(m.CreateProjectAuthorizationRequest(
        instance_id=iid, name="everyone", scope_type=1)),
        m.CreateProjectAuthorizationResponseBody).authorization_id
    body(c.attach_projects_to_project_authorization(m.AttachProjectsToProjectAuthorizationRequest(
        instance_id=iid, authorization_id=int(auth), project_ids=f'["{web}","{shop}"]')),
        m.AttachProjectsToProjectAuthorizationResponseBody)
    body(c.detach_projects_from_project_authorization(
        m.DetachProjectsFromProjectAuthorizationRequest(
            instance_id=iid, authorization_id=int(auth), project_ids=f'["{shop}"]')),
        m.DetachProjectsFromProjectAuthorizationResponseBody)
    principal = m.AttachProjectManagersToProjectAuthorizationRequestPrincipals
    body(c.attach_project_managers_to_project_authorization(
        m.AttachProjectManagersToProjectAuthorizationRequest(
            instance_id=iid, authorization_id=int(auth),
            principals=[principal(principal_id=pm, principal_type="RamUser", principal_name="pm")])),
        m.AttachProjectManagersToProjectAuthorizationResponseBody)
    expect_error(lambda: c.attach_project_managers_to_project_authorization(
        m.AttachProjectManagersToProjectAuthorizationRequest(
            instance_id=iid, authorization_id=int(auth),
            principals=[principal(principal_id="acs:ram::1:role/x", principal_type="RamRole")])),
        "OperationNotSupported", ["RAM roles"])
    got = body(c.get_project_authorization(m.GetProjectAuthorizationRequest(
        instance_id=iid, authorization_id=int(auth))),
        m.GetProjectAuthorizationResponseBody).project_authorization
    assert got.authorization_id == int(auth) and got.scope_type == 2, got.to_map()
    assert got.project_ids == [int(web)] and got.projects[0].name == "web", got.to_map()
    assert got.principals[0].principal_id == pm and got.principals[0].principal_name == "pm", got.to_map()
    body(c.modify_project_authorization(m.ModifyProjectAuthorizationRequest(
        instance_id=iid, authorization_id=int(auth), name="web admins",
        description="who runs web, still")), m.ModifyProjectAuthorizationResponseBody)
    listed = body(c.list_project_authorizations(m.ListProjectAuthorizationsRequest(
        instance_id=iid, keyword="web")), m.ListProjectAuthorizationsResponseBody)
    assert listed.total_count == 1, listed.to_map()
    row = listed.project_authorizations[0]
    assert row.authorization_id == int(auth) and row.description == "who runs web, still", listed.to_map()
    not_for = body(c.list_projects_not_for_project_authorization(
        m.ListProjectsNotForProjectAuthorizationRequest(instance_id=iid, authorization_id=int(auth))),
        m.ListProjectsNotForProjectAuthorizationResponseBody)
    assert sorted(p.name for p in not_for.projects) == ["Default", "shop"], not_for.to_map()
    body(c.delete_project_authorizations(m.DeleteProjectAuthorizationsRequest(
        instance_id=iid, authorization_ids=f'["{spare}"]')),
        m.DeleteProjectAuthorizationsResponseBody)
    expect_error(lambda: c.get_project_authorization(m.GetProjectAuthorizationRequest(
        instance_id=iid, authorization_id=int(spare))), "OBJECT_NOT_FOUND")

    rule = body(c.create_review_rule(m.CreateReviewRuleRequest(
        instance_id=iid, name="shop audit", scope_type=2, description="auditors of shop")),
        m.CreateReviewRuleResponseBody).review_rule_id
    assert isinstance(rule, str), rule
    body(c.attach_projects_to_review_rule(m.AttachProjectsToReviewRuleRequest(
        instance_id=iid, review_rule_id=int(rule), project_ids=f'["{shop}","{web}"]')),
        m.AttachProjectsToReviewRuleResponseBody)
    body(c.detach_projects_from_review_rule(m.DetachProjectsFromReviewRuleRequest(
        instance_id=iid, review_rule_id=int(rule), project_ids=f'["{web}"]')),
        m.DetachProjectsFromReviewRuleResponseBody)
    reviewer = m.AttachReviewersToReviewRuleRequestPrincipals
    body(c.attach_reviewers_to_review_rule(m.AttachReviewersToReviewRuleRequest(
        instance_id=iid, review_rule_id=int(rule),
        principals=[reviewer(principal_id=pm, principal_type="RamUser")])),
        m.AttachReviewersToReviewRuleResponseBody)
    got = body(c.get_review_rule(m.GetReviewRuleRequest(instance_id=iid, review_rule_id=int(rule))),
               m.GetReviewRuleResponseBody).review_rule
    assert got.review_rule_id == rule and got.review_rule_name == "shop audit", got.to_map()
    assert got.project_ids == [int(shop)] and got.principals[0].principal_id == pm, got.to_map()
    body(c.detach_reviewers_from_review_rule(m.DetachReviewersFromReviewRuleRequest(
        instance_id=iid, review_rule_id=int(rule), principal_ids=f'["{pm}"]')),
        m.DetachReviewersFromReviewRuleResponseBody)
    body(c.modify_review_rule(m.ModifyReviewRuleRequest(
        instance_id=iid, review_rule_id=int(rule), name="shop audit", scope_type=1)),
        m.ModifyReviewRuleResponseBody)
    rules = body(c.list_review_rules(m.ListReviewRulesRequest(instance_id=iid)),
                 m.ListReviewRulesResponseBody)
    assert rules.review_rules[0].rule_name == "shop audit" and rules.review_rules[0].scope_type == 1, rules.to_map()
    assert rules.review_rules[0].remark == "auditors of shop", rules.to_map()
    not_for = body(c.list_projects_not_for_review_rule(m.ListProjectsNotForReviewRuleRequest(
        instance_id=iid, review_rule_id=int(rule))), m.ListProjectsNotForReviewRuleResponseBody)
    assert sorted(p.name for p in not_for.projects) == ["Default", "web"], not_for.to_map()
    body(c.delete_review_rules(m.DeleteReviewRulesRequest(
        instance_id=iid, review_rule_ids=f'["{rule}"]')), m.DeleteReviewRulesResponseBody)
    assert body(c.list_review_rules(m.ListReviewRulesRequest(instance_id=iid)),
                m.ListReviewRulesResponseBody).total_count == 0
    mine = body(c.list_projects_for_project_authorization_principal(
        m.ListProjectsForProjectAuthorizationPrincipalRequest(instance_id=iid)),
        m.ListProjectsForProjectAuthorizationPrincipalResponseBody)
    assert mine.total_count == 3, mine.to_map()
    return auth


def setup(c, iid, state):
    web, shop, w1, s1 = projects(c, iid)
    pm = body(c.create_user(m.CreateUserRequest(instance_id=iid, user_name="pm", source="Local")),
              m.CreateUserResponseBody).user_id
    alice = body(c.create_user(m.CreateUserRequest(instance_id=iid, user_name="alice", source="Local")),
                 m.CreateUserResponseBody).user_id
    acct = body(c.create_host_account(m.CreateHostAccountRequest(
        instance_id=iid, host_id=w1, host_account_name="root", protocol_name="SSH")),
        m.CreateHostAccountResponseBody).host_account_id
    auth = delegations(c, iid, web, shop, pm)
    with open(state, "w") as f:
        json.dump({"web": web, "shop": shop, "w1": w1, "s1": s1, "pm": pm, "alice": alice,
                   "account": acct, "auth": auth}, f)


def manager(c, iid, st):
    mine = body(c.list_projects_for_project_authorization_principal(
        m.ListProjectsForProjectAuthorizationPrincipalRequest(instance_id=iid)),
        m.ListProjectsForProjectAuthorizationPrincipalResponseBody)
    assert [p.name for p in mine.projects] == ["web"], mine.to_map()
    hosts = body(c.list_hosts(m.ListHostsRequest(instance_id=iid, project_id=st["web"])),
                 m.ListHostsResponseBody)
    assert [h.host_id for h in hosts.hosts] == [st["w1"]], hosts.to_map()
    expect_error(lambda: c.list_hosts(m.ListHostsRequest(instance_id=iid, project_id=st["shop"])),
                 "Forbidden", [f"project {st['shop']} is not one you administer"])
    expect_error(lambda: c.list_hosts(m.ListHostsRequest(instance_id=iid)), "Forbidden", ["ProjectId"])
    expect_error(lambda: c.get_host(m.GetHostRequest(instance_id=iid, host_id=st["s1"])),
                 "Forbidden", [f"host {st['s1']} is not in a project you administer"])
    made = host(c, iid, "w2", int(st["web"]))
    body(c.modify_host(m.ModifyHostRequest(instance_id=iid, host_id=made, comment="by pm")),
         m.ModifyHostResponseBody)
    expect_error(lambda: host(c, iid, "s2", int(st["shop"])), "Forbidden")
    hosts = f'[{{"HostId":"{st["w1"]}","HostAccountIds":["{st["account"]}"]}}]'
    granted = body(c.attach_host_accounts_to_user(m.AttachHostAccountsToUserRequest(
        instance_id=iid, user_id=st["alice"], hosts=hosts)), m.AttachHostAccountsToUserResponseBody)
    assert granted.results[0].code == "OK", granted.to_map()
    users = body(c.list_users(m.ListUsersRequest(instance_id=iid)), m.ListUsersResponseBody)
    assert users.total_count >= 2, users.to_map()
    expect_error(lambda: c.create_user(m.CreateUserRequest(
        instance_id=iid, user_name="x", source="Local")), "Forbidden")
    expect_error(lambda: c.create_project(m.CreateProjectRequest(instance_id=iid, name="mine")),
                 "Forbidden")
    body(c.delete_host(m.DeleteHostRequest(instance_id=iid, host_id=made)), m.DeleteHostResponseBody)


def revoke(c, iid, st):
    body(c.detach_project_managers_from_project_authorization(
        m.DetachProjectManagersFromProjectAuthorizationRequest(
            instance_id=iid, authorization_id=int(st["auth"]), principal_ids=f'["{st["pm"]}"]')),
        m.DetachProjectManagersFromProjectAuthorizationResponseBody)


def revoked(c, iid, st):
    expect_error(lambda: c.list_hosts(m.ListHostsRequest(instance_id=iid, project_id=st["web"])),
                 "Forbidden")
    mine = body(c.list_projects_for_project_authorization_principal(
        m.ListProjectsForProjectAuthorizationPrincipalRequest(instance_id=iid)),
        m.ListProjectsForProjectAuthorizationPrincipalResponseBody)
    assert mine.total_count == 0, mine.to_map()


def export(c, iid, st):
    job = body(c.create_export_config_job(m.CreateExportConfigJobRequest(instance_id=iid)),
               m.CreateExportConfigJobResponseBody).job_id
    assert isinstance(job, str) and job, job
    with open(os.environ["PORTUNUS_PROJECTS_JOB"], "w") as f:
        f.write(job)


def download(c, iid, st):
    with open(os.environ["PORTUNUS_PROJECTS_JOB"]) as f:
        job = f.read()
    got = body(c.get_export_config_job(m.GetExportConfigJobRequest(instance_id=iid, job_id=job)),
               m.GetExportConfigJobResponseBody)
    assert got.status == "Success" and got.job_id == job and got.expire_time == 0, got.to_map()
    assert "import-config" in got.message, got.message
    prefix = "data:application/json;base64,"
    assert got.download_url.startswith(prefix), got.download_url[:40]
    import base64
    with open(os.environ["PORTUNUS_PROJECTS_EXPORT"], "wb") as f:
        f.write(base64.b64decode(got.download_url[len(prefix):]))


def restored(c, iid, st):
    names = [p.name for p in body(c.list_projects(m.ListProjectsRequest(instance_id=iid)),
                                  m.ListProjectsResponseBody).projects]
    assert names == ["Default", "web", "shop"], names
    hosts = body(c.list_hosts(m.ListHostsRequest(instance_id=iid, project_id=st["web"])),
                 m.ListHostsResponseBody)
    assert [h.host_id for h in hosts.hosts] == [st["w1"]], hosts.to_map()
    users = body(c.list_users(m.ListUsersRequest(instance_id=iid, user_name="pm")),
                 m.ListUsersResponseBody)
    assert [u.user_id for u in users.users] == [st["pm"]], users.to_map()
    auth = body(c.get_project_authorization(m.GetProjectAuthorizationRequest(
        instance_id=iid, authorization_id=int(st["auth"]))),
        m.GetProjectAuthorizationResponseBody).project_authorization
    assert auth.project_ids == [int(st["web"])], auth.to_map()


def main():
    c = client()
    step = os.environ["PORTUNUS_PROJECTS_STEP"]
    state = os.environ["PORTUNUS_PROJECTS_STATE"]
    if step == "setup":
        iid = body(c.describe_instances(m.DescribeInstancesRequest()),
                   m.DescribeInstancesResponseBody).instances[0].instance_id
        setup(c, iid, state)
        with open(state) as f:
            st = json.load(f)
        st["iid"] = iid
        with open(state, "w") as f:
            json.dump(st, f)
    else:
        with open(state) as f:
            st = json.load(f)
        # pm's Operator key may not describe the instance; the restored cluster has its own id.
        iid = st["iid"]
        if step == "restored":
            iid = body(c.describe_instances(m.DescribeInstancesRequest()),
                       m.DescribeInstancesResponseBody).instances[0].instance_id
        steps = {"manager": manager, "revoke": revoke, "revoked": revoked, "export": export,
                 "download": download, "restored": restored}
        steps[step](c, iid, st)
    print("sdk_projects: OK")


if __name__ == "__main__":
    main()
