"""Test certificates: the lab's own CA (``mnp_lab.pki``), minted with ``cryptography``."""

from mnp_lab.pki import CertificateAuthority, Issued

__all__ = ["CertificateAuthority", "Issued"]
