"""scripts/build_package.py: the lock, the pruning rules, the size limits, the zip, and the
proof that the built package serves predictions.

The proof builds the real package for this machine's architecture (CPython 3.12 when this
machine has one), extracts the zip, and runs ``router.lambda_handler.handler`` in an
interpreter that sees nothing but the package and the standard library. A second run on the
unpruned install shows that no pruning rule removes a file the handler reads.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import xgboost as xgb

from scripts import build_package
from scripts.build_package import (
    LAMBDA_UNZIPPED_LIMIT,
    MIB,
    PRUNE_RULES,
    ROOT,
    BuildError,
    Target,
    canonical_name,
    dependencies_sha256,
    project_dependencies,
    read_lock,
    write_zip,
)
from tests.events import http_api_event, load_event
from tests.modelkit import model_bytes, train_booster, write_model
from tests.packaging.conftest import (
    RUNTIME_CLIENT_MIB,
    assert_fits_the_process_reserve,
    run_in_package,
    run_probe,
    runtime_site,
)

if TYPE_CHECKING:
    from tests.packaging.conftest import BuiltPackage

# The row in tests/events/apigw_http_v2.json.
EVENT_ROW = [5.1, 3.5, 1.4, 0.2]
ROWS = [EVENT_ROW, [6.2, 2.9, 4.3, 1.3], [None, 3.0, 5.8, 2.2]]
# Files the handler loads (seen in the probe's report): no rule may ever match them.
NEEDED = [
    "xgboost/lib/libxgboost.so",
    "xgboost/core.py",
    "xgboost/sklearn.py",
    "scipy/sparse/_base.py",
    "scipy/sparse/_sparsetools.cpython-312-x86_64-linux-gnu.so",
    "scipy/special/_ufuncs.cpython-312-aarch64-linux-gnu.so",
    "scipy/_lib/_testutils.py",
    "scipy.libs/libscipy_openblas-6cdc3b4a.so",
    "numpy/_core/_multiarray_umath.cpython-312-x86_64-linux-gnu.so",
    "numpy/f2py/__init__.py",
    "numpy/testing/__init__.py",
    "numpy/typing/__init__.py",
    "pydantic/main.py",
    "fastapi/applications.py",
    "numpy-2.4.6.dist-info/METADATA",
    "scipy-1.17.1.dist-info/LICENSE.txt",
]


# ---------------------------------------------------------------------------------------
# Fast: no build
# ---------------------------------------------------------------------------------------


def test_every_rule_has_a_name_a_reason_and_relative_patterns() -> None:
    names = [rule.name for rule in PRUNE_RULES]
    assert len(names) == len(set(names))
    for rule in PRUNE_RULES:
        assert re.fullmatch(r"[a-z0-9-]+", rule.name)
        assert len(rule.reason) > 20, rule.name
        assert rule.patterns
        assert all(not pattern.startswith("/") for pattern in rule.patterns)


@pytest.mark.parametrize("path", NEEDED)
def test_no_rule_matches_a_file_the_handler_needs(path: str) -> None:
    assert [rule.name for rule in PRUNE_RULES if rule.matches(path)] == []


def test_no_rule_matches_the_router_itself() -> None:
    router_files = [p.relative_to(ROOT).as_posix() for p in (ROOT / "router").rglob("*.py")]
    assert router_files
    assert [(f, r.name) for f in router_files for r in PRUNE_RULES if r.matches(f)] == []


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("scipy/stats/_stats.cpython-312-x86_64-linux-gnu.so", "scipy-unused-subpackages"),
        ("scipy/sparse/linalg/_isolve/iterative.py", "scipy-unused-subpackages"),
        (
            "scipy/sparse/csgraph/_traversal.cpython-312-x86_64-linux-gnu.so",
            "scipy-unused-subpackages",
        ),
        ("numpy/_core/tests/test_multiarray.py", "test-suites"),
        ("xgboost/testing/data.py", "test-suites"),
        ("numpy/_core/include/numpy/ndarraytypes.h", "c-headers-and-sources"),
        ("numpy/__init__.pyi", "type-stubs"),
        ("bin/f2py", "console-scripts"),
        ("xgboost/dask/__init__.py", "xgboost-distributed"),
        ("numpy-2.4.6.dist-info/RECORD", "install-records"),
    ],
)
def test_rules_match_what_they_name(path: str, rule: str) -> None:
    assert next(r.name for r in PRUNE_RULES if r.matches(path)) == rule


def test_lock_is_current_with_pyproject() -> None:
    lock = read_lock()
    assert lock.dependencies_sha256 == dependencies_sha256(project_dependencies()), (
        "[project].dependencies changed: run `python scripts/build_package.py --update-lock`"
    )


def test_lock_pins_every_runtime_dependency_for_both_architectures() -> None:
    lock = read_lock()
    pinned = {pin.name: pin for pin in lock.pins}
    for dependency in project_dependencies():
        if "sys_platform == 'darwin'" in dependency:
            continue  # macOS only
        assert canonical_name(re.split(r"[ ;<>=!~\[]", dependency)[0]) in pinned, dependency
    assert lock.python_version == "3.12"
    assert all(pin.hashes for pin in lock.pins)
    # Compiled packages have one wheel per architecture.
    for name in ("numpy", "scipy", "xgboost-cpu", "orjson", "pydantic-core"):
        assert len(pinned[name].hashes) == 2, name
    # Provided by the Lambda runtime; see the module docstring of build_package.
    assert not {"boto3", "botocore", "s3transfer"} & set(pinned)


def test_lock_rejects_a_line_it_cannot_read(tmp_path: Path) -> None:
    lock = tmp_path / "lock.txt"
    lock.write_text("# python: 3.12\n# dependencies-sha256: 00\nnumpy>=2\n")
    with pytest.raises(BuildError, match="numpy>=2"):
        read_lock(lock)


@pytest.mark.parametrize(("architecture", "machine"), [("x86_64", "x86_64"), ("arm64", "aarch64")])
def test_target_selects_manylinux_cpython_wheels(architecture: str, machine: str) -> None:
    args = Target(architecture).pip_args()
    platforms = [args[i + 1] for i, arg in enumerate(args) if arg == "--platform"]
    assert platforms[0] == f"manylinux_2_34_{machine}"  # Amazon Linux 2023's glibc
    assert {f"manylinux_2_28_{machine}", f"manylinux2014_{machine}"} <= set(platforms)
    assert all(machine in platform for platform in platforms)
    assert args[args.index("--python-version") + 1] == "3.12"
    assert "--only-binary=:all:" in args
    assert args[args.index("--implementation") + 1] == "cp"


def test_target_refuses_an_unknown_architecture() -> None:
    with pytest.raises(BuildError, match="architecture"):
        Target("ppc64le")


def test_zip_is_deterministic_and_keeps_exec_bits(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "b.py").write_text("B = 1\n")
    (tree / "pkg" / "a.so").write_bytes(b"\x7fELF")
    (tree / "pkg" / "a.so").chmod(0o755)
    (tree / "top.py").write_text("")
    first = tmp_path / "first.zip"
    second = tmp_path / "second.zip"
    write_zip(tree, first)
    os.utime(tree / "pkg" / "b.py", (1_000_000_000, 1_000_000_000))
    write_zip(tree, second)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        infos = archive.infolist()
    assert [info.filename for info in infos] == ["pkg/a.so", "pkg/b.py", "top.py"]
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    modes = {info.filename: (info.external_attr >> 16) & 0o777 for info in infos}
    assert modes == {"pkg/a.so": 0o755, "pkg/b.py": 0o644, "top.py": 0o644}


def test_size_check_enforces_the_budget_and_lambdas_limit() -> None:
    build_package._check_size(100 * MIB, 150 * MIB)
    with pytest.raises(BuildError, match="budget"):
        build_package._check_size(151 * MIB, 150 * MIB)
    with pytest.raises(BuildError, match="Lambda's limit"):
        build_package._check_size(LAMBDA_UNZIPPED_LIMIT + 1, 10 * LAMBDA_UNZIPPED_LIMIT)


def test_main_exits_1_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def too_big(options: build_package.BuildOptions) -> None:
        raise BuildError("1 bytes unzipped is above the budget")

    monkeypatch.setattr(build_package, "build", too_big)
    assert build_package.main(["--max-unzipped-mb", "1"]) == 1
    assert "error: 1 bytes unzipped is above the budget" in capsys.readouterr().err


def test_the_running_python_is_always_found() -> None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    found = build_package.find_interpreter(version)
    assert found is not None
    assert build_package.interpreter_version(found) == version


# ---------------------------------------------------------------------------------------
# Slow: the real package (built once per session; see conftest.py)
# ---------------------------------------------------------------------------------------


@pytest.fixture
def iris(tmp_path: Path) -> tuple[Path, xgb.Booster]:
    """A 3-class model named "iris", as the recorded event asks for, in a fresh model root."""
    root = tmp_path / "models"
    booster = train_booster("multiclass", seed=3)
    write_model(root, "iris", booster, layout="file")
    return root, booster


def _events() -> list[dict[str, Any]]:
    def predict(output: str) -> dict[str, Any]:
        body = json.dumps({"instances": ROWS, "output": output})
        return http_api_event("POST", "/models/iris/predict", body)

    return [
        load_event("apigw_http_v2"),
        predict("value"),
        predict("margin"),
        predict("contributions"),
        http_api_event("GET", "/models"),
    ]


def _expected(booster: xgb.Booster) -> list[np.ndarray]:
    row = np.array([EVENT_ROW], dtype=np.float32)
    rows = np.array(ROWS, dtype=np.float32)  # None becomes NaN: a missing value
    return [
        booster.inplace_predict(row),
        booster.inplace_predict(rows),
        booster.inplace_predict(rows, predict_type="margin"),
        booster.predict(xgb.DMatrix(rows, feature_names=booster.feature_names), pred_contribs=True),
    ]


def _assert_predictions(responses: list[dict[str, Any]], booster: xgb.Booster) -> None:
    for response, expected in zip(responses, _expected(booster), strict=False):
        assert response["statusCode"] == 200, response["body"]
        predictions = np.asarray(json.loads(response["body"])["predictions"], dtype=np.float32)
        # float32 values survive JSON exactly: orjson writes their shortest round-trip form.
        np.testing.assert_array_equal(predictions, expected)
    listing = json.loads(responses[-1]["body"])
    assert [model["name"] for model in listing["models"]] == ["iris"]


@pytest.fixture(scope="module")
def package_run(
    lambda_package: BuiltPackage, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], xgb.Booster, list[str]]:
    """The handler run from the extracted package: (report, model, files before the run)."""
    workdir = tmp_path_factory.mktemp("package-run")
    root = workdir / "models"
    booster = train_booster("multiclass", seed=3)
    write_model(root, "iris", booster, layout="file")
    before = sorted(str(p) for p in lambda_package.task_root.rglob("*"))
    report = run_probe(lambda_package.python, [lambda_package.task_root], _events(), root, workdir)
    return report, booster, before


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_handler_in_the_package_predicts_what_the_project_predicts(
    package_run: tuple[dict[str, Any], xgb.Booster, list[str]], lambda_package: BuiltPackage
) -> None:
    report, booster, _ = package_run
    assert report["python"] == lambda_package.result.target.python_version
    _assert_predictions(report["responses"], booster)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_package_ships_valid_bytecode_for_every_imported_module(
    package_run: tuple[dict[str, Any], xgb.Booster, list[str]], lambda_package: BuiltPackage
) -> None:
    report, _, before = package_run
    assert lambda_package.result.interpreter is not None
    assert report["bad_bytecode"] == []
    # Had any .pyc been missing or stale, Python would have written one: on Lambda's
    # read-only /var/task it would instead recompile on every cold start.
    assert sorted(str(p) for p in lambda_package.task_root.rglob("*")) == before


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_every_prune_rule_removes_files_and_none_the_handler_reads(
    lambda_package: BuiltPackage, iris: tuple[Path, xgb.Booster], tmp_path: Path
) -> None:
    site = lambda_package.result.site
    source = tmp_path / "src"
    shutil.copytree(
        ROOT / "router", source / "router", ignore=shutil.ignore_patterns("__pycache__")
    )
    root, booster = iris
    # -B: the unpruned install is a shared cache; leave no bytecode in it.
    report = run_probe(
        lambda_package.python, [site, source], _events(), root, tmp_path, write_bytecode=False
    )
    _assert_predictions(report["responses"], booster)
    loaded = [
        Path(path).relative_to(site.resolve()).as_posix()
        for path in report["loaded"]
        if Path(path).is_relative_to(site.resolve())
    ]
    assert any(path.startswith("xgboost/") for path in loaded)
    for rule in PRUNE_RULES:
        assert [path for path in loaded if rule.matches(path)] == [], rule.name
        assert lambda_package.result.savings[rule.name].files > 0, f"{rule.name} prunes nothing"


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_package_fits_lambda_and_the_zip_holds_exactly_the_tree(
    lambda_package: BuiltPackage,
) -> None:
    result = lambda_package.result
    assert result.unzipped_bytes <= 150 * MIB
    assert result.zipped_bytes <= 50 * MIB  # Lambda's direct-upload limit
    assert result.sizes == sorted(result.sizes, key=lambda item: (-item[1], item[0]))
    assert sum(size for _, size in result.sizes) == result.unzipped_bytes
    with zipfile.ZipFile(result.output) as archive:
        names = sorted(info.filename for info in archive.infolist())
        unzipped = sum(info.file_size for info in archive.infolist())
    root = lambda_package.task_root
    assert names == sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert unzipped == result.unzipped_bytes
    assert "router/lambda_handler.py" in names
    assert not [name for name in names if name.split("/")[0] in {"boto3", "botocore"}]


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_package_records_the_architecture_of_its_compiled_library(
    lambda_package: BuiltPackage,
) -> None:
    """Terraform compares the record with var.architecture and the zip's hash at plan time."""
    result = lambda_package.result
    manifest = json.loads(build_package.manifest_path(result.output).read_text())
    library = lambda_package.task_root / build_package.XGBOOST_LIBRARY
    assert manifest["architecture"] == build_package.elf_architecture(library.read_bytes()[:64])
    assert manifest["architecture"] == result.target.architecture
    digest = base64.b64encode(hashlib.sha256(result.output.read_bytes()).digest()).decode()
    assert manifest["zip_base64sha256"] == digest


@pytest.mark.parametrize(("machine", "architecture"), [(62, "x86_64"), (183, "arm64")])
def test_elf_headers_name_lambdas_architectures(machine: int, architecture: str) -> None:
    # The first 20 bytes of a little-endian 64-bit ELF header: magic, class, data, version,
    # OS ABI, padding, e_type (shared object), e_machine.
    header = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + (3).to_bytes(2, "little")
    assert build_package.elf_architecture(header + machine.to_bytes(2, "little")) == architecture
    with pytest.raises(BuildError, match="neither"):
        build_package.elf_architecture(header + (40).to_bytes(2, "little"))  # 32-bit ARM
    with pytest.raises(BuildError, match="not an ELF"):
        build_package.elf_architecture(b"PK\x03\x04" + bytes(16))


def test_each_architecture_has_its_own_default_zip() -> None:
    paths = {build_package.default_output(name) for name in build_package.MACHINES}
    assert {path.name for path in paths} == {
        "model-router-lambda-x86_64.zip",
        "model-router-lambda-arm64.zip",
    }
    assert build_package.manifest_path(build_package.default_output("arm64")).name == (
        "model-router-lambda-arm64.json"
    )


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_inbox_imports_from_the_package_with_the_runtimes_boto3(
    lambda_package: BuiltPackage, tmp_path: Path
) -> None:
    """The package leaves boto3 out because Lambda's runtime has it; the inbox function, which
    runs the same package, must then find it there. A folder of this environment's copies
    stands in for the runtime's (they are pure Python)."""
    runtime = runtime_site(tmp_path)
    model = tmp_path / "model.ubj"
    model.write_bytes(model_bytes(train_booster("multiclass", seed=3)))
    # What the inbox holds before its first upload: its imports, its S3 client and one
    # validation; its peak must fit the reserve the memory budgets leave it, as the router's.
    code = (
        "import sys; sys.path[0:0] = sys.argv[1:3]; "
        "import router.publish.lambda_handler, router.publish.s3, boto3; "
        "assert callable(router.publish.lambda_handler.handler); print(boto3.__file__); "
        "router.publish.lambda_handler.s3_client(); "
        "from router.publish.validate import validate_model; "
        "validate_model(open(sys.argv[3], 'rb').read()); "
        "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')))"
    )
    paths = [str(lambda_package.task_root), str(runtime), str(model)]
    env = {"AWS_DEFAULT_REGION": "eu-west-1", "PATH": os.environ.get("PATH", "")}
    output = run_in_package(lambda_package.python, code, paths, env, timeout_s=120)
    boto3_file, peak_kib = output.split()
    assert boto3_file.startswith(str(runtime))
    assert_fits_the_process_reserve(peak_kib)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_package_handler_fits_the_memory_the_budgets_reserve_for_it(
    package_run: tuple[dict[str, Any], xgb.Booster, list[str]],
) -> None:
    """The budgets leave LAMBDA_PROCESS_RESERVE_MIB to the process: the package's handler,
    after its first predictions, must fit in it with room for Lambda's runtime client."""
    from router.settings import LAMBDA_PROCESS_RESERVE_MIB

    report, _, _ = package_run
    peak = report["peak_rss_mib"]
    assert peak <= LAMBDA_PROCESS_RESERVE_MIB - RUNTIME_CLIENT_MIB, f"{peak:.1f} MiB"
    assert 0 < report["import_rss_mib"] <= report["peak_rss_mib"]
