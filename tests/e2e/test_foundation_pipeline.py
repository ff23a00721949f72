"""Pipeline behaviour: split, limiters, pacing, exit, signals, stats (issue 2)."""
import os
import signal
import subprocess
import time

import dp


def make_file(path, n, step_ns=0, body=b""):
    base = 1_700_000_000_000_000_000
    path.write_bytes(b"".join(dp.request(i, ts=base + i * step_ns, body=body) for i in range(n)))
    return path


def test_split_output_round_robin(tmp_path):
    src = make_file(tmp_path / "in.gor", 1000)
    a, b = tmp_path / "a.gor", tmp_path / "b.gor"
    r = dp.run("--input-file", f"{src}|max", "--split-output", "--output-file", a,
               "--output-file", b, "--output-file-append", check=0)
    s = dp.summary(r.err)
    dp.check_invariants(s)
    assert s["output-file#0"]["delivered"] == 500 and s["output-file#1"]["delivered"] == 500
    ra, rb = dp.records(a.read_bytes()), dp.records(b.read_bytes())
    assert [m.split()[1] for m, _ in ra] == [f"{i:024x}".encode() for i in range(0, 1000, 2)]
    assert [m.split()[1] for m, _ in rb] == [f"{i:024x}".encode() for i in range(1, 1000, 2)]


def test_output_rate_limiter(tmp_path):
    src = make_file(tmp_path / "in.gor", 100)
    r = dp.run("--input-file", f"{src}|max", "--output-file", f"{tmp_path / 'o.gor'}|10",
               "--output-file-append", "--output-null", check=0)
    s = dp.summary(r.err)
    dp.check_invariants(s)
    assert s["output-file#0"]["delivered"] == 10
    assert s["output-file#0"]["dropped_limit"] == 90
    assert s["output-null#0"]["delivered"] == 100


def test_input_rate_limiter_over_time(tmp_path):
    # 40 records spread over 2 s, input limited to 10/s: at most 10 in any window.
    src = make_file(tmp_path / "in.gor", 40, step_ns=50_000_000)
    r = dp.run("--input-file", f"{src}|10", "--output-stdout", timeout=20, check=0)
    s = dp.summary(r.err)["input-file#0"]
    assert s["received"] == 40 and s["dropped_limit"] == 40 - s["emitted"]
    assert 20 <= s["emitted"] <= 30, s


def test_percent_limiters(tmp_path):
    src = make_file(tmp_path / "in.gor", 2000)
    out = tmp_path / "o.gor"
    for spec, lo, hi in (("0%", 0, 0), ("100%", 2000, 2000), ("50%", 800, 1200)):
        r = dp.run("--input-file", f"{src}|max", "--output-file", f"{out}|{spec}",
                   "--output-file-append", check=0)
        s = dp.summary(r.err)
        dp.check_invariants(s)
        assert lo <= s["output-file#0"]["delivered"] <= hi, (spec, s)
        out.unlink(missing_ok=True)


def timed(*args, timeout=30):
    start = time.monotonic()
    r = dp.run(*args, timeout=timeout, check=0)
    return time.monotonic() - start, r


def test_pacing_is_accurate(tmp_path):
    src = make_file(tmp_path / "in.gor", 31, step_ns=100_000_000)  # spans 3.0 s
    one = make_file(tmp_path / "one.gor", 1)
    overhead, _ = timed("--input-file", one, "--output-null")
    took, r = timed("--input-file", src, "--output-null")
    assert abs((took - overhead) - 3.0) <= 0.15, took - overhead
    assert dp.summary(r.err)["input-file#0"]["lag_max_ms"] < 50
    took, _ = timed("--input-file", f"{src}|200%", "--output-null")
    assert abs((took - overhead) - 1.5) <= 0.075, took - overhead
    took, _ = timed("--input-file", f"{src}|max", "--output-null")
    assert took - overhead < 0.5


def test_max_wait_caps_pauses(tmp_path):
    base = 1_700_000_000_000_000_000
    src = tmp_path / "in.gor"
    src.write_bytes(dp.request(1, ts=base) + dp.request(2, ts=base + 5_000_000_000))
    took, r = timed("--input-file", src, "--output-null", "--input-file-max-wait", "100ms")
    assert took < 1.5
    assert dp.summary(r.err)["output-null#0"]["delivered"] == 2


def test_exits_by_itself_and_loops(tmp_path):
    src = make_file(tmp_path / "in.gor", 3)
    r = dp.run("--input-file", src, "--output-null", timeout=10, check=0)
    assert dp.summary(r.err)["output-null#0"]["delivered"] == 3
    r = dp.run("--input-file", f"{src}|max", "--input-file-loop", "--exit-after", "1s",
               "--output-null", timeout=10, check=0)
    s = dp.summary(r.err)
    assert s["input-file#0"]["loops"] > 1
    assert s["output-null#0"]["delivered"] == 3 * (s["input-file#0"]["loops"] + 1) or \
        s["output-null#0"]["delivered"] > 3


def test_input_dummy_pairs(tmp_path):
    r = dp.run("--input-dummy", "x", "--output-stdout", "--exit-after", "2.5s", timeout=10,
               check=0)
    recs = dp.records(r.stdout)
    assert len(recs) == 4
    types = [m.split()[0] for m, _ in recs]
    ids = [m.split()[1] for m, _ in recs]
    assert types == [b"1", b"2", b"1", b"2"]
    assert ids[0] == ids[1] and ids[2] == ids[3] and ids[0] != ids[2]
    assert recs[0][1].startswith(b"GET / HTTP/1.1\r\nHost: www.w3.org\r\n")


def test_stats_lines(tmp_path):
    r = dp.run("--input-dummy", "x", "--output-null", "--stats", "--stats-interval", "200ms",
               "--exit-after", "1100ms", timeout=10, check=0)
    lines = [l for l in r.err.splitlines() if l.startswith("doppel: stats input-dummy#0")]
    assert 4 <= len(lines) <= 6, r.err
    dp.check_invariants(dp.summary(r.err, "stats"))


def test_sigterm_leaves_only_whole_records(tmp_path):
    # 20,000 records over 10 s: SIGTERM lands in the middle of a busy replay.
    src = make_file(tmp_path / "in.gor", 20_000, step_ns=500_000, body=b"z" * 200)
    out = tmp_path / "out.gor"
    p = subprocess.Popen([dp.binary(), "--input-file", src, "--output-file", out,
                          "--output-file-append", "--output-file-flush-interval", "100ms"],
                         stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while (not out.exists() or out.stat().st_size == 0) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=20)
    assert p.returncode == 0
    s = dp.summary(err.decode())
    dp.check_invariants(s)
    recs = dp.records(out.read_bytes())  # asserts the file ends on a whole record
    assert len(recs) == s["output-file#0"]["delivered"]
    assert 0 < len(recs) < 20_000, "SIGTERM should have stopped the replay early"
    assert all(p.endswith(b"z" * 200) for _, p in recs)


def test_sigint_with_stdout(tmp_path):
    p = subprocess.Popen([dp.binary(), "--input-dummy", "0", "--output-stdout"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.3)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=10)
    assert p.returncode == 0
    assert len(dp.records(out)) == 2
    dp.check_invariants(dp.summary(err.decode()))


def test_closed_stdout_stops_that_output_only(tmp_path):
    src = make_file(tmp_path / "in.gor", 5000, body=b"q" * 100)
    out = tmp_path / "o.gor"
    p = subprocess.Popen(f"'{dp.binary()}' --input-file '{src}|max' --output-stdout "
                         f"--output-file '{out}' --output-file-append | head -c 100 >/dev/null",
                         shell=True, stderr=subprocess.PIPE)
    _, err = p.communicate(timeout=20)
    s = dp.summary(err.decode())
    dp.check_invariants(s)
    assert s["output-file#0"]["delivered"] == 5000
    assert s["output-stdout#0"]["failed"] == 1
    assert out.read_bytes() == src.read_bytes()


def read_rest(fd):
    """What is left in the pipe <fd> once its writer is gone; closes it."""
    data = b""
    while chunk := os.read(fd, 1 << 16):
        data += chunk
    os.close(fd)
    return data


def stdout_fates(data, c):
    """The records a stdout reader got: whole ones are the delivered, a cut one the failed."""
    whole, sep, cut = data.rpartition(dp.SEP)
    assert len(dp.records(whole + sep)) == c["delivered"], c
    assert c["failed"] == (1 if cut else 0), (c, len(cut))


def test_stdout_nobody_reads_sigterm_ends_doppel(tmp_path):
    # 20,000 records (5.6 MB) into a pipe nobody reads. doppel blocked in write(2) once the
    # pipe was full: the loop stopped, so did --stats and the other outputs, and SIGTERM (even
    # twice) did nothing until the reader went away. Now the records wait in a bounded queue,
    # the input pauses, and SIGTERM ends the run after --drain-timeout, every record counted.
    src = make_file(tmp_path / "in.gor", 20_000, body=b"s" * 200)
    out, errf = tmp_path / "o.gor", tmp_path / "err"
    r, w = os.pipe()
    with open(errf, "wb") as err:
        p = subprocess.Popen([dp.binary(), "--input-file", f"{src}|max", "--output-stdout",
                              "--output-file", out, "--output-file-append", "--stats",
                              "--stats-interval", "20ms", "--drain-timeout", "300ms"],
                             stdout=w, stderr=err)
    os.close(w)
    try:
        def stalled_stats():
            stats = [dp.summary(l, "stats").get("output-stdout#0", {})
                     for l in errf.read_text().splitlines()]
            return [c for c in stats if c.get("pending", 0) > 0]
        deadline = time.monotonic() + 10
        while len(stalled_stats()) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(stalled_stats()) >= 3, "the loop must go on while stdout is full"
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)
    finally:
        p.kill()
        p.wait()
    data = read_rest(r)
    assert p.returncode == 0
    s = dp.summary(errf.read_text())
    dp.check_invariants(s)
    c = s["output-stdout#0"]
    stdout_fates(data, c)
    assert c["dropped_stopped"] > 0 and c["dropped_queue"] == 0
    assert s["input-file#0"]["emitted"] == c["accepted"] < 20_000
    assert s["output-file#0"]["delivered"] == c["accepted"]
    assert data == src.read_bytes()[:len(data)]


def test_stdout_nobody_reads_end_of_input(tmp_path):
    # 2,000 records (560 KB): more than the pipe holds, less than the queue. The input ends;
    # the drain ends after --drain-timeout without progress; doppel used to wait for a reader.
    src = make_file(tmp_path / "in.gor", 2000, body=b"e" * 200)
    r, w = os.pipe()
    p = subprocess.Popen([dp.binary(), "--input-file", f"{src}|max", "--output-stdout",
                          "--drain-timeout", "300ms"], stdout=w, stderr=subprocess.PIPE)
    os.close(w)
    try:
        _, err = p.communicate(timeout=20)
    finally:
        p.kill()
        p.wait()
    data = read_rest(r)
    assert p.returncode == 0
    s = dp.summary(err.decode())
    dp.check_invariants(s)
    c = s["output-stdout#0"]
    assert c["accepted"] == 2000 and c["dropped_stopped"] > 0
    stdout_fates(data, c)
    assert data == src.read_bytes()[:len(data)]


def test_stdout_slow_reader_gets_every_record(tmp_path):
    # A reader that takes 1 byte, then 3000, then 1...: the queue fills and drains, the input
    # pauses and resumes, and the reader gets the file byte for byte.
    src = make_file(tmp_path / "in.gor", 20_000, body=b"r" * 200)
    r, w = os.pipe()
    p = subprocess.Popen([dp.binary(), "--input-file", f"{src}|max", "--output-stdout",
                          "--output-null"], stdout=w, stderr=subprocess.PIPE)
    os.close(w)
    chunks, n = [], 0
    try:
        while chunk := os.read(r, 1 if n % 2 else 3000):
            chunks.append(chunk)
            n += 1
        _, err = p.communicate(timeout=60)
    finally:
        p.kill()
        p.wait()
    os.close(r)
    assert p.returncode == 0
    s = dp.summary(err.decode())
    dp.check_invariants(s)
    assert s["output-stdout#0"]["delivered"] == s["output-null#0"]["delivered"] == 20_000
    assert b"".join(chunks) == src.read_bytes()
