"""doppel never captures its own replay (GoReplay issues #292, #918): capturing lo:P while
replaying to the same server on lo:P, the replayed requests are not captured again. Needs root
and nginx (started by the test, as in test_capture_live.py)."""
import os
import shutil
import subprocess

import pytest

import dp
from test_capture_live import nginx, start_capture, stop_capture  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("nginx") is None,
                                reason="needs root and nginx")


def test_replay_to_the_captured_port_is_not_captured(nginx, tmp_path):  # noqa: F811
    out = tmp_path / "cap.gor"
    p = start_capture(nginx, out, "--output-http", f"http://127.0.0.1:{nginx}",
                      "--output-http-track-response")
    for i in range(5):
        subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{nginx}/index.html?c={i}"],
                       check=True)
    err = stop_capture(p)
    recs = dp.records(out.read_bytes())
    reqs = [pl.split(b"\r\n")[0] for m, pl in recs if m.startswith(b"1 ")]
    replays = [pl.split(b"\r\n")[0] for m, pl in recs if m.startswith(b"3 ")]
    # curl's 5 requests were captured once each and replayed once each; nothing more
    assert reqs == [f"GET /index.html?c={i} HTTP/1.1".encode() for i in range(5)]
    assert replays == [b"HTTP/1.1 200 OK"] * 5
    log = (tmp_path / "access.log").read_text().splitlines()
    assert len(log) == 10, log
    s = dp.summary(err)
    assert s["input-raw#0"]["self_conns"] >= 1
    assert s["output-http#0"]["delivered"] == 5
    dp.check_invariants(s)
