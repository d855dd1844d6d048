"""A network list in the environment is checked when the settings are read, naming the variable."""
from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from config import env


def test_networks_and_single_addresses_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METRICS_ALLOWED_NETWORKS", "10.0.0.0/8, 192.168.1.7 ,fd00::/8")
    assert env.env_networks("METRICS_ALLOWED_NETWORKS") == ["10.0.0.0/8", "192.168.1.7", "fd00::/8"]


def test_a_typo_stops_start_up_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METRICS_ALLOWED_NETWORKS", "10.0.0.0/8,10.0.0/33")
    with pytest.raises(ImproperlyConfigured, match=r"METRICS_ALLOWED_NETWORKS: '10.0.0/33' is not a network"):
        env.env_networks("METRICS_ALLOWED_NETWORKS")
