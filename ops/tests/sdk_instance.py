#!/usr/bin/env python3
"""The instance's own actions through the official Bastionhost SDK, unchanged except for the
endpoint: its public-network door, its region, its storage, and the cloud-only actions that a
self-hosted cluster refuses with a reason.

Environment: PORTUNUS_API_ENDPOINT, PORTUNUS_AK_ID, PORTUNUS_AK_SECRET (an Admin key),
PORTUNUS_INSTANCE_STEP and its inputs:
  check      regions, storage (PORTUNUS_NODES members expected), refusals, bad white lists
  whitelist  PORTUNUS_WHITE_LIST (comma separated blocks): the public white list, read back
  public     PORTUNUS_SWITCH (on or off): public access, read back
Prints "sdk_instance: OK" at the end; exits non-zero on the first failure.
"""
import os

from alibabacloud_yundun_bastionhost20191209 import models as m
from sdk_common import client, expect_error


def check(c, iid):
    regions = c.describe_regions(m.DescribeRegionsRequest(accept_language="en-US")).body
    assert len(regions.regions) == 1, regions.to_map()
    assert regions.regions[0].region_id == "local", regions.to_map()
    assert regions.regions[0].local_name == "Portunus (self-hosted)", regions.to_map()
    expect_error(lambda: c.describe_regions(m.DescribeRegionsRequest(accept_language="fr")),
                 "InvalidParameter", ["AcceptLanguage"])
    inst = c.describe_instances(m.DescribeInstancesRequest()).body
    assert inst.instances[0].region_id == "local", inst.to_map()

    store = c.get_instance_store_info(m.GetInstanceStoreInfoRequest(instance_id=iid)).body
    assert isinstance(store.usage, int) and store.usage > 0, store.to_map()
    assert isinstance(store.max, int) and store.max > store.usage, store.to_map()

    refusals = [
        (lambda: c.start_instance(m.StartInstanceRequest(
            instance_id=iid, security_group_ids=["sg-1"], vswitch_id="vsw-1")),
         ["systemctl start portunus"]),
        (lambda: c.move_resource_group(m.MoveResourceGroupRequest(
            region_id="local", resource_group_id="rg-1", resource_id=iid,
            resource_type="INSTANCE")), ["host groups", "TagResources"]),
        (lambda: c.config_instance_security_groups(m.ConfigInstanceSecurityGroupsRequest(
            instance_id=iid, authorized_security_groups=["sg-1"])), ["ConfigInstanceWhiteList"]),
        (lambda: c.add_instance_rd_member(m.AddInstanceRdMemberRequest(
            instance_id=iid, member_id="1234")), ["CreateHost"]),
        (lambda: c.remove_instance_rd_member(m.RemoveInstanceRdMemberRequest(
            instance_id=iid, member_id="1234")), ["CreateHost"]),
        (lambda: c.import_kmssecrets_for_host(m.ImportKMSSecretsForHostRequest(
            instance_id=iid, host_id="1")), ["sealing keys", "CreateHostAccount"]),
        (lambda: c.list_importable_kmssecrets_for_host(m.ListImportableKMSSecretsForHostRequest(
            instance_id=iid, host_id="1")), ["sealing keys"]),
    ]
    for call, words in refusals:
        expect_error(call, "OperationNotSupported", words)
    members = c.list_instance_rd_members(m.ListInstanceRdMembersRequest(instance_id=iid)).body
    assert members.members == [] and members.max_results == 20, members.to_map()

    before = c.describe_instance_attribute(
        m.DescribeInstanceAttributeRequest(instance_id=iid)).body.instance_attribute
    for bad, words in [(["0.0.0.0/0"], ["every address"]),
                       (["198.51.100.0/33"], ["prefix length"]),
                       (["not-an-address"], ["not an IP address"]),
                       ([f"198.51.100.{i}" for i in range(51)], ["at most 50"])]:
        expect_error(lambda: c.config_instance_white_list(m.ConfigInstanceWhiteListRequest(
            instance_id=iid, white_list=bad)), "InvalidParameter", words)
    after = c.describe_instance_attribute(
        m.DescribeInstanceAttributeRequest(instance_id=iid)).body.instance_attribute
    assert after.public_white_list == before.public_white_list, "a refused list changed it"


def white_list(c, iid):
    blocks = [b for b in os.environ["PORTUNUS_WHITE_LIST"].split(",") if b]
    policies = [m.ConfigInstanceWhiteListRequestWhiteListPolicies(entry=b, description=f"office {i}")
                for i, b in enumerate(blocks)]
    got = c.config_instance_white_list(m.ConfigInstanceWhiteListRequest(
        instance_id=iid, white_list_policies=policies)).body
    assert got.instance_id == iid, got.to_map()
    attr = c.describe_instance_attribute(
        m.DescribeInstanceAttributeRequest(instance_id=iid)).body.instance_attribute
    assert attr.public_white_list == blocks, attr.to_map()
    assert [p.description for p in attr.white_list_policies] == \
        [f"office {i}" for i in range(len(blocks))], attr.to_map()


def public(c, iid):
    on = os.environ["PORTUNUS_SWITCH"] == "on"
    if on:
        got = c.enable_instance_public_access(
            m.EnableInstancePublicAccessRequest(instance_id=iid)).body
    else:
        got = c.disable_instance_public_access(
            m.DisableInstancePublicAccessRequest(instance_id=iid)).body
    assert got.instance_id == iid, got.to_map()
    attr = c.describe_instance_attribute(
        m.DescribeInstanceAttributeRequest(instance_id=iid)).body.instance_attribute
    assert attr.public_network_access is on, attr.to_map()


def main():
    c = client()
    iid = c.describe_instances(m.DescribeInstancesRequest()).body.instances[0].instance_id
    step = os.environ["PORTUNUS_INSTANCE_STEP"]
    {"check": check, "whitelist": white_list, "public": public}[step](c, iid)
    print("sdk_instance: OK")


if __name__ == "__main__":
    main()
