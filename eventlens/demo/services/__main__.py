"""`python -m eventlens.demo.services <name> [options]`: run one demo service."""

from __future__ import annotations

import importlib
import sys

from eventlens.demo.services import SERVICES


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the named service's `main`."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in SERVICES:
        print(f"usage: python -m eventlens.demo.services {{{','.join(SERVICES)}}} [options]", file=sys.stderr)
        return 2
    module = importlib.import_module(SERVICES[args[0]])
    result: int = module.main(args[1:])
    return result


if __name__ == "__main__":
    sys.exit(main())
