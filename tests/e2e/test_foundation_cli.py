"""The command line: GoReplay's syntax without its traps (issue 2)."""
import dp


def test_help_lists_groups_and_defaults():
    r = dp.run("--help", check=0)
    out = r.stdout.decode()
    for text in ("input-file:", "output-file:", "--output-file-size-limit", "(default 32mb)",
                 "--input-file-read-depth", "example: doppel --input-file"):
        assert text in out, text


def test_version():
    r = dp.run("--version", check=0)
    assert r.stdout.decode().startswith("doppel ")


def test_unknown_flag_suggests():
    r = dp.run("--input-fil", "x.gor", "--output-null", check=1)
    assert "unknown flag '--input-fil': did you mean --input-file?" in r.err


def test_single_dash_and_equals_forms(tmp_path):
    src = tmp_path / "in.gor"
    src.write_bytes(dp.request(1))
    out = tmp_path / "out.gor"
    dp.run(f"-input-file={src}", "-output-file", out, "-output-file-append=true", check=0)
    assert out.read_bytes() == src.read_bytes()


def test_feature_not_built_yet_fails_naming_it():
    for flag, value in (("--input-tcp", "127.0.0.1:28020"), ("--output-tcp", "127.0.0.1:28020")):
        r = dp.run("--input-dummy", "0", "--output-null", flag, value, check=1)
        assert flag in r.err and "not implemented yet" in r.err, r.err


def test_unsupported_feature_says_so():
    r = dp.run("--input-dummy", "0", "--output-null", "--output-kafka-host", "k:9092", check=1)
    assert "--output-kafka-host" in r.err and "not supported" in r.err


def test_false_bool_of_missing_feature_is_fine(tmp_path):
    src = tmp_path / "in.gor"
    src.write_bytes(dp.request(1))
    dp.run("--input-file", src, "--output-null", "--input-raw-promisc=false", check=0)


def test_stray_positional_word_is_an_error():
    r = dp.run("--input-dummy", "0", "--split-output", "true", "--output-null", check=1)
    assert "--split-output=true" in r.err
    r = dp.run("--input-dummy", "0", "stray", "--output-null", check=1)
    assert "unexpected argument 'stray'" in r.err


def test_no_input_or_no_output():
    r = dp.run("--output-null", check=1)
    assert "no input" in r.err
    r = dp.run("--input-dummy", "0", check=1)
    assert "no output" in r.err


def test_bad_values_are_explained():
    r = dp.run("--input-dummy", "0", "--output-null", "--exit-after", "10", check=1)
    assert "--exit-after: '10' is not a duration" in r.err
    r = dp.run("--input-dummy", "0", "--output-null", "--copy-buffer-size", "1.5mb", check=1)
    assert "--copy-buffer-size: '1.5mb' is not a size" in r.err
    r = dp.run("--input-dummy", "0", "--output-null", "--verbose", "x", check=1)
    assert "not an integer" in r.err
    r = dp.run("--input-dummy", "0", "--output-null", "--stats", "--exit-after", check=1)
    assert "needs a value" in r.err


def test_limiter_syntax_errors():
    r = dp.run("--input-dummy", "0", "--output-null|ten", check=1)
    assert "unknown flag" in r.err  # a bool flag takes no address
    r = dp.run("--input-dummy", "0", "--output-file", "/tmp/x.gor|fast", check=1)
    assert "the limiter after '|' must be" in r.err


def test_missing_input_file_is_a_clear_error(tmp_path):
    r = dp.run("--input-file", tmp_path / "nope*.gor", "--output-null", check=1)
    assert "no such file" in r.err


def test_output_directory_checked_at_start(tmp_path):
    r = dp.run("--input-dummy", "0", "--output-file", tmp_path / "missing/dir/x.gor", check=1)
    assert "directory" in r.err and "No such file" in r.err


def test_sizes_as_goreplay_and_ours(tmp_path):
    src = tmp_path / "in.gor"
    src.write_bytes(dp.request(1, body=b"x" * 3000))
    for size, truncated in (("1k", 1), ("1kb", 1), ("0x1000", 0), ("4_096", 0), ("1m", 0)):
        r = dp.run("--input-file", src, "--output-null", "--copy-buffer-size", size, check=0)
        assert dp.summary(r.err)["input-file#0"]["truncated"] == truncated, size
