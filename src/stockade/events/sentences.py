"""Events in sentences: what people read on their security history pages, in the admin's audit
log and in ``stockade events list``, instead of the stored tags.

A phrase says what happened; ``{name}`` takes that detail of the event, and a ``[...]`` part is
left out when a detail it needs is missing. The actor (who did it) goes in front; a project
the event concerns is shown beside it, so phrases do not repeat it. A tag without a phrase (a
newer one, or one from another stockade) still reads as words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["PHRASES", "sentence"]

PHRASES: dict[str, str] = {
    # Accounts
    "account:create": "created the account",
    "account:disable": "disabled the account[ of {username}]",
    "account:enable": "enabled the account[ of {username}]",
    "account:login:success": "logged in[ with {method}]",
    "account:login:failure": "failed to log in[ ({reason})]",
    "account:login:confirmation-sent": "was sent a link to confirm a login from a new address",
    "account:login:confirm:failure": "failed to confirm a login[ ({reason})]",
    "account:password:change": "changed the password",
    "account:password:reset:request": "asked for a password reset[ for {email}]",
    "account:password:reset:refused": "was refused a password reset[ ({reason})]",
    "account:password:reset": "reset the password[ through {email}]",
    "account:email:add": "added an address[ {email}]",
    "account:email:remove": "removed an address[ {email}]",
    "account:email:verified": "verified an address[ {email}]",
    "account:email:unverified": "had an address marked unverified[ ({email})][ because {reason}]",
    "account:email:primary:change": "changed the primary address[ (was {old_primary})]",
    "account:two_factor:add": "added two-factor authentication[ ({method})]",
    "account:two_factor:remove": "removed two-factor authentication[ ({method})]",
    "account:two_factor:remove:failure": "failed to remove two-factor authentication",
    "account:recovery_codes:generate": "generated[ {count}] recovery codes",
    "account:recovery_codes:generate:failure": "failed to generate recovery codes",
    "account:recovery_codes:remove": "had the recovery codes removed[ ({reason})]",
    "account:recovery_code:use": "used a recovery code[ ({remaining} left)]",
    "account:recovery:request": "asked an administrator to recover the account",
    "account:recovery:request:refused": "was refused an account recovery request[ ({reason})]",
    "account:recovery:checks": "checked an account recovery request",
    "account:recovery:approve": "approved an account recovery request",
    "account:recovery:reject": "rejected an account recovery request",
    # Tokens and trusted publishing
    "token:create": "created an API token",
    "token:revoke": "revoked an API token",
    "token:leak": "had an API token[ {name}] revoked: a secret scanner found it at {url}",
    "token:use": "used an API token",
    "publisher:add": "added a trusted publisher",
    "publisher:remove": "removed a trusted publisher",
    "publisher:pending:add": "added a pending trusted publisher",
    "publisher:pending:remove": "removed a pending trusted publisher",
    "publisher:token:mint": "was given an upload token by a trusted publisher",
    "publisher:token:burn": "had a trusted publisher's upload token revoked",
    # Projects, releases, files
    "project:create": "created the project",
    "project:remove": "removed the project",
    "project:delete": "deleted the project[ ({reason})]",
    "project:restore": "restored the project",
    "project:archive": "archived the project",
    "project:unarchive": "unarchived the project",
    "project:status": "changed the project's status[ to {status}]",
    "project:critical": "marked the project critical[ ({reason})]",
    "project:critical:unpin": "let the project's critical mark follow downloads again",
    "project:critical:notified": "told the maintainers the project is critical",
    "project:quarantine": "quarantined the project[ ({reason})]",
    "project:quarantine:clear": "cleared the project's quarantine",
    "project:role:invite": "invited a collaborator[ as {role_name}]",
    "project:role:revoke-invite": "revoked an invitation",
    "project:role:accept": "accepted an invitation[ as {role_name}]",
    "project:role:decline": "declined an invitation",
    "project:role:add": "gave a collaborator a role[ ({role_name})]",
    "project:role:change": "changed a collaborator's role[ to {role_name}]",
    "project:role:remove": "removed a collaborator",
    "project:upload:two_factor_warning": "uploaded without two-factor authentication (warned)",
    "project:advisory": "was matched by a known advisory[ {advisory}][ affecting {versions}]",
    "release:yank": "yanked release[ {version}][ ({reason})]",
    "release:unyank": "unyanked release[ {version}]",
    "release:delete": "deleted release[ {version}][ ({reason})]",
    "release:restore": "restored[ release {version}][ releases {versions}]",
    "file:upload": "uploaded[ {filename}]",
    "file:hold": "uploaded[ {filename}], held: it broke the provenance pattern[ ({rule})]",
    "file:provenance:regression": (
        "uploaded[ {filename}], which broke the provenance pattern[ ({rule})] (warned)"
    ),
    "release:held:confirm": "confirmed the held release[ {version}]",
    "release:held:discard": "discarded the held release[ {version}]",
    "project:provenance:regression": "set what happens to uploads that break the provenance "
    "pattern[ to {mode}]",
    "project:provenance:reset": "started a new provenance pattern (changed how it publishes)",
    "project:domain:add": "listed the domain[ {domain}] for verification",
    "project:domain:remove": "removed the domain[ {domain}]",
    "project:domain:verify": "verified the domain[ {domain}] (its DNS TXT record was found)",
    "project:domain:lost": (
        "lost the verification of the domain[ {domain}] (its DNS TXT record is gone)"
    ),
    "webhook:add": "added a webhook[ for {scope}][ to {url}]",
    "webhook:remove": "removed the webhook[ to {url}]",
    "release:stage": "opened a publishing session[ for {name}][ {version}]",
    "release:stage-publish": "published the staged release[ {name}][ {version}]",
    "release:stage-expire": "expired the publishing session[ for {name}][ {version}]",
    "release:stage-cancel": "canceled the publishing session[ for {name}][ {version}]",
    "file:delete": "deleted[ the file {filename}][ ({reason})]",
    "file:restore": "restored[ the file {filename}]",
    # Abuse
    "report:file": "reported the project as malicious",
    "report:resolve": "resolved the reports on the project",
    "name:prohibit": "prohibited[ the name {name}]",
    "name:unprohibit": "allowed[ the name {name}] again",
    "auto:trusted-reporter": "became a trusted reporter",
    # TUF (PEP 458) signed metadata
    "tuf:init": "turned TUF on[ (root v{version}, fingerprint {fingerprint})]",
    "tuf:root:sign": "signed a new TUF root[ v{version}][ (fingerprint {fingerprint})]",
    "tuf:online-key:rotate": "replaced the TUF online key[ with {keyid}]",
    # The mirror and policy views
    "org:create": "asked for the organization[ {org}][ with {owner} as its owner][ ({status})]",
    "org:approve": "approved the organization[ {org}]",
    "org:member:add": "added[ {username}] to the organization[ {org}][ as {role}]",
    "org:member:role": "made[ {username}][ a {role}] of the organization[ {org}]",
    "org:member:remove": "removed[ {username}] from the organization[ {org}]",
    "org:2fa:require": "required two-factor authentication in the organization[ {org}]",
    "org:2fa:waive": "stopped requiring two-factor authentication in the organization[ {org}]",
    "org:team:create": "created the team[ {team}]",
    "org:team:member:add": "added[ {username}] to the team[ {team}]",
    "org:team:role": "set the role of the team[ {team}] on the project[ to {role}]",
    "org:project:add": "moved the project[ {project}] into the organization[ {org}]",
    "org:project:remove": "moved the project[ {project}] out of the organization[ {org}]",
    "org:transfer:request": (
        "asked to move the project[ {project}][ {direction}] of the organization[ {org}]"
    ),
    "org:transfer:confirm": (
        "confirmed the move of the project[ {project}][ {direction}] of the organization[ {org}]"
    ),
    "namespace:grant": "granted the namespace[ {namespace}][ to the organization {org}]",
    "namespace:revoke": "revoked the namespace[ {namespace}]",
    # The transparency log
    "log:enable": "turned the transparency log on",
    "log:disable": "turned the transparency log off",
    "log:bootstrap": "brought the index's files into the transparency log[ ({entries} entries)]",
    "mirror:upstream:add": "added the upstream index[ {name}]",
    "mirror:upstream:change": "changed the upstream index[ {name}]",
    "mirror:upstream:remove": "removed the upstream index[ {name}]",
    "mirror:project:sync": "brought the project up to date[ with {upstream}][ ({published} files)]",
    "mirror:project:purge": "purged[ {name}] from the mirror cache[ ({reason})]",
    "mirror:origin:set": "set where[ {name}] comes from[ to {mode}][ ({upstream})]",
    "mirror:origin:remove": "let[ {name}] follow the default origin rule again",
    "mirror:cooldown:exempt": (
        "let[ version {version} of][ {name}] through the cooldown[ ({reason})]"
    ),
    "mirror:cooldown:revoke": (
        "stopped letting[ version {version} of][ {name}] through the cooldown"
    ),
    "mirror:provenance:refused": "refused the provenance[ of {filename}][ from {upstream}]",
    "view:create": "created the policy view[ {view}]",
    "view:remove": "removed the policy view[ {view}]",
}

_OPTIONAL = re.compile(r"\[([^\[\]]*)\]")
_FIELD = re.compile(r"\{([a-z_]+)\}")


_CODE = re.compile(r"[a-z]+(?:_[a-z]+)+")


def _text(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    text = str(value)
    # Reason and method codes ("bad_password") read as words.
    return text.replace("_", " ") if _CODE.fullmatch(text) else text


def _fill(phrase: str, details: Mapping[str, object]) -> str | None:
    """The phrase with its details, or None when a required detail is missing."""
    present = {k: _text(v) for k, v in details.items() if v not in (None, "", [], ())}

    def optional(match: re.Match[str]) -> str:
        part = match.group(1)
        return (
            _FIELD.sub(lambda m: present[m.group(1)], part)
            if all(name in present for name in _FIELD.findall(part))
            else ""
        )

    phrase = _OPTIONAL.sub(optional, phrase)
    if any(name not in present for name in _FIELD.findall(phrase)):
        return None
    return _FIELD.sub(lambda m: present[m.group(1)], phrase)


def sentence(tag: str, details: Mapping[str, object], actor: str | None) -> str:
    """One sentence for an event: "alice yanked release 1.0 (broken build)."."""
    phrase = PHRASES.get(tag)
    filled = _fill(phrase, details) if phrase is not None else None
    if filled is None:
        # Unknown tag or a detail missing: its words, so it still reads.
        filled = " ".join(re.split(r"[:_-]+", tag))
    who = actor or "Someone"
    return f"{who} {filled}."
