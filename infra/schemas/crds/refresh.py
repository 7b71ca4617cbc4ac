"""Refresh the operators' CRD schemas kept here for offline validation (tests/deploy).

    python infra/schemas/crds/refresh.py CRD.yaml [CRD.yaml ...]

Each CRD file (from the operator's repository, `config/crd/bases/`) becomes one JSON Schema per
served version, named `<kind>.<group>.<version>.json`. SOURCES.md records which commit of which
repository the files came from; update it with the files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).parent


def main(paths: list[str]) -> int:
    for path in paths:
        crd = yaml.safe_load(Path(path).read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if not version.get("served"):
                continue
            schema = version["schema"]["openAPIV3Schema"]
            target = HERE / f"{kind.lower()}.{group}.{version['name']}.json"
            target.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
            sys.stdout.write(f"{target.name}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
