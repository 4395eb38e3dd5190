"""Build the Lambda deployment zip: the ``router`` package and its pinned dependencies.

Usage (from the project root, with the project's virtual environment)::

    python scripts/build_package.py                       # dist/model-router-lambda-x86_64.zip
    python scripts/build_package.py --architecture arm64  # dist/model-router-lambda-arm64.zip
    python scripts/build_package.py --update-lock         # re-pin scripts/lambda-requirements.txt

Steps, each of which prints what it did:

1. Install the wheels pinned (with hashes) in ``scripts/lambda-requirements.txt`` for
   manylinux, CPython 3.12 and the architecture, into a cache folder keyed by the lock's hash,
   so a rebuild after a code change downloads and unpacks nothing.
2. Copy them into a fresh tree, leaving out every file that a rule of ``PRUNE_RULES`` matches
   (each rule says why the router never needs those files; tests/packaging proves it).
3. Add the ``router`` package from this checkout.
4. Compile bytecode with a CPython of the target version, as unchecked-hash ``.pyc``: Lambda's
   code folder is read-only, so a missing or stale ``.pyc`` is recompiled in memory on every
   cold start. Without such an interpreter no bytecode ships, and the build says so.
5. Print the unzipped size of each top-level package; fail above ``--max-unzipped-mb``
   (150 by default) and always above Lambda's 262,144,000-byte limit.
6. Write a deterministic zip (sorted entries, fixed timestamps and permissions), so Terraform's
   ``source_code_hash`` changes only when the content does.
7. Write ``<zip without .zip>.json`` beside it: the architecture read from the ELF header of
   ``libxgboost.so`` in the tree (not from the option) and the zip's hash. Terraform refuses
   a package whose record names another architecture than ``var.architecture``, or another
   zip.

boto3, botocore and s3transfer are not shipped: the Lambda Python runtime provides them, they
would add about 33 MB unzipped (botocore alone is 31 MB), and only the inbox function uses
boto3 (the router never imports it).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import fnmatch
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

ROOT = Path(__file__).resolve().parent.parent
LOCK_FILE = ROOT / "scripts" / "lambda-requirements.txt"
DIST = ROOT / "dist"
DEFAULT_WORK_DIR = ROOT / ".cache" / "lambda-build"
SOURCE_PACKAGES = ("router",)

LAMBDA_PYTHON = "3.12"
# Lambda's python3.12 runtime runs on Amazon Linux 2023, whose glibc is 2.34.
LAMBDA_GLIBC_MINOR = 34
# Lambda names architectures x86_64 and arm64; wheels name them x86_64 and aarch64.
MACHINES = {"x86_64": "x86_64", "arm64": "aarch64"}
# e_machine of an ELF header (System V ABI) -> Lambda's architecture.
ELF_MACHINES = {62: "x86_64", 183: "arm64"}
# The compiled library whose architecture the package is recorded with.
XGBOOST_LIBRARY = Path("xgboost") / "lib" / "libxgboost.so"
# Lambda's limit on a function's unzipped code (AWS's "250 MB" is 250 MiB).
LAMBDA_UNZIPPED_LIMIT = 262_144_000
MIB = 1024 * 1024
DEFAULT_MAX_UNZIPPED_MB = 150
# Above this a zip cannot be uploaded directly (Terraform's `filename`); it must go via S3.
LAMBDA_DIRECT_UPLOAD_LIMIT = 50 * MIB
# Where Lambda unpacks the code; tracebacks show these paths instead of the build machine's.
LAMBDA_TASK_ROOT = "/var/task"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# Never shipped, even when something in the lock depends on them: the runtime provides them.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer"})


@dataclass(frozen=True, slots=True)
class PruneRule:
    """Files left out of the package. Patterns are ``fnmatch`` globs over a file's path
    relative to the package root, with ``/`` separators; ``*`` also matches ``/``."""

    name: str
    patterns: tuple[str, ...]
    reason: str

    def matches(self, path: str) -> bool:
        return any(fnmatch.fnmatchcase(path, pattern) for pattern in self.patterns)


# Used by the router: scipy.sparse (xgboost.core imports it) and scipy.special (xgboost.sklearn,
# which `import xgboost` imports) with their shared scipy._lib. Nothing else in scipy is, not
# even scipy.sparse.linalg or .csgraph, which scipy.sparse loads only when asked for them.
SCIPY_UNUSED = (
    "cluster",
    "constants",
    "datasets",
    "differentiate",
    "fft",
    "fftpack",
    "integrate",
    "interpolate",
    "io",
    "linalg",
    "misc",
    "ndimage",
    "odr",
    "optimize",
    "signal",
    "spatial",
    "stats",
    "sparse/csgraph",
    "sparse/linalg",
)

PRUNE_RULES: tuple[PruneRule, ...] = (
    PruneRule(
        "scipy-unused-subpackages",
        tuple(f"scipy/{name}/*" for name in SCIPY_UNUSED),
        "xgboost needs only scipy.sparse and scipy.special; the other subpackages "
        "(optimize, stats, linalg, io, ...) are never imported by the router",
    ),
    PruneRule(
        "xgboost-distributed",
        ("xgboost/dask/*", "xgboost/spark/*"),
        "Dask and Spark integrations for distributed training; the router only predicts",
    ),
    PruneRule(
        "test-suites",
        ("tests/*", "*/tests/*", "xgboost/testing/*", "scipy/conftest.py", "numpy/conftest.py"),
        "the libraries' own test suites and pytest hooks; nothing imports them at run time",
    ),
    PruneRule(
        "c-headers-and-sources",
        ("*.h", "*.hpp", "*.pxd", "*.pyx", "*.pxi", "*.c", "*.cpp", "*/include/*"),
        "headers and Cython/C sources for compiling against numpy, scipy or xgboost; "
        "nothing is compiled on Lambda",
    ),
    PruneRule(
        "static-libraries",
        ("*.a", "*/lib/pkgconfig/*", "*/lib/npy-pkg-config/*"),
        "static libraries and pkg-config files, only read by compilers and linkers",
    ),
    PruneRule(
        "type-stubs",
        ("*.pyi", "*/py.typed"),
        "type information for type checkers; the interpreter never reads it",
    ),
    PruneRule(
        "console-scripts",
        ("bin/*",),
        "pip --target puts entry-point scripts here; their #! names the build machine's "
        "Python and Lambda never runs them",
    ),
    PruneRule(
        "install-records",
        ("*.dist-info/RECORD",),
        "pip's list of what it installed, for uninstalling; it hashes the console scripts, "
        "whose #! differs between build machines, so keeping it would make the zip differ too",
    ),
)


class BuildError(Exception):
    """The package cannot be built as asked; the message says why and what to do."""


# ---------------------------------------------------------------------------------------
# Target and lock
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """What the package runs on: a Lambda architecture and a CPython version."""

    architecture: str = "x86_64"
    python_version: str = LAMBDA_PYTHON

    def __post_init__(self) -> None:
        if self.architecture not in MACHINES:
            raise BuildError(f"architecture must be one of {', '.join(MACHINES)}")
        if not re.fullmatch(r"3\.\d+", self.python_version):
            raise BuildError(f"python version must look like 3.12, not {self.python_version!r}")

    def __str__(self) -> str:
        return f"{self.architecture}, CPython {self.python_version}"

    @property
    def machine(self) -> str:
        return MACHINES[self.architecture]

    @property
    def python_tag(self) -> str:
        return "cp" + self.python_version.replace(".", "")

    def pip_args(self) -> list[str]:
        """pip options that select manylinux wheels for this target, newest glibc first (pip
        does not expand ``manylinux_2_X`` to the older versions it implies)."""
        platforms = [
            f"manylinux_2_{minor}_{self.machine}" for minor in range(LAMBDA_GLIBC_MINOR, 16, -1)
        ]
        platforms.append(f"manylinux2014_{self.machine}")
        args = ["--only-binary=:all:", "--implementation", "cp"]
        args += ["--python-version", self.python_version]
        for platform in platforms:
            args += ["--platform", platform]
        return args


@dataclass(frozen=True, slots=True)
class Pin:
    name: str
    version: str
    hashes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Lock:
    """``scripts/lambda-requirements.txt``: exact versions and the sha256 of every wheel."""

    pins: tuple[Pin, ...]
    python_version: str
    dependencies_sha256: str
    sha256: str


def canonical_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def project_dependencies(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """``[project].dependencies``: what the router needs at run time."""
    with pyproject.open("rb") as handle:
        dependencies: list[str] = tomllib.load(handle)["project"]["dependencies"]
    return dependencies


def dependencies_sha256(dependencies: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(dependencies)).encode()).hexdigest()


def read_lock(path: Path = LOCK_FILE) -> Lock:
    text = path.read_text()
    header = dict(re.findall(r"^# ([a-z0-9-]+): (\S+)$", text, flags=re.MULTILINE))
    pins = []
    for requirement in re.sub(r"\\\n\s*", " ", text).splitlines():
        requirement = requirement.split("#", 1)[0].strip()
        if not requirement:
            continue
        match = re.fullmatch(
            r"([A-Za-z0-9._-]+)==(\S+)((?:\s+--hash=sha256:[0-9a-f]{64})*)", requirement
        )
        if match is None:
            raise BuildError(f"{path.name}: cannot read the line {requirement!r}")
        hashes = tuple(re.findall(r"sha256:([0-9a-f]{64})", match[3]))
        pins.append(Pin(canonical_name(match[1]), match[2], hashes))
    try:
        return Lock(
            pins=tuple(pins),
            python_version=header["python"],
            dependencies_sha256=header["dependencies-sha256"],
            sha256=hashlib.sha256(text.encode()).hexdigest(),
        )
    except KeyError as exc:
        raise BuildError(f"{path.name} has no '# {exc.args[0]}:' header line") from exc


def resolve(
    target: Target, requirements: Sequence[str], *, python: Path, constraints: Path | None
) -> dict[str, tuple[str, str]]:
    """What pip would install for ``target``: name -> (version, wheel sha256)."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        command = [str(python), "-m", "pip", "install", "--dry-run", "--ignore-installed"]
        # Old pips accept platform options only with --target, which --dry-run never writes.
        command += ["--target", str(Path(scratch) / "unused"), "--quiet", "--report", str(report)]
        command += target.pip_args()
        if constraints is not None:
            command += ["--constraint", str(constraints)]
        run(command + list(requirements))
        installs = json.loads(report.read_text())["install"]
    resolved = {}
    for item in installs:
        name = canonical_name(item["metadata"]["name"])
        digest = item["download_info"].get("archive_info", {}).get("hashes", {}).get("sha256")
        if digest is None:
            raise BuildError(f"pip reported no sha256 for {name}")
        resolved[name] = (item["metadata"]["version"], digest)
    return resolved


def update_lock(
    path: Path = LOCK_FILE,
    *,
    python: Path,
    python_version: str = LAMBDA_PYTHON,
    match_environment: bool = True,
) -> Lock:
    """Resolve ``[project].dependencies`` for every architecture and write the lock.

    With ``match_environment``, a package installed where this script runs (the environment
    the tests ran in) keeps that version; the others get the newest that fits.
    """
    dependencies = project_dependencies()
    with tempfile.TemporaryDirectory() as scratch:
        constraints = _environment_constraints(Path(scratch)) if match_environment else None
        resolutions = {
            architecture: resolve(
                Target(architecture, python_version),
                dependencies,
                python=python,
                constraints=constraints,
            )
            for architecture in MACHINES
        }
    versions = {
        architecture: sorted((name, version) for name, (version, _) in resolved.items())
        for architecture, resolved in resolutions.items()
    }
    if len({tuple(pins) for pins in versions.values()}) > 1:
        raise BuildError(f"the architectures resolve to different versions: {versions}")
    lines = [
        "# Pinned dependencies of the Lambda package, with the sha256 of each wheel for every",
        "# architecture. Generated by `python scripts/build_package.py --update-lock` from",
        "# [project].dependencies in pyproject.toml; do not edit by hand.",
        f"# python: {python_version}",
        f"# architectures: {' '.join(MACHINES)}",
        f"# dependencies-sha256: {dependencies_sha256(dependencies)}",
    ]
    for name, version in versions["x86_64"]:
        if name in RUNTIME_PROVIDED:
            continue
        hashes = sorted({resolved[name][1] for resolved in resolutions.values()})
        lines.append(
            " \\\n    ".join([f"{name}=={version}"] + [f"--hash=sha256:{h}" for h in hashes])
        )
    path.write_text("\n".join(lines) + "\n")
    return read_lock(path)


def _environment_constraints(folder: Path) -> Path:
    """A pip constraints file: ``name==version`` for each distribution installed here."""
    installed = {
        canonical_name(dist.metadata["Name"]): dist.version
        for dist in importlib.metadata.distributions()
        if dist.metadata["Name"]
    }
    installed.pop("model-router", None)
    constraints = folder / "constraints.txt"
    constraints.write_text(
        "".join(f"{name}=={version}\n" for name, version in sorted(installed.items()))
    )
    return constraints


# ---------------------------------------------------------------------------------------
# Interpreter, install, tree
# ---------------------------------------------------------------------------------------


def run(command: Sequence[str]) -> None:
    """Run a command, its output going to ours; a failure is a ``BuildError``."""
    try:
        subprocess.run(command, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise BuildError(f"{Path(command[0]).name} failed: {exc}") from exc


def interpreter_version(python: Path) -> str | None:
    """``"3.12"`` for a working CPython 3.12 at ``python``, else None (e.g. a pyenv shim for
    a version that is installed but not active)."""
    probe = "import sys; print(sys.implementation.name, '%d.%d' % sys.version_info[:2])"
    try:
        result = subprocess.run(
            [str(python), "-c", probe], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    implementation, _, version = result.stdout.strip().partition(" ")
    return version if result.returncode == 0 and implementation == "cpython" else None


def find_interpreter(version: str) -> Path | None:
    """A CPython ``version`` on this machine: ``pythonX.Y`` on PATH, pyenv's, uv's, or the one
    running this script."""
    candidates: list[Path] = []
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(Path(on_path))
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    pyenv_versions = pyenv_root.glob(f"versions/{version}.*/bin/python{version}")
    candidates += sorted(
        pyenv_versions, key=lambda p: _version_key(p.parent.parent.name), reverse=True
    )
    uv = shutil.which("uv")
    if uv:
        found = subprocess.run(
            [uv, "python", "find", "--no-python-downloads", version],
            capture_output=True,
            text=True,
            check=False,
        )
        if found.returncode == 0 and found.stdout.strip():
            candidates.append(Path(found.stdout.strip()))
    candidates.append(Path(sys.executable))
    return next((c for c in candidates if interpreter_version(c) == version), None)


def _version_key(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text))


def install_dependencies(lock_path: Path, lock: Lock, target: Target, work_dir: Path) -> Path:
    """The locked wheels unpacked for ``target``; reused while the lock and target match."""
    key = hashlib.sha256(f"{lock.sha256} {target.pip_args()}".encode()).hexdigest()[:16]
    prefix = f"site-{target.architecture}-{target.python_tag}-"
    site = work_dir / f"{prefix}{key}"
    if site.is_dir():
        print(f"Dependencies: reusing {_shown(site)}")
        return site
    for stale in work_dir.glob(f"{prefix}*"):
        shutil.rmtree(stale)
    partial = work_dir / f"partial-{site.name}"
    shutil.rmtree(partial, ignore_errors=True)
    print(f"Dependencies: installing {len(lock.pins)} pinned wheels for {target}")
    with tempfile.TemporaryDirectory() as scratch:
        requirements = lock_path
        if target.python_version != lock.python_version:
            # The lock's hashes are of wheels for its Python version; others have other wheels.
            print(
                f"WARNING: the lock is for Python {lock.python_version}; installing its "
                f"versions for Python {target.python_version} without checking hashes"
            )
            requirements = Path(scratch) / "requirements.txt"
            requirements.write_text("".join(f"{p.name}=={p.version}\n" for p in lock.pins))
        command = [sys.executable, "-m", "pip", "install", "--target", str(partial)]
        command += ["--no-deps", "--no-compile", "--no-warn-script-location", "--quiet"]
        run([*command, *target.pip_args(), "-r", str(requirements)])
    partial.rename(site)
    return site


@dataclass(slots=True)
class Savings:
    files: int = 0
    bytes: int = 0


def files_under(root: Path) -> Iterator[tuple[str, Path]]:
    """Every regular file under ``root`` as (posix path relative to root, path), sorted."""
    found = []
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            if path.is_file() and not path.is_symlink():
                found.append((path.relative_to(root).as_posix(), path))
    yield from sorted(found)


def assemble_tree(
    site: Path, tree: Path, rules: Sequence[PruneRule] = PRUNE_RULES, sources: Sequence[Path] = ()
) -> dict[str, Savings]:
    """Fill ``tree`` with the dependencies that no rule prunes, plus the source packages."""
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    savings = {rule.name: Savings() for rule in rules}
    for relative, path in files_under(site):
        rule = next((rule for rule in rules if rule.matches(relative)), None)
        if rule is not None:
            savings[rule.name].files += 1
            savings[rule.name].bytes += path.stat().st_size
            continue
        _link_or_copy(path, tree / relative)
    for package in sources:
        for relative, path in files_under(package):
            if "__pycache__" not in relative.split("/") and not relative.endswith(".pyc"):
                destination = tree / package.name / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, destination)
    return savings


def _link_or_copy(source: Path, destination: Path) -> None:
    """Hard links are free; the tree never modifies a file, it only adds ``__pycache__``."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def compile_bytecode(tree: Path, python: Path) -> None:
    """Unchecked-hash ``.pyc`` beside every module (on all cores), recording the
    ``/var/task/...`` paths that tracebacks on Lambda will show."""
    command = [str(python), "-m", "compileall", "-q", "-j", "0"]
    command += ["--invalidation-mode", "unchecked-hash", "-s", str(tree), "-p", LAMBDA_TASK_ROOT]
    run([*command, str(tree)])


def package_sizes(tree: Path) -> list[tuple[str, int]]:
    """Unzipped bytes per top-level entry, largest first; all ``*.dist-info`` as one."""
    sizes: dict[str, int] = {}
    for relative, path in files_under(tree):
        top = relative.split("/", 1)[0]
        top = "*.dist-info" if top.endswith(".dist-info") else top
        sizes[top] = sizes.get(top, 0) + path.stat().st_size
    return sorted(sizes.items(), key=lambda item: (-item[1], item[0]))


def write_zip(tree: Path, output: Path) -> int:
    """A zip whose bytes depend only on the tree's file names, contents and exec bits."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative, path in files_under(tree):
            info = zipfile.ZipInfo(relative, date_time=ZIP_EPOCH)
            info.create_system = 3  # Unix, so the permissions below are honoured
            mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    partial.replace(output)
    return output.stat().st_size


# ---------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------


def default_output(architecture: str) -> Path:
    """``dist/model-router-lambda-<architecture>.zip``: Terraform's default package_path."""
    return DIST / f"model-router-lambda-{architecture}.zip"


def manifest_path(package: Path) -> Path:
    """The record beside a zip: ``x.zip`` -> ``x.json`` (Terraform reads it at plan time)."""
    return package.with_suffix(".json")


def elf_architecture(header: bytes) -> str:
    """Lambda's name for the machine an ELF file was compiled for."""
    if header[:4] != b"\x7fELF" or len(header) < 20:
        raise BuildError("not an ELF file")
    byteorder: Literal["little", "big"] = "little" if header[5] == 1 else "big"
    machine = int.from_bytes(header[18:20], byteorder)
    try:
        return ELF_MACHINES[machine]
    except KeyError:
        raise BuildError(f"ELF machine {machine} is neither x86_64 nor arm64") from None


def write_manifest(tree: Path, package: Path, target: Target) -> dict[str, str]:
    """Record the package's architecture, as its compiled library says, beside the zip."""
    library = tree / XGBOOST_LIBRARY
    with library.open("rb") as file:
        architecture = elf_architecture(file.read(64))
    if architecture != target.architecture:
        raise BuildError(
            f"{XGBOOST_LIBRARY} in the package is built for {architecture}, not "
            f"{target.architecture}: the wheels installed are for the wrong architecture"
        )
    digest = base64.b64encode(hashlib.sha256(package.read_bytes()).digest()).decode()
    manifest = {
        "architecture": architecture,
        "python_version": target.python_version,
        # As Terraform's filebase64sha256() spells it.
        "zip_base64sha256": digest,
    }
    manifest_path(package).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


@dataclass(frozen=True, slots=True)
class BuildOptions:
    target: Target = field(default_factory=Target)
    # None: default_output(target.architecture).
    output: Path | None = None
    work_dir: Path = DEFAULT_WORK_DIR
    lock_path: Path = LOCK_FILE
    max_unzipped_bytes: int = DEFAULT_MAX_UNZIPPED_MB * MIB
    # The CPython that compiles bytecode; None looks for one of the target's version.
    interpreter: Path | None = None
    bytecode: bool = True


@dataclass(frozen=True, slots=True)
class BuildResult:
    output: Path
    tree: Path
    site: Path
    target: Target
    # The interpreter that compiled the shipped bytecode; None when none shipped.
    interpreter: Path | None
    unzipped_bytes: int
    zipped_bytes: int
    sizes: list[tuple[str, int]]
    savings: dict[str, Savings]
    seconds: dict[str, float]


def build(options: BuildOptions) -> BuildResult:
    target = options.target
    output = options.output or default_output(target.architecture)
    lock = read_lock(options.lock_path)
    if lock.dependencies_sha256 != dependencies_sha256(project_dependencies()):
        raise BuildError(
            "[project].dependencies changed since the lock was made: run "
            "`python scripts/build_package.py --update-lock` and commit the lock"
        )
    interpreter = _bytecode_interpreter(options)
    seconds: dict[str, float] = {}
    with _exclusive(options.work_dir):
        with _timed(seconds, "install"):
            site = install_dependencies(options.lock_path, lock, target, options.work_dir)
        with _timed(seconds, "assemble"):
            tree = options.work_dir / f"tree-{target.architecture}-{target.python_tag}"
            savings = assemble_tree(
                site, tree, PRUNE_RULES, [ROOT / name for name in SOURCE_PACKAGES]
            )
        if interpreter is not None:
            with _timed(seconds, "compile"):
                compile_bytecode(tree, interpreter)
        sizes = package_sizes(tree)
        unzipped = sum(size for _, size in sizes)
        _print_report(target, sizes, savings, unzipped, options.max_unzipped_bytes)
        _check_size(unzipped, options.max_unzipped_bytes)
        with _timed(seconds, "zip"):
            zipped = write_zip(tree, output)
        write_manifest(tree, output, target)
    print(f"Zip: {_shown(output)}, {_mib(zipped)} ({zipped:,} bytes), {target.architecture}")
    print(f"Architecture recorded in {_shown(manifest_path(output))}")
    if zipped > LAMBDA_DIRECT_UPLOAD_LIMIT:
        print(
            f"WARNING: above {_mib(LAMBDA_DIRECT_UPLOAD_LIMIT)} zipped, Lambda refuses a direct "
            "upload; deploy it through an S3 object instead"
        )
    print("Seconds: " + ", ".join(f"{step} {value:.1f}" for step, value in seconds.items()))
    return BuildResult(
        output=output,
        tree=tree,
        site=site,
        target=target,
        interpreter=interpreter,
        unzipped_bytes=unzipped,
        zipped_bytes=zipped,
        sizes=sizes,
        savings=savings,
        seconds=seconds,
    )


def _bytecode_interpreter(options: BuildOptions) -> Path | None:
    version = options.target.python_version
    if not options.bytecode:
        print("Bytecode: not compiled (--no-bytecode); every cold start compiles in memory")
        return None
    if options.interpreter is not None:
        found = interpreter_version(options.interpreter)
        if found != version:
            found = found or "not runnable"
            raise BuildError(f"{options.interpreter} is not a CPython {version} ({found})")
        return options.interpreter
    interpreter = find_interpreter(version)
    if interpreter is None:
        print(
            f"WARNING: no CPython {version} found (python{version} on PATH, pyenv, uv), so the "
            f"package ships NO bytecode: every cold start compiles every imported module in "
            f"memory (~0.7 s). Install Python {version} or pass --interpreter."
        )
    else:
        print(f"Bytecode: compiling with {interpreter}")
    return interpreter


def _check_size(unzipped: int, limit: int) -> None:
    if unzipped > LAMBDA_UNZIPPED_LIMIT:
        raise BuildError(
            f"{unzipped:,} bytes unzipped is above Lambda's limit of {LAMBDA_UNZIPPED_LIMIT:,}"
        )
    if unzipped > limit:
        raise BuildError(
            f"{unzipped:,} bytes unzipped is above the {_mib(limit)} budget (--max-unzipped-mb): "
            "prune more, or raise the budget knowingly"
        )


def _print_report(
    target: Target,
    sizes: list[tuple[str, int]],
    savings: dict[str, Savings],
    unzipped: int,
    limit: int,
) -> None:
    print(f"Unzipped size by top-level entry ({target}):")
    for name, size in sizes:
        print(f"  {_mib(size):>10}  {name}")
    print(f"  {_mib(unzipped):>10}  total ({unzipped:,} bytes)")
    print(f"  {_mib(limit):>10}  budget (--max-unzipped-mb)")
    print(f"  {_mib(LAMBDA_UNZIPPED_LIMIT):>10}  Lambda's limit")
    print("Pruned:")
    for rule in PRUNE_RULES:
        saved = savings[rule.name]
        print(f"  {_mib(saved.bytes):>10}  {rule.name} ({saved.files} files)")
    print(f"  {_mib(sum(s.bytes for s in savings.values())):>10}  total")


def _mib(size: int) -> str:
    return f"{size / MIB:.1f} MiB"


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


@contextlib.contextmanager
def _exclusive(work_dir: Path) -> Iterator[None]:
    """One build at a time per work folder (a test and a developer may both build)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    ignore = work_dir / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Build cache of scripts/build_package.py\n*\n")
    with (work_dir / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def _timed(seconds: dict[str, float], step: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds[step] = time.perf_counter() - started


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--architecture",
        choices=sorted(MACHINES),
        default="x86_64",
        help="Lambda architecture (default x86_64)",
    )
    parser.add_argument(
        "--python-version",
        default=LAMBDA_PYTHON,
        help=f"target CPython (default {LAMBDA_PYTHON}, Lambda's runtime)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="the zip to write (default dist/model-router-lambda-<architecture>.zip)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=DEFAULT_WORK_DIR,
        help="cache of unpacked wheels and the tree (default .cache/lambda-build)",
    )
    parser.add_argument(
        "--max-unzipped-mb",
        type=int,
        default=DEFAULT_MAX_UNZIPPED_MB,
        help="fail above this many MiB unzipped (default 150)",
    )
    parser.add_argument(
        "--interpreter",
        type=Path,
        help="CPython of the target version that compiles the bytecode (default: found)",
    )
    parser.add_argument(
        "--no-bytecode", action="store_true", help="ship no .pyc (slower cold starts)"
    )
    parser.add_argument(
        "--update-lock",
        action="store_true",
        help="re-resolve scripts/lambda-requirements.txt and exit",
    )
    parser.add_argument(
        "--newest",
        action="store_true",
        help="with --update-lock: newest versions, not this environment's",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        target = Target(args.architecture, args.python_version)
        if args.update_lock:
            python = find_interpreter(target.python_version)
            if python is None:
                print(
                    f"WARNING: no CPython {target.python_version}: pip judges markers for this one"
                )
                python = Path(sys.executable)
            lock = update_lock(
                python=python,
                python_version=target.python_version,
                match_environment=not args.newest,
            )
            print(f"Wrote {_shown(LOCK_FILE)}: {len(lock.pins)} packages")
            return 0
        build(
            BuildOptions(
                target=target,
                output=args.output.resolve() if args.output else None,
                work_dir=args.work_dir.resolve(),
                max_unzipped_bytes=args.max_unzipped_mb * MIB,
                interpreter=args.interpreter,
                bytecode=not args.no_bytecode,
            )
        )
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
