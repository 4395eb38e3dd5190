"""Every call the documentation shows builds the URL it means.

``api_url`` is the stage's invoke URL without its trailing slash (terraform/tests asserts
the output; ``API_URL`` here is its shape). Each documented spelling of "the API URL, then a
path" is expanded with it, and the printed call in docs/deploy.md is the one
scripts/deploy.py prints.
"""

from __future__ import annotations

import re
import shlex
import subprocess

import pytest

from scripts import deploy
from tests.infra.hcl import MODULE, REPO

API_URL = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"
DOCUMENTS = [
    REPO / "README.md",
    *sorted((REPO / "docs").glob("*.md")),
    MODULE / "README.md",
    MODULE / "examples" / "README.md",
]
# "$(terraform output -raw api_url)", "$(terraform -chdir=terraform output -raw api_url)",
# "$api_url", "${api_url}" and "<api_url>", each followed by a path.
_BASE = r"\$\(terraform (?:-chdir=\S+ )?output -raw api_url\)|\$\{?api_url\}?|<api_url>"
_CALL = re.compile(rf"({_BASE})(/[^\s\"'`)]*)")


def documented_paths() -> list[tuple[str, str]]:
    found = []
    for path in DOCUMENTS:
        for match in _CALL.finditer(path.read_text()):
            found.append((path.relative_to(REPO).as_posix(), match.group(2)))
    return found


def test_the_documents_show_calls_to_check() -> None:
    documents = {document for document, _ in documented_paths()}
    assert {"README.md", "terraform/README.md", "docs/deploy.md"} <= documents


@pytest.mark.parametrize(("document", "path"), documented_paths())
def test_each_documented_call_builds_a_route_of_the_api(document: str, path: str) -> None:
    url = API_URL + path
    assert "//" not in url.removeprefix("https://"), f"{document}: {url}"
    assert re.fullmatch(r"/models(/[^/]+(/predict)?)?/?|/health|/docs|/openapi\.json", path) or (
        path.startswith("/models/<") or path.startswith("/models/...")
    ), f"{document}: {path} is not a route"


def test_the_call_in_docs_deploy_is_the_one_deploy_prints() -> None:
    text = (REPO / "docs" / "deploy.md").read_text()
    block = text.split("Terraform applied from `terraform.tfvars`, `--var-file` or `--var`:", 1)[1]
    shown = block.split("```text\n", 1)[1].split("```", 1)[0]
    printed = deploy.example_calls(API_URL, "eu-west-1").split("\n\n", 1)[0]
    assert shown.strip() == printed.strip()
    assert f"  {API_URL}/models/iris/predict" in shown


def documented_awscurl_calls() -> list[tuple[str, str]]:
    """Each ``awscurl`` command in the documents' code blocks, continuation lines joined."""
    found = []
    for path in DOCUMENTS:
        blocks = path.read_text().split("```")[1::2]  # the insides of the fences
        for block in blocks:
            for line in block.replace("\\\n", " ").splitlines():
                if line.lstrip().startswith("awscurl "):
                    found.append((path.relative_to(REPO).as_posix(), line.strip()))
    return found


def test_the_documents_show_awscurl_calls_to_check() -> None:
    assert "terraform/README.md" in {document for document, _ in documented_awscurl_calls()}


@pytest.mark.parametrize(("document", "command"), documented_awscurl_calls())
def test_each_documented_awscurl_call_signs_for_the_apis_region_and_sends_json(
    document: str, command: str
) -> None:
    """awscurl signs for us-east-1 unless given --region, and sends JSON without a content
    type unless given one: both fail against an API in another Region."""
    arguments = shlex.split(command)
    assert "--region" in arguments, f"{document}: {command}"
    headers = [
        arguments[i + 1].lower() for i, arg in enumerate(arguments) if arg in ("-H", "--header")
    ]
    assert "content-type: application/json" in headers, f"{document}: {command}"
    region = arguments[arguments.index("--region") + 1]
    assert region != "us-east-1"
    if region.startswith("$"):  # a shell variable: the document must say how it is set
        name = region.strip("${}")
        text = (REPO / document).read_text()
        match = re.search(rf"^{name}=(.+?)(?:\s+#.*)?$", text, re.MULTILINE)
        assert match, f"{document}: {name} is never set"
        completed = subprocess.run(
            ["sh", "-c", f'api_url={API_URL}; {name}={match[1]}; printf %s "${name}"'],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        assert completed.stdout == "eu-west-1", f"{document}: {match[0]}"
