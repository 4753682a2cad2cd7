#!/usr/bin/env python3
"""Fill {{NAME}} placeholders in a template from the environment (bench/gateway/run.sh).

Usage: render.py TEMPLATE OUTPUT. Fails, naming the placeholder, when a variable is unset,
so a config is never written with a hole in it.
"""
import os
import re
import sys


def main() -> int:
    template, output = sys.argv[1], sys.argv[2]
    with open(template, encoding="utf-8") as f:
        text = f.read()

    def fill(match: re.Match) -> str:
        name = match.group(1)
        if name not in os.environ:
            sys.exit(f"render.py: {template}: {{{{{name}}}}} has no value (set ${name})")
        return os.environ[name]

    with open(output, "w", encoding="utf-8") as f:
        f.write(re.sub(r"\{\{([A-Z_][A-Z0-9_]*)\}\}", fill, text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
