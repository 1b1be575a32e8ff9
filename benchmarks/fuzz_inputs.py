"""Fuzz every reader of outside data with generated hostile inputs; count the crashes.

Each reader gets ``--n`` inputs (seeded: the same seed gives the same inputs), built to look
almost right (a valid file damaged byte by byte, or assembled from valid and hostile parts) and
some to run code when unpickled (they would create a marker file). A crash is any exception that
is not a ``ToolkitError``, a ``ToolkitError`` whose message is not one line, or a marker file
that appeared. One line per reader:

    <reader>  inputs=<n> crashes=<k>  accepted=<a> refused=<r>  <seconds>s

then each kind of crash (exception and where it was raised) with its count and a first example.
Exit status 1 when any reader crashed.

    python benchmarks/fuzz_inputs.py --n 200          # a minute or two on 2 CPU cores
    python benchmarks/fuzz_inputs.py --n 2000 --seed 7 --readers zip,seed
"""

from __future__ import annotations

import argparse
import builtins
import io
import math
import pickle
import random
import shutil
import stat
import sys
import tempfile
import time
import traceback
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from toolkit.errors import ToolkitError


class TaskDataset:
    """Pickled from this script's ``__main__``, exactly like the organisers' class."""


class MembershipDataset(TaskDataset):
    """Pickled as ``__main__.MembershipDataset``."""


class Marker:
    """Unpickling this would create the marker file (``builtins.open`` in write mode)."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (builtins.open, (self.path, "w"))


# --- byte-level damage -------------------------------------------------------------------------------


def mutate(rng: random.Random, data: bytes, max_ops: int = 4) -> bytes:
    """Flip, delete or insert a few bytes, or cut the tail: the damage of a bad copy or a hand edit."""
    out = bytearray(data)
    for _ in range(rng.randint(1, max_ops)):
        if not out:
            break
        pos = rng.randrange(len(out))
        kind = rng.randrange(4)
        if kind == 0:
            out[pos] ^= rng.randint(1, 255)
        elif kind == 1:
            del out[pos]
        elif kind == 2:
            out.insert(pos, rng.randrange(256))
        else:
            del out[pos:]
    return bytes(out)


def noise(rng: random.Random, size: int = 300) -> bytes:
    return bytes(rng.randrange(256) for _ in range(rng.randrange(size)))


TOKENS = [
    "0",
    "1",
    "0.5",
    "1e-3",
    "nan",
    "inf",
    "-inf",
    "1e309",
    "2",
    "-1",
    "x",
    "",
    " ",
    "1_0",
    "\u0663",
    "\u00b2",
    "0x1f",
    "9" * 5000,
    "\x00",
    "1\n0",
    "\ufeff1",
    "+1",
    ".5",
    str(2**70),
]


# --- one generator per reader: (rng, folder, marker) -> a zero-argument call of the reader -------------


def gen_zip(rng, folder: Path, marker: Path):
    from toolkit.mico.check import read_zip_predictions

    scen = ("s_inf", "s_hi")
    valid = [
        f"t/{s}/{ph}/model_{i}/prediction.csv"
        for s in scen
        for ph, ids in (("dev", [1, 2]), ("final", [3]))
        for i in ids
    ]
    names = valid * 2 + [
        "/etc/passwd",
        "t/../../x",
        "t\\s_inf",
        "C:/x",
        "t/s_inf/dev/model_1/\nx",
        "t/s_inf/.DS_Store",
        "__MACOSX/t/._x",
        "t/",
        "t/s_inf/dev/",
        "t/junk/",
        "t/s_inf/dev/model_01/prediction.csv",
        "t/s_inf/dev/model_\u0663/prediction.csv",
        "t/s_inf/train/model_1/prediction.csv",
    ]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        if rng.random() < 0.4:  # a valid submission, to which hostile entries or damage are added
            for name in valid:
                zf.writestr(name, ",".join(f"{rng.random():.6g}" for _ in range(10)))
        for _ in range(rng.randrange(9 if rng.random() < 0.5 else 2)):
            info = zipfile.ZipInfo(rng.choice(names))
            info.compress_type = rng.choice(
                [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]
            )
            roll = rng.randrange(20)
            if roll == 0:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            elif roll == 1:
                info.flag_bits |= 0x1
            kind = rng.randrange(5)
            if kind == 0:
                body = ",".join(f"{rng.random():.6g}" for _ in range(10)).encode()
            elif kind == 1:
                body = ",".join(rng.choice(TOKENS) for _ in range(rng.randrange(12))).encode()
            elif kind == 2:
                body = b"0," * rng.choice([10, 40_000, 400_000])
            else:
                body = noise(rng)
            with _quiet():
                zf.writestr(info, body)
    data = buf.getvalue()
    if rng.random() < 0.4:
        data = mutate(rng, data)
    path = folder / "sub.zip"
    path.write_bytes(data)
    expected = rng.choice([None, {s: {"dev": [1, 2], "final": [3]} for s in scen}])
    return lambda: read_zip_predictions(path, "t", scen, expected, 10)


def gen_row(rng, folder: Path, marker: Path):
    from toolkit.mico.challenge import read_solution

    kind = rng.randrange(4)
    if kind == 0:
        data = ",".join(rng.choice(TOKENS) for _ in range(rng.randrange(12))).encode()
    elif kind == 1:
        data = (",".join(str(rng.randrange(2)) for _ in range(10)) + "\n").encode()
    elif kind == 2:
        data = ",".join(repr(rng.choice([0.5, math.nan, math.inf, -0.0, 1e308])) for _ in range(10)).encode()
    else:
        data = noise(rng)
    path = folder / "solution.csv"
    path.write_bytes(mutate(rng, data) if rng.random() < 0.3 else data)
    n = rng.choice([None, 10])
    return lambda: read_solution(path, n)


def gen_seed(rng, folder: Path, marker: Path):
    from toolkit.mico.challenge import read_seed

    kind = rng.randrange(3)
    if kind == 0:
        data = f"{rng.randrange(2**64)}\n".encode()
    elif kind == 1:
        data = "".join(rng.choice(TOKENS) for _ in range(rng.randrange(4))).encode()
    else:
        data = noise(rng)
    path = folder / "seed_challenge"
    path.write_bytes(mutate(rng, data) if rng.random() < 0.3 else data)
    return lambda: read_seed(path)


def gen_ids_csv(rng, folder: Path, marker: Path):
    from toolkit.tml.package import read_submission_csv

    rows = [
        (
            rng.choice([rng.randrange(5), rng.randrange(-(2**70), 2**70), rng.choice(TOKENS)]),
            rng.choice([rng.random(), rng.choice(TOKENS)]),
        )
        for _ in range(rng.randrange(8))
    ]
    head = rng.choice(["ids,score", "ids,score", "id,score", "\ufeffids,score", "ids;score"])
    data = (head + "\n" + "".join(f"{i},{s}\n" for i, s in rows)).encode()
    if rng.random() < 0.1:
        data += b'"unclosed,0.5\n'
    path = folder / "submission.csv"
    path.write_bytes(mutate(rng, data) if rng.random() < 0.3 else data)
    expected = rng.choice([None, np.arange(3)])
    return lambda: read_submission_csv(path, expected)


def gen_track(rng, folder: Path, marker: Path):
    from toolkit.tracks import load_track, parse_track, tracks_dir

    name = rng.choice(["demo", "purchase100", "resnet18", "ddp", "cifar10", "sst2"])
    if rng.random() < 0.05:  # sizes: nesting past the parser's recursion, a file past the limit
        (folder / name).mkdir(exist_ok=True)
        depth = rng.choice([10, 1000, 100_000])
        text = f"x = {rng.choice(['[', '{ a = ']) * depth}\n" + "#" * rng.choice([0, 2 << 20])
        (folder / name / "track.toml").write_text(text)
        return lambda: load_track(name, folder)
    if rng.random() < 0.5:
        (folder / name).mkdir(exist_ok=True)
        (folder / name / "track.toml").write_bytes(mutate(rng, (tracks_dir() / name / "track.toml").read_bytes()))
        return lambda: load_track(name, folder)
    import tomllib

    data = tomllib.loads((tracks_dir() / name / "track.toml").read_text())
    values = [None, 0, -1, 2**63, 1.5, math.nan, math.inf, True, "x", "", [], [1], {}, {"attack": 3}]
    values += [2**300, "x" * 200_000, list(range(20_000)), {f"k{i}": i for i in range(2000)}]
    for _ in range(rng.randint(1, 4)):
        scenarios = data.get("scenarios")
        tables = [
            data,
            data.get("track"),
            data.get("build"),
            *(scenarios.values() if isinstance(scenarios, dict) else []),
        ]
        table = rng.choice([t for t in tables if isinstance(t, dict)])
        key = rng.choice([*table, "unknown", "m", "epsilon", "recipe", "population_size"])
        value = rng.choice(values)
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    return lambda: parse_track(data, f"{name}/track.toml")


def _state_dict(seed: int) -> dict:
    import torch

    from toolkit.models import build_model

    torch.manual_seed(seed)
    return build_model("demo_mlp", 10).state_dict()


def gen_model(rng, folder: Path, marker: Path):
    import torch

    from toolkit.models import load_model

    state = dict(_state_dict(0))
    key = rng.choice(list(state))
    path = folder / "model.pt"
    kind = rng.randrange(12)
    if kind == 0:
        obj = {**state, "payload": Marker(marker)}
    elif kind == 1:
        path.write_bytes(pickle.dumps({"w": Marker(marker)}, protocol=rng.choice([0, 2, 4])))
        return lambda: load_model("demo_mlp", path, 10)
    elif kind == 2:
        state[key] = state[key].clone().fill_(rng.choice([math.nan, math.inf]))
        obj = state
    elif kind == 3:
        state[key] = torch.zeros(*[d + 1 for d in state[key].shape])
        obj = state
    elif kind == 4:
        state[rng.choice([7, (1, 2), None])] = state.pop(key)
        obj = state
    elif kind == 5:
        state[key] = rng.choice([[1.0], "w", 3, {"a": torch.zeros(1)}])
        obj = state
    elif kind == 6:
        obj = rng.choice([list(state.values()), 42, "model", {"state_dict": state, "epoch": 1}, state[key]])
    elif kind == 7:
        state[key] = state[key].to(rng.choice([torch.int64, torch.bool, torch.float16, torch.complex64]))
        obj = state
    elif kind == 8:
        obj = {("_module." + k if rng.random() < 0.5 else k): v for k, v in state.items()}
        obj["_module." + key] = state[key]
    else:
        buf = io.BytesIO()
        torch.save(state, buf)
        path.write_bytes(mutate(rng, buf.getvalue()))
        return lambda: load_model("demo_mlp", path, 10)
    torch.save(obj, path)
    return lambda: load_model("demo_mlp", path, 10)


def _membership_dataset(fields: dict) -> MembershipDataset:
    obj = MembershipDataset()
    for k, v in fields.items():
        setattr(obj, k, v)
    return obj


def gen_tml(rng, folder: Path, marker: Path):
    import torch

    from toolkit.data.tml import read_membership_dataset

    img = torch.full((3, 32, 32), 0.5)
    fields = {"ids": [1, 2], "imgs": [img, img.clone()], "labels": [0, 43], "membership": [0, 1]}
    bad = {
        "ids": [[1, 1], [1.5, 2], ["a", "b"], [2**70, 1], [True, False], 3, torch.tensor([1, 2])],
        "imgs": [
            [img],
            [torch.zeros(3, 31, 32)] * 2,
            [img.long()] * 2,
            [torch.full((3, 32, 32), math.nan)] * 2,
            [img.clone().requires_grad_()] * 2,
            "x",
            [np.zeros((3, 32, 32))] * 2,
        ],
        "labels": [[0, 44], [-1, 0], [True, 0], [0.0, 1], None],
        "membership": [[0, None], [2, 0], [torch.tensor(1), 0], 5, [Marker(marker), 0]],
    }
    for name in rng.sample(list(bad), rng.randint(0, 2)):
        fields[name] = rng.choice(bad[name])
    if rng.random() < 0.1:
        fields.pop(rng.choice(list(fields)))
    path = folder / "pub.pt"
    kind = rng.randrange(6)
    if kind == 0:
        torch.save(rng.choice([[1, 2], {"ids": [1]}, img, Marker(marker)]), path)
    elif kind == 1:
        path.write_bytes(pickle.dumps(Marker(marker), protocol=2))
    else:
        buf = io.BytesIO()
        torch.save(_membership_dataset(fields), buf)
        path.write_bytes(mutate(rng, buf.getvalue()) if kind == 2 else buf.getvalue())
    return lambda: read_membership_dataset(path)


class _HugeArray:
    def __reduce__(self):
        return (np.ndarray, ((2**40,),))


def gen_cifar(rng, folder: Path, marker: Path):
    from toolkit.data.cifar10 import read_batch

    rows = rng.randrange(4)
    data = rng.choice(
        [
            np.zeros((rows, 3072), np.uint8),
            np.zeros((rows, 3072), np.uint8),
            np.zeros((2, 3072), np.float32),
            np.zeros((2, 10), np.uint8),
            np.array([None, 1], dtype=object),
            _HugeArray(),
            Marker(marker),
            None,
            b"\x00" * 3072,
        ]
    )
    labels = rng.choice(
        [[rng.randrange(10) for _ in range(rows)]] * 3
        + [[0, 1, 2][: rng.randrange(4)], [-1, 12], ["a"], None, 3, [2**70], np.arange(2)]
    )
    batch = {rng.choice(["data", "data", b"data", "dat"]): data, "labels": labels}
    raw = pickle.dumps(batch, protocol=rng.choice([0, 2, 4]))
    path = folder / "data_batch_1"
    path.write_bytes(mutate(rng, raw) if rng.random() < 0.4 else raw)
    return lambda: read_batch(path)


def gen_purchase(rng, folder: Path, marker: Path):
    from toolkit.data.purchase100 import parse_purchase

    lines = []
    for _ in range(rng.randrange(5)):
        width = rng.choice([600, 600, 599, 601, 3])
        cells = [str(rng.randrange(2)) for _ in range(width)]
        if rng.random() < 0.5:
            cells[rng.randrange(width)] = rng.choice(TOKENS)
        lines.append(",".join([str(rng.choice([rng.randint(1, 100), rng.randint(-5, 300)])), *cells]))
    data = ("\n".join(lines) + "\n").encode()
    path = folder / "dataset_purchase"
    path.write_bytes(mutate(rng, data) if rng.random() < 0.4 else data)
    return lambda: parse_purchase(path)


_PRISTINE: dict[str, Path] = {}


def _pristine_challenge(root: Path) -> Path:
    """A demo-population scenario in the organisers' layout: 3 train, 2 dev, 1 final model."""
    from toolkit.mico.challenge import make_splits, write_solution

    if "c" not in _PRISTINE:
        base = root / "pristine"
        rng = np.random.default_rng(0)
        next_id = 0
        for phase, count in (("train", 3), ("dev", 2), ("final", 1)):
            for _ in range(count):
                seeds = [int(v) for v in rng.integers(0, 2**63 - 1, 3, dtype=np.int64)]
                md = base / "fz" / "fz_inf" / phase / f"model_{next_id}"
                md.mkdir(parents=True)
                revealed = 3 if phase == "train" else 1
                for name, value in list(zip(("seed_challenge", "seed_training", "seed_membership"), seeds))[:revealed]:
                    (md / name).write_text(f"{value}\n")
                if phase == "train":
                    write_solution(md / "solution.csv", make_splits(1797, 500, 100, *seeds).solution)
                (md / "model.pt").write_bytes(b"not read when the scenario is opened")
                next_id += 1
        _PRISTINE["c"] = base
    return _PRISTINE["c"]


def gen_challenge(rng, folder: Path, marker: Path):
    from toolkit.mico.scenario import open_scenario
    from toolkit.tracks import parse_track

    data = folder / "data"
    shutil.copytree(_pristine_challenge(folder.parent), data)
    root = data / "fz" / "fz_inf"
    for _ in range(rng.randint(1, 3)):
        phase = root / rng.choice(["train", "dev", "final"])
        models = sorted(p for p in phase.glob("model_*") if p.is_dir()) if phase.is_dir() else []
        op = rng.randrange(8)
        if op == 0 and phase.is_dir():
            shutil.rmtree(phase)
        elif op == 1 and phase.is_dir():
            (phase / f"model_{900 + rng.randrange(5)}").mkdir(exist_ok=True)
        elif op == 2 and models:
            src = rng.choice(models)
            shutil.copytree(src, phase / src.name.replace("model_", "model_0"), dirs_exist_ok=True)
        elif op == 3 and phase.is_dir():
            (phase / f"model_{800 + rng.randrange(5)}").write_bytes(noise(rng, 20))
        elif models:
            target = rng.choice(models) / rng.choice(
                ["seed_challenge", "seed_training", "seed_membership", "solution.csv", "model.pt"]
            )
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            if op == 5:
                target.write_bytes(noise(rng, 30))
            elif op == 6:
                target.mkdir()
            elif op == 7 and target.name == "solution.csv":
                target.write_text("1," * 199 + "1\n")
    track = parse_track(
        {
            "track": dict(
                name="fz",
                task="fz",
                kind="mico",
                dataset="demo",
                architecture="demo_mlp",
                n_classes=10,
                population_size=1797,
                len_training=500,
                m=100,
            ),
            "scenarios": {"fz_inf": {}},
        }
    )

    def call():
        sd = open_scenario(track, track.scenario("fz_inf"), data)
        sd.tasks()
        return sd

    return call


def gen_sst2_tsv(rng, folder: Path, marker: Path):
    from toolkit.data.sst2 import read_split

    cells = ["it 's a charming journey", 'a " quote', "tab\there", "", "é ü 中", "\x00", "\r", "x" * 200_000]
    lines = [rng.choice(["sentence\tlabel", "sentence\tlabel", "label\tsentence", "sentence", "\ufeffsentence\tlabel"])]
    for _ in range(rng.randrange(8)):
        row = [rng.choice(cells + ["a fine film"] * 6), rng.choice(["0", "1", "1", "0", *TOKENS])]
        if rng.random() < 0.1:
            row.append(rng.choice(TOKENS))
        lines.append("\t".join(row[: rng.choice([1, 2, 2, 2, 3])]))
    data = ("\n".join(lines) + rng.choice(["\n", "", "\r\n"])).encode()
    if rng.random() < 0.1:
        data = noise(rng)
    elif rng.random() < 0.1:
        data += b"\xff\xfe bad bytes\t1\n"
    path = folder / "train.tsv"
    path.write_bytes(mutate(rng, data) if rng.random() < 0.3 else data)
    return lambda: read_split(path)


def gen_roberta_config(rng, folder: Path, marker: Path):
    import json

    from toolkit.models.roberta import read_roberta_config

    cfg = {
        "architectures": ["RobertaForSequenceClassification"],
        "model_type": "roberta",
        "vocab_size": 50265,
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
        "max_position_embeddings": 514,
        "type_vocab_size": 1,
        "pad_token_id": 1,
        "layer_norm_eps": 1e-5,
        "hidden_dropout_prob": 0.1,
        "id2label": {"0": "LABEL_0", "1": "LABEL_1"},
        "problem_type": "single_label_classification",
    }
    values = [None, 0, -1, 1, 7, 2**31, 2**63, 10**30, 1.5, math.nan, math.inf, True, "x", "", [], [1], {}, {"0": 1}]
    values += [{str(i): "L" for i in range(rng.choice([3, 5000]))}, "float16", "bogus", 1024, 24, 16]
    keys = [*cfg, "num_labels", "label2id", "torch_dtype", "is_decoder", "unknown", "chunk_size_feed_forward"]
    for _ in range(rng.randint(0, 4)):
        key, value = rng.choice(keys), rng.choice(values)
        if value is None and rng.random() < 0.5:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    text = json.dumps(cfg) if rng.random() < 0.8 else json.dumps(rng.choice([[cfg], 3, "cfg", None]))
    data = text.encode()
    if rng.random() < 0.05:
        data = b"[" * 100_000
    path = folder / "config.json"
    path.write_bytes(mutate(rng, data) if rng.random() < 0.3 else data)
    return lambda: read_roberta_config(path)


class _ReplyServer:
    """A TCP server on 127.0.0.1 that reads each HTTP request, answers ``reply`` (any bytes), and closes."""

    def __init__(self):
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.reply, self.requests, self.stopped = b"", 0, False
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/submit"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stopped:
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
                        body += conn.recv(65536) or b"x" * 10**9
                    self.requests += 1
                    conn.sendall(self.reply)
                except OSError:
                    pass


_SERVERS: dict[str, _ReplyServer] = {}


class TokenLeak(Exception):
    """The request (and its token) reached a host other than ``--url``."""


def gen_server_reply(rng, folder: Path, marker: Path):
    """The whole upload against a local server answering generated bytes; a redirect points to a second
    local server, which must never be reached."""
    import json
    import os

    from toolkit.tml.upload import upload

    if not _SERVERS:
        _SERVERS.update(scorer=_ReplyServer(), elsewhere=_ReplyServer())
    os.environ.setdefault("MIA_TOKEN", "fuzz-token")
    scorer, elsewhere = _SERVERS["scorer"], _SERVERS["elsewhere"]
    status = rng.choice(
        ["200 OK"] * 6
        + ["201 Created", "204 No Content", "301 Moved", "302 Found", "303 See Other", "307 Temporary Redirect"]
        + ["308 Permanent Redirect", "400 Bad Request", "429 Too Many", "500 Internal", "502 Bad Gateway", "999 X"]
    )
    body = rng.choice(
        [
            json.dumps({"TPR@FPR=0.05": rng.random(), "AUC": rng.random()}).encode(),
            b'{"AUC": NaN, "x": Infinity}',
            b'{"error": "one upload per hour"}',
            b"[1, 2]",
            b'"ok"',
            b"null",
            b"[" * rng.choice([10, 100_000]),
            b'{"a": ' + b"9" * 5000 + b"}",
            b"<html>\x1b[2J\x1b[31mBad Gateway\r\nline two</html>",
            b"\xff\xfe\x00garbage",
            b"",
            b"{" + b'"k": 1, ' * 200_000 + b'"z": 0}',
            noise(rng),
        ]
    )
    headers = [f"Content-Length: {rng.choice([len(body)] * 4 + [0, len(body) + 10, -1, 10**12, 'x'])}"]
    if rng.random() < 0.1:
        headers = ["Transfer-Encoding: chunked"]
        body = f"{len(body):x}\r\n".encode() + body + rng.choice([b"\r\n0\r\n\r\n", b"\r\nzz\r\n", b""])
    if status[0] == "3" or rng.random() < 0.05:
        headers.append(f"Location: {rng.choice([elsewhere.url, '/submit', 'ftp://x/', '', 'http://[::1'])}")
    headers.append(rng.choice(["Content-Type: application/json", "Content-Type: text/html", "X-\x01: \x1b"]))
    reply = (f"HTTP/1.1 {status}\r\n" + "".join(h + "\r\n" for h in headers) + "Connection: close\r\n\r\n").encode()
    reply += body
    if rng.random() < 0.05:
        reply = rng.choice([b"", b"SSH-2.0-OpenSSH_9\r\n", noise(rng)])
    scorer.reply = mutate(rng, reply) if rng.random() < 0.2 else reply
    csv_path = folder / "run.csv"
    csv_path.write_text("ids,score\n1,0.25\n2,0.75\n")

    def call():
        before = elsewhere.requests
        try:
            return upload(
                csv_path, track="fz", url=scorer.url, ledger=folder / "l.jsonl", force=True, id_check=False, timeout=1
            )
        finally:
            if elsewhere.requests != before:
                raise TokenLeak("the request followed a redirect to another server")

    return call


READERS: dict[str, Callable] = {
    "zip": gen_zip,
    "prediction_row": gen_row,
    "seed": gen_seed,
    "ids_score_csv": gen_ids_csv,
    "track": gen_track,
    "model": gen_model,
    "tml_dataset": gen_tml,
    "cifar_batch": gen_cifar,
    "purchase_csv": gen_purchase,
    "challenge": gen_challenge,
    "sst2_tsv": gen_sst2_tsv,
    "roberta_config": gen_roberta_config,
    "server_reply": gen_server_reply,
}


class _quiet:
    """Silence warnings (zipfile's duplicate names, torch's casts): they are part of what is fuzzed."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)


def judge(call: Callable, marker: Path) -> tuple[str, tuple[str, str] | None]:
    """("accepted" | "refused" | "crash", (kind of crash, an example's text) or None)."""
    try:
        with _quiet():
            call()
        verdict, why = "accepted", None
    except ToolkitError as exc:
        lines = str(exc).splitlines()
        verdict, why = (
            ("refused", None)
            if len(lines) == 1
            else ("crash", (f"multi-line {type(exc).__name__}", f"{str(exc)!r:.160}"))
        )
    except Exception as exc:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        verdict, why = "crash", (f"{type(exc).__name__} at {where}", f"{str(exc)[:120]!r}")
    if marker.exists():
        verdict, why = "crash", ("code ran from a pickle", "the marker file appeared")
    return verdict, why


def fuzz(name: str, n: int, seed: int, root: Path) -> tuple[dict, dict, float]:
    """Counts of accepted/refused/crash, and per kind of crash (count, first example), for one reader."""
    counts = {"accepted": 0, "refused": 0, "crash": 0}
    kinds: dict[str, list] = {}
    rng = random.Random(f"{seed}:{name}")
    start = time.perf_counter()
    for i in range(n):
        folder = root / name / str(i)
        folder.mkdir(parents=True)
        marker = folder / "MARKER"
        with _quiet():
            call = READERS[name](rng, folder, marker)
        verdict, why = judge(call, marker)
        counts[verdict] += 1
        if why:
            kinds.setdefault(why[0], [0, f"input {i}: {why[1]}"])[0] += 1
        shutil.rmtree(folder, ignore_errors=True)
    return counts, kinds, time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="inputs per reader (default 200)")
    parser.add_argument("--seed", type=int, default=13, help="the inputs follow from it (default 13)")
    parser.add_argument("--readers", default=",".join(READERS), help=f"comma-separated, of: {', '.join(READERS)}")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    names = [r for r in args.readers.split(",") if r]
    unknown = sorted(set(names) - set(READERS))
    if unknown:
        parser.error(f"unknown reader(s) {', '.join(unknown)}")
    total = 0
    with tempfile.TemporaryDirectory(prefix="mia-fuzz-") as tmp:
        for name in names:
            counts, kinds, seconds = fuzz(name, args.n, args.seed, Path(tmp))
            total += counts["crash"]
            print(
                f"{name:<15} inputs={args.n} crashes={counts['crash']}  accepted={counts['accepted']} "
                f"refused={counts['refused']}  {seconds:.1f}s",
                flush=True,
            )
            for kind, (count, example) in sorted(kinds.items(), key=lambda kv: -kv[1][0]):
                print(f"    {count:>5} × {kind}  ({example})", flush=True)
    print(f"total crashes={total}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
