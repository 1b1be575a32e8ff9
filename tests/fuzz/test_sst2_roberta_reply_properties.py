"""SST-2's TSVs, RoBERTa's ``config.json`` and the scoring server's reply, from a stranger.

Each returns what its format says or refuses with one line: a TSV of UTF-8 ``sentence<TAB>0|1``
rows, a config whose sizes are integers in range (the model it describes fits in memory), and a
reply that is a JSON object; anything else a server sends (not JSON, not HTTP, a redirect) is one
``UploadError`` line, and a redirect never carries the request anywhere else.
"""

from __future__ import annotations

import json
import math
import socket
import threading

import numpy as np
import pytest
from fuzz_contract import mutate, outcome
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.errors import FormatError, ModelError

pytest.importorskip("transformers")

damage = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 100_000), st.integers(0, 255)), max_size=3)
noise = st.one_of(st.binary(max_size=300), st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")))

# --- SST-2 TSVs --------------------------------------------------------------------------------------------

sentences = st.one_of(st.text(max_size=40), st.sampled_from(['a " quote', "it 's fine", "\x00", "\r", "x" * 200_000]))
labels = st.one_of(st.sampled_from(["0", "1"]), st.text(max_size=3))
tsv_rows = st.lists(st.lists(st.one_of(sentences, labels), min_size=0, max_size=3), max_size=8)
headers = st.sampled_from(
    ["sentence\tlabel", "sentence\tlabel", "label\tsentence", "sentence", "\ufeffsentence\tlabel"]
)
tsv_files = st.one_of(
    st.tuples(headers, tsv_rows).map(lambda t: ("\n".join([t[0], *("\t".join(r) for r in t[1])]) + "\n").encode()),
    noise,
)


@settings(max_examples=200)
@given(data=tsv_files, ops=damage)
def test_an_sst2_tsv_is_sentences_with_0_1_labels_or_refused(tmp_path_factory, data, ops):
    from toolkit.data.sst2 import read_split

    path = tmp_path_factory.mktemp("s") / "train.tsv"
    path.write_bytes(mutate(data, ops))
    got, err = outcome(read_split, path, names=(str(path),))
    if err is None:
        sents, y = got
        assert y.dtype == np.int64 and len(sents) == len(y) and np.isin(y, (0, 1)).all()
        assert all(isinstance(s, str) for s in sents)
    else:
        assert isinstance(err, FormatError)


def test_an_oversized_tsv_is_refused_without_reading_it_whole(tmp_path, monkeypatch):
    import toolkit.data.sst2 as sst2

    monkeypatch.setattr(sst2, "MAX_TSV_BYTES", 100)
    path = tmp_path / "train.tsv"
    path.write_text("sentence\tlabel\n" + "a fine film\t1\n" * 20)
    with pytest.raises(FormatError, match="over 100 bytes"):
        sst2.read_split(path)


# --- RoBERTa's config.json ---------------------------------------------------------------------------------

VALID = {
    "vocab_size": 50265,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "max_position_embeddings": 514,
    "type_vocab_size": 1,
    "pad_token_id": 1,
    "id2label": {"0": "NEGATIVE", "1": "POSITIVE"},
}
json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=True),
        st.text(max_size=8),
        st.sampled_from([0, 1, 2, 12, 768, 10**9, "float32", "single_label_classification"]),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)),
    max_leaves=6,
)
keys = st.sampled_from([*VALID, "num_labels", "label2id", "torch_dtype", "problem_type", "layer_norm_eps", "unknown"])


@settings(max_examples=150)
@given(
    edits=st.dictionaries(keys, json_values, max_size=4),
    drop=st.lists(st.sampled_from(list(VALID)), max_size=3),
    wrap=st.booleans(),
    ops=damage,
)
def test_a_config_json_is_a_config_of_bounded_size_or_refused(tmp_path_factory, edits, drop, wrap, ops):
    from toolkit.models.roberta import _MAX_PARAMETERS, read_roberta_config

    cfg = {k: v for k, v in {**VALID, **edits}.items() if k not in drop}
    path = tmp_path_factory.mktemp("c") / "config.json"
    path.write_bytes(mutate(json.dumps([cfg] if wrap else cfg).encode(), ops))
    config, err = outcome(read_roberta_config, path, names=(str(path),))
    if err is None:
        h, layers = config.hidden_size, config.num_hidden_layers
        assert all(isinstance(v, int) and v > 0 for v in (h, layers, config.vocab_size, config.intermediate_size))
        assert h % config.num_attention_heads == 0 and 1 <= config.num_labels <= 1000
        assert config.vocab_size * h + layers * (4 * h * h + 2 * h * config.intermediate_size) <= _MAX_PARAMETERS
    else:
        assert isinstance(err, ModelError)


def test_a_config_that_would_allocate_terabytes_is_refused_before_transformers_sees_it(tmp_path):
    from toolkit.models.roberta import read_roberta_config

    path = tmp_path / "config.json"
    for cfg, message in [
        ({**VALID, "hidden_size": 8192, "num_attention_heads": 128, "vocab_size": 1_000_000}, "parameters"),
        ({**VALID, "num_labels": 10**9}, "num_labels must be an integer"),
        ({**VALID, "id2label": {str(i): "x" for i in range(5000)}}, "id2label has 5,000 entries"),
        ({**VALID, "num_hidden_layers": math.inf}, "not JSON|num_hidden_layers"),
    ]:
        path.write_text(json.dumps(cfg))
        _, err = outcome(read_roberta_config, path, names=(str(path),))
        assert isinstance(err, ModelError) and err is not None
        assert __import__("re").search(message, str(err)), str(err)


# --- the scoring server's reply ----------------------------------------------------------------------------


@settings(max_examples=300)
@given(raw=st.one_of(noise, json_values.map(lambda v: json.dumps(v).encode()), st.just(b"[" * 100_000)))
def test_a_reply_body_is_a_json_object_or_one_line(raw):
    from toolkit.tml.upload import parse_reply

    kind, reply = parse_reply(raw)
    if kind == "ok":
        assert isinstance(reply, dict)
    else:
        assert kind == "bad_reply" and isinstance(reply, str) and len(reply.splitlines()) == 1
        assert all(c.isprintable() for c in reply)


class _Server:
    """127.0.0.1: reads one HTTP request per connection, sends ``self.reply`` bytes, closes; counts requests."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.reply, self.requests, self.stop = b"", 0, False
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/submit"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                try:
                    conn.settimeout(2)
                    data = b""
                    while b"\r\n\r\n" not in data:
                        data += conn.recv(65536) or b"\r\n\r\n"
                    head, _, body = data.partition(b"\r\n\r\n")
                    length = [h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")]
                    while length and len(body) < int(length[0].split(b":")[1]):
                        body += conn.recv(65536) or b"x" * 10**9  # a client that closed early ends the loop
                    self.requests += 1
                    conn.sendall(self.reply)
                except OSError:
                    pass

    def close(self):
        self.stop = True
        self.sock.close()


@pytest.fixture(scope="module")
def servers():
    scorer, elsewhere = _Server(), _Server()
    yield scorer, elsewhere
    scorer.close()
    elsewhere.close()


statuses = st.sampled_from(["200 OK", "201 Created", "204 No Content", "301 Moved", "302 Found", "303 See Other"])
statuses |= st.sampled_from(["307 Temporary Redirect", "308 Permanent", "404 Not Found", "500 Oops", "999 X", "abc"])
lengths = st.one_of(st.just(None), st.integers(-2, 10**12), st.just("x"))


@settings(max_examples=60)
@given(
    status=statuses,
    body=st.one_of(noise, json_values.map(lambda v: json.dumps(v).encode())),
    length=lengths,
    location=st.sampled_from(["elsewhere", "/submit", "", "http://[::1", "ftp://x/"]),
    ops=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 300), st.integers(0, 255)), max_size=2),
)
def test_any_server_answer_is_a_reply_or_one_upload_error_and_never_a_redirect_followed(
    tmp_path_factory, monkeypatch, servers, status, body, length, location, ops
):
    from toolkit.tml.upload import UploadError, read_ledger, upload

    scorer, elsewhere = servers
    monkeypatch.setenv("MIA_TOKEN", "t0ken")
    head = f"HTTP/1.1 {status}\r\n"
    head += "" if length is None else f"Content-Length: {len(body) if length == -2 else length}\r\n"
    head += f"Location: {elsewhere.url if location == 'elsewhere' else location}\r\nConnection: close\r\n\r\n"
    scorer.reply = mutate(head.encode() + body, ops)
    folder = tmp_path_factory.mktemp("u")
    csv_path = folder / "run.csv"
    csv_path.write_text("ids,score\n1,0.25\n2,0.75\n")
    before = elsewhere.requests
    reply, err = outcome(
        upload, csv_path, track="t", url=scorer.url, ledger=folder / "l.jsonl", force=True, id_check=False, timeout=1
    )
    assert elsewhere.requests == before, "the request followed a redirect to another server"
    assert isinstance(reply, dict) if err is None else isinstance(err, UploadError)
    (entry,) = read_ledger(folder / "l.jsonl")
    assert "t0ken" not in json.dumps(entry)
