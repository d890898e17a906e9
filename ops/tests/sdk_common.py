"""What the SDK scripts of this directory share: a client of the official SDK pointed at a node
(PORTUNUS_API_ENDPOINT, PORTUNUS_AK_ID, PORTUNUS_AK_SECRET), a typed answer's body, and an
expected refusal."""
import os

from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_yundun_bastionhost20191209.client import Client


# A throwaway ed25519 key generated for these tests only.
TEST_SHARED_KEY = """-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACCy/vpB32tv/TUNeVKEaC26PT6s9EL/mf066LidraOQIwAAAIgh7TRoIe00
aAAAAAtzc2gtZWQyNTUxOQAAACCy/vpB32tv/TUNeVKEaC26PT6s9EL/mf066LidraOQIw
AAAECHkhDdtEwyVAN5aIOotFZKgLq7kR/ClYxro5GnVgqJirL++kHfa2/9NQ15UoRoLbo9
Pqz0Qv+Z/TrouJ2to5AjAAAABXNtb2tl
-----END OPENSSH PRIVATE KEY-----"""


def client():
    cfg = open_api_models.Config(
        access_key_id=os.environ["PORTUNUS_AK_ID"],
        access_key_secret=os.environ["PORTUNUS_AK_SECRET"],
        endpoint=os.environ["PORTUNUS_API_ENDPOINT"],
        protocol="http",
        region_id="portunus",
    )
    return Client(cfg)


def extension(c, action, query):
    """A Portunus extension (an action, or parameters, the SDK's models do not carry), sent
    with the SDK's generic call, signed as every call; the answer's body."""
    from alibabacloud_tea_openapi import utils_models as api
    from alibabacloud_tea_openapi.utils import Utils
    from darabonba.runtime import RuntimeOptions
    params = api.Params(action=action, version="2019-12-09", protocol="HTTP",
                        pathname="/", method="POST", auth_type="AK", style="RPC",
                        body_type="json", req_body_type="formData")
    answer = c.call_api(params, api.OpenApiRequest(query=Utils.query(query)), RuntimeOptions())
    return answer["body"]


def body(resp, cls):
    assert resp.status_code == 200, resp.status_code
    assert isinstance(resp.body, cls), type(resp.body)
    assert resp.body.request_id, "missing RequestId"
    return resp.body


def expect_error(fn, code, words=()):
    try:
        fn()
    except ClientException as e:
        assert e.code == code, f"expected {code}, got {e.code}: {e.message}"
        for w in words:
            assert w in e.message, f"{w!r} not in {e.message!r}"
        return e.message
    raise AssertionError(f"expected {code}, the call succeeded")
