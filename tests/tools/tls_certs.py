#!/usr/bin/env python3
"""Generates the test PKI of the TLS integration tests.

Usage:
    tls_certs.py [--force] OUTDIR

Creates OUTDIR if needed and writes, all PEM (nothing here is ever committed:
every build makes its own):

    ca.pem, ca.key                 "AFR Test Root CA", RSA 2048, sha256WithRSA
    other-ca.pem, other-ca.key     "AFR Other CA", EC P-256 (trusted by nobody)
    server.pem, server.key         by ca, RSA 2048, SAN DNS:localhost IP:127.0.0.1,
                                   serverAuth, valid from now - 1 day for 10 years
    server-ec.pem, server-ec.key   the same with a P-256 key
    server-wronghost.pem/.key      by ca, SAN DNS:wrong.example.com only
    server-expired.pem/.key        by ca, SAN localhost/127.0.0.1, valid
                                   2020-01-01 to 2021-01-01
    server-unknownca.pem/.key      by other-ca, SAN localhost/127.0.0.1
    client.pem, client.key         by ca, CN "afr-test-client", RSA 2048,
                                   clientAuth; key in PKCS#1 form
                                   ("BEGIN RSA PRIVATE KEY", as AWS IoT hands out)
    client-ec.pem, client-ec.key   by ca, P-256; key in SEC1 form
                                   ("BEGIN EC PRIVATE KEY")
    client-otherca.pem/.key        by other-ca, RSA 2048, PKCS#1 key
    v14/aws_clientcredential_keys.h   AFR v1.4 naming (keyCLIENT_CERTIFICATE_PEM,
                                   keyCLIENT_PRIVATE_KEY_PEM as string literal
                                   macros; client.pem / client.key)
    v10/aws_clientcredential_keys.h   AFR v1.0 naming (static const char
                                   clientcredentialCLIENT_*_PEM[]; client-ec.pem
                                   / client-ec.key)
    ca_pem.h                       #define AFR_TEST_CA_PEM "<ca.pem>"
    pkcs11/aws_clientcredential_keys.h  AFR v1.4 naming, the certificate only
                                   (client-ec.pem; the key lives in a PKCS#11
                                   token: keyCLIENT_PRIVATE_KEY_PEM is NULL)

Server and client keys other than those named above are PKCS#8. The private
keys are not encrypted.

Nothing is regenerated while every file is there (then the script does not even
import the `cryptography` package); if any is missing, or with --force, all of
them are made anew (so they always belong to one CA). Several processes may run
this at once on the same OUTDIR: they take turns (a lock file) and every file
is replaced atomically. Prints nothing on success; exit status 1 with a message
on failure.

Needs the Python package `cryptography` (38 or later; scripts/setup.sh installs
it).
"""

import datetime
import fcntl
import os
import sys
import tempfile

CA_FILES = ["ca.pem", "ca.key", "other-ca.pem", "other-ca.key"]
LEAVES = [
    "server",
    "server-ec",
    "server-wronghost",
    "server-expired",
    "server-unknownca",
    "client",
    "client-ec",
    "client-otherca",
]
HEADERS = ["v14/aws_clientcredential_keys.h", "v10/aws_clientcredential_keys.h", "ca_pem.h",
           "pkcs11/aws_clientcredential_keys.h"]


def all_files():
    files = list(CA_FILES)
    for leaf in LEAVES:
        files += [leaf + ".pem", leaf + ".key"]
    return files + HEADERS


def complete(outdir):
    return all(os.path.isfile(os.path.join(outdir, f)) for f in all_files())


# --------------------------------------------------------------------------
# Certificates


def generate():
    """Returns {relative file name: bytes}."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    import ipaddress

    utc = datetime.timezone.utc
    now = datetime.datetime.now(utc).replace(microsecond=0)
    day = datetime.timedelta(days=1)

    def rsa_key():
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def ec_key():
        return ec.generate_private_key(ec.SECP256R1())

    def name(cn):
        return x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "AFR MQTT agent tests"),
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
            ]
        )

    def key_pem(key, form):
        fmt = {
            "pkcs8": serialization.PrivateFormat.PKCS8,
            # TraditionalOpenSSL is PKCS#1 for RSA keys and SEC1 for EC keys.
            "traditional": serialization.PrivateFormat.TraditionalOpenSSL,
        }[form]
        return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())

    def cert_pem(cert):
        return cert.public_bytes(serialization.Encoding.PEM)

    # Both CAs are valid from 2019 on, so that the expired leaf lies within
    # its issuer's validity and is "expired", nothing else.
    ca_from = datetime.datetime(2019, 1, 1, tzinfo=utc)
    ca_until = now + 20 * 365 * day

    def make_ca(key, cn):
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(name(cn))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(ca_from)
            .not_valid_after(ca_until)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )
        return builder.sign(key, hashes.SHA256())

    def make_leaf(key, cn, issuer_cert, issuer_key, sans, eku, valid_from, valid_until):
        is_rsa = isinstance(key, rsa.RSAPrivateKey)
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(issuer_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(valid_from)
            .not_valid_after(valid_until)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=is_rsa,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                critical=False,
            )
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    out = {}

    ca_key = rsa_key()
    ca = make_ca(ca_key, "AFR Test Root CA")
    out["ca.pem"] = cert_pem(ca)
    out["ca.key"] = key_pem(ca_key, "pkcs8")

    other_key = ec_key()
    other = make_ca(other_key, "AFR Other CA")
    out["other-ca.pem"] = cert_pem(other)
    out["other-ca.key"] = key_pem(other_key, "pkcs8")

    local_sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    leaf_from = now - day
    leaf_until = leaf_from + 10 * 365 * day
    server_auth = ExtendedKeyUsageOID.SERVER_AUTH
    client_auth = ExtendedKeyUsageOID.CLIENT_AUTH

    # (file stem, key, CN, issuer, SANs, EKU, from, until, key form)
    specs = [
        ("server", rsa_key(), "localhost", "ca", local_sans, server_auth, leaf_from, leaf_until, "pkcs8"),
        ("server-ec", ec_key(), "localhost", "ca", local_sans, server_auth, leaf_from, leaf_until, "pkcs8"),
        (
            "server-wronghost",
            rsa_key(),
            "wrong.example.com",
            "ca",
            [x509.DNSName("wrong.example.com")],
            server_auth,
            leaf_from,
            leaf_until,
            "pkcs8",
        ),
        (
            "server-expired",
            rsa_key(),
            "localhost",
            "ca",
            local_sans,
            server_auth,
            datetime.datetime(2020, 1, 1, tzinfo=utc),
            datetime.datetime(2021, 1, 1, tzinfo=utc),
            "pkcs8",
        ),
        ("server-unknownca", rsa_key(), "localhost", "other", local_sans, server_auth, leaf_from, leaf_until, "pkcs8"),
        ("client", rsa_key(), "afr-test-client", "ca", None, client_auth, leaf_from, leaf_until, "traditional"),
        ("client-ec", ec_key(), "afr-test-client-ec", "ca", None, client_auth, leaf_from, leaf_until, "traditional"),
        (
            "client-otherca",
            rsa_key(),
            "afr-test-client-otherca",
            "other",
            None,
            client_auth,
            leaf_from,
            leaf_until,
            "traditional",
        ),
    ]
    issuers = {"ca": (ca, ca_key), "other": (other, other_key)}
    for stem, key, cn, issuer, sans, eku, vfrom, vuntil, form in specs:
        icert, ikey = issuers[issuer]
        cert = make_leaf(key, cn, icert, ikey, sans, eku, vfrom, vuntil)
        out[stem + ".pem"] = cert_pem(cert)
        out[stem + ".key"] = key_pem(key, form)

    out["v14/aws_clientcredential_keys.h"] = header_v14(out["client.pem"], out["client.key"])
    out["v10/aws_clientcredential_keys.h"] = header_v10(out["client-ec.pem"], out["client-ec.key"])
    out["ca_pem.h"] = header_ca(out["ca.pem"])
    out["pkcs11/aws_clientcredential_keys.h"] = header_cert_only(out["client-ec.pem"])
    return out


# --------------------------------------------------------------------------
# C headers


def c_literal_lines(pem, indent):
    """PEM text as C string literal lines, one "...\\n" per PEM line."""
    lines = pem.decode("ascii").splitlines()
    return ["%s\"%s\\n\"" % (indent, line) for line in lines]


def c_macro(macro, pem):
    body = c_literal_lines(pem, "    ")
    return "#define %s \\\n%s\n" % (macro, " \\\n".join(body))


GENERATED = "/* Generated by tests/tools/tls_certs.py for the tests: test keys only. */\n"


def header_v14(cert, key):
    return (
        GENERATED
        + "/* AFR v1.4 naming: client.pem / client.key (PKCS#1). */\n"
        + "#ifndef AWS_CLIENT_CREDENTIAL_KEYS_H\n"
        + "#define AWS_CLIENT_CREDENTIAL_KEYS_H\n\n"
        + "#include <stdint.h>\n\n"
        + c_macro("keyCLIENT_CERTIFICATE_PEM", cert)
        + "\n#define keyJITR_DEVICE_CERTIFICATE_AUTHORITY_PEM NULL\n\n"
        + c_macro("keyCLIENT_PRIVATE_KEY_PEM", key)
        + "\n/* Defined by the application (in AFR: aws_dev_mode_key_provisioning.c). */\n"
        + "extern const char clientcredentialCLIENT_CERTIFICATE_PEM[];\n"
        + "extern const char* clientcredentialJITR_DEVICE_CERTIFICATE_AUTHORITY_PEM;\n"
        + "extern const char clientcredentialCLIENT_PRIVATE_KEY_PEM[];\n"
        + "extern const uint32_t clientcredentialCLIENT_CERTIFICATE_LENGTH;\n"
        + "extern const uint32_t clientcredentialCLIENT_PRIVATE_KEY_LENGTH;\n\n"
        + "#endif /* AWS_CLIENT_CREDENTIAL_KEYS_H */\n"
    ).encode("ascii")


def header_cert_only(cert):
    return (
        GENERATED
        + "/* AFR v1.4 naming, certificate only: the key is in a PKCS#11 token. */\n"
        + "#ifndef AWS_CLIENT_CREDENTIAL_KEYS_H\n"
        + "#define AWS_CLIENT_CREDENTIAL_KEYS_H\n\n"
        + c_macro("keyCLIENT_CERTIFICATE_PEM", cert)
        + "\n#define keyCLIENT_PRIVATE_KEY_PEM NULL\n\n"
        + "#endif /* AWS_CLIENT_CREDENTIAL_KEYS_H */\n"
    ).encode("ascii")


def c_array(name, pem):
    body = c_literal_lines(pem, "    ")
    return "static const char %s[] =\n%s;\n" % (name, "\n".join(body))


def header_v10(cert, key):
    return (
        GENERATED
        + "/* AFR v1.0 naming: client-ec.pem / client-ec.key (SEC1). */\n"
        + "#ifndef AWS_CLIENT_CREDENTIAL_KEYS_H\n"
        + "#define AWS_CLIENT_CREDENTIAL_KEYS_H\n\n"
        + c_array("clientcredentialCLIENT_CERTIFICATE_PEM", cert)
        + "\n"
        + c_array("clientcredentialCLIENT_PRIVATE_KEY_PEM", key)
        + "\n#endif /* AWS_CLIENT_CREDENTIAL_KEYS_H */\n"
    ).encode("ascii")


def header_ca(ca):
    return (
        GENERATED
        + "/* ca.pem, the root CA of the test brokers, e.g. for pcCertificate. */\n"
        + "#ifndef AFR_TEST_CA_PEM_H\n"
        + "#define AFR_TEST_CA_PEM_H\n\n"
        + c_macro("AFR_TEST_CA_PEM", ca)
        + "\n#endif /* AFR_TEST_CA_PEM_H */\n"
    ).encode("ascii")


# --------------------------------------------------------------------------


def write_atomic(path, data, private):
    d = os.path.dirname(path)
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o600 if private else 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def ensure(outdir, force=False):
    outdir = os.path.abspath(outdir)
    if not force and complete(outdir):
        return
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # Another process may have made them while we waited.
        if not force and complete(outdir):
            return
        files = generate()
        # Keys first and certificates after, each set replaced atomically: a
        # reader that finds every file (see complete()) finds matching ones
        # unless it reads in the middle of a --force.
        for rel in sorted(files, key=lambda r: (not r.endswith(".key"), r)):
            write_atomic(os.path.join(outdir, rel), files[rel], rel.endswith(".key"))


def main(argv):
    args = [a for a in argv if a != "--force"]
    force = len(args) != len(argv)
    if len(args) != 1 or args[0].startswith("-"):
        sys.stderr.write(__doc__)
        return 2
    try:
        ensure(args[0], force)
    except ImportError as e:
        sys.stderr.write(
            "tls_certs.py: the Python package 'cryptography' is missing for %s (%s); "
            "run scripts/setup.sh or: %s -m pip install cryptography\n" % (sys.executable, e, sys.executable)
        )
        return 1
    except Exception as e:
        sys.stderr.write("tls_certs.py: cannot generate the test PKI in %s: %s\n" % (args[0], e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
