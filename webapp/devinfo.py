"""Printed by `make run`: how to log in and what to open."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from . import ROOT


def main(base_url: str, demo_url: str) -> None:
    path = ROOT / "instance" / "demo.json"
    if not path.exists():
        print("No demo workspace yet: run `make run` again or `flask --app wsgi signet demo`.")
        return
    demo = json.loads(path.read_text())
    lines = [
        "",
        f"  Dashboard:   {base_url}/login",
        f"  Log in as:   {demo['email']}",
        f"  Password:    {demo['password']}",
        f"  Workspace:   {demo['tenant_id']}",
    ]
    if Path(ROOT / "demo").exists():
        lines.append(f"  Demo page:   {demo_url}  (a customer site embedding the widget)")
    print("\n".join(lines + [""]))


if __name__ == "__main__":
    main(*sys.argv[1:3])
