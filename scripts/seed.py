"""Creates, in the AWS emulator, the shared resources the platform looks up and never creates:
the Route 53 hosted zone and the ACM certificate for its domain, and the Lambda function that
rotates production's database password; in the caller's account and in each of the accounts
the tests give their environments. Idempotent: what exists is left alone.

Runs with the project virtualenv's Python (boto3 comes with the emulator) against
AWS_ENDPOINT_URL. Emulator only: it also tells the emulator to run Lambda functions without
Docker, which real AWS has no notion of.
"""

import datetime
import io
import json
import os
import urllib.request
import zipfile

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DOMAIN = os.environ.get("PAYSTACK_DOMAIN", "payments.example.com")


def hosted_zone(route53):
    for zone in route53.list_hosted_zones_by_name(DNSName=DOMAIN)["HostedZones"]:
        if zone["Name"].rstrip(".") == DOMAIN:
            return zone["Id"], False
    zone = route53.create_hosted_zone(Name=DOMAIN, CallerReference=f"paystack-seed-{DOMAIN}")
    return zone["HostedZone"]["Id"], True


def certificate(acm):
    for cert in acm.list_certificates()["CertificateSummaryList"]:
        if cert["DomainName"] == f"*.{DOMAIN}":
            return cert["CertificateArn"], False
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"*.{DOMAIN}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(f"*.{DOMAIN}"), x509.DNSName(DOMAIN)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    arn = acm.import_certificate(
        Certificate=cert.public_bytes(serialization.Encoding.PEM),
        PrivateKey=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        Tags=[{"Key": "ManagedBy", "Value": "seed"}],
    )["CertificateArn"]
    return arn, True


ROTATION_FUNCTION = "paystack-rotation-postgresql"


def rotation_function(iam, lam):
    """A stand-in for AWS's single-user PostgreSQL rotation function, under the name
    config/prod.toml refers to. Secrets Manager invokes it to test rotation when rotation is
    switched on; the emulator answers that call without running the code."""
    try:
        return lam.get_function(FunctionName=ROTATION_FUNCTION)["Configuration"]["FunctionArn"], False
    except lam.exceptions.ResourceNotFoundException:
        pass
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    try:
        role = iam.get_role(RoleName=ROTATION_FUNCTION)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName=ROTATION_FUNCTION, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("rotation.py", "def handler(event, context):\n    return None\n")
    arn = lam.create_function(
        FunctionName=ROTATION_FUNCTION,
        Runtime="python3.12",
        Role=role,
        Handler="rotation.handler",
        Code={"ZipFile": code.getvalue()},
    )["FunctionArn"]
    return arn, True


def run_lambda_without_docker():
    """The emulator runs Lambda functions in Docker by default; there is none here."""
    request = urllib.request.Request(
        os.environ["AWS_ENDPOINT_URL"].rstrip("/") + "/moto-api/config",
        data=json.dumps({"lambda": {"use_docker": False}}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request).read()


# The accounts the integration tests give their environments (`[account]`), as in
# docs/configuration.md: each gets its own zone, certificate and rotation function, which the
# platform looks up in the environment's own account.
TEST_ACCOUNTS = ("111111111111", "222222222222", "333333333333")


def in_account(account: str) -> boto3.Session:
    """A session acting in `account`: the emulator puts credentials from AssumeRole there."""
    role = f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole"
    creds = boto3.client("sts").assume_role(RoleArn=role, RoleSessionName="paystack-seed")["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
    )


def seed(session: boto3.Session, account: str) -> None:
    zone_id, made_zone = hosted_zone(session.client("route53"))
    cert_arn, made_cert = certificate(session.client("acm"))
    function_arn, made_function = rotation_function(session.client("iam"), session.client("lambda"))
    print(f"{account}: hosted zone {DOMAIN}: {zone_id} ({'created' if made_zone else 'exists'})")
    print(f"{account}: certificate *.{DOMAIN}: {cert_arn} ({'created' if made_cert else 'exists'})")
    print(f"{account}: rotation function: {function_arn} ({'created' if made_function else 'exists'})")


def main():
    run_lambda_without_docker()
    seed(boto3.Session(), "the caller's account")
    for account in TEST_ACCOUNTS:
        seed(in_account(account), account)


if __name__ == "__main__":
    main()
