"""``model-router predict`` (a call through ``router.client``) and ``model-router demo
--bucket`` (the demo models published through the inbox bucket).

Failures are one line on stderr and exit status 1; bad arguments exit with status 2.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from router.cli_options import count, seconds
from router.client.errors import ClientError, RequestFailed
from router.csv_cells import BOOLEAN_TEXTS, MISSING_TEXTS
from router.xgb.outputs import OUTPUTS

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from router.client.auth import Auth
    from router.client.client import Feature

TOKEN_VARIABLE = "MODEL_ROUTER_TOKEN"
TERRAFORM_TIMEOUT_S = 60


class InputError(ClientError):
    """The rows given to ``predict`` cannot be read."""


def add_client_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``predict`` on ``model-router``'s commands."""
    predict = commands.add_parser(
        "predict",
        help="call a router's predict endpoint (local, or on AWS with SigV4)",
        description="Send rows to POST /models/NAME/predict and print the answer as JSON. "
        "Rows are JSON (a list of rows, each a list of numbers or an object keyed by feature "
        "name, or a whole request body), JSON Lines (a row per line) or CSV (with a header row "
        "of feature names, or without), whose cells are read by the model's feature types, as "
        "batch jobs read CSV; columns that are no feature (an id, a DataFrame's index) are left "
        "out, as batch jobs pass them through. An empty CSV cell or a JSON null is a missing "
        "value.",
    )
    predict.add_argument("name", metavar="NAME", help="the model's name")
    predict.add_argument(
        "--data",
        required=True,
        metavar="FILE",
        help="the rows: a .json, .jsonl or .csv file, or - for standard input",
    )
    predict.add_argument(
        "--format",
        choices=["json", "jsonl", "csv"],
        help="of --data (default: from the file name, or "
        "for standard input from its first character)",
    )
    predict.add_argument(
        "--url",
        help="the router's base URL (default: the api_url output of Terraform in --terraform-dir)",
    )
    predict.add_argument(
        "--terraform-dir",
        type=Path,
        default=Path("terraform"),
        metavar="DIR",
        help="where to read api_url when --url is not given (default: ./terraform)",
    )
    predict.add_argument("--output", choices=OUTPUTS, default="value")
    predict.add_argument(
        "--rounds", choices=["best", "all"], help="boosting rounds (default: the model's)"
    )
    predict.add_argument(
        "--auth",
        choices=["auto", "iam", "jwt", "none"],
        default="auto",
        help=f"iam: SigV4 with AWS credentials; jwt: a bearer token from ${TOKEN_VARIABLE}; "
        f"auto (default): jwt if ${TOKEN_VARIABLE} is set, else iam for an execute-api URL, "
        "else none",
    )
    predict.add_argument("--region", help="the Region to sign for (default: the URL's)")
    predict.add_argument("--profile", help="the AWS profile whose credentials sign")
    predict.add_argument("--timeout", type=seconds(zero=False), default=30.0, metavar="SECONDS")
    predict.add_argument(
        "--retries", type=count(0), default=3, help="on 429 and 503, honouring Retry-After"
    )
    predict.set_defaults(run=predict_command, usage_error=predict.error)


def predict_command(args: argparse.Namespace) -> int:
    try:
        read = read_rows(args.data, args.format)
        url = args.url or terraform_api_url(args.terraform_dir)
        from router.client import RetryPolicy, RouterClient

        with RouterClient(
            url,
            auth=make_auth(args.auth, url, args.region, args.profile),
            timeout_s=args.timeout,
            retry=RetryPolicy(retries=args.retries),
        ) as client:
            rows = read.rows(lambda: client.features(args.name))
            if read.left_out:
                shown = ", ".join(repr(column) for column in read.left_out[:10])
                print(f"note: columns that are no feature, left out: {shown}", file=sys.stderr)
            result = client.predict(args.name, rows, output=args.output, rounds=args.rounds)
    except RequestFailed as exc:
        exc.detail = read.where(exc.detail)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    answer: dict[str, object] = {
        "model": result.model,
        "version": result.version,
        "output": result.output,
        "predictions": result.predictions,
    }
    if result.rounds is not None:
        answer["rounds"] = result.rounds
    if result.classes is not None:
        answer["classes"] = list(result.classes)
    print(orjson.dumps(answer).decode())
    return 0


def make_auth(mode: str, url: str, region: str | None, profile: str | None) -> Auth:
    from urllib.parse import urlsplit

    from router.client.auth import BearerToken, NoAuth, SigV4, region_of

    token = os.environ.get(TOKEN_VARIABLE, "")
    if mode == "auto":
        if token:
            mode = "jwt"
        elif region_of(urlsplit(url).hostname or ""):
            mode = "iam"
        else:
            mode = "none"
    if mode == "jwt":
        if not token:
            raise ClientError(f"--auth jwt reads the token from ${TOKEN_VARIABLE}, which is empty")
        return BearerToken(token)
    if mode == "iam":
        return SigV4(region=region, profile=profile)
    return NoAuth()


def terraform_api_url(directory: Path) -> str:
    """The ``api_url`` output of the Terraform state in ``directory``. Read with ``terraform
    output -json``: ``-raw`` prints a warning on stdout, and exits 0, when there is none."""
    if not directory.is_dir():
        raise ClientError(f"no --url given, and no {directory}/ to read api_url from")
    command = ["terraform", "output", "-json", "-no-color"]
    try:
        done = subprocess.run(
            command,
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=TERRAFORM_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError as exc:
        raise ClientError(
            "no --url given, and terraform is not installed to read api_url; pass --url"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise ClientError(f"`terraform output` did not answer in {TERRAFORM_TIMEOUT_S} s") from exc
    url = None
    if done.returncode == 0:
        try:
            url = orjson.loads(done.stdout).get("api_url", {}).get("value")
        except (orjson.JSONDecodeError, AttributeError):
            url = None
    if not isinstance(url, str) or not url:
        why = _first_line(done.stderr) if done.returncode else "the state has no api_url output"
        raise ClientError(
            f"no --url given, and `terraform output` in {directory}/ gave no api_url: "
            f"{why} (has `make deploy` run? else pass --url)"
        )
    return url


def _first_line(text: str) -> str:
    """Terraform's first error, else its first line (it frames messages with box-drawing
    characters and blank lines, and may warn before it errs)."""
    lines = [cleaned for line in text.splitlines() if (cleaned := line.strip(" │╷╵\t"))]
    errors = [line.removeprefix("Error: ") for line in lines if line.startswith("Error: ")]
    return (errors or lines or [""])[0]


# -- demo --bucket ----------------------------------------------------------------------------


def demo_to_bucket(bucket: str, wait_s: float) -> int:
    """Train the demo models and publish them through the inbox bucket (``models.demo``)."""
    from models.demo import upload_demo_models
    from router.publish.s3 import s3_client, wait_for_verdict

    s3 = s3_client()
    print(f"Training the demo models and uploading them to s3://{bucket}/")
    uploaded = upload_demo_models(s3, bucket)
    for demo in uploaded:
        print(f"  {demo.spec.name:14} s3://{bucket}/{demo.key}  version {demo.version_id or '-'}")
        if wait_s:
            verdict = wait_for_verdict(s3, bucket, demo.key, demo.version_id, timeout_s=wait_s)
            print(f"  {'':14} the inbox says: {verdict}")
    if not wait_s:
        print("The inbox function publishes each onto EFS within seconds.")
    print("Then, for example:")
    for demo in uploaded:
        rows = orjson.dumps([demo.example]).decode()
        print(f"  echo '{rows}' | model-router predict {demo.spec.name} --data -")
    return 0


# -- rows ------------------------------------------------------------------------------------


_SHOWN_HEADER = 60  # characters of a header quoted in an error


def read_rows(source: str, fmt: str | None) -> ReadRows:
    """The rows in ``source`` (a path, or ``-`` for stdin), read once the model's features
    are known if they must be (``ReadRows.rows``)."""
    if source == "-":
        text = sys.stdin.read()
        name = "standard input"
    else:
        try:
            text = Path(source).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read {source}: {getattr(exc, 'strerror', exc)}") from exc
        name = source
    if fmt is None:
        suffix = Path(source).suffix.lower() if source != "-" else ""
        if suffix in (".json", ".jsonl", ".csv"):
            fmt = suffix[1:]
        elif suffix == ".ndjson":
            fmt = "jsonl"
        else:
            fmt = "json" if text.lstrip()[:1] in ("[", "{") else "csv"
    if not text.strip():
        raise InputError(f"{name} is empty: no rows to predict")
    if fmt == "json":
        return ReadRows(name, json=json_rows(text, name))
    if fmt == "jsonl":
        return ReadRows(name, json=json_lines_rows(text, name))
    table, lines = csv_table(text, name)
    return ReadRows(name, table=table, lines=lines)


class ReadRows:
    """Rows from JSON, as they are; or a CSV table, whose cells are read by the type of the
    feature they are for (see ``csv_rows``)."""

    def __init__(
        self,
        name: str,
        *,
        json: object = None,
        table: list[list[str]] | None = None,
        lines: list[int] | None = None,
    ) -> None:
        self.name = name
        self._json = json
        self._table = table
        self._lines = lines or []
        self._sent_lines: list[int] = []  # the CSV line of each row sent, once read
        self.left_out: list[str] = []  # CSV columns that are no feature, once read

    def rows(self, features: Callable[[], list[Feature]]) -> object:
        if self._table is None:
            return self._json
        rows, self._sent_lines, self.left_out = csv_rows(
            self._table, self._lines, self.name, features
        )
        return rows

    def where(self, detail: str) -> str:
        """``detail`` of a refusal, with the CSV line of the row it names: the router counts
        the rows it was sent from 0 ("instances.3", "row 3"), a file's reader by line."""
        match = _REFUSED_ROW.match(detail)
        if match is None or not self._sent_lines:
            return detail
        index = int(match.group(1))
        if index >= len(self._sent_lines):
            return detail
        return f"{detail} ({self.name} line {self._sent_lines[index]})"


_REFUSED_ROW = re.compile(r"^(?:instances\.|row )(\d+)\b")


def json_lines_rows(text: str, name: str) -> list[object]:
    """A row per line (``DataFrame.to_json(orient="records", lines=True)``), blank lines
    aside, as batch jobs read JSON Lines."""
    rows: list[object] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raise InputError(f"{name} line {number} is not valid JSON: {exc}") from exc
    if not rows:
        raise InputError(f"{name} has no rows to predict")
    return rows


def json_rows(text: str, name: str) -> object:
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        if len([line for line in text.splitlines() if line.strip()]) > 1:
            try:  # JSON Lines in a file named .json, or on standard input
                return json_lines_rows(text, name)
            except InputError:
                pass
        raise InputError(f"{name} is not valid JSON: {exc}") from exc
    if isinstance(document, dict):  # a whole request body: {"instances": [...]}
        if "instances" not in document:
            by_column = bool(document) and all(isinstance(v, dict) for v in document.values())
            hint = ' (to_json() is by column: write to_json(orient="records"))' if by_column else ""
            raise InputError(
                f'{name}: a JSON object must be a request, {{"instances": [...]}}{hint}'
            )
        document = document["instances"]
    if not isinstance(document, list):
        raise InputError(f"{name}: expected a list of rows")
    return document


def csv_table(text: str, name: str) -> tuple[list[list[str]], list[int]]:
    """The non-empty rows, and the line of the text each ends on."""
    reader = csv.reader(io.StringIO(text))
    table, lines = [], []
    for row in reader:
        if row:
            table.append(row)
            lines.append(reader.line_num)
    if not table:
        raise InputError(f"{name} has no rows to predict")
    return table, lines


def csv_rows(
    table: list[list[str]], lines: list[int], name: str, features: Callable[[], list[Feature]]
) -> tuple[list[Any], list[int], list[str]]:
    """Rows of values, as batch jobs read CSV, the line of ``lines`` (the table's) each came
    from, and the header's columns left out.

    A header that names every feature of the model may have other columns too (an id, a
    DataFrame's index, written with an empty name): they are left out, as a batch job
    passes them through. A header that lacks a feature keeps its columns, so that the
    router refuses a misspelt one rather than read the feature as missing.

    A table of numbers and empty cells alone is sent as it is, rows as arrays (a
    categorical feature's number is its code, as in the API's array rows). Any other cell
    (a header, a word, NA, True) reads by the feature it is for, so the model's features are
    asked for first (``features``: ``GET /models/{name}``):

    - a categorical feature's cell is its category by name when the model has one of that
      name (a zip code "02139", a rating "2", a continent "NA"); otherwise an empty cell,
      NA, NULL or another text tools write for a missing value is missing, and a number is
      a code (which the router refuses where a category is named by that number too);
    - any other feature's cell is a number, True or False (as pandas writes a bool column,
      also TRUE or true) a boolean, an empty cell or NA... a missing value; a word is sent
      as it is, for the router to refuse, naming it.

    The first row is the header when it is the model's feature names (also ``0,1,...``,
    which reads as numbers); else data when it holds only values, or reads as a row of the
    model (values and categories of the feature at each place); else the header. A header
    that names a column twice is refused, as batch jobs refuse it. Rows without a
    header are keyed by the model's feature names when every row has as many cells, so
    that categories by name work there too. When the features cannot be had (a model that
    does not load, a caller allowed only to predict), cells are read without them and the
    router's answer says what is wrong."""
    first = [cell.strip() for cell in table[0]]
    # pandas names an unnamed DataFrame's columns 0, 1, ...: a header that reads as numbers,
    # which only the model's feature names can tell from a row.
    numbered = first == [str(index) for index in range(len(first))]
    if not numbered and all(_is_plain(cell) for row in table for cell in row):
        return [[_cell(cell) for cell in row] for row in table], lines, []
    try:
        model = features()
    except ClientError:
        model = []
    named_header = bool(model) and first == [str(feature.name) for feature in model]
    is_data = not named_header and (
        all(_is_value(cell) for cell in first)
        or (
            len(first) == len(model)
            and all(
                _is_value(cell) or cell in (feature.categories or ())
                for cell, feature in zip(first, model, strict=True)
            )
        )
    )
    header = None if is_data else first
    if header is not None and len(set(header)) != len(header):
        twice = next(column for column in header if header.count(column) > 1)
        raise InputError(f"{name}: the header names column {twice!r} twice")
    rows_table, row_lines = (table, lines) if is_data else (table[1:], lines[1:])
    names = [feature.name for feature in model if feature.name is not None]
    left_out: list[str] = []
    if header is not None and names and len(names) == len(model) and set(names) <= set(header):
        kept = [index for index, column in enumerate(header) if column in set(names)]
        left_out = [column for column in header if column not in set(names)]
        if left_out:
            header, rows_table = _columns(header, rows_table, row_lines, kept, name)
    if header is not None and "" in header:
        raise InputError(
            f"{name}: column {header.index('') + 1} of the header has no name (a DataFrame's "
            "index, written by to_csv? write it with index=False)"
        )
    if not rows_table:
        shown = ",".join(first)
        shown = shown if len(shown) <= _SHOWN_HEADER else shown[:_SHOWN_HEADER] + "..."
        raise InputError(
            f"{name} has a header ({shown!r}) and no rows: send CSV rows, or a JSON list of rows"
        )
    # Each feature's text categories, once: a cell looks its own up in a set.
    named = [_text_categories(feature) for feature in model]
    by_name = {feature.name: categories for feature, categories in zip(model, named, strict=True)}
    keys = header
    if keys is None and model and len(names) == len(model):
        keys = names if all(len(row) == len(names) for row in rows_table) else None
    rows: list[Any] = []
    for line, row in zip(row_lines, rows_table, strict=True):
        if header is not None and len(row) != len(header):
            raise InputError(f"{name} line {line}: {len(row)} cells, the header has {len(header)}")
        if keys is not None:
            cells = zip(keys, row, strict=True)
            rows.append({key: _typed_cell(cell, by_name.get(key)) for key, cell in cells})
        else:
            typed = named if len(row) == len(model) else [None] * len(row)
            rows.append([_typed_cell(cell, c) for cell, c in zip(row, typed, strict=True)])
    return rows, row_lines, left_out


def _columns(
    header: list[str], table: list[list[str]], lines: list[int], kept: list[int], name: str
) -> tuple[list[str], list[list[str]]]:
    """The header and rows with only the columns at ``kept``."""
    selected = []
    for line, row in zip(lines, table, strict=True):
        if len(row) != len(header):
            raise InputError(f"{name} line {line}: {len(row)} cells, the header has {len(header)}")
        selected.append([row[index] for index in kept])
    return [header[index] for index in kept], selected


def _text_categories(feature: Feature) -> frozenset[str] | None:
    """A categorical feature's categories when they are text (a name is looked up first);
    None for any other feature."""
    categories = feature.categories
    if feature.type != "c" or not categories:
        return None
    if not all(isinstance(category, str) for category in categories):
        return None
    return frozenset(str(category) for category in categories)


def _is_plain(cell: str) -> bool:
    """A number or an empty cell: what reads the same whatever feature it is for."""
    text = cell.strip()
    if not text:
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_value(cell: str) -> bool:
    """A cell no header holds: a number, a boolean or a missing value."""
    text = cell.strip()
    return text in MISSING_TEXTS or text in BOOLEAN_TEXTS or _is_plain(text)


def _typed_cell(cell: str, categories: frozenset[str] | None) -> float | bool | str | None:
    """``cell`` as the feature it is for reads it (see ``csv_rows``): ``categories`` are
    the feature's text categories, if it has any."""
    if categories is not None:
        text = cell.strip()
        if text in categories:
            return text
        if not text or text in MISSING_TEXTS:
            return None
        return _number_or_text(text)  # a code, or a word the router refuses
    return _cell(cell)


def _cell(cell: str) -> float | bool | str | None:
    cell = cell.strip()
    if not cell or cell in MISSING_TEXTS:
        return None
    boolean = BOOLEAN_TEXTS.get(cell)
    if boolean is not None:
        return bool(boolean)
    return _number_or_text(cell)


def _number_or_text(cell: str) -> float | str | None:
    try:
        value = float(cell)
    except ValueError:
        return cell  # a category's name, or an error the router names in its answer
    if math.isnan(value):
        return None
    return value
