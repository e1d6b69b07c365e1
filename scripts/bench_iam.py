"""How to read a stack's roles in an account with many: the benchmark behind `scripts/bench iam`.

paystack reads a stack's roles whole: trust, boundary, tags, every inline policy and every
attached managed policy, so that a policy added by hand is seen. There are two ways:

  per role   ListRoles under the stack's path, then GetRole, ListRolePolicies,
             ListAttachedRolePolicies and GetRolePolicy for each role (4 requests a role);
  account    GetAccountAuthorizationDetails (Filter=Role, MaxItems=1000): every role of the
             account with all of the above, a thousand roles a page, kept by path.

This fills the emulator with `--roles` other roles (each with a trust and a 1 KB inline
policy, as a landing zone's roles have), adds a stack of `--stack-roles` roles under
`/paystack/bench/`, and reads the stack both ways, counting requests, response bytes and
wall time. The emulator answers GetAccountAuthorizationDetails in one page whatever MaxItems
says; AWS pages it, so the page count AWS would take is printed beside it.
"""

import argparse
import json
import math
import time

import boto3

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
)


def policy(i: int) -> str:
    """An inline policy of about 1 KB."""
    resources = [f"arn:aws:s3:::bucket-{i}-{n}/*" for n in range(12)]
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": resources}]}
    )


class Counted:
    """An IAM client that counts its requests and the bytes of their answers."""

    def __init__(self) -> None:
        self.client = boto3.client("iam")
        self.requests = 0
        self.bytes = 0
        self.client.meta.events.register("after-call.iam", self._count)

    def _count(self, http_response, **_) -> None:
        self.requests += 1
        self.bytes += len(http_response.content)


def per_role(path: str) -> tuple[Counted, int, float]:
    c, started = Counted(), time.perf_counter()
    names = [r["RoleName"] for p in c.client.get_paginator("list_roles").paginate(PathPrefix=path) for r in p["Roles"]]
    for name in names:
        c.client.get_role(RoleName=name)
        inline = [n for p in c.client.get_paginator("list_role_policies").paginate(RoleName=name) for n in p["PolicyNames"]]
        for p in c.client.get_paginator("list_attached_role_policies").paginate(RoleName=name):
            pass
        for n in inline:
            c.client.get_role_policy(RoleName=name, PolicyName=n)
    return c, len(names), time.perf_counter() - started


def account(path: str) -> tuple[Counted, int, float]:
    c, started = Counted(), time.perf_counter()
    pages = c.client.get_paginator("get_account_authorization_details").paginate(
        Filter=["Role"], PaginationConfig={"PageSize": 1000}
    )
    found = sum(1 for p in pages for r in p["RoleDetailList"] if r["Path"].startswith(path))
    return c, found, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--roles", default="0,1000,5000", help="other roles in the account, cumulative")
    parser.add_argument("--stack-roles", type=int, default=10, help="the stack's roles (prod has 10)")
    args = parser.parse_args()
    iam = boto3.client("iam")
    path = "/paystack/bench/"
    for i in range(args.stack_roles):
        name = f"bench-role-{i}"
        iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=TRUST, Tags=[{"Key": "paystack:stack", "Value": "bench"}])
        iam.put_role_policy(RoleName=name, PolicyName="paystack", PolicyDocument=policy(i))
    print(f"Reading a stack's {args.stack_roles} roles whole, in an account with other roles\n")
    print(f"{'other roles':>11}  {'way':<8} {'requests':>8} {'on AWS':>7} {'KB':>8} {'emulator s':>10}")
    made = 0
    for others in (int(n) for n in args.roles.split(",")):
        for i in range(made, others):
            name = f"other-{i}"
            iam.create_role(RoleName=name, Path="/landing-zone/", AssumeRolePolicyDocument=TRUST)
            iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=policy(i))
        made = max(made, others)
        for way, read in (("per role", per_role), ("account", account)):
            c, found, wall = read(path)
            assert found == args.stack_roles, f"{way} found {found} roles"
            on_aws = c.requests if way == "per role" else math.ceil((others + args.stack_roles) / 1000)
            print(f"{others:>11}  {way:<8} {c.requests:>8} {on_aws:>7} {c.bytes / 1024:>8.0f} {wall:>10.2f}", flush=True)


if __name__ == "__main__":
    main()
