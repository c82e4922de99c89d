"""Shared by the corpus tools (make_sound_corpus.py, make_image_corpus.py): Debian packages as data sources.
``apt-get download`` into a cache, ``dpkg -x`` each package, and ``CACHE/packages.json`` recording which version was
unpacked. Only ``apt-get`` needs the network (a Debian mirror); everything after it is offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

from avgen.utils import atomic_write_text

__all__ = ["download_packages", "deb_field", "find_deb"]


def deb_field(deb: str, field: str) -> str:
    """A control field (``Version``, ...) of a .deb file."""
    return subprocess.run(["dpkg-deb", "-f", deb, field], check=True, capture_output=True, text=True).stdout.strip()


def find_deb(folder: str, package: str) -> str | None:
    """The newest-named ``PACKAGE_*.deb`` in ``folder`` (None when there is none or no folder)."""
    if not os.path.isdir(folder):
        return None
    found = sorted(n for n in os.listdir(folder) if n.startswith(package + "_") and n.endswith(".deb"))
    return os.path.join(folder, found[-1]) if found else None


def download_packages(cache: str, packages, *, force: bool = False, reuse: str | None = None) -> list[str]:
    """Fetch every package's .deb into ``CACHE/debs`` (copied from ``reuse`` when that folder has it, downloaded
    again with ``force``) and unpack it afresh into ``CACHE/extracted/PKG`` (through a ``.part`` folder, so a rebuilt
    cache never mixes versions and an interrupted unpack leaves nothing half-written); ``CACHE/packages.json`` keeps
    ``{package: {version, deb}}`` across runs, so packages can be added one at a time. Prints a line per package and
    returns the packages that failed to download."""
    debs, extracted = os.path.join(cache, "debs"), os.path.join(cache, "extracted")
    os.makedirs(debs, exist_ok=True)
    os.makedirs(extracted, exist_ok=True)
    info_path = os.path.join(cache, "packages.json")
    info: dict = {}
    if os.path.isfile(info_path):
        with open(info_path) as f:
            info = json.load(f)
    failed = []
    for package in packages:
        t0 = time.time()
        deb = None if force else find_deb(debs, package)
        if deb is None and reuse and find_deb(reuse, package):  # a .deb already downloaded elsewhere
            shutil.copy2(find_deb(reuse, package), debs)
            deb = find_deb(debs, package)
        if deb is None:
            r = subprocess.run(["apt-get", "download", package], cwd=debs, capture_output=True, text=True)
            deb = find_deb(debs, package)
            if r.returncode != 0 or deb is None:
                print(f"{package}: apt-get download failed: {(r.stderr or r.stdout).strip().splitlines()[-1:]}",
                      file=sys.stderr)
                failed.append(package)
                continue
        target = os.path.join(extracted, package)
        shutil.rmtree(target + ".part", ignore_errors=True)
        subprocess.run(["dpkg", "-x", deb, target + ".part"], check=True)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(target + ".part", target)
        info[package] = {"version": deb_field(deb, "Version"), "deb": os.path.basename(deb)}
        print(f"{package} {info[package]['version']}: {time.time() - t0:.1f} s", flush=True)
        atomic_write_text(info_path, json.dumps(info, indent=1, sort_keys=True) + "\n")  # after each package
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return failed
