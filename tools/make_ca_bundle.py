#!/usr/bin/env python3
"""Build firmware/ca/roots.der: the root certificates the Charge HQ endpoint is likely to chain to,
as concatenated DER (the ESP32's mbedTLS build may lack PEM parsing). Taken by name from the
pinned `certifi` (Mozilla's root store). Add your own CA on the device as another DER file and
point chargehq.ca_file at a bundle that includes it (this tool's --add does that).

    python tools/make_ca_bundle.py [--out firmware/ca/roots.der] [--add my-ca.pem]
"""
import argparse
import re
import sys
import warnings

warnings.filterwarnings("ignore", message="Parsed a serial number")

import certifi
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

# Common names of the roots behind the big hosting and CDN providers (Let's Encrypt, AWS,
# Google, Cloudflare/DigiCert, Sectigo): a hosting move by Charge HQ stays covered.
ROOTS = (
    "ISRG Root X1",
    "ISRG Root X2",
    "Amazon Root CA 1",
    "GTS Root R1",
    "GTS Root R4",
    "DigiCert Global Root G2",
    "USERTrust RSA Certification Authority",
)


def load_pems(data):
    return [x509.load_pem_x509_certificate(m) for m in
            re.findall(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", data, re.S)]


def cn(cert):
    attrs = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return attrs[0].value if attrs else cert.subject.rfc4514_string()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="firmware/ca/roots.der")
    ap.add_argument("--add", action="append", default=[], help="extra CA (PEM or DER) to include")
    args = ap.parse_args(argv)
    store = {cn(c): c for c in load_pems(open(certifi.where(), "rb").read())}
    out = []
    for name in ROOTS:
        if name not in store:
            sys.exit("root %r not in certifi %s" % (name, certifi.__version__))
        out.append(store[name])
    for path in args.add:
        raw = open(path, "rb").read()
        out += load_pems(raw) if b"-----BEGIN" in raw else [x509.load_der_x509_certificate(raw)]
    blob = b"".join(c.public_bytes(Encoding.DER) for c in out)
    with open(args.out, "wb") as f:
        f.write(blob)
    for c in out:
        print("  %s (expires %s)" % (cn(c), c.not_valid_after_utc.date()))
    print("%s: %d certificates, %d bytes" % (args.out, len(out), len(blob)))


if __name__ == "__main__":
    main()
