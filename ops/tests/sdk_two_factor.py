#!/usr/bin/env python3
"""The two-factor settings through the official Alibaba Cloud SDK
(alibabacloud-yundun-bastionhost20191209): ModifyInstanceTwoFactor / GetInstanceTwoFactor round
trip (SkipTwoFactorTime in hours), methods Portunus cannot deliver (sms, email) refused with
OperationNotSupported and never stored, CreateUser / ModifyUser / GetUser with TwoFactorStatus
and TwoFactorMethods.

Environment: PORTUNUS_API_ENDPOINTS (host:port,...), PORTUNUS_AK_ID, PORTUNUS_AK_SECRET (an Admin
key), PORTUNUS_2FA_PASSWORD (the password of the user it creates), PORTUNUS_2FA_OUT (a file that
receives {"UserId": ..., "UserName": ...}). Leaves two-factor authentication on (totp, asked at
every login). Prints "sdk_two_factor: OK"; exits non-zero on the first failure.
"""
import json
import os
import uuid

from alibabacloud_yundun_bastionhost20191209 import models as m

from sdk_smoke import check, client, expect_error


def settings(c, iid):
    return check(c.get_instance_two_factor(m.GetInstanceTwoFactorRequest(instance_id=iid)),
                 m.GetInstanceTwoFactorResponseBody).config


def main():
    c = client()
    sfx = uuid.uuid4().hex[:8]
    iid = check(c.describe_instances(m.DescribeInstancesRequest()),
                m.DescribeInstancesResponseBody).instances[0].instance_id

    off = settings(c, iid)
    assert off.enable_two_factor is False and off.two_factor_methods == [], off.to_map()

    check(c.modify_instance_two_factor(m.ModifyInstanceTwoFactorRequest(
        instance_id=iid, enable_two_factor="true", two_factor_methods='["totp"]',
        skip_two_factor_time="2")), m.ModifyInstanceTwoFactorResponseBody)
    on = settings(c, iid)
    assert on.enable_two_factor is True, on.to_map()
    assert on.two_factor_methods == ["totp"], on.to_map()
    assert on.skip_two_factor_time == 2, on.to_map()

    for methods in ('["sms"]', '["totp","email"]', '["dingtalk"]'):
        expect_error(lambda: c.modify_instance_two_factor(m.ModifyInstanceTwoFactorRequest(
            instance_id=iid, enable_two_factor="true", two_factor_methods=methods)),
            "OperationNotSupported")
    expect_error(lambda: c.modify_instance_two_factor(m.ModifyInstanceTwoFactorRequest(
        instance_id=iid, skip_two_factor_time="169")), "InvalidParameter")
    kept = settings(c, iid)
    assert kept.two_factor_methods == ["totp"] and kept.skip_two_factor_time == 2, kept.to_map()

    # Asked at every login from here on.
    check(c.modify_instance_two_factor(m.ModifyInstanceTwoFactorRequest(
        instance_id=iid, skip_two_factor_time="0")), m.ModifyInstanceTwoFactorResponseBody)
    assert settings(c, iid).skip_two_factor_time == 0

    name = f"mfa_{sfx}"
    uid = check(c.create_user(m.CreateUserRequest(
        instance_id=iid, user_name=name, source="Local",
        password=os.environ["PORTUNUS_2FA_PASSWORD"], two_factor_status="Enable",
        two_factor_methods='["totp"]')), m.CreateUserResponseBody).user_id
    user = check(c.get_user(m.GetUserRequest(instance_id=iid, user_id=uid)),
                 m.GetUserResponseBody).user
    assert user.two_factor_status == "Enable" and user.two_factor_methods == ["totp"], user.to_map()

    expect_error(lambda: c.create_user(m.CreateUserRequest(
        instance_id=iid, user_name=f"sms_{sfx}", source="Local", two_factor_status="Enable",
        two_factor_methods='["sms"]')), "OperationNotSupported")
    listed = check(c.list_users(m.ListUsersRequest(instance_id=iid, user_name=f"sms_{sfx}")),
                   m.ListUsersResponseBody)
    assert listed.total_count == 0, "a user refused for sms was created"
    expect_error(lambda: c.modify_user(m.ModifyUserRequest(
        instance_id=iid, user_id=uid, two_factor_methods='["email"]')), "OperationNotSupported")

    check(c.modify_user(m.ModifyUserRequest(instance_id=iid, user_id=uid,
                                            two_factor_status="Global")),
          m.ModifyUserResponseBody)
    user = check(c.get_user(m.GetUserRequest(instance_id=iid, user_id=uid)),
                 m.GetUserResponseBody).user
    assert user.two_factor_status == "Global", user.to_map()
    assert user.two_factor_methods == ["totp"], user.to_map()

    with open(os.environ["PORTUNUS_2FA_OUT"], "w") as f:
        json.dump({"UserId": uid, "UserName": name}, f)
    print("sdk_two_factor: OK")


if __name__ == "__main__":
    main()
