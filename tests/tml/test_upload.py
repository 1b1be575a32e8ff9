"""Upload client against real HTTP servers on 127.0.0.1: JSON reply, error, hang, down."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from toolkit.errors import ConfigError, SubmissionError
from toolkit.tml.upload import COOLDOWN_S, CooldownError, UploadError, cooldown_left, read_ledger, upload

TOKEN = "s3cret-team-token-42"


def _server(mode: str, seen: list):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append({"token": self.headers.get("token"), "ctype": self.headers.get("Content-Type"), "body": body})
            if mode == "hang":
                time.sleep(3)
                return
            code, reply = (
                (200, {"TPR@FPR=0.05": 0.145, "AUC": 0.655}) if mode == "ok" else (500, {"error": "scorer crashed"})
            )
            data = json.dumps(reply).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
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


@pytest.fixture
def csv_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MIA_TOKEN", TOKEN)
    path = tmp_path / "run1.csv"
    path.write_text("ids,score\n10,0.25\n11,0.75\n12,0.5\n")
    (tmp_path / "run1.manifest.json").write_text(json.dumps({"estimate": {"tpr@5%fpr_strict": 0.12}}))
    return path


@pytest.mark.parametrize("server", ["ok"], indirect=True)
def test_success_reply_ledger_and_cooldown(server, csv_file, tmp_path):
    url, seen = server
    ledger = tmp_path / "ledger.jsonl"
    reply = upload(csv_file, track="resnet18", url=url, ledger=ledger, timeout=5)
    assert reply == {"TPR@FPR=0.05": 0.145, "AUC": 0.655}
    assert seen[0]["token"] == TOKEN and seen[0]["ctype"].startswith("multipart/form-data; boundary=")
    assert b'name="file"; filename="run1.csv"' in seen[0]["body"] and b"10,0.25\n11,0.75" in seen[0]["body"]
    (entry,) = read_ledger(ledger)
    assert entry["outcome"] == "ok" and entry["reply"]["AUC"] == 0.655
    assert entry["estimate"] == {"tpr@5%fpr_strict": 0.12} and len(entry["csv_sha256"]) == 64
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


def test_malformed_csv_is_not_sent(tmp_path, monkeypatch):
    monkeypatch.setenv("MIA_TOKEN", TOKEN)
    bad = tmp_path / "bad.csv"
    bad.write_text("ids,score\n1,0.5\n1,nan\n2,1.5\n")
    with pytest.raises(SubmissionError, match="repeated.*NaN"):
        upload(bad, track="resnet18", url="http://127.0.0.1:9/", ledger=tmp_path / "l.jsonl")
    assert not (tmp_path / "l.jsonl").exists()


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
