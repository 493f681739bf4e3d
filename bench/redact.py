"""Keeps the paths of the machine a benchmark ran on out of the results files that get committed.

The checkout's own prefix becomes nothing (paths read relative to the repository); other absolute paths under
/tmp, /work, /root or /home keep only what follows their first, machine-specific components. System paths
(/usr, /etc, /dev) stay: they name the software and the disk measured, the same on every machine of a kind.
"""
import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_NOT_AFTER = r"(?<![\w.~<>-])"
_RULES = (
    (re.compile(_NOT_AFTER + r"/tmp/"), "<tmp>/"),
    (re.compile(_NOT_AFTER + r"/work/[^/\s\"']+/"), "<checkout>/"),
    (re.compile(_NOT_AFTER + r"/home/[^/\s\"']+/"), "~/"),
    (re.compile(_NOT_AFTER + r"/root/"), "~/"),
)


def redact(text):
    text = text.replace(ROOT + "/", "")
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def write_text(path, text):
    with open(path, "w") as f:
        f.write(redact(text))


def write_json(path, doc):
    write_text(path, json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    # Redacts results files in place: bench/redact.py FILE...
    import sys
    for p in sys.argv[1:]:
        with open(p) as f:
            old = f.read()
        new = redact(old)
        if new != old:
            with open(p, "w") as f:
                f.write(new)
