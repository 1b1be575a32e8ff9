"""Upload client against real HTTP servers on 127.0.0.1: JSON reply, error, hang, down; the id check
before anything is sent; hostile servers (a trickle, a huge body, not JSON, not HTTP, a redirect)."""

from __future__ import annotations

import dataclasses
import email.utils
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from toolkit.data.tml import layout_of
from toolkit.errors import ConfigError, SubmissionError
from toolkit.io import sha256_file
from toolkit.tml.build import save_membership_dataset
from toolkit.tml.upload import (
    COOLDOWN_S,
    MAX_REPLY_BYTES,
    CooldownError,
    IdCheckError,
    UploadError,
    cooldown_left,
    read_ledger,
    server_url,
    shown_reply,
    upload,
)
from toolkit.tracks import load_track

TOKEN = "s3cret-team-token-42"


REPLIES = {  # mode: (status, JSON reply, extra headers)
    "ok": (200, {"TPR@FPR=0.05": 0.145, "AUC": 0.655}, {}),
    "error": (500, {"error": "scorer crashed"}, {}),
    "ok26": (200, {"submission_id": "sub-7f3a", "status": "queued"}, {}),
    "too_large": (413, {"detail": "File too large"}, {}),
    "too_soon": (429, {"detail": "Too many submissions"}, {"Retry-After": "300"}),
    "too_soon_bare": (429, {"detail": "Too many submissions"}, {}),
}


def _server(mode, seen: list):
    """A JSON server on 127.0.0.1; ``mode`` is one of REPLIES (or "hang"), or a list of them answered in turn
    (the last one repeated). Each request's path, headers and body go to ``seen``."""
    modes = [mode] if isinstance(mode, str) else list(mode)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(
                {
                    "token": self.headers.get("token"),
                    "ctype": self.headers.get("Content-Type"),
                    "body": body,
                    "path": self.path,
                    "headers": self.headers,  # case-insensitive, as HTTP headers are
                }
            )
            now = modes[min(len(seen), len(modes)) - 1]
            if now == "hang":
                time.sleep(3)
                return
            code, reply, extra = REPLIES[now]
            data = json.dumps(reply).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}/submit"


@pytest.fixture
def server(request):
    seen: list = []
    srv, url = _server(request.param, seen)
    yield url, seen
    srv.shutdown()
    srv.server_close()


PRIV_IDS = [10, 11, 12]


def write_priv(folder, ids=PRIV_IDS):
    """A task folder holding only priv_out.pt (all the upload reads), in the organisers' format."""
    folder.mkdir(parents=True, exist_ok=True)
    imgs = [torch.full((3, 32, 32), 0.5) for _ in ids]
    save_membership_dataset(folder / "priv_out.pt", ids, imgs, [0] * len(ids), [None] * len(ids))
    return folder


def write_run(folder, rows: str, task=None, stem="run1", header="ids,score", private="priv_out.pt"):
    """``<stem>.csv`` and the manifest ``submit`` writes beside it (naming ``task`` and its private file's hash,
    keyed by that file's name)."""
    path = folder / f"{stem}.csv"
    path.write_text(f"{header}\n{rows}")
    man = {"estimate": {"tpr@5%fpr_strict": 0.12}}
    if task is not None:
        man.update(task_dir=str(task), inputs={private: sha256_file(task / private)})
    (folder / f"{stem}.manifest.json").write_text(json.dumps(man))
    return path


@pytest.fixture
def task(tmp_path, monkeypatch):
    monkeypatch.setenv("MIA_TOKEN", TOKEN)
    monkeypatch.delenv("DATA", raising=False)
    return write_priv(tmp_path / "task")


@pytest.fixture
def csv_file(tmp_path, task):
    return write_run(tmp_path, "10,0.25\n11,0.75\n12,0.5\n", task)


@pytest.mark.parametrize("server", ["ok"], indirect=True)
def test_success_reply_ledger_and_cooldown(server, csv_file, tmp_path):
    url, seen = server
    ledger = tmp_path / "ledger.jsonl"
    reply = upload(csv_file, track="resnet18", url=url, ledger=ledger, timeout=5)
    assert reply == {"TPR@FPR=0.05": 0.145, "AUC": 0.655}
    assert seen[0]["token"] == TOKEN and seen[0]["ctype"].startswith("multipart/form-data; boundary=")
    assert seen[0]["path"] == "/submit" and "X-API-Key" not in seen[0]["headers"]  # 2025: the URL as given
    assert b'name="file"; filename="run1.csv"' in seen[0]["body"] and b"10,0.25\n11,0.75" in seen[0]["body"]
    (entry,) = read_ledger(ledger)
    assert entry["outcome"] == "ok" and entry["reply"]["AUC"] == 0.655
    assert entry["estimate"] == {"tpr@5%fpr_strict": 0.12} and len(entry["csv_sha256"]) == 64
    assert entry["id_check"]["source"] == "manifest" and entry["id_check"]["ids"] == 3
    assert TOKEN not in ledger.read_text()
    with pytest.raises(CooldownError, match=r"wait 5\d min"):
        upload(csv_file, track="resnet18", url=url, ledger=ledger, timeout=5)
    assert len(seen) == 1
    upload(csv_file, track="resnet18", url=url, ledger=ledger, timeout=5, force=True)
    assert len(seen) == 2 and len(read_ledger(ledger)) == 2
    assert cooldown_left(ledger, "other-track") == 0
    assert cooldown_left(ledger, "resnet18", now=time.time() + COOLDOWN_S + 1) == 0


@pytest.mark.parametrize("server", ["error"], indirect=True)
def test_server_error_is_reported_and_costs_the_hour(server, csv_file, tmp_path):
    url, _ = server
    ledger = tmp_path / "ledger.jsonl"
    with pytest.raises(UploadError, match="HTTP 500.*scorer crashed"):
        upload(csv_file, track="resnet18", url=url, ledger=ledger, timeout=5)
    assert read_ledger(ledger)[0]["outcome"] == "http_error"
    assert cooldown_left(ledger, "resnet18") > COOLDOWN_S - 60
    assert TOKEN not in ledger.read_text()


@pytest.mark.parametrize("server", ["hang"], indirect=True)
def test_hanging_server_times_out(server, csv_file, tmp_path):
    url, _ = server
    ledger = tmp_path / "ledger.jsonl"
    start = time.time()
    with pytest.raises(UploadError, match="no answer within 0.5 s"):
        upload(csv_file, track="resnet18", url=url, ledger=ledger, timeout=0.5)
    assert time.time() - start < 2.5
    assert read_ledger(ledger)[0]["outcome"] == "timeout" and cooldown_left(ledger, "resnet18") > 0


def test_server_down_does_not_start_cooldown(csv_file, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ledger = tmp_path / "ledger.jsonl"
    with pytest.raises(UploadError, match="cannot connect.*may be down"):
        upload(csv_file, track="resnet18", url=f"http://127.0.0.1:{port}/", ledger=ledger, timeout=2)
    assert read_ledger(ledger)[0]["outcome"] == "unreachable"
    assert cooldown_left(ledger, "resnet18") == 0


def test_missing_token_or_url(csv_file, tmp_path, monkeypatch):
    monkeypatch.delenv("MIA_SERVER_URL", raising=False)
    with pytest.raises(ConfigError, match="no server URL"):
        upload(csv_file, track="resnet18", ledger=tmp_path / "l.jsonl")
    monkeypatch.delenv("MIA_TOKEN")
    with pytest.raises(ConfigError, match="MIA_TOKEN"):
        upload(csv_file, track="resnet18", url="http://127.0.0.1:9/", ledger=tmp_path / "l.jsonl")
    assert not (tmp_path / "l.jsonl").exists()


def test_malformed_csv_is_not_sent(tmp_path, task):
    bad = write_run(tmp_path, "10,0.5\n10,nan\n11,1.5\n", task, "bad")
    with pytest.raises(SubmissionError, match="repeated.*NaN"):
        upload(bad, track="resnet18", url="http://127.0.0.1:9/", ledger=tmp_path / "l.jsonl")
    (entry,) = read_ledger(tmp_path / "l.jsonl")
    assert entry["outcome"] == "refused_locally" and cooldown_left(tmp_path / "l.jsonl", "resnet18") == 0


@pytest.mark.parametrize("server", ["ok"], indirect=True)
def test_cli_upload_prints_reply(server, csv_file, tmp_path):
    from toolkit.cli import cli

    url, _ = server
    args = ["upload", str(csv_file), "--url", url, "--ledger", str(tmp_path / "l.jsonl"), "--timeout", "5"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["AUC"] == 0.655
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1 and "one upload per hour" in res.output and "--force" in res.output


# --- the ids are checked against the task before anything is sent --------------------------------------


@pytest.fixture
def ok_server():
    seen: list = []
    srv, url = _server("ok", seen)
    yield url, seen
    srv.shutdown()
    srv.server_close()


@pytest.mark.parametrize(
    "rows, problem",
    [
        ("10,0.25\n11,0.75\n", r"1 private id\(s\) missing, e.g. \[12\]"),
        ("10,0.25\n11,0.75\n12,0.5\n99,0.5\n", r"1 unknown id\(s\), e.g. \[99\]"),
        ("10,0.25\n11,0.75\n12,0.5\n12,0.5\n", r"1 id\(s\) repeated"),
        ("10,0.25\n11,inf\n12,0.5\n", "scores"),
        ("10,0.25\n11,-0.1\n12,0.5\n", "scores"),
    ],
)
def test_a_wrong_id_or_score_is_refused_before_anything_is_sent(ok_server, tmp_path, task, rows, problem):
    url, seen = ok_server
    ledger = tmp_path / "l.jsonl"
    with pytest.raises(SubmissionError, match=problem):
        upload(write_run(tmp_path, rows, task), track="resnet18", url=url, ledger=ledger, timeout=5)
    assert seen == []
    (entry,) = read_ledger(ledger)
    assert entry["outcome"] == "refused_locally" and entry["id_check"]["source"] == "manifest"
    assert cooldown_left(ledger, "resnet18") == 0


def test_the_task_comes_from_data_or_environment_and_must_match_the_manifest(ok_server, tmp_path, task, monkeypatch):
    url, seen = ok_server
    ledger = tmp_path / "l.jsonl"
    rows = "10,0.25\n11,0.75\n12,0.5\n"
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "run.csv").write_text("ids,score\n" + rows)  # no manifest: nothing names the task
    with pytest.raises(IdCheckError, match="cannot check run.csv's ids.*no --data, no \\$DATA"):
        upload(bare / "run.csv", track="resnet18", url=url, ledger=ledger, timeout=5)
    monkeypatch.setenv("DATA", str(task))
    upload(bare / "run.csv", track="resnet18", url=url, ledger=ledger, timeout=5)
    assert read_ledger(ledger)[-1]["id_check"]["source"] == "$DATA"
    monkeypatch.delenv("DATA")
    upload(bare / "run.csv", track="resnet18", url=url, ledger=ledger, timeout=5, force=True, data_dir=task)
    assert read_ledger(ledger)[-1]["id_check"]["source"] == "--data" and len(seen) == 2
    with pytest.raises(IdCheckError, match="holds no priv_out.pt"):
        upload(bare / "run.csv", track="resnet18", url=url, ledger=ledger, force=True, data_dir=bare)
    # another task (same ids even): the manifest's hash says it is not the CSV's
    made = write_run(tmp_path, rows, task)
    other = write_priv(tmp_path / "other", [10, 11, 12, 13])
    with pytest.raises(IdCheckError, match="not the priv_out.pt run1.csv was made from"):
        upload(made, track="resnet18", url=url, ledger=ledger, force=True, data_dir=other)
    write_priv(task, [10, 11, 12, 13])  # the task's file changed after submit
    with pytest.raises(IdCheckError, match="was made from"):
        upload(made, track="resnet18", url=url, ledger=ledger, force=True)
    assert len(seen) == 2


def test_no_id_check_sends_unchecked_and_says_so(ok_server, tmp_path, task):
    url, seen = ok_server
    ledger = tmp_path / "l.jsonl"
    path = tmp_path / "alone.csv"
    path.write_text("ids,score\n1,0.25\n2,0.75\n")
    upload(path, track="resnet18", url=url, ledger=ledger, timeout=5, id_check=False)
    assert len(seen) == 1 and read_ledger(ledger)[-1]["id_check"] == {"skipped": "--no-id-check"}


def test_cli_refuses_a_missing_id_in_one_line(ok_server, tmp_path, task):
    from toolkit.cli import cli

    url, seen = ok_server
    path = write_run(tmp_path, "10,0.25\n11,0.75\n", task)
    res = CliRunner().invoke(cli, ["upload", str(path), "--url", url, "--ledger", str(tmp_path / "l.jsonl")])
    assert res.exit_code == 1 and seen == []
    assert [line for line in res.output.splitlines() if line.startswith("Error:")] == [res.output.splitlines()[0]]
    assert "missing" in res.output
    alone = tmp_path / "alone.csv"
    alone.write_text("ids,score\n1,0.25\n2,0.75\n")
    res = CliRunner().invoke(cli, ["upload", str(alone), "--url", url, "--ledger", str(tmp_path / "l.jsonl")])
    assert res.exit_code == 1 and "--no-id-check" in res.output and seen == []
    res = CliRunner().invoke(
        cli, ["upload", str(alone), "--url", url, "--ledger", str(tmp_path / "l.jsonl"), "--no-id-check"]
    )
    assert res.exit_code == 0 and len(seen) == 1


def test_make_submission_manifest_names_the_task(tmp_path):
    from toolkit.data.tml import TMLTask
    from toolkit.tml.package import run_manifest
    from toolkit.tml.settings import TMLSettings

    write_priv(tmp_path)
    (tmp_path / "pub.pt").write_bytes(b"p")
    (tmp_path / "01_MIA.pt").write_bytes(b"m")
    settings = TMLSettings(data_dir=tmp_path, out_dir=tmp_path, attack="x", views=(), folds=2)
    man = run_manifest(TMLTask(tmp_path, None, None, tmp_path / "01_MIA.pt"), settings, {"n": 0}, {})
    assert man["task_dir"] == str(tmp_path.resolve())
    assert man["inputs"]["priv_out.pt"] == sha256_file(tmp_path / "priv_out.pt")


# --- hostile servers: each answer is one line, a ledger entry and the right cooldown -----------------------


def _raw_server(reply, seen: list):
    """A TCP server on 127.0.0.1 that reads the request, then runs ``reply(conn)`` (anything, HTTP or not)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    stop = threading.Event()

    def serve():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536) or b"\r\n\r\n"  # a client that closed early ends the loop
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(
                    next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1]
                )
                while len(body) < length:
                    body += conn.recv(65536) or b"x" * length
                seen.append(head)
                try:
                    reply(conn)
                except OSError:
                    pass

    threading.Thread(target=serve, daemon=True).start()
    return stop, sock, f"http://127.0.0.1:{sock.getsockname()[1]}/submit"


def _http(status: str, body: bytes, extra: str = "") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n".encode() + body


def _trickle(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
    for _ in range(40):  # a byte every 0.1 s: no single read times out, the whole takes 4 s
        conn.sendall(b" ")
        time.sleep(0.1)


def _trickle_headers(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    for _ in range(40):
        conn.sendall(b"X: y\r\n")
        time.sleep(0.1)


def _huge(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n")
    chunk = b"[" * 65536
    for _ in range(1000):  # 64 MB offered; the client stops at a megabyte
        conn.sendall(chunk)


def _huge_413(conn):
    conn.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 100000000\r\n\r\n")
    for _ in range(1000):  # 64 MB of error page offered; the client reads at most a megabyte
        conn.sendall(b"\x1b" * 65536)


HOSTILE = {
    "trickle": (_trickle, "timeout", "no answer within 1 s", True),
    "trickle_headers": (_trickle_headers, "timeout", "no answer within 1 s", True),
    "huge": (_huge, "bad_reply", f"over {MAX_REPLY_BYTES:,} bytes", True),
    "html": (lambda c: c.sendall(_http("200 OK", b"<html>\x1b[31mBad Gateway</html>")), "bad_reply", "not JSON", True),
    "json_list": (lambda c: c.sendall(_http("200 OK", b"[1, 2]")), "bad_reply", "not an object", True),
    "deep_json": (lambda c: c.sendall(_http("200 OK", b"[" * 200_000)), "bad_reply", "not JSON", True),
    "not_http": (lambda c: c.sendall(b"SSH-2.0-OpenSSH\r\n"), "bad_reply", "not HTTP", True),
    "silent_close": (lambda c: None, "bad_reply", "not HTTP", True),
    "error_html": (lambda c: c.sendall(_http("502 Bad Gateway", b"<h1>down</h1>")), "http_error", "HTTP 502", True),
    "too_large_html": (
        lambda c: c.sendall(_http("413 Payload Too Large", b"<h1>\x1b[31mtoo big</h1>")),
        "http_error",
        r"refused the file as too large \(\d+ bytes; its limit is not in the track's \[upload\]\): <h1>\?\[31mtoo big",
        True,
    ),
    "too_large_huge": (_huge_413, "http_error", "refused the file as too large", True),
    "too_soon_junk": (
        lambda c: c.sendall(_http("429 Too Many Requests", b"\x1b[2Jslow\r\ndown", "Retry-After: \x1b]0;x\r\n")),
        "http_error",
        r"the server says to wait \(HTTP 429, Retry-After: \?\]0;x\): \?\[2Jslow\?\?down",
        True,
    ),
}


@pytest.mark.parametrize("mode", list(HOSTILE))
def test_a_hostile_server_gives_one_line_a_ledger_entry_and_the_right_cooldown(mode, csv_file, tmp_path):
    reply, outcome, message, counts = HOSTILE[mode]
    seen: list = []
    stop, sock, url = _raw_server(reply, seen)
    ledger = tmp_path / "l.jsonl"
    start = time.monotonic()
    try:
        with pytest.raises(UploadError, match=message) as err:
            upload(csv_file, track="resnet18", url=url, ledger=ledger, timeout=1)
    finally:
        stop.set()
        sock.close()
    assert time.monotonic() - start < 3.5
    assert len(str(err.value).splitlines()) == 1 and "\x1b" not in str(err.value)
    (entry,) = read_ledger(ledger)
    assert entry["outcome"] == outcome and TOKEN not in ledger.read_text()
    assert (cooldown_left(ledger, "resnet18") > 0) == counts


def test_a_redirect_is_not_followed_and_the_token_goes_nowhere_else(csv_file, tmp_path):
    elsewhere: list = []
    other, url_other = _server("ok", elsewhere)
    for code in ("301 Moved Permanently", "302 Found", "307 Temporary Redirect", "308 Permanent Redirect"):
        seen: list = []
        stop, sock, url = _raw_server(
            lambda c, code=code: c.sendall(_http(code, b"", f"Location: {url_other}\r\n")), seen
        )
        ledger = tmp_path / f"{code[:3]}.jsonl"
        try:
            with pytest.raises(UploadError, match=f"HTTP {code[:3]}: the server redirects to 127.0.0.1:.*check --url"):
                upload(csv_file, track="resnet18", url=url, ledger=ledger, timeout=2)
        finally:
            stop.set()
            sock.close()
        assert len(seen) == 1 and TOKEN.encode() in seen[0]  # the token went to --url only
        assert read_ledger(ledger)[0]["outcome"] == "redirect" and cooldown_left(ledger, "resnet18") == 0
    assert elsewhere == []
    other.shutdown()
    other.server_close()


def test_only_http_urls(csv_file, tmp_path):
    for url in ("file:///etc/passwd", "ftp://127.0.0.1/x", "http:///nohost"):
        with pytest.raises(ConfigError, match="must be http"):
            upload(csv_file, track="resnet18", url=url, ledger=tmp_path / "l.jsonl")


def test_a_submitted_csv_is_checked_against_its_own_task(ok_server, tmp_path, monkeypatch):
    """``make_submission``'s manifest is all the upload needs to find the task's private ids."""
    from fixtures_tml import one_thread, write_task

    from toolkit.data.tml import load_task
    from toolkit.tml.pipeline import make_submission
    from toolkit.tml.settings import TMLSettings

    url, seen = ok_server
    monkeypatch.setenv("MIA_TOKEN", TOKEN)
    monkeypatch.delenv("DATA", raising=False)
    task_dir = tmp_path / "task"
    write_task(task_dir, n_pub=60, n_priv=40)
    with one_thread():
        man = make_submission(TMLSettings(
            data_dir=task_dir, out_dir=tmp_path / "out", shadows=0, attack="threshold", compare=(), folds=2,
            run_name="r1", n_boot=5, n_sims=5, progress=False, cache_dir=tmp_path / "cache",
        ))  # fmt: skip
    ledger = tmp_path / "l.jsonl"
    upload(man["csv"], track="resnet18", url=url, ledger=ledger, timeout=5)
    check = read_ledger(ledger)[-1]["id_check"]
    assert check["source"] == "manifest" and check["ids"] == len(load_task(task_dir).priv) == 40 and len(seen) == 1
    csv_path = Path(man["csv"])
    csv_path.write_text("\n".join(csv_path.read_text().splitlines()[:-1]) + "\n")  # one private id dropped
    with pytest.raises(SubmissionError, match=r"1 private id\(s\) missing"):
        upload(csv_path, track="resnet18", url=url, ledger=ledger, timeout=5, force=True)
    assert len(seen) == 1


def test_a_csv_rewritten_while_it_is_checked_is_not_sent(ok_server, csv_file, tmp_path, monkeypatch):
    import toolkit.tml.upload as up

    url, seen = ok_server
    real = up._check_csv

    def check_then_rewrite(path, *args):
        real(path, *args)
        path.write_text("ids,score\n99,0.5\n")  # another process rewrites it after the check

    monkeypatch.setattr(up, "_check_csv", check_then_rewrite)
    with pytest.raises(UploadError, match="changed while it was being checked"):
        upload(csv_file, track="resnet18", url=url, ledger=tmp_path / "l.jsonl", timeout=5)
    assert seen == []


# --- each edition's protocol, from its track's [upload] ------------------------------------------------------

TML26, R18 = load_track("tml26"), load_track("resnet18")


def write_priv26(folder, ids=PRIV_IDS):
    """A 2026 task folder holding only priv.pt: a private set with no membership, 3×28×28 images."""
    folder.mkdir(parents=True, exist_ok=True)
    imgs = [torch.full((3, 28, 28), 0.5) for _ in ids]
    save_membership_dataset(folder / "priv.pt", ids, imgs, [0] * len(ids), [None] * len(ids))
    return folder


def write_run26(folder, rows: str, task, stem="run26", header="id,score"):
    """``<stem>.csv`` and a manifest naming the 2026 task (its inputs keyed by the file's name, priv.pt)."""
    return write_run(folder, rows, task, stem, header, private="priv.pt")


@pytest.fixture
def task26(tmp_path, monkeypatch):
    monkeypatch.setenv("MIA_TOKEN", TOKEN)
    monkeypatch.delenv("DATA", raising=False)
    return write_priv26(tmp_path / "task26")


@pytest.fixture
def csv26(tmp_path, task26):
    return write_run26(tmp_path, "10,0.25\n11,0.75\n12,0.5\n", task26)


def _send(track: str, csv, url: str, ledger, **kw):
    """``upload`` as ``mia upload --track`` calls it; a 2026 URL is the base (the fixture's without /submit)."""
    spec = load_track(track)
    base = url.removesuffix("/submit") if spec.upload.path else url
    return upload(csv, track=spec, url=base, ledger=ledger, timeout=5, **kw)


def test_the_url_is_the_base_and_the_tracks_path_one_slash_between():
    for base in ("http://h:8000", "http://h:8000/"):
        assert server_url(base, TML26.upload) == "http://h:8000/submit/01-mia"
    assert server_url("https://h/api/", TML26.upload) == "https://h/api/submit/01-mia"
    assert server_url("http://h/mia", R18.upload) == "http://h/mia"


@pytest.mark.parametrize("server", ["ok26"], indirect=True)
def test_2026_posts_an_id_score_csv_to_base_submit_with_x_api_key(server, csv26, tmp_path):
    url, seen = server
    ledger = tmp_path / "l.jsonl"
    reply = _send("tml26", csv26, url + "/", ledger)  # http://…/submit/ as the base: /submit/submit/01-mia
    assert reply["submission_id"] == "sub-7f3a"
    (req,) = seen
    assert req["path"] == "/submit/submit/01-mia" and req["headers"].get("X-API-Key") == TOKEN
    assert req["token"] is None and TOKEN.encode() not in req["body"]
    assert b'name="file"; filename="run26.csv"' in req["body"] and b"\r\n\r\nid,score\n10,0.25\n" in req["body"]
    (entry,) = read_ledger(ledger)
    assert entry["url"] == url + "/submit/01-mia" and entry["outcome"] == "ok"
    assert entry["id_check"]["file"] == "priv.pt" and entry["id_check"]["ids"] == 3
    assert entry["cooldown"]["after"] == "success" and entry["cooldown"]["until"] == entry["epoch"] + 3600
    assert TOKEN not in ledger.read_text()


@pytest.mark.parametrize("server", ["ok26"], indirect=True)
def test_cli_2026_prints_the_submission_id_in_one_line_and_keeps_the_hour(server, csv26, tmp_path):
    from toolkit.cli import cli

    url, seen = server
    root = url.removesuffix("/submit")
    args = ["upload", str(csv26), "--track", "tml26", "--url", root, "--ledger", str(tmp_path / "l.jsonl")]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert res.output.splitlines() == ['{"submission_id": "sub-7f3a"}']  # the track's reply_keys only
    assert seen[0]["path"] == "/submit/01-mia" and seen[0]["headers"].get("X-API-Key") == TOKEN
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1 and "one upload per hour after a scored one" in res.output and len(seen) == 1


def test_a_2026_manifest_names_priv_pt_and_the_upload_checks_against_it(ok_server, tmp_path, task26):
    from toolkit.data.tml import TMLTask
    from toolkit.tml.package import run_manifest
    from toolkit.tml.settings import TMLSettings

    url, seen = ok_server
    (task26 / "pub.pt").write_bytes(b"p")
    (task26 / "model.pt").write_bytes(b"m")
    task = TMLTask(task26, None, None, task26 / "model.pt", layout_of(TML26))
    settings = TMLSettings(track=TML26, data_dir=task26, out_dir=tmp_path, attack="x", views=(), folds=2)
    man = run_manifest(task, settings, {"n": 0}, {})
    assert man["inputs"]["priv.pt"] == sha256_file(task26 / "priv.pt") and "priv_out.pt" not in man["inputs"]
    (tmp_path / "r.manifest.json").write_text(json.dumps(man))
    (tmp_path / "r.csv").write_text("id,score\n10,0.25\n11,0.75\n")
    with pytest.raises(SubmissionError, match=r"1 private id\(s\) missing, e.g. \[12\]"):
        _send("tml26", tmp_path / "r.csv", url, tmp_path / "l.jsonl")
    assert seen == [] and read_ledger(tmp_path / "l.jsonl")[0]["id_check"]["source"] == "manifest"


def test_the_2026_private_file_is_the_tracks(ok_server, tmp_path, task26, task):
    url, seen = ok_server
    ledger = tmp_path / "l.jsonl"
    path = write_run26(tmp_path, "10,0.25\n11,0.75\n12,0.5\n", task26)
    with pytest.raises(IdCheckError, match="holds no priv.pt.*pass the task folder \\(pub.pt, priv.pt\\)"):
        _send("tml26", path, url, ledger, data_dir=task)  # the 2025 folder: priv_out.pt only
    write_priv26(task26, [10, 11, 12, 13])  # the task's file changed after submit
    with pytest.raises(IdCheckError, match="not the priv.pt run26.csv was made from"):
        _send("tml26", path, url, ledger)
    assert seen == [] and TOKEN not in ledger.read_text()


def test_a_csv_with_the_other_editions_id_column_is_refused_before_sending(ok_server, tmp_path, task, task26):
    url, seen = ok_server
    ledger = tmp_path / "l.jsonl"
    rows = "10,0.25\n11,0.75\n12,0.5\n"
    with pytest.raises(SubmissionError, match=r"header must be 'id,score', got \['ids', 'score'\]"):
        _send("tml26", write_run26(tmp_path, rows, task26, header="ids,score"), url, ledger)
    (tmp_path / "r25.csv").write_text("id,score\n" + rows)
    with pytest.raises(SubmissionError, match=r"header must be 'ids,score', got \['id', 'score'\]"):
        _send("resnet18", tmp_path / "r25.csv", url, ledger, data_dir=task)
    assert seen == [] and [e["outcome"] for e in read_ledger(ledger)] == ["refused_locally"] * 2
    assert cooldown_left(ledger, "tml26") == cooldown_left(ledger, "resnet18") == 0


def test_a_csv_over_max_bytes_is_refused_locally_and_at_the_limit_it_goes(ok_server, csv26, tmp_path):
    url, seen = ok_server
    ledger = tmp_path / "l.jsonl"
    size = csv26.stat().st_size
    for limit in (size - 1, size):
        protocol = dataclasses.replace(TML26.upload, max_bytes=limit)
        send = dict(track=dataclasses.replace(TML26, upload=protocol), url=url, ledger=ledger, timeout=5)
        if limit < size:
            with pytest.raises(
                SubmissionError, match=rf"run26.csv is {size} bytes, over the server's limit of {limit}"
            ):
                upload(csv26, **send)
            assert seen == [] and read_ledger(ledger)[-1]["outcome"] == "refused_locally"
            assert cooldown_left(ledger, "tml26") == 0
        else:
            upload(csv26, **send)
            assert len(seen) == 1


@pytest.mark.parametrize("server", ["too_large"], indirect=True)
def test_413_is_one_line_and_starts_the_failure_cooldown(server, csv26, tmp_path):
    url, seen = server
    ledger = tmp_path / "l.jsonl"
    with pytest.raises(UploadError) as err:
        _send("tml26", csv26, url, ledger)
    text, size = str(err.value), csv26.stat().st_size
    assert len(text.splitlines()) == 1 and len(seen) == 1
    assert (
        f"the server refused the file as too large ({size} bytes; its limit is below the track's max_bytes, 1,048,576)"
        in text
    )
    assert "File too large" in text and "the next upload waits 2 min" in text
    (entry,) = read_ledger(ledger)
    assert entry["outcome"] == "http_error" and entry["http_status"] == 413
    assert entry["cooldown"]["after"] == "failure" and entry["cooldown"]["seconds"] == 120
    assert 110 < cooldown_left(ledger, "tml26") <= 120 and TOKEN not in ledger.read_text()


@pytest.mark.parametrize("server", ["too_soon"], indirect=True)
@pytest.mark.parametrize("track, csv_fixture, wait", [("tml26", "csv26", 300), ("resnet18", "csv_file", 3600)])
def test_429_is_one_line_and_its_retry_after_is_honoured(server, track, csv_fixture, wait, request, tmp_path):
    url, seen = server
    ledger = tmp_path / "l.jsonl"
    with pytest.raises(UploadError, match=r"the server says to wait \(HTTP 429, Retry-After: 300, 5 min\)") as err:
        _send(track, request.getfixturevalue(csv_fixture), url, ledger)
    assert len(str(err.value).splitlines()) == 1 and "Too many submissions" in str(err.value)
    (entry,) = read_ledger(ledger)
    assert entry["http_status"] == 429 and entry["retry_after_s"] == 300 and entry["cooldown"]["seconds"] == wait
    assert wait - 10 < cooldown_left(ledger, track) <= wait and TOKEN not in ledger.read_text()


@pytest.mark.parametrize("server", ["too_soon_bare"], indirect=True)
def test_429_without_retry_after_starts_the_failure_cooldown(server, csv26, tmp_path):
    url, _ = server
    ledger = tmp_path / "l.jsonl"
    with pytest.raises(UploadError, match=r"the server says to wait \(HTTP 429, no Retry-After\): .*Too many"):
        _send("tml26", csv26, url, ledger)
    assert read_ledger(ledger)[0]["cooldown"]["after"] == "failure" and 110 < cooldown_left(ledger, "tml26") <= 120


def test_retry_after_is_seconds_or_an_http_date_and_bounded():
    from toolkit.tml.transport import MAX_RETRY_AFTER_S, retry_after_seconds

    now = 1_780_000_000.0
    assert retry_after_seconds("120", now) == 120 and retry_after_seconds(" 7 ", now) == 7
    assert retry_after_seconds(email.utils.formatdate(now + 90, usegmt=True), now) == pytest.approx(90, abs=1)
    assert retry_after_seconds(email.utils.formatdate(now - 50, usegmt=True), now) == 0
    assert retry_after_seconds("99999999999", now) == MAX_RETRY_AFTER_S
    for junk in (None, "", "soon", "-5", "1e9", "\u0661\u0662", "Wed, 99 Foo 2026 00:00:00 GMT", "1" * 40):
        assert retry_after_seconds(junk, now) is None, junk


@pytest.mark.parametrize("track, csv_fixture, after_2_min", [("tml26", "csv26", True), ("resnet18", "csv_file", False)])
def test_after_a_failure_tml26_may_retry_in_2_min_resnet18_waits_the_hour(track, csv_fixture, after_2_min, request):
    csv = request.getfixturevalue(csv_fixture)
    ledger = csv.parent / "l.jsonl"
    seen: list = []
    srv, url = _server(["error", "ok26" if track == "tml26" else "ok"], seen)
    t0 = time.time()
    try:
        with pytest.raises(UploadError, match="HTTP 500.*scorer crashed"):
            _send(track, csv, url, ledger, now=t0)
        with pytest.raises(CooldownError, match="after a failed upload: wait"):
            _send(track, csv, url, ledger, now=t0 + 60)
        if after_2_min:
            assert _send(track, csv, url, ledger, now=t0 + 121)["submission_id"] == "sub-7f3a"
        else:
            with pytest.raises(CooldownError, match=r"hour after a failed upload: wait 5\d min"):
                _send(track, csv, url, ledger, now=t0 + 121)
            assert len(seen) == 1
            _send(track, csv, url, ledger, now=t0 + 3601)
    finally:
        srv.shutdown()
        srv.server_close()
    assert len(seen) == 2 and TOKEN not in ledger.read_text()


@pytest.mark.parametrize("server", [["ok26", "too_soon_bare", "ok26"]], indirect=True)
def test_after_a_success_tml26_waits_60_min_and_a_forced_failure_does_not_shorten_it(server, csv26, tmp_path):
    url, seen = server
    ledger = tmp_path / "l.jsonl"
    t0 = time.time()
    _send("tml26", csv26, url, ledger, now=t0)
    with pytest.raises(CooldownError, match="one upload per hour after a scored one: wait 57 min"):
        _send("tml26", csv26, url, ledger, now=t0 + 121)
    with pytest.raises(UploadError, match="HTTP 429"):  # forced; the refusal's 2 minutes end long before the hour
        _send("tml26", csv26, url, ledger, now=t0 + 600, force=True)
    with pytest.raises(CooldownError, match="one upload per hour after a scored one"):
        _send("tml26", csv26, url, ledger, now=t0 + 900)
    assert cooldown_left(ledger, "tml26", now=t0 + 3599) == pytest.approx(1)
    _send("tml26", csv26, url, ledger, now=t0 + 3601)
    assert len(seen) == 3


def test_cooldowns_come_from_the_ledger_alone_and_old_entries_keep_the_hour(tmp_path):
    ledger, t0 = tmp_path / "l.jsonl", 1_780_000_000.0
    lines = [
        {"track": "resnet18", "outcome": "http_error", "epoch": t0},  # written before entries recorded a cooldown
        {"track": "resnet18", "outcome": "unreachable", "epoch": t0 + 100},
        {"track": "tml26", "outcome": "bad_reply", "epoch": t0, "cooldown": {"after": "failure", "until": t0 + 120}},
        {"track": "tml26", "outcome": "refused_locally", "epoch": t0 + 100},
    ]
    ledger.write_text("".join(json.dumps(e) + "\n" for e in lines))
    assert cooldown_left(ledger, "resnet18", now=t0 + 3599) == pytest.approx(1)
    assert cooldown_left(ledger, "resnet18", now=t0 + 3601) == 0
    assert cooldown_left(ledger, "tml26", now=t0 + 119) == pytest.approx(1)
    assert cooldown_left(ledger, "tml26", now=t0 + 121) == 0


def test_the_reply_shown_is_one_line_of_the_tracks_keys():
    assert shown_reply({"submission_id": "s1", "status": "queued"}, ("submission_id",)) == '{"submission_id": "s1"}'
    assert json.loads(shown_reply({"AUC": 0.6, "x": 1})) == {"AUC": 0.6, "x": 1}
    assert json.loads(shown_reply({"other": 1}, ("submission_id",))) == {"other": 1}  # none of them: every field
    line = shown_reply({"submission_id": "a\x1b[2J\nb\u2028c"}, ("submission_id",))
    assert len(line.splitlines()) == 1 and all(c.isprintable() for c in line)
    assert len(shown_reply({"k": "x" * 10**6})) <= 2000


def test_the_key_header_and_the_field_are_the_protocols(ok_server, csv26, tmp_path):
    url, seen = ok_server
    protocol = dataclasses.replace(TML26.upload, key_header="Team-Key", field="submission", path="/v2/mia")
    track = dataclasses.replace(TML26, name="t", upload=protocol)
    upload(csv26, track=track, url=url, ledger=tmp_path / "l", timeout=5)
    (req,) = seen
    assert req["path"] == "/submit/v2/mia" and req["headers"].get("Team-Key") == TOKEN
    assert "X-API-Key" not in req["headers"] and req["token"] is None
    assert b'name="submission"; filename="run26.csv"' in req["body"] and b'name="file"' not in req["body"]


@pytest.mark.parametrize("bad", [TOKEN + "\r\nX-Evil: 1", TOKEN + "\n", "\x1b" + TOKEN])
def test_a_key_with_a_line_break_is_refused_without_showing_it(ok_server, csv26, tmp_path, monkeypatch, bad):
    url, seen = ok_server
    monkeypatch.setenv("MIA_TOKEN", bad)
    with pytest.raises(ConfigError, match="MIA_TOKEN holds a line break") as err:
        _send("tml26", csv26, url, tmp_path / "l.jsonl")
    assert TOKEN not in str(err.value) and seen == [] and not (tmp_path / "l.jsonl").exists()
