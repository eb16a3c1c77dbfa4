"""The roles configuration: an unknown role name is refused with the roles there are."""

from __future__ import annotations

import pytest

from hanport.config import ConfigError, load
from hanport.workflows.definition import Role


def test_known_roles_are_read() -> None:
    s = load({"HANPORT_ROLES": "anne=caseworker,bjorn=supervisor"})
    assert s.roles == {"anne": Role.CASEWORKER, "bjorn": Role.SUPERVISOR}


def test_an_unknown_role_names_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as err:
        load({"HANPORT_ROLES": "nattjobb=batch"})
    assert str(err.value) == (
        "roles: nattjobb has unknown role 'batch' (roles: caseworker, supervisor, auditor, privacy, system)"
    )
