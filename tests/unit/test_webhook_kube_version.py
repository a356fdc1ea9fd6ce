"""Which release ``mnp webhook`` answers as: the flag, the API server's /version, or the newest."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mnp.validation import ValidationRules
from webhook.kube_version import validation_rules


def test_the_flag_wins() -> None:
    assert validation_rules("v1.35.4", None, from_cluster=True) == ValidationRules(35)


def test_a_bad_flag_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"'1\.x' is not a Kubernetes version"):
        validation_rules("1.x", None, from_cluster=False)


def test_snapshot_mode_uses_the_newest_supported_release() -> None:
    assert validation_rules(None, None, from_cluster=False) == ValidationRules(37)


def test_an_unreachable_server_falls_back_to_the_newest_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    with caplog.at_level(logging.WARNING, logger="mnp.webhook"):
        assert validation_rules(None, kubeconfig, from_cluster=True) == ValidationRules(37)
    assert "cannot read the API server's version" in caplog.text
    assert "give --kube-version to choose" in caplog.text
