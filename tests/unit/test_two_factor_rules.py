"""The 2FA requirement's decision: which rule applies to which project at which level, and the
words of the refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockade.config import load_settings, replace
from stockade.index.models import Project
from stockade.index.policy import (
    SETUP_PATH,
    Action,
    Rule,
    TwoFactorPolicy,
    applicable_rule,
    refusal_message,
    rule_summary,
)


def project(*, critical: bool = False, require_2fa: bool = False) -> Project:
    return Project(name="Demo", normalized_name="demo", critical=critical, require_2fa=require_2fa)


PLAIN, CRITICAL, OPT_IN = project(), project(critical=True), project(require_2fa=True)
BOTH = project(critical=True, require_2fa=True)


@pytest.mark.parametrize(
    ("level", "target", "expected"),
    [
        # none: only the owners' opt-in.
        ("none", PLAIN, None),
        ("none", CRITICAL, None),
        ("none", OPT_IN, Rule.PROJECT),
        ("none", BOTH, Rule.PROJECT),
        ("none", None, None),
        # critical: critical projects, and the opt-in.
        ("critical", PLAIN, None),
        ("critical", CRITICAL, Rule.CRITICAL),
        ("critical", OPT_IN, Rule.PROJECT),
        ("critical", BOTH, Rule.CRITICAL),
        ("critical", None, None),
        # all: everything, also a project an upload would create.
        ("all", PLAIN, Rule.ALL),
        ("all", CRITICAL, Rule.ALL),
        ("all", OPT_IN, Rule.ALL),
        ("all", None, Rule.ALL),
    ],
)
def test_which_rule_applies(level: str, target: Project | None, expected: Rule | None) -> None:
    assert applicable_rule(level, target) == expected


@pytest.mark.parametrize(
    ("rule", "action", "words"),
    [
        (
            Rule.PROJECT,
            "upload",
            "to upload to project 'Demo': the owners of project 'Demo' "
            "require 2FA for all maintainers",
        ),
        (Rule.CRITICAL, "manage", "to manage project 'Demo': 'Demo' is a critical project"),
        (
            Rule.ALL,
            "join",
            "to become a collaborator on project 'Demo': this index requires "
            "two-factor authentication for every upload",
        ),
    ],
)
def test_refusal_names_user_action_rule_and_setup_page(
    rule: Rule, action: Action, words: str
) -> None:
    message = refusal_message(
        rule,
        username="bob",
        project="Demo",
        action=action,
        setup_url="https://pypi.example.org/manage/account/two-factor/",
    )
    assert message.startswith("User 'bob' must enable two-factor authentication ")
    assert words in message
    assert message.endswith(". Set it up at https://pypi.example.org/manage/account/two-factor/")
    assert "\n" not in message


def test_policy_from_settings_prefers_the_request_base_url(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={})
    assert settings.two_factor_required == "critical"  # the default: critical plus opt-in
    assert TwoFactorPolicy.of(settings).setup_url == SETUP_PATH
    assert TwoFactorPolicy.of(settings, "http://testserver").setup_url == (
        "http://testserver/manage/account/two-factor/"
    )
    configured = replace(settings, base_url="https://pypi.example.org", two_factor_required="all")
    policy = TwoFactorPolicy.of(configured)
    assert (policy.level, policy.setup_url) == (
        "all",
        "https://pypi.example.org/manage/account/two-factor/",
    )


def test_summary_says_what_the_level_means_for_the_project() -> None:
    assert rule_summary("critical", PLAIN) == [
        "Nothing requires two-factor authentication for this project."
    ]
    (line,) = rule_summary("critical", CRITICAL)
    assert "critical: every maintainer must have two-factor authentication" in line
    (line,) = rule_summary("none", CRITICAL)
    assert "does not require 2FA" in line
    lines = rule_summary("all", BOTH)
    assert len(lines) == 3
    assert "every upload and every project management action" in lines[0]
    assert "owners require 2FA" in lines[2]
