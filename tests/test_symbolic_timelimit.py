"""kernelalg.symbolic.timelimit: SymPy integrals under a time limit in forked children."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = str(Path(__file__).resolve().parent.parent)


LIMITED = textwrap.dedent("""
    import json, threading, time
    from kernelalg.symbolic.timelimit import TimeLimitExceeded, can_limit, limited, recording

    def fail():
        raise ValueError("inside")

    out = {"single_threaded": can_limit(), "value": limited(pow, (2, 10), 5)}
    try:
        limited(fail, (), 5)
    except ValueError as exc:
        out["error"] = str(exc)
    with recording() as hits:
        try:
            limited(time.sleep, (30,), 0.5)
        except TimeLimitExceeded:
            out["stopped"] = True
    out["hits"] = hits
    threading.Thread(target=time.sleep, args=(2,), daemon=True).start()
    out["threaded_can_limit"] = can_limit()
    out["threaded_value"] = limited(pow, (3, 3), 5)  # runs in this process, without a limit
    print(json.dumps(out))
""")


def test_time_limited_calls_in_a_forked_child():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)}
    out = json.loads(subprocess.run([sys.executable, "-c", LIMITED], capture_output=True, text=True, env=env,
                                    check=True, timeout=120).stdout)
    assert out == {"single_threaded": True, "value": 1024, "error": "inside", "stopped": True, "hits": [0.5],
                   "threaded_can_limit": False, "threaded_value": 27}
