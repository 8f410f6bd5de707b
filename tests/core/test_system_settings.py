"""Every `[systems.<name>]` table refuses keys nobody reads, with "did you mean"; the core keys
(url, timeout, rate_limit, rate_burst, max_body_mb, deadline) are one shared model."""

from __future__ import annotations

from pathlib import Path

import pytest

from migo_sync.config import Project, ProjectConfig
from migo_sync.errors import ConfigError, exit_code_for
from migo_sync.registry import get_system, load_object, systems
from migo_sync.settings import CoreSettings
from migo_sync.systems import open_adapter

TYPOS = {"intacct": ("closed_thru", "closed_through"), "workday": ("closed_thru", "closed_through"),
         "adaptive": ("instance_cod", "instance_code"), "zendesk": ("subdomian", "subdomain"),
         "sheets": ("token_ur", "token_url")}
SETTINGS_MODELS = {"intacct": "migo_sync.adapters.intacct.config:IntacctSettings",
                   "workday": "migo_sync.adapters.workday.config:WorkdaySettings",
                   "adaptive": "migo_sync.adapters.adaptive.config:AdaptiveSettings",
                   "zendesk": "migo_sync.adapters.zendesk.config:ZendeskSettings",
                   "sheets": "migo_sync.adapters.sheets.config:SheetsSettings"}


def test_every_system_is_covered() -> None:
    assert set(TYPOS) == set(systems()) == set(SETTINGS_MODELS)


@pytest.mark.parametrize("system", sorted(TYPOS))
def test_a_misspelt_key_is_refused_naming_the_right_one(system: str, tmp_path: Path) -> None:
    typo, meant = TYPOS[system]
    project = Project(root=tmp_path, config=ProjectConfig(systems={system: {typo: "2025-12"}}), environ={})
    with pytest.raises(ConfigError) as info:
        open_adapter(project, system)
    assert str(info.value) == (f"migo-sync.toml: [systems.{system}] unknown key '{typo}' "
                               f"(did you mean '{meant}'?)")
    assert exit_code_for(info.value) == 2


@pytest.mark.parametrize("system", sorted(TYPOS))
def test_the_core_keys_are_one_shared_model(system: str, tmp_path: Path) -> None:
    model = load_object(SETTINGS_MODELS[system])
    assert issubclass(model, CoreSettings)
    assert set(CoreSettings.model_fields) <= set(model.model_fields)
    core = {"url": "http://127.0.0.1:9", "timeout": 5, "rate_limit": 2, "rate_burst": 3, "max_body_mb": 1,
            "deadline": 9}
    extra = {"tenant": "t", "company": "C"} if system == "workday" else {}
    adapter = open_adapter(Project(root=tmp_path, config=ProjectConfig(systems={system: {**core, **extra}}),
                                   environ={}), system)
    assert adapter.context.base_url == "http://127.0.0.1:9"
    assert get_system(system).name == system


def test_a_bad_value_and_an_unknown_key_are_reported_together(tmp_path: Path) -> None:
    project = Project(root=tmp_path, config=ProjectConfig(systems={"intacct": {"timeout": -1, "colour": "x"}}),
                      environ={})
    with pytest.raises(ConfigError) as info:
        open_adapter(project, "intacct")
    message = str(info.value)
    assert message.startswith("migo-sync.toml: [systems.intacct] ")
    assert "timeout: Input should be greater than 0" in message and "unknown key 'colour' (known: " in message


@pytest.mark.parametrize("system", sorted(TYPOS))
def test_a_settings_error_names_the_file_and_the_line(system: str, tmp_path: Path) -> None:
    typo, meant = TYPOS[system]
    (tmp_path / "migo-sync.toml").write_text(f'name = "x"\n\n[systems.{system}]\ntimeout = 5\n{typo} = "2025-12"\n')
    with pytest.raises(ConfigError) as info:
        open_adapter(Project.load(tmp_path), system)
    assert str(info.value) == (f"{tmp_path / 'migo-sync.toml'}:5: systems.{system}.{typo}: unknown key '{typo}' "
                               f"(did you mean '{meant}'?)")
    assert exit_code_for(info.value) == 2
