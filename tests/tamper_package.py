#!/usr/bin/env python3
"""Copy an AOTInductor package with some of its metadata changed, as another machine's export would be.

    tamper_package.py IN.pt2 OUT.pt2 KEY=VALUE...

Every model's metadata JSON in the archive gets KEY set to VALUE (strings); nothing else changes.
The tests use it to check what the C++ loader refuses before it loads any compiled code.
"""
import json
import sys
import zipfile


def main():
    src, dst, *pairs = sys.argv[1:]
    changes = dict(p.split("=", 1) for p in pairs)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename.endswith("_metadata.json"):
                meta = json.loads(data)
                meta.update(changes)
                data = json.dumps(meta).encode()
            zout.writestr(info, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
