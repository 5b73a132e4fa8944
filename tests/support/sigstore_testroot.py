"""A private Sigstore trust root, and PEP 740 attestations signed against it, offline.

Real Sigstore signing needs Fulcio, Rekor and an OIDC token over the network. This builds the
same artefacts locally so that stockade's verification runs unchanged:

- a "Fulcio" root CA (P-384), a CT log key and a Rekor key (P-256), written as a
  ``trustedroot+json`` file (``TestSigstore.trusted_root``);
- per attestation: a Fulcio-style leaf certificate for a GitHub Actions identity (URI SAN, the
  GitHub OIDC claim extensions, an embedded precertificate SCT signed by the CT key), a DSSE
  envelope over an in-toto statement for the dist file, and a Rekor ``dsse/0.0.1`` entry with its
  inclusion promise (SET), inclusion proof (a tree of one) and signed checkpoint.

The result is the PEP 740 attestation object twine and uv upload (``<dist>.publish.attestation``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["GITHUB_ISSUER", "PUBLISH_V1", "TestSigstore"]

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
PUBLISH_V1 = "https://docs.pypi.org/attestations/publish/v1"
_DSSE_TYPE = "application/vnd.in-toto+json"
_SCT_OID = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
_FULCIO = "1.3.6.1.4.1.57264.1."
_REKOR_NAME = "rekor.stockade.test"


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der_utf8(text: str) -> bytes:
    raw = text.encode()
    return b"\x0c" + _der_length(len(raw)) + raw


def _der_octets(raw: bytes) -> bytes:
    return b"\x04" + _der_length(len(raw)) + raw


def _spki(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _key_id(key: ec.EllipticCurvePublicKey) -> bytes:
    # RFC 6962: the sha256 of the DER SubjectPublicKeyInfo.
    return hashlib.sha256(_spki(key)).digest()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _sct_list(log_id: bytes, timestamp_ms: int, signature: bytes) -> bytes:
    """An RFC 6962 SignedCertificateTimestampList holding one v1 SCT (ECDSA/SHA-256)."""
    sct = (
        b"\x00"
        + log_id
        + struct.pack("!QH", timestamp_ms, 0)
        + b"\x04\x03"
        + struct.pack("!H", len(signature))
        + signature
    )
    serialized = struct.pack("!H", len(sct)) + sct
    return _der_octets(struct.pack("!H", len(serialized)) + serialized)


def _precert_signed_data(issuer_key_id: bytes, tbs: bytes, timestamp_ms: int) -> bytes:
    """RFC 6962 ``digitally-signed`` struct of a precert entry: what the CT log signs."""
    length = struct.pack("!I", len(tbs))[1:]  # a u24
    entry = issuer_key_id + length + tbs
    return struct.pack("!BBQH", 0, 0, timestamp_ms, 1) + entry + struct.pack("!H", 0)


@dataclass
class TestSigstore:
    """A private Sigstore instance: keys, a trusted_root.json, and a signer of attestations."""

    __test__ = False  # not a pytest test class

    trusted_root: Path
    ca_key: ec.EllipticCurvePrivateKey
    ca_cert: x509.Certificate
    ct_key: ec.EllipticCurvePrivateKey
    rekor_key: ec.EllipticCurvePrivateKey
    _serial: int = field(default=1000)

    @classmethod
    def create(cls, directory: Path) -> TestSigstore:
        """Generate the keys and write ``directory/trusted_root.json``."""
        directory.mkdir(parents=True, exist_ok=True)
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        ca_key = ec.generate_private_key(ec.SECP384R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "stockade.test"),
                x509.NameAttribute(NameOID.COMMON_NAME, "stockade test fulcio"),
            ]
        )
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
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
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA384())
        )
        ct_key = ec.generate_private_key(ec.SECP256R1())
        rekor_key = ec.generate_private_key(ec.SECP256R1())
        start = (now - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

        def log(url: str, key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
            return {
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": _b64(_spki(key.public_key())),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": start},
                },
                "logId": {"keyId": _b64(_key_id(key.public_key()))},
            }

        root = {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [log(f"https://{_REKOR_NAME}", rekor_key)],
            "certificateAuthorities": [
                {
                    "subject": {"organization": "stockade.test", "commonName": "fulcio"},
                    "uri": "https://fulcio.stockade.test",
                    "certChain": {
                        "certificates": [
                            {"rawBytes": _b64(ca_cert.public_bytes(serialization.Encoding.DER))}
                        ]
                    },
                    "validFor": {"start": start},
                }
            ],
            "ctlogs": [log("https://ctfe.stockade.test", ct_key)],
            "timestampAuthorities": [],
        }
        path = directory / "trusted_root.json"
        path.write_text(json.dumps(root, indent=2))
        return cls(path, ca_key, ca_cert, ct_key, rekor_key)

    # -- the leaf certificate ----------------------------------------------------------------

    def _leaf(
        self,
        key: ec.EllipticCurvePrivateKey,
        *,
        repository: str,
        workflow: str,
        ref: str,
        sha: str,
        issuer: str,
        now: dt.datetime,
    ) -> x509.Certificate:
        self._serial += 1
        workflow_uri = f"https://github.com/{repository}/.github/workflows/{workflow}@{ref}"
        claims = {
            "8": issuer,
            "9": workflow_uri,
            "10": sha,
            "11": "github-hosted",
            "12": f"https://github.com/{repository}",
            "13": sha,
            "14": ref,
            "18": workflow_uri,
            "19": sha,
            "20": "push",
        }

        def build(sct: bytes) -> x509.Certificate:
            builder = (
                x509.CertificateBuilder()
                .subject_name(x509.Name([]))
                .issuer_name(self.ca_cert.subject)
                .public_key(key.public_key())
                .serial_number(self._serial)
                .not_valid_before(now - dt.timedelta(seconds=5))
                .not_valid_after(now + dt.timedelta(minutes=10))
                .add_extension(
                    x509.KeyUsage(
                        digital_signature=True,
                        content_commitment=False,
                        key_encipherment=False,
                        data_encipherment=False,
                        key_agreement=False,
                        key_cert_sign=False,
                        crl_sign=False,
                        encipher_only=False,
                        decipher_only=False,
                    ),
                    critical=True,
                )
                .add_extension(
                    x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
                )
                .add_extension(
                    x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
                )
                .add_extension(
                    x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()),
                    critical=False,
                )
                .add_extension(
                    x509.SubjectAlternativeName([x509.UniformResourceIdentifier(workflow_uri)]),
                    critical=True,
                )
            )
            for arc, value in claims.items():
                oid = x509.ObjectIdentifier(_FULCIO + arc)
                builder = builder.add_extension(
                    x509.UnrecognizedExtension(oid, _der_utf8(value)), critical=False
                )
            builder = builder.add_extension(
                x509.UnrecognizedExtension(_SCT_OID, sct), critical=False
            )
            return builder.sign(self.ca_key, hashes.SHA384())

        # Two passes, as a CT log does: the SCT signs the certificate without its SCT list.
        ct_id = _key_id(self.ct_key.public_key())
        timestamp_ms = int(now.timestamp() * 1000)
        draft = build(_sct_list(ct_id, timestamp_ms, b"\x00" * 72))
        signed = _precert_signed_data(
            _key_id(self.ca_key.public_key()), draft.tbs_precertificate_bytes, timestamp_ms
        )
        signature = self.ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return build(_sct_list(ct_id, timestamp_ms, signature))

    # -- the attestation ---------------------------------------------------------------------

    def attest(
        self,
        filename: str,
        sha256: str,
        *,
        repository: str,
        workflow: str,
        ref: str = "refs/heads/main",
        predicate_type: str = PUBLISH_V1,
        issuer: str = GITHUB_ISSUER,
    ) -> dict[str, Any]:
        """A PEP 740 attestation object for ``filename`` (with this sha256), signed by the
        GitHub Actions workflow ``repository``/``workflow`` — as ``<dist>.publish.attestation``."""
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        key = ec.generate_private_key(ec.SECP256R1())
        commit = hashlib.sha1(f"{repository}@{ref}".encode()).hexdigest()  # noqa: S324 - a fake git sha
        cert = self._leaf(
            key,
            repository=repository,
            workflow=workflow,
            ref=ref,
            sha=commit,
            issuer=issuer,
            now=now,
        )
        statement = json.dumps(
            {
                "_type": "https://in-toto.io/Statement/v1",
                "subject": [{"name": filename, "digest": {"sha256": sha256}}],
                "predicateType": predicate_type,
                "predicate": None,
            },
            separators=(",", ":"),
        ).encode()
        kind = _DSSE_TYPE.encode()
        pae = b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(statement), statement)
        signature = key.sign(pae, ec.ECDSA(hashes.SHA256()))
        envelope: dict[str, Any] = {
            "payload": _b64(statement),
            "payloadType": _DSSE_TYPE,
            "signatures": [{"sig": _b64(signature)}],
        }
        body = rfc8785.dumps(
            {
                "apiVersion": "0.0.1",
                "kind": "dsse",
                "spec": {
                    "envelopeHash": {
                        "algorithm": "sha256",
                        "value": hashlib.sha256(rfc8785.dumps(envelope)).hexdigest(),
                    },
                    "payloadHash": {
                        "algorithm": "sha256",
                        "value": hashlib.sha256(statement).hexdigest(),
                    },
                    "signatures": [
                        {
                            "signature": _b64(signature),
                            "verifier": _b64(cert.public_bytes(serialization.Encoding.PEM)),
                        }
                    ],
                },
            }
        )
        return {
            "version": 1,
            "verification_material": {
                "certificate": _b64(cert.public_bytes(serialization.Encoding.DER)),
                "transparency_entries": [self._log_entry(body, int(now.timestamp()))],
            },
            "envelope": {"statement": _b64(statement), "signature": _b64(signature)},
        }

    def _log_entry(self, body: bytes, integrated_time: int) -> dict[str, Any]:
        """A Rekor v1 entry at index 0 of a tree of one: SET, inclusion proof, checkpoint."""
        log_id = _key_id(self.rekor_key.public_key())
        sign = ec.ECDSA(hashes.SHA256())
        promise = rfc8785.dumps(
            {
                "body": _b64(body),
                "integratedTime": integrated_time,
                "logID": log_id.hex(),
                "logIndex": 0,
            }
        )
        root_hash = hashlib.sha256(b"\x00" + body).digest()  # RFC 6962 leaf hash
        note = f"{_REKOR_NAME} - 1\n1\n{_b64(root_hash)}\n"
        note_sig = self.rekor_key.sign(note.encode(), sign)
        # The signer's name must hold no spaces: the note parser splits on them.
        checkpoint = f"{note}\n\u2014 {_REKOR_NAME} {_b64(log_id[:4] + note_sig)}\n"
        return {
            "logIndex": "0",
            "logId": {"keyId": _b64(log_id)},
            "kindVersion": {"kind": "dsse", "version": "0.0.1"},
            "integratedTime": str(integrated_time),
            "inclusionPromise": {"signedEntryTimestamp": _b64(self.rekor_key.sign(promise, sign))},
            "inclusionProof": {
                "logIndex": "0",
                "rootHash": _b64(root_hash),
                "treeSize": "1",
                "hashes": [],
                "checkpoint": {"envelope": checkpoint},
            },
            "canonicalizedBody": _b64(body),
        }
