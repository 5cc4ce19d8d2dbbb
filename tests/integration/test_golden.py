"""Golden results for regressions: every case of tests/golden/cases.json gives a result.json
byte-identical to the recorded one (tools/golden.py; each run is its own process)."""
import os
import subprocess
import sys
from harness import *

p = subprocess.run([sys.executable, os.path.join(SRC, "tools", "golden.py"), "--bin", BIN, "--check", "-j", "2"],
                   capture_output=True, text=True, timeout=900)
print(p.stdout + p.stderr)
check(p.returncode == 0, "golden results unchanged (update with `python3 tools/golden.py --update` when intended)")
finish()
