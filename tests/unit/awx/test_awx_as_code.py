"""The AWX configuration in playbooks/awx_configure.yml: surveys that AWX accepts, job templates that
point at playbooks and surveys that exist, a credential type whose secrets are marked secret."""
from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from awx_survey_rules import survey_errors  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
AWX_DIR = REPO / "playbooks" / "awx"
SURVEYS = sorted((AWX_DIR / "surveys").glob("*.json"))


def _play_vars() -> dict:
    play = yaml.safe_load((REPO / "playbooks" / "awx_configure.yml").read_text())[0]
    return play["vars"]


@pytest.mark.parametrize("path", SURVEYS, ids=lambda p: p.stem)
def test_every_survey_passes_awx_rules(path):
    assert survey_errors(json.loads(path.read_text())) == []


def test_there_is_a_survey_per_job_template():
    templates = _play_vars()["inferno_awx_job_templates"]
    assert {t["survey"] for t in templates} == {p.stem for p in SURVEYS}
    for template in templates:
        assert (REPO / template["playbook"]).is_file(), template


def test_surveys_ask_for_limit_runners_and_models():
    spec = json.loads((AWX_DIR / "surveys" / "site.json").read_text())["spec"]
    variables = {q["variable"] for q in spec}
    assert {"inferno_limit", "github_runner_count", "ollama_models"} <= variables


@pytest.mark.parametrize(
    "mutation, message",
    [
        (lambda s: s["spec"].append(copy.deepcopy(s["spec"][0])), "duplicated"),
        (lambda s: s["spec"][0].pop("required"), "'required' missing"),
        (lambda s: s["spec"][1].update(default="two"), "expected to be integer"),
        (lambda s: s["spec"][3].update(default="b200-192gb"), "Default choice must be answered"),
        (lambda s: s["spec"][3].pop("choices"), "must specify choices"),
        (lambda s: s["spec"][0].update(type="dropdown"), "allowed question types"),
        (lambda s: s.update(spec=[]), "doesn't contain any items"),
    ],
)
def test_the_rules_catch_what_awx_refuses(mutation, message):
    spec = json.loads((AWX_DIR / "surveys" / "site.json").read_text())
    mutation(spec)
    errors = survey_errors(spec)
    assert errors and message in errors[0]


def test_credential_type_marks_every_secret_field_secret():
    inputs = json.loads((AWX_DIR / "credential_type_inputs.json").read_text())
    injectors = json.loads((AWX_DIR / "credential_type_injectors.json").read_text())
    secret_ids = {f["id"] for f in inputs["fields"] if f.get("secret")}
    assert secret_ids == {"github_app_private_key", "github_token"}
    injected = " ".join(injectors["extra_vars"].values())
    for field in inputs["fields"]:
        assert "{{ %s }}" % field["id"] in injected
