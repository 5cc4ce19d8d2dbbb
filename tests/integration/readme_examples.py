"""Run the README's copy-paste examples verbatim (used by test_sweep.py and test_slurm.py).

A README example is written for a user at the repository root (`build/vmemsim ...`,
`scenarios/...`, output under `results/`). To run it verbatim without touching the source tree,
the tests make a scratch directory with `build/vmemsim` -> the binary under test and
`scenarios` -> the source tree's scenarios, and run each fenced `sh` block there with bash.
"""
import os
import re
import subprocess
import tempfile


def section(src, title):
    """The text of the README section `## title` (up to the next `## ` heading)."""
    with open(os.path.join(src, "README.md")) as f:
        text = f.read()
    m = re.search(r"^## " + re.escape(title) + r"\s*$(.*?)(?=^## |\Z)", text, re.S | re.M)
    if not m:
        raise SystemExit(f"README.md has no section '## {title}'")
    return m.group(1)


def blocks(text, lang):
    """The fenced ```lang blocks of `text`, in order."""
    return [b for b in re.findall(r"^```" + re.escape(lang) + r"\n(.*?)^```", text, re.S | re.M)]


def scratch_dir(binary, src):
    """A directory laid out like the repository root for the examples."""
    d = tempfile.mkdtemp(prefix="vmemsim-readme-")
    os.makedirs(os.path.join(d, "build"))
    os.symlink(os.path.abspath(binary), os.path.join(d, "build", "vmemsim"))
    os.symlink(os.path.join(os.path.abspath(src), "scenarios"), os.path.join(d, "scenarios"))
    os.symlink(os.path.join(os.path.abspath(src), "tools"), os.path.join(d, "tools"))
    return d


def run_block(block, cwd, env=None, timeout=600):
    """Runs one example block with `bash -e`; returns the CompletedProcess."""
    print("$ " + block.strip().replace("\n", "\n$ "))
    return subprocess.run(["bash", "-e", "-c", block], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
