"""Every call the documentation shows builds the URL it means.

``api_url`` is the stage's invoke URL without its trailing slash (terraform/tests asserts
the output; ``API_URL`` here is its shape). Each documented spelling of "the API URL, then a
path" is expanded with it, and the printed call in docs/deploy.md is the one
scripts/deploy.py prints.
"""

from __future__ import annotations

import re

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
