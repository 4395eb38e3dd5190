"""IAM policies as AWS evaluates them, for documents written as ``aws_iam_policy_document``.

moto does not enforce IAM, so the policy tests record the calls the code makes against
moto and ask this evaluator whether the rendered documents allow each one. ``render``
turns a data source parsed by python-hcl2 into statements, with the references the test
names (``aws_s3_bucket.inbox.arn`` -> an ARN) substituted; ``decide`` applies IAM's
rules: an explicit deny wins, else an allow is needed; a statement applies when an
action, a resource and (in resource policies) a principal match and every condition holds.
A condition on a key the request does not carry is false, except for the negated
operators (``StringNotEquals``, ``ArnNotEquals``...), for which it is true: that asymmetry
is why S3 answers 403 instead of 404 when ``s3:ListBucket`` is conditioned on ``s3:prefix``.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from tests.infra.hcl import Body

_INTERPOLATION = re.compile(r"\$\{([^{}]+)\}")
Decision = Literal["allowed", "denied", "implicitly denied"]


@dataclass(frozen=True)
class Condition:
    test: str
    variable: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Statement:
    sid: str | None
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    principals: tuple[str, ...] | None  # None: an identity policy
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class Request:
    """One authorisation check: what S3, KMS or EFS asks IAM about a call."""

    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)
    principal: str | None = None

    def __str__(self) -> str:
        keys = ", ".join(f"{key}={value}" for key, value in sorted(self.context.items()))
        return f"{self.action} on {self.resource} [{keys}]"


def substitute(value: str, references: Mapping[str, str]) -> str:
    """``value`` with each ``${reference}`` the test knows replaced; others stay, so they
    can match nothing."""
    return _INTERPOLATION.sub(lambda m: references.get(m.group(1).strip(), m.group(0)), value)


def _strings(value: object, references: Mapping[str, str]) -> tuple[str, ...]:
    if isinstance(value, str):  # an expression such as concat(...): matches nothing
        return (substitute(value, references),)
    assert isinstance(value, list), value
    return tuple(substitute(str(item), references) for item in value)


def render(document: Body, references: Mapping[str, str]) -> list[Statement]:
    """The statements of an ``aws_iam_policy_document`` body from python-hcl2."""
    statements = []
    for body in document.get("statement", []):
        principals = None
        if "principals" in body:
            principals = tuple(
                identifier
                for block in body["principals"]
                for identifier in _strings(block["identifiers"], references)
            )
        statements.append(
            Statement(
                sid=body.get("sid"),
                effect=body.get("effect", "Allow"),
                actions=_strings(body.get("actions", []), references),
                resources=_strings(body.get("resources", []), references),
                principals=principals,
                conditions=tuple(
                    Condition(
                        test=block["test"],
                        variable=block["variable"],
                        values=_strings(block["values"], references),
                    )
                    for block in body.get("condition", [])
                ),
            )
        )
    return statements


def _like(pattern: str, value: str, *, case_sensitive: bool = True) -> bool:
    # IAM wildcards: * any run of characters (across "/" and ":"), ? one character.
    regex = fnmatch.translate(pattern)
    return re.match(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def _condition_holds(condition: Condition, context: Mapping[str, str]) -> bool:
    test = condition.test
    negated = "Not" in test
    if condition.variable not in context:
        return negated
    value = context[condition.variable]
    base = test.replace("Not", "")
    if base in ("StringEquals", "ArnEquals"):
        matched = value in condition.values
    elif base in ("StringLike", "ArnLike"):
        matched = any(_like(pattern, value) for pattern in condition.values)
    elif base in ("StringEqualsIgnoreCase", "Bool"):
        matched = value.lower() in {v.lower() for v in condition.values}
    else:
        raise AssertionError(f"the evaluator does not know the operator {test}")
    return not matched if negated else matched


def applies(statement: Statement, request: Request) -> bool:
    if not any(
        _like(pattern, request.action, case_sensitive=False) for pattern in statement.actions
    ):
        return False
    if not any(_like(pattern, request.resource) for pattern in statement.resources):
        return False
    if statement.principals is not None and not (
        "*" in statement.principals or request.principal in statement.principals
    ):
        return False
    return all(_condition_holds(condition, request.context) for condition in statement.conditions)


def decide(statements: Sequence[Statement], request: Request) -> Decision:
    matching = [statement for statement in statements if applies(statement, request)]
    if any(statement.effect == "Deny" for statement in matching):
        return "denied"
    if any(statement.effect == "Allow" for statement in matching):
        return "allowed"
    return "implicitly denied"
