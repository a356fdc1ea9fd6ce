"""Test certificates: the lab's own CA (``enforcer.lab.pki``), minted with ``cryptography``."""

from enforcer.lab.pki import CertificateAuthority, Issued

__all__ = ["CertificateAuthority", "Issued"]
